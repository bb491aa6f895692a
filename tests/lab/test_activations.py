"""Tiny end-to-end runs of the activation experiments (A1-A3)."""

from __future__ import annotations

import pytest
from lab_checks import assert_valid_result, run_tiny

from chainrule.lab.experiment import Result

IDS = ("A1", "A2", "A3")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Result]:
    return run_tiny(IDS, tmp_path_factory)


@pytest.mark.parametrize("exp_id", IDS)
def test_tiny_run_gives_a_valid_result(results, exp_id):
    assert_valid_result(results[exp_id], exp_id)


def test_a1_single_sign_rows_behind_sigmoid_not_tanh(results):
    sign = results["A1"].numbers["single_sign_fraction"]
    assert sign["sigmoid"][0] > 0.99
    assert sign["tanh"][0] < 0.01


def test_a2_xavier_evens_out_variances(results):
    ratio = results["A2"].numbers["act_var_ratio_init"]
    assert ratio["xavier"][0] < ratio["standard"][0]


def test_a3_bias_minus_3_kills_every_relu(results):
    dead = results["A3"].numbers["dead_final"]
    assert dead["bias-3 relu"][0] == 1.0
