"""Tiny end-to-end runs of the curvature and convexity experiments (E3, E4)."""

from __future__ import annotations

from lab_checks import tiny_suite

IDS = ("E3", "E4")


results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)


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
