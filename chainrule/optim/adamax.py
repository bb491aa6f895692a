"""Adamax (Kingma & Ba 2015, §7.1): Adam with the infinity norm in place of the RMS."""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.optim.optimizer import (
    Optimizer,
    check_betas,
    check_impl_flags,
    check_lr,
    check_nonneg,
    coefficients,
    live_scalar,
    to_scalar,
)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax, equal to ``torch.optim.Adamax``.

    With γ = ``lr``, λ = ``weight_decay``::

        g_t ← g_t + λ θ_{t-1}                 (if λ ≠ 0)
        m_t = β₁ m_{t-1} + (1 − β₁) g_t
        u_t = max(β₂ u_{t-1}, |g_t| + ε)
        θ_t = θ_{t-1} − γ / (1 − β₁ᵗ) · m_t / u_t

    Example::

        opt = Adamax(model.parameters(), lr=2e-3)
    """

    scalar_state = ("step",)  # (chainrule.compile: see Optimizer.scalar_state)

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        check_lr(lr)
        check_nonneg("epsilon", eps)
        check_betas(betas)
        check_nonneg("weight_decay", weight_decay)
        check_impl_flags(foreach, None, differentiable)
        defaults = dict(lr=to_scalar(lr), betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0, m = 0, u = 0."""
        return {"step": 0.0, "exp_avg": xp.zeros_like(p), "exp_inf": xp.zeros_like(p)}

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Adamax step in place (equations in the class docstring)."""
        state["step"] += 1  # (in place when chainrule.compile made it a 0-d array)
        step = state["step"]
        beta1, beta2 = group["betas"]
        g = self.decayed(p, g, group["weight_decay"])
        m, u = state["exp_avg"], state["exp_inf"]
        t = self.scratch(p, 0)
        xp.subtract(g, m, out=t)
        t *= 1 - beta1
        m += t
        u *= beta2
        xp.abs(g, out=t)
        t += group["eps"]
        xp.maximum(u, t, out=u)
        xp.divide(m, u, out=t)
        (c,) = coefficients(_step_size, p.dtype, step, live_scalar(group, "lr"), beta1)
        t *= c
        p += t


def _step_size(step: float, lr: float, beta1: float) -> tuple[float]:
    """−γ / (1 − β₁ᵗ)."""
    return (-lr / (1 - beta1**step),)
