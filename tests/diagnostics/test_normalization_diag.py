"""BatchNorm drift and train/eval mode warnings fire in constructed cases (and only there)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from diag_nets import BatchNorm1d, cross_entropy

import chainrule
import chainrule.nn as nn
from chainrule.diagnostics import Diagnostics
from chainrule.diagnostics import normalization as N


def _net(rng: np.random.Generator, p_drop: bool = False) -> nn.Sequential:
    lin = nn.Linear(4, 6, dtype=chainrule.float64)
    lin.weight.data[...] = rng.uniform(-0.5, 0.5, (6, 4))
    lin.bias.data[...] = 0.0
    bn = BatchNorm1d(6)
    bn.to(chainrule.float64)
    head = nn.Linear(6, 3, dtype=chainrule.float64)
    head.weight.data[...] = rng.uniform(-0.4, 0.4, (3, 6))
    head.bias.data[...] = 0.0
    return nn.Sequential(lin, bn, nn.Tanh(), head)


def _x(rng: np.random.Generator, n: int = 32, shift: float = 3.0) -> chainrule.Tensor:
    return chainrule.tensor(rng.standard_normal((n, 4)) * 2.0 + shift)


def test_batchnorm_drift_formula() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 3, 7)) * np.array([1.0, 2.0, 0.5])[None, :, None] + 1.0
    mu, var = np.array([0.0, 1.0, 1.0]), np.array([1.0, 4.0, 1.0])
    d = N.batchnorm_drift(x, mu, var, eps=0.0)
    m, v = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    assert d["mean_drift"] == pytest.approx(np.mean(np.abs(m - mu) / np.sqrt(var)))
    assert d["var_drift"] == pytest.approx(np.mean(np.abs(np.log(v / var))))
    with pytest.raises(ValueError, match="3 channels"):
        N.batchnorm_drift(x, mu[:2], var[:2])


def test_bn_drift_fires_on_stale_running_stats_and_clears_after_training() -> None:
    rng = np.random.default_rng(1)
    net = _net(rng)
    fresh = N.measure_bn_drift(net, _x(rng))  # running stats still at (0, 1)
    assert [f.verdict for f in fresh] == ["bn drift"]
    assert "momentum" in fresh[0].remedy
    with chainrule.no_grad():
        for _ in range(60):  # let the running statistics converge
            net(_x(rng))
    before = [m.training for m in net.modules()]
    settled = N.measure_bn_drift(net, _x(rng))
    assert [f.verdict for f in settled] == ["healthy"], settled
    assert [m.training for m in net.modules()] == before  # modes restored


def test_mode_guard_warnings() -> None:
    rng = np.random.default_rng(2)
    net = _net(rng)
    guard = N.ModeGuard(net)
    # a correct run: train with grads, evaluate in eval mode under no_grad
    cross_entropy(net(_x(rng)), np.zeros(32, dtype=np.int64)).backward()
    net.eval()
    with chainrule.no_grad():
        net(_x(rng))
    assert guard.findings() == []
    # evaluated in training mode
    net.train()
    with chainrule.no_grad():
        net(_x(rng))
    # trained in eval mode
    net.eval()
    cross_entropy(net(_x(rng)), np.zeros(32, dtype=np.int64)).backward()
    # batch size 1 into BN in training (nn.BatchNorm1d itself may warn too)
    net.train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net(_x(rng, n=1))
    verdicts = {f.verdict: f for f in guard.findings()}
    assert set(verdicts) == {"evaluated in training mode", "trained in eval mode",
                             "batch size 1 with BN"}
    assert verdicts["evaluated in training mode"].values["count"] == 1
    assert verdicts["trained in eval mode"].values["count"] == 1
    assert verdicts["batch size 1 with BN"].values["modules"] == ["1"]
    assert "model.eval()" in verdicts["evaluated in training mode"].remedy
    assert "LayerNorm" in verdicts["batch size 1 with BN"].remedy
    guard.detach()
    with chainrule.no_grad():
        net(_x(rng))  # detached: no longer counted
    assert guard.counts["evaluated in training mode"] == 1


def test_models_without_bn_or_dropout_get_no_mode_warnings() -> None:
    net = nn.Sequential(nn.Linear(3, 2, dtype=chainrule.float64), nn.ReLU())
    guard = N.ModeGuard(net)
    with chainrule.no_grad():
        net(chainrule.ones(4, 3, dtype=chainrule.float64))
    assert guard.findings() == []


def test_monitor_records_bn_drift_and_mode_warnings() -> None:
    rng = np.random.default_rng(3)
    net = _net(rng)
    diag = Diagnostics(net, every=1)
    cross_entropy(net(_x(rng, shift=5.0)), np.zeros(32, dtype=np.int64)).backward()
    diag.step()
    assert diag.history[-1].bn_drift["1"]["mean_drift"] > 0.5
    with chainrule.no_grad():
        net(_x(rng))  # forgot eval()
    rep = diag.report()
    assert rep.verdict("bn_drift", "1") == "bn drift"
    assert rep.verdict("mode") == "evaluated in training mode"
    diag.detach()
