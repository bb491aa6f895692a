"""nn.MaxUnpool*, nn.LPPool*, F.max_unpool*, F.lp_pool*, F.pdist against torch in float64
(values, gradients, reprs)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import nn  # noqa: E402
from chainrule.nn import functional as F  # noqa: E402


def _check(c_fn, t_fn, x, rtol=1e-12):
    cx = chainrule.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    cy, ty = c_fn(cx), t_fn(tx)
    np.testing.assert_allclose(cy.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=1e-13)
    w = np.cos(np.arange(ty.numel())).reshape(tuple(ty.shape))
    (cy * chainrule.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=1e-13)


@pytest.mark.parametrize("n, shape, kw", [
    (1, (2, 3, 9), dict(kernel_size=2)),
    (2, (2, 3, 8, 8), dict(kernel_size=2)),
    (2, (1, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1)),
    (3, (1, 2, 4, 4, 6), dict(kernel_size=2)),
])
def test_max_pool_then_unpool_equals_torch(n, shape, kw):
    x = np.random.default_rng(n).standard_normal(shape)
    c_pool = getattr(nn, f"MaxPool{n}d")(**kw, return_indices=True)
    t_pool = getattr(torch.nn, f"MaxPool{n}d")(**kw, return_indices=True)
    c_un, t_un = getattr(nn, f"MaxUnpool{n}d")(**kw), getattr(torch.nn, f"MaxUnpool{n}d")(**kw)
    assert repr(c_un) == repr(t_un)
    size = shape if "padding" in kw else None
    _check(lambda v: c_un(*c_pool(v), output_size=size),
           lambda v: t_un(*t_pool(v), output_size=size), x)


@pytest.mark.parametrize("n, p, kw", [(1, 2.0, dict(kernel_size=3)),
                                      (2, 2.0, dict(kernel_size=2)),
                                      (2, 3.0, dict(kernel_size=(2, 3), stride=1)),
                                      (1, 1.5, dict(kernel_size=2, stride=1, ceil_mode=True))])
def test_lp_pool_equals_torch(n, p, kw):
    shape = (2, 3, 9) if n == 1 else (2, 3, 6, 7)
    x = np.abs(np.random.default_rng(7).standard_normal(shape)) + 0.1
    c, t = getattr(nn, f"LPPool{n}d")(p, **kw), getattr(torch.nn, f"LPPool{n}d")(p, **kw)
    assert repr(c) == repr(t)
    _check(c, t, x)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
def test_pdist_equals_torch(p):
    x = np.random.default_rng(3).standard_normal((6, 4))
    _check(lambda v: F.pdist(v, p), lambda v: torch.nn.functional.pdist(v, p), x)
