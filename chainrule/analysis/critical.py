"""Classify a critical point by the eigenvalues of the Hessian.

At x with ∇f(x) = 0, the second-order Taylor expansion f(x + d) ≈ f(x) + ½ dᵀHd decides:
all eigenvalues of H positive → strict local minimum; all negative → strict local maximum;
both signs → saddle point (a direction of descent exists); some zero and no opposite signs →
degenerate (the second-order test is inconclusive, e.g. the monkey saddle x³ - 3xy²).
The index is the fraction of negative eigenvalues (Dauphin et al. 2014: in high dimension most
critical points with high loss are saddles with a large index).

Small problems use the exact Hessian; large ones the Lanczos method on Hessian-vector products
Hv (one double-backward pass each, the Hessian is never formed): k steps build an orthonormal
basis Q of the Krylov space span{v, Hv, ..., H^{k-1}v} with QᵀHQ = T tridiagonal, whose
eigenvalues (Ritz values) approach the extreme eigenvalues of H. The index is then estimated by
stochastic Lanczos quadrature: with T = U diag(θ) Uᵀ and weights τₖ = U₀ₖ², Σₖ τₖ[θₖ < 0]
estimates the fraction of negative eigenvalues (Ghorbani et al. 2019).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule._lanczos import lanczos_basis
from chainrule.autograd import functional as AF
from chainrule.autograd import grad as _grad
from chainrule.autograd.engine import enable_grad
from chainrule.tensor import Tensor, _wrap

__all__ = ["CriticalPointReport", "classify_critical_point", "hessian_matrix", "lanczos"]


class _Flat:
    """A function of one or several tensors seen as a function of one flat float64 vector."""

    def __init__(self, f: Callable[..., Tensor], x: Any) -> None:
        self.multi = isinstance(x, (list, tuple))
        items = list(x) if self.multi else [x]
        arrs = [np.asarray(t._array if isinstance(t, Tensor) else t, dtype=np.float64)
                for t in items]
        self.shapes = [a.shape for a in arrs]
        self.sizes = [a.size for a in arrs]
        self.x = np.concatenate([a.reshape(-1) for a in arrs]) if arrs else np.zeros(0)
        self.n = self.x.size
        self.f = f

    def split(self, z: Tensor) -> list[Tensor]:
        out, start = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            out.append(z[start:start + size].reshape(shape))
            start += size
        return out

    def __call__(self, z: Tensor) -> Tensor:
        out = self.f(*self.split(z))
        if not isinstance(out, Tensor) or out.numel() != 1:
            shape = out.shape if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"the function must return a scalar tensor, got {shape}")
        return out.reshape(())

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        with enable_grad():
            z = _wrap(np.array(x, dtype=np.float64), requires_grad=True)
            out = self(z)
            (g,) = _grad(out, [z], allow_unused=True)
        return float(out._array), (np.zeros(self.n) if g is None else np.array(g._array))

    def hvp_operator(self, x: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """(∇f(x), v ↦ Hv): the gradient graph is built once and reused by every product."""
        with enable_grad():
            z = _wrap(np.array(x, dtype=np.float64), requires_grad=True)
            (g,) = _grad(self(z), [z], create_graph=True, allow_unused=True)
        if g is None or not g.requires_grad:  # f is affine (or constant) in x: H = 0
            grad0 = np.zeros(self.n) if g is None else np.array(g._array)
            return grad0, lambda v: np.zeros_like(v)

        def matvec(v: np.ndarray) -> np.ndarray:
            with enable_grad():
                (hv,) = _grad(g, [z], grad_outputs=_wrap(np.asarray(v, dtype=np.float64)),
                              retain_graph=True, allow_unused=True)
            return np.zeros(self.n) if hv is None else np.array(hv._array)

        return np.array(g._array), matvec


def hessian_matrix(f: Callable[..., Tensor], x: Any) -> np.ndarray:
    """The (n, n) Hessian of scalar ``f`` at ``x`` (a tensor or a list of tensors, flattened in
    order) through ``chainrule.autograd.functional.hessian``."""
    flat = _Flat(f, x)
    H = np.asarray(AF.hessian(flat, _wrap(flat.x.copy()))._array, dtype=np.float64)
    H = H.reshape(flat.n, flat.n)
    return 0.5 * (H + H.T)


def lanczos(matvec: Callable[[np.ndarray], np.ndarray], n: int, steps: int,
            generator: Any = None, v0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` Lanczos iterations with full reorthogonalisation for a symmetric operator.

    Returns the Ritz values θ (ascending) and their quadrature weights τ = (first components
    of T's eigenvectors)², which sum to 1. With ``steps = n`` the Ritz values are the spectrum.
    """
    steps = int(min(steps, n))
    if steps < 1:
        raise ValueError(f"lanczos: need at least one step (n={n}, steps={steps})")
    rng = _random.rng(generator) if not isinstance(generator, np.random.Generator) else generator
    v = rng.standard_normal(n) if v0 is None else np.asarray(v0, dtype=np.float64).copy()
    _, T = lanczos_basis(matvec, v, steps)
    theta, U = np.linalg.eigh(T)
    return theta, U[0] ** 2


@dataclass
class CriticalPointReport:
    """What the Hessian says about a point: gradient norm, eigenvalues, verdict and index.

    Example::

        import chainrule as cr
        from chainrule.analysis import classify_critical_point
        rep = classify_critical_point(lambda p: p[0] ** 2 - p[1] ** 2,
                                      cr.zeros(2, dtype=cr.float64))
        rep.verdict, rep.index          # ('saddle', 0.5)
    """

    grad_norm: float
    eigenvalues: np.ndarray
    verdict: str
    index: float
    method: str
    n: int
    min_eigenvector: np.ndarray | None = None

    def __str__(self) -> str:
        ev = np.array2string(self.eigenvalues if self.eigenvalues.size <= 8 else
                             np.concatenate([self.eigenvalues[:4], self.eigenvalues[-4:]]),
                             precision=5)
        return (f"CriticalPointReport: {self.verdict} (n={self.n}, {self.method} Hessian)\n"
                f"  ‖∇f‖ = {self.grad_norm:.3e}\n"
                f"  eigenvalues{' (extremes)' if self.eigenvalues.size > 8 else ''}: {ev}\n"
                f"  index (fraction of negative eigenvalues) = {self.index:.4g}")


def _verdict(eigs: np.ndarray, grad_norm: float, grad_tol: float, eig_tol: float) -> str:
    # a NaN compares False with everything: without this test it would pass as critical
    if not (np.isfinite(grad_norm) and np.all(np.isfinite(eigs))):
        return "non-finite"
    if grad_norm > grad_tol:
        return "not critical"
    lo, hi = float(eigs.min()), float(eigs.max())
    if lo < -eig_tol and hi > eig_tol:
        return "saddle"
    if lo > eig_tol:
        return "minimum"
    if hi < -eig_tol:
        return "maximum"
    return "degenerate"


def classify_critical_point(f: Callable[..., Tensor], x: Any, grad_tol: float = 1e-6,
                            eig_tol: float = 1e-8, exact_threshold: int = 400,
                            lanczos_steps: int = 60, probes: int = 4,
                            generator: Any = None) -> CriticalPointReport:
    """Gradient norm, Hessian eigenvalues, verdict and index of ``f`` at ``x``.

    ``x`` is a tensor or a list of tensors (``f(*x)``). With at most ``exact_threshold``
    variables the Hessian is formed exactly; above it, ``probes`` Lanczos runs of
    ``lanczos_steps`` Hessian-vector products give the extreme eigenvalues (Ritz values) and a
    stochastic-quadrature estimate of the index. The verdict is "non-finite" when the gradient
    or the Hessian has a NaN or inf entry, "not critical" when
    ‖∇f‖ > ``grad_tol``; eigenvalues within ``eig_tol``·max(1, max|λ|) of 0 count as zero.
    """
    flat = _Flat(f, x)
    grad0, matvec = flat.hvp_operator(flat.x)
    grad_norm = float(np.linalg.norm(grad0))
    if flat.n <= exact_threshold:
        H = hessian_matrix(f, x)
        if not np.all(np.isfinite(H)):  # LAPACK must not see a NaN; the verdict says why
            nan = np.full(flat.n, np.nan)
            return CriticalPointReport(grad_norm, nan, "non-finite", float("nan"), "exact",
                                       flat.n, None)
        eigs, vecs = np.linalg.eigh(H)
        tol = eig_tol * max(1.0, float(np.abs(eigs).max(initial=0.0)))
        index = float(np.mean(eigs < -tol)) if eigs.size else 0.0
        return CriticalPointReport(grad_norm, eigs, _verdict(eigs, grad_norm, grad_tol, tol),
                                   index, "exact", flat.n, vecs[:, 0] if eigs.size else None)
    thetas, fractions = [], []
    for _ in range(max(1, probes)):
        theta, tau = lanczos(matvec, flat.n, lanczos_steps, generator)
        thetas.append(theta)
        scale = max(1.0, float(np.abs(theta).max(initial=0.0)))
        fractions.append(float(np.sum(tau[theta < -eig_tol * scale])))
    eigs = np.sort(np.concatenate(thetas))
    tol = eig_tol * max(1.0, float(np.abs(eigs).max(initial=0.0)))
    return CriticalPointReport(grad_norm, eigs, _verdict(eigs, grad_norm, grad_tol, tol),
                               float(np.mean(fractions)), "lanczos", flat.n)
