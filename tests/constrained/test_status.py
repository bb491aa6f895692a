"""``Solution.status``: infeasible and unbounded problems against SciPy's linprog (and cvxpy's
Clarabel for QPs), non-finite values, and the interior point under several OpenBLAS kernels."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog

import chainrule as cr
from chainrule import constrained as C

ROOT = Path(__file__).resolve().parents[2]
LINPROG = {0: "optimal", 2: "infeasible", 3: "unbounded"}


def random_lp(seed: int) -> tuple[dict, C.LinearProblem]:
    """A small random LP: optimal, infeasible and unbounded ones all occur over the seeds."""
    rng = np.random.default_rng(seed)
    n, m, p = int(rng.integers(2, 6)), int(rng.integers(1, 6)), int(rng.integers(0, 2))
    data = {"c": rng.standard_normal(n), "A_ub": rng.standard_normal((m, n)),
            "b_ub": rng.standard_normal(m), "A_eq": rng.standard_normal((p, n)) if p else None,
            "b_eq": rng.standard_normal(p) if p else None,
            "bounds": (0, None) if seed % 2 == 0 else (None, None)}
    lp = C.LinearProblem(data["c"], A=data["A_eq"], b=data["b_eq"], C=data["A_ub"],
                         d=data["b_ub"], bounds=(0, None) if seed % 2 == 0 else None)
    return data, lp


def check_certificate(sol: C.Solution, qp: C.QuadraticProblem) -> None:
    """The certificate in ``sol`` proves its status (C, d include the bound rows)."""
    A, b, Cf, d = qp.A, qp.b, qp.C_full, qp.d_full
    if sol.status == "infeasible":  # Farkas: Aᵀy + Cᵀz = 0, z >= 0, bᵀy + dᵀz < 0
        y, z = sol.certificate["y"], sol.certificate["z"]
        scale = max(1.0, np.abs(np.concatenate([y, z])).max())
        assert np.abs(A.T @ y + Cf.T @ z).max(initial=0) <= 1e-8 * scale
        assert z.min(initial=0) >= -1e-10 * scale and b @ y + d @ z < -1e-6 * scale
    elif sol.status == "unbounded":  # a descent ray of the recession cone
        r = sol.certificate["ray"]
        assert np.abs(A @ r).max(initial=0) <= 1e-8 and (Cf @ r).max(initial=-1) <= 1e-8
        assert np.abs(qp.G @ r).max() <= 1e-8 and qp.c @ r < -1e-6


@pytest.mark.parametrize("seed", range(16))
def test_lp_status_matches_linprog(seed):
    data, lp = random_lp(seed)
    ref = linprog(method="highs", **data)
    sol = C.interior_point(lp)
    assert sol.status == LINPROG[ref.status], sol.message
    assert sol.converged == (ref.status == 0)
    if ref.status == 0:
        assert abs(sol.fun - ref.fun) <= 1e-7 * (1 + abs(ref.fun))
    check_certificate(sol, lp)


def test_the_lp_seeds_cover_every_status():
    statuses = {linprog(method="highs", **random_lp(s)[0]).status for s in range(16)}
    assert statuses == {0, 2, 3}


def test_qp_infeasible_and_unbounded():
    # x1 + x2 <= 1 and x1 + x2 >= 2: linprog (c = 0) agrees that no point exists
    qp = C.QuadraticProblem(np.eye(2), [0.0, 0.0], C=[[1, 1], [-1, -1]], d=[1, -2])
    assert linprog([0, 0], A_ub=[[1, 1], [-1, -1]], b_ub=[1, -2], bounds=(None, None)).status == 2
    sol = C.interior_point(qp)
    assert sol.status == "infeasible" and not sol.converged and "Farkas" in sol.message
    check_certificate(sol, qp)
    # a box and an equality that cannot meet
    qp = C.QuadraticProblem(np.eye(2), [1.0, 0.0], A=[[1, 1]], b=[3], bounds=(0, 1))
    sol = C.interior_point(qp)
    assert sol.status == "infeasible"
    check_certificate(sol, qp)
    # G = diag(1, 0): f = x1²/2 - x2 decreases without bound along x2 (x1 <= 1 only)
    qp = C.QuadraticProblem(np.diag([1.0, 0.0]), [0.0, -1.0], C=[[1, 0]], d=[1])
    sol = C.interior_point(qp)
    assert sol.status == "unbounded" and "unbounded" in sol.message
    check_certificate(sol, qp)
    r = sol.certificate["ray"]
    assert qp.fun(1e6 * r) < -1e5 and (qp.ineq(1e6 * r) <= 0).all()
    # the same G with x2 <= 3 is bounded: the optimum (0, 3)
    qp = C.QuadraticProblem(np.diag([1.0, 0.0]), [0.0, -1.0], C=[[1, 0], [0, 1]], d=[1, 3])
    sol = C.interior_point(qp)
    assert sol.status == "optimal"
    np.testing.assert_allclose(sol.x_flat, [0, 3], atol=1e-8)


@pytest.mark.parametrize("seed", range(12))
def test_random_qp_status_matches_clarabel(seed):
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(100 + seed)
    n, m = int(rng.integers(2, 6)), int(rng.integers(1, 6))
    M = rng.standard_normal((int(rng.integers(1, n + 1)), n))  # G = MᵀM, often singular
    G, c = M.T @ M, rng.standard_normal(n)
    Cm, d = rng.standard_normal((m, n)), rng.standard_normal(m)
    nonneg = seed % 2 == 0
    qp = C.QuadraticProblem(G, c, C=Cm, d=d, bounds=(0, None) if nonneg else None)
    sol = C.interior_point(qp)
    x = cp.Variable(n)
    ref = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(G)) + c @ x),
                     [Cm @ x <= d] + ([x >= 0] if nonneg else []))
    ref.solve(solver="CLARABEL")
    assert sol.status == ref.status, sol.message
    if ref.status == "optimal":
        assert abs(sol.fun - ref.value) <= 1e-6 * (1 + abs(ref.value))
    else:  # feasibility alone: linprog with c = 0 agrees
        feas = linprog(np.zeros(n), A_ub=Cm, b_ub=d, bounds=(0, None) if nonneg else (None, None))
        assert (feas.status == 2) == (sol.status == "infeasible")
    check_certificate(sol, qp)


# ---- non-finite values never pass -----------------------------------------------------------
def nan_constraint_problem() -> C.Problem:
    # the inequality is NaN at every point: log of a negative number
    return C.Problem(lambda v: (v * v).sum(), cr.zeros(2, dtype=cr.float64),
                     ineq=lambda v: (v[0] - 5).log())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_kkt_report_with_a_nan_constraint_is_not_ok():
    rep = C.kkt_report(nan_constraint_problem(), [0.0, 0.0], mu=[0.0])
    assert np.isnan(rep.primal_feasibility) and np.isnan(rep.max_residual)
    assert not rep.finite and not rep.ok() and not rep.ok(tol=np.inf)
    assert "not a KKT point" in str(rep)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_newton_kkt_with_a_nan_constraint_reports_numerical():
    prob = C.Problem(lambda v: (v * v).sum(), cr.zeros(2, dtype=cr.float64),
                     eq=lambda v: (v[0] - 5).log())
    sol = C.newton_kkt(prob)
    assert sol.status == "numerical" and not sol.converged
    assert "equality constraint" in sol.message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_interior_point_with_a_nan_constraint_reports_numerical():
    sol = C.interior_point(nan_constraint_problem())
    assert sol.status == "numerical" and "inequality constraint" in sol.message
    assert not sol.kkt.ok()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_augmented_lagrangian_stops_at_the_first_nan_objective():
    prob = C.Problem(lambda v: (v - 1).sqrt().sum(), cr.zeros(2, dtype=cr.float64),
                     ineq=lambda v: v.sum() - 1)
    start = time.perf_counter()
    sol = C.augmented_lagrangian(prob)
    assert time.perf_counter() - start < 5.0  # it ran 86 s before the fix
    assert sol.status == "numerical" and not sol.converged
    assert "objective" in sol.message and "outer iteration 1" in sol.message


def test_solution_status_values_and_str():
    qp = C.QuadraticProblem(np.eye(2), [-1.0, -1.0], C=[[1, 1]], d=[1])
    sol = C.solve(qp)
    assert sol.status == "optimal" and sol.converged and sol.message
    assert "optimal" in str(sol)
    short = C.interior_point(qp, max_iter=2)
    assert short.status == "max_iter" and not short.converged


# ---- OpenBLAS kernels: the E6 problems (the original CI failure) ------------------------------
E6_SCRIPT = textwrap.dedent("""
    import numpy as np
    from chainrule.lab.experiments.constrained import E6LagrangeKKT as E
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        out = {k: [] for k in ("kkt", "gap", "check", "iters")}
        E._equality(rng, 6, dict(out))
        E._inequality(rng, 6, out, True)
        E._simplex(rng, 18, out)
        E._svm(rng, 20, out)
        assert max(out["kkt"]) < 1e-6 and max(out["gap"]) < 1e-6, out
    print("ok")
""")


@pytest.mark.parametrize("core", ["Haswell", "Zen"])
def test_e6_problems_under_openblas_coretype(core):
    env = dict(os.environ, OPENBLAS_CORETYPE=core, PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-c", E6_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "ok" and "DLASCL" not in run.stdout


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_projected_gradient_and_dual_ascent_stop_on_nan():
    prob = C.Problem(lambda v: (v - 3).sqrt().sum(), cr.zeros(2, dtype=cr.float64),
                     bounds=(0.0, 1.0))
    sol = C.projected_gradient(prob)
    assert sol.status == "numerical" and "objective" in sol.message and sol.n_iter == 0
    with pytest.raises(ValueError, match="c has the non-finite entry nan at index 0"):
        C.QuadraticProblem(np.eye(2), [np.nan, 0.0], C=[[1, 1]], d=[1])
    qp = C.QuadraticProblem(np.eye(2), [0.0, 0.0], C=[[1, 1]], d=[1])
    qp.c[0] = np.nan  # data corrupted after the checks in the constructor: the solver's guard
    sol = C.dual_ascent(qp)
    assert sol.status == "numerical" and sol.n_iter == 10
