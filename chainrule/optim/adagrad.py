"""Adagrad (Duchi, Hazan & Singer 2011): per-coordinate steps shrinking with the summed g²."""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.optim.optimizer import (
    Optimizer,
    check_impl_flags,
    check_lr,
    check_nonneg,
    coefficients,
    live_scalar,
    to_scalar,
)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad, equal to ``torch.optim.Adagrad``.

    With γ = ``lr``, η = ``lr_decay``, λ = ``weight_decay``, s₀ = ``initial_accumulator_value``::

        g_t ← g_t + λ θ_{t-1}                 (if λ ≠ 0)
        γ̃_t = γ / (1 + (t − 1) η)
        s_t = s_{t-1} + g_t²
        θ_t = θ_{t-1} − γ̃_t g_t / (√s_t + ε)

    As in PyTorch the state is created when the optimizer is built (not at the first step).

    Example::

        opt = Adagrad(model.parameters(), lr=0.01, lr_decay=1e-4)
    """

    scalar_state = ("step",)  # (chainrule.compile: see Optimizer.scalar_state)

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        check_lr(lr)
        check_nonneg("lr_decay", lr_decay)
        check_nonneg("weight_decay", weight_decay)
        check_nonneg("initial_accumulator_value", initial_accumulator_value)
        check_nonneg("epsilon", eps)
        check_impl_flags(foreach, fused, differentiable)
        defaults = dict(lr=to_scalar(lr), lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = self.init_state(p._array, group)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0, s = initial_accumulator_value."""
        return {"step": 0.0,
                "sum": xp.full_like(p, group["initial_accumulator_value"])}

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Adagrad step in place (equations in the class docstring)."""
        state["step"] += 1  # (in place when chainrule.compile made it a 0-d array)
        step = state["step"]
        g = self.decayed(p, g, group["weight_decay"])
        (neg_clr,) = coefficients(_step_size, p.dtype, step, live_scalar(group, "lr"),
                                  group["lr_decay"])
        s = state["sum"]
        t = self.scratch(p, 0)
        xp.multiply(g, g, out=t)
        s += t
        xp.sqrt(s, out=t)
        t += group["eps"]
        xp.divide(g, t, out=t)
        t *= neg_clr
        p += t


def _step_size(step: float, lr: float, lr_decay: float) -> tuple[float]:
    """−γ / (1 + (t − 1) η) (η = ``lr_decay``)."""
    return (-lr / (1 + (step - 1) * lr_decay),)
