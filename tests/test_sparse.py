"""chainrule.sparse (COO) against torch.sparse, float64: construction with duplicate indices,
coalesce, indices/values, to_dense, sparse.mm / spmm gradients (dense operand and values),
sparse.sum, sparse.softmax, to_sparse, t(), legacy constructors, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr

pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks")

IDX = np.array([[0, 2, 1, 0, 2], [1, 0, 2, 1, 2]])       # (0, 1) appears twice
VAL = np.array([1.5, -2.0, 3.0, 0.5, 4.0])


def _pair(requires_grad: bool = False):
    cv = cr.from_numpy(VAL.copy()).requires_grad_(requires_grad)
    tv = torch.from_numpy(VAL.copy()).requires_grad_(requires_grad)
    return (cr.sparse_coo_tensor(cr.from_numpy(IDX), cv, (3, 4)), cv,
            torch.sparse_coo_tensor(torch.from_numpy(IDX), tv, (3, 4)), tv)


def test_construct_coalesce_accessors():
    c, _, t, _ = _pair()
    assert c.is_sparse and c.layout == cr.sparse_coo and t.layout == torch.sparse_coo
    assert (c._nnz(), c.sparse_dim(), c.dense_dim()) == (t._nnz(), t.sparse_dim(), t.dense_dim())
    assert c.is_coalesced() == t.is_coalesced() is False
    with pytest.raises(RuntimeError, match="uncoalesced"):
        c.indices()
    cc, tc = c.coalesce(), t.coalesce()
    np.testing.assert_array_equal(cc.indices().numpy(), tc.indices().numpy())
    np.testing.assert_allclose(cc.values().numpy(), tc.values().numpy())
    np.testing.assert_allclose(c.to_dense().numpy(), t.to_dense().numpy())
    assert not isinstance(c.to_dense(), cr.sparse.SparseTensor)
    # size inferred from the indices, values with a dense dimension
    c2 = cr.sparse_coo_tensor(cr.from_numpy(IDX), cr.ones(5, 2))
    t2 = torch.sparse_coo_tensor(torch.from_numpy(IDX), torch.ones(5, 2))
    assert tuple(c2.shape) == tuple(t2.shape) == (3, 3, 2)
    np.testing.assert_allclose(c2.to_dense().numpy(), t2.to_dense().numpy())
    legacy = cr.sparse.FloatTensor(cr.from_numpy(IDX), cr.from_numpy(VAL), (3, 4))
    assert legacy.dtype == cr.float32


def test_mm_gradients_reach_dense_and_values():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    c, cv, t, tv = _pair(requires_grad=True)
    cx, tx = cr.from_numpy(x.copy()).requires_grad_(True), torch.from_numpy(x.copy())
    tx.requires_grad_(True)
    g = rng.standard_normal((3, 3))
    outs = [(cr.sparse.mm(c, cx), torch.sparse.mm(t, tx)), (cr.spmm(c, cx), torch.spmm(t, tx)),
            (c @ cx, t @ tx)]
    for co, to in outs:
        np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), rtol=1e-12)
    (outs[0][0] * cr.from_numpy(g)).sum().backward()
    (outs[0][1] * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(cv.grad.numpy(), tv.grad.numpy(), rtol=1e-12)


def test_sum_softmax_to_sparse_t():
    c, _, t, _ = _pair()
    for dim in (0, 1):
        cs, ts = cr.sparse.sum(c, dim=dim), torch.sparse.sum(t, dim=dim)
        assert cs.is_sparse and ts.is_sparse
        np.testing.assert_allclose(cs.to_dense().numpy(), ts.to_dense().numpy())
    assert cr.sparse.sum(c).item() == pytest.approx(torch.sparse.sum(t).item())
    for fn in ("softmax", "log_softmax"):
        cs = getattr(cr.sparse, fn)(c, dim=1)
        ts = getattr(torch.sparse, fn)(t.coalesce(), dim=1)
        np.testing.assert_array_equal(cs.indices().numpy(), ts.indices().numpy())
        np.testing.assert_allclose(cs.values().numpy(), ts.values().numpy(), rtol=1e-12)
    d = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, -3.0]])
    cs, ts = cr.from_numpy(d).to_sparse(), torch.from_numpy(d).to_sparse()
    np.testing.assert_array_equal(cs.indices().numpy(), ts.indices().numpy())
    np.testing.assert_allclose(cs.values().numpy(), ts.values().numpy())
    ct, tt = c.coalesce().t(), t.coalesce().t()
    assert ct.is_sparse and tuple(ct.shape) == (4, 3)
    np.testing.assert_allclose(ct.to_dense().numpy(), tt.to_dense().numpy())
    np.testing.assert_allclose(cr.from_numpy(d).to_dense().numpy(), d)


def test_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="inconsistent with indices"):
        cr.sparse_coo_tensor(cr.from_numpy(IDX), cr.from_numpy(VAL), (2, 4))
    with pytest.raises(RuntimeError, match="nnz"):
        cr.sparse_coo_tensor(cr.from_numpy(IDX), cr.from_numpy(VAL[:3]), (3, 4))
    with pytest.raises(RuntimeError, match="sparse_dim x nnz"):
        cr.sparse_coo_tensor(cr.from_numpy(IDX[0]), cr.from_numpy(VAL), (3, 4))
