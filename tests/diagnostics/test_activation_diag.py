"""Activation diagnostics on networks built to have dead, saturated or one-signed units."""

from __future__ import annotations

import numpy as np
import pytest
from diag_nets import cross_entropy, data, mlp

import chainrule
import chainrule.nn as nn
from chainrule.diagnostics import Diagnostics
from chainrule.diagnostics import activations as A
from chainrule.diagnostics.kinds import infer_activation, layer_kind


def _layer(d_in: int, d_out: int, rng: np.random.Generator, scale: float = 1.0) -> nn.Linear:
    lin = nn.Linear(d_in, d_out, dtype=chainrule.float64)
    b = 1.0 / np.sqrt(d_in)
    lin.weight._array[...] = rng.uniform(-scale * b, scale * b, (d_out, d_in))
    lin.bias._array[...] = rng.uniform(-b, b, d_out)
    return lin


@pytest.mark.parametrize("act, expected", [(nn.ReLU, 0.25), (nn.LeakyReLU, 0.0)])
def test_dead_units_from_bias_minus_ten(act: type, expected: float) -> None:
    rng = np.random.default_rng(0)
    lin = _layer(8, 20, rng)
    lin.bias._array[:5] = -10.0  # |w·x| < 4 here, so these 5 of 20 units never fire
    net = nn.Sequential(lin, act(), _layer(20, 3, rng))
    diag = Diagnostics(net, every=3)
    for _ in range(4):  # one "epoch" of 4 batches, every example counts
        x, y = data(rng, n=50)
        cross_entropy(net(x), y).backward()
        diag.step()
    assert diag.end_epoch()["1"] == pytest.approx(expected)
    assert diag.dead_history[-1]["examples"]["1"] == 200
    f = [f for f in diag.report().by_check("dead_units") if f.layer == "1"][0]
    assert f.verdict == ("dead units" if expected else "healthy")
    if expected:
        assert diag.dead_history[-1]["dead_units"]["1"] == [0, 1, 2, 3, 4]
        assert "LeakyReLU" in f.remedy
    diag.detach()


def test_dead_unit_tracker_needs_zero_on_every_example() -> None:
    t = A.DeadUnitTracker()
    t.update(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    assert t.dead_fraction == pytest.approx(2 / 3)
    t.update(np.array([[0.0, 0.0, 2.0]]))  # unit 2 fires once: no longer dead
    assert t.dead_mask.tolist() == [True, False, False]
    # conv maps (N, C, L): a unit is a channel
    h = np.zeros((4, 3, 5))
    h[2, 1, 4] = 1.0
    assert A.dead_unit_fraction(h) == pytest.approx(2 / 3)
    assert A.dead_unit_fraction(h, unit_dim=-1) == pytest.approx(4 / 5)


def test_saturation_from_huge_weights_into_sigmoid() -> None:
    rng = np.random.default_rng(1)
    x, _ = data(rng, n=100)
    big = nn.Sequential(_layer(8, 20, rng, scale=100.0), nn.Sigmoid())
    small = nn.Sequential(_layer(8, 20, rng, scale=0.3), nn.Sigmoid())
    with chainrule.no_grad():
        s_big = A.saturation_fraction(big(x), "sigmoid")
        s_small = A.saturation_fraction(small(x), "sigmoid")
    assert s_big > 0.9 and s_small == 0.0
    assert A.saturation_verdict("1", s_big).verdict == "saturated"
    assert A.saturation_verdict("1", s_small).verdict == "healthy"
    stats = A.record_activations(big, x)
    assert stats["1"]["kind"] == "sigmoid" and stats["1"]["saturation"] == pytest.approx(s_big)


def test_saturation_fraction_exact_values() -> None:
    h = np.array([0.01, 0.5, 0.99, 0.976])  # u = 2h - 1 = -0.98, 0, 0.98, 0.952
    assert A.saturation_fraction(h, "sigmoid", 0.95) == pytest.approx(0.75)
    assert A.saturation_fraction(h, "sigmoid", 0.96) == pytest.approx(0.5)
    assert A.saturation_fraction(np.array([-0.99, 0.2, 0.97]), "tanh") == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="asymptotes"):
        A.saturation_fraction(h, "relu")


def _single_sign_after(act: type, rng: np.random.Generator) -> float:
    net = nn.Sequential(_layer(8, 32, rng), act(), _layer(32, 3, rng))
    diag = Diagnostics(net, every=1)
    x, y = data(rng, n=64)
    cross_entropy(net(x), y).backward()
    diag.step()
    rec = diag.history[-1]
    diag.detach()
    return rec.single_sign["2"]["per_example"]


def test_single_sign_rows_after_sigmoid_vs_tanh() -> None:
    rng = np.random.default_rng(2)
    assert _single_sign_after(nn.Sigmoid, rng) == 1.0
    assert _single_sign_after(nn.Tanh, rng) < 0.02


def test_single_sign_fraction_matches_explicit_per_example_gradients() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 6))
    x[:15] = np.abs(x[:15])      # 15 one-signed rows (positive)
    x[15:20] = -np.abs(x[15:20])  # 5 one-signed rows (negative)
    x[20:, 0], x[20:, 1] = np.abs(x[20:, 0]), -np.abs(x[20:, 1])  # 20 mixed rows
    delta = rng.standard_normal((40, 4))
    delta[rng.random((40, 4)) < 0.2] = 0.0
    per_ex = np.einsum("ni,nj->nij", delta, x)  # ∂L/∂W of each example
    rows = per_ex.reshape(-1, 6)
    nz = (rows != 0).any(1)
    same = ((rows >= 0).all(1) | (rows <= 0).all(1))[nz]
    assert A.single_sign_fraction(x, delta) == pytest.approx(same.mean(), abs=1e-15)
    assert A.one_signed_fraction(x) == pytest.approx(0.5)
    g = np.array([[1.0, 2.0], [-1.0, 3.0], [0.0, 0.0], [-1.0, -2.0]])
    assert A.single_sign_rows(g) == pytest.approx(2 / 3)


class Squash(nn.Module):
    def forward(self, x):
        return x.sigmoid()


class Rect(nn.Module):
    def forward(self, x):
        return x.relu()


class Leaky(nn.Module):
    def forward(self, x):
        return chainrule.where(x > 0, x, x * 0.1)


def test_layer_kinds_by_name_parameters_and_output() -> None:
    assert layer_kind(nn.ReLU()) == "relu"
    assert layer_kind(nn.LeakyReLU()) == "leakyrelu"
    assert layer_kind(nn.Tanh()) == "tanh"
    assert layer_kind(nn.Linear(2, 3)) == "linear"
    assert layer_kind(nn.Sequential(nn.ReLU())) == "container"

    class MyReLU(nn.ReLU):
        pass

    assert layer_kind(MyReLU()) == "relu"
    rng = np.random.default_rng(4)
    x = rng.standard_normal((10, 5)) * 3
    for mod, kind in [(Squash(), "sigmoid"), (Rect(), "relu"), (Leaky(), "leakyrelu"),
                      (nn.Tanh(), "tanh")]:
        out = mod(chainrule.tensor(x))._array
        assert infer_activation(x, out) == kind
    assert infer_activation(x, x * 2.0) == "other"
    # the monitor identifies unnamed activations by their outputs
    net = nn.Sequential(_layer(5, 7, rng), Squash(), _layer(7, 2, rng))
    diag = Diagnostics(net, every=1)
    net(chainrule.tensor(x)).sum().backward()
    diag.step()
    assert diag.kinds["1"] == "sigmoid"
    assert "saturation" in diag.history[-1].activations["1"]
    diag.detach()


def test_activation_stats() -> None:
    h = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 5.0]])
    s = A.activation_stats(h, bins=5)
    assert s["n"] == 6 and s["mean"] == pytest.approx(11 / 6)
    assert s["std"] == pytest.approx(h.std())
    assert s["zero_fraction"] == pytest.approx(1 / 3)
    assert s["hist_counts"].sum() == 6 and len(s["hist_edges"]) == 6
    assert s["percentiles"]["p50"] == pytest.approx(1.5)


def test_monitor_saturation_verdict_on_a_saturated_net() -> None:
    rng = np.random.default_rng(5)
    net = mlp([8, 20, 3], nn.Sigmoid, rng, scale=100.0)
    diag = Diagnostics(net, every=1)
    x, y = data(rng)
    cross_entropy(net(x), y).backward()
    diag.step()
    rep = diag.report()
    assert rep.verdict("saturation", "1") == "saturated"
    assert rep.verdict("single_sign", "2") == "single-sign gradients"
    diag.detach()


def test_single_sign_verdict_depends_on_the_source() -> None:
    rng = np.random.default_rng(6)
    for act, verdict, ok in [(nn.Sigmoid, "single-sign gradients", False),
                             (nn.ReLU, "tolerated (rectifier input)", True),
                             (nn.Tanh, "healthy", True)]:
        net = nn.Sequential(_layer(8, 32, rng), act(), _layer(32, 3, rng))
        diag = Diagnostics(net, every=1)
        x, y = data(rng, n=64)
        cross_entropy(net(x), y).backward()
        diag.step()
        f = [f for f in diag.report().by_check("single_sign") if f.layer == "2"][0]
        assert (f.verdict, f.ok) == (verdict, ok)
        assert f.values["source"] == layer_kind(act())
        first = [f for f in diag.report().by_check("single_sign") if f.layer == "0"][0]
        assert first.values["source"] == "input"
        diag.detach()


def test_activation_stats_sample_large_layers() -> None:
    rng = np.random.default_rng(7)
    h = rng.standard_normal((512, 256))
    s = A.activation_stats(h, max_samples=4096)
    assert s["n"] == h.size and s["mean"] == pytest.approx(h.mean())  # moments: every entry
    assert 4096 // 2 < s["hist_sample"] <= 4096 and s["hist_counts"].sum() == s["hist_sample"]
    assert s["percentiles"]["p50"] == pytest.approx(0.0, abs=0.06)
    assert s["percentiles"]["p85"] == pytest.approx(1.036, abs=0.08)  # normal's 85th pct


def test_single_sign_source_is_seen_through_shape_layers() -> None:
    rng = np.random.default_rng(8)
    net = nn.Sequential(_layer(8, 16, rng), nn.Sigmoid(), nn.Flatten(), nn.Dropout(0.0),
                        _layer(16, 3, rng))
    diag = Diagnostics(net, every=1)
    x, y = data(rng, n=32)
    cross_entropy(net(x), y).backward()
    diag.step()
    assert diag.history[-1].single_sign["4"]["source"] == "sigmoid"
    assert diag.report().verdict("single_sign", "4") == "single-sign gradients"
    diag.detach()
