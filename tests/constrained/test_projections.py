"""Projections onto the box, simplex, L1 and L2 balls: worked example, KKT, cvxpy, batching."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import constrained as C


def cvxpy():
    """cvxpy (the `test` extra) as the reference for dual values; skip where it is missing."""
    return pytest.importorskip("cvxpy")


def simplex_problem(v: np.ndarray, radius: float = 1.0) -> C.Problem:
    """min ½‖x - v‖² s.t. Σx = r, x >= 0 (λ = θ for the sum, μ = ν for the bounds)."""
    vt = cr.tensor(v)
    return C.Problem(lambda x: 0.5 * ((x - vt) ** 2).sum(), cr.zeros(v.size, dtype=cr.float64),
                     eq=lambda x: x.sum() - radius, bounds=(0.0, None))


def test_simplex_worked_example_with_kkt():
    v = np.array([1.0, 0.5, -0.2])
    x, theta = C.project_simplex(v)
    np.testing.assert_allclose(x, [0.75, 0.25, 0.0], atol=1e-15)
    assert theta == pytest.approx(0.25)
    # stationarity x - v + θ·1 - ν = 0 gives ν = x - v + θ: (0, 0, 0.45) >= 0, ν∘x = 0
    nu = x - v + theta
    np.testing.assert_allclose(nu, [0, 0, 0.45], atol=1e-15)
    rep = C.kkt_report(simplex_problem(v), x, lam=[theta], mu=nu)
    assert rep.max_residual <= 1e-12 and rep.active_set == [2]
    # interior point on the same problem finds the same point and multipliers
    sol = C.interior_point(simplex_problem(v))
    np.testing.assert_allclose(sol.x_flat, x, atol=1e-8)
    np.testing.assert_allclose(sol.lam, [theta], atol=1e-8)
    np.testing.assert_allclose(sol.mu, nu, atol=1e-8)


@pytest.mark.parametrize("radius", [1.0, 2.5])
def test_simplex_random_against_cvxpy_and_kkt(radius):
    cp = cvxpy()
    rng = np.random.default_rng(0)
    for _ in range(3):
        v = rng.normal(size=7) * 2
        x, theta = C.project_simplex(v, radius)
        w = cp.Variable(7)
        cons = [cp.sum(w) == radius, w >= 0]
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w - v)), cons).solve(solver="CLARABEL")
        np.testing.assert_allclose(x, w.value, atol=1e-6)
        assert theta == pytest.approx(cons[0].dual_value, abs=1e-6)  # cvxpy: L = f + y(Σw - r)
        rep = C.kkt_report(simplex_problem(v, radius), x, lam=[theta], mu=x - v + theta)
        assert rep.max_residual <= 1e-12


def test_batched_projections_match_row_by_row():
    rng = np.random.default_rng(1)
    V = rng.normal(size=(4, 3, 6)) * 3
    X, theta = C.project_simplex(V, 2.0)
    assert X.shape == V.shape and theta.shape == (4, 3)
    L1 = C.project_l1_ball(V, 1.5)
    L2 = C.project_l2_ball(V, 1.5)
    for i in range(4):
        for j in range(3):
            xr, tr = C.project_simplex(V[i, j], 2.0)
            np.testing.assert_allclose(X[i, j], xr, atol=1e-14)
            assert theta[i, j] == pytest.approx(tr)
            np.testing.assert_allclose(L1[i, j], C.project_l1_ball(V[i, j], 1.5), atol=1e-14)
            np.testing.assert_allclose(L2[i, j], C.project_l2_ball(V[i, j], 1.5), atol=1e-14)
    np.testing.assert_allclose(np.abs(L1).sum(-1), 1.5)
    np.testing.assert_allclose(np.linalg.norm(L2, axis=-1), 1.5)


def test_l1_and_l2_balls_against_cvxpy():
    cp = cvxpy()
    rng = np.random.default_rng(2)
    for radius in (0.5, 3.0):
        v = rng.normal(size=6) * 2
        x1 = C.project_l1_ball(v, radius)
        w = cp.Variable(6)
        cp.Problem(cp.Minimize(cp.sum_squares(w - v)), [cp.norm1(w) <= radius]).solve(
            solver="CLARABEL")
        np.testing.assert_allclose(x1, w.value, atol=1e-7)
        x2 = C.project_l2_ball(v, radius)
        cp.Problem(cp.Minimize(cp.sum_squares(w - v)), [cp.norm(w, 2) <= radius]).solve(
            solver="CLARABEL")
        np.testing.assert_allclose(x2, w.value, atol=1e-6)
    inside = np.array([0.1, -0.2])  # points inside a ball are left alone
    np.testing.assert_array_equal(C.project_l1_ball(inside, 1.0), inside)
    np.testing.assert_array_equal(C.project_l2_ball(inside, 1.0), inside)


def test_box_tensors_in_tensors_out_and_errors():
    t = cr.tensor([-2.0, 0.5, 3.0], dtype=cr.float64)
    out = C.project_box(t, 0.0, [1.0, 1.0, 2.0])
    assert isinstance(out, cr.Tensor)
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.5, 2.0])
    x, theta = C.project_simplex(t)
    assert isinstance(x, cr.Tensor) and float(x.sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="radius"):
        C.project_l2_ball(t, 0.0)
    with pytest.raises(ValueError, match="lower > upper"):
        C.project_box(t, 1.0, 0.0)
