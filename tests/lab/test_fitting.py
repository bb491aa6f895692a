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


def test_f2_compiled_training_loop_equals_the_eager_one_bit_for_bit():
    """F2's MLP arms train with ``common.train(compile=True)``: losses and weights must be
    the eager loop's, bit for bit (float32; the proximal-L1 arm diverged at step 114 when a
    capture subtracted a float64 threshold)."""
    import warnings

    import numpy as np

    from chainrule import nn, optim
    from chainrule.lab import common

    x, y, _, _ = common.dataset("digits")
    for arm in ("l2", "l1_subgradient", "l1_prox"):
        runs = []
        for compiled in (False, True):
            common.seeded(0)
            model = nn.Sequential(nn.Linear(x.shape[1], 32), nn.ReLU(), nn.Linear(32, 10))
            weights = [model[0].weight, model[2].weight]
            group = {"params": weights, {"l2": "weight_decay"}.get(arm, "l1"): 1e-3}
            loss_fn = None
            if arm == "l1_subgradient":
                def loss_fn(out, target, weights=weights):
                    return (nn.functional.cross_entropy(out, target)
                            + nn.utils.l1_penalty(weights, 1e-3))
                del group["l1"]
            opt = optim.SGD([group, {"params": [model[0].bias, model[2].bias]}], lr=0.1)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # staying eager would warn
                losses = common.train(model, opt, x, y, 150, 32, 0, loss_fn=loss_fn,
                                      compile=compiled)
            runs.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
        (le, we), (lc, wc) = runs
        assert le == lc, arm
        for a, b in zip(we, wc):
            np.testing.assert_array_equal(a, b, err_msg=arm)
