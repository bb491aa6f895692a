"""Tiny end-to-end runs of the skip-connection experiments (B1-B3) and their helpers."""

from __future__ import annotations

import numpy as np
import pytest
from lab_checks import tiny_suite

import chainrule as cr
from chainrule.lab import common
from chainrule.lab.experiment import VERDICTS
from chainrule.lab.experiments.skip import (
    _depth_part,
    converged,
    first_reach,
    make_net,
    matched_loss_target,
    nonconvex_fraction,
    plateau_ratio,
    steps_to_matched_loss,
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


def _exp_curve(tau_over_t: float, start: float = 2.3, floor: float = 0.4
               ) -> tuple[float, float, float]:
    """(L(0), L(0.8 T), L(T)) of L(t) = floor + (start − floor)·exp(−t/τ), T = 1."""
    def loss(t: float) -> float:
        return floor + (start - floor) * float(np.exp(-t / tau_over_t))
    return loss(0.0), loss(0.8), loss(1.0)


def test_convergence_rule_on_synthetic_curves():
    # plateaued: τ = T/10 leaves 0.03 % of the improvement for the last 20 % of the steps
    assert plateau_ratio(*_exp_curve(0.1)) == pytest.approx(
        np.exp(-8) * (1 - np.exp(-2)) / (1 - np.exp(-10)))
    assert converged(*_exp_curve(0.1))
    # still falling: τ = T/2 puts 7.7 % of it in the last 20 %; a straight line puts 20 %
    assert plateau_ratio(*_exp_curve(0.5)) == pytest.approx(0.0768, abs=1e-3)
    assert not converged(*_exp_curve(0.5))
    assert not converged(2.3, 2.3 - 0.8 * 1.5, 2.3 - 1.5)
    # the threshold is τ ≈ T/4.2 whatever the loss level (scale-free), as the docstring says
    for start, floor in ((2.3, 0.4), (2.3, 0.01), (50.0, 49.0)):
        assert converged(*_exp_curve(1 / 4.5, start, floor))
        assert not converged(*_exp_curve(1 / 4.0, start, floor))
    # the rule is strict at its edge: 2 % of the improvement is not "less than 2 %"
    assert not converged(2.0, 1.02, 1.0) and converged(2.0, 1.019, 1.0)


def test_convergence_rule_is_not_hardest_on_the_best_fit():
    # a net that fits to 0.080 and moved by 0.002 in the last 20 %: 2.5 % of its level (the
    # old level-relative rule said "not converged"), 0.1 % of its progress (converged)
    assert converged(2.3, 0.082, 0.080)
    assert plateau_ratio(2.3, 0.082, 0.080) == pytest.approx(0.002 / 2.22)


def test_convergence_rule_edge_cases():
    assert converged(2.3, 1.29, 1.31)  # went up over the last stretch: not still improving
    assert not converged(2.3, 2.3, 2.3)  # never improved on the start: not a plateau
    assert not converged(2.3, 2.5, 2.4)  # ended above the start
    for bad in ((float("nan"), 1.0, 0.9), (2.3, float("nan"), 0.9), (2.3, 1.0, float("nan")),
                (2.3, 1.0, float("inf")), (2.3, float("-inf"), 0.9)):
        assert not converged(*bad)
        assert np.isnan(plateau_ratio(*bad))


def test_steps_to_matched_loss():
    fast = [3.0, 2.0, 1.0, 0.8, 0.7, 0.7]
    slow = [3.0, 2.9, 2.5, 2.0, 1.5, 1.2]
    nan = [3.0, np.nan, 2.0, 1.0, 1.0, 1.0]
    target, sa, sb = steps_to_matched_loss([fast, nan], [slow], 1)
    assert target == 1.2 and sa == [3, 4] and sb == [6]  # first step at or below 1.2
    # a 2-step moving average: fast [2.5, 1.5, 0.9, ..], slow [.., 1.75, 1.35]
    target, sa, sb = steps_to_matched_loss([fast], [slow], 2)
    assert target == pytest.approx(1.35) and sa == [4] and sb == [6]  # windows end at 4, 6
    with pytest.raises(ValueError, match="window"):
        steps_to_matched_loss([fast], [slow], 0)


def _arm(fit: list[float], conv: list[bool], curves: list[list[float]]) -> dict[str, list]:
    return {"fit_loss": fit, "converged": conv, "curve": curves,
            "plateau": [0.001 if c else 0.1 for c in conv]}


def test_depth_part_uses_converged_losses_or_falls_back_to_matched_loss():
    rng = np.random.default_rng(0)
    n = 6
    slow = [list(np.linspace(2.3, 1.0, 400) + rng.normal(0, 1e-3, 400)) for _ in range(n)]
    fast = [list(np.r_[np.linspace(2.3, 1.0, 200), np.full(200, 0.9)]
                 + rng.normal(0, 1e-3, 400)) for _ in range(n)]
    hi, lo = list(1.0 + rng.normal(0, 0.01, n)), list(0.5 + rng.normal(0, 0.01, n))
    both = _depth_part("p", "s", _arm(hi, [True] * n, slow), _arm(lo, [True] * n, fast), 0.02,
                       0.1, ("a", "b"), 400)
    assert both.metric.startswith("training loss after convergence")
    assert both.status == "holds" and both.effect == pytest.approx(np.mean(hi) - np.mean(lo))
    # one run of arm b not converged: its final loss is not where it would end, so the part
    # compares steps to a common loss instead (slow needs ~2x the steps of fast), and says so
    some = _depth_part("p", "s", _arm(hi, [True] * n, slow),
                       _arm(lo, [True] * (n - 1) + [False], fast), 0.02, 0.1, ("a", "b"), 400)
    assert some.metric == "log10 steps to reach a matched training loss"
    assert "not every run converged" in some.detail and "b 5/6" in some.detail
    assert some.status == "holds" and some.effect == pytest.approx(np.log10(2), abs=0.05)
    # ...and the direction is not built in: the fast arm first is refuted
    flipped = _depth_part("p", "s", _arm(lo, [False] * n, fast), _arm(hi, [True] * n, slow),
                          0.02, 0.1, ("b", "a"), 400)
    assert flipped.status == "refuted"


def test_b1_parts_state_convergence_and_matching(results):
    parts = {p.name: p for p in results["B1"].parts}
    gap = parts["the note: skips prevent overfitting"]
    assert "matched training loss" in gap.detail
    m = results["B1"].numbers["gap_at_matched_loss"]
    assert len(m["plain"]) == len(m["residual"]) == 3
    # both arms (fully connected and conv) register their three depth parts; each says
    # whether its runs converged and which comparison decided it
    depth_parts = [p for n, p in parts.items() if n != "the note: skips prevent overfitting"]
    assert sorted(p.name.split(":")[0] for p in depth_parts) == ["conv"] * 3 + ["fc"] * 3
    for part in depth_parts:
        assert "converged" in part.detail
        if part.metric.startswith("log10 steps"):
            assert "not every run converged" in part.detail
        else:
            assert part.metric.startswith("training loss after convergence")
            assert "every run of both arms converged" in part.detail
    numbers = results["B1"].numbers
    for kind in ("fc", "conv"):
        assert set(numbers[f"{kind}_converged_runs"]) == set(numbers[f"{kind}_plateau_share"])
    for row in results["B1"].table:
        assert "converged runs" in row


def test_b2_slices_at_a_matched_training_loss(results):
    res = results["B2"]
    m = res.numbers["compare"]["matched_loss"]
    assert set(m["steps"]) == {"plain", "residual"} and len(m["steps"]["plain"]) == 3
    assert all("matched training loss" in p.detail for p in res.parts)


# --- B1's learning rates: one per (kind, arm, depth), searched as the runs train --------------

def _full_ctx(**kw):
    from chainrule.lab.experiment import Context

    return Context(quick=False, seeds=(0, 1, 2), log=lambda s: None, **kw)


def test_b1_conv_runs_every_depth_of_the_fc_sweep():
    from chainrule.lab.experiments import skip

    full = _full_ctx()
    assert skip._depths(full, conv=True) == skip._depths(full) == (2, 8, 16, 32)


def test_b1_full_run_reads_each_arms_full_entry_fc_and_conv(tmp_path, monkeypatch):
    # distinct values per arm in a full entry and a decoy quick entry: the full run must read
    # the full one for every arm, the conv arms included (their lr was one constant before)
    import json

    from chainrule.lab.experiments import _tuning, skip

    path = tmp_path / "tuned.json"
    monkeypatch.setattr(_tuning, "TUNED_PATH", str(path))
    monkeypatch.setattr(_tuning, "_CHOSEN", {})
    entries, expected = {}, {}
    for i, (conv, depth, residual) in enumerate(
            (c, d, r) for c in (False, True) for d in (2, 8, 16, 32) for r in (False, True)
            if not (d == 2 and r)):
        arm = skip._arm_name(depth, residual, conv)
        expected[(conv, depth, residual)] = 0.011 * (i + 1)
        entries[f"B1/{arm}/lr/full"] = {"chosen": 0.011 * (i + 1), "grid": [0.001, 0.1, 1.0],
                                        "scores": [1, 0, 1], "provenance": "test"}
        entries[f"B1/{arm}/lr/quick"] = {"chosen": 0.5, "grid": [0.1, 0.5, 1.0],
                                         "scores": [1, 0, 1], "provenance": "decoy"}
    path.write_text(json.dumps(entries))

    def no_training(*a, **k):
        raise AssertionError("a full run with full-budget entries must not search")

    monkeypatch.setattr(skip, "_fit", no_training)
    got = {key: skip._lr(_full_ctx(), key[1], key[2], 300 if key[0] else 1500, key[0])
           for key in expected}
    assert got == pytest.approx(expected)
    assert len({got[(True, d, r)] for d in (8, 32) for r in (False, True)}) == 4


def test_b1_search_trains_exactly_as_the_runs_train(tmp_path, monkeypatch):
    # the lr search and the runs both go through skip._fit (schedule, steps, batch, compile):
    # record the calls of a search and of a run and compare what they asked for
    from chainrule.lab.experiments import _tuning, skip

    monkeypatch.setattr(_tuning, "TUNED_PATH", str(tmp_path / "tuned.json"))
    monkeypatch.setattr(_tuning, "_CHOSEN", {})
    monkeypatch.setattr(skip, "_TRAINED", {})
    calls = []
    real_fit = skip._fit

    def spy(model, lr, x, y, steps, seed, **kw):
        calls.append((lr, steps, x.shape[1:]))
        return real_fit(model, lr, x[:200], y[:200], 4, seed, **kw)

    monkeypatch.setattr(skip, "_fit", spy)
    ctx = _full_ctx(tune=True)
    lr = skip._lr(ctx, 4, True, 300, conv=True)
    searched = list(calls)
    assert {c[0] for c in searched} >= set(skip._LR_GRID) and lr in {c[0] for c in searched}
    assert {c[1:] for c in searched} == {(300, (1, 40))}  # the run's steps, conv input
    calls.clear()
    skip._train_sgd(ctx, 4, True, 0, 300, conv=True)
    assert calls == [(lr, 300, (1, 40))]


def test_b1_schedule_divides_the_lr_by_10_at_half_and_three_quarters(monkeypatch):
    # what _fit hands to common.train: after_step must anneal lr, lr/10, lr/100 (He et al.)
    from chainrule.lab.experiments import skip

    seen = {}

    def fake_train(model, opt, x, y, steps, batch, seed, after_step=None, **kw):
        lrs = []
        for step in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            after_step(step)
        seen.update(lrs=lrs, batch=batch, compile=kw.get("compile"))
        return [0.0] * steps

    monkeypatch.setattr(skip.common, "train", fake_train)
    skip._fit(make_net(2, False, width=4), 0.2, np.zeros((8, 40), np.float32),
              np.zeros(8, np.int64), 8, 0)
    assert seen["lrs"] == pytest.approx([0.2] * 4 + [0.02] * 2 + [0.002] * 2)
    assert seen["batch"] == 100 and seen["compile"] is True
