"""Verdict rules: a direction with a margin taken from the seed spread.

The lab never compares against a paper's number. For "arm A is larger than arm B" it computes,
over seeds, the difference of means d = mean(A) − mean(B) and its standard error
s = sqrt(var(A)/n_A + var(B)/n_B), and the margin m = max(k·s, min_effect):

* d > m  → **holds** (the expected direction, clear of the noise between seeds);
* d < −m → **refuted** (the opposite direction, just as clearly);
* else   → **inconclusive**.

``k = 2`` by default (about a 95 % band for the difference). ``min_effect`` guards against
declaring a direction from a difference too small to matter when seeds agree exactly (a
deterministic experiment has s = 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.lab.experiment import HOLDS, INCONCLUSIVE, REFUTED


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt(values: Iterable[float], digits: int = 3) -> str:
    """'mean ± std' for the report."""
    m, s = mean_std(values)
    return f"{m:.{digits}g} ± {s:.2g}"


def compare(a: Sequence[float], b: Sequence[float], expect: str = "greater", k: float = 2.0,
            min_effect: float = 0.0) -> tuple[str, dict[str, float]]:
    """Verdict for "A > B" (``expect="greater"``) or "A < B" (``expect="less"``) over seeds.

    Returns the verdict and the numbers behind it (diff, standard error, margin).
    """
    if expect not in ("greater", "less"):
        raise ValueError(f"expect must be 'greater' or 'less', got {expect!r}")
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    if a_arr.size == 0 or b_arr.size == 0:
        raise ValueError("compare: both arms need at least one value")
    d = float(a_arr.mean() - b_arr.mean())
    if expect == "less":
        d = -d
    var_a = a_arr.var(ddof=1) / a_arr.size if a_arr.size > 1 else 0.0
    var_b = b_arr.var(ddof=1) / b_arr.size if b_arr.size > 1 else 0.0
    se = float(np.sqrt(var_a + var_b))
    margin = max(k * se, float(min_effect))
    if not np.isfinite(d):
        verdict = INCONCLUSIVE
    elif d > margin:
        verdict = HOLDS
    elif d < -margin:
        verdict = REFUTED
    else:
        verdict = INCONCLUSIVE
    return verdict, {"diff": d, "stderr": se, "margin": margin}


def below(values: Sequence[float], threshold: float, k: float = 2.0) -> tuple[str, dict]:
    """Verdict for "the quantity is below ``threshold``" over seeds (same margin rule)."""
    return compare([threshold], values, "greater", k=k)


def combine(verdicts: Iterable[str]) -> str:
    """All parts hold → holds; any part refuted → refuted; otherwise inconclusive."""
    vs = list(verdicts)
    if vs and all(v == HOLDS for v in vs):
        return HOLDS
    if any(v == REFUTED for v in vs):
        return REFUTED
    return INCONCLUSIVE


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (ties get average ranks)."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def table_row(name: str, **columns: Any) -> dict[str, Any]:
    """One report-table row: 'mean ± std' for sequences, the value otherwise."""
    row: dict[str, Any] = {"arm": name}
    for k, v in columns.items():
        row[k] = fmt(v) if isinstance(v, (list, tuple, np.ndarray)) else v
    return row
