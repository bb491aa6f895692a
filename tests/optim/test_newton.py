"""Newton's method: exact on quadratics, quadratic convergence, saddle-free escape, Newton-CG."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import optim
from chainrule.nn import Parameter


def param(values) -> Parameter:
    return Parameter(chainrule.tensor(np.asarray(values, dtype=np.float64)))


def quadratic(n: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    a = m @ m.T + n * np.eye(n)
    b = rng.standard_normal(n)
    return a, b


@pytest.mark.parametrize("kw", [dict(), dict(line_search_fn=None), dict(mode="cg", cg_tol=1e-14),
                                dict(saddle_free=True)],
                         ids=["exact", "no-line-search", "cg", "saddle-free"])
def test_one_step_solves_a_quadratic(kw):
    """f(θ) = ½θᵀAθ − bᵀθ with A ≻ 0: one Newton step lands on θ* = A⁻¹b."""
    a, b = quadratic()
    at, bt = chainrule.tensor(a), chainrule.tensor(b)
    u, v = param(np.ones(2)), param(-np.ones(3))  # θ split over two parameters
    opt = optim.Newton([u, v], **kw)

    def closure():
        z = chainrule.cat([u, v])
        return 0.5 * (z @ (at @ z)) - bt @ z

    opt.step(closure)
    np.testing.assert_allclose(np.concatenate([u.data, v.data]), np.linalg.solve(a, b),
                               rtol=1e-10, atol=1e-12)


def logistic_problem():
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return x, 2.0 * y - 1.0, 1e-2  # labels ±1, L2 strength


def logistic_loss_np(theta, x, y, lam):
    w, b = theta[:-1], theta[-1]
    m = y * (x @ w + b)
    loss = np.mean(np.logaddexp(0, -m)) + 0.5 * lam * w @ w
    s = -y / (1 + np.exp(m)) / len(y)
    grad = np.concatenate([x.T @ s + lam * w, [s.sum()]])
    return loss, grad


def logistic_closure(w, b, x, y, lam):
    xt, yt = chainrule.tensor(x), chainrule.tensor(y)

    def closure():
        m = yt * (xt @ w + b)
        nll = (-m).exp().log1p().mean()  # margins stay moderate on standardised data
        return nll + 0.5 * lam * (w * w).sum()

    return closure


def test_quadratic_convergence_on_regularised_logistic_regression():
    from scipy.optimize import minimize

    x, y, lam = logistic_problem()
    w, b = param(np.zeros(x.shape[1])), param(np.zeros(1))
    opt = optim.Newton([w, b])
    closure = logistic_closure(w, b, x, y, lam)
    norms = []
    for _ in range(12):
        opt.step(closure)
        norms.append(opt.state[w]["grad_norm"])
        if norms[-1] < 1e-12:  # the rounding floor of a mean over 569 samples is ~1e-13
            break
    print("Newton on logistic regression, ‖g‖ per iteration:",
          " ".join(f"{n:.2e}" for n in norms))
    # quadratic: once close, each gradient norm is about the square of the previous one
    pairs = [(a, c) for a, c in zip(norms, norms[1:]) if a < 1e-2 and c > 1e-13]
    assert len(pairs) >= 2, norms
    for prev, cur in pairs:
        assert cur <= 50 * prev**2, (prev, cur, norms)  # here cur/prev² stays about 12
    assert norms[-1] < 1e-12
    theta = np.concatenate([w.data, b.data])
    ref = minimize(logistic_loss_np, np.zeros(x.shape[1] + 1), args=(x, y, lam), jac=True,
                   method="BFGS", options={"gtol": 1e-11, "maxiter": 10000})
    np.testing.assert_allclose(theta, ref.x, atol=1e-6)
    assert np.linalg.norm(logistic_loss_np(theta, x, y, lam)[1]) < 1e-12


def test_newton_cg_reaches_the_same_optimum():
    x, y, lam = logistic_problem()
    w, b = param(np.zeros(x.shape[1])), param(np.zeros(1))
    opt = optim.Newton([w, b], mode="cg", max_iter=30, tolerance_grad=1e-11)
    opt.step(logistic_closure(w, b, x, y, lam))
    theta = np.concatenate([w.data, b.data])
    assert np.abs(logistic_loss_np(theta, x, y, lam)[1]).max() <= 1e-10
    assert opt.state[w]["n_iter"] < 30


def saddle_run(steps: int = 40, **kw):
    """f(x, y) = x² − y² from (1, 1e-6): a saddle at the origin, unbounded below along y."""
    p = param([1.0, 1e-6])
    opt = optim.Newton([p], **kw)

    def closure():
        return p[0] ** 2 - p[1] ** 2

    path = []
    for _ in range(steps):
        opt.step(closure)
        path.append(p._array.copy())
    return np.array(path)


def test_plain_newton_converges_to_the_saddle():
    path = saddle_run()
    np.testing.assert_allclose(path[-1], [0.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("kw", [dict(saddle_free=True),
                                dict(saddle_free=True, mode="cg", cg_max_iter=2)],
                         ids=["eigh", "lanczos"])
def test_saddle_free_newton_escapes_the_saddle(kw):
    path = saddle_run(**kw)
    assert abs(path[0, 0]) < 1e-12  # x is solved in one step (positive curvature)
    assert abs(path[-1, 1]) > 1.0  # y runs away from the saddle along negative curvature
    ys = np.abs(path[:20, 1])
    assert np.all(ys[1:] > ys[:-1])  # |y| grows every step


@pytest.mark.parametrize("kw", [
    dict(), dict(damping=1.0, adaptive_damping=True),
    dict(line_search_fn=None, damping=1.0, adaptive_damping=True),
    dict(mode="cg"), dict(mode="cg", damping=1.0, adaptive_damping=True),
    dict(saddle_free=True), dict(mode="cg", saddle_free=True, cg_max_iter=2),
], ids=["backtracking", "adaptive-LM", "LM-no-line-search", "cg", "cg-adaptive-LM",
        "saddle-free", "lanczos"])
def test_rosenbrock_non_convex(kw):
    """Every variant reaches the minimum of the Rosenbrock valley from (−1.2, 1)."""
    p = param([-1.2, 1.0])
    opt = optim.Newton([p], max_iter=100, **kw)

    def closure():
        return 100 * (p[1] - p[0] ** 2) ** 2 + (1 - p[0]) ** 2

    opt.step(closure)
    np.testing.assert_allclose(p.data, [1.0, 1.0], atol=1e-8)
    assert opt.state[p]["n_iter"] < 100


def test_large_damping_gives_a_gradient_step():
    a, b = quadratic()
    z = param(np.zeros(5))
    at, bt = chainrule.tensor(a), chainrule.tensor(b)
    opt = optim.Newton([z], damping=1e8, line_search_fn=None)
    opt.step(lambda: 0.5 * (z @ (at @ z)) - bt @ z)
    np.testing.assert_allclose(z.data, b / 1e8, rtol=1e-5)  # −(H + λI)⁻¹g ≈ −g/λ


def test_closure_with_create_graph_backward_and_errors():
    a, b = quadratic()
    at, bt = chainrule.tensor(a), chainrule.tensor(b)
    z = param(np.zeros(5))
    opt = optim.Newton([z])

    def with_backward():
        opt.zero_grad()
        loss = 0.5 * (z @ (at @ z)) - bt @ z
        loss.backward(create_graph=True)
        return loss

    opt.step(with_backward)
    np.testing.assert_allclose(z.data, np.linalg.solve(a, b), rtol=1e-10)

    with pytest.raises(ValueError, match="mode must be 'exact' or 'cg'"):
        optim.Newton([z], mode="bfgs")
    with pytest.raises(ValueError, match="Invalid damping value: -1"):
        optim.Newton([z], damping=-1)


@pytest.mark.parametrize("kw", [dict(), dict(mode="cg", cg_tol=1e-14),
                                dict(line_search_fn=None, adaptive_damping=True, damping=0.1)],
                         ids=["exact", "cg", "adaptive-damping"])
def test_the_lbfgs_closure_matches_the_explicit_form(kw):
    """The closure PyTorch users write for L-BFGS (plain ``loss.backward()``) is accepted and
    takes the same iterates as the explicit ``backward(create_graph=True)`` form and as the
    closure that never calls backward (a non-quadratic f, so the Hessian changes per step)."""
    a, b = quadratic()
    at, bt = chainrule.tensor(a), chainrule.tensor(b)

    def f(z):
        return 0.5 * (z @ (at @ z)) - bt @ z + 0.1 * (z * z * z * z).sum()

    def run(style: str) -> np.ndarray:
        z = param(np.full(5, 0.5))
        opt = optim.Newton([z], **kw)

        def closure():
            opt.zero_grad()
            loss = f(z)
            if style == "plain":
                loss.backward()
            elif style == "explicit":
                loss.backward(create_graph=True)
            return loss

        for _ in range(4):
            opt.step(closure)
        assert opt.state[z]["n_iter"] == 4
        return z._array.copy()

    plain, explicit, bare = run("plain"), run("explicit"), run("none")
    np.testing.assert_array_equal(plain, explicit)
    np.testing.assert_allclose(plain, bare, rtol=1e-12, atol=1e-14)
    start = np.full(5, 0.5)
    assert np.linalg.norm(plain - start) > 0.1  # it moved


def test_backward_creates_graph_is_scoped_to_its_block():
    w = chainrule.tensor([1.5, -2.0], dtype=chainrule.float64, requires_grad=True)
    with chainrule.autograd.backward_creates_graph():
        (w ** 3).sum().backward()
    assert w.grad.requires_grad  # d/dw (3 w²) = 6 w
    (hess_diag,) = chainrule.autograd.grad(w.grad.sum(), w)
    np.testing.assert_allclose(hess_diag.data, 6 * w.data)
    w.grad = None
    (w ** 3).sum().backward()
    assert not w.grad.requires_grad
