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
* ``interior_point``: Mehrotra's predictor–corrector primal–dual method for convex problems
  (QPs and LPs in closed form, smooth convex problems through autograd) with slacks s = -g(x):
  Newton steps on  ∇ₓL = 0, h = 0, g + s = 0, sᵢμᵢ = σ·(sᵀμ/m)  keeping s, μ > 0.
* ``projected_gradient``: x ← P(x - t∇f(x)) with a backtracking step t and an exact projection
  P onto the feasible set (box from the bounds by default, or ``projections``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.backend import xp
from chainrule.constrained._inner import InnerBFGS
from chainrule.constrained.kkt import KKTReport, kkt_report
from chainrule.constrained.problem import Problem, QuadraticProblem
from chainrule.tensor import Tensor, _wrap, cat

__all__ = [
    "Solution", "augmented_lagrangian", "estimate_multipliers", "interior_point", "newton_kkt",
    "projected_gradient", "solve",
]


@dataclass
class Solution:
    """A solver's result: the point (tensors shaped like ``x0``), multipliers and KKT report.

    Example::

        import chainrule as cr
        from chainrule import constrained
        prob = constrained.Problem(lambda v: v.sum(), cr.zeros(2, dtype=cr.float64),
                                   ineq=lambda v: (v * v).sum() - 2)
        sol = constrained.solve(prob)       # the augmented Lagrangian
        sol.x, sol.mu, sol.fun              # tensor([-1., -1.]), [0.5], -2.0
        sol.kkt.ok()                        # all KKT residuals <= 1e-6
        print(sol)
    """

    x: Tensor | tuple[Tensor, ...]
    x_flat: np.ndarray
    lam: np.ndarray
    mu: np.ndarray
    fun: float
    kkt: KKTReport
    n_iter: int
    converged: bool
    method: str
    history: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        head = (f"Solution by {self.method}: {'converged' if self.converged else 'NOT converged'}"
                f" in {self.n_iter} iterations\n  x = {np.array2string(self.x_flat, precision=8)}")
        return head + "\n" + str(self.kkt)


def _finish(problem: Problem, x: np.ndarray, lam: np.ndarray, mu: np.ndarray, n_iter: int,
            converged: bool, method: str, history: list[float]) -> Solution:
    rep = kkt_report(problem, x, lam, mu)
    return Solution(problem.to_tensors(x), x.copy(), lam.copy(), mu.copy(), rep.objective, rep,
                    n_iter, converged, method, history)


def _start(problem: Problem, x0: Any) -> np.ndarray:
    return problem.x0.copy() if x0 is None else problem.flatten(x0)


def _solve_linear(K: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve K u = rhs; least squares when K is singular (e.g. redundant constraints)."""
    try:
        u = xp.linalg.solve(K, rhs)
        if np.all(np.isfinite(u)):
            return u
    except xp.linalg.LinAlgError:
        pass
    return xp.linalg.lstsq(K, rhs, rcond=None)[0]


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
    x = _start(problem, x0)
    lam = np.zeros(problem.n_eq) if lam0 is None else np.asarray(lam0, dtype=np.float64).ravel()
    mu = np.zeros(0)
    history: list[float] = []
    steps, converged = 0, False
    for _ in range(max_iter + 1):
        gf, J, h = problem.grad(x), problem.eq_jac(x), problem.eq(x)
        res = max(np.abs(gf + J.T @ lam).max(initial=0.0), np.abs(h).max(initial=0.0))
        history.append(float(res))
        if res <= tol:
            converged = True
            break
        if steps == max_iter:
            break
        H = problem.lagrangian_hessian(x, lam, mu)
        u = _solve_linear(_kkt_matrix(H, J), np.concatenate([-gf, -h]))
        x, lam = x + u[: problem.n], u[problem.n:]
        steps += 1
    return _finish(problem, x, lam, mu, steps, converged, "newton_kkt", history)


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
    did not shrink by 4. Stops when every KKT residual is <= ``tol``.
    """
    make = _inner_factory(optimizer, 0.1 * tol)
    x = _start(problem, x0)
    parts = problem.unflatten(_wrap(x.copy()))
    leaves = [_wrap(p.data.copy(), requires_grad=True) for p in parts]
    lam, mu = problem._multipliers(lam0, mu0)
    mu = np.maximum(mu, 0.0)
    state = {"lam": lam, "mu": mu, "rho": float(rho)}

    def closure() -> Tensor:
        for p in leaves:
            p.grad = None
        z = cat([p.reshape(-1) for p in leaves]) if leaves else _wrap(np.zeros(0))
        loss = problem.objective(z)
        r = state["rho"]
        if problem.n_eq:
            h = problem.eq_tensor(z)
            loss = loss + (h * _wrap(state["lam"])).sum() + 0.5 * r * (h * h).sum()
        if problem.n_ineq:
            m = state["mu"]
            t = (problem.ineq_tensor(z) * r + _wrap(m)).relu()
            loss = loss + ((t * t).sum() - float(m @ m)) / (2 * r)
        loss.backward()
        return loss

    history: list[float] = []
    prev_viol, converged, outer = np.inf, False, 0
    for outer in range(1, max_outer + 1):  # noqa: B007 - the count is reported
        opt = make(leaves)
        prev_g = np.inf
        for _ in range(inner_steps):
            opt.step(closure)
            grads = [p.grad.data.ravel() for p in leaves if p.grad is not None]
            gnorm = float(np.abs(np.concatenate(grads)).max()) if grads else 0.0
            if gnorm <= 0.1 * tol or gnorm > 0.5 * prev_g:  # converged, or the inner one stalls
                break
            prev_g = gnorm
        x = np.concatenate([p.data.reshape(-1) for p in leaves]).astype(np.float64)
        h, g = problem.eq(x), problem.ineq(x)
        r = state["rho"]
        viol = max(np.abs(h).max(initial=0.0),
                   np.abs(np.minimum(-g, state["mu"] / r)).max(initial=0.0))
        state["lam"] = state["lam"] + r * h
        state["mu"] = np.maximum(0.0, state["mu"] + r * g)
        rep = kkt_report(problem, x, state["lam"], state["mu"])
        history.append(rep.max_residual)
        if rep.max_residual <= tol:
            converged = True
            break
        if viol > max(0.25 * prev_viol, 0.1 * tol):  # feasibility stalls: penalise harder
            state["rho"] = min(10.0 * r, rho_max)
        prev_viol = viol
    return _finish(problem, x, state["lam"], state["mu"], outer, converged,
                   "augmented_lagrangian", history)


# ---- primal–dual interior point ---------------------------------------------------------------
def _max_step(v: np.ndarray, dv: np.ndarray) -> float:
    """The largest α <= 1 with v + α dv >= 0."""
    neg = dv < 0
    return float(min(1.0, np.min(-v[neg] / dv[neg], initial=np.inf)))


class _IPState:
    """Derivatives of the problem at x, reused by the predictor and the corrector."""

    def __init__(self, problem: Problem, x: np.ndarray, lam: np.ndarray, mu: np.ndarray,
                 s: np.ndarray) -> None:
        self.H = problem.lagrangian_hessian(x, lam, mu)
        self.Jh, self.Jg = problem.eq_jac(x), problem.ineq_jac(x)
        self.r_d = problem.grad(x) + self.Jh.T @ lam + self.Jg.T @ mu
        self.r_e = problem.eq(x)
        self.r_i = problem.ineq(x) + s
        self.s, self.mu = s, mu
        D = mu / s
        K = _kkt_matrix(self.H + self.Jg.T @ (D[:, None] * self.Jg), self.Jh)
        self.K = K

    def direction(self, r_c: np.ndarray) -> tuple[np.ndarray, ...]:
        """Newton step for the residuals with complementarity residual r_c (= sμ - target)."""
        n = self.H.shape[0]
        rhs = np.concatenate([-self.r_d + self.Jg.T @ ((r_c - self.mu * self.r_i) / self.s),
                              -self.r_e])
        u = _solve_linear(self.K, rhs)
        dx, dlam = u[:n], u[n:]
        ds = -self.r_i - self.Jg @ dx
        dmu = (-r_c - self.mu * ds) / self.s
        return dx, dlam, dmu, ds

    def residual(self) -> float:
        return float(max(np.abs(self.r_d).max(initial=0.0), np.abs(self.r_e).max(initial=0.0),
                         np.abs(self.r_i).max(initial=0.0)))


def interior_point(problem: Problem, x0: Any = None, max_iter: int = 200, tol: float = 1e-10
                   ) -> Solution:
    """Primal–dual interior point for convex problems (f, g convex, h affine).

    Slacks s = -g(x) >= 0 turn g(x) <= 0 into g + s = 0; each iteration takes a Newton step on
    (∇ₓL, h, g + s, Sμ - τ·1) for a barrier target τ, staying strictly inside s, μ > 0
    (fraction to the boundary 0.995). Quadratic and linear programs use Mehrotra's
    predictor–corrector (τ = σ·sᵀμ/m with σ = (gap_affine/gap)³ from a predictor step).
    Other problems use autograd's Hessian of L and the line-search method of Nocedal & Wright
    (Alg. 19.2): τ decreases once the barrier subproblem is solved to 10τ, and the primal step
    backtracks on the merit f - τΣlog s + ν(‖h‖₁ + ‖g + s‖₁).
    """
    if isinstance(problem, QuadraticProblem):
        if not problem.is_convex:
            raise ValueError(f"interior_point needs a convex problem: G has the eigenvalue "
                             f"{problem._eig[0].min():.3g} < 0")
        return _mehrotra(problem, _start(problem, x0), max_iter, tol)
    return _barrier_line_search(problem, _start(problem, x0), max_iter, tol)


def _mehrotra(problem: QuadraticProblem, x: np.ndarray, max_iter: int, tol: float) -> Solution:
    m = problem.n_ineq
    lam = np.zeros(problem.n_eq)
    s = np.maximum(-problem.ineq(x), 1.0)
    mu = np.ones(m)
    history: list[float] = []
    converged, it = False, 0
    for it in range(max_iter + 1):  # noqa: B007 - the count is reported
        st = _IPState(problem, x, lam, mu, s)
        gap = float(s @ mu) / m if m else 0.0
        history.append(max(st.residual(), gap))
        if st.residual() <= tol and gap <= tol:
            converged = True
            break
        if it == max_iter:
            break
        if not m:  # no inequalities: one Newton step on the KKT system is exact
            dx, dlam, _, _ = st.direction(np.zeros(0))
            x, lam = x + dx, lam + dlam
            continue
        dx, dlam, dmu, ds = st.direction(s * mu)
        a_aff = min(_max_step(s, ds), _max_step(mu, dmu))
        gap_aff = float((s + a_aff * ds) @ (mu + a_aff * dmu)) / m
        sigma = (gap_aff / gap) ** 3
        dx, dlam, dmu, ds = st.direction(s * mu + ds * dmu - sigma * gap)
        alpha = min(1.0, max(0.995, 1.0 - gap) * min(_max_step(s, ds), _max_step(mu, dmu)))
        x, lam, mu, s = x + alpha * dx, lam + alpha * dlam, mu + alpha * dmu, s + alpha * ds
    return _finish(problem, x, lam, mu, it, converged, "interior_point", history)


def _barrier_merit(problem: Problem, x: np.ndarray, s: np.ndarray, tau: float,
                   nu: float) -> tuple[float, float]:
    """(f - τΣlog s + ν·infeasibility, infeasibility = ‖h‖₁ + ‖g + s‖₁)."""
    infeas = float(np.abs(problem.eq(x)).sum() + np.abs(problem.ineq(x) + s).sum())
    return problem.fun(x) - tau * float(np.log(s).sum()) + nu * infeas, infeas


def _barrier_line_search(problem: Problem, x: np.ndarray, max_iter: int, tol: float
                         ) -> Solution:
    m = problem.n_ineq
    lam = np.zeros(problem.n_eq)
    s = np.maximum(-problem.ineq(x), 1.0)
    tau = float(s.mean()) if m else 0.0
    mu = tau / s
    nu = 1.0
    history: list[float] = []
    converged, it = False, 0
    for it in range(max_iter + 1):  # noqa: B007 - the count is reported
        st = _IPState(problem, x, lam, mu, s)
        comp = float(np.abs(s * mu).max(initial=0.0))
        history.append(max(st.residual(), comp))
        if st.residual() <= tol and comp <= tol:
            converged = True
            break
        if it == max_iter:
            break
        if m and max(st.residual(), float(np.abs(s * mu - tau).max())) <= 10 * tau:
            tau = max(0.1 * tol, min(0.2 * tau, tau ** 1.5))
        dx, dlam, dmu, ds = st.direction(s * mu - tau)
        a_p = min(1.0, 0.995 * _max_step(s, ds)) if m else 1.0
        a_d = min(1.0, 0.995 * _max_step(mu, dmu)) if m else 1.0
        nu = max(nu, 2.0 * float(np.abs(np.concatenate([lam + dlam, mu + dmu])).max(initial=0)))
        phi, infeas = _barrier_merit(problem, x, s, tau, nu)
        slope = float(problem.grad(x) @ dx) - tau * float(np.sum(ds / s)) - nu * infeas
        for _ in range(40):
            new, _ = _barrier_merit(problem, x + a_p * dx, s + a_p * ds, tau, nu)
            if np.isfinite(new) and (new <= phi + 1e-4 * a_p * min(slope, 0.0)):
                break
            a_p *= 0.5
        x, s = x + a_p * dx, s + a_p * ds
        if m:  # slack reset: s >= -g(x) only lowers the barrier term and the infeasibility
            s = np.maximum(s, -problem.ineq(x))
        lam, mu = lam + a_d * dlam, mu + a_d * dmu
    return _finish(problem, x, lam, mu, it, converged, "interior_point", history)


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
        out = out.data if isinstance(out, Tensor) else out
        return np.asarray(out, dtype=np.float64).reshape(-1)

    x = P(_start(problem, x0))
    fx, gx = problem.fun(x), problem.grad(x)
    t = float(lr) if lr is not None else 1.0 / max(np.abs(gx).max(initial=0.0), 1e-12)
    recent = [fx]
    history: list[float] = []
    converged, it = False, 0
    for it in range(max_iter + 1):  # noqa: B007 - the count is reported
        mapping = float(np.abs(x - P(x - gx)).max(initial=0.0))
        history.append(mapping)
        if mapping <= tol:
            converged = True
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
    lam, mu = estimate_multipliers(problem, x)
    return _finish(problem, x, lam, mu, it, converged, "projected_gradient", history)


def solve(problem: Problem, method: str = "auto", **kwargs: Any) -> Solution:
    """Pick a solver: ``newton_kkt`` for equality-constrained QPs, ``interior_point`` for QPs and
    LPs with inequalities, ``augmented_lagrangian`` otherwise (or name ``method``)."""
    methods = {"newton_kkt": newton_kkt, "augmented_lagrangian": augmented_lagrangian,
               "interior_point": interior_point, "projected_gradient": projected_gradient}
    if method == "auto":
        if isinstance(problem, QuadraticProblem):
            method = "newton_kkt" if problem.n_ineq == 0 else "interior_point"
        else:
            method = "augmented_lagrangian"
    if method not in methods:
        raise ValueError(f"solve: unknown method {method!r}; choose one of {sorted(methods)}")
    return methods[method](problem, **kwargs)
