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


def test_a1_names_an_arm_that_does_not_train_at_any_lr():
    """An arm at chance on most seeds and at every grid value is called "does not train";
    one that learns at some lr, or at chance on only a minority of seeds, is not."""
    from chainrule.lab.experiments.activations import A1Saturation

    exp = A1Saturation()
    res = {"sigmoid": {"err": [0.9, 0.91, 0.89, 0.5]}, "relu": {"err": [0.1, 0.12, 0.9, 0.1]}}
    tuning = [{"arm": "sigmoid", "grid": [0.1, 1.0, 3.0], "scores": [0.9, 0.89, 0.895],
               "chosen": 1.0},
              {"arm": "relu", "grid": [0.1, 0.3, 1.0], "scores": [0.4, 0.18, 0.9]}]
    notes = exp._at_chance(res, tuning)
    assert set(notes) == {"sigmoid"}
    assert "3/4 seeds" in notes["sigmoid"] and "0.1, 1, 3" in notes["sigmoid"]
    assert "lr chosen (1)" in notes["sigmoid"]
    tuning[0]["scores"][1] = 0.3  # one lr learns: the tuning was informative
    assert exp._at_chance(res, tuning) == {}
