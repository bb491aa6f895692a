"""The lab's verdict rule: paired effects with intervals, a practical floor, and Holm.

Every empirical part of a claim compares arms that share seeds (same init, data order and
generator), so the evidence is the per-seed difference ``d_i = a_i − b_i``, oriented so that
``d > 0`` is the claimed direction. For ``n`` seeds, with mean ``d̄`` and sample standard
deviation ``s`` (``ddof = 1``), the paired t interval is

    d̄ ± t_{1−α/2, n−1} · s / √n

(``scipy.stats.ttest_rel``; the t quantile with ``n − 1`` degrees of freedom, 4.30 at n = 3,
2.78 at n = 5, 2.26 at n = 10, never the normal 1.96). A part

* **holds** when its interval excludes 0 on the claimed side *and* ``d̄ ≥ floor`` (the
  smallest effect that would matter, stated per part in the effect's units);
* is **refuted** when its interval excludes 0 on the other side;
* is **inconclusive** otherwise (including "significant but below the floor").

A claim with ``m`` empirical parts is a family: :func:`decide` applies Holm's step-down
correction to the parts' two-sided p-values (the k-th smallest is compared with
``α / (m − k + 1)``), widens each interval to its Holm level, and combines the parts:
all hold → *holds*; some hold → *partly holds*; none hold and one is refuted → *refuted*;
otherwise *inconclusive*. An identity or implementation property (checked to rounding, not
estimated from noisy seeds) is a *verified* part: shown, never counted as evidence.

Other estimators share the same shape: a paired bootstrap of any statistic
(``scipy.stats.bootstrap(paired=True)``, percentile interval), McNemar's exact test on
per-example correctness (``scipy.stats.binomtest`` on the discordant pairs) and a Spearman
correlation with a permutation p-value (``scipy.stats.permutation_test``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.lab.experiment import (
    ERROR,
    HOLDS,
    INCONCLUSIVE,
    PARTLY,
    REFUTED,
    VERIFIED,
)

ALPHA = 0.05  # family-wise error rate of one claim's empirical parts
MIN_SEEDS = 3
_EXPECT = ("greater", "less")


@dataclasses.dataclass
class Part:
    """One registered part of a claim: an oriented effect with its interval, or a verified
    property. ``effect > 0`` always means the claimed direction."""

    name: str
    statement: str
    kind: str  # "empirical" or "verified"
    status: str
    effect: float
    ci: tuple[float, float]
    floor: float
    n: int
    p: float  # one-sided, in the claimed direction (raw)
    p_holm: float  # Holm-adjusted two-sided p across the claim's empirical parts
    method: str
    metric: str
    arms: tuple[str, ...]
    values: dict[str, list[float]]
    detail: str = ""
    level: float = 0.95  # confidence level of ``ci`` (raised to the Holm level by decide)
    # what decide() needs to redo the interval at a Holm level (dropped before pickling)
    _recipe: dict[str, Any] | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("empirical", "verified"):
            raise ValueError(f"part {self.name!r}: kind must be 'empirical' or 'verified', "
                             f"got {self.kind!r}")
        allowed = ((HOLDS, REFUTED, INCONCLUSIVE) if self.kind == "empirical"
                   else (VERIFIED, ERROR))
        if self.status not in allowed:
            raise ValueError(f"part {self.name!r}: status of a {self.kind} part must be one of "
                             f"{allowed}, got {self.status!r}")
        if not self.floor >= 0:
            raise ValueError(f"part {self.name!r}: floor must be >= 0, got {self.floor!r}")

    @property
    def p_two(self) -> float:
        """Two-sided p-value (the one Holm orders)."""
        if not np.isfinite(self.p):
            return float("nan")
        return float(min(1.0, 2.0 * min(self.p, 1.0 - self.p)))

    def to_json(self) -> dict[str, Any]:
        """Plain fields for verdicts.json (no recipe)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if not f.name.startswith("_")}
        out["ci"] = list(self.ci)
        out["arms"] = list(self.arms)
        return out


# ---------------------------------------------------------------- small helpers (used widely)

def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof = 1``; 0 for a single value)."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt(values: Iterable[float], digits: int = 3) -> str:
    """'mean ± sample std' for the report."""
    m, s = mean_std(values)
    return f"{m:.{digits}g} ± {s:.2g}"


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (ties get average ranks)."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Two-sided t interval of a mean: ``m ± t_{(1+level)/2, n−1} · s/√n`` (for bands)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    m, s = mean_std(v)
    if v.size < 2:
        return m, m
    h = float(stats.t.ppf((1 + level) / 2, v.size - 1)) * s / math.sqrt(v.size)
    return m - h, m + h


def table_row(name: str, **columns: Any) -> dict[str, Any]:
    """One report-table row: 'mean ± std' for sequences, the value otherwise."""
    row: dict[str, Any] = {"arm": name}
    for k, v in columns.items():
        row[k] = fmt(v) if isinstance(v, (list, tuple, np.ndarray)) else v
    return row


# ---------------------------------------------------------------- constructors

def _check_expect(expect: str) -> float:
    if expect not in _EXPECT:
        raise ValueError(f"expect must be 'greater' or 'less', got {expect!r}")
    return 1.0 if expect == "greater" else -1.0


def _check_floor(floor: float) -> float:
    floor = float(floor)
    if not floor >= 0:
        raise ValueError(f"floor must be a number >= 0 in the effect's units, got {floor!r}")
    return floor


def _vector(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _paired_inputs(name: str, a: Any, b: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Two equal-length float vectors with at least MIN_SEEDS entries (else ValueError)."""
    av, bv = _vector(a), _vector(b)
    if av.size != bv.size:
        raise ValueError(f"part {name!r}: {what} must be paired (equal lengths), got "
                         f"{av.size} and {bv.size} values")
    if av.size < MIN_SEEDS:
        raise ValueError(f"part {name!r}: needs at least {MIN_SEEDS} pairs, got {av.size}")
    return av, bv


def _nan_part(name: str, statement: str, *, floor: float, n: int, method: str, metric: str,
              arms: tuple[str, ...], values: dict[str, list[float]], why: str) -> Part:
    return Part(name=name, statement=statement, kind="empirical", status=INCONCLUSIVE,
                effect=float("nan"), ci=(float("nan"), float("nan")), floor=floor, n=n,
                p=float("nan"), p_holm=float("nan"), method=method, metric=metric, arms=arms,
                values=values, detail=why)


def _status(effect: float, ci: tuple[float, float], floor: float) -> str:
    """The part rule on an (already oriented) interval."""
    lo, hi = ci
    if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(effect)):
        return INCONCLUSIVE
    if lo > 0:
        return HOLDS if effect >= floor else INCONCLUSIVE
    if hi < 0:
        return REFUTED
    return INCONCLUSIVE


def _finish(part: Part) -> Part:
    """Status at the unadjusted level, plus the 'below the floor' note."""
    part.status = _status(part.effect, part.ci, part.floor)
    _note_floor(part)
    return part


def _note_floor(part: Part) -> None:
    lo = part.ci[0]
    if np.isfinite(lo) and lo > 0 and part.effect < part.floor:
        note = f"effect {part.effect:.3g} below the practical floor {part.floor:.3g}"
        if note not in part.detail:
            part.detail = f"{part.detail}; {note}" if part.detail else note


def _t_ci(d: np.ndarray, level: float) -> tuple[float, float]:
    from scipy import stats

    m = float(d.mean())
    s = float(d.std(ddof=1))
    if s == 0.0:
        return m, m
    h = float(stats.t.ppf((1 + level) / 2, d.size - 1)) * s / math.sqrt(d.size)
    return m - h, m + h


def _t_p(d: np.ndarray) -> float:
    """One-sided p of mean(d) > 0 (``ttest_1samp`` on the oriented differences, which equals
    ``ttest_rel`` on the arms); exact 0 / 1 / 0.5 when the seeds do not vary at all."""
    from scipy import stats

    if float(d.std(ddof=1)) == 0.0:
        m = float(d.mean())
        return 0.0 if m > 0 else 1.0 if m < 0 else 0.5
    return float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)


def _boot(d_arms: tuple[np.ndarray, np.ndarray], statistic: Callable, sign: float,
          level: float, n_resamples: int, seed: int) -> tuple[tuple[float, float], np.ndarray]:
    from scipy import stats

    a, b = d_arms

    def oriented(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return sign * (np.asarray(statistic(x, axis=axis)) - np.asarray(statistic(y, axis=axis)))

    res = stats.bootstrap((a, b), oriented, paired=True, vectorized=True, method="percentile",
                          confidence_level=level, n_resamples=n_resamples,
                          random_state=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return (float(lo), float(hi)), np.asarray(res.bootstrap_distribution)


def paired(name: str, statement: str, a: Sequence[float], b: Sequence[float], *,
           expect: str = "greater", floor: float, metric: str,
           arms: tuple[str, ...] = ("A", "B"), method: str = "t",
           statistic: Callable = np.mean, n_resamples: int = 9999, seed: int = 0) -> Part:
    """"Arm A is greater (``expect="greater"``) / less than arm B", paired by seed.

    ``a[i]`` and ``b[i]`` come from the same seed. ``method="t"``: effect = mean of the
    oriented differences, ``scipy.stats.ttest_rel`` p-value and t interval;
    ``method="bootstrap"``: effect = ``statistic(a) − statistic(b)`` oriented, with a paired
    percentile bootstrap (``scipy.stats.bootstrap(paired=True)``) for the interval and the
    p-value (the share of resampled effects on the wrong side of 0).
    """
    from scipy import stats

    sign = _check_expect(expect)
    floor = _check_floor(floor)
    av, bv = _paired_inputs(name, a, b, "arms (one value per seed)")
    if method not in ("t", "bootstrap"):
        raise ValueError(f"part {name!r}: method must be 't' or 'bootstrap', got {method!r}")
    label = ("paired t" if method == "t"
             else f"paired bootstrap ({getattr(statistic, '__name__', 'statistic')})")
    values = {arms[0] if arms else "A": av.tolist(),
              arms[1] if len(arms) > 1 else "B": bv.tolist()}
    if not (np.all(np.isfinite(av)) and np.all(np.isfinite(bv))):
        bad = int(np.sum(~np.isfinite(av)) + np.sum(~np.isfinite(bv)))
        return _nan_part(name, statement, floor=floor, n=int(av.size), method=label,
                         metric=metric, arms=tuple(arms), values=values,
                         why=f"{bad} non-finite per-seed value(s): no estimate")
    if method == "t":
        d = sign * (av - bv)
        effect, ci = float(d.mean()), _t_ci(d, 0.95)
        p = (_t_p(d) if float(d.std(ddof=1)) == 0.0 else float(
            stats.ttest_rel(sign * av, sign * bv, alternative="greater").pvalue))
        recipe: dict[str, Any] = {"kind": "t", "d": d}
    else:
        effect = float(sign * (statistic(av) - statistic(bv)))
        ci, dist = _boot((av, bv), statistic, sign, 0.95, n_resamples, seed)
        p = float((np.sum(dist <= 0) + 1) / (dist.size + 1))
        recipe = {"kind": "bootstrap", "arms": (av, bv), "statistic": statistic, "sign": sign,
                  "n_resamples": n_resamples, "seed": seed}
    part = Part(name=name, statement=statement, kind="empirical", status=INCONCLUSIVE,
                effect=effect, ci=ci, floor=floor, n=int(av.size), p=p, p_holm=float("nan"),
                method=label,
                metric=metric, arms=tuple(arms), values=values, _recipe=recipe)
    if method == "t" and float(np.std(d, ddof=1)) == 0.0:
        part.detail = "no variation across seeds: the interval is the point"
    return _finish(part)


def one_sample(name: str, statement: str, values: Sequence[float], *, reference: float,
               expect: str = "greater", floor: float, metric: str,
               arms: tuple[str, ...] = ("value",)) -> Part:
    """"The per-seed value is greater / less than ``reference``": a one-sample t on
    ``values − reference`` (oriented), e.g. "gradient-norm ratio < 1"."""
    sign = _check_expect(expect)
    floor = _check_floor(floor)
    v = _vector(values)
    if v.size < MIN_SEEDS:
        raise ValueError(f"part {name!r}: needs at least {MIN_SEEDS} seeds, got {v.size}")
    vals = {arms[0] if arms else "value": v.tolist()}
    if not (np.all(np.isfinite(v)) and np.isfinite(reference)):
        return _nan_part(name, statement, floor=floor, n=int(v.size), method="one-sample t",
                         metric=metric, arms=tuple(arms), values=vals,
                         why="non-finite per-seed value(s) or reference: no estimate")
    d = sign * (v - float(reference))
    part = Part(name=name, statement=statement, kind="empirical", status=INCONCLUSIVE,
                effect=float(d.mean()), ci=_t_ci(d, 0.95), floor=floor, n=int(v.size),
                p=_t_p(d), p_holm=float("nan"), method="one-sample t", metric=metric,
                arms=tuple(arms), values=vals, detail=f"reference {reference:g}",
                _recipe={"kind": "t", "d": d})
    if float(np.std(d, ddof=1)) == 0.0:
        part.detail += "; no variation across seeds: the interval is the point"
    return _finish(part)


def _mcnemar_ci(b: int, c: int, total: int, sign_b_first: bool,
                level: float) -> tuple[float, float]:
    """Interval of the oriented accuracy difference ``(b − c)/N`` from the Clopper–Pearson
    interval of ``q = b/(b + c)``, conditional on the discordant count: ``(b+c)/N · (2q − 1)``."""
    from scipy import stats

    k = b + c
    if k == 0:
        return 0.0, 0.0
    ci = stats.binomtest(b, k, 0.5).proportion_ci(confidence_level=level, method="exact")
    scale = k / total
    lo, hi = scale * (2 * ci.low - 1), scale * (2 * ci.high - 1)
    return (float(lo), float(hi))


def mcnemar(name: str, statement: str, correct_a: Sequence[bool], correct_b: Sequence[bool], *,
            expect: str = "greater", floor: float, metric: str,
            arms: tuple[str, ...] = ("A", "B")) -> Part:
    """"Arm A is more accurate than arm B" on the same examples (pooled over seeds).

    With ``b`` = examples A gets right and B wrong, ``c`` = the reverse, McNemar's exact test
    is the binomial test of ``b`` out of ``b + c`` at 1/2 (``scipy.stats.binomtest``); the
    effect is the accuracy difference ``(b − c)/N``, oriented.
    """
    from scipy import stats

    sign = _check_expect(expect)
    floor = _check_floor(floor)
    ca, cb = _paired_inputs(name, correct_a, correct_b, "per-example correctness")
    ca, cb = ca.astype(bool), cb.astype(bool)
    b = int(np.sum(ca & ~cb))
    c = int(np.sum(~ca & cb))
    if sign < 0:
        b, c = c, b
    k, total = b + c, int(ca.size)
    p = float(stats.binomtest(b, k, 0.5, alternative="greater").pvalue) if k else 0.5
    part = Part(name=name, statement=statement, kind="empirical", status=INCONCLUSIVE,
                effect=(b - c) / total, ci=_mcnemar_ci(b, c, total, True, 0.95), floor=floor,
                n=total, p=p, p_holm=float("nan"), method="McNemar exact", metric=metric,
                arms=tuple(arms),
                values={arms[0] if arms else "A": [float(ca.mean())],
                        arms[1] if len(arms) > 1 else "B": [float(cb.mean())]},
                detail=f"discordant pairs: {b} for the claim, {c} against",
                _recipe={"kind": "mcnemar", "b": b, "c": c, "total": total})
    return _finish(part)


def _spearman_ci(rho: float, n: int, level: float) -> tuple[float, float]:
    """Fisher-z interval of Spearman's rho with the Bonett–Wright standard error
    ``sqrt((1 + ρ²/2)/(n − 3))``."""
    from scipy import stats

    if n <= 3 or not np.isfinite(rho):
        return float("nan"), float("nan")
    r = float(np.clip(rho, -0.999999, 0.999999))
    se = math.sqrt((1 + r * r / 2) / (n - 3))
    z = float(stats.norm.ppf((1 + level) / 2))
    return float(np.tanh(np.arctanh(r) - z * se)), float(np.tanh(np.arctanh(r) + z * se))


def correlation(name: str, statement: str, x: Sequence[float], y: Sequence[float], *,
                expect: str = "greater", floor: float, metric: str, n_perm: int = 9999,
                seed: int = 0, arms: tuple[str, ...] = ("x", "y")) -> Part:
    """"x and y are positively (``expect="greater"``) / negatively correlated": Spearman's
    rho (oriented) with a permutation p-value (``scipy.stats.permutation_test``, pairings)
    and a Fisher-z interval."""
    from scipy import stats

    sign = _check_expect(expect)
    floor = _check_floor(floor)
    xv, yv = _paired_inputs(name, x, y, "x and y")
    vals = {arms[0]: xv.tolist(), arms[1] if len(arms) > 1 else "y": yv.tolist()}
    if not (np.all(np.isfinite(xv)) and np.all(np.isfinite(yv))):
        return _nan_part(name, statement, floor=floor, n=int(xv.size),
                         method="permutation (Spearman)", metric=metric, arms=tuple(arms),
                         values=vals, why="non-finite value(s): no estimate")
    if np.ptp(xv) == 0 or np.ptp(yv) == 0:
        return _nan_part(name, statement, floor=floor, n=int(xv.size),
                         method="permutation (Spearman)", metric=metric, arms=tuple(arms),
                         values=vals, why="a constant variable: the correlation is undefined")

    def rho(u: np.ndarray) -> float:
        return sign * float(stats.spearmanr(u, yv).statistic)

    res = stats.permutation_test((xv,), rho, permutation_type="pairings", vectorized=False,
                                 n_resamples=n_perm, alternative="greater",
                                 random_state=np.random.default_rng(seed))
    effect = rho(xv)
    part = Part(name=name, statement=statement, kind="empirical", status=INCONCLUSIVE,
                effect=effect, ci=_spearman_ci(effect, int(xv.size), 0.95), floor=floor,
                n=int(xv.size), p=float(res.pvalue), p_holm=float("nan"),
                method="permutation (Spearman)", metric=metric, arms=tuple(arms), values=vals,
                _recipe={"kind": "spearman", "rho": effect, "n": int(xv.size)})
    # the decision uses the exact-ish permutation p; the Fisher-z interval is its companion
    part.status = _p_status(part, 0.05)
    _note_floor(part)
    return part


def verified(name: str, statement: str, ok: bool, *, detail: str, value: Any = None) -> Part:
    """An identity or implementation property (checked to rounding): "verified", or "error"
    when ``ok`` is false. Shown in the report, never counted as evidence."""
    if not isinstance(ok, (bool, np.bool_)):
        raise TypeError(f"part {name!r}: ok must be a bool, got {type(ok).__name__}")
    vals = {} if value is None else {"value": [float(v) for v in np.ravel(value)]}
    return Part(name=name, statement=statement, kind="verified",
                status=VERIFIED if ok else ERROR, effect=float("nan"),
                ci=(float("nan"), float("nan")), floor=0.0, n=0, p=float("nan"),
                p_holm=float("nan"), method="identity", metric="", arms=(), values=vals,
                detail=detail)


# ---------------------------------------------------------------- the claim's decision

def _p_status(part: Part, alpha: float) -> str:
    """Status from a two-sided p, and the interval must agree: where the interval is not the
    test's own inversion (Spearman's Fisher-z beside a permutation p, McNemar's score interval
    beside the exact binomial p) the two can disagree near the threshold, and a part never
    reads "holds" beside an interval that contains 0; such a part is inconclusive."""
    p2 = part.p_two if part.p_holm != part.p_holm else part.p_holm
    if not np.isfinite(p2) or p2 >= alpha:
        return INCONCLUSIVE
    lo, hi = part.ci
    if part.effect > 0 and not lo <= 0:  # (a NaN interval bound does not block the test)
        return HOLDS if part.effect >= part.floor else INCONCLUSIVE
    if part.effect < 0 and not hi >= 0:
        return REFUTED
    return INCONCLUSIVE


def _interval(part: Part, level: float) -> tuple[float, float]:
    """The part's interval redone at ``level`` (Holm widens it)."""
    r = part._recipe
    if r is None:
        return part.ci
    if r["kind"] == "t":
        return _t_ci(r["d"], level)
    if r["kind"] == "bootstrap":
        ci, _ = _boot(r["arms"], r["statistic"], r["sign"], level, r["n_resamples"], r["seed"])
        return ci
    if r["kind"] == "mcnemar":
        return _mcnemar_ci(r["b"], r["c"], r["total"], True, level)
    if r["kind"] == "spearman":
        return _spearman_ci(r["rho"], r["n"], level)
    raise ValueError(f"unknown interval recipe {r['kind']!r}")


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values: sort ascending, ``p̃_(k) = max_{j ≤ k} min(1, (m − j + 1) p_(j))``
    (NaN counts as 1)."""
    p = np.asarray(p_values, dtype=np.float64)
    p = np.where(np.isfinite(p), p, 1.0)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        adj[i] = running
    return adj


def decide(parts: Sequence[Part], alpha: float = ALPHA) -> str:
    """Holm across the claim's empirical parts (in place: ``p_holm``, ``ci`` at the Holm level,
    ``status``), then the claim's status (see the module docstring)."""
    if not parts:
        raise ValueError("decide: a claim needs at least one part")
    names = [p.name for p in parts]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"decide: part names must be unique within a claim, repeated: {dup}")
    emp = [p for p in parts if p.kind == "empirical"]
    if emp:
        p2 = [p.p_two for p in emp]
        adj = holm(p2)
        m = len(emp)
        ranks = np.argsort(np.where(np.isfinite(p2), p2, 1.0), kind="stable")
        stopped: float | None = None
        for k, i in enumerate(ranks):
            part = emp[i]
            part.p_holm = float(adj[i])
            # Holm's k-th level; once a part is not rejected the step-down stops, and every
            # later part keeps that level, so its interval cannot exclude 0 (t test) while its
            # status says otherwise
            part.level = stopped if stopped is not None else 1 - alpha / (m - k)
            if not np.isfinite(part.effect):
                part.status = INCONCLUSIVE
                stopped = part.level if stopped is None else stopped
                continue
            part.ci = _interval(part, part.level)
            # the decision is the adjusted p (monotone in rank); for the t test it is the same
            # as "the Holm-level interval excludes 0"
            part.status = _p_status(part, alpha)
            _note_floor(part)
            if stopped is None and not part.p_holm < alpha:
                stopped = part.level
        held = sum(p.status == HOLDS for p in emp)
        if held == len(emp):
            return HOLDS
        if held:
            return PARTLY
        return REFUTED if any(p.status == REFUTED for p in emp) else INCONCLUSIVE
    return ERROR if any(p.status == ERROR for p in parts) else VERIFIED


def strip(parts: Iterable[Part]) -> list[Part]:
    """The parts without their interval recipes (picklable, JSON-ready)."""
    out = []
    for p in parts:
        p._recipe = None
        out.append(p)
    return out
