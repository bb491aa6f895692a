"""RMSprop (Hinton 2012): steps divided by a running RMS of the gradient."""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.optim.optimizer import Optimizer, check_impl_flags, check_lr, check_nonneg, to_scalar

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop, equal to ``torch.optim.RMSprop``.

    With α = ``alpha``, μ = ``momentum``, γ = ``lr``, λ = ``weight_decay``::

        g_t ← g_t + λ θ_{t-1}                 (if λ ≠ 0)
        v_t = α v_{t-1} + (1 − α) g_t²
        ḡ_t = α ḡ_{t-1} + (1 − α) g_t,  ṽ_t = v_t − ḡ_t²     (if centered, else ṽ_t = v_t)
        b_t = μ b_{t-1} + g_t / (√ṽ_t + ε),  θ_t = θ_{t-1} − γ b_t        (if μ > 0)
        θ_t = θ_{t-1} − γ g_t / (√ṽ_t + ε)                                (otherwise)

    Example::

        opt = RMSprop(model.parameters(), lr=1e-2, alpha=0.99, centered=True)
    """

    scalar_state = ("step",)  # (chainrule.compile: see Optimizer.scalar_state)

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_lr(lr)
        check_nonneg("epsilon", eps)
        check_nonneg("momentum", momentum)
        check_nonneg("weight_decay", weight_decay)
        check_nonneg("alpha", alpha)
        check_impl_flags(foreach, None, differentiable)
        defaults = dict(lr=to_scalar(lr), momentum=momentum, alpha=alpha, eps=eps,
                        centered=centered, weight_decay=weight_decay, capturable=capturable,
                        foreach=foreach, maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0, v = 0 (and b = 0 with momentum, ḡ = 0 when centered)."""
        state: dict[str, Any] = {"step": 0.0, "square_avg": xp.zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p)
        return state

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One RMSprop step in place (equations in the class docstring)."""
        state["step"] += 1
        alpha, eps, lr, momentum = group["alpha"], group["eps"], group["lr"], group["momentum"]
        g = self.decayed(p, g, group["weight_decay"])
        v = state["square_avg"]
        t = self.scratch(p, 0)
        xp.multiply(g, g, out=t)
        t *= 1 - alpha
        v *= alpha
        v += t
        if group["centered"]:
            gbar = state["grad_avg"]
            xp.subtract(g, gbar, out=t)
            t *= 1 - alpha
            gbar += t
            xp.multiply(gbar, gbar, out=t)
            xp.subtract(v, t, out=t)
            xp.sqrt(t, out=t)
        else:
            xp.sqrt(v, out=t)
        t += eps
        xp.divide(g, t, out=t)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += t
            xp.multiply(buf, -lr, out=t)
        else:
            t *= -lr
        p += t
