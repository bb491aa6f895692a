"""chainrule.amp (autocast accepted and not applied, GradScaler for real) against torch.amp."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import chainrule
from chainrule import amp


def _pair(seed: int = 0) -> tuple:
    """Twin float64 linear models and SGD optimizers with the same weights."""
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(2, 3)), rng.normal(size=2)
    tm = torch.nn.Linear(3, 2).double()
    cm = chainrule.nn.Linear(3, 2).double()
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(w))
        tm.bias.copy_(torch.tensor(b))
    cm.weight.data.copy_(chainrule.tensor(w))
    cm.bias.data.copy_(chainrule.tensor(b))
    return (tm, torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9),
            cm, chainrule.optim.SGD(cm.parameters(), lr=0.1, momentum=0.9))


@pytest.mark.parametrize("clip", [False, True])
def test_grad_scaler_matches_torch_step_by_step(clip: bool) -> None:
    """Overflows (an inf/NaN factor in the loss) at chosen steps: every step's scale, growth
    tracker, skipped-or-not, unscaled gradients and parameters equal torch's."""
    tm, topt, cm, copt = _pair()
    kw = dict(init_scale=2.0 ** 10, growth_factor=4.0, backoff_factor=0.25, growth_interval=3)
    ts = torch.amp.GradScaler("cpu", **kw)
    cs = chainrule.amp.GradScaler("cpu", **kw)
    rng = np.random.default_rng(1)
    bad = {2: np.inf, 3: np.nan, 9: -np.inf}
    for it in range(14):
        x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
        factor = bad.get(it, 1.0)
        outs = []
        for m, opt, s, lib in ((tm, topt, ts, torch), (cm, copt, cs, chainrule)):
            opt.zero_grad()
            loss = ((m(lib.tensor(x)) - lib.tensor(y)) ** 2).mean() * factor
            s.scale(loss).backward()
            if clip:
                s.unscale_(opt)
                lib.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
                grads = [p.grad.detach().numpy().copy() for p in m.parameters()]
            else:
                grads = None
            ret = s.step(opt)
            s.update()
            outs.append((grads, ret, s.get_scale(), s.state_dict(),
                         [p.detach().numpy().copy() for p in m.parameters()]))
        (tg, tr, tsc, tsd, tp), (cg, cr, csc, csd, cp) = outs
        assert tsc == csc and tsd == csd, (it, tsd, csd)
        assert tr is None and cr is None
        if grads is not None:
            for a, b in zip(tg, cg):
                np.testing.assert_allclose(b, a, rtol=1e-12, atol=0, equal_nan=True)
        for a, b in zip(tp, cp):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    assert cs.get_scale() != 2.0 ** 10  # the run exercised both growth and backoff


def test_grad_scaler_errors_and_state_dict_like_torch() -> None:
    tm, topt, cm, copt = _pair()
    for lib, m, opt in ((torch, tm, topt), (chainrule, cm, copt)):
        s = lib.amp.GradScaler("cpu")
        with pytest.raises(AssertionError, match="_scale is None"):
            s.step(opt)  # no scale() yet (torch raises AssertionError)
        s.scale((m(lib.ones(1, 3, dtype=lib.float64)) ** 2).sum()).backward()
        s.unscale_(opt)
        with pytest.raises(RuntimeError, match="already been called"):
            s.unscale_(opt)
        s.step(opt)
        with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
            s.step(opt)
        with pytest.raises(RuntimeError, match="after step"):
            s.unscale_(opt)
        with pytest.raises(RuntimeError, match="Closure"):
            s.step(opt, closure=lambda: 0.0)
        s.update(3.0)
        assert s.get_scale() == 3.0
        if lib is chainrule:  # (torch fails with an AttributeError on an int)
            with pytest.raises(ValueError, match="float"):
                s.update(3)
        t = lib.amp.GradScaler("cpu")
        t.load_state_dict(s.state_dict())
        assert t.state_dict() == s.state_dict()
        with pytest.raises(RuntimeError, match="empty"):
            t.load_state_dict({})
        with pytest.raises(ValueError, match="Tensor or an iterable"):
            t.scale(3.0)
    assert [type(v) for v in torch.amp.GradScaler("cpu").scale([torch.ones(1)] * 2)] == [
        torch.Tensor] * 2
    assert isinstance(chainrule.amp.GradScaler("cpu").scale((chainrule.ones(1),) * 2), tuple)


def test_grad_scaler_refuses_fp16_grads_like_torch() -> None:
    for lib in (torch, chainrule):
        p = lib.ones(2, dtype=lib.float16, requires_grad=True)
        opt = lib.optim.SGD([p], lr=0.1)
        s = lib.amp.GradScaler("cpu")
        s.scale((p * 2).sum()).backward()
        with pytest.raises(ValueError, match="FP16"):
            s.unscale_(opt)


def test_disabled_scaler_is_identity() -> None:
    tm, topt, cm, copt = _pair()
    for lib, m, opt in ((torch, tm, topt), (chainrule, cm, copt)):
        s = lib.amp.GradScaler("cpu", enabled=False)
        loss = (m(lib.ones(1, 3, dtype=lib.float64)) ** 2).sum()
        assert s.scale(loss) is loss
        assert s.get_scale() == 1.0 and not s.is_enabled() and s.state_dict() == {}
        loss.backward()
        before = m.weight.detach().numpy().copy()
        s.step(opt)
        s.update()
        assert not np.array_equal(before, m.weight.detach().numpy())
    np.testing.assert_allclose(cm.weight.detach().numpy(), tm.weight.detach().numpy(),
                               rtol=1e-12)


def test_cuda_scaler_and_autocast_disable_themselves_as_torch_without_cuda() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.amp.GradScaler().is_enabled() is False  # torch here has no CUDA
        assert chainrule.amp.GradScaler().is_enabled() is False
        assert chainrule.cuda.amp.GradScaler().is_enabled() is False
        assert chainrule.cpu.amp.GradScaler().is_enabled() is True
    with pytest.warns(UserWarning, match="Disabling autocast"):
        chainrule.autocast("cuda")
    with pytest.warns(FutureWarning, match="deprecated"):
        chainrule.cuda.amp.autocast()


def test_autocast_context_and_decorator_compute_in_own_dtype() -> None:
    a = chainrule.ones(2, 2)
    amp._warned_not_applied = False
    with pytest.warns(UserWarning, match="not applied"), \
            chainrule.autocast("cpu", dtype=chainrule.float16):
        assert (a @ a).dtype == chainrule.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        with chainrule.amp.autocast(device_type="cpu"):
            pass

        @chainrule.autocast("cpu")
        def f(x: chainrule.Tensor) -> chainrule.Tensor:
            return x @ x

        assert f(a).dtype == chainrule.float32
        with chainrule.autocast("cpu", enabled=False):
            pass
    assert chainrule.amp.is_autocast_enabled("cpu") is False
    with pytest.raises(RuntimeError, match="device type"):
        chainrule.autocast("xyz")
    with pytest.warns(UserWarning, match="not supported"):
        chainrule.autocast("cpu", dtype=chainrule.float64)  # torch warns and disables too
