"""Textbook LPs, QPs and equality-constrained least squares with published optima, and bad input.

* LPs: the Wyndor Glass problem (Hillier & Lieberman, *Introduction to Operations Research*:
  Z* = 36 at (2, 6), shadow prices 0, 3/2, 1), the Klee–Minty cube (n = 3: 10000 at
  (0, 0, 10000)), Beale's cycling example (degenerate; f* = -5/4 at x = (1, 0, 1, 0)), a
  degenerate vertex, a face of optima, and infeasible and unbounded LPs. Each against
  ``scipy.optimize.linprog`` (HiGHS): the status, f, the duality gap (the dual objective
  -bᵀλ - dᵀμ equals f), and the certificate of an infeasible or unbounded LP.
* QPs: Nocedal & Wright's Example 16.2 (equality QP, x* = (2, -1, 1), λ* = (3, -2) in their
  sign, -3, 2 in ours) and Example 16.4 (x* = (1.4, 1.7)), a Markowitz portfolio, a QP whose
  active constraints are linearly dependent at x*, and one with a redundant equality row,
  against cvxpy (Clarabel) where it is installed.
* Equality-constrained least squares min ‖Ax - b‖² s.t. Cx = d against the solution of its KKT
  system, including rank-deficient C.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog
from test_status import LINPROG, check_certificate

import chainrule as cr
from chainrule import constrained as C

# name: (c, A_ub, b_ub, A_eq, b_eq, lower bound, published f* or None, published x* or None)
LPS = {
    # max 3x1 + 5x2 → min -3x1 - 5x2; x1 <= 4, 2x2 <= 12, 3x1 + 2x2 <= 18
    "wyndor": ([-3, -5], [[1, 0], [0, 2], [3, 2]], [4, 12, 18], None, None, 0, -36, [2, 6]),
    # max 100x1 + 10x2 + x3; x1 <= 1, 20x1 + x2 <= 100, 200x1 + 20x2 + x3 <= 10000
    "klee_minty": ([-100, -10, -1], [[1, 0, 0], [20, 1, 0], [200, 20, 1]], [1, 100, 10000],
                   None, None, 0, -10000, [0, 0, 10000]),
    # Beale (1955): the simplex method with the classical pivot rule cycles on it
    "beale_cycling": ([-0.75, 20, -0.5, 6], [[0.25, -8, -1, 9], [0.5, -12, -0.5, 3],
                                              [0, 0, 1, 0]], [0, 0, 1], None, None, 0, -1.25,
                      [1, 0, 1, 0]),
    # three constraints active at the optimum (1, 1) in the plane: a degenerate vertex
    "degenerate_vertex": ([-1, -1], [[1, 0], [0, 1], [1, 1]], [1, 1, 2], None, None, 0, -2,
                          [1, 1]),
    # a whole edge x1 + x2 = 1 of optima (dual degenerate)
    "face_of_optima": ([-1, -1], [[1, 1], [1, 0], [0, 1]], [1, 1, 1], None, None, 0, -1, None),
    # transportation-like with equalities
    "with_equalities": ([2, 3, 1], [[1, 1, 0]], [4], [[1, 1, 1]], [5], 0, None, None),
    "infeasible_ineq": ([1, 1], [[1, 1], [-1, -1]], [1, -3], None, None, 0, None, None),
    "infeasible_eq": ([1, 1], None, None, [[1, 1]], [-1], 0, None, None),
    "unbounded": ([-1, 0], [[1, -1]], [1], None, None, 0, None, None),
    "unbounded_free": ([1, 1], [[1, -1]], [1], None, None, None, None, None),
    # no inequality at all: solve's exact equality step has nothing to stand on, and the
    # interior point proves the status (this ended "max_iter" in newton_kkt before)
    "unbounded_unconstrained": ([1, 0], None, None, None, None, None, None, None),
    "inconsistent_equalities": ([1, 1], None, None, [[1, 1], [1, 1]], [1, 2], None, None, None),
    "equalities_only": ([1, 1, 0], None, None, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [1, 2, 3],
                        None, 3, [1, 2, 3]),
}


@pytest.mark.parametrize("name", list(LPS))
def test_textbook_lp_against_highs(name):
    c, A_ub, b_ub, A_eq, b_eq, lo, f_star, x_star = LPS[name]
    ref = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                  bounds=(lo, None), method="highs")
    lp = C.LinearProblem(np.asarray(c, dtype=float), A=A_eq, b=b_eq, C=A_ub, d=b_ub,
                         bounds=(lo, None) if lo is not None else None)
    sol = C.solve(lp)
    assert sol.status == LINPROG[ref.status], sol.message
    assert sol.converged == (ref.status == 0)
    check_certificate(sol, lp)
    if ref.status != 0:
        assert sol.certificate is not None
        return
    assert abs(sol.fun - ref.fun) <= 1e-7 * (1 + abs(ref.fun))
    if f_star is not None:
        assert abs(sol.fun - f_star) <= 1e-7 * (1 + abs(f_star))
    if x_star is not None:
        np.testing.assert_allclose(sol.x_flat, x_star, atol=1e-6 * (1 + max(x_star)))
    # strong duality: the dual objective -bᵀλ - dᵀμ at the returned multipliers equals f
    assert sol.kkt.dual_objective is not None
    assert abs(sol.kkt.dual_objective - sol.fun) <= 1e-6 * (1 + abs(sol.fun))
    assert sol.kkt.ok(1e-7)


def test_wyndor_shadow_prices():
    """The published shadow prices (0, 3/2, 1) of the three capacities are the multipliers μ
    of Cx <= d, and HiGHS's marginals (∂f/∂d, so -μ)."""
    c, A_ub, b_ub, *_ = LPS["wyndor"]
    sol = C.solve(C.LinearProblem(np.asarray(c, dtype=float), C=A_ub, d=b_ub, bounds=(0, None)))
    np.testing.assert_allclose(sol.mu[:3], [0.0, 1.5, 1.0], atol=1e-7)
    ref = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    np.testing.assert_allclose(sol.mu[:3], -ref.ineqlin.marginals, atol=1e-7)


# ---- convex QPs --------------------------------------------------------------------------------
def test_nocedal_wright_example_16_2():
    G = [[6.0, 2, 1], [2, 5, 2], [1, 2, 4]]
    qp = C.QuadraticProblem(G, [-8.0, -3, -3], A=[[1, 0, 1], [0, 1, 1]], b=[3, 0])
    sol = C.solve(qp)
    assert sol.status == "optimal" and sol.method == "newton_kkt"
    np.testing.assert_allclose(sol.x_flat, [2, -1, 1], atol=1e-12)
    np.testing.assert_allclose(sol.lam, [-3, 2], atol=1e-12)  # N&W's (3, -2), L = f - λᵀh


def test_nocedal_wright_example_16_4():
    # min (x1 - 1)² + (x2 - 2.5)² over five half-planes; x* = (1.4, 1.7), f* = 0.8
    qp = C.QuadraticProblem(2 * np.eye(2), [-2.0, -5.0], C=[[-1, 2], [1, 2], [1, -2]],
                            d=[2, 6, 2], bounds=(0, None))
    sol = C.solve(qp)
    assert sol.status == "optimal"
    np.testing.assert_allclose(sol.x_flat, [1.4, 1.7], atol=1e-9)
    assert abs(sol.fun + 1 + 6.25 - 0.8) <= 1e-9  # f plus the dropped constant 1 + 6.25
    assert sol.kkt.active_set == [0]  # only x1 - 2x2 + 2 >= 0 is active (μ = 0.8)
    np.testing.assert_allclose(sol.mu[0], 0.8, atol=1e-8)


def _cvxpy_qp(G, c, A=None, b=None, Cm=None, d=None, lo=None):
    cp = pytest.importorskip("cvxpy")
    n = len(c)
    x = cp.Variable(n)
    cons = []
    if A is not None:
        cons.append(np.asarray(A) @ x == np.asarray(b))
    if Cm is not None:
        cons.append(np.asarray(Cm) @ x <= np.asarray(d))
    if lo is not None:
        cons.append(x >= lo)
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(np.asarray(G)))
                                  + np.asarray(c) @ x), cons)
    prob.solve(solver=cp.CLARABEL)
    return prob.status, prob.value, x.value


def _portfolio():
    rng = np.random.default_rng(7)
    F = rng.standard_normal((6, 4))
    sigma = F @ F.T / 4 + 0.05 * np.eye(6)
    ret = rng.uniform(0.02, 0.12, 6)
    # min ½ xᵀ(2Σ)x s.t. 1ᵀx = 1, retᵀx >= 0.08, x >= 0
    return dict(G=2 * sigma, c=np.zeros(6), A=np.ones((1, 6)), b=[1.0], Cm=-ret[None, :],
                d=[-0.08], lo=0.0)


def _dependent_active():
    # x1 + x2 <= 1, 2x1 + 2x2 <= 2 and x1 <= 1 - x2 all active at x* = (0.5, 0.5): LICQ fails
    return dict(G=2 * np.eye(2), c=[-2.0, -2.0], Cm=[[1, 1], [2, 2], [1, 1]], d=[1, 2, 1])


def _redundant_equality():
    return dict(G=np.diag([1.0, 2, 3]), c=[1.0, -1, 2], A=[[1, 1, 1], [2, 2, 2], [1, -1, 0]],
                b=[1, 2, 0], Cm=[[0, 0, 1]], d=[0.2])


QPS = {"portfolio": _portfolio, "dependent_active": _dependent_active,
       "redundant_equality": _redundant_equality}


@pytest.mark.parametrize("name", list(QPS))
def test_convex_qp_against_clarabel(name):
    data = QPS[name]()
    status, value, x_ref = _cvxpy_qp(**data)
    assert status == "optimal"
    qp = C.QuadraticProblem(data["G"], data["c"], A=data.get("A"), b=data.get("b"),
                            C=data.get("Cm"), d=data.get("d"),
                            bounds=(data["lo"], None) if data.get("lo") is not None else None)
    sol = C.solve(qp)
    assert sol.status == "optimal" and sol.converged, sol.message
    assert abs(sol.fun - value) <= 1e-6 * (1 + abs(value))
    np.testing.assert_allclose(sol.x_flat, x_ref, atol=1e-5)
    assert sol.kkt.ok(1e-7)


# ---- equality-constrained least squares --------------------------------------------------------
def _ecls_reference(A: np.ndarray, b: np.ndarray, Cm: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The minimiser from the KKT system [[2AᵀA, Cᵀ], [C, 0]] [x; λ] = [2Aᵀb; d] (least
    squares, so a rank-deficient C with consistent d is fine)."""
    n, p = A.shape[1], Cm.shape[0]
    K = np.block([[2 * A.T @ A, Cm.T], [Cm, np.zeros((p, p))]])
    return np.linalg.lstsq(K, np.concatenate([2 * A.T @ b, d]), rcond=None)[0][:n]


@pytest.mark.parametrize("rank_deficient", [False, True])
def test_equality_constrained_least_squares(rank_deficient):
    rng = np.random.default_rng(3)
    A, b = rng.standard_normal((12, 5)), rng.standard_normal(12)
    Cm, d = rng.standard_normal((2, 5)), rng.standard_normal(2)
    if rank_deficient:  # a third row, the sum of the first two (consistent right-hand side)
        Cm, d = np.vstack([Cm, Cm.sum(0)]), np.append(d, d.sum())
    x_ref = _ecls_reference(A, b, Cm, d)
    At, bt, Ct, dt = (cr.tensor(v, dtype=cr.float64) for v in (A, b, Cm, d))
    prob = C.Problem(lambda x: ((At @ x - bt) ** 2).sum(), cr.zeros(5, dtype=cr.float64),
                     eq=lambda x: Ct @ x - dt)
    for sol in (C.newton_kkt(prob), C.interior_point(prob)):
        assert sol.status == "optimal", (sol.method, sol.message)
        np.testing.assert_allclose(sol.x_flat, x_ref, atol=1e-8)
        assert np.abs(Cm @ sol.x_flat - d).max() <= 1e-10
    qp = C.QuadraticProblem(2 * A.T @ A, -2 * A.T @ b, A=Cm, b=d)
    np.testing.assert_allclose(C.solve(qp).x_flat, x_ref, atol=1e-8)


# ---- bad input: a clear error naming what was wrong --------------------------------------------
BAD = {
    "nan in c": (lambda: C.LinearProblem([1.0, np.nan]), "c has the non-finite entry nan"),
    "nan in G": (lambda: C.QuadraticProblem([[1, np.nan], [0, 1]], [1.0, 1.0]),
                 r"G has the non-finite entry nan at index \(0, 1\)"),
    "nan in A": (lambda: C.LinearProblem([1.0, 1.0], A=[[1, np.nan]], b=[1]),
                 "A has the non-finite"),
    "inf in b": (lambda: C.LinearProblem([1.0, 1.0], A=[[1, 1]], b=[np.inf]),
                 "b has the non-finite entry inf"),
    "nan in C": (lambda: C.LinearProblem([1.0, 1.0], C=[[np.nan, 1]], d=[1]),
                 "C has the non-finite"),
    "nan in d": (lambda: C.LinearProblem([1.0, 1.0], C=[[1, 1]], d=[np.nan]),
                 "d has the non-finite"),
    "A columns": (lambda: C.LinearProblem([1.0, 1.0], A=[[1, 1, 1]], b=[1]),
                  r"A has shape \(1, 3\); expected \(m, 2\)"),
    "b length": (lambda: C.LinearProblem([1.0, 1.0], A=[[1, 1]], b=[1, 2]),
                 "b has 2 entries, expected 1"),
    "G shape": (lambda: C.QuadraticProblem(np.eye(3), [1.0, 1.0]), r"G has shape \(3, 3\)"),
    "x0 length": (lambda: C.QuadraticProblem(np.eye(2), [1.0, 1.0], x0=[1.0, 2.0, 3.0]),
                  "x0 has 3 entries; c has 2"),
    "lo > hi": (lambda: C.LinearProblem([1.0, 1.0], bounds=([0, 2], [1, 1])),
                "lower bound > upper bound.*flat index 1"),
    "nan bound": (lambda: C.LinearProblem([1.0, 1.0], bounds=(np.nan, 1)),
                  "a NaN bound at flat index 0"),
    "lower +inf": (lambda: C.LinearProblem([1.0, 1.0], bounds=(np.inf, None)),
                   r"lower bound \+inf"),
    "upper -inf": (lambda: C.LinearProblem([1.0, 1.0], bounds=(None, -np.inf)),
                   "upper bound -inf"),
    "bound shape": (lambda: C.LinearProblem([1.0, 1.0], bounds=([0, 0, 0], 1)),
                    "does not broadcast"),
    "nan x0": (lambda: C.Problem(lambda v: (v * v).sum(),
                                 cr.tensor([np.nan, 1.0], dtype=cr.float64)),
               "x0 has the non-finite entry nan at flat index 0"),
    "x0 to solve": (lambda: C.solve(C.LinearProblem([1.0, 1.0], bounds=(0, 1)), x0=[1.0]),
                    "a point with 1 entries was given; the problem has 2 variables"),
    "unknown method": (lambda: C.solve(C.LinearProblem([1.0], bounds=(0, 1)), method="simplex"),
                       "unknown method 'simplex'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_names_what_is_wrong(case):
    make, pattern = BAD[case]
    with pytest.raises(ValueError, match=pattern):
        make()


def test_none_inside_a_bound_list_means_no_bound():
    prob = C.Problem(lambda v: ((v - 3) ** 2).sum(), cr.zeros(2, dtype=cr.float64),
                     bounds=(None, [1.0, None]))
    assert prob.n_ineq == 1
    np.testing.assert_allclose(C.solve(prob).x_flat, [1.0, 3.0], atol=1e-8)
