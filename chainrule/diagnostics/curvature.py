"""Curvature of the loss: Hessian-vector products, top eigenvalues, trace, spectral density.

Everything is matrix-free: :class:`HessianOperator` computes H v = ∂/∂θ (∇_θ L · v) by a double
backward through the gradient graph (built once with ``create_graph=True`` and reused), never
forming H. On top of it:

* :func:`power_iteration`: largest-|λ| eigenpairs with deflation (PyHessian's method);
* :func:`lanczos`: the tridiagonal T_m = Q_mᵀ H Q_m with full reorthogonalisation; its Ritz
  values give :func:`top_eigenvalues` (exact once m reaches the dimension);
* :func:`hutchinson_trace`: tr H = E[vᵀ H v] for Rademacher v (Hutchinson 1989), with i.i.d.
  probes or orthogonal ones (rows of a Sylvester–Hadamard matrix under a random sign flip,
  drawn without replacement: still Rademacher entry by entry, and exact once every row of the
  padded dimension is used);
* :func:`spectral_density`: stochastic Lanczos quadrature (Golub & Meurant; Ghorbani et al.
  2019, PyHessian): for a random unit v, the eigen-decomposition T_m = U Θ Uᵀ gives the nodes
  θ_j and weights τ_j = U_{0j}² of a Gauss quadrature of the spectral measure, and
  φ(t) ≈ mean over runs of Σ_j τ_j N(t; θ_j, σ²). Each run's weights sum to 1, so φ integrates
  to 1.

Randomness comes from an explicit ``generator`` (a ``chainrule.Generator``, a NumPy
``Generator`` or an int seed). The model is put in eval mode while the loss graph is built
(dropout off, BN on running statistics) unless ``train_mode=True``; monitors are paused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule.autograd import grad as _autograd_grad
from chainrule.autograd.engine import enable_grad
from chainrule.diagnostics.finding import paused
from chainrule.diagnostics.normalization import eval_mode
from chainrule.tensor import _wrap

__all__ = [
    "HessianOperator", "power_iteration", "lanczos", "top_eigenvalues", "hutchinson_trace",
    "TraceEstimate", "spectral_density", "SpectralDensity", "hessian_summary", "as_rng",
]


def as_rng(generator: Any) -> np.random.Generator:
    """A NumPy generator from a ``chainrule.Generator``, a NumPy generator or an int seed."""
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    return _random.rng(generator)


class HessianOperator:
    """The Hessian of a scalar loss with respect to ``params``, as a matrix-free operator.

    ``closures`` is one callable returning the loss, or a list of them (batches) with
    ``weights`` (default equal): H = Σ_b w_b H_b. Vectors are flat float64 arrays in the order of
    ``params``. Build it from a model with :meth:`from_model`.

    Example::

        op = HessianOperator.from_model(net, loss_fn, x, y)
        hv = op.matvec(np.ones(op.dim))
        op.to_dense()          # n matvecs; small models only
    """

    def __init__(self, closures: Callable[[], Any] | Sequence[Callable[[], Any]],
                 params: Sequence[Any], weights: Sequence[float] | None = None) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("HessianOperator: no parameter requires grad")
        cl = [closures] if callable(closures) else list(closures)
        self.weights = [1.0 / len(cl)] * len(cl) if weights is None else [float(w) for w in
                                                                          weights]
        if len(self.weights) != len(cl):
            raise ValueError(f"HessianOperator: {len(cl)} closures but {len(self.weights)} "
                             "weights")
        self.shapes = [tuple(p.shape) for p in self.params]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.dim = int(sum(self.sizes))
        self.matvecs = 0
        self._graphs: list[tuple[list, list]] = []
        self.loss = 0.0
        grads = np.zeros(self.dim)
        with paused(), enable_grad():
            for w, c in zip(self.weights, cl):
                loss = c()
                if getattr(loss, "numel", lambda: 1)() != 1:
                    raise ValueError(f"HessianOperator: the loss must be a scalar, got shape "
                                     f"{tuple(loss.shape)}")
                gs = _autograd_grad(loss, self.params, create_graph=True, allow_unused=True)
                grads += w * self._flat([None if g is None else g._array for g in gs])
                keep = [(g, k) for k, g in enumerate(gs) if g is not None and g.requires_grad]
                self._graphs.append(([g for g, _ in keep], [k for _, k in keep]))
                self.loss += w * float(loss._array)
        self.gradient = grads

    @classmethod
    def from_model(cls, model: Any, criterion: Callable[[Any, Any], Any], inputs: Any,
                   targets: Any = None, *, params: Sequence[Any] | None = None,
                   batches: Sequence[tuple[Any, Any]] | None = None,
                   train_mode: bool = False) -> HessianOperator:
        """H of ``criterion(model(inputs), targets)`` over the model's parameters.

        ``batches`` (a list of (inputs, targets)) averages the Hessian over several batches,
        weighted by batch size. The model is in eval mode while the graphs are built unless
        ``train_mode``.
        """
        data = list(batches) if batches is not None else [(inputs, targets)]
        sizes = [float(len(x)) for x, _ in data]
        weights = [s / sum(sizes) for s in sizes]

        def closure_for(x: Any, y: Any) -> Callable[[], Any]:
            return lambda: criterion(model(x), y)

        ps = list(params) if params is not None else list(model.parameters())
        if train_mode:
            return cls([closure_for(x, y) for x, y in data], ps, weights)
        with eval_mode(model):
            return cls([closure_for(x, y) for x, y in data], ps, weights)

    def _flat(self, arrays: Sequence[Any]) -> np.ndarray:
        out = np.zeros(self.dim)
        o = 0
        for a, n in zip(arrays, self.sizes):
            if a is not None:
                out[o:o + n] = np.asarray(a, dtype=np.float64).ravel()
            o += n
        return out

    def _split(self, v: np.ndarray) -> list[Any]:
        out, o = [], 0
        for p, s, n in zip(self.params, self.shapes, self.sizes):
            out.append(_wrap(np.ascontiguousarray(v[o:o + n].reshape(s), dtype=p.dtype)))
            o += n
        return out

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """H v (flat float64)."""
        v = np.asarray(v, dtype=np.float64)
        if v.shape != (self.dim,):
            raise ValueError(f"HessianOperator.matvec: expected a vector of shape ({self.dim},),"
                             f" got {v.shape}")
        vs = self._split(v)
        total = np.zeros(self.dim)
        with paused():
            for w, (gs, idx) in zip(self.weights, self._graphs):
                if not gs:
                    continue
                hv = _autograd_grad(gs, self.params, grad_outputs=[vs[k] for k in idx],
                                    retain_graph=True, allow_unused=True)
                total += w * self._flat([None if h is None else h._array for h in hv])
        self.matvecs += 1
        return total

    __matmul__ = matvec

    def to_dense(self) -> np.ndarray:
        """The full n×n Hessian from n matvecs (symmetrised); for small models and tests."""
        eye = np.eye(self.dim)
        h = np.stack([self.matvec(eye[i]) for i in range(self.dim)], axis=1)
        return 0.5 * (h + h.T)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.choice(np.array([-1.0, 1.0]), size=n)
    return v / np.linalg.norm(v)


def _orthogonalize(w: np.ndarray, basis: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """w minus its projections on the orthonormal rows of ``basis`` (classical Gram–Schmidt,
    applied twice for stability)."""
    if len(basis) == 0:
        return w
    b = np.asarray(basis)
    for _ in range(2):
        w = w - b.T @ (b @ w)
    return w


def power_iteration(op: Any, k: int = 1, *, iters: int = 200, tol: float = 1e-8,
                    generator: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` eigenpairs of largest |λ| by power iteration with deflation.

    Each vector is kept orthogonal to those already found; iteration stops when the Rayleigh
    quotient changes by less than ``tol``·|λ|. Returns (eigenvalues (k,), eigenvectors (k, n)).
    """
    rng = as_rng(generator)
    n = op.dim
    vals: list[float] = []
    vecs: list[np.ndarray] = []
    for _ in range(min(k, n)):
        v = _unit(rng, n)
        v = _orthogonalize(v, vecs)
        v /= np.linalg.norm(v)
        lam = math.nan
        for _it in range(iters):
            w = _orthogonalize(op.matvec(v), vecs)
            new = float(v @ w)
            norm = float(np.linalg.norm(w))
            if norm == 0.0:
                lam = 0.0
                break
            v = w / norm
            if not math.isnan(lam) and abs(new - lam) <= tol * max(abs(new), 1e-30):
                lam = new
                break
            lam = new
        vals.append(lam)
        vecs.append(v)
    return np.array(vals), np.array(vecs)


def lanczos(op: Any, m: int, *, generator: Any = None, v0: np.ndarray | None = None,
            restart: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``m`` steps of Lanczos with full reorthogonalisation: (α (m,), β (m−1,), Q (m, n)).

    T = tridiag(β, α, β) = Q H Qᵀ. On breakdown (β ≈ 0: an invariant subspace) the iteration
    restarts from a random vector orthogonal to Q when ``restart`` (β = 0 there, so T's
    eigenvalues are still eigenvalues of H), or stops early otherwise (SLQ: the quadrature is
    then exact). With m = dim and restarts, T's eigenvalues are all of H's.
    """
    rng = as_rng(generator)
    n = op.dim
    m = min(int(m), n)
    q = _unit(rng, n) if v0 is None else np.asarray(v0, np.float64) / np.linalg.norm(v0)
    qs = np.zeros((m, n))
    alpha = np.zeros(m)
    beta = np.zeros(max(m - 1, 0))
    scale = 0.0
    for j in range(m):
        qs[j] = q
        w = op.matvec(q)
        alpha[j] = q @ w
        w = _orthogonalize(w, qs[:j + 1])
        if j == m - 1:
            break
        b = float(np.linalg.norm(w))
        scale = max(scale, abs(alpha[j]), b)
        if b <= 1e-10 * max(scale, 1e-30):
            if not restart:
                return alpha[:j + 1], beta[:j], qs[:j + 1]
            w = _orthogonalize(rng.standard_normal(n), qs[:j + 1])
            q = w / np.linalg.norm(w)
            beta[j] = 0.0
            continue
        beta[j] = b
        q = w / b
    return alpha, beta, qs


def _tridiag(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    return np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)


def top_eigenvalues(op: Any, k: int = 1, *, method: str = "lanczos", m: int | None = None,
                    which: str = "LA", generator: Any = None, iters: int = 200,
                    tol: float = 1e-8) -> np.ndarray:
    """The top ``k`` Hessian eigenvalues, largest first.

    ``method='lanczos'`` (Ritz values of m steps, m = min(dim, max(4k, 60)) by default) with
    ``which='LA'`` (largest algebraic) or ``'LM'`` (largest magnitude); ``method='power'`` gives
    the largest-magnitude ones by :func:`power_iteration`.
    """
    if method == "power":
        vals, _ = power_iteration(op, k, iters=iters, tol=tol, generator=generator)
        return vals[np.argsort(-np.abs(vals), kind="stable")]
    if method != "lanczos":
        raise ValueError(f"top_eigenvalues: method must be 'lanczos' or 'power', got {method!r}")
    m = min(op.dim, m if m is not None else max(4 * k, 60))
    alpha, beta, _ = lanczos(op, m, generator=generator)
    ritz = np.linalg.eigvalsh(_tridiag(alpha, beta))
    if which == "LA":
        return ritz[::-1][:k]
    if which == "LM":
        return ritz[np.argsort(-np.abs(ritz), kind="stable")][:k]
    raise ValueError(f"top_eigenvalues: which must be 'LA' or 'LM', got {which!r}")


@dataclass
class TraceEstimate:
    """A Hutchinson estimate: the trace, its standard error and the per-probe values."""

    trace: float
    std_error: float
    samples: np.ndarray

    def __float__(self) -> float:
        return self.trace


def _hadamard_row(i: int, n: int) -> np.ndarray:
    """Row i of the Sylvester–Hadamard matrix, first n entries: (−1)^popcount(i & j)."""
    j = np.arange(n, dtype=np.uint64)
    return 1.0 - 2.0 * (np.bitwise_count(j & np.uint64(i)) & 1).astype(np.float64)


def hutchinson_trace(op: Any, n_probes: int = 100, *, generator: Any = None,
                     probes: str = "rademacher") -> TraceEstimate:
    """tr H ≈ mean_i v_iᵀ H v_i over Rademacher probes (see the module doc for 'hadamard').

    The standard error is std/√k (with the finite-population factor √(1 − k/N) for 'hadamard',
    N the dimension padded to a power of two, where k = N makes the estimate exact).
    """
    rng = as_rng(generator)
    n = op.dim
    if probes == "rademacher":
        vs = (rng.choice(np.array([-1.0, 1.0]), size=n) for _ in range(n_probes))
        fpc = 1.0
    elif probes == "hadamard":
        big = 1 << max(0, (n - 1).bit_length())
        n_probes = min(n_probes, big)
        signs = rng.choice(np.array([-1.0, 1.0]), size=n)
        rows = rng.permutation(big)[:n_probes]
        vs = (signs * _hadamard_row(int(r), n) for r in rows)
        fpc = math.sqrt(max(0.0, 1.0 - n_probes / big))
    else:
        raise ValueError(f"hutchinson_trace: probes must be 'rademacher' or 'hadamard', got "
                         f"{probes!r}")
    samples = np.array([float(v @ op.matvec(v)) for v in vs])
    se = float(samples.std(ddof=1) / math.sqrt(samples.size) * fpc) if samples.size > 1 else \
        math.inf
    return TraceEstimate(float(samples.mean()), se, samples)


@dataclass
class SpectralDensity:
    """An SLQ spectral density: ``density`` on ``grid`` (integrates to 1), and the quadrature
    ``nodes``/``weights`` of each run (rows)."""

    grid: np.ndarray
    density: np.ndarray
    nodes: list[np.ndarray]
    weights: list[np.ndarray]
    sigma: float

    def integral(self) -> float:
        """∫ φ(t) dt on the grid (trapezoid rule); ≈ 1."""
        return float(np.trapezoid(self.density, self.grid))

    def moment(self, k: int) -> float:
        """The k-th moment Σ τ_j θ_j^k averaged over runs ≈ tr(H^k)/n."""
        return float(np.mean([np.sum(w * t ** k) for t, w in zip(self.nodes, self.weights)]))


def spectral_density(op: Any, *, n_runs: int = 1, m: int = 80, generator: Any = None,
                     sigma: float | None = None, sigma_rel: float = 0.01,
                     grid_size: int = 1000) -> SpectralDensity:
    """The Hessian's eigenvalue density by stochastic Lanczos quadrature (module doc).

    ``sigma`` is the Gaussian kernel's width; by default ``sigma_rel`` times the spread of the
    nodes (at least 1e-12). The grid extends 5σ past the extreme nodes.
    """
    rng = as_rng(generator)
    nodes, weights = [], []
    for _ in range(n_runs):
        alpha, beta, _ = lanczos(op, m, generator=rng, restart=False)
        theta, u = np.linalg.eigh(_tridiag(alpha, beta))
        nodes.append(theta)
        weights.append(u[0] ** 2)
    lo = min(float(t.min()) for t in nodes)
    hi = max(float(t.max()) for t in nodes)
    if sigma is None:
        sigma = max(sigma_rel * (hi - lo), 1e-12 * max(1.0, abs(hi)), 1e-12)
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, grid_size)
    dens = np.zeros(grid_size)
    norm = 1.0 / (sigma * math.sqrt(2 * math.pi) * n_runs)
    for t, w in zip(nodes, weights):
        dens += norm * (w[None, :] * np.exp(-0.5 * ((grid[:, None] - t[None, :]) / sigma) ** 2)
                        ).sum(axis=1)
    return SpectralDensity(grid, dens, nodes, weights, float(sigma))


def hessian_summary(model: Any, criterion: Callable[[Any, Any], Any], inputs: Any,
                    targets: Any = None, *, k: int = 1, n_probes: int = 50,
                    generator: Any = None, density: bool = False, m: int = 60,
                    train_mode: bool = False) -> dict[str, Any]:
    """Top-k eigenvalues (Lanczos), Hutchinson trace and, optionally, the SLQ density of the
    Hessian of ``criterion(model(inputs), targets)``: the numbers a report shows."""
    rng = as_rng(generator)
    op = HessianOperator.from_model(model, criterion, inputs, targets, train_mode=train_mode)
    top = top_eigenvalues(op, k, m=m, generator=rng)
    tr = hutchinson_trace(op, n_probes, generator=rng)
    out: dict[str, Any] = {"dim": op.dim, "loss": op.loss, "top_eigenvalues": top.tolist(),
                           "lambda_max": float(top[0]), "trace": tr.trace,
                           "trace_std_error": tr.std_error}
    if density:
        out["density"] = spectral_density(op, m=m, generator=rng)
    out["matvecs"] = op.matvecs
    return out
