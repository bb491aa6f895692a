"""The core benchmark's workloads compute the same thing in chainrule and torch (the timings
compare equal work); run once each, not timed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from benchmarks import bench_core  # noqa: E402


def test_tiny_graph_same_gradients() -> None:
    r = np.random.default_rng(0)
    xa, ya = r.uniform(0.5, 1.5, 10), r.uniform(0.5, 1.5, 10)
    cx, cy = (chainrule.tensor(a, requires_grad=True) for a in (xa, ya))
    tx, ty = (torch.tensor(a, requires_grad=True) for a in (xa, ya))
    bench_core.tiny_graph(chainrule, cx, cy)()
    bench_core.tiny_graph(torch, tx, ty)()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(cy.grad.numpy(), ty.grad.numpy(), rtol=1e-12)


def test_mlp_same_gradients() -> None:
    r = np.random.default_rng(1)
    params = [p.astype(np.float64) for p in bench_core._mlp_params(r)]
    xb, yb = r.standard_normal((8, 784)), r.integers(0, 10, 8)
    cp = [chainrule.tensor(p, requires_grad=True) for p in params]
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    bench_core.mlp(chainrule, cp, chainrule.tensor(xb), chainrule.tensor(yb))()
    bench_core.mlp(torch, tp, torch.tensor(xb), torch.tensor(yb))()
    for c, t in zip(cp, tp):
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)
