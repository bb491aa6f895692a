"""NAdam (Dozat 2016): Adam with Nesterov momentum and a momentum warm-up schedule."""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.optim.optimizer import (
    Optimizer,
    check_betas,
    check_impl_flags,
    check_lr,
    check_nonneg,
    to_scalar,
)

__all__ = ["NAdam"]


class NAdam(Optimizer):
    r"""NAdam, equal to ``torch.optim.NAdam``.

    With γ = ``lr``, λ = ``weight_decay``, ψ = ``momentum_decay``::

        θ_{t-1} ← θ_{t-1}(1 − γλ)  if decoupled_weight_decay, else g_t ← g_t + λ θ_{t-1}
        μ_t = β₁ (1 − ½ · 0.96^{tψ}),   μ_{t+1} = β₁ (1 − ½ · 0.96^{(t+1)ψ})
        Π_t = Π_{t-1} μ_t                                  (mu_product, Π₀ = 1)
        m_t = β₁ m_{t-1} + (1 − β₁) g_t
        v_t = β₂ v_{t-1} + (1 − β₂) g_t²
        d_t = √(v_t / (1 − β₂ᵗ)) + ε
        θ_t = θ_{t-1} − γ (1 − μ_t)/(1 − Π_t) · g_t / d_t − γ μ_{t+1}/(1 − Π_t μ_{t+1}) · m_t / d_t

    Example::

        opt = NAdam(model.parameters(), lr=2e-3, momentum_decay=4e-3)
    """

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        check_lr(lr)
        check_nonneg("epsilon", eps)
        check_betas(betas)
        check_nonneg("weight_decay", weight_decay)
        check_nonneg("momentum_decay", momentum_decay)
        check_impl_flags(foreach, None, differentiable)
        defaults = dict(lr=to_scalar(lr), betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0, Π = 1, m = 0, v = 0."""
        return {"step": 0.0, "mu_product": 1.0, "exp_avg": xp.zeros_like(p),
                "exp_avg_sq": xp.zeros_like(p)}

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One NAdam step in place (equations in the class docstring)."""
        state["step"] = step = state["step"] + 1
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if wd != 0 and group["decoupled_weight_decay"]:
            p *= 1 - lr * wd
        elif wd != 0:
            g = self.decayed(p, g, wd)
        psi = group["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        state["mu_product"] = prod = state["mu_product"] * mu
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = self.scratch(p, 0)
        xp.subtract(g, m, out=t)
        t *= 1 - beta1
        m += t
        xp.multiply(g, g, out=t)
        t *= 1 - beta2
        v *= beta2
        v += t
        d = self.scratch(p, 2)
        xp.divide(v, 1 - beta2**step, out=d)
        xp.sqrt(d, out=d)
        d += group["eps"]
        xp.divide(g, d, out=t)
        t *= -lr * (1.0 - mu) / (1.0 - prod)
        p += t
        xp.divide(m, d, out=t)
        t *= -lr * mu_next / (1.0 - prod * mu_next)
        p += t
