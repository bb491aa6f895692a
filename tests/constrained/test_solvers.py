"""Solvers against analytic optima, cvxpy's dual values and SciPy (SLSQP multipliers, linprog)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

import chainrule as cr
from chainrule import constrained as C
from chainrule.constrained._inner import InnerBFGS


def cvxpy():
    """cvxpy (the `test` extra) as the reference for dual values; skip where it is missing."""
    return pytest.importorskip("cvxpy")

G = np.array([[6.0, 2, 1], [2, 5, 2], [1, 2, 4]])
c = np.array([-8.0, -3, -3])
A = np.array([[1.0, 0, 1], [0, 1, 1]])
b = np.array([3.0, 0])
X_STAR = np.array([2.0, -1.0, 1.0])


def eq_qp() -> C.Problem:
    Gt, ct = cr.tensor(G), cr.tensor(c)
    return C.Problem(lambda x: 0.5 * x @ (Gt @ x) + ct @ x, cr.zeros(3, dtype=cr.float64),
                     eq=lambda x: cr.stack([x[0] + x[2] - 3, x[1] + x[2]]))


@pytest.fixture(scope="module")
def eq_qp_cvxpy() -> tuple[np.ndarray, float, np.ndarray] | None:
    """cvxpy's solution and dual values, or None without cvxpy (the analytic checks remain)."""
    try:
        import cvxpy as cp
    except ImportError:
        return None
    x = cp.Variable(3)
    cons = [A @ x == b]
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, G) + c @ x), cons)
    prob.solve(solver="CLARABEL")
    return x.value, prob.value, cons[0].dual_value


def ineq_qp() -> C.Problem:
    """min (x1-1)² + (x2-2.5)² s.t. aᵢ(x) >= 0 written as gᵢ = -aᵢ <= 0, and x >= 0."""
    return C.Problem(
        lambda x: (x[0] - 1) ** 2 + (x[1] - 2.5) ** 2, cr.zeros(2, dtype=cr.float64),
        ineq=lambda x: cr.stack([-(x[0] - 2 * x[1] + 2), -(-x[0] - 2 * x[1] + 6),
                                 -(-x[0] + 2 * x[1] + 2)]),
        bounds=(0.0, None))


def ineq_qp_matrices() -> C.QuadraticProblem:
    # the same problem: ½xᵀ(2I)x + (-2, -5)ᵀx (+ 7.25), Cx <= d
    return C.QuadraticProblem(2 * np.eye(2), [-2.0, -5.0], C=[[-1, 2], [1, 2], [1, -2]],
                              d=[2, 6, 2], bounds=(0.0, None))


@pytest.fixture(scope="module")
def ineq_qp_cvxpy() -> tuple[np.ndarray, np.ndarray] | None:
    try:
        import cvxpy as cp
    except ImportError:
        return None
    x = cp.Variable(2)
    cons = [x[0] - 2 * x[1] + 2 >= 0, -x[0] - 2 * x[1] + 6 >= 0, -x[0] + 2 * x[1] + 2 >= 0,
            x >= 0]
    cp.Problem(cp.Minimize(cp.sum_squares(x - np.array([1.0, 2.5]))), cons).solve(
        solver="CLARABEL")
    mu = np.concatenate([np.atleast_1d(k.dual_value) for k in cons])
    return x.value, mu


def check_kkt(sol: C.Solution, gap: bool = False) -> None:
    assert sol.converged, sol
    assert sol.kkt.max_residual <= 1e-6, sol.kkt
    if gap:
        assert sol.kkt.duality_gap is not None and abs(sol.kkt.duality_gap) <= 1e-6


def test_equality_qp_newton_is_exact_in_one_step(eq_qp_cvxpy):
    rng = np.random.default_rng(1)
    for problem in (eq_qp(), C.QuadraticProblem(G, c, A=A, b=b)):
        sol = C.newton_kkt(problem, x0=rng.normal(size=3) * 10)
        assert sol.n_iter == 1
        np.testing.assert_allclose(sol.x_flat, X_STAR, atol=1e-12)
        assert sol.fun == pytest.approx(-3.5, abs=1e-12)
        np.testing.assert_allclose(sol.lam, [-3.0, 2.0], atol=1e-12)
        if eq_qp_cvxpy is not None:
            x_cvx, f_cvx, lam_cvx = eq_qp_cvxpy
            np.testing.assert_allclose(sol.lam, lam_cvx, atol=1e-6)  # cvxpy: L = f + yᵀ(Ax-b)
            np.testing.assert_allclose(sol.x_flat, x_cvx, atol=1e-6)
            assert sol.fun == pytest.approx(f_cvx, abs=1e-6)
        check_kkt(sol, gap=isinstance(problem, C.QuadraticProblem))
    assert isinstance(sol.x, cr.Tensor) and sol.x.shape == (3,)


@pytest.mark.parametrize("method", ["interior_point", "augmented_lagrangian", "dual_ascent"])
def test_equality_qp_other_solvers(method):
    qp = C.QuadraticProblem(G, c, A=A, b=b)
    solver = C.dual_ascent if method == "dual_ascent" else getattr(C, method)
    sol = solver(qp)
    np.testing.assert_allclose(sol.x_flat, X_STAR, atol=1e-6)
    np.testing.assert_allclose(sol.lam, [-3.0, 2.0], atol=1e-5)
    check_kkt(sol, gap=True)


@pytest.mark.parametrize("build", ["autograd", "matrices"])
@pytest.mark.parametrize("method", ["interior_point", "augmented_lagrangian"])
def test_inequality_qp(build, method, ineq_qp_cvxpy):
    problem = ineq_qp() if build == "autograd" else ineq_qp_matrices()
    sol = getattr(C, method)(problem)
    np.testing.assert_allclose(sol.x_flat, [1.4, 1.7], atol=1e-7)
    # μ: the three g rows, then the two lower bounds; only the first constraint is active
    np.testing.assert_allclose(sol.mu, [0.8, 0, 0, 0, 0], atol=1e-6)
    if ineq_qp_cvxpy is not None:  # cvxpy's duals of aᵢ(x) >= 0 are our μ of -aᵢ(x) <= 0
        np.testing.assert_allclose(sol.mu, ineq_qp_cvxpy[1], atol=1e-6)
        np.testing.assert_allclose(sol.x_flat, ineq_qp_cvxpy[0], atol=1e-6)
    assert sol.kkt.active_set == [0]
    check_kkt(sol, gap=build == "matrices")


def test_augmented_lagrangian_to_a_tight_tolerance_with_the_dense_inner_bfgs():
    for problem in (ineq_qp(), C.QuadraticProblem(G, c, A=A, b=b)):
        sol = C.augmented_lagrangian(problem, optimizer="bfgs", tol=1e-9)
        assert sol.converged and sol.kkt.max_residual <= 1e-9


def test_inequality_qp_dual_ascent_and_projected_gradient_multipliers():
    qp = ineq_qp_matrices()
    sol = C.dual_ascent(qp)
    np.testing.assert_allclose(sol.x_flat, [1.4, 1.7], atol=1e-7)
    check_kkt(sol, gap=True)
    mu = C.estimate_multipliers(qp, np.array([1.4, 1.7]))[1]
    np.testing.assert_allclose(mu, [0.8, 0, 0, 0, 0], atol=1e-10)


def test_slsqp_agrees_on_a_nonconvex_objective():
    # Rosenbrock on the unit disc, solved by the augmented Lagrangian; SciPy's SLSQP reports
    # the multiplier of the constraint 1 - x² - y² >= 0, which is our μ for g = x² + y² - 1.
    prob = C.Problem(lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2,
                     cr.zeros(2, dtype=cr.float64), ineq=lambda v: (v * v).sum() - 1)
    sol = C.augmented_lagrangian(prob)
    ref = minimize(lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2, [0.0, 0.0],
                   method="SLSQP", constraints=[{"type": "ineq", "fun": lambda v: 1 - v @ v}],
                   options={"ftol": 1e-14, "maxiter": 500})
    np.testing.assert_allclose(sol.x_flat, ref.x, atol=1e-5)
    np.testing.assert_allclose(sol.mu, ref.multipliers, rtol=1e-4)
    check_kkt(sol)


def test_nonlinear_convex_problems_by_interior_point_and_newton():
    disc = C.Problem(lambda v: v.sum(), cr.zeros(2, dtype=cr.float64),
                     ineq=lambda v: (v * v).sum() - 2)
    sol = C.interior_point(disc)
    np.testing.assert_allclose(sol.x_flat, [-1, -1], atol=1e-8)
    np.testing.assert_allclose(sol.mu, [0.5], atol=1e-8)
    check_kkt(sol)
    # exp objective with a linear constraint and a bound: min e^x + e^y s.t. x + y >= 1, x <= 0.2
    prob = C.Problem(lambda v: v.exp().sum(), cr.zeros(2, dtype=cr.float64),
                     ineq=lambda v: 1 - v.sum(), bounds=(None, [0.2, None]))
    sol = C.interior_point(prob)
    np.testing.assert_allclose(sol.x_flat, [0.2, 0.8], atol=1e-8)
    # stationarity: e^0.8 = μ₁ (y), e^0.2 = μ₁ - μ_ub (x)
    np.testing.assert_allclose(sol.mu, [np.exp(0.8), np.exp(0.8) - np.exp(0.2)], atol=1e-7)
    check_kkt(sol)
    circle = C.Problem(lambda v: v.sum(), cr.tensor([1.0, 0.0], dtype=cr.float64),
                       eq=lambda v: (v * v).sum() - 2)
    sol = C.newton_kkt(circle)  # local: from (1, 0) it finds the maximum (1, 1), λ = -1/2
    np.testing.assert_allclose(sol.x_flat, [1, 1], atol=1e-12)
    np.testing.assert_allclose(sol.lam, [-0.5], atol=1e-12)
    sol = C.solve(circle)  # the barrier interior point (inertia-corrected) finds the minimum
    np.testing.assert_allclose(sol.x_flat, [-1, -1], atol=1e-7)
    check_kkt(sol)


def test_linear_program_against_linprog():
    c_lp = np.array([-1.0, -2.0, 0.5])
    C_lp = np.array([[1.0, 1, 1], [1, -1, 0], [0, 1, 2]])
    d_lp = np.array([4.0, 1, 5])
    A_lp, b_lp = np.array([[1.0, 0, -1]]), np.array([0.5])
    lp = C.LinearProblem(c_lp, A=A_lp, b=b_lp, C=C_lp, d=d_lp, bounds=(0, None))
    sol = C.interior_point(lp)
    ref = linprog(c_lp, A_ub=C_lp, b_ub=d_lp, A_eq=A_lp, b_eq=b_lp, method="highs")
    np.testing.assert_allclose(sol.x_flat, ref.x, atol=1e-7)
    # SciPy's marginals are ∂f*/∂b: μ = -marginals for Cx <= d and the bounds, λ = marginals
    np.testing.assert_allclose(sol.mu[:3], -ref.ineqlin.marginals, atol=1e-7)
    np.testing.assert_allclose(sol.mu[3:], ref.lower.marginals, atol=1e-7)
    np.testing.assert_allclose(sol.lam, -ref.eqlin.marginals, atol=1e-7)
    check_kkt(sol, gap=True)


def test_projected_gradient_box_and_simplex():
    cp = cvxpy()
    box = C.QuadraticProblem(np.array([[2.0, 0.5], [0.5, 1]]), [-4.0, 1], bounds=([0, 0], [1, 1]))
    sol = C.projected_gradient(box)
    np.testing.assert_allclose(sol.x_flat, C.interior_point(box).x_flat, atol=1e-8)
    np.testing.assert_allclose(sol.mu, [0, 1.5, 2, 0], atol=1e-7)
    check_kkt(sol)
    # least squares on the probability simplex, checked against cvxpy
    rng = np.random.default_rng(3)
    M, y = rng.normal(size=(8, 5)), rng.normal(size=8)
    Mt, yt = cr.tensor(M), cr.tensor(y)
    prob = C.Problem(lambda w: ((Mt @ w - yt) ** 2).sum(), cr.full((5,), 0.2, dtype=cr.float64),
                     eq=lambda w: w.sum() - 1, bounds=(0.0, None))
    sol = C.projected_gradient(prob, C.project_simplex)
    w = cp.Variable(5)
    cons = [cp.sum(w) == 1, w >= 0]
    cp.Problem(cp.Minimize(cp.sum_squares(M @ w - y)), cons).solve(solver="CLARABEL")
    np.testing.assert_allclose(sol.x_flat, w.value, atol=1e-6)
    np.testing.assert_allclose(sol.lam, cons[0].dual_value, atol=1e-5)
    check_kkt(sol)


def test_projected_gradient_on_l1_and_l2_balls():
    cp = cvxpy()
    rng = np.random.default_rng(4)
    M, y = rng.normal(size=(10, 6)), rng.normal(size=10) * 3
    Mt, yt = cr.tensor(M), cr.tensor(y)
    prob = C.Problem(lambda w: ((Mt @ w - yt) ** 2).sum(), cr.zeros(6, dtype=cr.float64))
    sol = C.projected_gradient(prob, lambda v: C.project_l1_ball(v, 0.8))
    w = cp.Variable(6)
    cp.Problem(cp.Minimize(cp.sum_squares(M @ w - y)), [cp.norm1(w) <= 0.8]).solve(
        solver="CLARABEL")
    assert sol.converged
    np.testing.assert_allclose(sol.x_flat, w.value, atol=1e-6)
    ball = C.Problem(lambda w: ((Mt @ w - yt) ** 2).sum(), cr.zeros(6, dtype=cr.float64),
                     ineq=lambda w: (w * w).sum() - 0.64)
    sol = C.projected_gradient(ball, lambda v: C.project_l2_ball(v, 0.8))
    ref = C.interior_point(ball)
    np.testing.assert_allclose(sol.x_flat, ref.x_flat, atol=1e-7)
    np.testing.assert_allclose(sol.mu, ref.mu, rtol=1e-5)
    check_kkt(sol)


def test_augmented_lagrangian_over_several_tensors_with_a_torch_shaped_optimizer():
    # min ‖a‖² + ‖B‖² s.t. Σa + ΣB = 3 (a: 2, B: 2x2): every entry is 1/2, λ = -1
    prob = C.Problem(lambda a, B: (a * a).sum() + (B * B).sum(),
                     [cr.zeros(2, dtype=cr.float64), cr.zeros(2, 2, dtype=cr.float64)],
                     eq=lambda a, B: a.sum() + B.sum() - 3)
    made = []

    def factory(params):
        made.append([tuple(p.shape) for p in params])
        return InnerBFGS(params, tolerance_grad=1e-11)

    sol = C.augmented_lagrangian(prob, optimizer=factory)
    assert made[0] == [(2,), (2, 2)]
    a, B = sol.x
    np.testing.assert_allclose(a.numpy(), [0.5, 0.5], atol=1e-8)
    np.testing.assert_allclose(B.numpy(), np.full((2, 2), 0.5), atol=1e-8)
    np.testing.assert_allclose(sol.lam, [-1.0], atol=1e-7)
    check_kkt(sol)


def test_augmented_lagrangian_with_chainrule_optim_lbfgs():
    optim = pytest.importorskip("chainrule.optim")
    if not hasattr(optim, "LBFGS"):
        pytest.skip("chainrule.optim.LBFGS is not available yet")
    sol = C.augmented_lagrangian(ineq_qp(), optimizer="lbfgs")
    np.testing.assert_allclose(sol.x_flat, [1.4, 1.7], atol=1e-6)
    check_kkt(sol)


def test_solver_errors_and_dispatch():
    with pytest.raises(ValueError, match="equality-constrained"):
        C.newton_kkt(ineq_qp_matrices())
    with pytest.raises(ValueError, match="convex"):
        C.interior_point(C.QuadraticProblem(np.diag([1.0, -1.0]), [0.0, 0.0], C=[[1, 1]], d=[1]))
    with pytest.raises(ValueError, match="project="):
        C.projected_gradient(ineq_qp())
    with pytest.raises(ValueError, match="unknown method"):
        C.solve(eq_qp(), method="simplex")
    assert C.solve(C.QuadraticProblem(G, c, A=A, b=b)).method == "newton_kkt"
    assert C.solve(ineq_qp_matrices()).method == "interior_point"
    assert "converged" in str(C.solve(ineq_qp_matrices()))
