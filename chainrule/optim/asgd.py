"""Averaged SGD (Polyak & Juditsky 1992) with the step-size decay of Bottou (2012)."""

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

__all__ = ["ASGD"]


class ASGD(Optimizer):
    r"""Averaged stochastic gradient descent, equal to ``torch.optim.ASGD``.

    With γ = ``lr``, λ = ``lambd``, α = ``alpha``, t₀ = ``t0`` and weight decay w; η₀ = γ,
    μ₀ = 1::

        g_t ← g_t + w θ_{t-1}                         (if w ≠ 0)
        θ_t = (1 − λ η_{t-1}) θ_{t-1} − η_{t-1} g_t
        a_t = θ_t                     if μ_{t-1} = 1, else a_{t-1} + μ_{t-1} (θ_t − a_{t-1})
        η_t = γ / (1 + λ γ t)^α,      μ_t = 1 / max(1, t − t₀)

    The average ``a`` (state ``"ax"``) starts after t₀ steps; evaluate with it by copying
    ``optimizer.state[p]["ax"]`` into ``p``. η and μ are float64 0-d arrays (PyTorch keeps
    them in default-dtype tensors, so under a float32 default its η is rounded to float32; as
    for NAdam's μ-product, chainrule keeps the float64 value).

    Example::

        opt = ASGD(model.parameters(), lr=0.01, t0=1000)
    """

    scalar_state = ("step",)  # (chainrule.compile: see Optimizer.scalar_state)

    def __init__(self, params: Any, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        check_lr(lr)
        check_nonneg("weight_decay", weight_decay)
        check_impl_flags(foreach, None, differentiable)
        defaults = dict(lr=to_scalar(lr), lambd=lambd, alpha=alpha, t0=t0,
                        weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0, η = lr, μ = 1, a = 0."""
        # η and μ are 0-d arrays updated in place, so a compiled step reads them live
        return {"step": 0.0, "eta": xp.asarray(float(group["lr"])), "mu": xp.asarray(1.0),
                "ax": xp.zeros_like(p)}

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One ASGD step in place (equations in the class docstring)."""
        state["step"] += 1  # (in place when chainrule.compile made it a 0-d array)
        step = state["step"]
        g = self.decayed(p, g, group["weight_decay"])
        eta, mu = state["eta"], state["mu"]
        decay, neg_eta, mu_p = coefficients(_update, p.dtype, eta, mu, group["lambd"])
        p *= decay
        t = self.scratch(p, 0)
        xp.multiply(g, neg_eta, out=t)
        p += t
        ax = state["ax"]
        if mu != 1:  # (a value guard under chainrule.compile: μ leaves 1 once, after t₀)
            xp.subtract(p, ax, out=t)
            t *= mu_p
            ax += t
        else:
            xp.copyto(ax, p)
        new_eta, new_mu = coefficients(_schedule, xp.float64, step, live_scalar(group, "lr"),
                                       group["lambd"], group["alpha"], group["t0"])
        xp.copyto(eta, new_eta)
        xp.copyto(mu, new_mu)


def _update(eta: float, mu: float, lambd: float) -> tuple[float, float, float]:
    """(1 − λη, −η, μ) in the parameter's dtype."""
    return 1 - lambd * eta, -eta, mu


def _schedule(step: float, lr: float, lambd: float, alpha: float, t0: float
              ) -> tuple[float, float]:
    """η_t = γ / (1 + λγt)^α, μ_t = 1 / max(1, t − t₀)."""
    return lr / ((1 + lambd * lr * step) ** alpha), 1 / max(1, step - t0)
