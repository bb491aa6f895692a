"""Explicit regularisation penalties to add to a loss, and the max-norm weight constraint.

Coupled L2 two ways: ``loss + l2_penalty(params, λ)`` has the gradient ∇loss + λθ, the same as
``SGD(..., weight_decay=λ)``; decoupled decay (AdamW) is not a penalty and lives in the
optimizer. The L1 penalty's subgradient (sign θ, 0 at 0) rarely gives exact zeros; a proximal
step does (see the optimizers' ``l1=`` option).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chainrule.autograd.engine import no_grad
from chainrule.backend import xp
from chainrule.nn.utils._common import as_list
from chainrule.tensor import Tensor

__all__ = ["l1_penalty", "l2_penalty", "elastic_net_penalty", "max_norm_"]


def _total(parameters: Iterable[Tensor], term: Any) -> Tensor:
    params = as_list(parameters)
    if not params:
        raise RuntimeError("penalty: got no parameters")
    out = term(params[0])
    for p in params[1:]:
        out = out + term(p)
    return out


def l1_penalty(parameters: Tensor | Iterable[Tensor], weight: float = 1.0) -> Tensor:
    """λ Σ_θ |θ| (a differentiable scalar; subgradient λ sign θ).

    Example::

        model = nn.Linear(4, 3)
        x, y = chainrule.randn(8, 4), chainrule.tensor([0, 1, 2, 0, 1, 2, 0, 1])
        loss = F.cross_entropy(model(x), y) + nn.utils.l1_penalty(model.parameters(), 1e-4)
    """
    total = _total(parameters, lambda p: p.abs().sum())
    return total * weight if weight != 1.0 else total


def l2_penalty(parameters: Tensor | Iterable[Tensor], weight: float = 1.0) -> Tensor:
    """(λ/2) Σ_θ θ², whose gradient λθ equals coupled weight decay ``weight_decay=λ``."""
    return _total(parameters, lambda p: (p * p).sum()) * (0.5 * weight)


def elastic_net_penalty(parameters: Tensor | Iterable[Tensor], alpha: float = 1.0,
                        l1_ratio: float = 0.5) -> Tensor:
    """α [ρ Σ|θ| + ((1 - ρ)/2) Σ θ²] with ρ = ``l1_ratio`` (Zou & Hastie 2005; scikit-learn's
    parametrisation): ρ = 1 is the L1 penalty, ρ = 0 the L2 penalty."""
    if not 0.0 <= l1_ratio <= 1.0:
        raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio}")
    params = as_list(parameters)
    return l1_penalty(params, alpha * l1_ratio) + l2_penalty(params, alpha * (1.0 - l1_ratio))


def max_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
              dim: int = 0, eps: float = 1e-7) -> int:
    """Max-norm constraint (Srivastava et al. 2014), in place: every unit's incoming weight
    vector w (the slice at index i of ``dim``, e.g. a row of a Linear weight or one conv
    filter) is rescaled to w · c / (‖w‖ + eps) when ‖w‖ > c = ``max_norm``.

    Call it after ``optimizer.step()`` (any optimizer); pass weights, not biases. Returns the
    number of units that were rescaled.

    Example::

        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        # ... after each optimizer.step():
        nn.utils.max_norm_([m.weight for m in model.modules() if isinstance(m, nn.Linear)], 3.0)
    """
    rescaled = 0
    with no_grad():
        for p in as_list(parameters):
            w = p._array
            if w.ndim == 0:
                continue
            d = dim % w.ndim
            axes = tuple(a for a in range(w.ndim) if a != d)
            if norm_type == 2:
                norms = xp.sqrt(xp.sum(w * w, axis=axes, keepdims=True))
            elif norm_type == float("inf"):
                norms = xp.max(xp.abs(w), axis=axes, keepdims=True)
            else:
                norms = xp.sum(xp.abs(w) ** norm_type, axis=axes, keepdims=True) ** (
                    1.0 / norm_type)
            over = norms > max_norm
            n_over = int(over.sum())
            if n_over:
                scale = xp.where(over, max_norm / (norms + eps), 1.0).astype(w.dtype)
                w *= scale
                p._bump_version()
                rescaled += n_over
    return rescaled
