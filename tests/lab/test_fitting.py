"""Tiny end-to-end runs of the fitting experiments (F1, F2)."""

from __future__ import annotations

from lab_checks import tiny_suite

IDS = ("F1", "F2")


results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)


def test_f1_degree_9_interpolates_the_ten_points(results):
    rms = results["F1"].numbers["poly_train_rms"]
    assert rms["degree 9"][0] < 1e-6 < rms["degree 3"][0]


def test_f2_ridge_iterative_matches_closed_form(results):
    assert results["F2"].numbers["ridge_max_rel_error"][0] < 1e-6
    zeros = results["F2"].numbers["exact_zero_share"]
    assert zeros["l1_subgradient"][0] == 0.0 and zeros["l2"][0] == 0.0
