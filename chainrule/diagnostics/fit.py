"""Fit verdict from training and validation curves: underfitting, overfitting, good fit, or
still improving, with the note's remedies.

Curves are losses or errors (lower is better; pass ``1 - accuracy`` for accuracies), one value
per evaluation, train and validation at the same points. All tolerances are fractions of a
scale s: the ``baseline`` loss of a trivial predictor when given (ln C for C-class
cross-entropy, the target variance for squared error), otherwise the larger of the first train
and validation values.

The rule, applied in this order:

1. **overfitting** if the validation curve rose after its best point by more than
   ``rise_tol``·s (val[-1] − min val), or the final generalisation gap val[-1] − train[-1]
   exceeds ``gap_tol``·s. Early stopping at the best validation point is part of the remedy.
2. **still improving** if, over the last ``window`` points, the mean train or validation value
   fell by more than ``improve_tol``·s compared with the ``window`` points before.
3. **underfitting** if the final train value is still above ``underfit_level``·s: the model does
   not even fit its training data.
4. **good fit** otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule.diagnostics.finding import REMEDIES, Finding

__all__ = ["fit_verdict", "curve_summary"]


def _recent_gain(curve: np.ndarray, window: int) -> float:
    """Mean of the ``window`` points before the last ``window`` minus the mean of the last ones
    (positive: still falling). Short curves compare their first and second halves."""
    n = curve.size
    w = min(window, n // 2)
    if w < 1:
        return 0.0
    return float(curve[n - 2 * w:n - w].mean() - curve[n - w:].mean())


def curve_summary(train: Sequence[float], val: Sequence[float], *,
                  baseline: float | None = None, window: int = 3) -> dict[str, float]:
    """The numbers the rule uses (all but ``best`` and ``scale`` divided by the scale)."""
    tr = np.asarray(train, dtype=np.float64)
    va = np.asarray(val, dtype=np.float64)
    if tr.ndim != 1 or va.ndim != 1 or tr.size != va.size:
        raise ValueError(f"fit_verdict: train and validation curves must be 1-D of the same "
                         f"length, got shapes {tr.shape} and {va.shape}")
    if tr.size < 2:
        raise ValueError(f"fit_verdict: need at least 2 points per curve, got {tr.size}")
    if not (np.isfinite(tr).all() and np.isfinite(va).all()):
        raise ValueError("fit_verdict: the curves contain nan or inf (a diverged run)")
    scale = float(baseline) if baseline is not None else float(max(tr[0], va[0]))
    if not scale > 0:
        scale = float(max(np.abs(tr).max(), np.abs(va).max(), 1e-12))
    best = int(np.argmin(va))
    return {
        "scale": scale, "best": best,
        "rise": float(va[-1] - va[best]) / scale,
        "gap": float(va[-1] - tr[-1]) / scale,
        "train_gain": _recent_gain(tr, window) / scale,
        "val_gain": _recent_gain(va, window) / scale,
        "train_level": float(tr[-1]) / scale,
        "final_train": float(tr[-1]), "final_val": float(va[-1]), "best_val": float(va[best]),
    }


def fit_verdict(
    train: Sequence[float],
    val: Sequence[float],
    *,
    baseline: float | None = None,
    gap_tol: float = 0.15,
    rise_tol: float = 0.05,
    improve_tol: float = 0.01,
    underfit_level: float = 0.5,
    window: int = 3,
) -> Finding:
    """The fit verdict of a run from its train and validation curves (rule in the module doc).

    Example::

        f = fit_verdict([2.0, 1.0, 0.3, 0.1, 0.02], [2.0, 1.2, 0.9, 1.1, 1.4])
        f.verdict    # 'overfitting'
        f.remedy     # more data, L1/L2, dropout, smaller network, early stop
    """
    s = curve_summary(train, val, baseline=baseline, window=window)
    values = {**s, "gap_tol": gap_tol, "rise_tol": rise_tol, "improve_tol": improve_tol,
              "underfit_level": underfit_level}
    nums = (f"train {s['final_train']:.4g}, validation {s['final_val']:.4g} "
            f"(best {s['best_val']:.4g} at point {s['best']}), gap {s['gap']:.3g}·s")
    if s["rise"] > rise_tol or s["gap"] > gap_tol:
        why = ("validation rose after its best point" if s["rise"] > rise_tol
               else "the train/validation gap is large")
        remedy = REMEDIES["overfitting"] + f" (best validation at point {s['best']})"
        return Finding("fit", "overfitting", False, f"{why}: {nums}", remedy=remedy,
                       values=values)
    if s["train_gain"] > improve_tol or s["val_gain"] > improve_tol:
        return Finding("fit", "still improving", False,
                       f"losses still falling ({s['train_gain']:.3g}·s train, "
                       f"{s['val_gain']:.3g}·s validation over the last {window} points): "
                       f"{nums}", values=values)
    if s["train_level"] > underfit_level:
        return Finding("fit", "underfitting", False,
                       f"train loss plateaued at {s['train_level']:.3g}·s (threshold "
                       f"{underfit_level:g}·s): {nums}", values=values)
    return Finding("fit", "good fit", True, nums, values=values)
