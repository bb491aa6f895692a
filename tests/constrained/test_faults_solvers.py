"""Adversarial inputs to the constrained solvers: published minimisers x*, a start at the
optimum, saddle points and maxima, degenerate and inconsistent constraints, infeasible and
unbounded nonlinear problems, non-finite values and bad arguments.

The rule checked throughout: ``status == "optimal"`` only for a true local minimum with the
published value; anything else gets the status that says what happened."""

from __future__ import annotations

import numpy as np
import pytest
from hs_problems import HS, HS13, PROBLEMS
from scipy.optimize import linprog

import chainrule as cr
from chainrule import constrained as C

NONLINEAR = ["interior_point", "augmented_lagrangian"]


def T(v: object) -> cr.Tensor:
    return cr.tensor(v, dtype=cr.float64)


WITH_X_STAR = [p for p in PROBLEMS if p.x_star is not None]


@pytest.mark.parametrize("p", WITH_X_STAR, ids=lambda p: f"HS{p.number}")
def test_published_minimiser_is_reached(p: HS) -> None:
    sol = C.solve(p.problem())
    assert sol.status == "optimal", sol.message
    np.testing.assert_allclose(sol.x_flat, p.x_star, atol=2e-6)
    assert abs(sol.fun - p.f_star) <= 1e-6 * max(1.0, abs(p.f_star))


@pytest.mark.parametrize("number", [28, 35, 71, 118])
def test_a_start_at_the_optimum_stays_there(number: int) -> None:
    p = next(q for q in PROBLEMS if q.number == number)
    sol = C.solve(p.problem(), x0=T(p.x_star))
    assert sol.status == "optimal" and abs(sol.fun - p.f_star) <= 1e-6 * max(1, abs(p.f_star))
    np.testing.assert_allclose(sol.x_flat, p.x_star, atol=2e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("method", NONLINEAR)
def test_hs13_without_constraint_qualification_never_claims_a_wrong_optimum(method: str
                                                                             ) -> None:
    """At HS13's minimiser (1, 0) no multipliers exist; a solver may stop short of "optimal",
    but whatever it says, it must not be "optimal" anywhere else."""
    sol = C.solve(HS13.problem(), method=method)
    if sol.status == "optimal":
        assert abs(sol.fun - 1.0) <= 1e-6
    assert abs(sol.fun - 1.0) <= 0.05


# ---- saddles and maxima ----------------------------------------------------------------------
SADDLES = {  # problem, a start that is exactly a KKT point which is not a minimum, f*
    "saddle in a box": (lambda x: x[0] ** 2 - x[1] ** 2, [0.0, 0.0], (-2.0, 3.0), None, -9.0),
    "maximum on a line in a box": (lambda x: -(x * x).sum(), [0.5, 0.5], (-1.0, 2.0),
                                   lambda x: x[0] + x[1] - 1, -5.0),
    "double well from its hump": (lambda x: (x[0] ** 2 - 1) ** 2 + x[1] ** 2, [0.0, 0.0], None,
                                  None, 0.0),
}


@pytest.mark.parametrize("method", NONLINEAR)
@pytest.mark.parametrize("name", list(SADDLES))
def test_a_start_at_a_saddle_or_maximum_escapes_to_the_minimum(name: str, method: str) -> None:
    f, x0, bounds, eq, f_star = SADDLES[name]
    sol = C.solve(C.Problem(f, T(x0), eq=eq, bounds=bounds), method=method)
    assert sol.status == "optimal" and abs(sol.fun - f_star) <= 1e-6, (sol.status, sol.fun)


def test_newton_kkt_reports_a_saddle_or_maximum_as_not_a_minimum() -> None:
    """Newton on the KKT system jumps to the nearest stationary point, minimum or not."""
    for f, x0, eq in [(lambda x: x[0] ** 2 - x[1] ** 2, [1.0, 1.0], None),
                      (lambda x: -(x * x).sum(), [1.0, 2.0], lambda x: x[0] + x[1] - 1)]:
        sol = C.newton_kkt(C.Problem(f, T(x0), eq=eq))
        assert sol.status == "not_minimum" and not sol.converged
        assert "not a minimum" in sol.message
        d = sol.certificate["negative_curvature"]
        assert np.isclose(np.linalg.norm(d), 1.0)


def test_a_non_convex_qp_in_a_box_reaches_a_corner_from_its_maximum() -> None:
    sol = C.solve(C.QuadraticProblem(-np.eye(2), [0.0, 0.0], bounds=(-1, 1)))
    assert sol.status == "optimal" and abs(sol.fun + 1.0) <= 1e-8
    np.testing.assert_allclose(np.abs(sol.x_flat), [1.0, 1.0], atol=1e-8)


# ---- degenerate constraints ------------------------------------------------------------------
DEGENERATE = {
    "duplicate equalities": dict(eq=[lambda x: x[0] + x[1] - 1, lambda x: x[0] + x[1] - 1]),
    "dependent equalities": dict(eq=[lambda x: x[0] + x[1] - 1, lambda x: 2 * x[0] + 2 * x[1] - 2,
                                     lambda x: 3 * x[0] + 3 * x[1] - 3]),
    "duplicate inequalities": dict(ineq=[lambda x: 1 - x[0] - x[1], lambda x: 1 - x[0] - x[1]]),
}


@pytest.mark.parametrize("method", NONLINEAR + ["newton_kkt"])
@pytest.mark.parametrize("name", list(DEGENERATE))
def test_degenerate_constraints_give_the_true_optimum(name: str, method: str) -> None:
    kw = DEGENERATE[name]
    if method == "newton_kkt" and "ineq" in kw:
        pytest.skip("newton_kkt takes equalities only")
    sol = C.solve(C.Problem(lambda x: (x * x).sum(), T([1.0, 2.0]), **kw), method=method)
    assert sol.status == "optimal"
    np.testing.assert_allclose(sol.x_flat, [0.5, 0.5], atol=1e-6)


def test_lp_with_duplicate_and_dependent_rows_matches_highs() -> None:
    c = np.array([1.0, 2.0, -1.0])
    A = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    Cm = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    ref = linprog(c, A_eq=A, b_eq=[1, 1, 2], A_ub=Cm, b_ub=[0.5, 0.5], bounds=(0, None))
    sol = C.solve(C.LinearProblem(c, A=A, b=[1, 1, 2], C=Cm, d=[0.5, 0.5], bounds=(0, None)))
    assert ref.status == 0 and sol.status == "optimal"
    assert abs(sol.fun - ref.fun) <= 1e-8
    np.testing.assert_allclose(sol.x_flat, ref.x, atol=1e-7)


# ---- infeasible and unbounded nonlinear problems ----------------------------------------------
INFEASIBLE = {
    "inconsistent linear equalities": dict(eq=[lambda x: x[0] + x[1] - 1,
                                               lambda x: x[0] + x[1] - 2]),
    "disc and half-plane apart": dict(ineq=[lambda x: (x * x).sum() - 1, lambda x: 3 - x[0]]),
    "x0² + 1 = 0": dict(eq=lambda x: x[0] ** 2 + 1),
    "bound and inequality apart": dict(ineq=lambda x: 3 - x[0], bounds=(0.0, 1.0)),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("method", NONLINEAR)
@pytest.mark.parametrize("name", list(INFEASIBLE))
def test_infeasible_problems_are_reported_infeasible(name: str, method: str) -> None:
    sol = C.solve(C.Problem(lambda x: (x * x).sum(), T([1.0, 2.0]), **INFEASIBLE[name]),
                  method=method)
    assert sol.status == "infeasible" and not sol.converged, (sol.status, sol.message)
    assert "cannot be met" in sol.message


UNBOUNDED = {
    "linear objective, nonlinear constraint": (lambda x: x[0] + 0 * x[1], [0.0, 0.0],
                                               dict(ineq=lambda x: x[1] ** 2 - 1)),
    "cubic below a bound": (lambda x: x[0] ** 3, [-1.0, 0.0], dict(ineq=lambda x: x[0] - 5)),
    "concave, no constraints": (lambda x: -(x * x).sum(), [1.0, 1.0], {}),
    "concave along a line": (lambda x: -(x * x).sum(), [1.0, 0.0],
                             dict(eq=lambda x: x[0] + x[1] - 1)),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", list(UNBOUNDED))
def test_unbounded_problems_are_reported_unbounded(name: str) -> None:
    f, x0, kw = UNBOUNDED[name]
    sol = C.solve(C.Problem(f, T(x0), **kw))
    assert sol.status == "unbounded" and not sol.converged, (sol.status, sol.message)
    assert sol.fun < -1e20


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_augmented_lagrangian_never_calls_an_unbounded_problem_converged() -> None:
    for name, (f, x0, kw) in UNBOUNDED.items():
        sol = C.solve(C.Problem(f, T(x0), **kw), method="augmented_lagrangian")
        assert sol.status in ("unbounded", "numerical") and not sol.converged, name


# ---- non-finite values ------------------------------------------------------------------------
NON_FINITE = {  # (f, x0, constraints, the word the message must contain)
    "NaN objective": (lambda x: (x[0] - 3).sqrt() * 0 + x[0], [4.0], dict(ineq=lambda x: 1 - x[0]),
                      "objective"),
    "NaN objective at x0": (lambda x: (x * float("nan")).sum(), [0.0, 0.0],
                            dict(ineq=lambda x: x.sum() - 1), "objective"),
    "NaN constraint at x0": (lambda x: (x * x).sum(), [0.0, 0.0],
                             dict(ineq=lambda x: x.sum() * float("nan")), "constraint"),
    "infinite gradient": (lambda x: x[0].abs().sqrt() + (x[1] - 1) ** 2, [1.0, 0.0],
                          dict(eq=lambda x: x[0] + 0 * x[1]), ""),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("method", NONLINEAR)
@pytest.mark.parametrize("name", list(NON_FINITE))
def test_non_finite_values_are_never_converged(name: str, method: str) -> None:
    f, x0, kw, word = NON_FINITE[name]
    sol = C.solve(C.Problem(f, T(x0), **kw), method=method)
    assert not sol.converged and sol.status != "optimal"
    if sol.status == "numerical":
        assert "non-finite" in sol.message and word in sol.message


# ---- bad arguments -----------------------------------------------------------------------------
def _qp() -> C.Problem:
    return C.Problem(lambda x: ((x - 1) ** 2).sum(), T([0.0, 0.0]), ineq=lambda x: x.sum() - 1)


BAD = {
    "negative tol": (lambda: C.interior_point(_qp(), tol=-1.0), "tol must be"),
    "NaN tol": (lambda: C.augmented_lagrangian(_qp(), tol=float("nan")), "tol must be"),
    "negative max_iter": (lambda: C.interior_point(_qp(), max_iter=-1), "max_iter must be"),
    "fractional max_iter": (lambda: C.newton_kkt(C.Problem(lambda x: (x * x).sum(), T([1.0])),
                                                 max_iter=2.5), "max_iter must be"),
    "zero rho": (lambda: C.augmented_lagrangian(_qp(), rho=0.0), "rho must be"),
    "negative lr": (lambda: C.projected_gradient(C.Problem(lambda x: (x * x).sum(), T([1.0]),
                                                           bounds=(0, 1)), lr=-0.1), "lr must be"),
    "NaN x0": (lambda: C.solve(_qp(), x0=T([float("nan"), 0.0])), "non-finite entry nan"),
    "infinite x0": (lambda: C.augmented_lagrangian(_qp(), x0=np.array([0.0, np.inf])),
                    "non-finite entry inf at flat index 1"),
    "x0 of the wrong size": (lambda: C.solve(_qp(), x0=T([0.0, 0.0, 0.0])), "3 entries"),
    "lam0 of the wrong size": (lambda: C.newton_kkt(
        C.Problem(lambda x: (x * x).sum(), T([1.0, 1.0]), eq=lambda x: x.sum()),
        lam0=[1.0, 2.0]), "λ has 2 entries"),
    "NaN lam0": (lambda: C.newton_kkt(
        C.Problem(lambda x: (x * x).sum(), T([1.0, 1.0]), eq=lambda x: x.sum()),
        lam0=[float("nan")]), "lam0 has a non-finite"),
    "simplex of nothing": (lambda: C.project_simplex(np.ones(0)), "0 dimensions is empty"),
    "simplex with NaN": (lambda: C.project_simplex(np.array([1.0, np.nan])),
                         "non-finite entry nan at index \\(1,\\)"),
    "infinite radius": (lambda: C.project_l2_ball(np.ones(2), radius=np.inf), "radius must be"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_arguments_name_what_is_wrong(case: str) -> None:
    call, match = BAD[case]
    with pytest.raises(ValueError, match=match):
        call()


# ---- unusual but valid inputs -----------------------------------------------------------------
def test_unusual_starting_points_solve_the_same_problem() -> None:
    ref = C.solve(_qp())
    for x0 in (cr.tensor([0, 0]), cr.tensor([0.0, 0.0], dtype=cr.float32), [0.0, 0.0],
               np.zeros(2, dtype=np.float32)):
        sol = C.solve(C.Problem(lambda x: ((x - 1) ** 2).sum(), x0, ineq=lambda x: x.sum() - 1))
        assert sol.status == "optimal"
        np.testing.assert_allclose(sol.x_flat, ref.x_flat, atol=1e-9)
    scalar = C.solve(C.Problem(lambda x: (x - 2) ** 2, T(0.0), ineq=lambda x: x - 1))
    assert scalar.status == "optimal" and scalar.x.shape == () and abs(scalar.x.item() - 1) < 1e-8
    grid = T(np.arange(6.0).reshape(2, 3)).T  # 2-D and not contiguous
    sol = C.solve(C.Problem(lambda x: ((x - 1) ** 2).sum(), grid, ineq=lambda x: x.sum() - 3))
    assert sol.status == "optimal" and sol.x.shape == (3, 2)
    np.testing.assert_allclose(sol.x_flat, 0.5, atol=1e-8)


def test_projections_keep_the_dtype_and_handle_scalars() -> None:
    v32 = cr.tensor([0.3, 0.9, -0.1])
    out = C.project_simplex(v32)
    assert out.x.dtype == cr.float32 and out.theta.dtype == cr.float32
    np.testing.assert_allclose(out.x.numpy(), [0.2, 0.8, 0.0], atol=1e-6)
    assert float(C.project_l1_ball(np.array(3.0))) == 1.0  # a scalar is a vector of one
    assert float(C.project_l1_ball(np.array(-0.5))) == -0.5
    assert C.project_l1_ball(np.ones((2, 0))).shape == (2, 0)


# ---- badly scaled LPs -------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1e-8, 1e-6, 1e-3, 0.1, 1e3, 1e6, 1e9])
@pytest.mark.parametrize("row", [1e-3, 1.0])
def test_lp_with_a_tiny_or_huge_objective_matches_highs(k: float, row: float) -> None:
    """min k(x0 + 2x1) s.t. x0 + x1 >= 1, x >= 0: with k = 1e-8 the interior point used to stop
    "optimal" 1.5% above the optimum (its absolute s∘μ test), with k = 1e6 (rows 1e-3) it
    divided by a zero duality gap or ran off to 1e27."""
    c, Cm, d = np.array([k, 2 * k]), np.array([[-row, -row]]), np.array([-row])
    ref = linprog(c, A_ub=Cm, b_ub=d, bounds=(0, None))
    sol = C.solve(C.LinearProblem(c, C=Cm, d=d, bounds=(0, None)))
    assert sol.status == "optimal" and abs(sol.fun - ref.fun) <= 1e-8 * abs(ref.fun)
    np.testing.assert_allclose(sol.x_flat, ref.x, atol=1e-8)
    assert abs(sol.mu[0] * row - k) <= 1e-6 * k  # the multiplier of x0 + x1 >= 1, unscaled


def test_scipy_style_bounds_are_refused_with_the_conversion() -> None:
    with pytest.raises(ValueError, match=r"bounds must be a pair \(lb, ub\).*zip"):
        C.LinearProblem([1.0, 1.0, 1.0], bounds=[(0, 1), (0, 1), (0, 1)])


@pytest.mark.parametrize("number,method", [(12, "interior_point"), (35, "interior_point"),
                                           (76, "interior_point"), (118, "interior_point"),
                                           (12, "augmented_lagrangian"),
                                           (35, "augmented_lagrangian"),
                                           (76, "augmented_lagrangian")])
def test_a_tiny_objective_still_reaches_the_minimiser(number: int, method: str) -> None:
    """f·1e-8 passed the absolute stopping tests almost anywhere: HS35 ended "optimal" 0.02 and
    HS118 (augmented Lagrangian) 20 away from x*. The objective is now scaled up first."""
    p = next(q for q in PROBLEMS if q.number == number)
    tiny = HS(p.number, lambda x, f=p.f: 1e-8 * f(x), p.x0, 1e-8 * p.f_star, p.eq, p.geq,
              p.bounds, p.x_star)
    sol = C.solve(tiny.problem(), method=method)
    assert sol.status == "optimal", sol.message
    np.testing.assert_allclose(sol.x_flat, p.x_star, atol=1e-5)
    ref = C.solve(p.problem(), method=method)  # the multipliers scale with f
    np.testing.assert_allclose(sol.mu, 1e-8 * ref.mu, atol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_iterates_that_ran_off_are_not_called_infeasible() -> None:
    """HS33's cubic objective makes the augmented Lagrangian unbounded below in x1: its
    iterates run off to 1e102, where the violation looked 'stationary' relative to x."""
    p = next(q for q in PROBLEMS if q.number == 33)
    sol = C.solve(p.problem(), method="augmented_lagrangian")
    assert sol.status in ("numerical", "optimal"), (sol.status, sol.message)
    if sol.status == "numerical":
        assert "non-finite objective" in sol.message
