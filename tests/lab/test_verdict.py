"""The lab's verdict rule on synthetic per-seed results: every branch, SciPy references, and
null / power simulations of the paired t rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from chainrule.lab import verdict as v
from chainrule.lab.experiment import (
    ERROR,
    HOLDS,
    INCONCLUSIVE,
    PARTLY,
    REFUTED,
    VERIFIED,
    Context,
    Experiment,
    Result,
)


def _pair(effect: float, n: int = 10, sd: float = 1.0, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Two arms sharing a per-seed baseline (large seed-to-seed spread that pairing removes)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 5.0, n)
    b = base
    a = base + effect + rng.normal(0.0, sd, n)
    return a, b


def _emp(name: str, a: np.ndarray, b: np.ndarray, floor: float = 0.0,
         expect: str = "greater") -> v.Part:
    return v.paired(name, "a vs b", a, b, expect=expect, floor=floor, metric="loss",
                    arms=("a", "b"))


# ---------------------------------------------------------------- single parts

def test_paired_t_matches_scipy_ttest_rel():
    a, b = _pair(0.7, n=7, seed=3)
    part = _emp("p", a, b)
    ref = stats.ttest_rel(a, b, alternative="greater")
    assert part.p == pytest.approx(ref.pvalue, rel=1e-12)
    lo, hi = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert part.ci == pytest.approx((lo, hi), rel=1e-12)
    assert part.effect == pytest.approx(np.mean(a - b))
    assert part.n == 7 and part.method == "paired t"
    assert part.values == {"a": a.tolist(), "b": b.tolist()}


def test_pairing_is_what_makes_it_hold():
    # a shared per-seed baseline with sd 5 swamps an effect of 1 unpaired, not paired
    a, b = _pair(1.0, n=10, sd=0.5, seed=1)
    assert stats.ttest_ind(a, b).pvalue > 0.3
    assert _emp("p", a, b).status == HOLDS


def test_expect_less_orients_the_effect():
    a, b = _pair(-2.0, n=6, seed=2)
    part = _emp("p", a, b, expect="less")
    assert part.effect == pytest.approx(np.mean(b - a)) and part.effect > 0
    assert part.status == HOLDS
    assert _emp("q", a, b, expect="greater").status == REFUTED


def test_branches_holds_refuted_inconclusive_floor():
    a, b = _pair(3.0, n=5, seed=4)
    assert _emp("h", a, b).status == HOLDS
    assert _emp("r", b, a).status == REFUTED
    a0, b0 = _pair(0.0, n=5, sd=1.0, seed=5)
    assert _emp("i", a0, b0).status == INCONCLUSIVE
    small = _emp("f", a, b, floor=10.0)  # clear of zero but below what would matter
    assert small.ci[0] > 0 and small.status == INCONCLUSIVE
    assert "below the practical floor" in small.detail


def test_n3_uses_the_t_quantile_not_the_normal_one():
    d = np.array([1.0, 2.0, 3.0])
    part = v.paired("t3", "s", d, np.zeros(3), floor=0.0, metric="m")
    half = (part.ci[1] - part.ci[0]) / 2
    assert half == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-6)


def test_bad_inputs_raise_or_go_inconclusive():
    with pytest.raises(ValueError, match="equal lengths"):
        v.paired("u", "s", [1, 2, 3], [1, 2], floor=0, metric="m")
    with pytest.raises(ValueError, match="at least 3 pairs"):
        v.paired("u", "s", [1, 2], [1, 2], floor=0, metric="m")
    with pytest.raises(ValueError, match="expect"):
        v.paired("u", "s", [1, 2, 3], [1, 2, 3], expect="bigger", floor=0, metric="m")
    with pytest.raises(ValueError, match="floor"):
        v.paired("u", "s", [1, 2, 3], [1, 2, 3], floor=-1, metric="m")
    part = v.paired("nan", "s", [1.0, np.nan, 3.0], [0.0, 0.0, 0.0], floor=0, metric="m")
    assert part.status == INCONCLUSIVE and "non-finite" in part.detail
    assert v.decide([part]) == INCONCLUSIVE and np.isnan(part.effect)


def test_deterministic_arms_are_exact():
    part = v.paired("det", "s", [2.0, 2.0, 2.0], [1.0, 1.0, 1.0], floor=0.5, metric="m")
    assert part.ci == (1.0, 1.0) and part.status == HOLDS and "no variation" in part.detail
    tie = v.paired("tie", "s", [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], floor=0.0, metric="m")
    assert tie.status == INCONCLUSIVE


def test_one_sample_against_scipy():
    x = np.array([0.8, 0.7, 0.9, 0.75, 0.85])
    part = v.one_sample("ratio<1", "s", x, reference=1.0, expect="less", floor=0.05,
                        metric="ratio")
    ref = stats.ttest_1samp(x, 1.0, alternative="less")
    assert part.p == pytest.approx(ref.pvalue, rel=1e-12)
    assert part.effect == pytest.approx(1.0 - x.mean())
    assert part.status == HOLDS


def test_bootstrap_is_seeded_and_sensible():
    a, b = _pair(2.0, n=10, seed=6)
    p1 = v.paired("b", "s", a, b, floor=0, metric="m", method="bootstrap", statistic=np.median,
                  seed=1)
    p2 = v.paired("b", "s", a, b, floor=0, metric="m", method="bootstrap", statistic=np.median,
                  seed=1)
    assert p1.ci == p2.ci and p1.p == p2.p
    assert p1.method == "paired bootstrap (median)"
    assert p1.effect == pytest.approx(np.median(a) - np.median(b))
    assert p1.ci[0] < p1.effect < p1.ci[1] and p1.status == HOLDS


def test_mcnemar_matches_the_binomial_on_discordant_pairs():
    rng = np.random.default_rng(7)
    ca = rng.random(400) < 0.9
    cb = rng.random(400) < 0.85
    part = v.mcnemar("acc", "s", ca, cb, floor=0.0, metric="accuracy", arms=("x", "y"))
    b, c = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
    assert part.p == pytest.approx(stats.binom.sf(b - 1, b + c, 0.5), rel=1e-10)
    assert part.effect == pytest.approx(ca.mean() - cb.mean())
    assert part.ci[0] < part.effect < part.ci[1]
    flipped = v.mcnemar("acc", "s", ca, cb, expect="less", floor=0.0, metric="accuracy")
    assert flipped.effect == pytest.approx(-part.effect)


def test_spearman_permutation_p_is_exact_for_small_n():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    y = np.array([1.5, 1.0, 3.5, 3.0, 6.0, 5.0])
    part = v.correlation("rho", "s", x, y, floor=0.2, metric="Spearman rho", n_perm=9999)
    rho = stats.spearmanr(x, y).statistic
    perms = [stats.spearmanr(x, np.array(p)).statistic for p in itertools.permutations(y)]
    exact = np.mean(np.array(perms) >= rho - 1e-12)
    assert part.effect == pytest.approx(rho)
    assert part.p == pytest.approx(exact, abs=1e-9)
    assert v.spearman(x, y) == pytest.approx(rho)


def test_verified_parts():
    ok = v.verified("eval exact", "s", True, detail="max diff 1e-9", value=1e-9)
    bad = v.verified("eval exact", "s", False, detail="max diff 0.1")
    assert ok.status == VERIFIED and bad.status == ERROR
    assert v.decide([ok]) == VERIFIED
    assert v.decide([bad]) == ERROR
    with pytest.raises(TypeError, match="bool"):
        v.verified("x", "s", 1, detail="")


# ---------------------------------------------------------------- the claim's decision

def test_holm_reference_values():
    # hand-computed: sorted 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04
    assert v.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert v.holm([0.5, np.nan]) == pytest.approx([1.0, 1.0])


def _part_with_p(name: str, p_two: float, n: int = 10) -> v.Part:
    """A paired-t part whose two-sided p is exactly ``p_two`` (effect > 0)."""
    t = stats.t.isf(p_two / 2, n - 1)
    z = np.linspace(-1, 1, n)
    z = (z - z.mean()) / z.std(ddof=1)
    d = 1.0 + z * (np.sqrt(n) / t)  # mean 1, sd √n/t → t statistic exactly t
    return v.paired(name, "s", d, np.zeros(n), floor=0.0, metric="m")


def test_holm_changes_a_decision():
    alone = _part_with_p("a", 0.03)
    assert v.decide([alone]) == HOLDS and alone.p_two == pytest.approx(0.03)
    a, b = _part_with_p("a", 0.03), _part_with_p("b", 0.04)
    assert a.status == HOLDS and b.status == HOLDS  # each at 5 % before Holm
    assert v.decide([a, b]) == INCONCLUSIVE
    assert a.p_holm == pytest.approx(0.06) and a.status == INCONCLUSIVE
    assert a.ci[0] < 0 < a.ci[1] and b.ci[0] < 0 < b.ci[1]  # intervals at the Holm level
    assert a.level == pytest.approx(0.975) and b.level == pytest.approx(0.975)


def test_partly_holds_and_refuted_claims():
    x, y = _pair(3.0, seed=8)
    z0, w0 = _pair(0.0, seed=9)
    parts = [_emp("strong", x, y), _emp("null", z0, w0), v.verified("id", "s", True, detail="")]
    assert v.decide(parts) == PARTLY
    assert [p.status for p in parts] == [HOLDS, INCONCLUSIVE, VERIFIED]
    assert v.decide([_emp("wrong", y, x), _emp("null", z0, w0)]) == REFUTED
    assert v.decide([_emp("wrong", y, x), _emp("right", x, y)]) == PARTLY
    assert v.decide([_emp("null", z0, w0)]) == INCONCLUSIVE
    with pytest.raises(ValueError, match="unique"):
        v.decide([_emp("same", x, y), _emp("same", x, y)])


class _Dummy(Experiment):
    id, title, claim, expected, source = "Z9", "dummy", "c", "e", "s"


def test_result_decides_from_parts_and_serialises():
    x, y = _pair(3.0, seed=10)
    ctx = Context(seeds=tuple(range(10)))
    res = _Dummy().result(ctx, summary="s", parts=[_emp("p", x, y)], numbers={"k": 1})
    assert isinstance(res, Result) and res.verdict == HOLDS
    js = res.to_json()
    assert js["parts"][0]["status"] == HOLDS and "_recipe" not in js["parts"][0]
    assert js["parts"][0]["ci"][0] > 0
    old = _Dummy().result(ctx, INCONCLUSIVE, "old call")  # the transition's positional form
    assert old.verdict == INCONCLUSIVE and old.parts == []
    with pytest.raises(ValueError, match="parts"):
        _Dummy().result(ctx, summary="nothing")


# ---------------------------------------------------------------- simulations

def _rate(effect_sd: float, n: int, trials: int, seed: int, parts: int = 1) -> float:
    """Share of simulated claims with at least one part that holds (per-seed difference
    ~ N(effect_sd, 1), floor 0)."""
    rng = np.random.default_rng(seed)
    hits = 0
    zeros = np.zeros(n)
    for _ in range(trials):
        ps = [v.paired(f"p{j}", "s", rng.normal(effect_sd, 1.0, n), zeros, floor=0.0,
                       metric="m") for j in range(parts)]
        v.decide(ps)
        hits += any(p.status == HOLDS for p in ps)
    return hits / trials


@pytest.mark.parametrize("n", [5, 10])
def test_null_simulation_false_holds_at_most_5_percent(n):
    rate = _rate(0.0, n, 1000, seed=100 + n)
    assert rate <= 0.05, rate
    assert rate > 0.005  # the rule is not vacuous: about 2.5 % (one tail of a 95 % interval)


def test_null_simulation_family_of_three_parts():
    assert _rate(0.0, 5, 400, seed=7, parts=3) <= 0.05


def _exact_power(effect_sd: float, n: int, alpha: float, quantile: float | None = None) -> float:
    """Exact probability that one part "holds" under the rule for per-seed differences
    ~ N(effect_sd, 1): the paired t statistic is noncentral t with n − 1 degrees of freedom and
    noncentrality effect_sd·√n, and a single part (Holm over one part is the raw p) holds when
    its two-sided level-``alpha`` interval excludes 0 on the claimed side, i.e. t > t_{1−α/2}."""
    crit = stats.t.ppf(1 - alpha / 2, n - 1) if quantile is None else quantile
    return float(stats.nct.sf(crit, n - 1, effect_sd * np.sqrt(n)))


def test_power_simulation_one_sd_at_ten_seeds():
    """Requirement: a true effect of 1 SD at 10 seeds gives "holds" >= 80 %.

    The requirement is checked on the rule's *exact* power (noncentral t, at the level
    decide() uses: ALPHA, floor 0, one part so Holm changes nothing): 0.8030. A simulated rate
    is only an estimate of it (1,000 trials: SE 0.013), so asserting "simulated rate >= 0.80"
    would fail for about 40 % of simulation seeds although the rule is exactly as specified (it
    passes at this seed, not at many others). The simulation is kept to show that the
    implemented rule *is* the one whose power was computed: its count must agree with the exact
    power by a two-sided binomial test (p > 0.001: a false alarm once in a thousand seeds). It
    can fail: a rule with the normal quantile 1.96 instead of t_9 (the old rule's error) has
    power 0.87, which the check rejects.
    """
    trials = 1000
    rate = _rate(1.0, 10, trials, seed=2024)
    exact = _exact_power(1.0, 10, v.ALPHA)
    assert abs(exact - 0.8030) < 5e-4, exact  # t_{0.975,9} = 2.262, ncp √10
    assert exact >= 0.80  # the requirement, on the exact value
    hits = round(rate * trials)
    assert stats.binomtest(hits, trials, exact).pvalue > 1e-3, (rate, exact)
    # the binomial check has the power to tell a wrong rule apart
    wrong = _exact_power(1.0, 10, v.ALPHA, quantile=stats.norm.ppf(1 - v.ALPHA / 2))
    assert stats.binomtest(round(wrong * trials), trials, exact).pvalue < 1e-3, wrong
