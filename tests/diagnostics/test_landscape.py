"""Loss-landscape slices: closed form on a quadratic, filter normalisation, plots."""

from __future__ import annotations

import numpy as np
import pytest
from diag_nets import cross_entropy, data, mlp

import chainrule
import chainrule.nn as nn
from chainrule.diagnostics import landscape as L


class Quadratic(nn.Module):
    """L(θ) = ½ θᵀAθ + bᵀθ with θ a (2, 3) parameter (flattened in the form)."""

    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__()
        m = rng.standard_normal((6, 6))
        self.a = m @ m.T + np.eye(6)
        self.b = rng.standard_normal(6)
        self.theta = nn.Parameter(rng.standard_normal((2, 3)))

    def forward(self) -> chainrule.Tensor:
        t = self.theta.reshape(6)
        return 0.5 * (t @ (chainrule.tensor(self.a) @ t)) + (chainrule.tensor(self.b) * t).sum()

    def closed(self, th: np.ndarray) -> float:
        t = th.reshape(6)
        return float(0.5 * t @ self.a @ t + self.b @ t)


def test_1d_and_2d_slices_of_a_quadratic_equal_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    q = Quadratic(rng)
    th0 = q.theta._array.copy()
    d1, d2 = [rng.standard_normal((2, 3))], [rng.standard_normal((2, 3))]
    alphas = np.linspace(-2, 2, 9)
    s1 = L.slice_1d(q, q, d1, alphas)
    g = q.a @ th0.ravel() + q.b
    dv = d1[0].ravel()
    closed = q.closed(th0) + alphas * (g @ dv) + 0.5 * alphas ** 2 * (dv @ q.a @ dv)
    np.testing.assert_allclose(s1.losses, closed, rtol=1e-12, atol=1e-12)
    assert s1.center_loss == pytest.approx(q.closed(th0))
    s2 = L.slice_2d(q, q, d1, d2, alphas, np.linspace(-1, 1, 5))
    assert s2.losses.shape == (5, 9)
    for i, b in enumerate(s2.betas):
        for j, a in enumerate(s2.alphas):
            assert s2.losses[i, j] == pytest.approx(q.closed(th0 + a * d1[0] + b * d2[0]),
                                                    rel=1e-12)
    assert np.array_equal(q.theta.data, th0)  # restored bit for bit
    assert L.grid_local_minima(s2.losses) <= 1


def test_filter_normalized_direction() -> None:
    rng = np.random.default_rng(1)
    net = mlp([5, 7, 3], nn.Tanh, rng)
    d = L.filter_normalized_direction(net, generator=2)
    for p, di in zip(net.parameters(), d):
        assert di.shape == p.shape
        if p.ndim == 2:
            np.testing.assert_allclose(np.linalg.norm(di, axis=1),
                                       np.linalg.norm(p.data, axis=1), rtol=1e-12)
        else:
            assert not di.any()  # biases get no direction (Li et al.)
    d1 = L.filter_normalized_direction(net, generator=2, include_1d=True)
    assert np.linalg.norm(d1[1]) == pytest.approx(np.linalg.norm(net[0].bias.data))
    again = L.filter_normalized_direction(net, generator=2)
    assert all(np.array_equal(a, b) for a, b in zip(d, again))  # reproducible


def test_model_slice_centre_is_the_current_loss_and_plots(tmp_path) -> None:
    rng = np.random.default_rng(3)
    net = mlp([8, 10, 3], nn.ReLU, rng)
    x, y = data(rng, n=30)
    with chainrule.no_grad():
        base = float(cross_entropy(net(x), y).data)
    s1 = L.landscape_1d(net, cross_entropy, x, y, generator=0, steps=11)
    assert s1.losses[5] == pytest.approx(base, rel=1e-12)
    s2 = L.landscape_2d(net, cross_entropy, x, y, generator=0, steps=5, span=0.5)
    assert s2.losses[2, 2] == pytest.approx(base, rel=1e-12)
    d = L.interpolation_direction(net, [p._array * 0 for p in net.parameters()])
    s0 = L.slice_1d(L.model_loss(net, cross_entropy, x, y), net, d, [0.0, 1.0])
    assert s0.losses[0] == pytest.approx(base)
    assert s0.losses[1] == pytest.approx(np.log(3))  # all weights zero: uniform prediction
    p1 = L.plot_slice_1d([s1, s1], tmp_path / "one.png", labels=["a", "b"], title="t")
    p2 = L.plot_slice_2d(s2, tmp_path / "two.png")
    for p in (p1, p2):
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_direction_shapes_error() -> None:
    rng = np.random.default_rng(4)
    q = Quadratic(rng)
    with pytest.raises(ValueError, match="shape"):
        L.slice_1d(q, q, [np.zeros(6)], [0.0])
    with pytest.raises(ValueError, match="1 parameters"):
        L.slice_1d(q, q, [np.zeros((2, 3)), np.zeros(2)], [0.0])
