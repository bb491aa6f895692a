"""Gradient clipping: by total norm (``clip_grad_norm_``) and by value (``clip_grad_value_``)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from chainrule.backend import xp
from chainrule.nn.utils._common import as_list
from chainrule.tensor import Tensor, _wrap

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_",
           "get_total_norm"]


def _norm(a: xp.ndarray, p: float) -> xp.ndarray:
    """‖a‖_p as a 0-d array of a's dtype (no Python float: a compiled step replays it)."""
    if not a.size:
        return xp.zeros((), dtype=a.dtype)
    if p == math.inf:
        return xp.max(xp.abs(a))
    if p == 2:
        return xp.asarray(xp.linalg.norm(a.reshape(-1)))  # BLAS nrm2: no squared temporary
    return xp.asarray(xp.sum(xp.abs(a) ** p) ** (1.0 / p))


def get_total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """‖(‖t₁‖_p, ‖t₂‖_p, ...)‖_p: the p-norm of all the tensors viewed as one vector, computed
    in their (promoted) dtype, as PyTorch does."""
    ts = [t for t in as_list(tensors) if t is not None]
    p = float(norm_type)
    if not ts:
        return _wrap(xp.zeros((), dtype=xp.float32))
    norms = xp.stack([_norm(t._array, p) for t in ts])
    total = _norm(norms, p)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {p} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite "
            "norm anyway, set `error_if_nonfinite=False`"
        )
    return _wrap(total)


def _scale_in_place(p: Tensor, coef: xp.ndarray) -> None:
    g = p.grad
    c = coef.astype(g._array.dtype)
    if g.requires_grad or not g._array.flags.writeable:
        p.grad = _wrap(g._array * c)
    else:
        g._array *= c


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                          total_norm: Tensor | float, foreach: bool | None = None) -> None:
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6)), in place (always a
    multiplication, by 1 when nothing is clipped, so a compiled step takes no branch on the
    data; x · 1 = x exactly)."""
    total = total_norm._array if isinstance(total_norm, Tensor) else xp.asarray(total_norm)
    coef = xp.minimum(float(max_norm) / (total + 1e-6), 1.0)
    for p in as_list(parameters):
        if p.grad is not None:
            _scale_in_place(p, xp.asarray(coef))


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Rescale the gradients so their total ``norm_type``-norm is at most ``max_norm``:
    g ← g · min(1, max_norm / (‖g‖ + 1e-6)), in place. Returns the total norm before clipping.

    Example::

        model = nn.Linear(4, 2)
        model(chainrule.randn(8, 4)).pow(2).sum().backward()
        total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)   # before clipping
    """
    params = [p for p in as_list(parameters) if p.grad is not None]
    total = get_total_norm([p.grad for p in params], norm_type, error_if_nonfinite)
    if params:
        clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_norm(parameters: Tensor | Iterable[Tensor], max_norm: float,
                   norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """Deprecated alias of :func:`clip_grad_norm_` (kept for PyTorch scripts)."""
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value], in place."""
    c = float(clip_value)
    for p in as_list(parameters):
        g = p.grad
        if g is None:
            continue
        if g.requires_grad or not g._array.flags.writeable:
            p.grad = _wrap(xp.clip(g._array, -c, c))
        else:
            xp.clip(g._array, -c, c, out=g._array)
