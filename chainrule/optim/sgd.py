"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import _jit
from chainrule.backend import axpy
from chainrule.optim.optimizer import (
    Optimizer,
    check_impl_flags,
    check_lr,
    check_nonneg,
    coefficients,
    live_scalar,
    to_scalar,
)

__all__ = ["SGD"]


@_jit.kernel(writes=(0, 2))
def _sgd_kernel(p: Any, g: Any, buf: Any, wd: Any, momentum: Any, damp: Any, lr: Any,
                nesterov: bool) -> None:  # pragma: no cover - compiled
    """One pass of momentum SGD over flat arrays (the NumPy path of ``SGD.update``):
    g ← g + wd θ; b ← μ b + (1 − τ) g; θ ← θ − γ (g + μ b if nesterov else b)."""
    for i in range(p.size):
        gi = g[i]
        if wd != 0:
            gi += wd * p[i]
        b = momentum * buf[i] + damp * gi
        buf[i] = b
        if nesterov:
            p[i] -= lr * (gi + momentum * b)
        else:
            p[i] -= lr * b


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), equal to ``torch.optim.SGD``.

    With g_t = ∇f(θ_{t-1}) (negated if ``maximize``), λ = ``weight_decay``, μ = ``momentum``,
    τ = ``dampening``, γ = ``lr``::

        g_t ← g_t + λ θ_{t-1}                                  (coupled L2, if λ ≠ 0)
        b_t ← g_t                     if t = 1                 (momentum buffer, if μ ≠ 0)
        b_t ← μ b_{t-1} + (1 − τ) g_t otherwise
        g_t ← g_t + μ b_t if nesterov else b_t
        θ_t ← θ_{t-1} − γ g_t
        θ_t ← sign(θ_t) max(|θ_t| − γ̃·l1, 0)                   (proximal L1, if l1 > 0)

    The proximal step uses the effective step size γ̃ = γ(1 − τ)/(1 − μ) of heavy-ball
    momentum (γ without momentum, where it is exactly ISTA): a coordinate stays at zero when
    its stationary step γ̃|g| is within the threshold, so the fixed points are those of the
    L1-penalised problem.

    Plain SGD on one sample, mini-batch gradient descent and full-batch gradient descent are
    this same optimizer: only the batch size of the loader that produces g_t differs (1, B, N).

    Example::

        opt = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None, l1: float = 0) -> None:
        check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        check_nonneg("l1", l1)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        check_impl_flags(foreach, fused, differentiable)
        defaults = dict(lr=to_scalar(lr), momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused, l1=l1)
        super().__init__(params, defaults)

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """θ ← θ − γ·(momentum-filtered, decayed gradient); see the class docstring."""
        lr, momentum = group["lr"], group["momentum"]
        if momentum != 0 and not group.get("l1", 0) and self._fused(p, g, state, group):
            return
        g = self.decayed(p, g, group["weight_decay"])
        lr = live_scalar(group, "lr")  # (a Python float unless chainrule.compile captures)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                axpy(1 - group["dampening"], g, buf)
            if group["nesterov"]:  # θ ← θ − γ (g + μ b): two in-place passes, no temporary
                axpy(-lr, g, p)
                axpy(-lr * momentum, buf, p)
            else:
                axpy(-lr, buf, p)
        else:
            axpy(-lr, g, p)
        l1 = group.get("l1", 0)
        if l1:
            scale = (1 - group["dampening"]) / (1 - momentum) if momentum else 1.0
            threshold = lr * l1 * scale
            if isinstance(threshold, np.ndarray):  # capturable (chainrule.compile): a float64
                # 0-d array from the live lr, rounded to p's dtype as the eager path's Python
                # float is (a float64 array would make ``|p| − τ`` a float64 subtraction)
                threshold = threshold.astype(p.dtype)
            self.prox_l1_(p, threshold)

    @staticmethod
    def _fused(p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> bool:
        """The momentum update as one compiled pass (:mod:`chainrule._jit`), from the second
        step on; False when unavailable."""
        buf = state.get("momentum_buffer")
        k = _sgd_kernel.get() if buf is not None else None
        arrays = _jit.flat(p, g, buf) if k else None
        if arrays is None:
            return False
        f = p.dtype.type
        lr = live_scalar(group, "lr")  # (chainrule.compile: read at each replay, as below)
        lr = coefficients(_lr, p.dtype, lr)[0] if isinstance(lr, np.ndarray) else f(lr)
        _jit.run(k, arrays, f(group["weight_decay"]), f(group["momentum"]),
                 f(1 - group["dampening"]), lr, bool(group["nesterov"]))
        return True


def _lr(lr: float) -> tuple[float]:
    """(γ,): the live learning rate, cast to the parameter's dtype by ``coefficients``."""
    return (lr,)
