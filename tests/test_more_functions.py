"""``chainrule/_more_functions.py`` and ``chainrule.special`` against torch 2.13: values and
gradients in float64 (random upstream gradient), result dtypes, NaN and tie rules, named
tuples, and errors for bad input. (Forward/backward/finite differences of the new primitives
also run through the registry, tests/op_registry.py.)"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402

R = np.random.default_rng(0)
A = R.standard_normal((3, 5))
B = R.standard_normal((3, 5))
P = R.uniform(0.05, 0.95, (3, 5))


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy()) if hasattr(t, "detach") else np.asarray(t)


def _flat(out: Any) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _compare(fn: Callable, *arrays: Any, grad: bool = True, rtol: float = 1e-10,
             atol: float = 1e-12) -> None:
    """fn(lib, *tensors) on chainrule and torch: values, dtypes and shapes equal; with
    ``grad``, the gradients of Σ out · c (c random) equal."""
    results = []
    for lib in (cr, torch):
        xs = [lib.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f")
              if isinstance(a, np.ndarray) else a for a in arrays]
        outs = _flat(fn(lib, *xs))
        grads = []
        if grad:
            rng = np.random.default_rng(1)
            loss = None
            for o in outs:
                if o.requires_grad:
                    term = (o * lib.tensor(rng.standard_normal(tuple(o.shape)))).sum()
                    loss = term if loss is None else loss + term
            leaves = [x for x in xs if getattr(x, "requires_grad", False)]
            grads = lib.autograd.grad(loss, leaves, allow_unused=True) if loss is not None \
                else []
        results.append((outs, grads))
    (co, cg), (to, tg) = results
    assert len(co) == len(to)
    for c, t in zip(co, to):
        assert tuple(c.shape) == tuple(t.shape), (c.shape, t.shape)
        assert str(c.dtype) == str(t.dtype).replace("torch.", ""), (c.dtype, t.dtype)
        np.testing.assert_allclose(_np(c), _np(t), rtol=rtol, atol=atol, equal_nan=True)
    assert len(cg) == len(tg)
    for c, t in zip(cg, tg):
        if t is None:
            assert c is None or not np.any(_np(c))
            continue
        np.testing.assert_allclose(_np(c), _np(t), rtol=rtol, atol=atol, equal_nan=True)


# ---- elementwise -------------------------------------------------------------------------
BINARY = ["atan2", "arctan2", "hypot", "logaddexp", "logaddexp2", "xlogy", "copysign"]


@pytest.mark.parametrize("name", BINARY)
def test_binary_float64_and_gradients(name: str) -> None:
    _compare(lambda L, x, y: getattr(L, name)(x, y), A, np.abs(B) + 0.1)
    _compare(lambda L, x, y: getattr(x, name)(y), A, np.abs(B[0]) + 0.1)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dtypes", [("int64", "int64"), ("float32", "float64"),
                                    ("int64", "float32"), ("float32", "float32")])
def test_binary_result_dtypes(name: str, dtypes: tuple) -> None:
    a = np.array([1, 2, 3]).astype(dtypes[0])
    b = np.array([2, 1, 5]).astype(dtypes[1])
    if name in ("hypot", "logaddexp", "logaddexp2") and dtypes == ("int64", "int64"):
        for lib in (cr, torch):  # no integer kernel in torch: an error, not a promotion
            with pytest.raises(NotImplementedError):
                getattr(lib, name)(lib.tensor(a), lib.tensor(b))
        return
    _compare(lambda L, x, y: getattr(L, name)(x, y), a, b, grad=False, rtol=1e-6)


def test_scalar_operands_as_torch() -> None:
    _compare(lambda L, x: L.xlogy(x, 3.0), A.astype(np.float32), grad=False, rtol=1e-6)
    _compare(lambda L, x: L.xlogy(2.0, x), np.abs(A), rtol=1e-12)
    _compare(lambda L, x: L.copysign(x, -1.0), A)


def test_xlogy_zero_and_nan_rules() -> None:
    x = np.array([0.0, 0.0, 0.0, 1.0, 2.0])
    y = np.array([0.0, np.nan, 2.0, np.nan, 0.0])
    _compare(lambda L, a, b: L.xlogy(a, b), x, y)
    _compare(lambda L, a, b: L.special.xlog1py(a, b), x, y - 0.5)


def test_special_values() -> None:
    v = np.array([-np.inf, -2.0, -0.0, 0.0, 1e-300, 0.5, np.inf, np.nan])
    for f in ("atan2", "hypot", "logaddexp", "logaddexp2", "copysign"):
        _compare(lambda L, x, y, f=f: getattr(L, f)(x, y), v, v[::-1].copy(), grad=False)
    _compare(lambda L, x: L.sinc(x), np.array([0.0, 1.0, -2.0, 0.5, 1e-9]))
    _compare(lambda L, x: L.exp2(x), np.array([-1100.0, -1.0, 0.0, 0.5, 1024.5]), grad=False)


def test_heaviside_and_bitwise() -> None:
    x = np.array([-1.5, 0.0, 2.0, 0.0])
    _compare(lambda L, a, b: L.heaviside(a, b), x, np.array([0.5, 0.25, 0.5, 0.75]),
             grad=False)
    with pytest.raises(RuntimeError, match="different dtypes"):
        cr.heaviside(cr.tensor([1.0]), cr.tensor([1], dtype=cr.int64))
    i, j = np.array([5, 3, -2]), np.array([3, 6, 7])
    for f in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
              "bitwise_right_shift"):
        _compare(lambda L, a, b, f=f: getattr(L, f)(a, b), i, j % 4, grad=False)
    _compare(lambda L, a: L.bitwise_not(a), i, grad=False)
    _compare(lambda L, a: L.bitwise_not(a), np.array([True, False]), grad=False)
    _compare(lambda L, a, b: L.logical_xor(a, b), A, B > 0, grad=False)
    with pytest.raises(RuntimeError, match="integral"):
        cr.bitwise_and(cr.tensor([1.0]), cr.tensor([1.0]))


@pytest.mark.parametrize("name,arr", [
    ("erf", A), ("erfc", A * 4), ("erfinv", P * 2 - 1), ("lgamma", np.abs(A) + 0.1),
    ("digamma", np.abs(A) + 0.5), ("i0", A * 3), ("sinc", A), ("exp2", A), ("logit", P),
])
def test_unary_torch_namespace(name: str, arr: np.ndarray) -> None:
    _compare(lambda L, x: getattr(L, name)(x), arr, rtol=1e-9)
    _compare(lambda L, x: getattr(x, name)(), arr, rtol=1e-9)
    _compare(lambda L, x: getattr(L, name)(x), (arr * 3).astype(np.int64)
             if name in ("erf", "i0", "sinc", "exp2") else arr.astype(np.float32),
             grad=False, rtol=2e-6, atol=1e-6)


def test_polygamma_logit_eps_addc() -> None:
    _compare(lambda L, x: L.polygamma(2, x), np.abs(A) + 1.0, rtol=1e-8)
    _compare(lambda L, x: x.polygamma(1), np.abs(A) + 1.0, rtol=1e-8)
    _compare(lambda L, x: L.logit(x, eps=0.2), P)
    _compare(lambda L, x, y, z: L.addcmul(x, y, z, value=0.5), A, B, P)
    _compare(lambda L, x, y, z: L.addcdiv(x, y, z, value=-2), A, B, P)
    _compare(lambda L, x, y, z: x.addcdiv(y, z), A, B, P)
    with pytest.raises(RuntimeError, match="Integer division"):
        cr.addcdiv(cr.ones(2), cr.tensor([1, 2]), cr.tensor([1, 2]))


SPECIAL = [
    ("expit", A), ("logit", P), ("erf", A), ("erfc", A), ("erfinv", P), ("gammaln", P + 1),
    ("digamma", P + 1), ("psi", P + 1), ("entr", np.array([0.0, 0.5, 2.0, -1.0])),
    ("ndtr", A * 5), ("ndtri", P), ("log_ndtr", A * 10), ("sinc", A), ("i0", A), ("i1", A),
    ("round", A * 3), ("exp2", A), ("expm1", A), ("log1p", P),
]


@pytest.mark.parametrize("name,arr", SPECIAL, ids=[s[0] for s in SPECIAL])
def test_torch_special(name: str, arr: np.ndarray) -> None:
    _compare(lambda L, x: getattr(L.special, name)(x), arr, rtol=1e-9)


def test_torch_special_binary_and_reductions() -> None:
    _compare(lambda L, x, y: L.special.xlogy(x, y), A, P)
    _compare(lambda L, x, y: L.special.xlog1py(x, y), A, P)
    _compare(lambda L, x: L.special.polygamma(1, x), P + 1, rtol=1e-8)
    _compare(lambda L, x: L.special.softmax(x, 1), A)
    _compare(lambda L, x: L.special.log_softmax(x, 0, dtype=L.float32), A, rtol=1e-6)
    _compare(lambda L, x: L.special.logsumexp(x, 1, keepdim=True), A)
    _compare(lambda L, x: L.special.round(x, decimals=1), A * 10)


def test_softmax_dtype_and_sort_stable() -> None:
    a32 = A.astype(np.float32)
    for call in (lambda L, x: x.softmax(1, dtype=L.float64),
                 lambda L, x: x.log_softmax(-1, dtype=L.float64),
                 lambda L, x: L.softmax(x, 0, dtype=L.float64),
                 lambda L, x: L.log_softmax(x, 0, dtype=L.float64),
                 lambda L, x: L.nn.functional.softmax(x, 1, dtype=L.float64)):
        _compare(call, a32, rtol=1e-6)
    ties = np.array([[2.0, 1.0, 2.0, 1.0, 0.0, 2.0]])
    _compare(lambda L, x: L.sort(x, stable=True), ties)
    _compare(lambda L, x: x.sort(dim=1, descending=True, stable=True), ties)


# ---- selections, scans and statistics ------------------------------------------------------
DISTINCT = R.permutation(15).reshape(3, 5) * 0.5 - 3.0
TIES = np.array([[3.0, 1.0, 2.0, 1.0, 3.0, 0.0], [2.0, 2.0, 1.0, 1.0, 0.0, 2.0]])
WITH_NAN = np.array([[1.0, np.nan, 3.0, 0.5], [2.0, 4.0, 1.0, 3.0],
                     [np.nan, np.nan, np.nan, np.nan]])


@pytest.mark.parametrize("name", ["median", "nanmedian"])
def test_median(name: str) -> None:
    _compare(lambda L, x: getattr(L, name)(x), DISTINCT)
    _compare(lambda L, x: getattr(L, name)(x), TIES)  # gradient shared by the tied entries
    _compare(lambda L, x: getattr(x, name)(), DISTINCT[:, :4])  # even count: lower median
    for dim in (0, 1, -1):
        _compare(lambda L, x, d=dim: getattr(L, name)(x, d), DISTINCT)
        _compare(lambda L, x, d=dim: getattr(L, name)(x, dim=d, keepdim=True), DISTINCT)
    _compare(lambda L, x: getattr(L, name)(x, 1), TIES)
    _compare(lambda L, x: getattr(L, name)(x), WITH_NAN)
    _compare(lambda L, x: getattr(L, name)(x, 1), WITH_NAN[:2])
    # an all-NaN row: NaN; torch's nanmedian index there is its selection kernel's leftover
    c = getattr(cr, name)(cr.tensor(WITH_NAN), 1)
    t = getattr(torch, name)(torch.tensor(WITH_NAN), 1)
    np.testing.assert_array_equal(_np(c.values), _np(t.values))
    assert np.isnan(WITH_NAN[2, _np(c.indices)[2]])
    _compare(lambda L, x: getattr(L, name)(x, 0), np.array(2.5))
    out = getattr(cr, name)(cr.tensor(DISTINCT), 1)
    assert out._fields == ("values", "indices")


def test_median_empty_and_errors() -> None:
    _compare(lambda L, x: L.median(x), np.zeros(0), grad=False)
    with pytest.raises(IndexError, match="Dimension out of range"):
        cr.median(cr.tensor(DISTINCT), 2)


def test_kthvalue_mode() -> None:
    for k in (1, 3, 5):
        _compare(lambda L, x, k=k: L.kthvalue(x, k, 1), DISTINCT)
        _compare(lambda L, x, k=k: x.kthvalue(k, dim=1, keepdim=True), DISTINCT)
    _compare(lambda L, x: L.kthvalue(x, 2, 0), DISTINCT)
    # ties: values equal torch; indices point at an entry holding that value
    c = cr.kthvalue(cr.tensor(TIES), 3, 1)
    t = torch.kthvalue(torch.tensor(TIES), 3, 1)
    np.testing.assert_array_equal(_np(c.values), _np(t.values))
    np.testing.assert_array_equal(np.take_along_axis(TIES, _np(c.indices)[:, None], 1)[:, 0],
                                  _np(t.values))
    with pytest.raises(RuntimeError, match="out of range"):
        cr.kthvalue(cr.tensor(DISTINCT), 6, 1)
    _compare(lambda L, x: L.mode(x, 1), TIES)
    _compare(lambda L, x: x.mode(0, keepdim=True), TIES)
    _compare(lambda L, x: L.mode(x), np.array([[1, 2, 2, 3, 3, 1, 1]]), grad=False)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin(name: str) -> None:
    for dim in (0, 1, -1):
        _compare(lambda L, x, d=dim: getattr(L, name)(x, d), TIES)
    _compare(lambda L, x: getattr(x, name)(1), WITH_NAN[:2])
    _compare(lambda L, x: getattr(L, name)(x, 0), np.array([3, 1, 4, 1, 5]), grad=False)
    _compare(lambda L, x: getattr(L, name)(x, 0), np.array(1.5))


def test_logcumsumexp() -> None:
    _compare(lambda L, x: L.logcumsumexp(x, 1), A)
    _compare(lambda L, x: x.logcumsumexp(0), A)
    wide = np.array([-1000.0, 0.0, 800.0, -np.inf, 1.0])  # exact at any range, as torch
    _compare(lambda L, x: L.logcumsumexp(x, 0), wide)
    _compare(lambda L, x: L.logcumsumexp(x, 0), np.array([-np.inf, -np.inf, 0.0]), grad=False)
    for lib in (cr, torch):
        with pytest.raises(NotImplementedError):
            lib.logcumsumexp(lib.tensor([1, 2, 3]), 0)


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile(interpolation: str) -> None:
    q = np.array([0.0, 0.1, 0.25, 0.5, 0.625, 1.0])
    kw = {"interpolation": interpolation}
    _compare(lambda L, x: L.quantile(x, 0.3, **kw), A)
    _compare(lambda L, x: L.quantile(x, L.tensor(q), dim=1, **kw), A)
    _compare(lambda L, x: x.quantile(L.tensor(q), dim=0, keepdim=True, **kw), A)
    _compare(lambda L, x: L.quantile(x, L.tensor(q), keepdim=True, **kw), A)
    _compare(lambda L, x: L.quantile(x, L.tensor(0.4, dtype=L.float64), 1, **kw), TIES)
    _compare(lambda L, x: L.quantile(x, L.tensor(q), 1, **kw), WITH_NAN[:2])
    _compare(lambda L, x: L.nanquantile(x, L.tensor(q), 1, **kw), WITH_NAN[:2])
    _compare(lambda L, x: L.nanquantile(x, 0.5, **kw), WITH_NAN)
    # an all-NaN row: NaN (which NaN gets the gradient follows torch's unstable sort)
    for f in ("quantile", "nanquantile"):
        _compare(lambda L, x, f=f: getattr(L, f)(x, L.tensor(q), 1, **kw), WITH_NAN, grad=False)


def test_quantile_errors() -> None:
    x = cr.tensor(A)
    with pytest.raises(RuntimeError, match=r"range \[0, 1\]"):
        cr.quantile(x, 1.5)
    with pytest.raises(RuntimeError, match="same dtype"):
        cr.quantile(x, cr.tensor([0.5], dtype=cr.float32))
    with pytest.raises(RuntimeError, match="float or double"):
        cr.quantile(cr.tensor([1, 2]), 0.5)
    with pytest.raises(RuntimeError, match="interpolation"):
        cr.quantile(x, 0.5, interpolation="cubic")


def test_std_var_mean_aminmax_nanmean() -> None:
    _compare(lambda L, x: L.std_mean(x), A)
    _compare(lambda L, x: L.std_mean(x, 1, correction=0, keepdim=True), A)
    _compare(lambda L, x: L.var_mean(x, (0, 1), correction=2), A)
    _compare(lambda L, x: L.var_mean(x, 0, unbiased=False), A)
    _compare(lambda L, x: L.aminmax(x), A)
    _compare(lambda L, x: L.aminmax(x, dim=1, keepdim=True), TIES)
    _compare(lambda L, x: x.aminmax(dim=0), A)
    assert cr.aminmax(cr.tensor(A))._fields == ("min", "max")
    _compare(lambda L, x: L.nanmean(x), WITH_NAN)
    _compare(lambda L, x: L.nanmean(x, 1), WITH_NAN)
    _compare(lambda L, x: x.nanmean(dim=0, keepdim=True), WITH_NAN)
    _compare(lambda L, x: L.nansum(x, 1), WITH_NAN)
    _compare(lambda L, x: L.count_nonzero(x, 1), TIES, grad=False)


# ---- construction and shape ----------------------------------------------------------------
def test_diff() -> None:
    _compare(lambda L, x: L.diff(x), A)
    _compare(lambda L, x: L.diff(x, n=2, dim=0), A)
    _compare(lambda L, x, p, a: L.diff(x, 1, 1, prepend=p, append=a), A, B[:, :2], B[:, :1])
    _compare(lambda L, x: x.diff(n=7), A)  # more differences than entries: empty
    _compare(lambda L, x: L.diff(x), np.array([1, 4, 9, 16]), grad=False)
    _compare(lambda L, x: L.diff(x), np.array([True, False, False, True]), grad=False)
    with pytest.raises(RuntimeError, match="order must be non-negative"):
        cr.diff(cr.tensor(A), n=-1)


def test_cross_kron_block_diag() -> None:
    u, v = R.standard_normal((4, 3)), R.standard_normal((1, 3))
    _compare(lambda L, x, y: L.cross(x, y, dim=1), u, v)
    _compare(lambda L, x, y: x.cross(y, dim=-1), u, v)
    _compare(lambda L, x, y: L.cross(x.t(), y.t(), dim=0), u, v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _compare(lambda L, x, y: L.cross(x, y), u, v)
    with pytest.raises(RuntimeError, match="length 3"):
        cr.cross(cr.tensor(A), cr.tensor(B), dim=1)
    _compare(lambda L, x, y: L.kron(x, y), A[:2, :3], B[:3, :2])
    _compare(lambda L, x, y: L.kron(x, y), A[0], B[:2])
    _compare(lambda L, x, y, z: L.block_diag(x, y, z), A[:2, :3], B[0, :2], np.array(7.0))
    _compare(lambda L, x, y: L.block_diag(x, y), np.array([[1, 2]]), np.array([[0.5]]),
             grad=False)


def test_meshgrid_cartesian_combinations() -> None:
    a, b, c = A[0, :3], B[0, :4], P[0, :2]
    for idx in ("ij", "xy"):
        _compare(lambda L, x, y, z, i=idx: L.meshgrid(x, y, z, indexing=i), a, b, c)
        _compare(lambda L, x, y, i=idx: L.meshgrid([x, y], indexing=i), a, b)
    with pytest.warns(UserWarning, match="indexing"):
        cr.meshgrid(cr.tensor(a), cr.tensor(b))
    _compare(lambda L, x, y: L.cartesian_prod(x, y), a, b)
    _compare(lambda L, x: L.cartesian_prod(x), a)
    for r in (0, 1, 2, 3, 5):
        for rep in (False, True):
            _compare(lambda L, x, r=r, rep=rep: L.combinations(x, r, with_replacement=rep),
                     b)


def test_tensor_split_broadcast_atleast() -> None:
    x = R.standard_normal((7, 4))
    for s in (1, 3, 7, 9, [2, 5], (1, 1, 6), [-2], [5, 2, 10]):
        _compare(lambda L, t, s=s: L.tensor_split(t, s), x)
    _compare(lambda L, t: L.tensor_split(t, 3, dim=1), x)
    _compare(lambda L, t: t.tensor_split(L.tensor([1, 3]), dim=-1), x)
    _compare(lambda L, t: L.tensor_split(t, L.tensor(2)), x)
    assert cr.broadcast_shapes((3, 1), (1, 4), 4) == torch.broadcast_shapes((3, 1), (1, 4), 4)
    with pytest.raises(RuntimeError, match="Shape mismatch"):
        cr.broadcast_shapes((3,), (4,))
    _compare(lambda L, t, u: L.broadcast_tensors(t, u), A[:, :1], B[0])
    _compare(lambda L, t: L.broadcast_to(t, (2, 3, 5)), A)
    for f in ("atleast_1d", "atleast_2d", "atleast_3d"):
        for arr in (np.array(1.5), A[0], A, R.standard_normal((2, 2, 2, 2))):
            _compare(lambda L, t, f=f: getattr(L, f)(t), arr)
        _compare(lambda L, t, u, f=f: getattr(L, f)(t, u), np.array(1.0), A[0])
        _compare(lambda L, t, u, f=f: getattr(L, f)([t, u]), np.array(1.0), A)


def test_unique_consecutive() -> None:
    v = np.array([1, 1, 2, 2, 3, 1, 1, 2])
    for inv in (False, True):
        for cnt in (False, True):
            _compare(lambda L, t, i=inv, c=cnt: L.unique_consecutive(
                t, return_inverse=i, return_counts=c), v, grad=False)
    m = np.array([[1, 1, 2], [1, 1, 2], [0, 3, 3], [1, 1, 2]])
    _compare(lambda L, t: t.unique_consecutive(return_inverse=True, return_counts=True, dim=0),
             m, grad=False)
    _compare(lambda L, t: L.unique_consecutive(t, return_counts=True, dim=1), m, grad=False)


def test_index_fill_put() -> None:
    _compare(lambda L, x: L.index_fill(x, 1, L.tensor([0, 3, -1]), 2.5), A)
    _compare(lambda L, x, v: x.index_fill(0, L.tensor([2]), v), A, np.array(-1.0))
    _compare(lambda L, x: L.index_fill(x, 0, L.tensor([1]), 2.7), np.arange(6).reshape(3, 2),
             grad=False)
    for lib in (cr, torch):
        y = lib.zeros(2, 3)
        assert y.index_fill_(1, lib.tensor([1]), 4.0) is y
        np.testing.assert_array_equal(_np(y), [[0, 4, 0], [0, 4, 0]])
    with pytest.raises(IndexError):
        cr.tensor(A).index_fill(1, cr.tensor([5]), 0.0)
    idx = np.array([[0, -1], [3, 3]])
    _compare(lambda L, x, s: x.put(L.tensor(idx[0]), s), A, np.array([1.0, 2.0]))
    _compare(lambda L, x, s: L.put(x, L.tensor(idx), s, accumulate=True), A, B[:2, :2])
    for lib in (cr, torch):
        y = lib.zeros(2, 2)
        y.put_(lib.tensor([3, 0]), lib.tensor([5.0, 6.0]))
        np.testing.assert_array_equal(_np(y), [[6, 0], [0, 5]])
    with pytest.raises(RuntimeError, match="same number of elements"):
        cr.tensor(A).put(cr.tensor([1, 2]), cr.tensor([1.0]))
    with pytest.raises(IndexError, match="out of bounds"):
        cr.tensor(A).put(cr.tensor([-16]), cr.tensor([1.0]))


def test_factories_size_keyword_and_nbytes() -> None:
    g = cr.Generator().manual_seed(0)
    for f in ("zeros", "ones", "empty", "rand", "randn"):
        kw = {"generator": g} if f in ("rand", "randn") else {}
        t = getattr(cr, f)(size=(2, 3), dtype=cr.float64, **kw)
        assert t.shape == (2, 3) and t.dtype == cr.float64
    assert cr.full(size=[4], fill_value=2).dtype == cr.int64
    with pytest.raises(TypeError, match="multiple values"):
        cr.zeros(2, size=(2,))
    for dt in ("float32", "float64", "int64", "bool", "int8"):
        c, t = cr.zeros(3, 4, dtype=getattr(cr, dt)), torch.zeros(3, 4, dtype=getattr(torch, dt))
        assert (c.nbytes, c.itemsize) == (t.nbytes, t.itemsize)


def test_poisson() -> None:
    rates = cr.tensor([[0.5, 3.0], [10.0, 0.0]], dtype=cr.float64)
    a = cr.poisson(rates, generator=cr.Generator().manual_seed(3))
    b = cr.poisson(rates, generator=cr.Generator().manual_seed(3))
    assert a.dtype == cr.float64 and a.shape == rates.shape and cr.equal(a, b)
    assert a[1, 1].item() == 0
    big = cr.poisson(cr.full((20000,), 4.0), generator=cr.Generator().manual_seed(0))
    assert abs(big.mean().item() - 4.0) < 0.1 and abs(big.var().item() - 4.0) < 0.2
    with pytest.raises(RuntimeError, match="non-negative"):
        cr.poisson(cr.tensor([-1.0]))


@pytest.mark.parametrize("fn", [
    lambda x: cr.quantile(x, cr.tensor([0.2, 0.7], dtype=cr.float64), 1),
    lambda x: cr.kron(x, x[:2, :2]),
    lambda x: cr.cross(x[:, :3], x[:, 1:4], dim=1),
    lambda x: cr.logcumsumexp(x, 0),
    lambda x: cr.cummax(x, 1).values * x,
    lambda x: cr.xlogy(x, x * x + 0.5),
    lambda x: cr.special.log_ndtr(x) + cr.special.entr(x * x + 0.1),
], ids=["quantile", "kron", "cross", "logcumsumexp", "cummax", "xlogy", "log_ndtr_entr"])
def test_second_derivatives(fn: Callable) -> None:
    """gradgradcheck (central differences of the recorded gradient) on composites."""
    x = cr.tensor(DISTINCT[:, :4] / 3, requires_grad=True)
    assert cr.autograd.gradgradcheck(fn, (x,), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name,args", [
    ("atan2_", (B,)), ("hypot_", (B,)), ("xlogy_", (P,)), ("copysign_", (B,)), ("sinc_", ()),
    ("exp2_", ()), ("erf_", ()), ("erfc_", ()), ("i0_", ()), ("polygamma_", (1,)),
])
def test_inplace_variants(name: str, args: tuple) -> None:
    """x.f_(...) on a non-leaf: the values and the gradient reaching the leaf equal torch's."""
    def f(L: Any, x: Any) -> Any:
        y = x * 1.0 if name != "polygamma_" else x.abs() + 1.0
        extra = [L.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
        out = getattr(y, name)(*extra)
        assert out is y
        return y

    _compare(f, P if name != "sinc_" else A, rtol=1e-9)


def test_inplace_refuses_float_into_int() -> None:
    for lib in (cr, torch):
        with pytest.raises(RuntimeError, match="can't be cast"):
            lib.tensor([1, 2]).exp2_()
    y = cr.tensor([6, 3])
    assert y.bitwise_and_(cr.tensor([3, 1])) is y and y.tolist() == [2, 1]
