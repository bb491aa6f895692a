"""Tensor basics: creation, dtypes and devices, random generators, attributes, operators,
setitem and repr (compared with torch where torch defines the answer)."""

from __future__ import annotations

import copy
import json
import operator
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402

# ---- creation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,dtype",
    [([1.0, 2.0], "float32"), ([1, 2], "int64"), ([True, False], "bool"), (3.5, "float32"),
     (7, "int64"), ([[1, 2], [3, 4]], "int64"), ([1, 2.5], "float32"), ([], "float32")],
)
def test_tensor_infers_dtype_like_torch(data: Any, dtype: str) -> None:
    c, t = chainrule.tensor(data), torch.tensor(data)
    assert str(c.dtype) == dtype == str(t.dtype).replace("torch.", "")
    assert tuple(c.shape) == tuple(t.shape)
    np.testing.assert_array_equal(c.numpy(), t.numpy())


def test_tensor_copies_numpy_and_keeps_its_dtype() -> None:
    a = np.arange(3, dtype=np.float64)
    t = chainrule.tensor(a)
    a[0] = 9
    assert t.dtype == chainrule.float64 and t[0].item() == 0.0
    assert chainrule.tensor(a, dtype=chainrule.float32).dtype == chainrule.float32
    assert chainrule.tensor([1, 2], dtype=chainrule.float64).dtype == chainrule.float64
    assert chainrule.tensor(np.float64(2.0)).dtype == chainrule.float64  # a NumPy scalar: kept


def test_tensor_of_tensors_and_requires_grad() -> None:
    t = chainrule.tensor([chainrule.tensor([1.0, 2.0]), chainrule.tensor([3.0, 4.0])])
    assert t.shape == (2, 2)
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.grad is None


def test_filled_creators() -> None:
    assert chainrule.zeros(2, 3).shape == (2, 3) and chainrule.zeros((2, 3)).dtype == "float32"
    assert chainrule.ones([4]).numpy().tolist() == [1.0] * 4
    assert chainrule.empty(2, 2).shape == (2, 2)
    f = chainrule.full((2, 2), 7)
    assert f.dtype == chainrule.int64 and f.numpy().tolist() == [[7, 7], [7, 7]]
    assert chainrule.full((2,), 1.5).dtype == chainrule.float32
    assert chainrule.full((2,), True).dtype == chainrule.bool
    assert chainrule.zeros(2, dtype=chainrule.int32).dtype == chainrule.int32
    z = chainrule.zeros(2, 2, requires_grad=True)
    assert z.requires_grad and z.is_leaf


@pytest.mark.parametrize(
    "args,kw",
    [((5,), {}), ((1, 7, 2), {}), ((0.0, 1.0, 0.25), {}), ((5, 0, -1), {}), ((3,), {"dtype":
                                                                                 "float64"})],
)
def test_arange_matches_torch(args: tuple, kw: dict) -> None:
    c = chainrule.arange(*args, **{k: getattr(chainrule, v) for k, v in kw.items()})
    t = torch.arange(*args, **{k: getattr(torch, v) for k, v in kw.items()})
    assert str(c.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(c.numpy(), t.numpy())


def test_linspace_eye_and_likes() -> None:
    np.testing.assert_allclose(chainrule.linspace(0, 1, 5).numpy(), torch.linspace(0, 1, 5))
    assert chainrule.linspace(0, 1, 5).dtype == chainrule.float32
    np.testing.assert_array_equal(chainrule.eye(3).numpy(), np.eye(3))
    np.testing.assert_array_equal(chainrule.eye(2, 3).numpy(), np.eye(2, 3))
    x = chainrule.tensor([[1, 2], [3, 4]])
    for fn, val in ((chainrule.zeros_like, 0), (chainrule.ones_like, 1)):
        y = fn(x)
        assert y.shape == x.shape and y.dtype == x.dtype and (y.numpy() == val).all()
    assert chainrule.full_like(x, 5).numpy().tolist() == [[5, 5], [5, 5]]
    assert chainrule.empty_like(x, dtype=chainrule.float64).dtype == chainrule.float64
    assert chainrule.zeros_like(x, dtype=chainrule.float32).dtype == chainrule.float32
    r = chainrule.rand_like(chainrule.zeros(3, dtype=chainrule.float64))
    assert r.dtype == chainrule.float64 and ((r.numpy() >= 0) & (r.numpy() < 1)).all()
    assert chainrule.randn_like(chainrule.zeros(2, 5)).shape == (2, 5)


def test_random_creators_shapes_ranges_dtypes() -> None:
    g = chainrule.Generator().manual_seed(0)
    r = chainrule.rand(1000, generator=g)
    assert r.dtype == chainrule.float32 and r.numpy().min() >= 0 and r.numpy().max() < 1
    n = chainrule.randn(20000, generator=g, dtype=chainrule.float64)
    assert abs(n.numpy().mean()) < 0.05 and abs(n.numpy().std() - 1) < 0.05
    i = chainrule.randint(3, 7, (500,), generator=g)
    assert i.dtype == chainrule.int64 and set(np.unique(i.numpy())) == {3, 4, 5, 6}
    assert chainrule.randint(5, size=(2, 2), generator=g).shape == (2, 2)
    m = chainrule.normal(2.0, 0.5, (20000,), generator=g)
    assert m.dtype == chainrule.float32 and abs(m.numpy().mean() - 2) < 0.02
    mt = chainrule.normal(chainrule.zeros(3, dtype=chainrule.float64), 1.0, generator=g)
    assert mt.shape == (3,) and mt.dtype == chainrule.float64
    p = chainrule.randperm(10, generator=g)
    assert sorted(p.numpy().tolist()) == list(range(10)) and p.dtype == chainrule.int64


def test_from_numpy_shares_memory_both_ways() -> None:
    a = np.zeros(3, dtype=np.float64)
    t = chainrule.from_numpy(a)
    a[0] = 5.0
    assert t[0].item() == 5.0 and t.dtype == chainrule.float64
    t[1] = 7.0
    assert a[1] == 7.0
    t += 1.0
    assert a.tolist() == [6.0, 8.0, 1.0]
    assert t.numpy() is a or np.shares_memory(t.numpy(), a)
    with pytest.raises(TypeError, match="expected np.ndarray"):
        chainrule.from_numpy([1, 2])


def test_numpy_item_tolist() -> None:
    x = chainrule.tensor([[1.5, 2.5]])
    assert x.tolist() == [[1.5, 2.5]] and isinstance(x.numpy(), np.ndarray)
    assert chainrule.tensor([3]).item() == 3 and isinstance(chainrule.tensor([3]).item(), int)
    assert isinstance(chainrule.tensor(2.5).item(), float)
    with pytest.raises(RuntimeError, match="2 elements"):
        x.item()
    with pytest.raises(RuntimeError, match="requires grad.*detach"):
        chainrule.ones(2, requires_grad=True).numpy()


# ---- dtypes and devices --------------------------------------------------------------------
def test_dtype_conversions() -> None:
    x = chainrule.tensor([1.7, -2.2])
    assert x.double().dtype == chainrule.float64
    assert x.long().dtype == chainrule.int64 and x.long().tolist() == [1, -2]
    assert x.int().dtype == chainrule.int32 and x.bool().dtype == chainrule.bool
    assert x.double().float().dtype == chainrule.float32
    assert x.to(chainrule.float64).dtype == chainrule.float64
    assert x.to(dtype=chainrule.int64).dtype == chainrule.int64
    assert x.to(chainrule.ones(1, dtype=chainrule.float64)).dtype == chainrule.float64
    assert x.to("cpu", chainrule.float64).dtype == chainrule.float64
    assert x.to(x.dtype) is x and x.float() is x
    assert chainrule.float is chainrule.float32 and chainrule.long is chainrule.int64
    assert chainrule.get_default_dtype() == chainrule.float32


def test_to_keeps_gradient_flowing() -> None:
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * 3
    assert y.dtype == chainrule.float64
    y.sum().backward()
    assert x.grad.dtype == chainrule.float32 and x.grad.tolist() == [3.0, 3.0]


def test_device_is_cpu_only() -> None:
    d = chainrule.device("cpu")
    x = chainrule.ones(2)
    assert x.device == d == "cpu" and str(d) == "cpu" and d.type == "cpu"
    assert x.to("cpu") is x and x.to(d) is x and x.cpu() is x and not x.is_cuda
    assert chainrule.device("cpu:0") == d
    assert chainrule.cuda.is_available() is False and chainrule.cuda.device_count() == 0
    for bad in (lambda: chainrule.device("cuda"), lambda: x.to("cuda"), lambda: x.cuda(),
                lambda: chainrule.zeros(2, device="cuda:0")):
        with pytest.raises(RuntimeError, match="cpu"):
            bad()
    assert chainrule.zeros(2, device="cpu").shape == (2,)
    assert chainrule.tensor([1.0], device=d).device == d


# ---- random generators ---------------------------------------------------------------------
def test_manual_seed_reproducible() -> None:
    chainrule.manual_seed(123)
    a = chainrule.randn(5)
    b = chainrule.rand(3)
    chainrule.manual_seed(123)
    np.testing.assert_array_equal(chainrule.randn(5).numpy(), a.numpy())
    np.testing.assert_array_equal(chainrule.rand(3).numpy(), b.numpy())
    chainrule.manual_seed(124)
    assert not np.array_equal(chainrule.randn(5).numpy(), a.numpy())


def test_explicit_generator_independent_of_global() -> None:
    g1 = chainrule.Generator().manual_seed(7)
    g2 = chainrule.Generator().manual_seed(7)
    chainrule.manual_seed(0)
    a = chainrule.randn(4, generator=g1)
    chainrule.randn(10)  # global draws do not disturb g2
    b = chainrule.randn(4, generator=g2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert g1.initial_seed() == 7


def test_generator_state_round_trip_json() -> None:
    g = chainrule.Generator().manual_seed(3)
    chainrule.rand(2, generator=g)
    state = json.loads(json.dumps(g.get_state()))
    a = chainrule.randn(6, generator=g)
    chainrule.randn(6, generator=g)
    g.set_state(state)
    np.testing.assert_array_equal(chainrule.randn(6, generator=g).numpy(), a.numpy())
    s = chainrule.get_rng_state()
    c = chainrule.rand(3)
    chainrule.set_rng_state(s)
    np.testing.assert_array_equal(chainrule.rand(3).numpy(), c.numpy())


def test_inplace_random_fills_use_generator() -> None:
    g = chainrule.Generator().manual_seed(1)
    x = chainrule.empty(3).uniform_(-1, 1, generator=g)
    g.manual_seed(1)
    y = chainrule.empty(3).uniform_(-1, 1, generator=g)
    assert x.dtype == chainrule.float32
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    z = chainrule.zeros(1000).normal_(5.0, 0.1, generator=g)
    assert abs(z.numpy().mean() - 5) < 0.02


# ---- attributes ----------------------------------------------------------------------------
def test_shape_attributes() -> None:
    c = chainrule.zeros(2, 3, 4)
    t = torch.zeros(2, 3, 4)
    assert c.shape == tuple(t.shape) and c.size() == tuple(t.size()) and c.size(1) == 3
    assert c.size(-1) == 4 and c.ndim == 3 == c.dim() and c.numel() == 24
    assert c.T.shape == tuple(t.permute(2, 1, 0).shape) and c.mT.shape == (2, 4, 3)
    assert len(c) == 2 and chainrule.numel(c) == 24
    assert chainrule.is_tensor(c) and not chainrule.is_tensor(np.zeros(2))
    assert chainrule.ones(3).T.shape == (3,)


def test_graph_attributes() -> None:
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and x.grad_fn is None
    assert "Mul" in y.grad_fn.name() and y.requires_grad
    assert chainrule.tensor([1.0]).is_leaf
    nxt = y.grad_fn.next_functions
    assert nxt[0][0].name() == "AccumulateGrad" and nxt[1][0] is None


def test_detach_shares_memory_and_clone_copies() -> None:
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and np.shares_memory(d.numpy(), y.data)
    d[0] = 10.0
    assert y.data[0] == 10.0
    c = x.clone()
    assert c.requires_grad and not c.is_leaf and not np.shares_memory(c.data, x.data)
    (c * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_requires_grad_and_flags() -> None:
    x = chainrule.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    y = chainrule.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    assert x.is_floating_point() and not chainrule.tensor([1]).is_floating_point()
    assert x.is_contiguous() and not chainrule.zeros(2, 3).t().is_contiguous()


def test_python_conversions() -> None:
    assert float(chainrule.tensor([2.5])) == 2.5 and int(chainrule.tensor(3.9)) == 3
    assert bool(chainrule.tensor(1)) and not bool(chainrule.tensor(0.0))
    assert [1, 2, 3][chainrule.tensor(1)] == 2
    assert [t.item() for t in chainrule.tensor([4, 5])] == [4, 5]
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(chainrule.ones(2))
    with pytest.raises(TypeError):
        len(chainrule.tensor(1.0))
    assert f"{chainrule.tensor(0.123456):.2f}" == "0.12"


def test_deepcopy_leaf() -> None:
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    x.grad = chainrule.tensor([0.5, 0.5])
    y = copy.deepcopy(x)
    assert y.requires_grad and y.grad.tolist() == [0.5, 0.5] and y is not x
    assert not np.shares_memory(y.data, x.data)
    with pytest.raises(RuntimeError, match="leaves"):
        copy.deepcopy(x * 2)


# ---- operators -----------------------------------------------------------------------------
A = np.array([[1.5, -2.0, 3.25], [0.5, 4.0, -1.0]])
B = np.array([2.0, -0.5, 1.5])

BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
          operator.mod, operator.pow]


@pytest.mark.parametrize("op", BINARY, ids=lambda o: o.__name__)
def test_binary_operators_tensor_and_reflected(op: Any) -> None:
    a = np.abs(A) + 0.5 if op is operator.pow else A
    cases = [
        (op(chainrule.tensor(a), chainrule.tensor(B)), op(torch.tensor(a), torch.tensor(B))),
        (op(chainrule.tensor(a), 1.5), op(torch.tensor(a), 1.5)),
        (op(2.5, chainrule.tensor(a)), op(2.5, torch.tensor(a))),
        (op(chainrule.tensor(a), 2), op(torch.tensor(a), 2)),
    ]
    for c, t in cases:
        assert c.dtype == chainrule.float64
        np.testing.assert_allclose(c.numpy(), t.numpy(), rtol=1e-12)


@pytest.mark.parametrize("op", [operator.iadd, operator.isub, operator.imul, operator.itruediv,
                                operator.ipow], ids=lambda o: o.__name__)
def test_inplace_operators_keep_identity_and_dtype(op: Any) -> None:
    c = chainrule.tensor(np.abs(A).astype(np.float32))
    t = torch.tensor(np.abs(A).astype(np.float32))
    ref = c
    data = c._array
    c = op(c, 2.0)
    t = op(t, 2.0)
    assert c is ref and c._array is data and c.dtype == chainrule.float32
    np.testing.assert_allclose(c.numpy(), t.numpy(), rtol=1e-6)
    c = op(c, chainrule.tensor(np.full(3, 1.5, np.float32)))
    t = op(t, torch.tensor(np.full(3, 1.5, np.float32)))
    np.testing.assert_allclose(c.numpy(), t.numpy(), rtol=1e-6)


def test_matmul_operator_and_rmatmul() -> None:
    a = chainrule.tensor(A)
    np.testing.assert_allclose((a @ chainrule.tensor(B)).numpy(), A @ B)
    np.testing.assert_allclose((A.T @ a).numpy(), A.T @ A)  # ndarray @ Tensor defers to Tensor
    np.testing.assert_allclose((a @ B).numpy(), A @ B)


def test_unary_operators() -> None:
    a = chainrule.tensor(A)
    np.testing.assert_array_equal((-a).numpy(), -A)
    np.testing.assert_array_equal(abs(a).numpy(), np.abs(A))
    assert (+a) is a


@pytest.mark.parametrize("op", [operator.eq, operator.ne, operator.lt, operator.le,
                                operator.gt, operator.ge], ids=lambda o: o.__name__)
def test_comparisons(op: Any) -> None:
    c = op(chainrule.tensor(A), chainrule.tensor(B))
    t = op(torch.tensor(A), torch.tensor(B))
    assert c.dtype == chainrule.bool and not c.requires_grad
    np.testing.assert_array_equal(c.numpy(), t.numpy())
    np.testing.assert_array_equal(op(chainrule.tensor(A), 0.5).numpy(),
                                  op(torch.tensor(A), 0.5).numpy())
    np.testing.assert_array_equal(op(0.5, chainrule.tensor(A)).numpy(),
                                  op(0.5, torch.tensor(A)).numpy())


def test_bitwise_and_logical() -> None:
    p, q = [True, False, True, False], [True, True, False, False]
    cp, cq, tp, tq = (chainrule.tensor(p), chainrule.tensor(q), torch.tensor(p),
                      torch.tensor(q))
    for op in (operator.and_, operator.or_, operator.xor):
        np.testing.assert_array_equal(op(cp, cq).numpy(), op(tp, tq).numpy())
    np.testing.assert_array_equal((~cp).numpy(), (~tp).numpy())
    i, j = chainrule.tensor([12, 10]), torch.tensor([12, 10])
    np.testing.assert_array_equal((i & 6).numpy(), (j & 6).numpy())
    np.testing.assert_array_equal((~i).numpy(), (~j).numpy())
    np.testing.assert_array_equal((i >> 1).numpy(), (j >> 1).numpy())
    with pytest.raises(TypeError, match="float"):
        ~chainrule.ones(2)
    assert cp.logical_not().tolist() == [False, True, False, True]


def test_comparison_methods_and_equal() -> None:
    a = chainrule.tensor([1.0, 2.0])
    assert a.eq(a).all().item() and a.equal(chainrule.tensor([1.0, 2.0]))
    assert not a.equal(chainrule.tensor([1.0]))
    assert a.allclose(a + 1e-9) and a.isclose(a).all().item()


# ---- setitem (no grad) ---------------------------------------------------------------------
def test_setitem_matches_torch() -> None:
    c = chainrule.tensor(np.arange(12.0).reshape(3, 4))
    t = torch.tensor(np.arange(12.0).reshape(3, 4))
    v0 = c._version
    for key, val in [(0, -1.0), ((slice(None), 1), 5.0), ((1, 2), 9.0),
                     (np.array([0, 2]), np.array([1.0, 2.0, 3.0, 4.0]))]:
        c[key] = val
        t[key] = torch.tensor(val) if isinstance(val, np.ndarray) else val
    c[c > 8] = 0.0
    t[t > 8] = 0.0
    c[:, 0] = chainrule.tensor([7.0, 8.0, 9.0])
    t[:, 0] = torch.tensor([7.0, 8.0, 9.0])
    np.testing.assert_array_equal(c.numpy(), t.numpy())
    assert c._version > v0


def test_setitem_casts_and_refuses_expanded_view() -> None:
    i = chainrule.tensor([1, 2, 3])
    i[0] = 5
    assert i.dtype == chainrule.int64 and i.tolist() == [5, 2, 3]
    e = chainrule.ones(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="read-only|expand"):
        e[0, 0] = 2.0


# ---- repr ----------------------------------------------------------------------------------
def test_repr() -> None:
    assert repr(chainrule.tensor([1.0, 2.5])) == "tensor([1.0000, 2.5000])"  # as torch
    assert repr(chainrule.tensor([1, 2])) == "tensor([1, 2])"
    assert "dtype=chainrule.float64" in repr(chainrule.tensor([1.0], dtype=chainrule.float64))
    assert "requires_grad=True" in repr(chainrule.ones(1, requires_grad=True))
    assert "grad_fn=<MulBackward0>" in repr(chainrule.ones(1, requires_grad=True) * 2)
    assert str(chainrule.tensor(3)) == "tensor(3)"
    big = repr(chainrule.zeros(2000))
    assert "..." in big and len(big) < 400
