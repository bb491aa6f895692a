"""Tiny end-to-end runs of the dropout experiments (C1-C3) and their helpers."""

from __future__ import annotations

import numpy as np
import pytest
from lab_checks import tiny_suite

import chainrule as cr
from chainrule import nn
from chainrule.lab import common
from chainrule.lab.experiments.dropout import (
    _inverted_dropout_demo,
    dropconnect_mlp,
    dropout_mlp,
    mc_predict,
    neighbour_correlation,
    small_cnn,
)

IDS = ("C1", "C2", "C3")


results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)


def test_inverted_dropout_scaling():
    demo = _inverted_dropout_demo(0)
    assert demo["kept value"] == pytest.approx(2.0)
    assert demo["mean (E[y] = 1)"] == pytest.approx(1.0, abs=0.02)
    assert demo["eval max |y − x|"] == 0.0


@pytest.mark.parametrize("make", [
    lambda arm, seed: dropout_mlp(12, 8, arm != "none", seed),
    lambda arm, seed: dropconnect_mlp(12, 8, arm, 0.5, seed),
    lambda arm, seed: small_cnn("none" if arm == "none" else "channel", 0.3, (2, 4), seed, 6),
])
def test_arms_share_initial_weights(make):
    """Dropout layers draw from their own generators, so adding them leaves the init alone."""
    common.seeded(5)
    a = [p._array.copy() for p in make("none", 5).parameters()]
    common.seeded(5)
    b = [p._array.copy() for p in make("dropout", 5).parameters()]
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_mc_predict_is_a_probability_average():
    common.seeded(0)
    net = dropout_mlp(12, 8, True, 0)
    x = np.random.default_rng(0).standard_normal((7, 12)).astype(np.float32)
    p = mc_predict(net, x, 5)
    assert p.shape == (7, 10)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    assert net.training  # mode restored


def test_neighbour_correlation_of_smooth_and_noisy_maps():
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.standard_normal((4, 3, 5, 40)), axis=-1)
    noise = rng.standard_normal((4, 3, 5, 40))
    assert neighbour_correlation(smooth) > 0.8
    assert abs(neighbour_correlation(noise)) < 0.1


def test_dropconnect_arm_rejects_unknown():
    with pytest.raises(ValueError, match="arm"):
        dropconnect_mlp(4, 4, "zoneout")
    assert isinstance(dropconnect_mlp(4, 4, "dropconnect")[2], nn.DropConnect)
    cr.manual_seed(0)


def test_c1_changes_one_factor_per_arm(results):
    # dropout alone and max-norm alone beside the combination: each effect is separable
    by_size = results["C1"].numbers["by_size"]
    for arms in by_size.values():
        assert set(arms) == {"none", "dropout", "max-norm", "dropout + max-norm"}
    names = [p.name for p in results["C1"].parts]
    assert any("max-norm adds to dropout" in n for n in names)


def test_c1_says_whether_max_norm_ever_bound(results):
    """A max-norm arm whose constraint never bound trained unconstrained: its parts say so;
    the count is the real number of rescalings (a large lr makes the constraint bind)."""
    from chainrule.lab.experiments.dropout import DropoutOverfitting

    note = DropoutOverfitting._binding_note([0, 0, 0], "max-norm", 0.03)
    assert "never bound" in note and "3 runs" in note
    assert "bound in 2/3 runs" in DropoutOverfitting._binding_note([0, 4, 8], "max-norm", 1.0)
    exp = DropoutOverfitting()
    x = np.random.default_rng(0).normal(size=(64, 20)).astype(np.float32) * 5
    y = np.arange(64) % 10
    counts: list[int] = []
    exp._fit("max-norm", 3.0, 0, 16, 20, x, y, counts)
    exp._fit("max-norm", 1e-6, 0, 16, 20, x, y, counts)
    assert counts[0] > 0 and counts[1] == 0
    for part in results["C1"].parts:
        if "max-norm" in part.name:
            assert "max-norm" in part.detail and "bound" in part.detail


def test_c3_full_run_reads_the_full_budget_drop_rates(tmp_path, monkeypatch):
    # the full run (28×28, 32 channels) reads C3/<arm>/drop rate/full, never the quick value
    import json

    from chainrule.lab.experiment import Context
    from chainrule.lab.experiments import _tuning, dropout

    path = tmp_path / "tuned.json"
    monkeypatch.setattr(_tuning, "TUNED_PATH", str(path))
    monkeypatch.setattr(_tuning, "_CHOSEN", {})
    path.write_text(json.dumps({
        f"C3/{arm}/drop rate/{level}": {"chosen": p, "grid": [0.05, 0.1, 0.2, 0.4, 0.8],
                                        "scores": [1, 1, 1, 1, 1], "provenance": level}
        for arm, rates in (("element", (0.1, 0.2)), ("channel", (0.4, 0.2)))
        for level, p in zip(("quick", "full"), rates)}))

    def no_training(*a, **k):
        raise AssertionError("a full run with a full-budget entry must not search")

    monkeypatch.setattr(dropout.common, "train", no_training)
    full = Context(quick=False, seeds=(0, 1, 2), log=lambda s: None)
    data = (np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int64)) * 2
    got = {arm: dropout.c3_drop_rate(full, arm, (32, 32), 28, 400, data)
           for arm in ("element", "channel")}
    assert {arm: p for arm, (p, _) in got.items()} == {"element": 0.2, "channel": 0.2}
    assert all("full" in rec["provenance"] for _, rec in got.values())
    with pytest.raises(ValueError, match="arm"):
        dropout.c3_drop_rate(full, "none", (32, 32), 28, 400, data)
