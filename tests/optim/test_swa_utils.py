"""``optim.swa_utils`` against torch 2.13 (float64): AveragedModel (SWA default, avg_fn,
multi_avg_fn EMA, use_buffers), its state_dict keys, SWALR step by step, update_bn."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.optim import swa_utils as tswa

import chainrule as cr
import chainrule.nn as nn
from chainrule.optim import swa_utils as cswa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nn"))  # the nn twin helpers
from nn_twin import as_cr, as_torch, assert_close, rng  # noqa: E402


def _net(lib):
    return lib.nn.Sequential(lib.nn.Linear(3, 5), lib.nn.BatchNorm1d(5), lib.nn.ReLU(),
                             lib.nn.Linear(5, 2)).double()


def _twins():
    t, c = _net(torch), _net(cr)
    c.load_state_dict(t.state_dict())
    return c, t


def _train_step(mod, opt, x, y, conv):
    opt.zero_grad()
    ((mod(conv(x)) - conv(y)) ** 2).mean().backward()
    opt.step()


def _run(kind: str, use_buffers: bool, steps: int = 4):
    c, t = _twins()
    kw_c: dict = {"use_buffers": use_buffers}
    kw_t: dict = {"use_buffers": use_buffers}
    if kind == "ema_avg":
        kw_c["avg_fn"], kw_t["avg_fn"] = cswa.get_ema_avg_fn(0.9), tswa.get_ema_avg_fn(0.9)
    elif kind == "ema_multi":
        kw_c["multi_avg_fn"] = cswa.get_ema_multi_avg_fn(0.7)
        kw_t["multi_avg_fn"] = tswa.get_ema_multi_avg_fn(0.7)
    elif kind == "swa_multi":
        kw_c["multi_avg_fn"] = cswa.get_swa_multi_avg_fn()
        kw_t["multi_avg_fn"] = tswa.get_swa_multi_avg_fn()
    ac, at = cswa.AveragedModel(c, **kw_c), tswa.AveragedModel(t, **kw_t)
    oc = cr.optim.SGD(c.parameters(), lr=0.1, momentum=0.9)
    ot = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9)
    g = rng(0)
    for _ in range(steps):
        x, y = g.standard_normal((8, 3)), g.standard_normal((8, 2))
        _train_step(c, oc, x, y, as_cr)
        _train_step(t, ot, x, y, as_torch)
        ac.update_parameters(c)
        at.update_parameters(t)
    return ac, at


@pytest.mark.parametrize("kind", ["swa", "ema_avg", "ema_multi", "swa_multi"])
@pytest.mark.parametrize("use_buffers", [False, True])
def test_averaged_model_matches_torch(kind, use_buffers):
    if kind == "swa_multi" and use_buffers:
        pytest.skip("torch raises on the integer num_batches_tracked (addcdiv of integers); "
                    "chainrule averages it with truncation")
    ac, at = _run(kind, use_buffers)
    sd_c, sd_t = ac.state_dict(), at.state_dict()
    assert list(sd_c) == list(sd_t)  # n_averaged (own buffer first), then module.<keys>
    assert list(sd_c)[0] == "n_averaged" and int(sd_c["n_averaged"]) == 4
    for k, v in sd_t.items():
        assert_close(sd_c[k], v, rtol=1e-12, atol=1e-13, what=k)
    x = rng(9).standard_normal((4, 3))
    ac.eval()
    at.eval()
    assert_close(ac(as_cr(x)), at(as_torch(x)), rtol=1e-12, atol=1e-13)


def test_averaged_model_swa_is_the_mean_of_snapshots():
    m = nn.Linear(2, 2).double()
    avg = cswa.AveragedModel(m)
    snaps = []
    for k in range(5):
        with cr.no_grad():
            m.weight.copy_(as_cr(np.full((2, 2), float(k * k))))
        snaps.append(float(k * k))
        avg.update_parameters(m)
    np.testing.assert_allclose(avg.module.weight.detach().numpy(), np.mean(snaps), rtol=1e-15)
    assert avg.module.weight is not m.weight  # a deep copy


def test_averaged_model_loads_torch_state_dict_and_errors():
    ac, at = _run("swa", False, steps=2)
    fresh = cswa.AveragedModel(_net(cr))
    fresh.load_state_dict(at.state_dict())
    assert int(fresh.n_averaged) == 2
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        cswa.AveragedModel(nn.Linear(2, 2), avg_fn=cswa.get_ema_avg_fn(),
                           multi_avg_fn=cswa.get_ema_multi_avg_fn())
    with pytest.raises(ValueError, match="Invalid decay value 1.5"):
        cswa.get_ema_avg_fn(1.5)
    with pytest.raises(ValueError, match="Invalid decay value -0.1"):
        cswa.get_ema_multi_avg_fn(-0.1)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 4])
def test_swalr_matches_torch_step_by_step(strategy, anneal_epochs):
    pc = [nn.Parameter(cr.zeros(2)), nn.Parameter(cr.zeros(2))]
    pt = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))]
    oc = cr.optim.SGD([{"params": [pc[0]]}, {"params": [pc[1]], "lr": 0.3}], lr=1.0)
    ot = torch.optim.SGD([{"params": [pt[0]]}, {"params": [pt[1]], "lr": 0.3}], lr=1.0)
    sc = cswa.SWALR(oc, swa_lr=[0.05, 0.01], anneal_epochs=anneal_epochs,
                    anneal_strategy=strategy)
    st = tswa.SWALR(ot, swa_lr=[0.05, 0.01], anneal_epochs=anneal_epochs,
                    anneal_strategy=strategy)
    assert sc.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-15)
    for _ in range(7):
        oc.step()
        ot.step()
        sc.step()
        st.step()
        assert sc.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-14, abs=1e-16)
    state = sc.state_dict()
    assert "anneal_func" not in state and "optimizer" not in state
    sc2 = cswa.SWALR(oc, swa_lr=0.05, anneal_strategy="linear")
    sc2.load_state_dict(state)
    assert sc2.anneal_func(0.5) == pytest.approx(0.5 if strategy == "linear" else 0.5)
    assert sc2._anneal_strategy == strategy


def test_swalr_errors():
    opt = cr.optim.SGD([nn.Parameter(cr.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear'"):
        cswa.SWALR(opt, swa_lr=0.05, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0"):
        cswa.SWALR(opt, swa_lr=0.05, anneal_epochs=-1)
    with pytest.raises(ValueError, match="swa_lr must have the same length"):
        cswa.SWALR(opt, swa_lr=[0.05, 0.01])


def test_update_bn_matches_torch():
    ac, at = _run("swa", False, steps=3)
    g = rng(5)
    batches = [g.standard_normal((6, 3)) for _ in range(3)]
    loader_c = [(as_cr(b), as_cr(np.zeros(6))) for b in batches]  # (input, target) pairs
    loader_t = [(as_torch(b), as_torch(np.zeros(6))) for b in batches]
    ac.eval()
    at.eval()
    cswa.update_bn(loader_c, ac)
    tswa.update_bn(loader_t, at)
    assert not ac.training  # mode restored
    bn_c, bn_t = ac.module[1], at.module[1]
    assert bn_c.momentum == bn_t.momentum == 0.1  # momentum restored
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        assert_close(getattr(bn_c, k), getattr(bn_t, k), rtol=1e-12, atol=1e-13, what=k)
    cswa.update_bn(loader_c, nn.Linear(3, 2))  # no BatchNorm: nothing to do
