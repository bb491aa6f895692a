"""``Tensor.data`` as PyTorch's (a detached Tensor sharing storage), the NumPy spellings
``axis=``/``keepdims=``, writable 0-d views, factory keywords, ``new_*``, ``roll``,
``take_along_dim``, ``index_add``, gradients with respect to a view, and silent NaN results —
each checked against PyTorch 2.13 in float64."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

import chainrule as cr

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 4))


def both(a: np.ndarray, requires_grad: bool = False) -> tuple[cr.Tensor, torch.Tensor]:
    return (cr.tensor(a.copy(), dtype=cr.float64, requires_grad=requires_grad),
            torch.tensor(a.copy(), dtype=torch.float64, requires_grad=requires_grad))


def assert_close(c: Any, t: Any, **kw: Any) -> None:
    np.testing.assert_allclose(np.asarray(c.detach() if isinstance(c, cr.Tensor) else c),
                               t.detach().numpy() if isinstance(t, torch.Tensor) else t, **kw)


# ---- .data -----------------------------------------------------------------------------------
def test_data_is_a_detached_tensor_sharing_storage_with_its_own_version() -> None:
    for lib in (cr, torch):
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        d = x.data
        assert isinstance(d, lib.Tensor) and not d.requires_grad and d.grad_fn is None
        assert d.is_leaf and d.data_ptr() == x.data_ptr()
        d.add_(1.0)
        np.testing.assert_array_equal(x.detach().numpy(), [2.0, 3.0, 4.0])
        assert x._version == 0 and d._version == 1  # writes through .data are invisible
        y = x * 2
        assert not y.data.requires_grad and y.data.grad_fn is None


def test_data_writes_are_invisible_to_autograd_as_in_torch() -> None:
    grads = []
    for lib in (cr, torch):
        w = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        loss = (w * w).sum()
        w.data.mul_(10)  # PyTorch's documented hazard: the saved w changed, no error
        loss.backward()
        grads.append(w.grad.numpy().copy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_data_setter_rebinds_storage_as_torch() -> None:
    for lib in (cr, torch):
        p = lib.zeros(3, requires_grad=True)
        p.data = lib.ones(5)
        assert tuple(p.shape) == (5,) and p.requires_grad
        p.data = lib.ones(2, dtype=lib.float64)
        assert p.dtype == lib.float64
        with pytest.raises(RuntimeError, match="floating point"):
            p.data = lib.ones(2, dtype=lib.int64)
        with pytest.raises(TypeError, match="has to be a tensor, but got int"):
            p.data = 3
        q = lib.ones(3)
        q.data = lib.ones(2, dtype=lib.int64)  # no grad: any dtype
        assert q.dtype == lib.int64
    a = cr.zeros(4)
    b = a[1:3]
    b.data = cr.ones(2)  # b leaves a's storage: a unchanged, as torch
    np.testing.assert_array_equal(a.numpy(), [0.0, 0.0, 0.0, 0.0])


def _sgd_idioms(lib: Any) -> np.ndarray:
    """The PyTorch-program idioms that read ``.data`` as a Tensor."""
    w = lib.tensor(A.copy(), dtype=lib.float64, requires_grad=True)
    b = lib.tensor(np.zeros(4), dtype=lib.float64, requires_grad=True)
    x = lib.tensor(_X, dtype=lib.float64)
    for step in range(3):
        loss = ((x @ w + b) ** 2).mean()
        loss.backward()
        w.data.add_(w.grad, alpha=-0.1)            # p.data.add_(g, alpha=-lr)
        b.data += -0.1 * b.grad                    # p.data += -lr * p.grad
        if step == 1:
            w.data.copy_(w.data * 0.5)             # p.data.copy_(...)
        w.grad.data.zero_()                        # p.grad.data.zero_()
        b.grad.data.zero_()
    mean = w.mean(0)
    std = lib.sqrt(mean.data ** 2 + 1)             # mean.data passed to torch.sqrt
    return np.concatenate([w.detach().numpy().ravel(), b.detach().numpy(), std.numpy()])


_X = RNG.standard_normal((5, 3))


def test_pytorch_data_idioms_give_torchs_numbers() -> None:
    np.testing.assert_allclose(_sgd_idioms(cr), _sgd_idioms(torch), rtol=1e-12)


def test_data_normal_fills_the_owner_in_place() -> None:
    p = cr.zeros(200, 3, requires_grad=True)
    p.data.normal_(0.0, 0.5, generator=cr.Generator().manual_seed(0))
    assert abs(float(p.detach().std()) - 0.5) < 0.05 and not p.grad_fn


def test_numpy_conversion_and_array_protocol() -> None:
    x = cr.tensor([[1.0, 2.0]], requires_grad=True)
    assert np.shares_memory(np.asarray(x), x.detach().numpy())
    assert np.asarray(x.sum()).shape == ()  # a 0-d reduction still converts to an ndarray
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    c = np.array(x, copy=True)
    c[0, 0] = 9
    assert float(x[0, 0]) == 1.0


# ---- axis= / keepdims= -------------------------------------------------------------------------
NUMPY_SPELLINGS = [
    ("sum", dict(axis=1, keepdims=True)), ("mean", dict(axis=0)), ("prod", dict(axis=1)),
    ("std", dict(axis=1, keepdims=True)), ("var", dict(axis=0)), ("amax", dict(axis=1)),
    ("amin", dict(axis=0, keepdims=True)), ("argmax", dict(axis=1)), ("argmin", dict(axis=0)),
    ("logsumexp", dict(axis=1)), ("cumsum", dict(axis=1)), ("softmax", dict(axis=0)),
    ("log_softmax", dict(axis=1)),
    ("unsqueeze", dict(axis=1)), ("flatten", {}), ("all", dict(axis=1)),
]


@pytest.mark.parametrize("name,kw", NUMPY_SPELLINGS, ids=[n for n, _ in NUMPY_SPELLINGS])
def test_numpy_keyword_spellings_equal_torch(name: str, kw: dict) -> None:
    c, t = both(np.abs(A) + 0.5)
    if name == "all":
        c, t = c > 0.7, t > 0.7
    assert_close(getattr(c, name)(**kw), getattr(t, name)(**kw), rtol=1e-12)
    assert_close(getattr(cr, name)(c, **kw), getattr(torch, name)(t, **kw), rtol=1e-12)


def test_numpy_spellings_on_index_ops_and_cat() -> None:
    c, t = both(A)
    ic, it = cr.tensor([[0, 2], [1, 1], [3, 0]]), torch.tensor([[0, 2], [1, 1], [3, 0]])
    assert_close(c.gather(axis=1, index=ic), t.gather(axis=1, index=it))
    assert_close(cr.cat([c, c], axis=1), torch.cat([t, t], axis=1))
    assert_close(cr.stack([c, c], axis=2), torch.stack([t, t], axis=2))
    assert_close(c.max(axis=1).values, t.max(axis=1).values)
    assert_close(c.index_select(axis=1, index=cr.tensor([3, 0])),
                 t.index_select(1, torch.tensor([3, 0])))
    with pytest.raises(TypeError, match="both dim= and its NumPy spelling axis="):
        c.sum(dim=0, axis=1)


# ---- writable 0-d views ----------------------------------------------------------------------
def test_in_place_ops_on_0d_views_write_the_base() -> None:
    out = []
    for lib in (cr, torch):
        y = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)
        y[1] += 1
        N = lib.zeros(2, 3, dtype=lib.float64)
        for i, j in [(0, 1), (1, 2), (1, 2)]:
            N[i, j] += 1
        s = lib.tensor(1.0, dtype=lib.float64)
        s0 = s
        s += 1
        assert s is s0
        x = lib.ones(2, 3, dtype=lib.float64)
        x[1, 2].fill_(0)
        x[0, 0].mul_(5)
        out.append(np.concatenate([y.numpy(), N.numpy().ravel(), [s.item()], x.numpy().ravel()]))
    np.testing.assert_array_equal(out[0], out[1])


def test_0d_results_of_reductions_and_products_are_writable() -> None:
    out = []
    for lib in (cr, torch):
        v = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)
        s, n, d = v.dot(v), v.norm(), v.std()
        s += 1
        n.mul_(2)
        d.fill_(7)
        out.append([s.item(), n.item(), d.item()])
    np.testing.assert_allclose(out[0], out[1], rtol=1e-12)


def test_0d_view_in_place_gradient_equals_torch() -> None:
    (cw, tw) = both(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    res = []
    for lib, w in ((cr, cw), (torch, tw)):
        z = w * w
        z[1] *= 3
        (z * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum().backward()
        res.append(w.grad.numpy().copy())
    np.testing.assert_allclose(res[0], res[1], rtol=1e-12)


# ---- factories -------------------------------------------------------------------------------
def test_factory_keywords() -> None:
    w = cr.normal(0, 0.01, (3, 2), requires_grad=True)
    tw = torch.normal(0, 0.01, (3, 2), requires_grad=True)
    assert w.requires_grad and w.is_leaf and tuple(w.shape) == tuple(tw.shape)
    assert w.dtype == cr.float32 and tw.dtype == torch.float32
    g = cr.Generator().manual_seed(3)
    a = cr.randn(2, 3, generator=g, dtype=cr.float64, device="cpu", requires_grad=True)
    assert a.requires_grad and a.dtype == cr.float64
    for lib in (cr, torch):
        o = lib.empty(0, dtype=lib.float64)
        r = lib.arange(4, out=o, dtype=lib.float64)  # out= is resized, as torch
        assert r is o and tuple(o.shape) == (4,)
        np.testing.assert_array_equal(o.numpy(), [0, 1, 2, 3])
        z = lib.zeros(2, 2, out=lib.empty(2, 2))
        assert float(z.sum()) == 0
        assert lib.ones_like(o, device="cpu", requires_grad=True).requires_grad
        assert lib.full((2,), 1.5, requires_grad=True).requires_grad
        assert lib.eye(2, requires_grad=True).requires_grad
        assert lib.zeros_like(o, memory_format=lib.preserve_format).shape == o.shape
        assert lib.randint_like(o, 5, dtype=lib.int64).dtype == lib.int64
        assert lib.randperm(3, device="cpu", out=lib.empty(3, dtype=lib.int64)).shape == (3,)
    with pytest.raises(RuntimeError, match="cuda"):
        cr.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="out="):
        cr.zeros(2, out=cr.zeros(2, requires_grad=True))


@pytest.mark.parametrize("name,args", [
    ("new_zeros", ((2, 3),)), ("new_ones", (2, 3)), ("new_full", ((2,), 7)),
    ("new_empty", ((0, 2),)), ("new_tensor", ([1, 2, 3],)),
])
def test_new_factories_equal_torch(name: str, args: tuple) -> None:
    c, t = both(A)
    rc, rt = getattr(c, name)(*args), getattr(t, name)(*args)
    assert tuple(rc.shape) == tuple(rt.shape) and str(rc.dtype) == str(rt.dtype).split(".")[1]
    if name != "new_empty":
        assert_close(rc, rt)
    rc = getattr(c, name)(*args, dtype=cr.float32, requires_grad=True)
    rt = getattr(t, name)(*args, dtype=torch.float32, requires_grad=True)
    assert rc.requires_grad and rt.requires_grad and rc.dtype == cr.float32


def test_roll_clone_and_histogram_methods() -> None:
    c, t = both(A, requires_grad=True)
    assert_close(c.roll(2), t.roll(2))
    assert_close(c.roll((1, -1), (0, 1)), t.roll((1, -1), (0, 1)))
    assert_close(cr.roll(c, 5), torch.roll(t, 5))
    r0 = c.roll(0, 1)
    assert r0 is not c and r0.data_ptr() != c.data_ptr()  # a copy, as torch
    (c.roll(3) * cr.tensor(A)).sum().backward()
    (t.roll(3) * torch.tensor(A)).sum().backward()
    assert_close(c.grad, t.grad)
    k = c.clone(memory_format=cr.contiguous_format)
    assert k.grad_fn is not None and k.data_ptr() != c.data_ptr()
    ic, it = cr.tensor([1, 1, 3, 0]), torch.tensor([1, 1, 3, 0])
    wc, wt = both(np.array([0.5, 0.25, 2.0, 1.0]))
    assert_close(ic.bincount(weights=wc, minlength=6), it.bincount(weights=wt, minlength=6))
    v, tv = c.detach().reshape(-1), t.detach().reshape(-1)
    assert_close(v.histc(bins=5), tv.histc(bins=5), rtol=1e-12)
    hc, ht = v.histogram(4, range=(-1.0, 1.0)), tv.histogram(4, range=(-1.0, 1.0))
    assert_close(hc[0], ht[0])
    assert_close(hc[1], ht[1], rtol=1e-12)


def test_take_along_dim_equals_torch() -> None:
    c, t = both(A, requires_grad=True)
    idx = np.argsort(A, axis=1)[:, :2]
    assert_close(cr.take_along_dim(c, cr.tensor(idx), dim=1),
                 torch.take_along_dim(t, torch.tensor(idx), dim=1))
    assert_close(c.take_along_dim(cr.tensor([0, 11])), t.take_along_dim(torch.tensor([0, 11])))
    bcast = RNG.integers(0, 4, (1, 2, 5))  # against (3, 4, 1): broadcast in dims 0 and 2
    c3, t3 = both(A.reshape(3, 4, 1))
    assert_close(c3.take_along_dim(cr.tensor(bcast), dim=1),
          torch.take_along_dim(t3, torch.tensor(bcast), dim=1))
    c2, t2 = both(A, requires_grad=True)
    oc = c2.take_along_dim(cr.tensor(np.array([[1, 0, 3]])), dim=1)
    ot = t2.take_along_dim(torch.tensor(np.array([[1, 0, 3]])), dim=1)
    assert_close(oc, ot)
    oc.sum().backward()
    ot.sum().backward()
    assert_close(c2.grad, t2.grad)
    with pytest.raises(IndexError, match="out of bounds"):
        c.take_along_dim(cr.tensor([[4]]), dim=1)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        c.take_along_dim(cr.tensor([0]), dim=1)


def test_index_add_equals_torch() -> None:
    (c, t), (sc, st) = both(A, requires_grad=True), both(RNG.standard_normal((3, 3)), True)
    idx = [3, 0, 3]  # repeated index: contributions accumulate
    oc = c.index_add(1, cr.tensor(idx), sc, alpha=2.0)
    ot = t.index_add(1, torch.tensor(idx), st, alpha=2.0)
    assert_close(oc, ot, rtol=1e-12)
    g = RNG.standard_normal((3, 4))
    (oc * cr.tensor(g)).sum().backward()
    (ot * torch.tensor(g)).sum().backward()
    assert_close(c.grad, t.grad)
    assert_close(sc.grad, st.grad)
    mc, mt = cr.zeros(4, 2, dtype=cr.float64), torch.zeros(4, 2, dtype=torch.float64)
    rc = mc.index_add_(0, cr.tensor([1, 1]), cr.ones(2, 2, dtype=cr.float64))
    mt.index_add_(0, torch.tensor([1, 1]), torch.ones(2, 2, dtype=torch.float64))
    assert rc is mc
    assert_close(mc, mt)
    with pytest.raises(IndexError, match="out of bounds"):
        mc.index_add_(0, cr.tensor([4, 0]), cr.ones(2, 2, dtype=cr.float64))
    with pytest.raises(IndexError, match="Number of indices"):
        mc.index_add_(0, cr.tensor([0]), cr.ones(2, 2, dtype=cr.float64))


# ---- a gradient with respect to a view -------------------------------------------------------
VIEWS = {
    "view_as": lambda x: x.view_as(x), "view": lambda x: x.view(2, 3),
    "reshape": lambda x: x.reshape(2, 3), "transpose": lambda x: x.transpose(0, 0),
    "permute": lambda x: x.permute(0, 1), "expand": lambda x: x.expand(2, 3),
    "slice": lambda x: x[:], "transpose01": lambda x: x.transpose(0, 1),
}


@pytest.mark.parametrize("name", VIEWS)
def test_grad_with_respect_to_a_view_counts_only_the_view(name: str) -> None:
    a = np.arange(1.0, 7.0).reshape(2, 3)
    out = []
    for lib in (cr, torch):
        x = lib.tensor(a, dtype=lib.float64, requires_grad=True)
        xi = VIEWS[name](x)
        (g,) = lib.autograd.grad((xi ** 2).sum() + x.sum(), xi)
        out.append(g.numpy())
    np.testing.assert_allclose(out[0], out[1])
    np.testing.assert_allclose(out[0], 2 * VIEWS[name](cr.tensor(a)).numpy())


def test_same_shape_view_is_a_new_tensor_that_aliases() -> None:
    x = cr.ones(2, 3)
    for v in (x.view_as(x), x.reshape(2, 3), x.expand(2, 3), x.permute(0, 1)):
        assert v is not x and v.data_ptr() == x.data_ptr()
    x.expand(2, 3).add_(1)  # not read-only: no element repeats
    assert float(x.sum()) == 12
    for lib in (cr, torch):  # where PyTorch hands back the tensor itself
        y = lib.ones(2, 3)
        assert y.flatten(1) is y and y.contiguous() is y and y.float() is y
        assert y.reshape(2, 3) is not y and y.squeeze() is not y


# ---- no NumPy warnings where PyTorch is silent -----------------------------------------------
def test_softmax_of_an_all_minus_inf_row_and_empty_mean_are_silent() -> None:
    a = np.array([[-np.inf, -np.inf], [0.0, 1.0]])
    c, t = both(a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pairs = [(c.softmax(1), t.softmax(1)), (c.log_softmax(1), t.log_softmax(1)),
                 (c.logsumexp(1), t.logsumexp(1)),
                 (cr.zeros(0, 3, dtype=cr.float64).mean(0), torch.zeros(0, 3).mean(0)),
                 (cr.zeros(0).mean(), torch.zeros(0).mean())]
    for pc, pt in pairs:
        np.testing.assert_allclose(np.asarray(pc), pt.numpy(), rtol=1e-12)


# ---- small in-place math methods and randint(high, size) -------------------------------------
@pytest.mark.parametrize("name", ["sign_", "floor_", "ceil_", "trunc_", "log_", "log1p_",
                                  "expm1_", "sin_", "cos_", "rsqrt_", "reciprocal_"])
def test_inplace_math_methods_equal_torch(name: str) -> None:
    a = np.array([1.5, 0.2, 2.7, 0.6]) if name in ("log_", "log1p_", "rsqrt_") else np.array(
        [-1.5, 0.2, 2.7, -0.6])
    (c, t), g = both(a, requires_grad=True), RNG.standard_normal(4)
    yc, yt = c * 2, t * 2
    assert getattr(yc, name)() is yc
    getattr(yt, name)()
    assert_close(yc, yt, rtol=1e-12)
    (yc * cr.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    assert_close(c.grad, t.grad, rtol=1e-12)


def test_randint_two_argument_form() -> None:
    g = cr.Generator().manual_seed(0)
    r = cr.randint(10, (2000,), generator=g)
    assert r.dtype == cr.int64 and tuple(r.shape) == tuple(torch.randint(10, (2000,)).shape)
    assert int(r.min()) == 0 and int(r.max()) == 9
