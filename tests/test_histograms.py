"""chainrule.histogram / histc against torch (float64 and float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr


def _pair(a):
    return cr.from_numpy(a), torch.from_numpy(a)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kw", [dict(bins=7), dict(bins=5, range=(-1.0, 0.5)),
                                dict(bins=4, density=True), dict(bins=6, weighted=True),
                                dict(bins=6, weighted=True, density=True)])
def test_histogram_int_bins(dtype, kw):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((10, 9)).astype(dtype)
    a[0, :3] = [0.0, 0.5, -1.0]  # values on edges
    c, t = _pair(a)
    kw = dict(kw)
    weighted = kw.pop("weighted", False)
    if weighted:
        w = rng.random((10, 9)).astype(dtype)
        kw["weight"] = w
    ck = {k: (cr.from_numpy(v) if k == "weight" else v) for k, v in kw.items()}
    tk = {k: (torch.from_numpy(v) if k == "weight" else v) for k, v in kw.items()}
    h, e = cr.histogram(c, **ck)
    th, te = torch.histogram(t, **tk)
    assert h.dtype == c.dtype and e.dtype == c.dtype
    np.testing.assert_array_equal(e.numpy(), te.numpy())
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_histogram_tensor_edges_and_single_value():
    a = np.array([0.0, 1.0, 1.5, 2.0, 3.0, 3.5, -0.1])
    edges = np.array([0.0, 1.5, 2.0, 3.0])
    h, e = cr.histogram(cr.from_numpy(a), cr.from_numpy(edges))
    th, te = torch.histogram(torch.from_numpy(a), torch.from_numpy(edges))
    np.testing.assert_array_equal(h.numpy(), th.numpy())
    np.testing.assert_array_equal(e.numpy(), te.numpy())
    one = np.ones(3)
    for got, want in zip(cr.histogram(cr.from_numpy(one), 4),
                         torch.histogram(torch.from_numpy(one), 4)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_histogram_errors():
    with pytest.raises(RuntimeError, match="floating"):
        cr.histogram(cr.tensor([1, 2, 3]), 3)
    with pytest.raises(RuntimeError, match="min should not exceed max"):
        cr.histogram(cr.tensor([1.0, 2.0]), 3, range=(2.0, 1.0))
    with pytest.raises(RuntimeError, match="not finite"):
        cr.histogram(cr.tensor([1.0, float("inf")]), 3)
    with pytest.raises(RuntimeError, match="increasing"):
        cr.histogram(cr.tensor([1.0, 2.0]), cr.tensor([0.0, 3.0, 1.0]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kw", [dict(), dict(bins=7), dict(bins=5, min=-1, max=0.5),
                                dict(bins=3, min=2, max=2)])
def test_histc(dtype, kw):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(200).astype(dtype)
    a[:4] = [-1.0, 0.5, 0.2, -0.4]  # on or near edges: the interpolation rule matters
    got = cr.histc(cr.from_numpy(a), **kw)
    want = torch.histc(torch.from_numpy(a), **kw)
    assert got.dtype == cr.from_numpy(a).dtype
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    c1 = np.full(3, 2.0, dtype)
    np.testing.assert_array_equal(cr.histc(cr.from_numpy(c1), 4).numpy(),
                                  torch.histc(torch.from_numpy(c1), 4).numpy())
    with pytest.raises(RuntimeError, match="max must be larger"):
        cr.histc(cr.from_numpy(a), 3, min=1, max=0)


@pytest.mark.parametrize("wdtype", [None, np.float32, np.float64, np.int64])
def test_bincount_weights(wdtype):
    a = np.array([0, 3, 3, 1, 7])
    kw_c, kw_t = {}, {}
    if wdtype is not None:
        w = np.array([0.5, 1.0, 2.0, 3.0, 4.25]).astype(wdtype)
        kw_c, kw_t = {"weights": cr.from_numpy(w)}, {"weights": torch.from_numpy(w)}
    for minlength in (0, 10):
        got = cr.bincount(cr.from_numpy(a), minlength=minlength, **kw_c)
        want = torch.bincount(torch.from_numpy(a), minlength=minlength, **kw_t)
        assert got.dtype == getattr(cr, str(want.dtype).split(".")[1])
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(RuntimeError, match="non-negative"):
        cr.bincount(cr.tensor([-1, 2]))
    with pytest.raises(RuntimeError, match="same length"):
        cr.bincount(cr.from_numpy(a), weights=cr.ones(3))
