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
    coefficients,
    live_scalar,
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

    scalar_state = ("step", "mu_product")  # (chainrule.compile: see Optimizer.scalar_state)

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One NAdam step in place (equations in the class docstring)."""
        state["step"] += 1  # (in place when chainrule.compile made it a 0-d array)
        step = state["step"]
        (beta1, beta2), wd = group["betas"], group["weight_decay"]
        lr = live_scalar(group, "lr")
        (prod,) = coefficients(_mu_product, xp.float64, step, state["mu_product"], beta1,
                               group["momentum_decay"])
        if isinstance(state["mu_product"], xp.ndarray):
            xp.copyto(state["mu_product"], prod)
        else:
            state["mu_product"] = float(prod)
        decay, bc2, c_g, c_m = coefficients(_coefficients, p.dtype, step, prod, lr, beta1, beta2,
                                            group["momentum_decay"], wd)
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
        d = self.scratch(p, 2)
        xp.divide(v, bc2, out=d)
        xp.sqrt(d, out=d)
        d += group["eps"]
        xp.divide(g, d, out=t)
        t *= c_g
        p += t
        xp.divide(m, d, out=t)
        t *= c_m
        p += t


def _mu(step: float, beta1: float, psi: float) -> float:
    """μ_t = β₁ (1 − ½ · 0.96^{tψ})."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))


def _mu_product(step: float, prod: float, beta1: float, psi: float) -> tuple[float]:
    """Π_t = Π_{t-1} μ_t."""
    return (prod * _mu(step, beta1, psi),)


def _coefficients(step: float, prod: float, lr: float, beta1: float, beta2: float, psi: float,
                  wd: float) -> tuple[float, ...]:
    """(1 − γλ, 1 − β₂ᵗ, −γ(1 − μ_t)/(1 − Π_t), −γ μ_{t+1}/(1 − Π_t μ_{t+1}))."""
    mu, mu_next = _mu(step, beta1, psi), _mu(step + 1, beta1, psi)
    return (1 - lr * wd, 1 - beta2**step, -lr * (1.0 - mu) / (1.0 - prod),
            -lr * mu_next / (1.0 - prod * mu_next))
