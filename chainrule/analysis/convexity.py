"""Convexity: a sampling falsifier, and multistart as the practical consequence.

A twice-differentiable f is convex on a convex region iff its Hessian is positive semidefinite
everywhere there. Sampling cannot prove that, but one sample with λ_min(∇²f(x)) < 0, or one
chord with f((a + b)/2) > (f(a) + f(b))/2, disproves it: ``check_convexity`` returns that
point as the witness. For a convex function every local minimum is global and the minimizers
form a convex set (one point if f is strictly convex), so a local method reaches the same
optimum from any start; a neural network's loss has many distinct minima and saddles, and
``multistart`` shows the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule.analysis.critical import _Flat, hessian_matrix
from chainrule.constrained._inner import InnerBFGS, bfgs_minimize
from chainrule.tensor import Tensor, _wrap

__all__ = ["ConvexityReport", "MultistartReport", "check_convexity", "multistart"]


def _rng(generator: Any) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    return _random.rng(generator)


def _box(region: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        low, high = region
    except (TypeError, ValueError):
        raise TypeError("region must be a pair (low, high) of arrays/tensors shaped like x, or "
                        "a function generator -> point") from None
    low = np.asarray(low._array if isinstance(low, Tensor) else low, dtype=np.float64)
    high = np.asarray(high._array if isinstance(high, Tensor) else high, dtype=np.float64)
    low, high = np.broadcast_arrays(low, high)
    if np.any(low > high):
        raise ValueError("region: low > high somewhere")
    return low, high


def _sampler(region: Any, rng: np.random.Generator) -> Callable[[], np.ndarray]:
    if callable(region):
        def draw() -> np.ndarray:
            p = region(rng)
            return np.asarray(p._array if isinstance(p, Tensor) else p, dtype=np.float64)
        return draw
    low, high = _box(region)
    return lambda: rng.uniform(low, high)


@dataclass
class ConvexityReport:
    """Result of ``check_convexity``: ``convex`` is False when a witness disproves convexity,
    True when none was found among ``samples`` points (evidence, not proof).

    Example::

        import chainrule as cr
        from chainrule.analysis import check_convexity
        rep = check_convexity(lambda x: (x ** 4 - x ** 2).sum(), ([-2.0], [2.0]), samples=50,
                              generator=cr.Generator().manual_seed(0))
        rep.convex, rep.witness           # False, a point with |x| < 1/√6
    """

    convex: bool
    samples: int
    min_eigenvalue: float
    witness: np.ndarray | None = None
    witness_eigenvalue: float | None = None
    witness_direction: np.ndarray | None = None
    chord_witness: tuple[np.ndarray, np.ndarray] | None = None
    eigenvalue_min_per_sample: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def verdict(self) -> str:
        if self.convex:
            return f"no counterexample in {self.samples} samples (Hessian PSD at all of them)"
        if self.witness is not None:
            return (f"not convex: the Hessian has eigenvalue {self.witness_eigenvalue:.4g} < 0 "
                    f"at {np.array2string(self.witness, precision=4)}")
        a, b = self.chord_witness
        return (f"not convex: the chord between {np.array2string(a, precision=4)} and "
                f"{np.array2string(b, precision=4)} lies below the graph at its midpoint")

    def __str__(self) -> str:
        return (f"ConvexityReport: {self.verdict}\n"
                f"  smallest Hessian eigenvalue seen: {self.min_eigenvalue:.4g}")


def check_convexity(f: Callable[[Tensor], Tensor], region: Any, samples: int = 100,
                    generator: Any = None, tol: float = 1e-8, chord: bool = True
                    ) -> ConvexityReport:
    """Try to disprove the convexity of ``f`` on ``region``.

    ``region`` is a box ``(low, high)`` (arrays or tensors shaped like x) or a function
    ``rng -> point``. At each of ``samples`` random points the exact Hessian's smallest
    eigenvalue is computed; λ_min < -tol·max(1, |λ|max) is a witness. With ``chord=True``
    pairs of samples also test f((a+b)/2) <= (f(a)+f(b))/2 (which needs no derivative).
    """
    rng = _rng(generator)
    draw = _sampler(region, rng)
    shape = draw().shape
    flat = _Flat(f, _wrap(np.zeros(shape)))
    mins = np.zeros(samples)
    report = ConvexityReport(True, samples, np.inf)
    prev = None
    for k in range(samples):
        x = draw()
        H = hessian_matrix(f, _wrap(x.copy()))
        if not np.all(np.isfinite(H)):
            raise ValueError(f"check_convexity: the Hessian at sample {k} (x = {x.ravel()[:4]}"
                             "...) is not finite; restrict the region to where f is defined")
        w, V = np.linalg.eigh(H)
        mins[k] = w[0]
        if w[0] < -tol * max(1.0, float(np.abs(w).max())) and report.witness is None:
            report.convex = False
            report.witness, report.witness_eigenvalue = x.copy(), float(w[0])
            report.witness_direction = V[:, 0].reshape(shape)
        if chord and prev is not None and report.chord_witness is None:
            fa, fb = flat.value_and_grad(prev.reshape(-1))[0], flat.value_and_grad(x)[0]
            fm = flat.value_and_grad(0.5 * (prev + x).reshape(-1))[0]
            if fm > 0.5 * (fa + fb) + tol * max(1.0, abs(fa), abs(fb)):
                report.convex = False
                report.chord_witness = (prev.copy(), x.copy())
        prev = x
    report.min_eigenvalue = float(mins.min(initial=np.inf))
    report.eigenvalue_min_per_sample = mins
    return report


@dataclass
class MultistartReport:
    """Where a local minimizer ends from ``n_starts`` starts: the final losses and points, their
    spread, how many distinct end points (clusters within ``point_tol``) there are, and whether
    they are all one optimum."""

    final_losses: np.ndarray
    final_points: list[np.ndarray]
    loss_spread: float
    point_spread: float
    n_distinct: int
    same_optimum: bool

    def __str__(self) -> str:
        verdict = ("one optimum from every start" if self.same_optimum
                   else f"{self.n_distinct} distinct end points")
        return (f"MultistartReport: {verdict} ({len(self.final_points)} starts)\n"
                f"  final losses: min {self.final_losses.min():.6g}, max "
                f"{self.final_losses.max():.6g} (spread {self.loss_spread:.3g})\n"
                f"  largest distance between end points: {self.point_spread:.3g}")


def _clusters(points: list[np.ndarray], tol: float) -> int:
    reps: list[np.ndarray] = []
    for p in points:
        if not any(np.linalg.norm(p - r) <= tol * (1.0 + np.linalg.norm(r)) for r in reps):
            reps.append(p)
    return len(reps)


def _minimize_function(f: Callable[[Tensor], Tensor], region: Any, rng: np.random.Generator,
                       max_iter: int, gtol: float) -> tuple[np.ndarray, float]:
    flat = _Flat(f, _wrap(_sampler(region, rng)()))
    x, fx, _, _ = bfgs_minimize(flat.value_and_grad, flat.x, max_iter=max_iter, gtol=gtol)
    return x, fx


def _minimize_model(builder: Callable[..., Any], generator: Any, max_iter: int, gtol: float
                    ) -> tuple[np.ndarray, float]:
    params, loss_fn = builder(generator)
    params = list(params)
    opt = InnerBFGS(params, max_iter=max_iter, tolerance_grad=gtol)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    opt.step(closure)
    x = np.concatenate([p._array.reshape(-1) for p in params]).astype(np.float64)
    return x, float(loss_fn()._array)


def multistart(f_or_model_builder: Callable[..., Any], n_starts: int = 8, region: Any = None,
               generator: Any = None, max_iter: int = 500, gtol: float = 1e-8,
               point_tol: float = 1e-4) -> MultistartReport:
    """Minimize from ``n_starts`` random starts and compare where the runs end.

    Two forms: ``multistart(f, n, region=(low, high))`` minimizes ``f(x)`` from starts drawn
    uniformly in the box; ``multistart(builder, n)`` calls ``builder(generator)`` for each start,
    which returns ``(parameters, loss_fn)`` (e.g. a freshly initialised model's parameters and
    a closure computing its training loss). Each run is BFGS to ‖∇‖∞ <= ``gtol``.
    """
    rng_gen = generator if generator is not None else _random.Generator().manual_seed(0)
    losses, points = [], []
    for _ in range(n_starts):
        if region is not None:
            x, fx = _minimize_function(f_or_model_builder, region, _rng(rng_gen), max_iter, gtol)
        else:
            x, fx = _minimize_model(f_or_model_builder, rng_gen, max_iter, gtol)
        losses.append(float(fx))
        points.append(np.asarray(x, dtype=np.float64))
    L = np.asarray(losses)
    # np.max, not max(): a run that ended at NaN must make the spread NaN, not vanish
    spread = np.max([np.linalg.norm(a - b) for i, a in enumerate(points)
                     for b in points[i + 1:]], initial=0.0)
    n_distinct = _clusters(points, point_tol)
    finite = bool(np.all(np.isfinite(L)) and np.isfinite(spread))
    return MultistartReport(L, points, float(L.max() - L.min()), float(spread), n_distinct,
                            n_distinct == 1 and finite)
