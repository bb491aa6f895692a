"""RAdam (Liu et al. 2020): Adam whose adaptive step is switched on once its variance is
tractable, with a rectification factor instead of a warm-up."""

from __future__ import annotations

import math
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

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""RAdam, equal to ``torch.optim.RAdam``.

    With γ = ``lr``, λ = ``weight_decay``::

        θ_{t-1} ← θ_{t-1}(1 − γλ)  if decoupled_weight_decay, else g_t ← g_t + λ θ_{t-1}
        m_t = β₁ m_{t-1} + (1 − β₁) g_t,   m̂_t = m_t / (1 − β₁ᵗ)
        v_t = β₂ v_{t-1} + (1 − β₂) g_t²
        ρ_∞ = 2/(1 − β₂) − 1,   ρ_t = ρ_∞ − 2t β₂ᵗ / (1 − β₂ᵗ)
        if ρ_t > 5:  r_t = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t))
                     θ_t = θ_{t-1} − γ m̂_t r_t √(1 − β₂ᵗ) / (√v_t + ε)
        else:        θ_t = θ_{t-1} − γ m̂_t

    Example::

        opt = RAdam(model.parameters(), lr=1e-3)
    """

    scalar_state = ("step",)  # (chainrule.compile: see Optimizer.scalar_state)

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        check_lr(lr)
        check_nonneg("epsilon", eps)
        check_betas(betas)
        check_nonneg("weight_decay", weight_decay)
        check_impl_flags(foreach, None, differentiable)
        defaults = dict(lr=to_scalar(lr), betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0, m = 0, v = 0."""
        return {"step": 0.0, "exp_avg": xp.zeros_like(p), "exp_avg_sq": xp.zeros_like(p)}

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One RAdam step in place (equations in the class docstring)."""
        state["step"] += 1  # (in place when chainrule.compile made it a 0-d array)
        step = state["step"]
        (beta1, beta2), wd = group["betas"], group["weight_decay"]
        rectified, decay, coef = coefficients(_coefficients, p.dtype, step,
                                              live_scalar(group, "lr"), beta1, beta2, wd)
        if wd != 0 and group["decoupled_weight_decay"]:
            p *= decay
        elif wd != 0:
            g = self.decayed(p, g, wd)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = self.scratch(p, 0)
        xp.subtract(g, m, out=t)
        t *= 1 - beta1
        m += t
        xp.multiply(g, g, out=t)
        t *= 1 - beta2
        v *= beta2
        v += t
        if rectified:  # (a value guard under chainrule.compile: ρ_t crosses 5 once)
            xp.sqrt(v, out=t)
            t += group["eps"]
            xp.divide(m, t, out=t)
            t *= coef
        else:
            xp.multiply(m, coef, out=t)
        p += t


def _coefficients(step: float, lr: float, beta1: float, beta2: float, wd: float
                  ) -> tuple[float, float, float]:
    """(ρ_t > 5, 1 − γλ, the step's scale): −γ r_t √(1 − β₂ᵗ) / (1 − β₁ᵗ) when the variance
    is tractable (ρ_t > 5), else −γ / (1 − β₁ᵗ)."""
    bc1 = 1 - beta1**step
    bc2 = 1 - beta2**step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / bc2
    if rho_t > 5.0:
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                         / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        return 1.0, 1 - lr * wd, -lr * rect * math.sqrt(bc2) / bc1
    return 0.0, 1 - lr * wd, -lr / bc1
