"""Tiny end-to-end runs of the fitting experiments (F1, F2)."""

from __future__ import annotations

import pytest
from lab_checks import assert_valid_result, run_tiny

from chainrule.lab.experiment import Result

IDS = ("F1", "F2")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Result]:
    return run_tiny(IDS, tmp_path_factory)


@pytest.mark.parametrize("exp_id", IDS)
def test_tiny_run_gives_a_valid_result(results, exp_id):
    assert_valid_result(results[exp_id], exp_id)


def test_f1_degree_9_interpolates_the_ten_points(results):
    rms = results["F1"].numbers["poly_train_rms"]
    assert rms["degree 9"][0] < 1e-6 < rms["degree 3"][0]


def test_f2_ridge_iterative_matches_closed_form(results):
    assert results["F2"].numbers["ridge_max_rel_error"][0] < 1e-6
    zeros = results["F2"].numbers["exact_zero_share"]
    assert zeros["l1_subgradient"][0] == 0.0 and zeros["l2"][0] == 0.0
