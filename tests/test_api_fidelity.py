"""Small torch-API pieces that training scripts call, against torch: random in-place fills
(geometric_, cauchy_, log_normal_: their laws), apply_/map_, gcd/lcm/rsub, ``with
torch.device("cpu")``, torch.cuda.empty_cache, torch.compiler / torch._dynamo, torch.version."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr


def test_random_fills_follow_their_laws():
    g = cr.Generator().manual_seed(0)
    geo = cr.empty(20000).geometric_(0.25, generator=g).numpy()
    assert geo.min() >= 1 and np.all(geo == np.round(geo))          # trials, from 1
    assert abs(geo.mean() - 4.0) < 0.1                                # E = 1/p
    cau = cr.empty(20000, dtype=cr.float64).cauchy_(2.0, 0.5, generator=g).numpy()
    assert abs(np.median(cau) - 2.0) < 0.03                           # median
    assert abs(np.quantile(cau, 0.75) - 2.5) < 0.04                   # median + sigma
    ln = cr.empty(20000, dtype=cr.float64).log_normal_(0.5, 0.2, generator=g).numpy()
    assert ln.min() > 0 and abs(np.log(ln).mean() - 0.5) < 0.01
    assert abs(np.log(ln).std() - 0.2) < 0.01
    assert cr.empty(4).geometric_(0.5).dtype == cr.float32
    assert torch.empty(4).geometric_(0.5).dtype == torch.float32


def test_apply_map_gcd_lcm_rsub_vs_torch():
    a = np.array([[1.0, -2.0], [3.5, 0.0]])
    got = cr.from_numpy(a.copy()).apply_(lambda v: v * v + 1)
    want = torch.from_numpy(a.copy()).apply_(lambda v: v * v + 1)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    b = np.array([10.0, 20.0])
    got = cr.from_numpy(a.copy()).map_(cr.from_numpy(b), lambda x, y: x - y)
    want = torch.from_numpy(a.copy()).map_(torch.from_numpy(b), lambda x, y: x - y)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(TypeError, match="do not require grad"):
        cr.ones(2, requires_grad=True).apply_(abs)
    i, j = np.array([4, 6, 0, -12]), np.array([6, 9, 5, 18])
    for name in ("gcd", "lcm"):
        got = getattr(cr, name)(cr.from_numpy(i), cr.from_numpy(j))
        want = getattr(torch, name)(torch.from_numpy(i), torch.from_numpy(j))
        assert got.tolist() == want.tolist()
    assert cr.from_numpy(i).gcd(cr.from_numpy(j)).tolist() == \
        torch.from_numpy(i).gcd(torch.from_numpy(j)).tolist()
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.rsub(x, 5.0, alpha=2)
    assert y.tolist() == torch.rsub(torch.tensor([1.0, 2.0]), 5.0, alpha=2).tolist()
    y.sum().backward()
    assert x.grad.tolist() == [-2.0, -2.0]


def test_device_context_cuda_compiler_dynamo_version():
    with cr.device("cpu") as d:
        assert d == "cpu" and cr.ones(1).device == cr.device("cpu")
    assert cr.cuda.empty_cache() is None and torch.cuda.empty_cache() is None
    assert cr.cuda.is_initialized() is False

    def f(x):
        return x + 1

    assert cr.compiler.disable(f) is f and cr.compiler.disable()(f) is f
    assert cr.compiler.is_compiling() is torch.compiler.is_compiling() is False
    cr._dynamo.config.suppress_errors = True
    assert cr._dynamo.config.suppress_errors is True
    cr._dynamo.reset()
    assert cr.version.cuda is None and cr.version.__version__ == cr.__version__
