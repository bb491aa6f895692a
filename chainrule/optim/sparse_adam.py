"""SparseAdam: Adam's moments and step applied only to the rows a gradient touches (the
"lazy Adam" of embedding tables, ``torch.optim.SparseAdam``)."""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.optim.optimizer import Optimizer, coefficients, live_scalar, to_scalar

__all__ = ["SparseAdam"]

_DENSE_GRADIENT = "SparseAdam does not support dense gradients, please consider Adam instead"


class SparseAdam(Optimizer):
    r"""SparseAdam, equal to ``torch.optim.SparseAdam`` for the parameters of
    ``nn.Embedding(sparse=True)`` / ``F.embedding(..., sparse=True)``.

    chainrule has no sparse tensors: such an embedding's gradient is a dense array whose
    untouched rows are zero. The rows R that the update touches are the rows of the gradient
    with a nonzero entry (PyTorch: the rows present in the sparse gradient, that is the rows
    looked up, ``padding_idx`` excluded; the two differ only for a looked-up row whose gradient
    is exactly zero). With γ = ``lr`` and t the number of steps taken (every row shares it)::

        m[R] ← m[R] + (1 − β₁)(g[R] − m[R])
        v[R] ← v[R] + (1 − β₂)(g[R]² − v[R])
        θ[R] ← θ[R] − γ √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m[R] / (√v[R] + ε)

    Rows outside R keep their moments and values ("lazy" Adam). A parameter whose gradient is
    not an embedding's sparse gradient raises PyTorch's error.

    Example::

        emb = nn.Embedding(10_000, 64, sparse=True)
        opt = optim.SparseAdam(list(emb.parameters()), lr=1e-3)
    """

    scalar_state = ("step",)  # (chainrule.compile: see Optimizer.scalar_state)

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, maximize: bool = False) -> None:
        lr_value = to_scalar(lr)
        if not lr_value > 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not eps > 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        defaults = dict(lr=lr_value, betas=tuple(betas), eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def _step_group(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            if p.grad is not None and not getattr(p, "_sparse_grad", False):
                raise RuntimeError(_DENSE_GRADIENT)
        super()._step_group(group)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0, m = 0, v = 0."""
        return {"step": 0.0, "exp_avg": xp.zeros_like(p), "exp_avg_sq": xp.zeros_like(p)}

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One SparseAdam step in place on the touched rows (class docstring)."""
        state["step"] += 1  # (counted even when no row is touched, as PyTorch counts it)
        rows = _touched_rows(g)
        if rows.size == 0:
            return
        beta1, beta2 = group["betas"]
        m, v, gr = state["exp_avg"], state["exp_avg_sq"], g[rows]
        m_old, v_old = m[rows], v[rows]
        dm = (gr - m_old) * (1 - beta1)
        dv = (gr * gr - v_old) * (1 - beta2)
        m[rows] = m_old + dm
        v[rows] = v_old + dv
        # (PyTorch's order of operations, so that float64 results agree to the last bit)
        denom = xp.sqrt(dv + v_old) + group["eps"]
        (c,) = coefficients(_step_size, p.dtype, state["step"], live_scalar(group, "lr"),
                            beta1, beta2)
        p[rows] += ((dm + m_old) / denom) * c


def _touched_rows(g: Any) -> Any:
    """Indices of the rows (first axis) of ``g`` that hold a nonzero entry."""
    if g.ndim == 0:
        return xp.flatnonzero(g.reshape(1) != 0)
    return xp.flatnonzero((g.reshape(g.shape[0], -1) != 0).any(axis=1))


def _step_size(step: float, lr: float, beta1: float, beta2: float) -> tuple[float]:
    """−γ √(1 − β₂ᵗ) / (1 − β₁ᵗ)."""
    return (-(lr * (1 - beta2**step) ** 0.5 / (1 - beta1**step)),)
