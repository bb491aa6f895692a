"""Regularisation through the optimizer: coupled vs decoupled L2, proximal L1, max-norm."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.nn import Parameter


def param(values) -> Parameter:
    return Parameter(chainrule.tensor(np.asarray(values, dtype=np.float64)))


def sparse_regression(n: int = 80, d: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w_true = np.zeros(d)
    w_true[:3] = [2.0, -1.5, 1.0]
    y = x @ w_true + 0.1 * rng.standard_normal(n)
    return x, y


def train_lasso(opt_cls, steps: int, subgradient: bool = False, alpha: float = 0.1, **kw):
    x, y = sparse_regression()
    xt, yt = chainrule.tensor(x), chainrule.tensor(y)
    w = param(np.full(x.shape[1], 0.5))
    l1 = 0.0 if subgradient else alpha
    opt = opt_cls([w], l1=l1, **kw)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((xt @ w - yt) ** 2).mean() / 2
        if subgradient:
            loss = loss + nn.utils.l1_penalty([w], alpha)
        loss.backward()
        opt.step()
    return w._array.copy()


def test_prox_step_is_soft_thresholding():
    w = param([0.5, -0.05, 0.02, -2.0, 0.0])
    w.grad = chainrule.zeros(5, dtype=chainrule.float64)
    optim.SGD([w], lr=0.1, l1=0.5).step()  # threshold lr·l1 = 0.05
    np.testing.assert_array_equal(w.data, [0.45, 0.0, 0.0, -1.95, 0.0])


@pytest.mark.parametrize("opt_cls,steps,kw", [
    (optim.SGD, 600, dict(lr=None)),  # lr = 1/L: ISTA
    (optim.SGD, 1500, dict(lr=0.02, momentum=0.9)),
    (optim.Adam, 1500, dict(lr=0.01)),
], ids=["ista", "sgd-momentum", "adam"])
def test_proximal_optimizers_solve_the_lasso_with_exact_zeros(opt_cls, steps, kw):
    """Full-batch SGD with l1 is ISTA; with momentum (threshold scaled by the effective step)
    and Adam (threshold in its diagonal metric) the fixed points are still the Lasso's: all
    three reach scikit-learn's solution, exact zeros included."""
    from sklearn.linear_model import Lasso

    x, y = sparse_regression()
    if kw["lr"] is None:
        kw = dict(lr=1.0 / np.linalg.eigvalsh(x.T @ x / len(y)).max())
    w = train_lasso(opt_cls, steps, **kw)
    ref = Lasso(alpha=0.1, fit_intercept=False, tol=1e-12, max_iter=100000).fit(x, y).coef_
    np.testing.assert_allclose(w, ref, atol=1e-8)
    assert np.array_equal(w == 0.0, ref == 0.0)
    assert np.count_nonzero(w == 0.0) >= 5


@pytest.mark.parametrize("opt_cls,kw", [(optim.SGD, dict(lr=0.05)),
                                        (optim.SGD, dict(lr=0.02, momentum=0.9)),
                                        (optim.Adam, dict(lr=0.01)),
                                        (optim.AdamW, dict(lr=0.01, weight_decay=0.0))])
def test_proximal_l1_gives_exact_zeros_where_subgradient_does_not(opt_cls, kw):
    prox = train_lasso(opt_cls, 400, **kw)
    sub = train_lasso(opt_cls, 400, subgradient=True, **kw)
    assert np.count_nonzero(prox == 0.0) >= 5  # the 9 irrelevant inputs are (mostly) zeroed
    assert np.all(prox[:3] != 0.0)  # the 3 relevant ones survive
    assert np.count_nonzero(sub == 0.0) == 0  # the subgradient only jitters around zero
    assert np.abs(sub[3:]).max() > 0


def test_coupled_l2_is_the_gradient_of_the_explicit_penalty():
    """SGD(weight_decay=λ) equals SGD on loss + nn.utils.l2_penalty(θ, λ) = λ/2·‖θ‖²."""
    x, y = sparse_regression()
    xt, yt = chainrule.tensor(x), chainrule.tensor(y)
    out = []
    for coupled in (True, False):
        w = param(np.full(x.shape[1], 0.5))
        opt = optim.SGD([w], lr=0.05, momentum=0.9, weight_decay=0.3 if coupled else 0.0)
        for _ in range(30):
            opt.zero_grad()
            loss = ((xt @ w - yt) ** 2).mean() / 2
            if not coupled:
                loss = loss + nn.utils.l2_penalty([w], 0.3)  # (0.3/2)·‖θ‖²
            loss.backward()
            opt.step()
        out.append(w._array.copy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-12)


def test_coupled_vs_decoupled_decay_in_adam():
    """With no data gradient, AdamW shrinks θ by exactly (1 − γλ) per step, while Adam's
    coupled decay is normalised by √v̂ and moves every weight by about γ·sign(θ)."""
    w0 = np.array([3.0, -0.5, 0.01])
    steps, lr, lam = 50, 0.01, 0.1
    wa, ww = param(w0), param(w0)
    adam = optim.Adam([wa], lr=lr, weight_decay=lam)
    adamw = optim.AdamW([ww], lr=lr, weight_decay=lam)
    for _ in range(steps):
        for p, opt in ((wa, adam), (ww, adamw)):
            p.grad = chainrule.zeros(3, dtype=chainrule.float64)
            opt.step()
    np.testing.assert_allclose(ww.data, w0 * (1 - lr * lam) ** steps, rtol=1e-12)
    assert 0.45 < w0[0] - wa.data[0] < 0.5  # ≈ γ per step, whatever the size of θ
    assert abs(wa.data[2]) < 0.01  # the small weight is driven through zero


def test_no_decay_group_for_biases():
    w, b = param(np.ones((2, 3))), param(np.ones(3))
    opt = optim.AdamW([{"params": [w]}, {"params": [b], "weight_decay": 0.0}], lr=0.1,
                      weight_decay=0.5)
    for p in (w, b):
        p.grad = chainrule.zeros(p.shape, dtype=chainrule.float64)
    opt.step()
    np.testing.assert_allclose(w.data, 0.95)
    np.testing.assert_array_equal(b.data, 1.0)


def growing_problem():
    rng = np.random.default_rng(3)
    x = chainrule.tensor(rng.standard_normal((16, 6)))
    y = chainrule.tensor(rng.standard_normal((16, 4)) * 10)
    w = param(rng.standard_normal((4, 6)) * 0.1)  # (out, in): rows are units' fan-in
    b = param(np.zeros(4))
    return x, y, w, b


@pytest.mark.parametrize("opt_cls,kw", [(optim.SGD, dict(lr=0.05, momentum=0.9)),
                                        (optim.Adam, dict(lr=0.1)),
                                        (optim.RMSprop, dict(lr=0.05))])
def test_max_norm_holds_after_every_step(opt_cls, kw):
    """Srivastava et al. 2014: each unit's incoming weight vector has norm <= c."""
    x, y, w, b = growing_problem()
    c = 1.5
    opt = opt_cls([{"params": [w], "max_norm": c}, {"params": [b]}], **kw)
    hit = False
    for _ in range(40):
        opt.zero_grad()
        ((x @ w.T + b - y) ** 2).mean().backward()
        opt.step()
        norms = np.linalg.norm(w.data, axis=1)
        assert np.all(norms <= c + 1e-9), norms
        hit |= bool(np.any(norms > c - 1e-6))
    assert hit  # the constraint was active


def test_max_norm_as_a_step_hook_with_any_optimizer():
    x, y, w, b = growing_problem()
    opt = optim.Adagrad([w, b], lr=0.5)
    opt.register_step_post_hook(lambda o, args, kwargs: nn.utils.max_norm_([w], 1.0))
    for _ in range(20):
        opt.zero_grad()
        ((x @ w.T + b - y) ** 2).mean().backward()
        opt.step()
        assert np.linalg.norm(w.data, axis=1).max() <= 1.0 + 1e-9
