"""Gradient-flow diagnostics on chains built to vanish, explode, or stay healthy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from diag_nets import cross_entropy, data, mlp

import chainrule
import chainrule.nn as nn
from chainrule.diagnostics import gradient_flow as G


class Sin(nn.Module):
    """h = sin(a·y): bounded outputs but derivatives up to a, so gradients grow backwards."""

    def __init__(self, a: float = 3.0) -> None:
        super().__init__()
        self.a = a

    def forward(self, x):
        return (x * self.a).sin()


def _orthogonal_chain(depth: int, width: int, act: type, rng: np.random.Generator):
    layers = []
    for _ in range(depth):
        lin = nn.Linear(width, width, dtype=chainrule.float64)
        q, _ = np.linalg.qr(rng.standard_normal((width, width)))
        lin.weight.data[...] = q
        lin.bias.data[...] = 0.0
        layers += [lin, act()]
    return nn.Sequential(*layers[:-1])


def _backward(net, rng, d=8, n=64):
    x = chainrule.tensor(rng.standard_normal((n, d)))
    out = net(x)
    (out * chainrule.tensor(rng.standard_normal(out.shape))).sum().backward()


def test_vanishing_chain_deep_sigmoid_small_weights() -> None:
    rng = np.random.default_rng(0)
    net = mlp([8] + [16] * 10 + [3], nn.Sigmoid, rng, scale=0.5)
    x, y = data(rng)
    cross_entropy(net(x), y).backward()
    norms = G.weight_grad_norms(net)
    assert list(norms) == [str(i) for i in range(0, 22, 2)]  # input -> output order
    f = G.gradient_flow_verdict(norms)
    assert f.verdict == "vanishing" and not f.ok
    assert f.values["ratio_first_last"] < 1e-4
    assert f.values["per_layer_factor"] < 0.5
    assert "ReLU" in f.remedy and "residual" in f.remedy


def test_exploding_chain() -> None:
    rng = np.random.default_rng(1)
    net = _orthogonal_chain(8, 16, Sin, rng)
    _backward(net, rng, d=16)
    f = G.check_gradient_flow(net)
    assert f.verdict == "exploding", f
    assert f.values["ratio_first_last"] > 1e2
    assert "clip" in f.remedy


def test_healthy_chain_relu_he_init() -> None:
    rng = np.random.default_rng(2)
    net = mlp([16] * 7, nn.ReLU, rng, scale=math.sqrt(6.0))  # U(±√6/√n) = He uniform
    _backward(net, rng, d=16)
    f = G.check_gradient_flow(net)
    assert f.verdict == "healthy" and f.ok and f.remedy == ""
    assert 1e-1 < f.values["ratio_first_last"] < 1e1


def test_weight_grad_norms_match_grads_and_skip_biases() -> None:
    rng = np.random.default_rng(3)
    net = mlp([4, 5, 2], nn.Tanh, rng)
    _backward(net, rng, d=4)
    norms = G.weight_grad_norms(net)
    assert set(norms) == {"0", "2"}
    np.testing.assert_allclose(norms["2"], np.linalg.norm(net[2].weight.grad.data), rtol=1e-12)


def test_absolute_and_nonfinite_explosion_and_edge_cases() -> None:
    assert G.gradient_flow_verdict({"a": 1.0, "b": math.inf}).verdict == "exploding"
    assert G.gradient_flow_verdict({"a": 1e7, "b": 1e7}).verdict == "exploding"
    assert G.gradient_flow_verdict({"a": 1e7, "b": 1e7}, max_norm=1e8).verdict == "healthy"
    assert G.gradient_flow_verdict({}).ok
    # thresholds are parameters
    norms = {"a": 0.05, "b": 1.0}
    assert G.gradient_flow_verdict(norms).verdict == "healthy"
    assert G.gradient_flow_verdict(norms, vanishing_ratio=0.1).verdict == "vanishing"


def test_per_layer_factor_of_a_geometric_sequence() -> None:
    norms = {f"l{i}": 0.3 ** (5 - i) for i in range(6)}
    assert G.per_layer_factor(norms) == pytest.approx(0.3, rel=1e-10)
    assert G.gradient_ratio(norms) == pytest.approx(0.3 ** 5, rel=1e-10)


def test_update_ratio_of_an_sgd_step() -> None:
    rng = np.random.default_rng(4)
    net = mlp([4, 6, 2], nn.Tanh, rng)
    _backward(net, rng, d=4)
    before = G.snapshot_weights(net)
    lr = 1e-4
    with chainrule.no_grad():
        for p in net.parameters():
            p.data -= lr * p.grad.data
    ratios = G.update_ratios(before, net)
    w, g = before["0"], net[0].weight.grad.data
    assert ratios["0"] == pytest.approx(lr * np.linalg.norm(g) / np.linalg.norm(w), rel=1e-10)
    assert G.update_ratio_verdict(ratios).verdict == "healthy"
    assert G.update_ratio_verdict({"a": 0.5}).verdict == "update too large"
    assert G.update_ratio_verdict({"a": 1e-7}).verdict == "update too small"
    assert G.update_ratio_verdict({"a": 1e-3}).verdict == "healthy"
    assert "learning rate" in G.update_ratio_verdict({"a": 0.5}).remedy
