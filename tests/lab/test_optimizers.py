"""Tiny end-to-end runs of the optimizer experiments (E1, E2, E5, E7)."""

from __future__ import annotations

from lab_checks import tiny_suite

IDS = ("E1", "E2", "E5", "E7")


results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)


def test_e1_adagrad_state_is_the_sum_of_squared_gradients(results):
    assert results["E1"].numbers["adagrad_state_vs_sum_rel_error"] < 1e-4
    assert results["E1"].numbers["rmsprop_state_vs_moving_average_rel_error"] < 1e-4


def test_e2_newton_solves_the_quadratic_in_one_step(results):
    assert results["E2"].numbers["newton_one_step_relative_error"] < 1e-8


def test_e5_newton_needs_far_fewer_iterations(results):
    n = results["E5"].numbers
    assert n["newton_iterations"][0] * 20 < n["gd_iterations"][0]


def test_e7_no_direction_beats_the_negative_gradient(results):
    for key, value in results["E7"].numbers.items():
        if key != "verdicts":
            assert value["max_violation"] <= 1e-12
