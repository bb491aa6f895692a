"""Distances and similarities: ``normalize``, ``cosine_similarity``, ``pairwise_distance``,
``cdist`` and the triplet margin loss, as composites of differentiable Tensor ops.

A p-norm ``(Σ|d|^p)^(1/p)`` is not differentiable where it is 0; PyTorch's gradient there is 0,
and :func:`_pnorm` gives the same (it evaluates the root only where the sum is positive, so no
``0 · inf`` appears in the chain rule).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.backend import xp
from chainrule.nn._functional.loss import _check_reduction, _legacy_reduction, _reduce
from chainrule.tensor import Tensor, where

__all__ = ["normalize", "cosine_similarity", "pairwise_distance", "cdist",
           "triplet_margin_loss"]


def _pnorm(d: Tensor, p: float, dim: int, keepdim: bool = False) -> Tensor:
    """‖d‖_p along ``dim``: (Σ|d|^p)^(1/p); max|d| for p = inf; the count of non-zeros for
    p = 0. The gradient at a zero norm is 0 (PyTorch's subgradient)."""
    if p == math.inf:
        return d.abs().amax(dim, keepdim=keepdim)
    if p == 0:
        return (d != 0).to(d.dtype).sum(dim, keepdim=keepdim)
    if p == 1:
        return d.abs().sum(dim, keepdim=keepdim)
    if p == 2:
        s = (d * d).sum(dim, keepdim=keepdim)
        pos = s > 0
        return where(pos, where(pos, s, 1.0).sqrt(), 0.0)
    if p < 0:
        raise RuntimeError(f"p-norm: p must be non-negative, got {p}")
    a = d.abs()
    # |d|^p is differentiable at 0 only for p > 1; mask zeros so p < 1 gives 0 there as torch
    nz = a > 0
    s = where(nz, where(nz, a, 1.0) ** p, 0.0).sum(dim, keepdim=keepdim)
    pos = s > 0
    return where(pos, where(pos, s, 1.0) ** (1.0 / p), 0.0)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Any = None) -> Tensor:
    """x / max(‖x‖_p, eps) along ``dim``."""
    if out is not None:
        raise TypeError("normalize: out= is not supported")
    return input / _pnorm(input, p, dim, keepdim=True).clamp_min(eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Σ (x1 / max(‖x1‖, eps)) (x2 / max(‖x2‖, eps)) along ``dim`` (the inputs are broadcast
    first, so a size-1 ``dim`` is repeated before its norm is taken, as in PyTorch)."""
    shape = tuple(xp.broadcast_shapes(tuple(x1.shape), tuple(x2.shape)))
    x1 = x1.expand(shape) if tuple(x1.shape) != shape else x1
    x2 = x2.expand(shape) if tuple(x2.shape) != shape else x2
    n1 = _pnorm(x1, 2, dim, keepdim=True).clamp_min(eps)
    n2 = _pnorm(x2, 2, dim, keepdim=True).clamp_min(eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """‖x1 - x2 + eps‖_p along the last dim (PyTorch adds eps to the difference)."""
    if max(x1.ndim, x2.ndim) == 0:
        raise RuntimeError("pairwise_distance: inputs must have at least one dimension")
    return _pnorm(x1 - x2 + eps, p, -1, keepdim=keepdim)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """out[..., i, j] = ‖x1[..., i, :] - x2[..., j, :]‖_p for (B.., P, M) and (B.., R, M)
    inputs (batch dims broadcast). Computed from the differences (exact; PyTorch's matmul
    shortcut for large Euclidean inputs gives the same values up to rounding)."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D, "
                           f"X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    return _pnorm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, -1)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0) with d the pairwise p-distance; with ``swap``,
    d(a, n) is replaced by min(d(a, n), d(p, n)) (the distance swap of Balntas et al.)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    nd = (anchor.ndim, positive.ndim, negative.ndim)
    if len(set(nd)) != 1 or nd[0] not in (1, 2):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have "
                           f"the same number of dimensions (1 or 2), but got: anchor "
                           f"{nd[0]}D, positive {nd[1]}D, and negative {nd[2]}D inputs")
    d_ap = pairwise_distance(anchor, positive, p, eps)
    d_an = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_an = d_an.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_ap - d_an).clamp_min(0.0), reduction)
