"""Per-arm tuning on a validation split (chainrule/lab/experiments/_tuning.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.lab.experiment import Context
from chainrule.lab.experiments import _tuning


def _ctx(**kw):
    return Context(quick=True, seeds=(0, 1, 2), log=lambda s: None, **kw)


@pytest.fixture
def tuned_file(tmp_path, monkeypatch):
    path = tmp_path / "tuned.json"
    monkeypatch.setattr(_tuning, "TUNED_PATH", str(path))
    return path


def test_validation_split_is_disjoint_and_fixed():
    x = np.arange(100, dtype=np.float32)[:, None]
    y = np.arange(100)
    xf, yf, xv, yv = _tuning.validation_split(x, y, 0.2)
    assert len(yv) == 20 and len(yf) == 80
    assert not set(yf) & set(yv)
    assert np.array_equal(yv, _tuning.validation_split(x, y, 0.2)[3])
    with pytest.raises(ValueError, match="frac"):
        _tuning.validation_split(x, y, 1.5)


def test_optimum_on_an_edge_widens_the_grid_until_inside(tuned_file):
    # validation score with its minimum at lr = 10: beyond the grid's right edge
    calls = []

    def score(lr, seed):
        calls.append((lr, seed))
        return (np.log10(lr) - 1.0) ** 2

    lr, rec = _tuning.choose(_ctx(tune=True), "X", "arm", "lr", (0.01, 0.1, 1.0), score,
                             metric="m")
    assert lr == pytest.approx(10.0)
    assert rec["interior"] and rec["grid"][-1] == pytest.approx(100.0)
    assert {s for _, s in calls} == set(_tuning.TUNE_SEEDS)  # never the evaluation seeds
    stored = json.loads(tuned_file.read_text())
    assert stored["X/arm/lr/quick"]["chosen"] == pytest.approx(10.0)


def test_shipped_value_is_read_without_searching(tuned_file):
    tuned_file.write_text(json.dumps({"X/arm/lr/quick": {
        "chosen": 0.3, "grid": [0.1, 0.3, 1.0], "scores": [2, 1, 3], "provenance": "p"}}))

    def score(lr, seed):
        raise AssertionError("a shipped value must not be re-tuned")

    lr, rec = _tuning.choose(_ctx(), "X", "arm", "lr", (0.1, 0.3, 1.0), score, metric="m")
    assert lr == 0.3 and "shipped" in rec["provenance"] and rec["scores"] == [2, 1, 3]


def test_fallback_is_said_to_be_untuned(tuned_file):
    lr, rec = _tuning.choose(_ctx(), "X", "arm", "lr", (0.1, 0.3, 1.0),
                             lambda lr, seed: 0.0, metric="m", fallback=0.3)
    assert lr == 0.3 and "NOT TUNED" in rec["provenance"]


def test_bounds_stop_widening(tuned_file):
    lr, rec = _tuning.choose(_ctx(tune=True), "X", "arm", "p", (0.2, 0.4, 0.6),
                             lambda p, seed: -p, metric="m", bounds=(0.0, 0.9))
    # 0.8, then the steps past the bound halve toward it: 0.85, 0.875 (three widenings)
    assert lr == pytest.approx(0.875) and not rec["interior"]
    assert rec["grid"][-3:] == pytest.approx([0.8, 0.85, 0.875])
    assert "edge" in rec["provenance"]


def test_an_optimum_near_a_bound_gets_an_outer_neighbour(tuned_file):
    # a drop rate best near 0.958, the grid ending at 0.95 below the bound 0.97: the step
    # past 0.95 would overshoot, so the midpoints 0.96 and 0.965 are tried and 0.96 is inside
    lr, rec = _tuning.choose(_ctx(tune=True), "X", "rate", "p", (0.2, 0.4, 0.6, 0.8, 0.9, 0.95),
                             lambda p, seed: (p - 0.958) ** 2, metric="m", bounds=(0.01, 0.97))
    assert lr == pytest.approx(0.96) and rec["interior"]
    assert rec["grid"][-2:] == pytest.approx([0.96, 0.965])


def _score(s) -> float:
    """A stored validation score as a float (a failed grid point is stored as inf, whichever
    spelling the file uses for it)."""
    return float(s) if isinstance(s, (int, float)) else float("inf")


def test_every_shipped_value_lies_strictly_inside_its_grid():
    # an optimum on a grid's edge says only "at least this large": tuned.json must never ship
    # one (the quick runs read these values instead of searching)
    with open(_tuning.TUNED_PATH) as f:
        shipped = json.load(f)
    assert shipped, "tuned.json is empty"
    on_edge, not_best = [], []
    for key, rec in shipped.items():
        grid = [float(g) for g in rec["grid"]]
        scores = [_score(s) for s in rec["scores"]]
        assert grid == sorted(grid) and len(grid) >= 3 and len(scores) == len(grid), key
        chosen = float(rec["chosen"])
        if not grid[0] < chosen < grid[-1] or not rec.get("interior", False):
            on_edge.append(f"{key}: {chosen:g} in {[round(g, 4) for g in grid]}")
        # every metric in the file is lower-is-better: the chosen value has the best score (on
        # a tie, the search keeps the value it found first, not necessarily the smallest)
        best = [g for g, sc in zip(grid, scores) if np.isclose(sc, min(scores), rtol=0, atol=1e-12)]
        if not any(np.isclose(chosen, g) for g in best):
            not_best.append(key)
    assert not on_edge, "tuned value on its grid's edge: " + "; ".join(on_edge)
    assert not not_best, f"chosen value is not the best validation score: {not_best}"


def test_d4_shipped_learning_rates_lie_strictly_inside_their_grid():
    # D4 ships its grid scores in the module (TUNED) rather than in tuned.json
    from chainrule.lab.experiments import transformer_ln as D4

    tuned, _ = D4._choices(D4.TUNED)
    assert set(tuned) == {name for name, _, _ in D4.ARMS}
    for name, lr in tuned.items():
        assert len(D4.TUNED[name]) == len(D4._LR_GRID)
        assert D4._LR_GRID[0] < lr < D4._LR_GRID[-1], (name, lr)


def test_full_run_reuses_the_quick_value_and_says_so(tuned_file):
    tuned_file.write_text(json.dumps({"X/arm/lr/quick": {
        "chosen": 0.3, "grid": [0.1, 0.3, 1.0], "scores": [2, 1, 3], "provenance": "p"}}))
    full = Context(quick=False, seeds=(0, 1, 2), log=lambda s: None)

    def score(lr, seed):
        raise AssertionError("a full run without --tune must not search")

    lr, rec = _tuning.choose(full, "X", "arm", "lr", (0.1, 0.3, 1.0), score, metric="m")
    assert lr == 0.3 and "QUICK budget" in rec["provenance"] and rec["scores"] == [2, 1, 3]


def test_full_run_searches_when_the_quick_value_does_not_carry_over(tuned_file):
    tuned_file.write_text(json.dumps({"X/arm/p/quick": {"chosen": 0.1, "provenance": "q"}}))
    full = Context(quick=False, seeds=(0, 1, 2), log=lambda s: None)
    lr, rec = _tuning.choose(full, "X", "arm", "p", (0.1, 0.2, 0.4), lambda p, s: (p - 0.2) ** 2,
                             metric="m", reuse_quick=False)
    assert lr == pytest.approx(0.2) and rec["scores"] and "tuned" in rec["provenance"]
    assert "X/arm/p/full" not in json.loads(tuned_file.read_text())  # stored only with --tune


def _refuse(constant):
    raise ValueError(f"not strict JSON: {constant}")


def test_shipped_tuned_json_is_strict_json():
    from pathlib import Path

    text = Path(_tuning.__file__).parent.parent.joinpath("tuned.json").read_text()
    data = json.loads(text, parse_constant=_refuse)  # Infinity / NaN would raise here
    assert data and all("chosen" in rec for rec in data.values())


def test_a_diverged_grid_value_is_stored_as_null_and_read_back_as_inf(tuned_file):
    def score(lr, seed):
        return float("nan") if lr == 1.0 else (lr - 0.1) ** 2

    _tuning.choose(_ctx(tune=True), "X", "diverged", "lr", (0.01, 0.1, 1.0), score, metric="m")
    stored = json.loads(tuned_file.read_text(), parse_constant=_refuse)
    assert stored["X/diverged/lr/quick"]["scores"][-1] is None
    assert _tuning._load()["X/diverged/lr/quick"]["scores"][-1] == float("inf")


def test_a_full_entry_is_read_before_the_quick_one(tuned_file, monkeypatch):
    monkeypatch.setattr(_tuning, "_CHOSEN", {})  # no value memoised by an earlier test
    tuned_file.write_text(json.dumps({
        "X/arm/lr/quick": {"chosen": 0.3, "grid": [0.1, 0.3, 1.0], "scores": [2, 1, 3]},
        "X/arm/lr/full": {"chosen": 0.1, "grid": [0.03, 0.1, 0.3], "scores": [2, 1, 3],
                          "provenance": "tuned at the full budget"}}))
    full = Context(quick=False, seeds=(0, 1, 2), log=lambda s: None)

    def score(lr, seed):
        raise AssertionError("a full entry must be read, not searched")

    for reuse in (True, False):
        lr, rec = _tuning.choose(full, "X", "arm", "lr", (0.1, 0.3, 1.0), score, metric="m",
                                 reuse_quick=reuse)
        assert lr == 0.1 and "full budget" in rec["provenance"] and "QUICK" not in \
            rec["provenance"]


def test_b1_and_c3_ship_full_budget_entries_for_every_arm():
    # issue 15: B1's lrs (FC and conv, every depth, searched under the runs' own schedule) and
    # C3's drop rates are searched at the full budget; the interior check is the test above
    from chainrule.lab.experiments import skip

    with open(_tuning.TUNED_PATH) as f:
        shipped = json.load(f)
    full = Context(quick=False, seeds=(0, 1, 2), log=lambda s: None)
    keys = [f"C3/{arm}/drop rate/full" for arm in ("element", "channel")]
    b1 = [f"B1/{skip._arm_name(d, r, conv)}/lr/full" for conv in (False, True)
          for d in skip._depths(full, conv) for r in (False, True) if not (d == 2 and r)]
    assert len(b1) == 14
    missing = [k for k in keys + b1 if k not in shipped]
    assert not missing, f"no full-budget entry: {missing}"
    for k in keys + b1:
        assert "at the full budget" in shipped[k]["provenance"], k
    for k in b1:
        assert shipped[k]["metric"] == skip._SEARCH_METRIC, f"{k}: not searched as the runs train"
