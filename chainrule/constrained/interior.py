"""Primal–dual interior point: Mehrotra's method for convex QPs/LPs, a barrier method for NLPs.

Slacks s = -g(x) turn g(x) <= 0 into g(x) + s = 0, s >= 0. With W = ∇²ₓL and D = diag(μ/s)
every Newton step solves the reduced KKT system

    [ W + ∇gᵀD∇g + δ_w I    ∇hᵀ   ] [ Δx ]   [ -r_d + ∇gᵀ((r_c - μ∘r_i)/s) ]
    [ ∇h                  -δ_c I  ] [ Δλ ] = [ -r_e                         ],

then Δs = -r_i - ∇gΔx and Δμ = (-r_c - μ∘Δs)/s, for the residuals r_d = ∇ₓL, r_e = h,
r_i = g + s and r_c = s∘μ - target. The matrix is factored as LDLᵀ (Bunch–Kaufman,
``scipy.linalg.ldl``); its inertia (the signs of D's eigenvalues) tells whether the step is a
descent direction. Numerical safeguards, the points where the earlier version failed:

* the fraction to the boundary is a fixed τ = 0.995: α = min(1, 0.995·α_max) keeps
  s_new >= 0.005·s > 0 and μ_new >= 0.005·μ > 0, so D = μ/s stays finite;
* QPs/LPs factor with a tiny regularisation δ_w = δ_c = 1e-10 (a quasi-definite matrix, so
  redundant equality rows or free directions of an LP do not make it singular) and remove its
  effect by iterative refinement against the exact matrix;
* non-convex problems raise δ_w until the inertia is (n, p, 0) (Wächter & Biegler 2006, the
  IPOPT rule): the reduced Hessian is then positive definite and Δx a descent direction;
* a non-finite value anywhere (a matrix, a direction, f, g, a derivative) stops the solver with
  ``status="numerical"`` and a message naming it, instead of reaching LAPACK.

Infeasible and unbounded QPs/LPs (the standard certificates, see ``_diagnose``): when the
iterates of Mehrotra's method stall or diverge, two auxiliary LPs that are always feasible and
bounded are solved by the same method. Phase one, min 1ᵀ(p + q) + t s.t. Ax - b = p - q,
Cx - d <= t·1, p, q, t >= 0, has optimum 0 exactly when the constraints are consistent; a
positive optimum comes with its multipliers (y, z), a Farkas certificate Aᵀy + Cᵀz = 0, z >= 0,
bᵀy + dᵀz < 0. If the constraints are consistent, min cᵀr over the recession directions
Ar = 0, Cr <= 0, Gr = 0, -1 <= r <= 1 is negative exactly when the convex QP is unbounded below
(Frank–Wolfe: a convex QP that is bounded below attains its minimum), and r is the ray.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg

from chainrule.constrained.problem import LinearProblem, Problem, QuadraticProblem
from chainrule.constrained.solution import (
    NumericalFailure,
    Solution,
    check_finite,
    check_options,
    finish,
    restart_from_saddles,
    scaled_objective,
    start_point,
    unscale,
)

__all__ = ["barrier_interior_point", "interior_point"]

FRACTION = 0.995  # the step keeps at least 0.5 % of every slack and multiplier
QP_REG = 1e-10  # δ_w = δ_c for QPs and LPs, removed by iterative refinement
ROUNDOFF = 10 * np.finfo(np.float64).eps  # relative noise allowed in the merit's decrease


def _max_step(v: np.ndarray, dv: np.ndarray) -> float:
    """The largest α <= 1 with v + α dv >= 0 (v > 0)."""
    neg = dv < 0
    with np.errstate(over="ignore"):  # v/|dv| = inf only means "no limit from this entry"
        return float(min(1.0, np.min(-v[neg] / dv[neg], initial=np.inf)))


def _boundary_step(v: np.ndarray, dv: np.ndarray) -> float:
    """α = min(1, τ·α_max) with τ = 0.995: v + α dv >= 0.005 v stays strictly positive."""
    return min(1.0, FRACTION * _max_step(v, dv))


class _LDL:
    """K = P L D Lᵀ Pᵀ (``scipy.linalg.ldl``) with K's inertia read off D's 1×1/2×2 blocks.

    D = V diag(e) Vᵀ is inverted through its eigenvalues. A pivot with |e| <= ``floor`` counts
    as zero for the inertia and is raised to ±floor for the solve (static pivoting, as in MA57).
    For the quasi-definite QP matrix (regularised by δ) every exact pivot has |e| >= δ, so
    ``floor = δ/2`` only catches cancellation (μ/s spanning many orders of magnitude), and
    iterative refinement removes the perturbation's effect. Without ``floor`` it is relative,
    1e-14·max|e|."""

    def __init__(self, K: np.ndarray, floor: float | None = None, equilibrate: bool = False
                 ) -> None:
        check_finite(K, "entry in the KKT matrix")
        # with ``equilibrate``, factor S K S (S = diag(scale) from _equilibrate) instead: the
        # same inertia (Sylvester's law), but a relative floor then separates a small true
        # pivot from round-off on badly scaled problems (MGH 3: Hessian eigenvalues 5e-6 and
        # 9e9 read as "singular", and the regularisation δ_w >= 1e-4 it triggered swamped the
        # small curvature, so Newton crawled for 500 iterations)
        self.scale = _equilibrate(K) if equilibrate else None
        if self.scale is not None:
            K = self.scale[:, None] * K * self.scale[None, :]
        lu, d, perm = scipy.linalg.ldl(K, lower=True)
        self.L, self.perm = lu[perm], perm
        eig, self.V = np.linalg.eigh(d)
        if floor is None:
            floor = 1e-14 * float(np.abs(eig).max(initial=0.0))
        zero = np.abs(eig) <= floor
        self.inertia = (int(np.sum((eig > 0) & ~zero)), int(np.sum((eig < 0) & ~zero)),
                        int(np.sum(zero)))
        self.e = np.where(zero, np.where(eig < 0, -1.0, 1.0) * max(floor, 1e-300), eig)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        if self.scale is not None:  # K u = r  ⇔  (S K S)(S⁻¹u) = S r
            return self.scale * self._solve(self.scale * rhs)
        return self._solve(rhs)

    def _solve(self, rhs: np.ndarray) -> np.ndarray:
        y = scipy.linalg.solve_triangular(self.L, rhs[self.perm], lower=True, unit_diagonal=True)
        z = self.V @ ((self.V.T @ y) / self.e)
        w = scipy.linalg.solve_triangular(self.L.T, z, lower=False, unit_diagonal=True)
        out = np.empty_like(w)
        out[self.perm] = w
        return out


def _equilibrate(K: np.ndarray, passes: int = 8) -> np.ndarray:
    """A diagonal S with every row and column of S K S of largest magnitude ≈ 1 (Ruiz's
    symmetric scaling: S ← S/√(row max), repeated); an all-zero row keeps scale 1."""
    scale = np.ones(K.shape[0])
    M = np.abs(K)
    for _ in range(passes):
        row = (M * scale[None, :]).max(axis=1, initial=0.0) * scale
        if np.all(np.abs(row[row > 0] - 1.0) <= 0.1):
            break
        scale = np.where(row > 0, scale / np.sqrt(np.where(row > 0, row, 1.0)), scale)
    return scale


def _kkt(W: np.ndarray, Jh: np.ndarray, delta_w: float, delta_c: float) -> np.ndarray:
    """[[W + δ_w I, Jhᵀ], [Jh, -δ_c I]]."""
    p = Jh.shape[0]
    return np.block([[W + delta_w * np.eye(W.shape[0]), Jh.T], [Jh, -delta_c * np.eye(p)]])


class _Newton:
    """The residuals and the factored reduced KKT matrix at (x, λ, μ, s)."""

    def __init__(self, H: np.ndarray, grad: np.ndarray, Jh: np.ndarray, Jg: np.ndarray,
                 h: np.ndarray, g: np.ndarray, lam: np.ndarray, mu: np.ndarray,
                 s: np.ndarray) -> None:
        for value, where in ((H, "Hessian of the Lagrangian"), (grad, "gradient of f"),
                             (Jh, "equality Jacobian"), (Jg, "inequality Jacobian"),
                             (h, "equality constraint value"), (g, "inequality constraint value")):
            check_finite(value, where)
        self.H, self.Jh, self.Jg, self.s, self.mu, self.grad = H, Jh, Jg, s, mu, grad
        self.r_d = grad + Jh.T @ lam + Jg.T @ mu
        self.r_e = h
        self.r_i = g + s
        D = mu / s
        check_finite(D, "barrier weight μ/s (a slack reached 0)")
        self.W = H + Jg.T @ (D[:, None] * Jg)
        self.K0 = _kkt(self.W, Jh, 0.0, 0.0)
        self.fac: _LDL | None = None

    def residual(self) -> float:
        return float(np.max([np.abs(r).max(initial=0.0) for r in (self.r_d, self.r_e, self.r_i)]))

    def factor_regularised(self) -> None:
        """QPs: a quasi-definite K with δ_w = δ_c = 1e-10 (refined away in ``direction``)."""
        self.fac = _LDL(_kkt(self.W, self.Jh, QP_REG, QP_REG), floor=0.5 * QP_REG)
        self.refine = True

    def factor_inertia(self, last_delta: float, tau: float) -> float:
        """Non-convex problems: the smallest δ_w (IPOPT's rule) giving inertia (n, p, 0);
        returns δ_w (the next call starts from a third of it)."""
        n, p = self.W.shape[0], self.Jh.shape[0]
        delta_c = 0.0
        fac = _LDL(_kkt(self.W, self.Jh, 0.0, 0.0), equilibrate=True)
        if fac.inertia[2]:  # singular: the equality Jacobian may be rank deficient
            delta_c = 1e-8 * max(tau, 1e-12) ** 0.25
            fac = _LDL(_kkt(self.W, self.Jh, 0.0, delta_c), equilibrate=True)
        delta = 0.0
        if fac.inertia != (n, p, 0):
            delta = 1e-4 if last_delta == 0 else max(1e-20, last_delta / 3)
            grow = 100.0 if last_delta == 0 else 8.0
            while True:
                fac = _LDL(_kkt(self.W, self.Jh, delta, delta_c), equilibrate=True)
                if fac.inertia == (n, p, 0):
                    break
                delta *= grow
                if delta > 1e40:
                    raise NumericalFailure("no Hessian regularisation δ_w <= 1e40 gives the KKT "
                                           "matrix the inertia of a minimum")
        self.fac, self.refine = fac, False
        return delta

    def direction(self, r_c: np.ndarray) -> tuple[np.ndarray, ...]:
        """Newton step for the residuals with complementarity residual r_c (= s∘μ - target)."""
        assert self.fac is not None
        n = self.W.shape[0]
        with np.errstate(over="ignore", invalid="ignore"):
            rhs = np.concatenate([-self.r_d + self.Jg.T @ ((r_c - self.mu * self.r_i) / self.s),
                                  -self.r_e])
        # a slack at 0 (s∘μ overflowing) makes the right-hand side inf: report it, as the
        # matrix's, instead of letting LAPACK's input check raise a bare ValueError
        check_finite(rhs, "entry in the Newton right-hand side (a slack or multiplier "
                          "overflowed)")
        u = self.fac.solve(rhs)
        if self.refine:  # iterative refinement removes the regularisation's O(δ) error
            for _ in range(3):
                r = rhs - self.K0 @ u
                if np.abs(r).max(initial=0.0) <= 1e-15 * (1 + np.abs(rhs).max(initial=0.0)):
                    break
                u = u + self.fac.solve(r)
        check_finite(u, "Newton direction")
        dx, dlam = u[:n], u[n:]
        ds = -self.r_i - self.Jg @ dx
        dmu = (-r_c - self.mu * ds) / self.s
        return dx, dlam, dmu, ds


def interior_point(problem: Problem, x0: Any = None, max_iter: int = 200, tol: float = 1e-10
                   ) -> Solution:
    """Primal–dual interior point: convex QPs/LPs by Mehrotra, any smooth problem by a barrier.

    Slacks s = -g(x) >= 0 turn g(x) <= 0 into g + s = 0; each iteration takes a Newton step on
    (∇ₓL, h, g + s, s∘μ - target), staying strictly inside s, μ > 0 (fraction to the boundary
    τ = 0.995). Convex ``QuadraticProblem``/``LinearProblem``: Mehrotra's predictor–corrector
    (target σ·sᵀμ/m with σ = (gap_affine/gap)³), and infeasibility/unboundedness reported with a
    certificate (``status`` "infeasible"/"unbounded", ``certificate``). Other problems, convex or
    not: the line-search barrier method of Nocedal & Wright (Alg. 19.2) with IPOPT's inertia
    correction of the Hessian; the barrier parameter decreases once its subproblem is solved
    to 10×, and the primal step backtracks on the merit f - τΣlog s + ν(‖h‖₁ + ‖g + s‖₁).
    Stops when every residual (and s∘μ) is <= ``tol``.
    """
    check_options("interior_point", counts={"max_iter": max_iter}, tolerances={"tol": tol})
    x = start_point(problem, x0, "interior_point")
    if isinstance(problem, QuadraticProblem):
        if not problem.is_convex:
            raise ValueError(f"interior_point needs a convex QuadraticProblem: G has the "
                             f"eigenvalue {problem._eig[0].min():.3g} < 0 (solve(problem) uses the "
                             "barrier method, which handles non-convex problems)")
        return _mehrotra_scaled(problem, x, max_iter, tol)
    return _barrier_escaping(problem, x, max_iter, tol)


OBJECTIVE_SCALE_RANGE = (1e-2, 1e4)  # |G|, |c| outside this range are rescaled to 1


def _mehrotra_scaled(problem: QuadraticProblem, x: np.ndarray, max_iter: int, tol: float
                     ) -> Solution:
    """Mehrotra's method on the QP with its objective divided by σ = max(|G|, |c|) when σ is
    far from 1. The minimiser is the same and the multipliers scale by 1/σ, but the absolute
    stopping tests (s∘μ <= tol) then mean the same thing at every scale: with c ~ 1e-8 the
    multipliers are ~1e-8, s∘μ <= 1e-10 allowed slacks of 1e-2, and an LP "optimum" was 1.5%
    off; with c ~ 1e6 the iterates ran off to 1e27."""
    sigma = float(max(np.abs(problem.G).max(initial=0.0), np.abs(problem.c).max(initial=0.0)))
    low, high = OBJECTIVE_SCALE_RANGE
    if sigma == 0.0 or low <= sigma <= high:
        return _mehrotra(problem, x, max_iter, tol)
    scaled = QuadraticProblem(problem.G / sigma, problem.c / sigma, problem.A, problem.b,
                              problem.C, problem.d, bounds=(problem.lb, problem.ub), x0=x,
                              null_tol=problem.null_tol)
    sol = _mehrotra(scaled, x, max_iter, tol)
    message = sol.message
    if sol.status == "optimal" and sigma > 1.0:  # the contract "residuals <= tol" is relative
        message = (f"all KKT residuals within the tolerance relative to the objective's scale "
                   f"max(|G|, |c|) = {sigma:.3g} (the objective was divided by it)")
    # the same point, multipliers and status, reported on the caller's problem
    return finish(problem, sol.x_flat, sol.lam * sigma, sol.mu * sigma, sol.n_iter, sol.status,
                  sol.method, [h * sigma for h in sol.history], message, sol.certificate)


# ---- convex QPs and LPs: Mehrotra's predictor–corrector ----------------------------------------
ACCEPTABLE = 100.0  # a residual within this factor of ``tol`` is accepted when round-off stalls
ROUND_OFF_GROWTH = 1e3  # growth of the residual past its best that marks the round-off regime


def _mehrotra(problem: QuadraticProblem, x: np.ndarray, max_iter: int, tol: float,
              diagnose: bool = True) -> Solution:
    m = problem.n_ineq
    lam = np.zeros(problem.n_eq)
    s = np.maximum(-problem.ineq(x), 1.0)
    mu = np.ones(m)
    scale = 1.0 + float(np.max([np.abs(v).max(initial=0.0) for v in
                                (problem.c, problem.b, problem.d_full, x)]))
    history: list[float] = []
    status, message, it, small_steps = "max_iter", "", 0, 0
    cert: dict[str, np.ndarray] | None = None
    best, best_it, diagnosed = np.inf, 0, not diagnose
    # the best iterate so far: near the solution μ/s spans many decades, the KKT matrix's
    # round-off can then grow the residual again, and the iterate that came within
    # ``ACCEPTABLE × tol`` is returned (IPOPT's "acceptable level") rather than a worse last one
    lowest, kept = np.inf, (x, lam, mu, s)
    try:
        for it in range(max_iter + 1):  # noqa: B007 - the count is reported
            st = _Newton(problem.G, problem.grad(x), problem.A, problem.C_full, problem.eq(x),
                         problem.ineq(x), lam, mu, s)
            gap = float(s @ mu) / m if m else 0.0
            history.append(max(st.residual(), gap))
            if st.residual() <= tol and gap <= tol:
                status = "optimal"
                break
            if history[-1] < lowest:
                lowest, kept = history[-1], (x, lam, mu, s)
            elif lowest <= ACCEPTABLE * tol and history[-1] > ROUND_OFF_GROWTH * lowest:
                status = "round_off"
                break
            if history[-1] < 0.5 * best:
                best, best_it = history[-1], it
            big = float(np.max([np.abs(v).max(initial=0.0) for v in (x, lam, mu)]))
            # signs of an infeasible or unbounded problem: tiny steps, iterates running off,
            # or no halving of the residual in 10 iterations; then check with the certificates
            suspicious = small_steps >= 5 or big > 1e10 * scale or it - best_it >= 10
            if (suspicious or it == max_iter) and not diagnosed:
                status, message, cert = _diagnose(problem, tol)
                diagnosed = True
                if status in ("infeasible", "unbounded", "numerical"):
                    break
                status, message, cert = "max_iter", "", None
            if it == max_iter:
                break
            st.factor_regularised()
            if not m:  # no inequalities: one Newton step on the KKT system is exact
                dx, dlam, _, _ = st.direction(np.zeros(0))
                x, lam = x + dx, lam + dlam
                continue
            dx, dlam, dmu, ds = st.direction(s * mu)
            a_aff = min(_max_step(s, ds), _max_step(mu, dmu))
            gap_aff = float((s + a_aff * ds) @ (mu + a_aff * dmu)) / m
            # s∘μ can underflow to 0 on a badly scaled problem: then no centring
            sigma = (gap_aff / gap) ** 3 if gap > 0 else 0.0
            dx, dlam, dmu, ds = st.direction(s * mu + ds * dmu - sigma * gap)
            alpha = min(_boundary_step(s, ds), _boundary_step(mu, dmu))
            small_steps = small_steps + 1 if alpha < 1e-8 else 0
            x, lam, mu, s = x + alpha * dx, lam + alpha * dlam, mu + alpha * dmu, s + alpha * ds
    except NumericalFailure as err:
        status, message = "numerical", f"interior_point: {err} at iteration {it}"
        if not diagnosed:  # iterates running off to infinity make the KKT matrix singular
            why, because, cert = _diagnose(problem, tol)
            if why in ("infeasible", "unbounded"):
                status, message = why, because
    if status in ("round_off", "max_iter", "numerical") and lowest <= ACCEPTABLE * tol:
        x, lam, mu, s = kept
        message = (f"interior_point: the residual reached {lowest:.1e} (tolerance {tol:.0e}; "
                   f"accepted up to {ACCEPTABLE:g}× it) and round-off in the KKT matrix kept it "
                   "from going lower; the best iterate is returned")
        status = "optimal"
    elif status == "round_off":
        status = "max_iter"
    return finish(problem, x, lam, mu, it, status, "interior_point", history, message, cert)


def _diagnose(problem: QuadraticProblem, tol: float
              ) -> tuple[str, str, dict[str, np.ndarray] | None]:
    """Why Mehrotra's iterates stalled: "infeasible" (Farkas certificate y, z), "unbounded"
    (a ray r), or "max_iter" when the problem is feasible and bounded (see the module doc)."""
    n, p, m = problem.n, problem.n_eq, problem.C_full.shape[0]
    A, b, C, d = problem.A, problem.b, problem.C_full, problem.d_full
    # phase one in (x, p, q, t): min 1ᵀp + 1ᵀq + t, Ax - p + q = b, Cx - t <= d, p, q, t >= 0
    c1 = np.concatenate([np.zeros(n), np.ones(2 * p + 1)])
    A1 = np.hstack([A, -np.eye(p), np.eye(p), np.zeros((p, 1))])
    C1 = np.hstack([C, np.zeros((m, 2 * p)), -np.ones((m, 1))])
    lower = np.concatenate([np.full(n, -np.inf), np.zeros(2 * p + 1)])
    phase1 = _mehrotra(LinearProblem(c1, A=A1, b=b, C=C1, d=d, bounds=(lower, None)),
                       np.zeros(n + 2 * p + 1), 200, tol, diagnose=False)
    if phase1.status != "optimal":
        return "numerical", ("interior_point: the iterates stalled and the phase-one LP that "
                             f"checks feasibility ended '{phase1.status}'"), None
    violation = phase1.fun
    if violation > 1e-7 * (1.0 + float(np.abs(np.concatenate([b, d])).max(initial=0.0))):
        y, z = phase1.lam, phase1.mu[:m]
        cert = {"y": y, "z": z}
        return "infeasible", (
            f"interior_point: the constraints are infeasible (phase one: min over x of "
            f"Σ|Ax - b| + max(Cx - d)₊ = {violation:.3g} > 0); Farkas certificate y, z >= 0 "
            f"with ‖Aᵀy + Cᵀz‖∞ = "
            f"{np.abs(A.T @ y + C.T @ z).max(initial=0.0):.1e} and bᵀy + dᵀz = "
            f"{float(b @ y + d @ z):.3g} < 0 (C, d include the bounds)"), cert
    w, V = problem._eig
    rng_G = V[:, w > 1e-12 * max(1.0, float(np.abs(w).max(initial=0.0)))].T
    ray = _mehrotra(LinearProblem(problem.c, A=np.vstack([A, rng_G]),
                                  b=np.zeros(p + rng_G.shape[0]), C=C, d=np.zeros(m),
                                  bounds=(-1.0, 1.0)), np.zeros(n), 200, tol, diagnose=False)
    slope = ray.fun
    if ray.status == "optimal" and slope < -1e-7 * (1.0 + np.abs(problem.c).sum()):
        r = ray.x_flat
        return "unbounded", (
            f"interior_point: the objective is unbounded below: the constraints are feasible "
            f"and along the ray r (Ar = 0, Cr <= 0, Gr = 0) f decreases at the rate cᵀr = "
            f"{slope:.3g}"), {"ray": r}
    return "max_iter", ("interior_point: the iterates stalled although the problem is feasible "
                        "and bounded below (ill-conditioned, or too few iterations)"), None


# ---- general smooth problems: barrier line search with inertia correction ----------------------
def barrier_interior_point(problem: Problem, x0: Any = None, max_iter: int = 200,
                           tol: float = 1e-10) -> Solution:
    """The barrier method of ``interior_point`` on any smooth problem, including a non-convex
    ``QuadraticProblem`` (which ``interior_point`` refuses, as Mehrotra needs convexity)."""
    check_options("barrier_interior_point", counts={"max_iter": max_iter},
                  tolerances={"tol": tol})
    x = start_point(problem, x0, "barrier_interior_point")
    return _barrier_escaping(problem, x, max_iter, tol)


def _barrier_escaping(problem: Problem, x: np.ndarray, max_iter: int, tol: float) -> Solution:
    """The barrier method on the problem with a tiny objective rescaled (see
    ``scaled_objective``), restarted along the direction of negative curvature when it ends
    at a KKT point that is not a minimum."""
    scaled, sigma = scaled_objective(problem, x)
    sol = restart_from_saddles(scaled, _barrier(scaled, x, max_iter, tol),
                               lambda start: _barrier(scaled, start, max_iter, tol))
    return unscale(problem, sol, sigma)


def _evaluate(problem: Problem, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """f, h, g at x, each checked finite (the message names which one is not)."""
    f = problem.fun(x)
    check_finite(f, "objective f(x)")
    h, g = problem.eq(x), problem.ineq(x)
    check_finite(h, "equality constraint value h(x)")
    check_finite(g, "inequality constraint value g(x)")
    return f, h, g


def _barrier(problem: Problem, x: np.ndarray, max_iter: int, tol: float) -> Solution:
    m = problem.n_ineq
    lam = np.zeros(problem.n_eq)
    mu = np.zeros(m)
    history: list[float] = []
    status, message, it = "max_iter", "", 0
    try:
        f, h, g = _evaluate(problem, x)
        s = np.maximum(-g, 1.0)
        tau = float(s.mean()) if m else 0.0
        mu = tau / s
        nu, delta, stalled = 1.0, 0.0, 0
        for it in range(max_iter + 1):  # noqa: B007 - the count is reported
            st = _Newton(problem.lagrangian_hessian(x, lam, mu), problem.grad(x),
                         problem.eq_jac(x), problem.ineq_jac(x), h, g, lam, mu, s)
            comp = float(np.abs(s * mu).max(initial=0.0))
            history.append(max(st.residual(), comp))
            if st.residual() <= tol and comp <= tol:
                status = "optimal"
                break
            if it == max_iter:
                break
            while m and tau > 0.1 * tol and max(
                    st.residual(), float(np.abs(s * mu - tau).max())) <= 10 * tau:
                tau = max(0.1 * tol, min(0.2 * tau, tau ** 1.5))
            delta = st.factor_inertia(delta, tau)
            dx, dlam, dmu, ds = st.direction(s * mu - tau)
            a_p = _boundary_step(s, ds) if m else 1.0
            a_d = _boundary_step(mu, dmu) if m else 1.0
            nu = _penalty(nu, lam + dlam, mu + dmu, float(st.grad @ dx), tau, s, ds,
                          float(np.abs(h).sum() + np.abs(g + s).sum()))
            a_p, (f, h, g) = _line_search(problem, x, s, (f, h, g), dx, ds, a_p, tau, nu,
                                          float(st.grad @ dx))
            old = (x, s, lam, mu)
            x, s = x + a_p * dx, s + a_p * ds
            if m:
                s = _reset_slacks(s, g, tau, nu)
            lam, mu = lam + a_d * dlam, mu + a_d * dmu
            if m:  # keep μ within a factor 1e10 of the central path τ/s (IPOPT's safeguard)
                mu = np.clip(mu, tau / (1e10 * s), 1e10 * tau / s)
            stalled = stalled + 1 if _negligible(old, (x, s, lam, mu)) else 0
            if stalled >= STALL_ITERATIONS:
                status = "numerical"
                message = (f"interior_point: no progress in floating point: {stalled} "
                           f"iterations changed no variable or multiplier by more than "
                           f"{STALL_RELATIVE:.0e} relative (the residual "
                           f"{history[-1]:.2e} is at the round-off level of f's derivatives; "
                           f"a tighter tol cannot be met)")
                break
    except NumericalFailure as err:
        status, message = "numerical", f"interior_point: {err} at iteration {it}"
    return finish(problem, x, lam, mu, it, status, "interior_point", history, message)


STALL_ITERATIONS = 5  # consecutive iterations without progress before stopping
STALL_RELATIVE = 1e-14  # a change below this fraction of a value is round-off


def _negligible(before: tuple[np.ndarray, ...], after: tuple[np.ndarray, ...]) -> bool:
    """Whether no entry of any of the arrays moved by more than STALL_RELATIVE of its size."""
    for a, b in zip(before, after):
        if np.any(np.abs(b - a) > STALL_RELATIVE * np.maximum(np.abs(a), np.abs(b))):
            return False
    return True


def _penalty(nu: float, lam: np.ndarray, mu: np.ndarray, grad_dx: float, tau: float,
             s: np.ndarray, ds: np.ndarray, infeas: float) -> float:
    """The merit's penalty ν: at least twice the largest new multiplier, and large enough that
    the step is a descent direction of the merit (its slope ∇fᵀΔx - τΣΔs/s - ν·infeas < 0).

    ν may fall back to that level, not only grow: a huge multiplier estimate from a point where
    the constraint Jacobian is rank deficient (HS61's x0 = 0) otherwise fixes ν ≈ 1e11 for good,
    the merit then rejects every step that trades 1e-8 of feasibility for f (the Maratos
    effect), and 200 iterations move x by 1e-6 each. A ν that tracks the multipliers keeps the
    merit exact (ν > ‖λ‖∞) without that."""
    need = 2.0 * float(np.abs(np.concatenate([lam, mu])).max(initial=0.0))
    if infeas > 0:
        barrier_slope = grad_dx - tau * float(np.sum(ds / s)) if s.size else grad_dx
        need = max(need, barrier_slope / (0.5 * infeas))
    return max(min(nu, max(need, 1.0) * 10.0), need, 1.0)


def _reset_slacks(s: np.ndarray, g: np.ndarray, tau: float, nu: float) -> np.ndarray:
    """Per row, the better of the stepped slack sᵢ and the exact one -gᵢ(x) (when positive) for
    the row's merit term -τ log sᵢ + ν|gᵢ + sᵢ|. Taking -gᵢ whenever it exceeds sᵢ lowers both
    terms (Byrd, Gilbert & Nocedal's slack reset); taking it below sᵢ trades barrier for
    feasibility. The reset absorbs the constraints' curvature, which the linearised step
    ignores and which otherwise makes the line search cut steps to ~1e-3 (HS18)."""
    exact = -g
    ok = exact > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = -tau * np.log(s) + nu * np.abs(g + s)
        take = np.where(ok, -tau * np.log(np.where(ok, exact, 1.0)), np.inf)
    return np.where(ok & (take <= keep), exact, s)


def _merit(f: float, h: np.ndarray, g: np.ndarray, s: np.ndarray, tau: float,
           nu: float) -> tuple[float, float]:
    """(f - τΣlog s + ν·infeasibility, infeasibility = ‖h‖₁ + ‖g + s‖₁)."""
    infeas = float(np.abs(h).sum() + np.abs(g + s).sum())
    return f - tau * float(np.log(s).sum()) + nu * infeas, infeas


def _line_search(problem: Problem, x: np.ndarray, s: np.ndarray,
                 fhg: tuple[float, np.ndarray, np.ndarray], dx: np.ndarray, ds: np.ndarray,
                 a: float, tau: float, nu: float, grad_dx: float
                 ) -> tuple[float, tuple[float, np.ndarray, np.ndarray]]:
    """Backtrack α until the merit decreases (Armijo, c₁ = 1e-4); returns α and f, h, g there.
    A trial point where f or a constraint is not finite counts as a failed trial (the step
    halves) rather than as an error: the barrier keeps the iterates where they are defined."""
    f, h, g = fhg
    phi, infeas = _merit(f, h, g, s, tau, nu)
    slope = grad_dx - tau * float(np.sum(ds / s)) - nu * infeas
    for _ in range(40):
        try:
            trial = _evaluate(problem, x + a * dx)
        except NumericalFailure:
            a *= 0.5
            continue
        new, _ = _merit(*trial, _reset_slacks(s + a * ds, trial[2], tau, nu), tau, nu)
        # the Armijo test, relaxed by the round-off of φ (IPOPT's rule): near a minimum the
        # predicted decrease falls below eps·|φ| and an exact test would reject the Newton
        # step for rounding noise (MGH 6, f* = 124.362: ∇f stuck at 1e-6 for ever)
        if np.isfinite(new) and new <= phi + 1e-4 * a * min(slope, 0.0) + ROUNDOFF * abs(phi):
            return a, trial
        a *= 0.5
    return a, _evaluate(problem, x + a * dx)
