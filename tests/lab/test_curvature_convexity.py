"""Tiny end-to-end runs of the curvature and convexity experiments (E3, E4)."""

from __future__ import annotations

import os

import pytest

from chainrule.lab.experiment import ERROR, VERDICTS, Context, Result, registry

IDS = ("E3", "E4")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Result]:
    out = {}
    for exp_id in IDS:
        ctx = Context(quick=True, tiny=True, seeds=(0, 1, 2),
                      out_dir=str(tmp_path_factory.mktemp(exp_id)), log=lambda s: None)
        out[exp_id] = registry()[exp_id]().run(ctx)
    return out


@pytest.mark.parametrize("exp_id", IDS)
def test_tiny_run_gives_a_valid_result(results, exp_id):
    res = results[exp_id]
    assert isinstance(res, Result) and res.id == exp_id
    assert res.verdict in VERDICTS and res.verdict != ERROR, res.summary
    assert res.summary and res.numbers and res.table
    assert res.claim and res.expected and res.source
    assert res.seeds == [0, 1, 2]
    assert res.plots
    for path in res.plots:
        assert os.path.isfile(path)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    res.to_json()  # serialisable


def test_e3_newton_is_attracted_to_the_saddle(results):
    n = results["E3"].numbers
    for fname in ("5x²−y²", "x³−3xy²"):
        assert n[fname]["newton"]["final_distance"][0] < 1e-6
        assert all(e is None for e in n[fname]["newton"]["escape"])
        assert all(e is not None for e in n[fname]["saddle-free newton"]["escape"])


def test_e4_convex_problem_reaches_one_optimum(results):
    n = results["E4"].numbers
    assert n["logistic"]["max_loss_spread"] < 1e-6
    assert n["logistic"]["min_hessian_eigenvalue"] > 0 > n["mlp"]["min_hessian_eigenvalue"]
