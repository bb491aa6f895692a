"""nn.functional: losses, as composites of primitives, with PyTorch's exact reductions.

``reduction``: ``'none'`` (per element), ``'sum'``, or ``'mean'``. For the class-weighted
losses (``nll_loss``, ``cross_entropy`` with class indices) 'mean' is the *weighted* mean
Σ_n w_{y_n} l_n / Σ_n w_{y_n} over the targets that are not ``ignore_index``. The legacy
``size_average`` / ``reduce`` arguments are accepted and mapped as PyTorch maps them.
"""

from __future__ import annotations

import warnings
from typing import Any

from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.nn._functional.activation import log_softmax, logsigmoid
from chainrule.tensor import Tensor, _wrap, apply, where

__all__ = [
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "multi_margin_loss", "kl_div",
    "cosine_embedding_loss", "margin_ranking_loss", "soft_margin_loss",
]


# ---- reductions ----------------------------------------------------------------------------
def _legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """PyTorch's mapping of the deprecated ``size_average`` / ``reduce`` flags."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn(
        "size_average and reduce args will be deprecated, please use reduction='"
        + ("none" if reduce is False else "mean" if size_average is not False else "sum")
        + "' instead.",
        stacklevel=3,
    )
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _check_reduction(reduction: str) -> None:
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _nan_mean(loss: Tensor) -> Tensor:
    """The mean of an empty loss, 0/0 = nan as in PyTorch, without NumPy's empty-mean warning
    (kept in the graph, so ``backward`` gives the input an empty gradient)."""
    return loss.sum() * float("nan")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean() if loss.numel() else _nan_mean(loss)
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _as_tensor(x: Any, like: Tensor) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return _wrap(xp.asarray(x, dtype=like.dtype))


def _broadcast_check(input: Tensor, target: Tensor, name: str) -> None:
    """Warn (as PyTorch) when the shapes differ, raise naming both when they cannot broadcast."""
    if input.shape == target.shape:
        return
    try:
        xp.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise RuntimeError(
            f"{name}: target of shape {tuple(target.shape)} cannot be broadcast to the input of "
            f"shape {tuple(input.shape)}"
        ) from None
    warnings.warn(
        f"Using a target size ({tuple(target.shape)}) that is different to the input size "
        f"({tuple(input.shape)}). This will likely lead to incorrect results due to "
        "broadcasting. Please ensure they have the same size.",
        stacklevel=3,
    )


def _weighted(loss: Tensor, input: Tensor, weight: Tensor | None, reduction: str,
              mean_by_weight: bool) -> Tensor:
    """Apply an elementwise ``weight`` (same size as input) and reduce; 'mean' is Σwl/Σw when
    ``mean_by_weight`` (mse, l1) and the plain mean of w·l otherwise (huber)."""
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(
            f"Weights and input must have the same size (weight {tuple(weight.shape)}, input "
            f"{tuple(input.shape)})."
        )
    _check_reduction(reduction)
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return loss.sum() / weight.sum() if loss.numel() else _nan_mean(loss)
    return _reduce(loss, reduction)


# ---- regression ----------------------------------------------------------------------------
def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
             reduce: bool | None = None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """l = (x - y)²."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _as_tensor(target, input)
    _broadcast_check(input, target, "mse_loss")
    d = input - target
    return _weighted(d * d, input, weight, reduction, True)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
            reduce: bool | None = None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """l = |x - y| (gradient 0 where x = y)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _as_tensor(target, input)
    _broadcast_check(input, target, "l1_loss")
    return _weighted((input - target).abs(), input, weight, reduction, True)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """l = ½ d² if |d| < delta else delta (|d| - ½ delta), d = x - y."""
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got "
                           f"{delta}")
    target = _as_tensor(target, input)
    _broadcast_check(input, target, "huber_loss")
    d = input - target
    ad = d.abs()
    loss = where(ad._array < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    return _weighted(loss, input, weight, reduction, False)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """l = ½ d² / beta if |d| < beta else |d| - ½ beta (beta = 0 gives the L1 loss)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, got "
                           f"{beta}")
    target = _as_tensor(target, input)
    _broadcast_check(input, target, "smooth_l1_loss")
    d = input - target
    ad = d.abs()
    if beta == 0:
        return _reduce(ad, reduction)
    loss = where(ad._array < beta, d * d * (0.5 / beta), ad - 0.5 * beta)
    return _reduce(loss, reduction)


# ---- classification ------------------------------------------------------------------------
class PickClass(Function):
    """out[n, ...] = x[n, t[n, ...], ...] (one entry per position along ``dim``);
    dx = g placed at those entries, zeros elsewhere (the adjoint, :class:`PlaceClass`).

    # NOTE: fused for speed: the NLL pick is a take along one axis whose adjoint is a plain
    # assignment (each position picks exactly one class, so no accumulating scatter is needed).
    """

    saves = ()

    def forward(self, x: Any, dim: int = 1, index: Any = None) -> Any:
        self.dim, self.index = dim, index
        return xp.take_along_axis(x, xp.expand_dims(index, dim), axis=dim).squeeze(dim)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(PlaceClass, g, dim=self.dim, index=self.index,
                        n=self.inputs[0]._array.shape[self.dim]),)


class PlaceClass(Function):
    """out = zeros with out[n, t[n, ...], ...] = g[n, ...] along ``dim`` (n classes);
    dg = the entries picked back (:class:`PickClass`)."""

    saves = ()

    def forward(self, g: Any, dim: int = 1, index: Any = None, n: int = 0) -> Any:
        self.dim, self.index = dim, index
        shape = list(g.shape)
        shape.insert(dim, n)
        out = xp.zeros(shape, dtype=g.dtype)
        xp.put_along_axis(out, xp.expand_dims(index, dim), xp.expand_dims(g, dim), axis=dim)
        return out

    def vjp(self, gg: Any, F: Any) -> tuple:
        return (F.apply(PickClass, gg, dim=self.dim, index=self.index),)


def _class_dim(input: Tensor, name: str) -> int:
    if input.ndim == 0:
        raise RuntimeError(f"{name}: input must have at least 1 dimension (got a 0-d tensor)")
    return 0 if input.ndim == 1 else 1


def _check_class_weight(weight: Tensor | None, n_classes: int, name: str) -> None:
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != n_classes):
        raise RuntimeError(
            f"{name}: weight tensor should be defined either for all {n_classes} classes or no "
            f"classes but got weight tensor of shape: {list(weight.shape)}"
        )


def _check_index_target(input: Tensor, t: Any, cdim: int, ignore_index: int,
                        name: str) -> None:
    """Class-index targets: integer dtype, the input's shape without the class dim, in range."""
    n_classes = input.shape[cdim]
    if t.dtype.kind == "f":
        raise RuntimeError(
            f"{name}: class-index targets must be integers (int64), but got {t.dtype} labels "
            f"of shape {tuple(t.shape)}; pass labels as a Long tensor, or class probabilities "
            f"with the input's shape {tuple(input.shape)}"
        )
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"{name}: expected target dtype to be Long, but got {t.dtype}")
    expected = input.shape[:cdim] + input.shape[cdim + 1 :]
    if tuple(t.shape) != tuple(expected):
        raise ValueError(
            f"{name}: expected a target of shape {tuple(expected)} for an input of shape "
            f"{tuple(input.shape)} (class dim {cdim}), got target shape {tuple(t.shape)}"
        )
    if t.size == 0 or (t.min() >= 0 and t.max() < n_classes):
        return
    bad = ((t < 0) | (t >= n_classes)) & (t != ignore_index)
    if bad.any():
        value = int(t[bad].reshape(-1)[0])
        raise IndexError(
            f"{name}: Target {value} is out of bounds: class indices must be in "
            f"[0, {n_classes - 1}] for C = {n_classes} classes (ignore_index={ignore_index})"
        )


def _weight_view(weight: Tensor, ndim: int, cdim: int) -> Tensor:
    """Class weights shaped to broadcast along the class dim of an ndim-d input."""
    return weight.reshape((-1,) + (1,) * (ndim - cdim - 1))


class NLL(Function):
    """out = Σ_n c_n x[n, t_n] (or the per-position terms c_n x[n, t_n] with ``reduce=False``),
    with c_n = -w_{t_n} / Σ w for 'mean' and -w_{t_n} otherwise (0 where ignored);
    dx = (g c) placed at the picked entries (:class:`PlaceClass`).

    # NOTE: fused for speed: one node instead of pick, weight, negate, sum and divide (five
    # forward and seven backward nodes); tested equal to that composite.
    """

    saves = ()

    def forward(self, x: Any, dim: int = 1, index: Any = None, coef: Any = None,
                reduce: bool = True) -> Any:
        self.dim, self.index, self.coef, self.reduce = dim, index, coef, reduce
        picked = xp.take_along_axis(x, xp.expand_dims(index, dim), axis=dim).squeeze(dim)
        terms = picked * coef
        return xp.asarray(terms.sum(), dtype=x.dtype) if reduce else terms

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(PlaceClass, g * self.coef, dim=self.dim, index=self.index,
                        n=self.inputs[0]._array.shape[self.dim]),)


class CrossEntropy(Function):
    """out = Σ_n c_n logp[n, t_n] with logp = log_softmax(x) along ``dim`` (or the per-position
    terms with ``reduce=False``), c_n as in :class:`NLL`;
    dx = (g c) placed at the picked entries − softmax(x) (g c) (broadcast along ``dim``).

    # NOTE: fused for speed: NLL ∘ LogSoftmax in one node, whose array backward is one pass
    # over softmax(x) (kept from the forward); tested equal to that composite.
    """

    saves = ("x",)  # the differentiable backward recomputes softmax from x

    def forward(self, x: Any, dim: int = 1, index: Any = None, coef: Any = None,
                reduce: bool = True) -> Any:
        self.dim, self.index, self.coef, self.reduce = dim, index, coef, reduce
        m = x.max(axis=dim, keepdims=True)
        if not xp.isfinite(m).all():
            m[~xp.isfinite(m)] = 0
        z = x - m
        e = xp.exp(z)
        s = e.sum(axis=dim, keepdims=True)
        e /= s
        self.sm = e  # softmax(x), for the array backward
        xp.log(s, out=s)
        if x.ndim == 2 and dim == 1:
            picked = z[xp.arange(x.shape[0]), index] - s[:, 0]
        else:
            idx = xp.expand_dims(index, dim)
            picked = (xp.take_along_axis(z, idx, axis=dim)
                      - xp.take_along_axis(s, xp.zeros_like(idx), axis=dim)).squeeze(dim)
        terms = picked * coef
        return xp.asarray(terms.sum(), dtype=x.dtype) if reduce else terms

    def backward(self, g: Tensor) -> tuple:
        from chainrule.ops.reduce import LogSoftmax

        x = self.inputs[0]
        gc = g * self.coef
        placed = apply(PlaceClass, gc, dim=self.dim, index=self.index, n=x.shape[self.dim])
        return (placed - apply(LogSoftmax, x, dim=self.dim).exp() * gc.unsqueeze(self.dim),)

    def fast_backward(self, g: Any) -> tuple:
        gc = g * self.coef
        dx = self.sm * xp.expand_dims(-gc, self.dim)
        if dx.ndim == 2 and self.dim == 1:
            dx[xp.arange(dx.shape[0]), self.index] += gc
        else:
            idx = xp.expand_dims(self.index, self.dim)
            xp.put_along_axis(dx, idx, xp.take_along_axis(dx, idx, axis=self.dim)
                              + xp.expand_dims(gc, self.dim), axis=self.dim)
        return (dx,)


def _nll(logp: Tensor, t: Any, weight: Tensor | None, ignore_index: int, cdim: int,
         reduction: str, scale: float = 1.0, op: type[Function] = NLL
         ) -> tuple[Tensor, Any, Any]:
    """``scale`` × the NLL term reduced by ``reduction``; also the per-position weights w_{y}
    (0 where ignored) and the validity mask. ``op=CrossEntropy`` takes logits for ``logp``
    (the log-softmax fused in)."""
    if weight is None and scale == 1.0 and reduction != "none" and t.size and (
            t.min() >= 0 and t.max() < logp.shape[cdim] and not 0 <= ignore_index < logp.shape[
                cdim]):  # the common case, no target ignored: a constant coefficient
        n = t.size if reduction == "mean" else 1
        coef = xp.full(t.shape, -1.0 / n, dtype=logp.dtype)
        out = apply(op, logp, dim=cdim, index=t.astype(xp.intp, copy=False), coef=coef,
                    reduce=True)
        return out, None, None
    valid = t != ignore_index
    safe = (xp.where(valid, t, 0) if not valid.all() else t).astype(xp.intp, copy=False)
    if weight is None:
        w_t = valid.astype(logp.dtype)
    else:
        w_t = (weight._array[safe] * valid).astype(logp.dtype, copy=False)
    coef = w_t * -scale
    if reduction == "mean":
        denom = float(w_t.sum())
        # every target ignored: 0/0, a nan loss as in PyTorch
        coef = coef * (1.0 / denom) if denom else xp.full_like(coef, xp.nan)
    out = apply(op, logp, dim=cdim, index=safe, coef=coef.astype(logp.dtype, copy=False),
                reduce=reduction != "none")
    if reduction == "mean" and t.size == 0:  # an empty batch: the mean 0/0 is nan (PyTorch)
        out = _nan_mean(out)
    return out, w_t, valid


def _divide(total: Tensor, denom: Any) -> Tensor:
    d = float(denom)
    if d != 0.0:
        return total / d
    with xp.errstate(invalid="ignore", divide="ignore"):  # all ignored: nan, as PyTorch
        return total / d


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """l_n = -w_{y_n} x[n, y_n] for log-probabilities x: (C), (N, C) or (N, C, d1, ...).

    Targets equal to ``ignore_index`` contribute 0 and are left out of the 'mean' denominator
    Σ w_{y_n}.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    cdim = _class_dim(input, "nll_loss")
    t = target._array if isinstance(target, Tensor) else xp.asarray(target)
    _check_index_target(input, t, cdim, ignore_index, "nll_loss")
    _check_class_weight(weight, input.shape[cdim], "nll_loss")
    return _nll(input, t, weight, ignore_index, cdim, reduction)[0]


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average: bool | None = None, ignore_index: int = -100,
                  reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits x: (C), (N, C) or (N, C, d1, ...) against class indices or class
    probabilities (a float target of the input's shape).

    Indices: l_n = (1-ε) (-w_{y} log p_{n,y}) + (ε/C) Σ_c (-w_c log p_{n,c}), with p the softmax
    over the class dim and ε = ``label_smoothing``; 'mean' divides both terms by Σ_n w_{y_n}
    over non-ignored targets. Probabilities q (smoothed to (1-ε) q + ε/C):
    l_n = -Σ_c w_c q_{n,c} log p_{n,c}; 'mean' divides by the number of positions N·d1·...
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    cdim = _class_dim(input, "cross_entropy")
    n_classes = input.shape[cdim]
    _check_class_weight(weight, n_classes, "cross_entropy")
    t = target._array if isinstance(target, Tensor) else xp.asarray(target)
    if label_smoothing == 0 and t.dtype.kind != "f":  # the common case: one fused node
        _check_index_target(input, t, cdim, ignore_index, "cross_entropy")
        return _nll(input, t, weight, ignore_index, cdim, reduction, op=CrossEntropy)[0]
    logp = log_softmax(input, cdim)
    if t.dtype.kind == "f" and tuple(t.shape) == tuple(input.shape):
        if ignore_index >= 0:
            raise RuntimeError("cross_entropy: ignore_index is not supported for class "
                               "probability (floating point) targets")
        return _ce_probs(logp, _as_tensor(target, input), weight, reduction, label_smoothing,
                         cdim)
    _check_index_target(input, t, cdim, ignore_index, "cross_entropy")
    eps = label_smoothing
    loss, w_t, valid = _nll(logp, t, weight, ignore_index, cdim, reduction, 1.0 - eps)
    if eps == 0:
        return loss
    lp = logp if weight is None else logp * _weight_view(weight, input.ndim, cdim)
    smooth = -(lp.sum(cdim) * valid.astype(logp.dtype))
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        smooth = _divide(smooth.sum(), w_t.sum())
    return loss + smooth * (eps / n_classes)


def _ce_probs(logp: Tensor, q: Tensor, weight: Tensor | None, reduction: str, eps: float,
              cdim: int) -> Tensor:
    n_classes = logp.shape[cdim]
    if eps > 0:
        q = q * (1.0 - eps) + eps / n_classes
    prod = logp * q
    if weight is not None:
        prod = prod * _weight_view(weight, logp.ndim, cdim)
    if reduction == "none":
        return -prod.sum(cdim)
    if reduction == "sum":
        return -prod.sum()
    if prod.numel() == 0:
        return _nan_mean(prod)
    return -prod.sum() / float(logp.numel() // n_classes)


def _log_clamped(x: Tensor) -> Tensor:
    """log x clamped below at -100 (PyTorch's BCE rule), with a zero gradient where x = 0."""
    if (x._array > 0).all():
        return x.log().clamp(min=-100.0)
    pos = x._array > 0
    return where(pos, where(pos, x, 1.0).log(), -100.0).clamp(min=-100.0)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """l = -w [y log x + (1 - y) log(1 - x)] for probabilities x (logs clamped at -100)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _as_tensor(target, input)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({tuple(target.shape)}) that is different to the input size "
            f"({tuple(input.shape)}) is deprecated. Please ensure they have the same size."
        )
    x = input._array
    if x.size and (x.min() < 0 or x.max() > 1):
        raise RuntimeError(
            "binary_cross_entropy: all elements of input should be between 0 and 1 (got values "
            f"in [{float(x.min()):g}, {float(x.max()):g}]; use binary_cross_entropy_with_logits "
            "for logits)"
        )
    loss = -(target * _log_clamped(input) + (1.0 - target) * _log_clamped(1.0 - input))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """l = -w [p y log σ(x) + (1 - y) log(1 - σ(x))] = w [(1 - y) x - (1 + (p - 1) y) log σ(x)],
    stable for large |x|; ``pos_weight`` p weighs the positive term (broadcast over classes,
    the last dim)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _as_tensor(target, input)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Target size ({tuple(target.shape)}) must be the same as input size "
            f"({tuple(input.shape)})"
        )
    ls = logsigmoid(input)
    if pos_weight is not None:
        log_weight = (pos_weight - 1.0) * target + 1.0
        loss = (1.0 - target) * input - log_weight * ls
    else:
        loss = (1.0 - target) * input - ls
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average: bool | None = None,
                      reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """The multi-class hinge loss of SVMs (Weston & Watkins / Crammer & Singer form):
    l_n = Σ_{i ≠ y} w_y max(0, margin - x[y] + x[i])^p / C, p ∈ {1, 2}."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if input.ndim not in (1, 2):
        raise ValueError(
            f"multi_margin_loss: expected a 1-D (C) or 2-D (N, C) input, got shape "
            f"{tuple(input.shape)}"
        )
    x = input if input.ndim == 2 else input.unsqueeze(0)
    t = target._array if isinstance(target, Tensor) else xp.asarray(target)
    _check_index_target(x, t.reshape(-1) if t.ndim == 0 else t, 1, -(2**62),
                        "multi_margin_loss")
    t = t.reshape(-1).astype(xp.intp)
    n_classes = x.shape[1]
    _check_class_weight(weight, n_classes, "multi_margin_loss")
    xy = apply(PickClass, x, dim=1, index=t).unsqueeze(1)
    d = x - xy + margin
    z = where(d._array > 0, d, 0.0)  # strict: no gradient at exactly zero margin (PyTorch)
    if p == 2:
        z = z * z
    others = xp.ones(x.shape, dtype=x.dtype)
    xp.put_along_axis(others, t[:, None], 0, axis=1)
    z = z * others
    if weight is not None:
        z = z * weight._array[t][:, None]
    loss = z.sum(1) * (1.0 / n_classes)
    if input.ndim == 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def _xlogx(t: Tensor) -> Tensor:
    """t log t with 0 where t = 0 (and nan for t < 0, as ``xlogy``)."""
    zero = t._array == 0
    if not t.requires_grad:
        with xp.errstate(divide="ignore", invalid="ignore"):
            return _wrap(xp.where(zero, 0, t._array * xp.log(xp.where(zero, 1, t._array))))
    return where(zero, 0.0, t * where(zero, 1.0, t).log())


def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None,
           reduce: bool | None = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL(target ‖ ·) pointwise, for log-probabilities x: l = y (log y - x), or with
    ``log_target`` l = e^y (y - x). 'batchmean' divides the sum by the batch size (the true KL);
    'mean' divides by the number of elements (PyTorch warns about it)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _as_tensor(target, input)
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            stacklevel=2,
        )
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = _xlogx(target) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        if input.ndim and input.shape[0] == 0:
            return _nan_mean(loss)
        return total / float(input.shape[0]) if input.ndim else total
    return _reduce(loss, reduction)


# ---- pairs and ranking ---------------------------------------------------------------------
def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average: bool | None = None, reduce: bool | None = None,
                        reduction: str = "mean") -> Tensor:
    """l = max(0, -y (x₁ - x₂) + margin), y ∈ {1, -1}."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not (input1.ndim == input2.ndim == _as_tensor(target, input1).ndim):
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {tuple(input1.shape)}, input2: {tuple(input2.shape)}, target: "
            f"{tuple(_as_tensor(target, input1).shape)}"
        )
    target = _as_tensor(target, input1)
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0.0), reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average: bool | None = None, reduce: bool | None = None,
                          reduction: str = "mean") -> Tensor:
    """l = 1 - cos(x₁, x₂) if y = 1, max(0, cos(x₁, x₂) - margin) if y = -1 (cos over the
    last dim, with 1e-12 added to each squared norm)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    eps = 1e-12
    dim = input1.ndim - 1
    prod = (input1 * input2).sum(dim)
    m1 = (input1 * input1).sum(dim) + eps
    m2 = (input2 * input2).sum(dim) + eps
    cos = prod / (m1 * m2).sqrt()
    y = target._array if isinstance(target, Tensor) else xp.asarray(target)
    pos = where(y == 1, 1.0 - cos, 0.0)
    neg = where(y == -1, (cos - margin).clamp(min=0.0), 0.0)
    return _reduce(pos + neg, reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                     reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """l = log(1 + e^(-y x)), y ∈ {1, -1} (the logistic loss)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _as_tensor(target, input)
    return _reduce(-logsigmoid(target * input), reduction)
