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
    got = {arm: dropout.c3_drop_rate(full, arm, (32, 32), 28, 400, data, 0.05)
           for arm in ("element", "channel")}
    assert {arm: p for arm, (p, _) in got.items()} == {"element": 0.2, "channel": 0.2}
    assert all("full" in rec["provenance"] for _, rec in got.values())
    with pytest.raises(ValueError, match="arm"):
        dropout.c3_drop_rate(full, "none", (32, 32), 28, 400, data, 0.05)


# ---- issue 15: C2's and C3's learning rates are tuned per arm ---------------------------------
def _shipped() -> dict:
    import json

    from chainrule.lab.experiments import _tuning

    with open(_tuning.TUNED_PATH) as f:
        return json.load(f)


def _c2_keys(level: str) -> list[str]:
    widths = (32, 128) if level == "quick" else (256,)  # full: searched at the middle width
    return [f"C2/{arm} (width {w})/lr/{level}" for w in widths
            for arm in ("none", "dropout", "dropconnect")]


def _c3_keys(level: str) -> list[str]:
    return ([f"C3/{arm}/lr/{level}" for arm in ("none", "element", "channel")]
            + [f"C3/{arm}/drop rate/{level}" for arm in ("element", "channel")])


@pytest.mark.parametrize("level", ["quick", "full"])
def test_c2_c3_ship_a_tuned_lr_for_every_arm_strictly_inside_its_grid(level):
    shipped = _shipped()
    keys = _c2_keys(level) + _c3_keys(level)
    missing = [k for k in keys if k not in shipped]
    assert not missing, f"no tuned entry: {missing}"
    for k in keys:
        rec = shipped[k]
        grid = [float(g) for g in rec["grid"]]
        scores = [float("inf") if s is None else float(s) for s in rec["scores"]]
        assert len(scores) == len(grid) >= 3, k
        assert grid[0] < rec["chosen"] < grid[-1], (k, rec["chosen"], grid)
        assert scores[grid.index(rec["chosen"])] == pytest.approx(min(scores), abs=1e-12), k
        assert f"at the {level} budget" in rec["provenance"], k
        assert rec["seeds"] == [1000, 1001], k  # never the evaluation seeds 0..9


@pytest.mark.parametrize("level", ["quick", "full"])
def test_c3_drop_rate_was_searched_at_the_tuned_lr(level):
    # the coordinate search: each arm's lr at the starting rate, then its rate at that lr
    from chainrule.lab.experiments import dropout

    shipped = _shipped()
    for arm in ("element", "channel"):
        lr = shipped[f"C3/{arm}/lr/{level}"]
        rate = shipped[f"C3/{arm}/drop rate/{level}"]
        assert lr["conditions"] == {"drop rate": dropout._C3_START_RATE[level][arm]}, arm
        assert rate["conditions"] == {"lr": lr["chosen"]}, arm


def _fake_tuned(tmp_path, monkeypatch, entries: dict) -> None:
    import json

    from chainrule.lab.experiments import _tuning

    path = tmp_path / "tuned.json"
    monkeypatch.setattr(_tuning, "TUNED_PATH", str(path))
    monkeypatch.setattr(_tuning, "_CHOSEN", {})
    path.write_text(json.dumps({k: {"chosen": v, "grid": [0.001, v, 1.0], "scores": [2, 1, 3],
                                    "provenance": k} for k, v in entries.items()}))


def test_c2_and_c3_lr_lookups_read_their_own_budget_entry(tmp_path, monkeypatch):
    from chainrule.lab.experiment import Context
    from chainrule.lab.experiments import dropout

    _fake_tuned(tmp_path, monkeypatch, {
        "C2/dropconnect (width 1024)/lr/full": 0.07, "C2/dropconnect (width 128)/lr/quick": 0.02,
        "C3/none/lr/full": 0.04, "C3/none/lr/quick": 0.09})

    def no_training(*a, **k):
        raise AssertionError("a run with a tuned entry must not search")

    monkeypatch.setattr(dropout.common, "train", no_training)
    full = Context(quick=False, seeds=(0, 1, 2), log=lambda s: None)
    quick = Context(quick=True, seeds=(0, 1, 2), log=lambda s: None)
    mlp = (np.zeros((4, 784), np.float32), np.zeros(4, np.int64)) * 2
    cnn = (np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int64)) * 2
    lr, rec = dropout.c2_lr(full, "dropconnect", 1024, 800, mlp)
    assert lr == 0.07 and "C2/dropconnect (width 1024)/lr/full" in rec["provenance"]
    assert dropout.c2_lr(quick, "dropconnect", 128, 400, mlp)[0] == 0.02
    assert dropout.c3_lr(full, "none", (32, 32), 28, 400, cnn, 0.0)[0] == 0.04
    assert dropout.c3_lr(quick, "none", (8, 16), 14, 250, cnn, 0.0)[0] == 0.09
    with pytest.raises(ValueError, match="arm"):
        dropout.c2_lr(full, "zoneout", 64, 800, mlp)
    with pytest.raises(ValueError, match="arm"):
        dropout.c3_lr(full, "zoneout", (32, 32), 28, 400, cnn, 0.0)


def test_c3_run_trains_each_arm_at_its_own_tuned_lr(tmp_path, monkeypatch):
    # no fixed lr is left: every C3 training's optimiser gets the lr read for its arm
    from chainrule.lab.experiment import Context
    from chainrule.lab.experiments import dropout

    assert not hasattr(dropout, "_LR")
    lrs = {"none": 0.011, "element": 0.022, "channel": 0.033}
    _fake_tuned(tmp_path, monkeypatch, {f"C3/{a}/lr/quick": lr for a, lr in lrs.items()}
                | {"C3/element/drop rate/quick": 0.15, "C3/channel/drop rate/quick": 0.25})
    seen: list[tuple[str, float]] = []
    train = dropout.common.train

    def spy(model, opt, *a, **k):
        drops = [type(m).__name__ for m in model if "Dropout" in type(m).__name__]
        arm = {"Dropout": "element", "Dropout2d": "channel"}.get(drops[0] if drops else "",
                                                               "none")
        seen.append((arm, opt.param_groups[0]["lr"]))
        return train(model, opt, *a, **k)

    monkeypatch.setattr(dropout.common, "train", spy)
    ctx = Context(quick=True, tiny=True, seeds=(0, 1, 2), out_dir=str(tmp_path),
                  log=lambda s: None)
    res = dropout.SpatialDropout().run(ctx)
    assert sorted(set(seen)) == sorted(lrs.items())
    assert res.numbers["lr"] == lrs
    assert res.numbers["drop_rate"] == {"none": 0.0, "element": 0.15, "channel": 0.25}
    # the report's tuning table: three lrs and two drop rates, each read from tuned.json
    assert len(res.tuning) == 5 and all("tiny run" in t["provenance"] for t in res.tuning)


def test_c2_full_run_uses_the_middle_width_lr_at_every_width():
    from chainrule.lab.experiment import Context
    from chainrule.lab.experiments.dropout import c2_tune_width

    full = Context(quick=False, seeds=(0, 1, 2), log=lambda s: None)
    quick = Context(quick=True, seeds=(0, 1, 2), log=lambda s: None)
    assert [c2_tune_width(full, w, (64, 256, 1024)) for w in (64, 256, 1024)] == [256] * 3
    assert [c2_tune_width(quick, w, (32, 128)) for w in (32, 128)] == [32, 128]
    with pytest.raises(ValueError, match="width 100"):
        c2_tune_width(full, 100, (64, 256, 1024))


def test_c2_run_trains_each_arm_at_its_own_tuned_lr(tmp_path, monkeypatch):
    from chainrule.lab.experiment import Context
    from chainrule.lab.experiments import dropout

    lrs = {("none", 8): 0.011, ("dropout", 8): 0.022, ("dropconnect", 8): 0.033,
           ("none", 16): 0.044, ("dropout", 16): 0.055, ("dropconnect", 16): 0.066}
    _fake_tuned(tmp_path, monkeypatch,
                {f"C2/{a} (width {w})/lr/quick": lr for (a, w), lr in lrs.items()})
    seen: set[tuple[str, int, float]] = set()
    train = dropout.common.train

    def spy(model, opt, *a, **k):
        kinds = {type(m).__name__ for m in model}
        arm = ("dropconnect" if "DropConnect" in kinds else
               "dropout" if "Dropout" in kinds else "none")
        seen.add((arm, model[0].out_features, opt.param_groups[0]["lr"]))
        return train(model, opt, *a, **k)

    monkeypatch.setattr(dropout.common, "train", spy)
    ctx = Context(quick=True, tiny=True, seeds=(0, 1, 2), out_dir=str(tmp_path),
                  log=lambda s: None)
    res = dropout.DropConnectWidth().run(ctx)
    assert seen == {(a, w, lr) for (a, w), lr in lrs.items()}
    assert res.numbers["lr"] == {f"{a} w{w}": lr for (a, w), lr in lrs.items()}
    assert len(res.tuning) == 6
