"""``torch.histogram`` and ``torch.histc``: counts of a tensor's values in bins.

* ``histogram(input, bins, *, range=None, weight=None, density=False)`` returns
  ``(hist, bin_edges)``. With an int ``bins`` the edges are ``bins + 1`` equally spaced points
  over ``range`` (default: the data's min and max, widened by ±0.5 when they are equal); with
  a 1-D tensor ``bins`` they are its increasing values. Bin ``i`` holds ``eᵢ ≤ x < eᵢ₊₁``,
  the last bin also its right edge; values outside are ignored. ``density=True`` divides by
  ``Σ hist · width`` so the histogram integrates to 1.
* ``bincount(input, weights=None, minlength=0)`` counts (or sums ``weights`` of) each value of
  a 1-D non-negative integer tensor: int64 counts, or sums in the weights' float dtype
  (float64 for integer weights), of length max(max(input) + 1, minlength).
* ``histc(input, bins=100, min=0, max=0)`` returns the counts only; ``min == max`` means the
  data's range (widened by ±1 if that is a single value). As in PyTorch, its bin is
  ``⌊(x − min) · bins / (max − min)⌋`` computed in the input's dtype, without the exact
  edge check that ``histogram`` makes, so the two can differ for values on an edge.

Neither records a gradient (PyTorch's have none either).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from chainrule.tensor import Tensor, from_numpy

__all__ = ["histogram", "histc", "bincount"]


def _float_values(input: Any, name: str) -> np.ndarray:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
    a = input.detach().numpy()
    if not np.issubdtype(a.dtype, np.floating):
        raise RuntimeError(f"{name}: input must be a floating-point tensor, got {input.dtype}")
    return a.reshape(-1)


def _range(a: np.ndarray, lo: float | None, hi: float | None, name: str) -> tuple[float, float]:
    if lo is None:
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo > hi:
        raise RuntimeError(f"{name}: min should not exceed max, but got min {lo} max {hi}")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"{name}: range [{lo}, {hi}] is not finite")
    return lo, hi


def histogram(input: Tensor, bins: int | Tensor, *, range: tuple[float, float] | None = None,
              weight: Tensor | None = None, density: bool = False) -> tuple[Tensor, Tensor]:
    """``(hist, bin_edges)`` of the values of ``input`` (flattened), as ``torch.histogram``.

    Example::

        hist, edges = chainrule.histogram(chainrule.tensor([0., 1., 2., 3.]), 3)
        # hist = [1., 1., 2.], edges = [0., 1., 2., 3.]
    """
    a = _float_values(input, "torch.histogram")
    if isinstance(bins, Tensor):
        edges = bins.detach().numpy().astype(a.dtype).reshape(-1)
        if bins.ndim != 1 or edges.size < 2:
            raise RuntimeError("torch.histogram: bins must be a 1-D tensor with at least 2 edges")
        if np.any(np.diff(edges) < 0):
            raise RuntimeError("torch.histogram: bin edges must be increasing")
    else:
        if isinstance(bins, builtins.bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
            raise RuntimeError(f"torch.histogram: bins must be a positive int or a tensor of "
                               f"edges, got {bins!r}")
        lo, hi = _range(a, *(range if range is not None else (None, None)), "torch.histogram")
        if lo == hi:  # a single value: a unit-wide range centred on it
            lo, hi = lo - 0.5, hi + 0.5
        edges = _linspace(lo, hi, int(bins) + 1, a.dtype)
    w = None
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise RuntimeError(f"torch.histogram: weight of shape {tuple(weight.shape)} for an "
                               f"input of shape {tuple(input.shape)}")
        w = weight.detach().numpy().reshape(-1)
    hist = _counts(a, edges, w).astype(a.dtype)
    if density:
        hist = hist / (hist.sum() * np.diff(edges))
    return from_numpy(np.ascontiguousarray(hist)), from_numpy(np.ascontiguousarray(edges))


def _linspace(lo: float, hi: float, n: int, dtype: np.dtype) -> np.ndarray:
    """``n`` points from ``lo`` to ``hi`` in ``dtype``, by PyTorch's CPU rule: the first half
    stepped up from ``lo``, the second half stepped down from ``hi`` (so both ends are exact;
    ``np.linspace`` rounds differently in float32)."""
    t = np.dtype(dtype).type
    start, end = t(lo), t(hi)
    step = (end - start) / t(n - 1)
    i = np.arange(n)
    half = n // 2
    out = np.where(i < half, start + step * i.astype(dtype),
                   end - step * (n - 1 - i).astype(dtype))
    return out.astype(dtype)


def _counts(a: np.ndarray, edges: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Weighted counts with half-open bins [eᵢ, eᵢ₊₁) and a closed last bin."""
    nbins = edges.size - 1
    inside = (a >= edges[0]) & (a <= edges[-1])  # NaN compares False: ignored
    idx = np.searchsorted(edges, a[inside], side="right") - 1
    idx = np.minimum(idx, nbins - 1)  # the right edge belongs to the last bin
    return np.bincount(idx, weights=None if w is None else w[inside], minlength=nbins)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """Counts of ``input``'s values in ``bins`` equal bins over ``[min, max]``
    (``torch.histc``); the data's range when ``min == max``."""
    a = _float_values(input, "torch.histc")
    if isinstance(bins, builtins.bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise RuntimeError(f"torch.histc: bins must be > 0, got {bins!r}")
    if min > max:
        raise RuntimeError("torch.histc: max must be larger than min")
    lo, hi = (None, None) if min == max else (float(min), float(max))
    lo, hi = _range(a, lo, hi, "torch.histc")
    if lo == hi:
        lo, hi = lo - 1.0, hi + 1.0
    left, right = a.dtype.type(lo), a.dtype.type(hi)
    inside = (a >= left) & (a <= right)
    # NOTE: PyTorch's histc bins by linear interpolation in the input's dtype, with no edge
    # correction; the same arithmetic gives the same bins for values on an edge.
    pos = ((a[inside] - left) * a.dtype.type(bins) / (right - left)).astype(np.int64)
    pos = np.minimum(pos, bins - 1)
    return from_numpy(np.bincount(pos, minlength=bins).astype(a.dtype))


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Occurrences of each value 0..max of ``input`` (``torch.bincount``), or the sums of
    ``weights`` at each value."""
    a = input.detach().numpy() if isinstance(input, Tensor) else np.asarray(input)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer) or (a.size and a.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if weights is None:
        return from_numpy(np.bincount(a, minlength=minlength).astype(np.int64))
    w = weights.detach().numpy()
    if w.ndim != 1 or w.shape[0] != a.shape[0]:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    out_dtype = w.dtype if np.issubdtype(w.dtype, np.floating) else np.float64
    return from_numpy(np.bincount(a, weights=w, minlength=minlength).astype(out_dtype))
