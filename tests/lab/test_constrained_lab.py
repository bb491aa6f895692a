"""Tiny end-to-end run of the Lagrange/KKT/duality experiment (E6)."""

from __future__ import annotations

from lab_checks import tiny_suite

IDS = ("E6",)


results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)


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
