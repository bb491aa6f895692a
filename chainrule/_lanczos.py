"""The Lanczos iteration, once for the whole library (Newton-CG's saddle checks and
saddle-free steps, :func:`chainrule.analysis.lanczos`'s spectra).

For a symmetric operator H and a start v, Lanczos builds an orthonormal basis
Q = [q₀ … q_{m−1}] of the Krylov subspace {v, Hv, …, H^{m−1}v} in which T = QᵀHQ is
tridiagonal: diagonal αⱼ = qⱼᵀHqⱼ, off-diagonal βⱼ = ‖Hqⱼ − αⱼqⱼ − βⱼ₋₁qⱼ₋₁‖. T's
eigenvalues (Ritz values) lie in [λ_min, λ_max], and the extreme ones converge first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.backend import xp


def lanczos_basis(matvec: Callable[[Any], Any], start: Any, steps: int) -> tuple[Any, Any]:
    """Up to ``steps`` Lanczos iterations from ``start``: (Q as m × n rows, T as m × m), with
    m < ``steps`` only when an invariant subspace is found (β ≈ 0).

    Each new vector is reorthogonalised against all earlier ones twice ("twice is enough"):
    in exact arithmetic the three-term recurrence suffices, in floating point a single
    Gram–Schmidt pass leaves late vectors far from orthogonal once most of Hqⱼ lies in the
    span, and T then gets spurious eigenvalues outside H's spectrum."""
    n = start.size
    steps = max(1, min(int(steps), n))
    q = xp.zeros((steps, n), dtype=start.dtype)
    alphas, betas = [], []
    q[0] = start / xp.linalg.norm(start)
    m = steps
    for j in range(steps):
        w = matvec(q[j])
        size = float(xp.linalg.norm(w))
        a = float(q[j] @ w)
        alphas.append(a)
        for _ in range(2):
            w = w - q[: j + 1].T @ (q[: j + 1] @ w)
        if j + 1 == steps:
            break
        b = float(xp.linalg.norm(w))
        if b <= 1e-12 * max(size, abs(a)) or b == 0.0:  # invariant subspace found
            m = j + 1
            break
        betas.append(b)
        q[j + 1] = w / b
    t = xp.diag(alphas) + xp.diag(betas[: m - 1], 1) + xp.diag(betas[: m - 1], -1)
    return q[:m], t
