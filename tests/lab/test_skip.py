"""Tiny end-to-end runs of the skip-connection experiments (B1-B3) and their helpers."""

from __future__ import annotations

import numpy as np
import pytest
from lab_checks import tiny_suite

import chainrule as cr
from chainrule.lab import common
from chainrule.lab.experiment import VERDICTS
from chainrule.lab.experiments.skip import (
    converged,
    first_reach,
    make_net,
    matched_loss_target,
    nonconvex_fraction,
)

IDS = ("B1", "B2", "B3")


results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)


def test_b1_reports_both_train_and_test(results):
    row = results["B1"].table[0]
    assert {"training loss (train mode)", "test loss", "test acc", "test−train loss"} <= set(row)
    # the note's "to prevent overfitting" is a registered part, tested like the others
    part = next(p for p in results["B1"].parts if "overfitting" in p.name)
    assert part.kind == "empirical" and part.status in VERDICTS


def test_plain_and_residual_share_parameters_and_init():
    common.seeded(3)
    plain = make_net(8, residual=False)
    common.seeded(3)
    resid = make_net(8, residual=True)
    sp, sr = plain.state_dict(), resid.state_dict()
    assert list(sp) == list(sr)
    for k in sp:
        np.testing.assert_array_equal(sp[k].data, sr[k].data)
    x = cr.randn(5, 40)
    assert not np.allclose(plain(x).data, resid(x).data)  # the skip is the only difference


def test_conv_net_shapes():
    net = make_net(4, residual=True, width=4, conv=True)
    assert tuple(net(cr.randn(3, 1, 40)).shape) == (3, 10)
    with pytest.raises(ValueError, match="even"):
        make_net(5, residual=True)


def test_nonconvex_fraction_on_known_surfaces():
    a = np.linspace(-1, 1, 9)
    aa, bb = np.meshgrid(a, a)
    assert nonconvex_fraction(aa ** 2 + 3 * bb ** 2) == 0.0      # convex bowl
    assert nonconvex_fraction(aa ** 2 - bb ** 2) == 1.0          # saddle everywhere
    assert nonconvex_fraction(np.cos(6 * aa) + np.cos(6 * bb)) > 0.3  # egg crate


# --- B3's matching at equal training loss, on synthetic curves --------------------------------

def test_matched_target_is_the_lowest_loss_every_curve_reaches():
    fast = [3.0, 2.0, 1.0, 0.5, 0.4]
    slow = [3.0, 2.5, 1.5, 1.2, 1.1]
    bumpy = [3.0, np.nan, 1.0, 1.3, 0.9]  # a NaN step (ignored) and a loss that goes back up
    target = matched_loss_target([fast, slow, bumpy])
    assert target == 1.1  # the slow curve's best: every curve reaches it, a lower one would not
    assert [first_reach(c, target) for c in (fast, slow, bumpy)] == [2, 4, 2]
    assert first_reach([3.0, 1.0, 2.0, 0.9], 1.05) == 1  # the first crossing, not the last
    assert first_reach([np.nan, 0.5], 1.0) == 1  # NaN never counts as reaching the target


def test_matching_refuses_what_cannot_be_matched():
    with pytest.raises(ValueError, match="never reaches"):
        first_reach([3.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="no finite loss"):
        matched_loss_target([[1.0], [np.nan, np.nan]])
    with pytest.raises(ValueError, match="at least one"):
        matched_loss_target([])


def test_b3_compares_each_pair_at_its_matched_loss(results):
    res = results["B3"]
    matched = res.numbers["matched_loss"]
    assert len(matched) == 3  # plain vs residual with and without BN; the BN-by-depth contrast
    for m in matched.values():
        at_match = [v for vals in m["loss"].values() for v in vals]
        assert max(at_match) == m["target"]  # the slowest run is matched at its best loss
        assert all(v <= m["target"] for v in at_match)
    for part in res.parts:
        assert "matched training loss" in part.detail


def test_convergence_criterion():
    assert converged(1.30, 1.29)          # −0.8 % over the last 20 % of steps
    assert converged(1.30, 1.31)          # going up is not "still improving"
    assert not converged(1.40, 1.28)      # −9 %: still falling
    assert not converged(2.30, 2.30 * 0.97)
    assert not converged(float("nan"), 1.0) and not converged(1.0, float("inf"))


def test_b1_parts_state_convergence_and_matching(results):
    parts = {p.name: p for p in results["B1"].parts}
    gap = parts["the note: skips prevent overfitting"]
    assert "matched training loss" in gap.detail
    m = results["B1"].numbers["gap_at_matched_loss"]
    assert len(m["plain"]) == len(m["residual"]) == 3
    for name, part in parts.items():
        if name != "the note: skips prevent overfitting":
            assert "converged" in part.detail  # says whether the runs converged, and if not, why
    for row in results["B1"].table:
        assert "converged runs" in row


def test_b2_slices_at_a_matched_training_loss(results):
    res = results["B2"]
    m = res.numbers["compare"]["matched_loss"]
    assert set(m["steps"]) == {"plain", "residual"} and len(m["steps"]["plain"]) == 3
    assert all("matched training loss" in p.detail for p in res.parts)
