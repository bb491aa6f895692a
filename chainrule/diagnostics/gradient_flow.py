"""Gradient flow: per-layer gradient norms, the first/last ratio, update/weight ratios.

Glorot & Bengio (2010) diagnose vanishing gradients by the norms of ∂L/∂W per layer: with
saturating activations they shrink geometrically from the output toward the input. The checks
here work on plain dicts ``{layer name: norm}`` ordered from input to output, so a monitor, a
trainer callback or an experiment can feed them; helpers read them off a model's ``.grad``.

Rules (thresholds are keyword arguments):

* ratio r = ‖∂L/∂W_first‖ / ‖∂L/∂W_last‖ (first = nearest the input);
* **exploding** if any norm is non-finite, the largest norm exceeds ``max_norm``, or
  r > ``exploding_ratio``;
* **vanishing** if r < ``vanishing_ratio``;
* **healthy** otherwise.
* update/weight ratio u = ‖W_after − W_before‖ / ‖W_before‖ per layer (one optimizer step): a
  layer with u < ``low`` makes no progress, u > ``high`` changes too fast (rule of thumb: ~1e-3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.diagnostics.finding import Finding

__all__ = [
    "l2norm", "weight_grad_norms", "snapshot_weights", "update_ratios", "gradient_ratio",
    "per_layer_factor", "gradient_flow_verdict", "update_ratio_verdict", "check_gradient_flow",
]


def l2norm(a: Any) -> float:
    """‖a‖₂ of all entries, in the array's own dtype (no float64 copy of a large gradient)."""
    r = np.asarray(a).ravel()
    return float(np.sqrt(np.dot(r, r))) if r.size else 0.0


def _weights(model: Any) -> list[tuple[str, Any]]:
    """(layer name, weight) for every parameter with ≥ 2 dims (biases and norms' scales skipped),
    in definition order; a parameter 'fc.weight' belongs to layer 'fc'."""
    out: list[tuple[str, Any]] = []
    used: set[str] = set()
    for name, p in model.named_parameters():
        if p.ndim < 2:
            continue
        owner, _, leaf = name.rpartition(".")
        layer = owner if leaf == "weight" and owner and owner not in used else name
        used.add(layer)
        out.append((layer, p))
    return out


def weight_grad_norms(model: Any) -> dict[str, float]:
    """‖∂L/∂W‖₂ (Frobenius) per layer from the weights' ``.grad``, ordered input→output by
    definition order; layers without a gradient are left out."""
    norms: dict[str, float] = {}
    for layer, p in _weights(model):
        if p.grad is not None:
            norms[layer] = l2norm(p.grad._array)
    return norms


def snapshot_weights(model: Any) -> dict[str, np.ndarray]:
    """Copies of the weights (≥ 2-D parameters) by layer name, for :func:`update_ratios`."""
    return {layer: p._array.copy() for layer, p in _weights(model)}


def update_ratios(before: Mapping[str, np.ndarray], after: Any) -> dict[str, float]:
    """u = ‖W_after − W_before‖ / ‖W_before‖ per layer.

    ``after`` is a model (its current weights) or a second snapshot.
    """
    now = after if isinstance(after, Mapping) else dict(_weights(after))
    out: dict[str, float] = {}
    for layer, w0 in before.items():
        if layer not in now:
            continue
        w1 = now[layer]
        w1 = w1._array if hasattr(w1, "grad") else w1
        ref = l2norm(w0)
        diff = l2norm(w1 - w0)
        out[layer] = diff / ref if ref > 0 else (0.0 if diff == 0 else math.inf)
    return out


def gradient_ratio(norms: Mapping[str, float] | Sequence[float]) -> float:
    """‖g_first‖ / ‖g_last‖ for norms ordered from input to output (nan if undefined)."""
    vals = list(norms.values()) if isinstance(norms, Mapping) else list(norms)
    if len(vals) < 2:
        return math.nan
    first, last = float(vals[0]), float(vals[-1])
    if last == 0:
        return math.inf if first > 0 else math.nan
    return first / last


def per_layer_factor(norms: Mapping[str, float] | Sequence[float]) -> float:
    """The geometric factor ρ with ‖g_l‖ ≈ c ρ^(L−l): exp(−slope) of a least-squares line
    through log‖g_l‖ against the layer index (ρ < 1: gradients shrink toward the input)."""
    vals = np.asarray(list(norms.values()) if isinstance(norms, Mapping) else list(norms),
                      dtype=np.float64)
    ok = np.isfinite(vals) & (vals > 0)
    if ok.sum() < 2:
        return math.nan
    idx = np.arange(vals.size)[ok]
    slope = np.polyfit(idx, np.log(vals[ok]), 1)[0]
    return float(np.exp(-slope))


def gradient_flow_verdict(
    norms: Mapping[str, float],
    *,
    vanishing_ratio: float = 1e-2,
    exploding_ratio: float = 1e2,
    max_norm: float = 1e6,
) -> Finding:
    """Vanishing / exploding / healthy from per-layer gradient norms ordered input→output.

    Example::

        gradient_flow_verdict({"fc1": 1e-6, "fc2": 1e-3, "fc3": 1.0}).verdict   # 'vanishing'
    """
    vals = {k: float(v) for k, v in norms.items()}
    ratio = gradient_ratio(vals)
    factor = per_layer_factor(vals)
    values = {"norms": vals, "ratio_first_last": ratio, "per_layer_factor": factor,
              "vanishing_ratio": vanishing_ratio, "exploding_ratio": exploding_ratio}
    if not vals:
        return Finding("gradient_flow", "no gradients", True,
                       "no weight gradients were recorded", values=values)
    layers = list(vals)
    biggest = max(vals.values())
    if any(not math.isfinite(v) for v in vals.values()) or biggest > max_norm:
        bad = [k for k, v in vals.items() if not math.isfinite(v) or v > max_norm]
        return Finding("gradient_flow", "exploding", False,
                       f"gradient norm non-finite or above {max_norm:g} in {', '.join(bad)}",
                       values=values)
    msg = (f"‖∂L/∂W‖ {layers[0]} / {layers[-1]} = {ratio:.3g} "
           f"(×{factor:.3g} per layer toward the input)")
    if len(vals) >= 2 and ratio > exploding_ratio:
        return Finding("gradient_flow", "exploding", False, msg, values=values)
    if len(vals) >= 2 and (ratio < vanishing_ratio or math.isnan(ratio)):
        return Finding("gradient_flow", "vanishing", False, msg, values=values)
    return Finding("gradient_flow", "healthy", True, msg, values=values)


def update_ratio_verdict(
    ratios: Mapping[str, float], *, low: float = 1e-5, high: float = 1e-1
) -> Finding:
    """'update too large' if any layer's ‖ΔW‖/‖W‖ > ``high``, 'update too small' if any is
    below ``low``, else 'healthy' (no ratios: 'no update observed', ok)."""
    vals = {k: float(v) for k, v in ratios.items()}
    values = {"ratios": vals, "low": low, "high": high}
    if not vals:
        return Finding("update_ratio", "no update observed", True,
                       "no optimizer step was observed", values=values)
    big = [k for k, v in vals.items() if not math.isfinite(v) or v > high]
    small = [k for k, v in vals.items() if v < low]
    span = f"‖ΔW‖/‖W‖ from {min(vals.values()):.3g} to {max(vals.values()):.3g}"
    if big:
        return Finding("update_ratio", "update too large", False,
                       f"{span}; above {high:g} in {', '.join(big)}", values=values)
    if small:
        return Finding("update_ratio", "update too small", False,
                       f"{span}; below {low:g} in {', '.join(small)}", values=values)
    return Finding("update_ratio", "healthy", True, span, values=values)


def check_gradient_flow(model: Any, **thresholds: Any) -> Finding:
    """:func:`gradient_flow_verdict` on ``model``'s current weight gradients (after backward)."""
    return gradient_flow_verdict(weight_grad_norms(model), **thresholds)
