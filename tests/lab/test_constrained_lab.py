"""Tiny end-to-end run of the Lagrange/KKT/duality experiment (E6)."""

from __future__ import annotations

import os

import pytest

from chainrule.lab.experiment import ERROR, VERDICTS, Context, Result, registry

IDS = ("E6",)


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


def test_e6_kkt_residuals_and_gaps_vanish(results):
    n = results["E6"].numbers
    for problem in ("equality QP", "inequality QP", "simplex projection", "SVM dual"):
        assert n[problem]["max_kkt_residual"] < 1e-6
        assert n[problem]["max_duality_gap"] < 1e-6


def test_svm_primal_objective_hinge():
    import numpy as np

    from chainrule.lab.experiments.constrained import svm_primal_objective

    x = np.array([[1.0, 0.0], [-1.0, 0.0]])
    y = np.array([1.0, -1.0])
    # w = (0.5, 0), b = 0: margins 0.5, hinge 0.5 each; ½‖w‖² = 0.125
    assert svm_primal_objective(np.array([0.5, 0.0]), 0.0, x, y, 2.0) == 0.125 + 2.0
