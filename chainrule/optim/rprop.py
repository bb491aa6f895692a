"""Rprop (Riedmiller & Braun 1993): per-weight step sizes driven by the gradient's sign only."""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.optim.optimizer import Optimizer, check_impl_flags, check_lr, to_scalar

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""Resilient backpropagation, equal to ``torch.optim.Rprop``.

    With (η₋, η₊) = ``etas`` and [Δ_min, Δ_max] = ``step_sizes``, per weight, starting from
    Δ₀ = ``lr`` and g₀' = 0::

        s_t = η₊ if g_t·g'_{t-1} > 0,  η₋ if < 0,  1 if = 0
        Δ_t = clip(Δ_{t-1} · s_t, Δ_min, Δ_max)
        g'_t = 0 where s_t = η₋ (the sign flipped: skip this step), else g_t
        θ_t = θ_{t-1} − sign(g'_t) · Δ_t

    Only the sign of the gradient is used, so Rprop suits full-batch training; with
    mini-batches the sign flips from noise and the step sizes collapse.

    Example::

        opt = Rprop(model.parameters(), lr=0.01)
    """

    scalar_state = ("step",)  # (chainrule.compile: see Optimizer.scalar_state)

    def __init__(self, params: Any, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_lr(lr)
        etaminus, etaplus = etas
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(f"Invalid eta values: {etaminus}, {etaplus}")
        check_impl_flags(foreach, None, differentiable)
        defaults = dict(lr=to_scalar(lr), etas=tuple(etas), step_sizes=tuple(step_sizes),
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0, g' = 0, Δ = lr (lr + i·lr for a complex parameter, stepped on its real
        view: each part starts at lr, as PyTorch's)."""
        lr = group["lr"] * (1 + 1j) if p.dtype.kind == "c" else group["lr"]
        return {"step": 0.0, "prev": xp.zeros_like(p), "step_size": xp.full_like(p, lr)}

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Rprop step in place (equations in the class docstring)."""
        state["step"] += 1
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        prev, size = state["prev"], state["step_size"]
        prod = g * prev
        factor = xp.where(prod > 0, p.dtype.type(etaplus),
                          xp.where(prod < 0, p.dtype.type(etaminus), p.dtype.type(1)))
        size *= factor
        xp.clip(size, lo, hi, out=size)
        xp.copyto(prev, g)
        prev[factor == p.dtype.type(etaminus)] = 0  # a sign change: no step, forget the sign
        p -= xp.sign(prev) * size
