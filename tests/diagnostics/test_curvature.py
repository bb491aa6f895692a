"""Hessian eigenvalues, trace and density against the exact Hessian of a small network."""

from __future__ import annotations

import numpy as np
import pytest
from diag_nets import cross_entropy, data, mlp

import chainrule
import chainrule.nn as nn
from chainrule.autograd.functional import hessian
from chainrule.diagnostics import curvature as C


@pytest.fixture(scope="module")
def small() -> dict:
    """A 4-5-3 tanh MLP on 40 examples (43 parameters) and its exact Hessian."""
    rng = np.random.default_rng(0)
    net = mlp([4, 5, 3], nn.Tanh, rng, scale=2.0)
    x, y = data(rng, n=40, d=4)

    def loss_of(w1, b1, w2, b2):
        h = (x @ w1.T + b1).tanh()
        return cross_entropy(h @ w2.T + b2, y)

    params = list(net.parameters())
    blocks = hessian(loss_of, tuple(p.detach() for p in params))
    sizes = [p.numel() for p in params]
    exact = np.block([[np.asarray(blocks[i][j].data).reshape(sizes[i], sizes[j])
                       for j in range(len(params))] for i in range(len(params))])
    op = C.HessianOperator.from_model(net, cross_entropy, x, y)
    return {"net": net, "x": x, "y": y, "exact": exact, "eig": np.linalg.eigvalsh(exact),
            "op": op}


def test_hvp_operator_equals_exact_hessian(small: dict) -> None:
    np.testing.assert_allclose(small["op"].to_dense(), small["exact"], rtol=1e-9, atol=1e-11)
    assert small["op"].dim == 43


def test_top_eigenvalue_power_and_lanczos(small: dict) -> None:
    eig = small["eig"]
    top_mag = eig[np.argmax(np.abs(eig))]
    vals, vecs = C.power_iteration(small["op"], 1, iters=500, tol=1e-12, generator=1)
    assert vals[0] == pytest.approx(top_mag, rel=1e-3)
    # the eigenvector satisfies H v = λ v
    hv = small["exact"] @ vecs[0]
    np.testing.assert_allclose(hv, vals[0] * vecs[0], atol=1e-2 * abs(vals[0]))
    top3 = C.top_eigenvalues(small["op"], 3, m=43, generator=2)
    np.testing.assert_allclose(top3, eig[::-1][:3], rtol=1e-6)
    lm = C.top_eigenvalues(small["op"], 1, method="power", generator=3, iters=500, tol=1e-12)
    assert lm[0] == pytest.approx(top_mag, rel=1e-3)
    # a short Lanczos run already pins λ_max
    assert C.top_eigenvalues(small["op"], 1, m=20, generator=4)[0] == pytest.approx(
        eig[-1], rel=1e-3)


def test_hutchinson_trace(small: dict) -> None:
    exact = np.trace(small["exact"])
    orth = C.hutchinson_trace(small["op"], 64, generator=5, probes="hadamard")
    assert orth.trace == pytest.approx(exact, rel=1e-3)  # all 64 rows of the padded dim: exact
    assert orth.std_error == 0.0
    iid = C.hutchinson_trace(small["op"], 300, generator=6)
    assert abs(iid.trace - exact) < 4 * iid.std_error
    assert iid.samples.shape == (300,)
    # each probe's value is vᵀHv with v ∈ {±1}ⁿ
    again = C.hutchinson_trace(small["op"], 3, generator=6)
    np.testing.assert_allclose(again.samples, iid.samples[:3])


def test_lanczos_tridiagonal_and_breakdown_restart() -> None:
    a = np.diag([5.0, 5.0, 2.0, 1.0, -1.0])  # a repeated eigenvalue forces a restart

    class Op:
        dim = 5

        def matvec(self, v):
            return a @ v

    alpha, beta, q = C.lanczos(Op(), 5, generator=0)
    t = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    np.testing.assert_allclose(q @ q.T, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(t)), [-1, 1, 2, 5, 5], atol=1e-9)


def test_spectral_density_integrates_to_one(small: dict) -> None:
    sd = C.spectral_density(small["op"], n_runs=3, m=30, generator=7)
    assert sd.integral() == pytest.approx(1.0, abs=1e-3)
    eig = small["eig"]
    for nodes, w in zip(sd.nodes, sd.weights):
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
        assert nodes.min() >= eig[0] - 1e-8 and nodes.max() <= eig[-1] + 1e-8
    # Gauss quadrature with m = n reproduces the first moment vᵀHv / vᵀv exactly
    full = C.spectral_density(small["op"], n_runs=1, m=43, generator=8)
    v = np.random.default_rng(8).choice(np.array([-1.0, 1.0]), size=43)
    assert full.moment(1) == pytest.approx(v @ small["exact"] @ v / 43, rel=1e-8)


def test_quadratic_and_batches() -> None:
    rng = np.random.default_rng(9)
    m = rng.standard_normal((6, 6))
    a = m @ m.T
    theta = nn.Parameter(rng.standard_normal(6))
    at = chainrule.tensor(a)
    op = C.HessianOperator(lambda: 0.5 * (theta @ (at @ theta)), [theta])
    np.testing.assert_allclose(op.to_dense(), a, atol=1e-12)
    np.testing.assert_allclose(op.gradient, a @ theta.data, atol=1e-12)
    # two batches weighted by size: H = (n1 H1 + n2 H2) / (n1 + n2)
    net = mlp([3, 2], nn.Tanh, rng)
    x1, x2 = chainrule.tensor(rng.standard_normal((10, 3))), chainrule.tensor(
        rng.standard_normal((30, 3)))
    y1, y2 = rng.standard_normal((10, 2)), rng.standard_normal((30, 2))

    def mse(out, y):
        return ((out - chainrule.tensor(y)) ** 2).mean()

    h1 = C.HessianOperator.from_model(net, mse, x1, y1).to_dense()
    h2 = C.HessianOperator.from_model(net, mse, x2, y2).to_dense()
    both = C.HessianOperator.from_model(net, mse, None, batches=[(x1, y1), (x2, y2)])
    np.testing.assert_allclose(both.to_dense(), 0.25 * h1 + 0.75 * h2, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        op.matvec(np.ones(5))


def test_hessian_summary_runs_in_eval_mode_and_restores(small: dict) -> None:
    net = small["net"]
    net.train()
    s = C.hessian_summary(net, cross_entropy, small["x"], small["y"], k=2, n_probes=10,
                          generator=0, density=True)
    assert s["lambda_max"] == pytest.approx(small["eig"][-1], rel=1e-3)
    assert len(s["top_eigenvalues"]) == 2 and s["dim"] == 43
    assert s["density"].integral() == pytest.approx(1.0, abs=1e-3)
    assert net.training and all(p.grad is None for p in net.parameters())
