"""Solvers for ``Problem``: equality Newton, augmented Lagrangian, interior point, projection.

Each returns a :class:`Solution` with the point, the multipliers (λ for h = 0, μ for g <= 0,
bounds included, L = f + λᵀh + μᵀg) and the :class:`KKTReport` of the result.

* ``newton_kkt``: Newton's method on the KKT equations of an equality-constrained problem,

      [ ∇²ₓL   ∇hᵀ ] [ Δx ]   [ -∇f ]
      [ ∇h     0   ] [ λ⁺ ] = [ -h  ],

  exact in one step on a quadratic program (the system is then the optimality condition itself).
* ``augmented_lagrangian``: the method of multipliers (Hestenes, Powell, Rockafellar),

      L_ρ(x) = f + λᵀh + ρ/2 ‖h‖² + 1/(2ρ) Σ (max(0, μ + ρg)² - μ²),
      λ ← λ + ρ h(x),   μ ← max(0, μ + ρ g(x)),

  minimizing L_ρ over x with any chainrule optimizer (default ``chainrule.optim.LBFGS``, or the
  package's own BFGS when ``chainrule.optim`` is not available).
* ``interior_point`` (module ``interior``): primal–dual with slacks s = -g(x), Newton steps on
  ∇ₓL = 0, h = 0, g + s = 0, sᵢμᵢ = target, keeping s, μ > 0: Mehrotra's predictor–corrector
  for convex QPs and LPs (with infeasibility/unboundedness certificates), a barrier line
  search with inertia correction for any other smooth problem. The default of ``solve``.
* ``projected_gradient``: x ← P(x - t∇f(x)) with a backtracking step t and an exact projection
  P onto the feasible set (box from the bounds by default, or ``projections``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.backend import xp
from chainrule.constrained._inner import InnerBFGS
from chainrule.constrained.interior import barrier_interior_point, interior_point
from chainrule.constrained.kkt import kkt_report
from chainrule.constrained.problem import Problem, QuadraticProblem
from chainrule.constrained.solution import (
    NumericalFailure,
    Solution,
    check_finite,
    check_options,
    name_non_finite,
    restart_from_saddles,
    scaled_objective,
    start_multipliers,
    start_point,
    unscale,
)
from chainrule.constrained.solution import finish as _finish
from chainrule.tensor import Tensor, _wrap, cat

__all__ = [
    "Solution", "augmented_lagrangian", "estimate_multipliers", "interior_point", "newton_kkt",
    "projected_gradient", "solve",
]


def _start(problem: Problem, x0: Any, owner: str = "solve") -> np.ndarray:
    return start_point(problem, x0, owner)


def _solve_linear(K: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve K u = rhs; least squares when K is singular (e.g. redundant constraints). A
    non-finite K or rhs raises ``NumericalFailure`` first: LAPACK must never see a NaN."""
    check_finite(K, "entry in the KKT matrix")
    check_finite(rhs, "entry in the KKT right-hand side")
    try:
        u = xp.linalg.solve(K, rhs)
        if np.all(np.isfinite(u)):
            return u
    except xp.linalg.LinAlgError:
        pass
    try:
        u = xp.linalg.lstsq(K, rhs, rcond=None)[0]
    except xp.linalg.LinAlgError as err:
        raise NumericalFailure(f"the KKT system could not be solved ({err})") from err
    check_finite(u, "Newton step")
    return u


def _kkt_matrix(H: np.ndarray, J: np.ndarray) -> np.ndarray:
    """[[H, Jᵀ], [J, 0]]."""
    p = J.shape[0]
    return np.block([[H, J.T], [J, np.zeros((p, p))]])


# ---- equality-constrained Newton ------------------------------------------------------------
def newton_kkt(problem: Problem, x0: Any = None, lam0: Any = None, max_iter: int = 50,
               tol: float = 1e-10) -> Solution:
    """Newton's method on the KKT system of min f(x) s.t. h(x) = 0 (no inequalities, no bounds).

    Each step solves [[∇²ₓL, ∇hᵀ], [∇h, 0]] [Δx; λ⁺] = [-∇f; -h]; a quadratic program is
    solved exactly by the first step. Converges locally (quadratically) on smooth problems.
    """
    if problem.n_ineq:
        raise ValueError(f"newton_kkt solves equality-constrained problems; this one has "
                         f"{problem.n_ineq} inequality rows (bounds included): use "
                         "interior_point or augmented_lagrangian")
    check_options("newton_kkt", counts={"max_iter": max_iter}, tolerances={"tol": tol})
    x = _start(problem, x0, "newton_kkt")
    lam, mu = start_multipliers(problem, lam0, None, "newton_kkt")
    history: list[float] = []
    steps, status, message = 0, "max_iter", ""
    try:
        for _ in range(max_iter + 1):
            gf, J, h = problem.grad(x), problem.eq_jac(x), problem.eq(x)
            check_finite(gf, "gradient of f")
            check_finite(h, "equality constraint value h(x)")
            # np.max, not max(): a NaN residual must propagate (max(1.0, nan) is 1.0)
            res = float(np.max([np.abs(gf + J.T @ lam).max(initial=0.0),
                                np.abs(h).max(initial=0.0)]))
            history.append(res)
            if res <= tol:
                status = "optimal"
                break
            if steps == max_iter:
                break
            H = problem.lagrangian_hessian(x, lam, mu)
            u = _solve_linear(_kkt_matrix(H, J), np.concatenate([-gf, -h]))
            x, lam = x + u[: problem.n], u[problem.n:]
            steps += 1
    except NumericalFailure as err:
        status, message = "numerical", f"newton_kkt: {err} at step {steps}"
    return _finish(problem, x, lam, mu, steps, status, "newton_kkt", history, message)


# ---- augmented Lagrangian ----------------------------------------------------------------------
def _default_inner(tol: float) -> Callable[[list[Tensor]], Any]:
    """chainrule.optim.LBFGS when it exists, otherwise the package's dense BFGS."""
    try:
        from chainrule.optim import LBFGS
    except ImportError:
        LBFGS = None
    if LBFGS is not None:
        def make(params: list[Tensor]) -> Any:
            return LBFGS(params, lr=1, max_iter=200, tolerance_grad=tol, tolerance_change=1e-16,
                         history_size=20, line_search_fn="strong_wolfe")
        return make
    return lambda params: InnerBFGS(params, max_iter=500, tolerance_grad=tol)


def _inner_factory(optimizer: Any, tol: float) -> Callable[[list[Tensor]], Any]:
    if optimizer is None or optimizer == "lbfgs":
        return _default_inner(tol)
    if optimizer == "bfgs":
        return lambda params: InnerBFGS(params, max_iter=500, tolerance_grad=tol)
    if callable(optimizer):
        return optimizer
    raise ValueError(f"augmented_lagrangian: optimizer must be None, 'lbfgs', 'bfgs' or a "
                     f"callable params -> optimizer, got {optimizer!r}")


def augmented_lagrangian(problem: Problem, x0: Any = None, optimizer: Any = None,
                         rho: float = 10.0, rho_max: float = 1e8, max_outer: int = 50,
                         inner_steps: int = 20, tol: float = 1e-6, lam0: Any = None,
                         mu0: Any = None) -> Solution:
    """The method of multipliers for general smooth problems.

    Minimizes L_ρ(x) = f + λᵀh + ρ/2‖h‖² + 1/(2ρ)Σ(max(0, μ+ρg)² - μ²) with a fresh inner
    optimizer per outer iteration (``optimizer(params)``: any chainrule optimizer, e.g.
    ``lambda p: chainrule.optim.Adam(p, lr=1e-2)``; ``inner_steps`` calls of ``step(closure)``
    each), then λ ← λ + ρh, μ ← max(0, μ + ρg); ρ grows tenfold when the constraint violation
    did not shrink by 4. Stops when every KKT residual is <= ``tol``. Ending at a KKT point
    that is not a minimum (a saddle: the inner optimizer sees ∇L = 0 there), it restarts from
    a lower point along the direction of negative curvature.
    """
    check_options("augmented_lagrangian", counts={"max_outer": max_outer,
                                                  "inner_steps": inner_steps},
                  tolerances={"tol": tol}, positive={"rho": rho, "rho_max": rho_max})
    x = _start(problem, x0, "augmented_lagrangian")
    lam, mu = start_multipliers(problem, lam0, mu0, "augmented_lagrangian")

    scaled, sigma = scaled_objective(problem, x)  # a tiny f would pass any absolute test

    def run(start: np.ndarray) -> Solution:
        return _augmented_lagrangian(scaled, start, optimizer, rho, rho_max, max_outer,
                                     inner_steps, tol, lam / sigma, mu / sigma)

    return unscale(problem, restart_from_saddles(scaled, run(x), run), sigma)


def _augmented_lagrangian(problem: Problem, x: np.ndarray, optimizer: Any, rho: float,
                          rho_max: float, max_outer: int, inner_steps: int, tol: float,
                          lam: np.ndarray, mu: np.ndarray) -> Solution:
    """One run of the method of multipliers from the flat point ``x``."""
    make = _inner_factory(optimizer, 0.1 * tol)
    parts = problem.unflatten(_wrap(x.copy()))
    leaves = [_wrap(p._array.copy(), requires_grad=True) for p in parts]
    mu = np.maximum(mu, 0.0)
    state = {"lam": lam, "mu": mu, "rho": float(rho)}

    def closure() -> Tensor:
        for p in leaves:
            p.grad = None
        z = cat([p.reshape(-1) for p in leaves]) if leaves else _wrap(np.zeros(0))
        loss = problem.objective(z)
        # the first non-finite value stops the solver (an optimizer would carry it for ages)
        check_finite(loss._array, "objective f(x)")
        r = state["rho"]
        if problem.n_eq:
            h = problem.eq_tensor(z)
            check_finite(h._array, "equality constraint value h(x)")
            loss = loss + (h * _wrap(state["lam"])).sum() + 0.5 * r * (h * h).sum()
        if problem.n_ineq:
            m = state["mu"]
            gz = problem.ineq_tensor(z)
            check_finite(gz._array, "inequality constraint value g(x)")
            t = (gz * r + _wrap(m)).relu()
            loss = loss + ((t * t).sum() - float(m @ m)) / (2 * r)
        loss.backward()
        for p in leaves:
            if p.grad is not None:
                check_finite(p.grad._array, "gradient of the augmented Lagrangian")
        return loss

    history: list[float] = []
    prev_viol, status, message, outer = np.inf, "max_iter", "", 0
    try:
        for outer in range(1, max_outer + 1):  # noqa: B007 - the count is reported
            opt = make(leaves)
            prev_g = np.inf
            for _ in range(inner_steps):
                opt.step(closure)
                grads = [p.grad._array.ravel() for p in leaves if p.grad is not None]
                gnorm = float(np.abs(np.concatenate(grads)).max()) if grads else 0.0
                if gnorm <= 0.1 * tol or gnorm > 0.5 * prev_g:  # converged, or inner stalls
                    break
                prev_g = gnorm
            x = np.concatenate([p._array.reshape(-1) for p in leaves]).astype(np.float64)
            h, g = problem.eq(x), problem.ineq(x)
            r = state["rho"]
            viol = float(np.max([np.abs(h).max(initial=0.0),
                                 np.abs(np.minimum(-g, state["mu"] / r)).max(initial=0.0)]))
            state["lam"] = state["lam"] + r * h
            state["mu"] = np.maximum(0.0, state["mu"] + r * g)
            rep = kkt_report(problem, x, state["lam"], state["mu"])
            history.append(rep.max_residual)
            if not rep.finite:
                raise NumericalFailure("KKT residual at the end of an outer iteration")
            if rep.max_residual <= tol:
                status = "optimal"
                break
            if viol > max(0.25 * prev_viol, 0.1 * tol):  # feasibility stalls: penalise harder
                state["rho"] = min(10.0 * r, rho_max)
            prev_viol = viol
    except NumericalFailure as err:
        x = np.concatenate([p._array.reshape(-1) for p in leaves]).astype(np.float64)
        status, message = "numerical", f"augmented_lagrangian: {err} in outer iteration {outer}"
        culprit = name_non_finite(problem, x)
        if culprit:
            message += f" ({culprit})"
    return _finish(problem, x, state["lam"], state["mu"], outer, status,
                   "augmented_lagrangian", history, message)


# ---- projected gradient ----------------------------------------------------------------------
def estimate_multipliers(problem: Problem, x: Any, active_tol: float = 1e-6
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares multipliers at x: min ‖∇f + ∇hᵀλ + ∇g_Aᵀμ_A‖ over λ free and μ_A >= 0 on
    the active set A = {j : gⱼ(x) >= -active_tol} (μ = 0 elsewhere)."""
    from scipy.optimize import lsq_linear

    xf = problem.flatten(x) if not isinstance(x, np.ndarray) else x
    g = problem.ineq(xf)
    active = np.flatnonzero(g >= -active_tol)
    M = np.hstack([problem.eq_jac(xf).T, problem.ineq_jac(xf)[active].T])
    lam, mu = np.zeros(problem.n_eq), np.zeros(problem.n_ineq)
    if M.shape[1] == 0:
        return lam, mu
    lo = np.concatenate([np.full(problem.n_eq, -np.inf), np.zeros(active.size)])
    res = lsq_linear(M, -problem.grad(xf), bounds=(lo, np.full(M.shape[1], np.inf)),
                     method="bvls", tol=1e-15)
    lam = res.x[: problem.n_eq]
    mu[active] = res.x[problem.n_eq:]
    return lam, mu


def projected_gradient(problem: Problem, project: Callable[[np.ndarray], Any] | None = None,
                       x0: Any = None, lr: float | None = None, max_iter: int = 5000,
                       tol: float = 1e-9, memory: int = 10) -> Solution:
    """Projected gradient descent on the flat vector: x⁺ = x + a·(P(x - t∇f(x)) - x).

    ``project`` maps a flat array to its projection onto the feasible set (a tuple result, such
    as ``project_simplex``'s, uses its first item); by default the box of the problem's bounds.
    With a fixed ``lr`` this is the classical x⁺ = P(x - lr·∇f(x)) (a = 1). Without it, the
    spectral projected gradient of Birgin, Martínez & Raydan (2000): t is the Barzilai–Borwein
    step sᵀs/sᵀy and a is halved until the non-monotone Armijo condition
    f(x⁺) <= max(last ``memory`` values of f) + 10⁻⁴·a·∇fᵀd holds, which converges much faster
    than a fixed step. Stops when the gradient mapping ‖x - P(x - ∇f(x))‖∞ <= tol; the
    multipliers are then estimated on the active set (so the problem's constraints should
    describe the same set as ``project`` for the KKT report to be meaningful).
    """
    check_options("projected_gradient", counts={"max_iter": max_iter, "memory": memory},
                  tolerances={"tol": tol}, positive={"lr": lr})
    if memory < 1:
        raise ValueError(f"projected_gradient: memory must be >= 1, got {memory}")
    if project is None:
        if problem.n_eq or problem.n_ineq_user:
            raise ValueError("projected_gradient: the problem has constraints other than bounds;"
                             " pass project= (the projection onto its feasible set)")
        lb, ub = problem.lb, problem.ub

        def project(v: np.ndarray) -> np.ndarray:
            return np.clip(v, lb, ub)

    def P(v: np.ndarray) -> np.ndarray:
        out = project(v)
        out = out[0] if isinstance(out, tuple) else out
        out = out._array if isinstance(out, Tensor) else out
        return np.asarray(out, dtype=np.float64).reshape(-1)

    x = P(_start(problem, x0, "projected_gradient"))
    fx, gx = problem.fun(x), problem.grad(x)
    t = float(lr) if lr is not None else 1.0 / max(np.abs(gx).max(initial=0.0), 1e-12)
    recent = [fx]
    history: list[float] = []
    status, message, it = "max_iter", "", 0
    for it in range(max_iter + 1):  # noqa: B007 - the count is reported
        mapping = float(np.abs(x - P(x - gx)).max(initial=0.0))
        history.append(mapping)
        if not np.isfinite(mapping) or not np.isfinite(fx):
            where = "objective f(x)" if not np.isfinite(fx) else "gradient or projection"
            status = "numerical"
            message = f"projected_gradient: non-finite {where} at iteration {it}"
            break
        if mapping <= tol:
            status = "optimal"
            break
        if it == max_iter:
            break
        d = P(x - t * gx) - x
        a = 1.0
        if lr is None:
            ref, slope = max(recent), float(gx @ d)
            for _ in range(60):
                f_new = problem.fun(x + a * d)
                if f_new <= ref + 1e-4 * a * slope:
                    break
                a *= 0.5
        x_new = x + a * d
        f_new = problem.fun(x_new)
        g_new = problem.grad(x_new)
        if lr is None:
            s_, y_ = x_new - x, g_new - gx
            sy = float(s_ @ y_)
            t = float(np.clip(s_ @ s_ / sy, 1e-12, 1e12)) if sy > 0 else 1e12 if a == 1 else t
            recent = (recent + [f_new])[-memory:]
        x, fx, gx = x_new, f_new, g_new
    if status == "numerical":
        lam, mu = np.zeros(problem.n_eq), np.zeros(problem.n_ineq)
    else:
        lam, mu = estimate_multipliers(problem, x)
    return _finish(problem, x, lam, mu, it, status, "projected_gradient", history, message)


def solve(problem: Problem, method: str = "auto", **kwargs: Any) -> Solution:
    """Solve ``problem`` with the named ``method`` or, with ``"auto"``: ``newton_kkt`` for an
    equality-constrained convex QP (one exact step; if it does not end "optimal", the QP is
    unbounded or infeasible and ``interior_point`` returns that status with its certificate),
    ``interior_point`` for everything else:
    Mehrotra's method on convex QPs/LPs (with infeasibility/unboundedness certificates), the
    barrier method with inertia correction on general smooth problems, convex or not (a
    second-order method: it converges where the augmented Lagrangian's first-order outer loop
    stalls, e.g. on Hock–Schittkowski 71)."""
    methods = {"newton_kkt": newton_kkt, "augmented_lagrangian": augmented_lagrangian,
               "interior_point": interior_point, "projected_gradient": projected_gradient}
    if method == "auto":
        convex_qp = isinstance(problem, QuadraticProblem) and problem.is_convex
        if convex_qp and problem.n_ineq == 0:
            sol = newton_kkt(problem, **kwargs)
            if sol.status == "optimal":
                return sol
            # no exact step: the QP is unbounded (a free direction of descent) or its equalities
            # are inconsistent; Mehrotra's method proves which, with a certificate
            return interior_point(problem, **kwargs)
        elif isinstance(problem, QuadraticProblem) and not convex_qp:
            return barrier_interior_point(problem, **kwargs)
        else:
            method = "interior_point"
    if method not in methods:
        raise ValueError(f"solve: unknown method {method!r}; choose one of {sorted(methods)}")
    return methods[method](problem, **kwargs)
