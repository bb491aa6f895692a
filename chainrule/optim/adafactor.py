"""Adafactor (Shazeer & Stern 2018): Adam-like steps whose second moment of a matrix is kept
as one row and one column factor, so its memory is O(m + n) instead of O(mn)."""

from __future__ import annotations

import math
from typing import Any

from chainrule.backend import xp
from chainrule.optim.optimizer import (
    Optimizer,
    check_impl_flags,
    check_lr,
    coefficients,
    live_scalar,
    to_scalar,
)

__all__ = ["Adafactor"]


class Adafactor(Optimizer):
    r"""Adafactor, equal to ``torch.optim.Adafactor``.

    With γ = ``lr``, τ = ``beta2_decay`` (≤ 0), ε₁, ε₂ = ``eps`` (ε₁ = machine epsilon when
    None), d the clipping threshold, λ = ``weight_decay``, and RMS(x) = ‖x‖₂ / √numel(x)::

        β̂_t = 1 − t^τ                 (so 1 − β̂_t = t^τ: the first step copies G²)
        ρ_t = min(γ, 1/√t)
        α_t = max(ε₂, RMS(θ_{t-1})) · ρ_t
        θ ← θ (1 − γλ)
        matrix G (m × n, last two dims):
            R_t = β̂_t R_{t-1} + (1 − β̂_t) mean_j G²     (one value per row)
            C_t = β̂_t C_{t-1} + (1 − β̂_t) mean_i G²     (one value per column)
            V̂_t = R_t C_t / max(mean_i R_t, ε₁)
        vector (or scalar) G:
            V̂_t = β̂_t V̂_{t-1} + (1 − β̂_t) G²
        U_t = G / √max(V̂_t, ε₁²)
        θ_t = θ − α_t / max(1, RMS(U_t)/d) · U_t

    Example::

        opt = Adafactor(model.parameters(), lr=1e-2)
    """

    scalar_state = ("step",)  # (chainrule.compile: see Optimizer.scalar_state)

    def __init__(self, params: Any, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach: bool | None = None,
                 maximize: bool = False) -> None:
        check_lr(lr)
        if not beta2_decay <= 0.0:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not eps[0] >= 0.0:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not eps[1] >= 0.0:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not d >= 1.0:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not weight_decay >= 0.0:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        check_impl_flags(foreach, None, False)
        defaults = dict(lr=to_scalar(lr), beta2_decay=beta2_decay, eps=tuple(eps), d=d,
                        weight_decay=weight_decay, foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0; row and column factors (shapes (..., m, 1) and (..., 1, n)) for a matrix,
        a full second moment for a vector or scalar."""
        if p.ndim > 1:
            return {"step": 0.0, "row_var": xp.zeros(p.shape[:-1] + (1,), dtype=p.dtype),
                    "col_var": xp.zeros(p.shape[:-2] + (1, p.shape[-1]), dtype=p.dtype)}
        return {"step": 0.0, "variance": xp.zeros_like(p)}

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Adafactor step in place (equations in the class docstring). Every data-dependent
        scalar stays a 0-d array, so ``chainrule.compile`` can capture the step."""
        state["step"] += 1  # (in place when chainrule.compile made it a 0-d array)
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(xp.finfo(p.dtype).eps)
        weight, rho, shrink = coefficients(_schedule, p.dtype, state["step"],
                                           live_scalar(group, "lr"), group["beta2_decay"],
                                           group["weight_decay"])
        alpha = xp.maximum(eps2, _rms(p)) * rho
        if group["weight_decay"] != 0:
            p *= shrink
        g2 = g * g
        if g.ndim > 1:
            row, col = state["row_var"], state["col_var"]
            row += weight * (g2.mean(-1, keepdims=True) - row)
            col += weight * (g2.mean(-2, keepdims=True) - col)
            var = row @ col
            var /= xp.maximum(row.mean(-2, keepdims=True), eps1)
        else:
            variance = state["variance"]
            variance += weight * (g2 - variance)
            var = variance.copy()
        upd = xp.maximum(var, eps1 * eps1, out=var)
        xp.sqrt(upd, out=upd)
        xp.divide(g, upd, out=upd)
        upd *= -alpha / xp.maximum(1.0, _rms(upd) / group["d"])
        p += upd


def _schedule(step: float, lr: float, beta2_decay: float, weight_decay: float) -> tuple:
    """(1 − β̂_t, ρ_t, 1 − γλ) = (t^τ, min(γ, 1/√t), 1 − γλ)."""
    return step**beta2_decay, min(lr, 1 / math.sqrt(step)), 1 - lr * weight_decay


def _rms(x: Any) -> Any:
    """‖x‖₂ / √numel(x), a 0-d array."""
    return xp.sqrt((x * x).sum() / max(x.size, 1))
