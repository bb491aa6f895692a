"""Tiny end-to-end runs of the curvature and convexity experiments (E3, E4)."""

from __future__ import annotations

import numpy as np
import pytest
from lab_checks import tiny_suite

from chainrule.lab.experiments.curvature_convexity import (
    PooledDigits,
    distinct_points,
    polish_critical_point,
)

IDS = ("E3", "E4")


results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)


def test_e3_newton_is_attracted_to_the_saddle(results):
    n = results["E3"].numbers
    for fname in ("5x²−y²", "x³−3xy²"):
        assert n[fname]["newton"]["final_distance"][0] < 1e-6
        assert all(e is None for e in n[fname]["newton"]["escape"])
        assert all(e is not None for e in n[fname]["saddle-free newton"]["escape"])


def test_e4_convex_problem_reaches_one_optimum(results):
    n = results["E4"].numbers
    assert n["logistic"]["max_loss_spread"] < 1e-6
    assert n["logistic"]["min_hessian_eigenvalue"] > 0 > n["mlp"]["min_hessian_eigenvalue"]


# --- the critical-point polisher on a textbook function with known critical points ----------
# f(x, y) = x⁴/4 − x²/2 + y²/2: ∇f = (x³ − x, y), H = diag(3x² − 1, 1); critical points: a
# saddle at (0, 0) (eigenvalues −1, 1: index 0.5) and minima at (±1, 0) (eigenvalues 2, 1:
# index 0).

def _quartic_grad(p: np.ndarray) -> np.ndarray:
    return np.array([p[0] ** 3 - p[0], p[1]])


def _quartic_hess(p: np.ndarray) -> np.ndarray:
    return np.diag([3 * p[0] ** 2 - 1, 1.0])


@pytest.mark.parametrize("x0, point, index, eigenvalues", [
    ((0.2, 0.5), (0.0, 0.0), 0.5, (-1.0, 1.0)),     # Newton is attracted by the saddle
    ((0.9, -0.3), (1.0, 0.0), 0.0, (1.0, 2.0)),
    ((-1.4, 2.0), (-1.0, 0.0), 0.0, (1.0, 2.0)),
])
def test_polisher_finds_the_known_critical_points(x0, point, index, eigenvalues):
    res = polish_critical_point(_quartic_grad, _quartic_hess, np.array(x0))
    assert res.converged and res.grad_norm < 1e-6
    np.testing.assert_allclose(res.x, point, atol=1e-7)
    np.testing.assert_allclose(res.eigenvalues, eigenvalues, atol=1e-6)
    assert res.index() == index and not res.degenerate()


def test_polisher_agrees_with_a_torch_hessian_on_an_mlp():
    # the E3 loss (L2-regularised cross-entropy of a tanh MLP): the polished point's gradient,
    # recomputed by torch in float64, is below 1e-6 and torch's Hessian has the same index
    import torch

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (40, 8, 8))
    y = rng.integers(0, 10, 40)
    task = PooledDigits(40, 2, weight_decay=0.05, data=(x, y))
    res = polish_critical_point(task.grad, task.hessian, 0.3 * rng.standard_normal(task.n_params),
                                max_iter=60, stall=60)
    assert res.converged

    def loss(theta: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2 = torch.split(theta, task.sizes)
        h = torch.tanh(torch.from_numpy(task.x) @ w1.reshape(2, 16).T + b1)
        out = h @ w2.reshape(10, 2).T + b2
        return (torch.nn.functional.cross_entropy(out, torch.from_numpy(task.y))
                + 0.025 * (theta * theta).sum())

    th = torch.tensor(res.x, requires_grad=True)
    (g,) = torch.autograd.grad(loss(th), th)
    assert float(g.norm()) < 1e-6
    h = torch.autograd.functional.hessian(loss, torch.tensor(res.x)).numpy()
    np.testing.assert_allclose(res.eigenvalues, np.linalg.eigvalsh(h), atol=1e-8)


def test_a_non_finite_value_never_counts_as_converged():
    # f(x) = (x + 1)²: its minimum at −1 lies where this gradient returns NaN (x < 0); the
    # polisher must reject the NaN trials (which would compare as "smaller") and end unconverged
    def grad(p: np.ndarray) -> np.ndarray:
        return np.full(1, np.nan) if p[0] < 0 else 2 * (p + 1)

    res = polish_critical_point(grad, lambda p: np.array([[2.0]]), np.array([1.0]))
    assert not res.converged and np.isfinite(res.grad_norm) and res.x[0] >= 0
    # NaN at the start; a zero gradient with a NaN Hessian; an infinite gradient
    nan_start = polish_critical_point(lambda p: p * np.nan, lambda p: np.eye(1), np.ones(1))
    assert not nan_start.converged
    nan_hess = polish_critical_point(lambda p: 0 * p, lambda p: np.full((1, 1), np.nan),
                                     np.zeros(1))
    assert not nan_hess.converged and np.isnan(nan_hess.index())
    inf = polish_critical_point(lambda p: p * np.inf, lambda p: np.eye(1), np.ones(1))
    assert not inf.converged


def test_polisher_refuses_bad_settings():
    with pytest.raises(ValueError, match="tol"):
        polish_critical_point(_quartic_grad, _quartic_hess, np.zeros(2), tol=0.0)


def test_distinct_points_keeps_each_critical_point_once():
    pts = [{"loss": 1.0, "index": 0.1}, {"loss": 1.0 + 1e-12, "index": 0.1},
           {"loss": 1.0, "index": 0.2}, {"loss": 1.1, "index": 0.1}]
    assert len(distinct_points(pts)) == 3


def test_e3_counts_only_points_below_the_tolerance(results):
    n = results["E3"].numbers
    pts = n["critical_points"]
    assert n["starts"] == len(pts) and n["starts_reaching_tol"] == sum(p["converged"] for p in pts)
    for p in pts:
        if p["converged"]:
            assert p["grad_norm"] < 1e-6 and 0 <= p["index"] <= 1
        else:
            assert not p["grad_norm"] < 1e-6 or not np.isfinite(p["index"])
    part = next(p for p in results["E3"].parts if p.name.startswith("MLP critical points"))
    if n["polished_points_used"] < 4:  # too few points: never "holds", and says why
        assert part.status == "inconclusive" and "no estimate" in part.detail
