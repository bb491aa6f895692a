"""``Solution`` (what every solver returns) and the helpers the solvers share to build it.

Every solver ends with one of six statuses:

* ``"optimal"``: all KKT residuals are below the solver's tolerance (``converged`` is True);
  a tiny objective (max(|f(x0)|, ‖∇f(x0)‖∞) < 1e-2) is scaled up first, so this still means a
  minimiser; a QP/LP objective with max(|G|, |c|) > 1e4 is scaled down, and its residuals are
  then within the tolerance relative to that scale (the message says so);
* ``"infeasible"``: a certificate proves that no point satisfies the constraints (QPs and LPs),
  or, on a general problem that ran out of iterations, the constraint violation
  φ(x) = ½‖h‖² + ½‖max(g, 0)‖² has a stationary point with φ > 0 there (locally infeasible:
  no feasible point nearby; none at all when h is affine and g convex);
* ``"unbounded"``: a certificate proves that f decreases without bound on the feasible set
  (QPs and LPs), or a general problem reached f < -1e20 (or -inf) at a feasible point;
* ``"max_iter"``: the iteration budget ran out first;
* ``"not_minimum"``: the KKT residuals are small, but the Hessian of the Lagrangian has
  negative curvature along the active constraints (a saddle point or a maximum: Newton's
  method on the KKT system finds these as readily as minima);
* ``"numerical"``: a value became non-finite (NaN or ±inf in f, a constraint or a derivative),
  a linear system could not be solved, or the iterates stopped moving in floating point before
  the residuals met the tolerance (round-off bounds them, e.g. MGH's Meyer problem, where ∇f
  at the minimiser is ~0.5 in float64); ``message`` says which.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.constrained.kkt import KKTReport, kkt_report
from chainrule.constrained.problem import Problem
from chainrule.tensor import Tensor

__all__ = ["STATUSES", "NumericalFailure", "Solution"]

STATUSES = ("optimal", "infeasible", "unbounded", "max_iter", "numerical", "not_minimum")
# below this objective at a feasible point a problem is reported unbounded (IPOPT's test)
UNBOUNDED_BELOW = -1e20
# the second-order and infeasibility checks form n x n matrices: skipped above this size
CHECK_MAX_N = 400
FEAS_TOL = 1e-6
# beyond this the iterates ran off: a stationary violation out there proves nothing (HS33's
# augmented Lagrangian diverged to 1e102, where every gradient looks small relative to x)
RUN_OFF = 1e10


class NumericalFailure(ArithmeticError):
    """Raised inside a solver when a value is non-finite or a linear system is unusable; the
    solver turns it into ``status="numerical"`` with this exception's text as the message."""


def check_finite(value: Any, where: str) -> None:
    """Raise :class:`NumericalFailure` naming ``where`` unless every entry of ``value`` is
    finite (the first NaN or inf stops a solver instead of being carried along)."""
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise NumericalFailure(f"non-finite {where} ({bad})")


def check_options(owner: str, *, counts: dict[str, Any] | None = None,
                  tolerances: dict[str, Any] | None = None,
                  positive: dict[str, Any] | None = None) -> None:
    """Refuse bad solver settings with an error naming the argument: ``counts`` must be ints
    >= 0 (iteration budgets), ``tolerances`` finite numbers >= 0, ``positive`` finite numbers
    > 0 (steps, penalties); ``None`` values are skipped (a default chosen later)."""
    for name, v in (counts or {}).items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{owner}: {name} must be a non-negative integer, got {v!r}")
    for name, v in (tolerances or {}).items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not (
                np.isfinite(v) and v >= 0):
            raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {v!r}")
    for name, v in (positive or {}).items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not (
                np.isfinite(v) and v > 0):
            raise ValueError(f"{owner}: {name} must be a finite number > 0, got {v!r}")


def start_point(problem: Problem, x0: Any, owner: str) -> np.ndarray:
    """The flat starting point (``problem.x0`` when ``x0`` is None); a NaN or inf entry is an
    error naming it (a solver would otherwise report "numerical" after its first step)."""
    x = problem.x0.copy() if x0 is None else problem.flatten(x0)
    if not np.all(np.isfinite(x)):
        k = int(np.argmax(~np.isfinite(x)))
        raise ValueError(f"{owner}: the starting point x0 has the non-finite entry {x[k]} at "
                         f"flat index {k}")
    return x


def start_multipliers(problem: Problem, lam: Any, mu: Any, owner: str
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Starting multipliers (zeros where None), checked for length and finiteness."""
    try:
        lam, mu = problem._multipliers(lam, mu)
    except ValueError as e:
        raise ValueError(f"{owner}: {e}") from None
    for name, v in (("lam0", lam), ("mu0", mu)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{owner}: {name} has a non-finite entry ({v[~np.isfinite(v)][0]})")
    return lam, mu


@dataclass
class Solution:
    """A solver's result: the point (tensors shaped like ``x0``), multipliers, KKT report and
    ``status`` (one of ``"optimal"``, ``"infeasible"``, ``"unbounded"``, ``"max_iter"``,
    ``"numerical"``) with a human-readable ``message``; ``converged`` is ``status == "optimal"``.

    Example::

        import chainrule as cr
        from chainrule import constrained
        prob = constrained.Problem(lambda v: v.sum(), cr.zeros(2, dtype=cr.float64),
                                   ineq=lambda v: (v * v).sum() - 2)
        sol = constrained.solve(prob)       # the barrier interior point
        sol.x, sol.mu, sol.fun              # tensor([-1., -1.]), [0.5], -2.0
        sol.status, sol.kkt.ok()            # 'optimal', True (all KKT residuals <= 1e-6)
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
    status: str = "optimal"
    message: str = ""
    certificate: dict[str, np.ndarray] | None = None

    def __str__(self) -> str:
        head = (f"Solution by {self.method}: {self.status} "
                f"({'converged' if self.converged else 'NOT converged'}) in {self.n_iter} "
                f"iterations")
        if self.message:
            head += f"\n  {self.message}"
        head += f"\n  x = {np.array2string(self.x_flat, precision=8)}"
        return head + "\n" + str(self.kkt)


def finish(problem: Problem, x: np.ndarray, lam: np.ndarray, mu: np.ndarray, n_iter: int,
           status: str | bool, method: str, history: list[float], message: str = "",
           certificate: dict[str, np.ndarray] | None = None) -> Solution:
    """Build the :class:`Solution`. ``status`` True/False means "optimal"/"max_iter"; an
    "optimal" claim whose KKT report is not finite becomes "numerical" (a NaN never passes)."""
    if isinstance(status, bool):
        status = "optimal" if status else "max_iter"
    if status not in STATUSES:
        raise ValueError(f"Solution: unknown status {status!r}; one of {STATUSES}")
    try:
        rep = kkt_report(problem, x, lam, mu)
    except (FloatingPointError, ValueError, np.linalg.LinAlgError) as err:
        raise NumericalFailure(f"the KKT report failed at the final point: {err}") from err
    if status == "optimal" and not rep.finite:
        status, message = "numerical", "a KKT residual is not finite at the final point"
    if status == "optimal":
        why, direction = _negative_curvature(problem, x, lam, mu, rep)
        if why:
            status, message = "not_minimum", f"{method}: {why}"
            certificate = {"negative_curvature": direction}
    elif status in ("max_iter", "numerical"):
        status, message = _diagnose(problem, x, rep, status, message, method)
    if not message:
        message = {"optimal": "all KKT residuals within the tolerance",
                   "max_iter": f"stopped after {n_iter} iterations without meeting the "
                               f"tolerance (max KKT residual {rep.max_residual:.2e})"}.get(
                                   status, status)
    return Solution(problem.to_tensors(x), x.copy(), lam.copy(), mu.copy(), rep.objective, rep,
                    n_iter, status == "optimal", method, history, status, message, certificate)


def _negative_curvature(problem: Problem, x: np.ndarray, lam: np.ndarray, mu: np.ndarray,
                        rep: KKTReport) -> tuple[str, np.ndarray | None]:
    """Second-order necessary condition: dᵀ∇²L d >= 0 for every d with ∇h d = 0 and
    ∇gⱼ d = 0 (j active), a subspace of the critical cone. Returns why it fails ('' if not)
    and the direction d of most negative curvature (unit length)."""
    if not 0 < problem.n <= CHECK_MAX_N:
        return "", None
    try:
        H = problem.lagrangian_hessian(x, lam, mu)
        A = np.vstack([problem.eq_jac(x), problem.ineq_jac(x)[rep.active_set]])
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        return "", None
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(A))):
        return "", None
    Z = np.eye(problem.n)
    if A.shape[0]:
        _, sv, vt = np.linalg.svd(A)
        rank = int(np.sum(sv > 1e-9 * max(1.0, sv.max(initial=0.0))))
        Z = vt[rank:].T
    if Z.shape[1] == 0:
        return "", None
    w, V = np.linalg.eigh(Z.T @ H @ Z)
    if w[0] >= -1e-6 * max(1.0, float(np.abs(H).max())):
        return "", None
    return (f"a KKT point, but not a minimum: the Hessian of the Lagrangian has the eigenvalue "
            f"{w[0]:.3g} along the active constraints (a saddle point or a maximum; "
            "certificate['negative_curvature'] is a direction of descent)"), Z @ V[:, 0]


SADDLE_RESTARTS = 3  # restarts of a solver from a saddle point or a maximum


def restart_from_saddles(problem: Problem, sol: Solution,
                         run: Callable[[np.ndarray], Solution]) -> Solution:
    """Rerun ``run(start)`` from a point of lower f along the negative-curvature direction
    while the solver ends at a KKT point that is not a minimum (e.g. started exactly at a
    saddle, where ∇f = 0 gives it no direction to move)."""
    for _ in range(SADDLE_RESTARTS):
        start = escape_point(problem, sol)
        if start is None:
            break
        before = sol
        sol = run(start)
        sol.n_iter += before.n_iter
        sol.history = before.history + sol.history
    return sol


def escape_point(problem: Problem, sol: Solution) -> np.ndarray | None:
    """From a ``"not_minimum"`` solution, a point along its negative-curvature direction d
    with a lower objective: x + t·d or x - t·d (to second order both descend), t shrinking
    from 1e-2·max(1, ‖x‖∞) until f decreases; None when no such point is found."""
    if sol.status != "not_minimum" or not sol.certificate:
        return None
    x, d = sol.x_flat, sol.certificate["negative_curvature"]
    f0 = sol.fun
    t = 1e-2 * max(1.0, float(np.abs(x).max(initial=0.0)))
    with np.errstate(all="ignore"):
        for _ in range(20):
            tries = [(problem.fun(x + sign * t * d), sign) for sign in (1.0, -1.0)]
            f_new, sign = min(tries, key=lambda p: p[0] if np.isfinite(p[0]) else np.inf)
            if np.isfinite(f_new) and f_new < f0 - 1e-12 * max(1.0, abs(f0)):
                return x + sign * t * d
            t *= 0.5
    return None


def _violation(problem: Problem, x: np.ndarray) -> tuple[float, np.ndarray]:
    """φ(x) = ½‖h(x)‖² + ½‖max(g(x), 0)‖² and its gradient Jₕᵀh + J_gᵀ max(g, 0)."""
    h, g = problem.eq(x), np.maximum(problem.ineq(x), 0.0)
    grad = problem.eq_jac(x).T @ h + problem.ineq_jac(x).T @ g
    return 0.5 * float(h @ h + g @ g), grad


def _diagnose(problem: Problem, x: np.ndarray, rep: KKTReport, status: str, message: str,
              method: str) -> tuple[str, str]:
    """Tell an infeasible or unbounded problem apart from a solver that merely stopped."""
    if not (0 < problem.n <= CHECK_MAX_N and np.all(np.isfinite(x))):
        return status, message
    viol = rep.primal_feasibility
    # far out, h and g carry round-off of the size of x itself: feasibility is relative there
    if (np.isfinite(viol) and viol <= FEAS_TOL * max(1.0, float(np.abs(x).max()))
            and rep.objective < UNBOUNDED_BELOW):
        return "unbounded", (f"{method}: f(x) = {rep.objective:.3g} at a feasible point: the "
                             "objective is unbounded below on the feasible set (no minimum)")
    if not (np.isfinite(viol) and viol > FEAS_TOL) or np.abs(x).max() > RUN_OFF:
        return status, message  # feasible, or iterates that ran off: no local certificate
    from chainrule.constrained._inner import bfgs_minimize

    with np.errstate(all="ignore"):
        try:
            z, phi, grad, _ = bfgs_minimize(lambda v: _violation(problem, v), x, max_iter=300,
                                            gtol=1e-14)
            J = np.vstack([problem.eq_jac(z), problem.ineq_jac(z)])
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            return status, message
        left = max(float(np.abs(problem.eq(z)).max(initial=0.0)),
                   float(np.maximum(problem.ineq(z), 0.0).max(initial=0.0)))
        # stationary: ‖∇φ‖ tiny next to ‖J‖‖r‖ (the size it would have away from a stationary
        # point), with the violation r = (h, g+) still well above the feasibility tolerance
        # (‖J‖ floored at 1: where J itself vanishes, as for h = x² + 1 at x = 0, the
        # violation cannot move either)
        scale = max(float(np.linalg.norm(J)), 1.0) * np.sqrt(2.0 * phi)
    if not (np.isfinite(phi) and left > 10 * FEAS_TOL and np.all(np.isfinite(grad))
            and np.abs(z).max() <= RUN_OFF
            and float(np.linalg.norm(grad)) <= 1e-7 * max(scale, 1e-300)):
        return status, message
    return "infeasible", (f"{method}: the constraints cannot be met near here: the violation "
                          f"max(|h|, g+) stops at {left:.3g} where it is stationary (a local "
                          f"certificate; a global one when h is affine and g convex); before "
                          f"that: {message}")


def name_non_finite(problem: Problem, x: np.ndarray) -> str:
    """Which of f, ∇f, h, ∇h, g, ∇g is non-finite at ``x`` ('' if none or unknowable): a
    solver that only sees a combined quantity (an augmented Lagrangian) names the culprit."""
    parts = (("the objective f(x)", problem.fun), ("the gradient of the objective f", problem.grad),
             ("the equality constraint h(x)", problem.eq),
             ("the Jacobian of h", problem.eq_jac),
             ("the inequality constraint g(x)", problem.ineq),
             ("the Jacobian of g", problem.ineq_jac))
    with np.errstate(all="ignore"):
        for what, fn in parts:
            try:
                value = np.asarray(fn(x), dtype=np.float64)
            except (ValueError, FloatingPointError, ArithmeticError):
                continue
            if not np.all(np.isfinite(value)):
                return f"{what} is not finite at x = {np.array2string(x, precision=6)}"
    return ""


OBJECTIVE_TINY = 1e-2  # an objective whose size max(|f(x0)|, ‖∇f(x0)‖∞) is below this is rescaled


def scaled_objective(problem: Problem, x: np.ndarray) -> tuple[Problem, float]:
    """The problem with f divided by σ = max(|f(x0)|, ‖∇f(x0)‖∞) when σ is tiny, and σ.

    The solvers stop on absolute residuals (‖∇ₓL‖, |μg| <= tol): for f = 1e-8·f₀ every point
    where ∇f₀ is O(1) already passes, and HS35 scaled so ended "optimal" 0.02 away from x*.
    Dividing f by σ keeps the minimiser and divides the multipliers by σ (multiply them back).
    Returns ``(problem, 1.0)`` when no scaling is needed (or f, ∇f are 0 or not finite)."""
    with np.errstate(all="ignore"):
        try:
            size = abs(problem.fun(x))
            slope = float(np.abs(problem.grad(x)).max(initial=0.0))
        except (ValueError, FloatingPointError, ArithmeticError):
            return problem, 1.0
    sigma = max(size, slope)
    # only ever scaled up: the residuals of the caller's problem then stay below tol (scaling
    # a steep f down, as IPOPT does, would call "optimal" a point whose residuals are σ·tol)
    if not (np.isfinite(sigma) and 1e-30 < sigma < OBJECTIVE_TINY):
        return problem, 1.0
    scaled = copy.copy(problem)
    f = problem.f_fn
    scaled.f_fn = lambda *xs: f(*xs) / sigma
    for name in ("G", "c"):  # a QuadraticProblem's fun/grad/Hessian read its matrices
        if hasattr(problem, name):
            setattr(scaled, name, getattr(problem, name) / sigma)
    if hasattr(problem, "_eig"):
        w, V = problem._eig
        scaled._eig = (w / sigma, V)
    return scaled, sigma


def unscale(problem: Problem, sol: Solution, sigma: float) -> Solution:
    """``sol`` of the problem scaled by :func:`scaled_objective`, reported on ``problem``."""
    if sigma == 1.0:
        return sol
    return finish(problem, sol.x_flat, sol.lam * sigma, sol.mu * sigma, sol.n_iter, sol.status,
                  sol.method, [h * sigma for h in sol.history], sol.message, sol.certificate)
