"""nn.functional: more of PyTorch's losses, composed from differentiable primitives.

* ``poisson_nll_loss``: l = e^x - y x (``log_input``) or x - y log(x + eps); ``full`` adds the
  Stirling term y log y - y + ½ log(2π y) where y > 1.
* ``gaussian_nll_loss``: l = ½ (log max(var, eps) + (x - y)² / max(var, eps)) [+ ½ log 2π];
  the clamp is invisible to the gradient (PyTorch clamps a clone under ``no_grad``).
* ``hinge_embedding_loss``: l = x where y = 1, max(0, margin - x) where y = -1.
* ``multilabel_soft_margin_loss``: l_n = -1/C Σ_c w_c (y log σ(x) + (1 - y) log σ(-x)).
* ``multilabel_margin_loss``: l_n = Σ_{j ∈ targets} Σ_{i ∉ targets} max(0, 1 - x[j] + x[i]) / C,
  the targets being the entries of y[n] before the first -1.
* ``triplet_margin_with_distance_loss``: l = max(0, margin + d(a, p) - d(a, n)) for any
  distance d (``swap``: d(a, n) replaced by min(d(a, n), d(p, n))).
* ``ctc_loss`` is in ``chainrule.nn._functional.ctc``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chainrule.backend import xp
from chainrule.nn._functional.activation import logsigmoid
from chainrule.nn._functional.distance import pairwise_distance
from chainrule.nn._functional.loss import (
    _as_tensor,
    _check_reduction,
    _legacy_reduction,
    _nan_mean,
    _reduce,
)
from chainrule.tensor import Tensor, _wrap, where

__all__ = [
    "poisson_nll_loss", "gaussian_nll_loss", "hinge_embedding_loss",
    "multilabel_soft_margin_loss", "multilabel_margin_loss",
    "triplet_margin_with_distance_loss",
]


def _reduce_named(loss: Tensor, reduction: str, error: str) -> Tensor:
    """Reduce, raising ``error`` (PyTorch's wording differs between losses) for a bad name."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(error)
    return _reduce(loss, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average: bool | None = None, eps: float = 1e-8,
                     reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of y ~ Poisson(λ), with λ = e^x (``log_input``) or λ = x:
    l = λ - y log λ (+ log y! by Stirling's approximation when ``full``)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    target = _as_tensor(target, input)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        big = target._array > 1
        safe = where(big, target, 2.0)  # keeps log finite where the term is masked out
        stirling = safe * safe.log() - safe + 0.5 * (safe * (2 * math.pi)).log()
        loss = loss + where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of y ~ N(x, var): l = ½ (log v + (x - y)² / v) with
    v = max(var, eps) [+ ½ log 2π when ``full``]. ``var`` may be a float, have the input's
    shape, lack its last dim (one variance per row) or have a single dim of size 1 where the
    input's differs (broadcast, homoscedastic over that dim)."""
    if not isinstance(var, Tensor):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = _wrap(xp.full(tuple(input.shape), float(var), dtype=input.dtype))
    elif bool((var._array < 0).any()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(
                v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not valid")
    # clamp the value only: the gradient passes to var unchanged, as PyTorch's no_grad clamp_
    var = var + _wrap(xp.maximum(var._array, eps) - var._array)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """l = x where y = 1, max(0, margin - x) where y = -1 (other labels: both terms)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    y = target._array if isinstance(target, Tensor) else xp.asarray(target)
    margin_term = where(y != 1, (margin - input).clamp(min=0.0), 0.0)
    self_term = where(y != -1, input, 0.0)
    return _reduce(margin_term + self_term, reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average: bool | None = None, reduce: bool | None = None,
                                reduction: str = "mean") -> Tensor:
    """One-vs-all logistic loss averaged over the C classes (last dim):
    l_n = -1/C Σ_c w_c (y_c log σ(x_c) + (1 - y_c) log σ(-x_c))."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _as_tensor(target, input)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = loss.sum(class_dim) / input.shape[class_dim]
    return _reduce_named(loss, reduction, f"{reduction} is not valid")


def _multilabel_masks(target: Any, shape: tuple[int, ...]) -> tuple[Any, Any, Any]:
    """(index, valid, is_target): y[n, j] clipped to a usable index, whether entry j precedes
    the first -1 of its row, and whether class c is one of row n's targets."""
    valid = xp.cumprod(target != -1, axis=1).astype(bool)
    if ((target[valid] < 0) | (target[valid] >= shape[1])).any() or (target < -1).any():
        raise RuntimeError("argument #2 'target' is out of range")
    index = xp.where(valid, target, 0)
    is_target = xp.zeros(shape, dtype=bool)
    rows = xp.broadcast_to(xp.arange(shape[0])[:, None], shape)
    is_target[rows[valid], index[valid]] = True
    return index, valid, is_target


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                           reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: l_n = Σ_{j ∈ T_n} Σ_{i ∉ T_n} max(0, 1 - x[j] + x[i]) / C, with
    T_n the classes listed in y[n] before its first -1 (a (C,) or (N, C) int64 target)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise RuntimeError(
            "Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
            f"{list(input.shape)}"
        )
    t = target._array if isinstance(target, Tensor) else xp.asarray(target)
    if t.dtype != xp.int64:
        raise RuntimeError(f"expected scalar type Long but found {_type_name(t.dtype)}")
    if tuple(t.shape) != tuple(input.shape):
        raise RuntimeError(
            f"inconsistent target size: {list(t.shape)} for input of size: {list(input.shape)}"
        )
    x = input if input.ndim == 2 else input.unsqueeze(0)
    t = t.reshape(x.shape)
    index, valid, is_target = _multilabel_masks(t, tuple(x.shape))
    rows = xp.arange(x.shape[0])[:, None]
    x_target = x[(xp.broadcast_to(rows, index.shape), index)]  # x[n, y[n, j]]
    d = 1.0 - x_target.unsqueeze(2) + x.unsqueeze(1)            # (N, j, i)
    pairs = valid[:, :, None] & ~is_target[:, None, :]
    hinge = where(pairs & (d._array > 0), d, 0.0)  # strict: no gradient at a zero margin
    loss = hinge.sum((1, 2)) * (1.0 / x.shape[1])
    if input.ndim == 1:
        loss = loss.reshape(())
    if reduction == "mean" and not loss.numel():
        return _nan_mean(loss)
    return _reduce(loss, reduction)


def _type_name(dtype: Any) -> str:
    """PyTorch's scalar-type name of a NumPy dtype (for its 'expected scalar type' errors)."""
    names = {"float32": "Float", "float64": "Double", "float16": "Half", "int32": "Int",
             "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
    return names.get(str(dtype), str(dtype))


def triplet_margin_with_distance_loss(
        anchor: Tensor, positive: Tensor, negative: Tensor, *,
        distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
        margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> Tensor:
    """l = max(0, margin + d(a, p) - d(a, n)); d defaults to the pairwise L2 distance, and
    with ``swap`` d(a, n) is replaced by min(d(a, n), d(p, n)) (Balntas et al. 2016)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
            f"negative {negative.ndim}D inputs"
        )
    dist = pairwise_distance if distance_function is None else distance_function
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_swap = dist(positive, negative)
        d_neg = where(d_swap._array < d_neg._array, d_swap, d_neg)
    return _reduce((margin + d_pos - d_neg).clamp(min=0.0), reduction)
