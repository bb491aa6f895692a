"""Tiny end-to-end runs of the activation experiments (A1-A3)."""

from __future__ import annotations

from lab_checks import tiny_suite

IDS = ("A1", "A2", "A3")


results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)


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
