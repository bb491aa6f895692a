"""Adadelta (Zeiler 2012): unit-consistent steps from running averages of g² and Δθ²."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from chainrule import _jit
from chainrule._threads import parallel
from chainrule.backend import xp
from chainrule.optim.optimizer import Optimizer, check_impl_flags, check_lr, check_nonneg, to_scalar

__all__ = ["Adadelta"]

# The NumPy update runs its dozen passes over blocks of this many elements, so that all but the
# first read and the last write of each array hit the cache (a 9216x128 float32 weight, one
# Zen 3 core: 2.4-3.1 instead of 3.2-4.1 ms).
_BLOCK = 1 << 16


@_jit.kernel(writes=(0, 2, 3))
def _adadelta_kernel(p: Any, g: Any, v: Any, u: Any, rho: Any, c: Any, eps: Any, wd: Any,
                     lr: Any) -> None:  # pragma: no cover - compiled
    """One pass of Adadelta over flat arrays (the NumPy path of ``Adadelta.update``):
    g ← g + wd θ; v ← ρ v + c g²; Δ = √((u + ε)/(v + ε)) g; u ← ρ u + c Δ²; θ ← θ − γ Δ
    (c = 1 − ρ)."""
    for i in range(p.size):
        gi = g[i]
        if wd != 0:
            gi += wd * p[i]
        vi = rho * v[i] + c * gi * gi
        d = np.sqrt((u[i] + eps) / (vi + eps)) * gi
        v[i] = vi
        u[i] = rho * u[i] + c * d * d
        p[i] -= lr * d


class Adadelta(Optimizer):
    r"""Adadelta, equal to ``torch.optim.Adadelta``.

    With ρ = ``rho``, γ = ``lr``, λ = ``weight_decay``::

        g_t ← g_t + λ θ_{t-1}                 (if λ ≠ 0)
        v_t = ρ v_{t-1} + (1 − ρ) g_t²
        Δ_t = √(u_{t-1} + ε) / √(v_t + ε) · g_t
        u_t = ρ u_{t-1} + (1 − ρ) Δ_t²
        θ_t = θ_{t-1} − γ Δ_t

    Example::

        opt = Adadelta(model.parameters(), lr=1.0, rho=0.9)
    """

    scalar_state = ("step",)  # (chainrule.compile: see Optimizer.scalar_state)

    def __init__(self, params: Any, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_nonneg("epsilon", eps)
        check_nonneg("weight_decay", weight_decay)
        check_impl_flags(foreach, None, differentiable)
        defaults = dict(lr=to_scalar(lr), rho=rho, eps=eps, weight_decay=weight_decay,
                        maximize=maximize, capturable=capturable, foreach=foreach,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0, v = 0, u = 0."""
        return {"step": 0.0, "square_avg": xp.zeros_like(p), "acc_delta": xp.zeros_like(p)}

    def _block_scratch(self, dtype: Any) -> Any:
        """Four temporaries of one block (rows of a ``(4, _BLOCK)`` array) for the calling
        thread: the blocks of a parameter run on several threads at once. They are optimizer
        state, like ``Optimizer.scratch``, so :mod:`chainrule.compile` traces the blocked
        update as it does the moments (thread-local module buffers were invisible to it, and
        a capture had to fall back to whole-array passes)."""
        key = ("block", threading.get_ident(), np.dtype(dtype).str)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = xp.empty((4, _BLOCK), dtype=dtype)
        return buf

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Adadelta step in place (equations in the class docstring)."""
        state["step"] += 1
        rho, eps = group["rho"], group["eps"]
        k = _adadelta_kernel.get()
        arrays = _jit.flat(p, g, state["square_avg"], state["acc_delta"]) if k else None
        if arrays is not None:
            f = p.dtype.type
            _jit.run(k, arrays, f(rho), f(1 - rho), f(eps), f(group["weight_decay"]),
                     f(group["lr"]))
            return
        v, u = state["square_avg"], state["acc_delta"]
        n = p.size
        if n > _BLOCK and all(a.flags.c_contiguous for a in (p, g, v, u)):
            pf, gf, vf, uf = (a.reshape(-1) for a in (p, g, v, u))

            def run(lo: int, hi: int) -> None:  # blocks [lo, hi), a thread's own scratch
                tmp = self._block_scratch(p.dtype)
                for i in range(lo, hi):
                    a, b = i * _BLOCK, min(n, (i + 1) * _BLOCK)
                    _numpy_update(pf[a:b], gf[a:b], vf[a:b], uf[a:b], group,
                                  *(tmp[k, : b - a] for k in range(4)))

            parallel(run, -(-n // _BLOCK), 4 * n)
            return
        _numpy_update(p, g, v, u, group, *(self.scratch(p, k) for k in range(4)))


def _numpy_update(p: Any, g: Any, v: Any, u: Any, group: dict[str, Any], t: Any, w: Any,
                  d: Any, e: Any) -> None:
    """The update of the class docstring on arrays (one block of a parameter), with
    temporaries ``t``, ``w``, ``d``, ``e`` shaped like them (``w`` holds g + λθ).

    The step's square is not formed from Δ: with r = (u + ε)/(v + ε) and t = (1 − ρ) g²
    (already made for v), (1 − ρ) Δ² = r·t, so u ← ρ u + r·t, and Δ = √r · g. With γ = 1
    (the default) θ −= Δ skips the scaling: thirteen passes over the block instead of fifteen
    (the rounding differs from torch's in the last bits only).

    # NOTE (speed): NumPy passes, not ``backend.axpy``: the blocks are in cache, so the extra
    # pass of ``c·t`` then ``v += t`` costs little, and NumPy calls run in parallel on
    # chainrule's pool, whereas axpy's BLAS (SciPy's) is kept to one thread (its spinning
    # workers starved the next GEMMs: a 2-thread MNIST CNN step took 112-178 ms, not ~60).
    # The MNIST CNN's step (1.2M parameters, 1 thread, loaded 2-vCPU Xeon) took 3.4-3.8
    # instead of 3.5-4.1 ms: it is bound by reading θ, g, v, u and writing θ, v, u once
    # (~33 MB), not by the passes over the cached block.
    """
    rho, eps, wd, lr = group["rho"], group["eps"], group["weight_decay"], group["lr"]
    if wd != 0:
        xp.multiply(p, wd, out=w)
        w += g
        g = w
    # t = (1 − ρ) g²;  v ← ρ v + t
    xp.multiply(g, g, out=t)
    t *= 1 - rho
    v *= rho
    v += t
    # d = r = (u + ε) / (v + ε): one square root (of r) instead of two
    xp.add(u, eps, out=d)
    den = e if wd != 0 else w  # (w is free when it does not hold g + λθ)
    xp.add(v, eps, out=den)
    d /= den
    # u ← ρ u + r·t  (= ρ u + (1 − ρ) Δ²)
    t *= d
    u *= rho
    u += t
    # θ ← θ − γ √r g
    xp.sqrt(d, out=d)
    d *= g
    if lr != 1:
        d *= lr
    p -= d
