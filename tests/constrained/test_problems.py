"""Problem construction and derivatives, KKTReport, the closed-form dual, the docs snippets."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

import chainrule as cr
from chainrule import constrained as C

G = np.array([[6.0, 2, 1], [2, 5, 2], [1, 2, 4]])
c = np.array([-8.0, -3, -3])
A = np.array([[1.0, 0, 1], [0, 1, 1]])
b = np.array([3.0, 0])


def eq_qp_problem() -> C.Problem:
    Gt, ct = cr.tensor(G), cr.tensor(c)
    return C.Problem(lambda x: 0.5 * x @ (Gt @ x) + ct @ x, cr.zeros(3, dtype=cr.float64),
                     eq=lambda x: cr.stack([x[0] + x[2] - 3, x[1] + x[2]]))


def test_autograd_derivatives_of_a_qp_are_its_matrices():
    prob = eq_qp_problem()
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(prob.grad(x), G @ x + c, rtol=1e-12)
    np.testing.assert_allclose(prob.lagrangian_hessian(x, [1.0, -2.0]), G, rtol=1e-12)
    np.testing.assert_allclose(prob.eq_jac(x), A, rtol=1e-12)
    np.testing.assert_allclose(prob.eq(x), A @ x - b, atol=1e-14)
    np.testing.assert_allclose(prob.fun(x), 0.5 * x @ G @ x + c @ x, rtol=1e-12)
    qp = C.QuadraticProblem(G, c, A=A, b=b)
    lam = np.array([0.7, -0.4])
    for p in (prob, qp):
        np.testing.assert_allclose(p.lagrangian_grad(x, lam), G @ x + c + A.T @ lam, rtol=1e-12)
        assert p.lagrangian(x, lam) == pytest.approx(qp.fun(x) + lam @ (A @ x - b), rel=1e-12)


def test_several_tensors_nonlinear_constraints_and_bounds():
    # x of shape (2,), W of shape (2, 2): f = Σx² + Σ W², h = x₀W₀₀ - 1, g = ‖W x‖² - 4
    def f(x, W):
        return (x * x).sum() + (W * W).sum()

    x0 = cr.tensor([1.0, 2.0], dtype=cr.float64)
    W0 = cr.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=cr.float64)
    prob = C.Problem(f, [x0, W0], eq=lambda x, W: x[0] * W[0, 0] - 1,
                     ineq=[lambda x, W: ((W @ x) ** 2).sum() - 4, lambda x, W: W[1] - 5],
                     bounds=[(-1.0, None), (None, np.full((2, 2), 3.0))])
    assert (prob.n, prob.n_eq, prob.n_ineq_user, prob.n_ineq) == (6, 1, 3, 3 + 2 + 4)
    z = prob.flatten([x0, W0])
    np.testing.assert_array_equal(z, [1.0, 2.0, 0.5, -1.0, 2.0, 0.3])
    xs = prob.to_tensors(z)
    assert isinstance(xs, tuple) and xs[1].shape == (2, 2)

    def numeric_jac(fn, z, eps=1e-6):
        return np.stack([(fn(z + eps * e) - fn(z - eps * e)) / (2 * eps)
                         for e in np.eye(z.size)], axis=1)

    np.testing.assert_allclose(prob.ineq_jac(z), numeric_jac(prob.ineq, z), atol=1e-7)
    np.testing.assert_allclose(prob.eq_jac(z), numeric_jac(prob.eq, z), atol=1e-7)
    lam, mu = np.array([0.7]), np.linspace(0.1, 0.9, prob.n_ineq)
    H = prob.lagrangian_hessian(z, lam, mu)
    num = numeric_jac(lambda v: prob.lagrangian_grad(v, lam, mu), z)
    np.testing.assert_allclose(H, num, atol=1e-6)
    g = prob.ineq(z)  # the bound rows: lb - x (x's two entries) then x - ub (W's four)
    np.testing.assert_allclose(g[3:5], -1.0 - z[:2])
    np.testing.assert_allclose(g[5:], z[2:] - 3.0)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="scalar"):
        C.Problem(lambda x: x * 2, cr.zeros(3, dtype=cr.float64))
    with pytest.raises(ValueError, match="lower bound"):
        C.Problem(lambda x: x.sum(), cr.zeros(2, dtype=cr.float64), bounds=(1.0, 0.0))
    with pytest.raises(ValueError, match="broadcast"):
        C.Problem(lambda x: x.sum(), cr.zeros(2, dtype=cr.float64), bounds=([0, 0, 0], None))
    prob = eq_qp_problem()
    with pytest.raises(ValueError, match="2 equality"):
        prob.lagrangian(np.zeros(3), lam=[1.0])
    with pytest.raises(ValueError, match="3 variables"):
        prob.fun(np.zeros(4))
    with pytest.raises(ValueError, match="G must be"):
        C.QuadraticProblem(np.eye(2), [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="not a function"):
        C.Problem(lambda x: x.sum(), cr.zeros(2, dtype=cr.float64), eq=[3.0])


def test_kkt_report_on_the_disc():
    # min x + y s.t. x² + y² <= 2: x* = (-1, -1), μ* = 1/2 (∇f + μ∇g = 1 + 2μ(-1) = 0)
    prob = C.Problem(lambda v: v.sum(), cr.zeros(2, dtype=cr.float64),
                     ineq=lambda v: (v * v).sum() - 2)
    rep = C.kkt_report(prob, [-1.0, -1.0], mu=[0.5])
    assert rep.ok(1e-12) and rep.active_set == [0] and rep.duality_gap is None
    text = str(rep)
    for key in ("stationarity", "primal feasibility", "dual feasibility", "slackness", "active"):
        assert key in text
    bad = C.kkt_report(prob, [-1.0, -1.0], mu=[-0.5])  # wrong sign of μ
    assert bad.dual_feasibility == pytest.approx(0.5) and not bad.ok()
    assert bad.stationarity == pytest.approx(math.sqrt(8.0))
    inside = C.kkt_report(prob, [0.0, 0.0], mu=[1.0])  # μ > 0 on an inactive constraint
    assert inside.complementary_slackness == pytest.approx(2.0) and inside.active_set == []
    outside = C.kkt_report(prob, [2.0, 0.0], mu=[0.0])
    assert outside.primal_feasibility == pytest.approx(2.0)


def test_qp_dual_function_matches_numerical_infimum_and_weak_duality():
    rng = np.random.default_rng(0)
    qp = C.QuadraticProblem(2 * np.eye(2), [-2.0, -5.0], C=[[-1, 2], [1, 2], [1, -2]],
                            d=[2, 6, 2], bounds=(0, None))
    f_star = qp.fun([1.4, 1.7])
    for _ in range(5):
        mu = rng.uniform(0, 2, qp.n_ineq)
        q = C.dual_function(qp, None, mu)
        res = minimize(lambda x, mu=mu: qp.lagrangian(x, None, mu), np.zeros(2),
                       jac=lambda x, mu=mu: qp.lagrangian_grad(x, None, mu), tol=1e-12)
        assert q == pytest.approx(res.fun, abs=1e-8)
        np.testing.assert_allclose(qp.minimizer(None, mu), res.x, atol=1e-6)
        assert q <= f_star + 1e-12  # weak duality
    mu_star = np.array([0.8, 0, 0, 0, 0])
    assert C.dual_function(qp, None, mu_star) == pytest.approx(f_star, abs=1e-12)


def test_lp_dual_is_minus_infinity_off_the_constraint_and_exact_at_optimum():
    lp = C.LinearProblem([-1.0, -2.0], C=[[1, 1], [1, -1]], d=[4, 1], bounds=(0, None))
    assert C.dual_function(lp, None, [1.0, 0, 0, 0]) == -np.inf
    # c + Cᵀμ = 0 with μ = (2, 0, 1, 0): (-1 + 2 - 1, -2 + 2 + 0) = 0
    assert C.dual_function(lp, None, [2.0, 0, 1, 0]) == pytest.approx(lp.fun([0.0, 4.0]))
    general = C.Problem(lambda x: (x ** 2).sum(), cr.zeros(2, dtype=cr.float64))
    with pytest.raises(TypeError, match="closed-form"):
        C.dual_function(general)


def _snippets(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_docs_snippets_run():
    doc = Path(__file__).resolve().parents[2] / "docs" / "constrained.md"
    blocks = _snippets(doc)
    assert len(blocks) >= 5
    env: dict = {}
    for block in blocks:  # one namespace: later snippets build on earlier ones
        exec(compile(block, str(doc), "exec"), env)
