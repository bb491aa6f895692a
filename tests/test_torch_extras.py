"""The everyday torch names of chainrule/_torch_extras.py and chainrule/_tensor_extras.py,
each run side by side with torch 2.13 (float64, same inputs): values, gradients against a
random cotangent, in-place forms (return self, bump the version), error kinds, and the name
scan itself (none of the listed names missing from ``chainrule`` / ``chainrule.Tensor``)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(20261207)


def _arr(shape: tuple[int, ...], lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return RNG.uniform(lo, hi, shape)


def _to_np(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_to_np(u) for u in v]
    if isinstance(v, torch.Tensor):
        return v.detach().numpy(force=True)  # (force: torch's lazy ZeroTensor gradients)
    if isinstance(v, chainrule.Tensor):
        return v.detach().numpy()
    return v


def _flat(v: Any) -> list[Any]:
    if isinstance(v, (tuple, list)):
        return [u for w in v for u in _flat(w)]
    return [v]


def assert_same(a: Any, b: Any, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    fa, fb = _flat(_to_np(a)), _flat(_to_np(b))
    assert len(fa) == len(fb)
    for x, y in zip(fa, fb):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            assert x.shape == y.shape, (x.shape, y.shape)
            assert str(x.dtype) == str(y.dtype).replace("torch.", ""), (x.dtype, y.dtype)
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
        else:
            assert x == y or (x != x and y != y), (x, y)


def check_against_torch(fn: Callable[..., Any], *arrays: np.ndarray, grad: bool = True,
                        rtol: float = 1e-10) -> None:
    """fn(L, *tensors) with L = chainrule and L = torch: same values; with ``grad``, the same
    gradient of Σ out·c for a random cotangent c of each float output."""
    ours = [chainrule.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    o, t = fn(chainrule, *ours), fn(torch, *theirs)
    assert_same(o, t, rtol=rtol)
    if not grad:
        return
    outs = [(x, y) for x, y in zip(_flat(o), _flat(t))
            if isinstance(y, torch.Tensor) and y.requires_grad]
    assert outs, "nothing to differentiate"
    lo = lt = 0
    for x, y in outs:
        c = RNG.standard_normal(tuple(y.shape))
        lo = lo + (x * chainrule.tensor(c)).sum()
        lt = lt + (y * torch.tensor(c)).sum()
    lo.backward()
    lt.backward()
    for a, b in zip(ours, theirs):
        if b.requires_grad:
            gb = b.grad if b.grad is not None else torch.zeros_like(b)
            ga = a.grad if a.grad is not None else chainrule.zeros_like(a)
            assert_same(ga, gb, rtol=max(rtol, 1e-9), atol=1e-11)


S = (3, 4)
UNIT = _arr(S, -0.9, 0.9)
REAL = _arr(S)
GT1 = _arr(S, 1.2, 3.0)
DISTINCT = (RNG.permutation(12).reshape(S) * 0.3 - 1.7)
INTS = RNG.integers(-7, 8, S)


# ---- elementwise functions and aliases, torch.f(x) and x.f() -------------------------------------
UNARY = [
    ("asin", UNIT), ("acos", UNIT), ("atan", REAL), ("sinh", REAL), ("cosh", REAL),
    ("asinh", REAL), ("acosh", GT1), ("atanh", UNIT), ("arcsin", UNIT), ("arccos", UNIT),
    ("arctan", REAL), ("arcsinh", REAL), ("arccosh", GT1), ("arctanh", UNIT),
    ("absolute", DISTINCT), ("negative", REAL), ("positive", REAL), ("fix", REAL * 3),
    ("sgn", DISTINCT), ("deg2rad", REAL), ("rad2deg", REAL), ("ravel", REAL),
    ("msort", DISTINCT), ("diagflat", REAL), ("angle", DISTINCT), ("adjoint", REAL),
]


@pytest.mark.parametrize("name,x", UNARY, ids=[u[0] for u in UNARY])
def test_unary_function_and_method(name: str, x: np.ndarray) -> None:
    check_against_torch(lambda L, t: getattr(L, name)(t), x)
    check_against_torch(lambda L, t: getattr(t, name)(), x)


BINARY = [
    ("multiply", lambda L, a, b: L.multiply(a, b)),
    ("divide", lambda L, a, b: L.divide(a, b)),
    ("divide_floor", lambda L, a, b: a.divide(b, rounding_mode="floor")),
    ("subtract", lambda L, a, b: L.subtract(a, b, alpha=2)),
    ("greater", lambda L, a, b: L.greater(a, b)),
    ("less", lambda L, a, b: a.less(b)),
    ("greater_equal", lambda L, a, b: L.greater_equal(a, b)),
    ("less_equal", lambda L, a, b: a.less_equal(b)),
    ("not_equal", lambda L, a, b: L.not_equal(a, a.round())),
    ("fmax", lambda L, a, b: L.fmax(a, b)),
    ("fmin", lambda L, a, b: a.fmin(b)),
    ("float_power", lambda L, a, b: L.float_power(a.abs(), b)),
    ("floor_divide", lambda L, a, b: L.floor_divide(a, b)),
    ("ldexp", lambda L, a, b: L.ldexp(a, b)),
    ("inner", lambda L, a, b: L.inner(a, b)),
    ("dist", lambda L, a, b: L.dist(a, b)),
    ("dist_p1", lambda L, a, b: a.dist(b, 1)),
    ("dist_inf", lambda L, a, b: L.dist(a, b, math.inf)),
]


@pytest.mark.parametrize("name,fn", BINARY, ids=[b[0] for b in BINARY])
def test_binary(name: str, fn: Callable[..., Any]) -> None:
    a = DISTINCT
    b = np.roll(DISTINCT, 1) + 0.05
    # (chainrule's floor-rounded division records no graph where torch's gives zero gradients)
    grad = name not in ("greater", "less", "greater_equal", "less_equal", "not_equal",
                        "floor_divide", "divide_floor")
    check_against_torch(fn, a, b, grad=grad)


def test_fmax_fmin_ignore_nan_and_give_ties_to_the_first_input() -> None:
    a = np.array([1.0, np.nan, 2.0, np.nan, 3.0])
    b = np.array([np.nan, 1.0, 2.0, np.nan, -1.0])
    check_against_torch(lambda L, x, y: L.fmax(x, y), a, b)
    check_against_torch(lambda L, x, y: L.fmin(x, y), a, b)


def test_integer_inputs_give_torch_dtypes() -> None:
    # (float32 results: torch computes them in float32, chainrule in float64 then rounds)
    for name in ("asin", "sinh", "deg2rad", "rad2deg", "angle", "fix", "sgn", "positive"):
        check_against_torch(lambda L, t, name=name: getattr(L, name)(t), INTS, grad=False,
                            rtol=1e-6)
    check_against_torch(lambda L, t: L.floor_divide(t, 3), INTS, grad=False)
    check_against_torch(lambda L, t: L.floor_divide(t, -2.5), INTS, grad=False)
    check_against_torch(lambda L, t: L.float_power(t, 2), INTS, grad=False)
    check_against_torch(lambda L, t: L.ldexp(t.double(), t), INTS, grad=False)


def test_predicates() -> None:
    x = np.array([0.0, -0.0, 1.0, -np.inf, np.inf, np.nan, -2.0])
    for name in ("signbit", "isposinf", "isneginf", "isreal"):
        check_against_torch(lambda L, t, name=name: getattr(L, name)(t), x, grad=False)
        check_against_torch(lambda L, t, name=name: getattr(t, name)(), x, grad=False)
    check_against_torch(lambda L, t: L.isposinf(t), INTS, grad=False)
    z = np.array([1 + 0j, 2 + 1j])
    assert_same(chainrule.isreal(chainrule.tensor(z)), torch.isreal(torch.tensor(z)))


def test_frexp_nextafter_mvlgamma() -> None:
    x = np.array([0.0, 1.0, -3.5, 1e-300, 1e300, 0.375])
    check_against_torch(lambda L, t: tuple(L.frexp(t)), x, grad=False)
    m, e = chainrule.frexp(chainrule.tensor(x))
    assert chainrule.frexp(chainrule.tensor(x)).exponent is not None and e.dtype == np.int32
    check_against_torch(lambda L, t: L.nextafter(t, t * 0 + 5), x, grad=False)
    check_against_torch(lambda L, t: L.mvlgamma(t, 3), GT1 + 1)
    check_against_torch(lambda L, t: t.mvlgamma(1), GT1)
    with pytest.raises(RuntimeError):
        chainrule.mvlgamma(chainrule.tensor([0.2]), 3)
    with pytest.raises(RuntimeError):
        chainrule.frexp(chainrule.tensor([1, 2]))


# ---- products, statistics, shapes ---------------------------------------------------------------
@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((3, 4), (2, 4)), ((), (3, 4)),
                                   ((2, 3, 4), (4,))])
def test_inner(sa: tuple, sb: tuple) -> None:
    check_against_torch(lambda L, a, b: L.inner(a, b), _arr(sa), _arr(sb))


def test_ger_vdot() -> None:
    check_against_torch(lambda L, a, b: L.ger(a, b), _arr((3,)), _arr((4,)))
    check_against_torch(lambda L, a, b: a.vdot(b), _arr((4,)), _arr((4,)))
    with pytest.raises(RuntimeError):
        chainrule.vdot(chainrule.ones(3), chainrule.ones(3, dtype=chainrule.float64))
    with pytest.raises(RuntimeError):
        chainrule.ger(chainrule.ones(2, 2), chainrule.ones(2))


def test_cov_and_corrcoef() -> None:
    x = _arr((3, 7))
    fw = RNG.integers(0, 4, 7)
    aw = RNG.uniform(0.1, 2.0, 7)
    check_against_torch(lambda L, t: L.cov(t), x)
    check_against_torch(lambda L, t: t.cov(correction=0), x)
    check_against_torch(lambda L, t: L.cov(t[0]), x)
    check_against_torch(lambda L, t, a: L.cov(t, fweights=L.tensor(fw), aweights=a), x, aw)
    check_against_torch(lambda L, t, a: L.cov(t, correction=2, aweights=a), x, aw)
    check_against_torch(lambda L, t: L.corrcoef(t), x)
    check_against_torch(lambda L, t: t.corrcoef(), x[:1])
    with pytest.raises(RuntimeError):
        chainrule.cov(chainrule.ones(2, 2, 2))


def test_vander_diagflat_rot90() -> None:
    v = _arr((4,))
    # (torch's own vander backward fails: the gradient is checked against powers stacked)
    check_against_torch(lambda L, t: L.vander(t), v, grad=False)
    check_against_torch(lambda L, t: L.vander(t, N=3, increasing=True), v, grad=False)
    check_against_torch(lambda L, t: L.vander(t, N=3, increasing=True) if L is chainrule
                        else L.stack([t ** 0, t, t ** 2], 1), v)
    check_against_torch(lambda L, t: L.vander(t) if L is chainrule
                        else L.stack([t ** 3, t ** 2, t, t ** 0], 1), v)
    check_against_torch(lambda L, t: L.vander(t), np.array([1, 2, 3]), grad=False)
    check_against_torch(lambda L, t: L.diagflat(t, -1), _arr((2, 2)))
    x = _arr((2, 3, 4))
    for k in (-1, 0, 1, 2, 3, 5):
        for dims in ([0, 1], [2, 0], [-1, 1]):
            check_against_torch(lambda L, t, k=k, dims=dims: L.rot90(t, k, dims), x)
    check_against_torch(lambda L, t: t.rot90(), x)
    for bad in ([0], [1, 1]):
        with pytest.raises(RuntimeError):
            chainrule.rot90(chainrule.tensor(x), 1, bad)


@pytest.mark.parametrize("name", ["column_stack", "hstack", "vstack", "row_stack", "dstack"])
def test_stacks(name: str) -> None:
    check_against_torch(lambda L, a, b: getattr(L, name)([a, b]), _arr((3,)), _arr((3,)))
    check_against_torch(lambda L, a, b: getattr(L, name)((a, b)), _arr((3, 2)), _arr((3, 2)))
    if name == "column_stack":
        check_against_torch(lambda L, a, b: getattr(L, name)([a, b]), _arr((3, 1)), _arr((3,)))


def test_splits() -> None:
    x = _arr((4, 6, 2))
    check_against_torch(lambda L, t: L.hsplit(t, 3), x)
    check_against_torch(lambda L, t: t.hsplit([1, 4]), x)
    check_against_torch(lambda L, t: L.vsplit(t, 2), x)
    check_against_torch(lambda L, t: t.dsplit([1]), x)
    check_against_torch(lambda L, t: L.hsplit(t, 2), _arr((6,)))
    check_against_torch(lambda L, t: L.split_with_sizes(t, [1, 5], 1), x)
    check_against_torch(lambda L, t: t.split_with_sizes([3, 1]), x)
    for fn in (lambda L, t: L.hsplit(t, 4), lambda L, t: L.dsplit(t[0], 2),
               lambda L, t: L.split_with_sizes(t, [1, 2])):
        with pytest.raises(RuntimeError):
            fn(torch, torch.tensor(x))
        with pytest.raises(RuntimeError):
            fn(chainrule, chainrule.tensor(x))


def test_shape_aliases_argwhere_nonzero_static() -> None:
    x = _arr((2, 3, 4))
    check_against_torch(lambda L, t: L.moveaxis(t, 0, -1), x)
    check_against_torch(lambda L, t: t.swapdims(0, 2), x)
    check_against_torch(lambda L, t: L.swapdims(t, 1, 2), x)
    m = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    check_against_torch(lambda L, t: L.argwhere(t), m, grad=False)
    check_against_torch(lambda L, t: t.argwhere(), np.array(2.0), grad=False)
    for size in (0, 2, 5):
        check_against_torch(lambda L, t, size=size: L.nonzero_static(t, size=size), m,
                            grad=False)
        check_against_torch(lambda L, t, size=size: t.nonzero_static(size=size, fill_value=7), m,
                            grad=False)


@pytest.mark.parametrize("offset", [-2, 0, 1, 5])
def test_tril_triu_indices(offset: int) -> None:
    for r, c in ((3, 3), (4, 2), (2, 5), (0, 3)):
        assert_same(chainrule.tril_indices(r, c, offset), torch.tril_indices(r, c, offset))
        assert_same(chainrule.triu_indices(r, c, offset), torch.triu_indices(r, c, offset))
    assert_same(chainrule.tril_indices(3, 3, dtype=chainrule.int32),
                torch.tril_indices(3, 3, dtype=torch.int32))


def test_trapezoid_and_trapz() -> None:
    y = _arr((3, 5))
    xs = np.sort(_arr((5,)))
    check_against_torch(lambda L, t: L.trapezoid(t), y)
    check_against_torch(lambda L, t: L.trapezoid(t, dx=0.5, dim=0), y)
    check_against_torch(lambda L, t, x: L.trapezoid(t, x), y, xs)
    check_against_torch(lambda L, t, x: L.trapz(t, x, dim=1), y, np.sort(_arr((3, 5)), 1))
    check_against_torch(lambda L, t: L.trapz(t, dx=2.0), y)


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient(edge_order: int) -> None:
    y = _arr((4, 5))
    coords = np.cumsum(RNG.uniform(0.2, 1.0, 5))
    cases = [
        lambda L, t: L.gradient(t, edge_order=edge_order),
        lambda L, t: L.gradient(t, spacing=0.5, dim=1, edge_order=edge_order),
        lambda L, t: L.gradient(t, spacing=[2.0, 0.25], edge_order=edge_order),
        lambda L, t: L.gradient(t, spacing=(L.tensor(coords),), dim=1, edge_order=edge_order),
    ]
    for fn in cases:
        check_against_torch(fn, y)
    with pytest.raises(RuntimeError):
        chainrule.gradient(chainrule.ones(2, 2), edge_order=2)


@pytest.mark.parametrize("p,dim", [(2, 0), (1, 1), (3.0, -1)])
def test_renorm(p: float, dim: int) -> None:
    x = _arr((3, 4, 2))
    check_against_torch(lambda L, t: L.renorm(t, p, dim, 1.5), x)
    check_against_torch(lambda L, t: t.renorm(p, dim, 0.5), x)


# ---- scatter / index composites ------------------------------------------------------------------
IDX = np.array([[0, 1, 0, 2], [2, 2, 1, 0]])


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce: str, include_self: bool) -> None:
    # (src as large as index: torch's backward fails for a larger src)
    x, src = _arr((3, 4)), _arr((2, 4))
    src[0, 1] = 0.0  # a zero contributor (prod's special case)
    ties = src.copy()
    ties[1, 0] = ties[0, 0] = 3.0  # tied extremes in one target (amax shares the gradient)
    for s in (src, ties):
        check_against_torch(lambda L, a, b: L.scatter_reduce(
            a, 0, L.tensor(IDX), b, reduce, include_self=include_self), x, s)
    check_against_torch(lambda L, a, b: a.scatter_reduce(
        1, L.tensor(IDX[:, :3]), b, reduce, include_self=include_self), x, src[:, :3].copy())
    # a larger src (values only)
    check_against_torch(lambda L, a, b: a.scatter_reduce(
        1, L.tensor(IDX[:, :3]), b, reduce, include_self=include_self), x, src, grad=False)
    ints = RNG.integers(-5, 6, (3, 4))
    check_against_torch(lambda L, a: L.scatter_reduce(
        a, 0, L.tensor(IDX), a[:2] * 2, reduce, include_self=include_self), ints, grad=False)


def test_scatter_reduce_errors() -> None:
    x = chainrule.ones(3, 4)
    with pytest.raises(RuntimeError):
        chainrule.scatter_reduce(x, 0, chainrule.tensor(IDX), x, "max")
    with pytest.raises(RuntimeError):
        chainrule.scatter_reduce(x, 0, chainrule.tensor(IDX) + 5, x, "sum")


def test_index_copy_and_masked_scatter() -> None:
    x, src = _arr((4, 3)), _arr((2, 3))
    check_against_torch(lambda L, a, b: L.index_copy(a, 0, L.tensor([3, 1]), b), x, src)
    check_against_torch(lambda L, a, b: a.index_copy(1, L.tensor([2, 0]), b.T[:4]), x,
                        _arr((2, 4)))
    mask = np.array([[True, False, True], [False, False, True], [True, True, False],
                     [False, True, False]])
    check_against_torch(lambda L, a, b: L.masked_scatter(a, L.tensor(mask), b), x, _arr((9,)))
    check_against_torch(lambda L, a, b: a.masked_scatter(L.tensor(mask[0]), b), x, _arr((4, 3)))
    for fn, kind in (
            (lambda L, a: a.masked_scatter(L.tensor(mask), L.ones(2, dtype=L.float64)),
             RuntimeError),
            (lambda L, a: a.masked_scatter(L.tensor(mask), L.ones(9)), RuntimeError),
            (lambda L, a: a.index_copy(0, L.tensor([0]), L.ones(2, 3, dtype=L.float64)),
             IndexError)):
        with pytest.raises(kind):
            fn(torch, torch.tensor(x))
        with pytest.raises(kind):
            fn(chainrule, chainrule.tensor(x))


# ---- dtypes, constants, settings -----------------------------------------------------------------
def test_constants_and_dtypes() -> None:
    for name in ("inf", "pi", "e"):
        assert getattr(chainrule, name) == getattr(torch, name)
    assert math.isnan(chainrule.nan) and chainrule.newaxis is None
    for name in ("uint16", "uint32", "uint64"):
        assert np.dtype(getattr(chainrule, name)) == np.dtype(name)
    assert chainrule.ones(2, dtype=chainrule.uint16).numpy().dtype == np.uint16
    x = chainrule.ones(1, 3, 2, 2)
    assert x.to(memory_format=chainrule.channels_last) is x
    assert x.contiguous(memory_format=chainrule.channels_last) is x
    assert x.layout is chainrule.strided and isinstance(chainrule.strided, chainrule.layout)


DT = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64",
      "complex64", "complex128"]


def test_promote_types_and_can_cast_match_torch() -> None:
    for a in DT:
        for b in DT:
            want = torch.promote_types(getattr(torch, a), getattr(torch, b))
            assert str(chainrule.promote_types(getattr(chainrule, a), getattr(chainrule, b))) \
                == str(want).replace("torch.", ""), (a, b)
            assert chainrule.can_cast(getattr(chainrule, a), getattr(chainrule, b)) == \
                torch.can_cast(getattr(torch, a), getattr(torch, b)), (a, b)


@pytest.mark.parametrize("a,b", [
    ((2,), 1.5), ((2,), 2), ((), 1.5), ((), (2,)), (True, (2,)), ((2,), 1j), (1, 2.5),
])
def test_result_type_matches_torch(a: Any, b: Any) -> None:
    for da in ("int64", "int32", "float32", "float64", "uint8", "bool"):
        for db in ("int64", "float16", "float64", "int8"):
            def make(L: Any, v: Any, d: str) -> Any:
                return L.zeros(v, dtype=getattr(L, d)) if isinstance(v, tuple) else v
            want = torch.result_type(make(torch, a, da), make(torch, b, db))
            got = chainrule.result_type(make(chainrule, a, da), make(chainrule, b, db))
            assert str(got) == str(want).replace("torch.", ""), (a, b, da, db)


def test_queries() -> None:
    x = chainrule.tensor([[1.0, 2.0]])
    assert chainrule.is_floating_point(x) and not chainrule.is_floating_point(x.long())
    assert chainrule.is_nonzero(chainrule.tensor([3])) and not chainrule.is_nonzero(
        chainrule.tensor(0.0))
    for bad in (chainrule.ones(2), chainrule.ones(0)):
        with pytest.raises(RuntimeError):
            chainrule.is_nonzero(bad)
    assert chainrule.is_same_size(x, chainrule.zeros(1, 2)) and not x.is_same_size(
        chainrule.zeros(2))
    for d in DT:
        t = chainrule.zeros(1, dtype=getattr(chainrule, d))
        assert t.is_signed() == torch.zeros(1, dtype=getattr(torch, d)).is_signed(), d
        assert chainrule.is_signed(t) == t.is_signed()
    assert x.is_cpu and x.get_device() == -1 and not x.is_pinned() and x.pin_memory() is x
    assert x.share_memory_() is x and not x.is_conj() and not x.is_neg()
    assert x.resolve_conj() is x and x.resolve_neg() is x and not x.is_inference()
    assert x.output_nr == 0 and chainrule.typename(x) == "chainrule.FloatTensor"
    assert chainrule.typename(3) == torch.typename(3) == "int"
    y = chainrule.arange(16.0).reshape(4, 4)
    ty = torch.arange(16.0).reshape(4, 4)
    for key in (slice(1, None), (slice(None), 1), (2, slice(1, 3))):
        assert y[key].storage_offset() == ty[key].storage_offset()
    assert y.storage_offset() == 0


def test_casts() -> None:
    x = np.array([-2.7, 0.0, 3.9, 200.0])
    for name in ("char", "short", "cfloat", "cdouble"):
        assert_same(getattr(chainrule.tensor(x), name)(), getattr(torch.tensor(x), name)())
    assert_same(chainrule.tensor(x[:3]).byte(), torch.tensor(x[:3]).byte())


def test_bfloat16_is_named_but_not_stored() -> None:
    bf = chainrule.bfloat16
    assert bf.is_floating_point and repr(bf) == "chainrule.bfloat16"
    for make in (lambda: chainrule.ones(2).to(bf), lambda: chainrule.zeros(2, dtype=bf),
                 lambda: chainrule.ones(2).bfloat16(), lambda: chainrule.tensor([1.0], dtype=bf)):
        with pytest.raises(NotImplementedError, match="bfloat16"):
            make()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with chainrule.autocast("cpu", dtype=bf):
            out = chainrule.ones(2, 2) @ chainrule.ones(2, 2)
    assert out.dtype == chainrule.float32
    assert not any("not supported" in str(m.message) for m in w)


def test_float32_matmul_precision() -> None:
    before = chainrule.get_float32_matmul_precision()
    assert before == torch.get_float32_matmul_precision() == "highest"
    try:
        for p in ("high", "medium", "highest"):
            chainrule.set_float32_matmul_precision(p)
            assert chainrule.get_float32_matmul_precision() == p
        for lib in (torch, chainrule):  # an invalid value: a warning, the setting kept
            with pytest.warns(UserWarning):
                lib.set_float32_matmul_precision("low")
            assert lib.get_float32_matmul_precision() == "highest"
    finally:
        chainrule.set_float32_matmul_precision(before)


def test_default_device() -> None:
    assert chainrule.get_default_device() == chainrule.device("cpu")
    chainrule.set_default_device("cpu")
    chainrule.set_default_device(None)
    with pytest.raises(RuntimeError, match="cpu"):
        chainrule.set_default_device("cuda")


def test_empty_strided() -> None:
    t = chainrule.empty_strided((2, 3), (3, 1), dtype=chainrule.float64)
    assert t.shape == (2, 3) and t.dtype == chainrule.float64
    with pytest.raises(RuntimeError):
        chainrule.empty_strided((2, 3), (1,))


# ---- windows, complex ----------------------------------------------------------------------------
@pytest.mark.parametrize("name,kw", [("hann_window", {}), ("hamming_window", {}),
                                     ("hamming_window", {"alpha": 0.5, "beta": 0.3}),
                                     ("blackman_window", {}), ("bartlett_window", {}),
                                     ("kaiser_window", {}), ("kaiser_window", {"beta": 4.0})])
def test_windows(name: str, kw: dict) -> None:
    for n in (0, 1, 2, 5, 8):
        for periodic in (True, False):
            ours = getattr(chainrule, name)(n, periodic, dtype=chainrule.float64, **kw)
            theirs = getattr(torch, name)(n, periodic, dtype=torch.float64, **kw)
            assert_same(ours, theirs, rtol=1e-9, atol=1e-12)
    assert getattr(chainrule, name)(4).dtype == chainrule.float32
    with pytest.raises(RuntimeError):
        getattr(chainrule, name)(-1)


def test_complex_functions() -> None:
    re_, im = _arr((3,)), _arr((3,))
    c = chainrule.complex(chainrule.tensor(re_), chainrule.tensor(im))
    tc = torch.complex(torch.tensor(re_), torch.tensor(im))
    assert_same(c, tc)
    assert_same(chainrule.angle(c), torch.angle(tc))
    assert_same(chainrule.view_as_real(c), torch.view_as_real(tc))
    v = chainrule.view_as_complex(chainrule.tensor(np.stack([re_, im], -1)))
    assert_same(v, tc)
    assert_same(chainrule.polar(chainrule.tensor(np.abs(re_)), chainrule.tensor(im)),
                torch.polar(torch.tensor(np.abs(re_)), torch.tensor(im)))
    assert_same(chainrule.sgn(c), torch.sgn(tc))
    with pytest.raises(RuntimeError):
        chainrule.complex(chainrule.ones(2), chainrule.ones(2, dtype=chainrule.float64))
    with pytest.raises(RuntimeError):
        chainrule.view_as_complex(chainrule.ones(2, 3))
    # differentiable since complex autograd (tests/test_complex_autograd.py has the rest)
    a = chainrule.ones(2, requires_grad=True)
    chainrule.complex(a, chainrule.ones(2)).imag.sum().backward()
    assert a.grad.tolist() == [0.0, 0.0]


def test_angle_of_real_has_zero_gradient_even_at_inf() -> None:
    x = np.array([-1.0, 0.0, 2.0, np.inf, -np.inf, np.nan])
    t = chainrule.tensor(x, requires_grad=True)
    out = chainrule.angle(t)
    assert_same(out, torch.angle(torch.tensor(x)))
    out.sum().backward()
    assert np.all(t.grad.numpy() == 0)


# ---- top-level forms of nn.functional ops (torch's signatures) ----------------------------------
def _conv_inputs() -> tuple:
    return _arr((2, 4, 6, 6)), _arr((6, 2, 3, 3)), _arr((6,))


def test_top_level_functional_forms() -> None:
    x, w, b = _conv_inputs()
    x1 = _arr((2, 4, 9))
    check_against_torch(lambda L, a, k, c: L.conv2d(a, k, c, 1, 1, 1, 2), x, w, b)
    check_against_torch(lambda L, a, k: L.conv1d(a, k, None, 2), x1, _arr((3, 4, 3)))
    check_against_torch(lambda L, a, k: L.conv3d(a, k), _arr((1, 2, 4, 4, 4)),
                        _arr((3, 2, 2, 2, 2)))
    check_against_torch(lambda L, a, k: L.conv_transpose1d(a, k, None, 2, 1, 1), x1,
                        _arr((4, 3, 3)))
    check_against_torch(lambda L, a, k: L.conv_transpose2d(a, k, None, 2), x, _arr((4, 2, 3, 3)))
    check_against_torch(lambda L, a: L.max_pool1d(a, 3), x1)
    check_against_torch(lambda L, a: L.max_pool1d(a, 2, 1, 1), x1)
    check_against_torch(lambda L, a: L.max_pool2d(a, 2), x)
    check_against_torch(lambda L, a: L.avg_pool1d(a, 3, 2, 1, False, False), x1)
    check_against_torch(lambda L, a: L.adaptive_avg_pool1d(a, 4), x1)
    check_against_torch(lambda L, a: tuple(L.adaptive_max_pool1d(a, 4)), x1)
    check_against_torch(lambda L, a: L.pixel_shuffle(a, 2), x)
    check_against_torch(lambda L, a: L.pixel_unshuffle(a, 3), x)
    check_against_torch(lambda L, a: L.channel_shuffle(a, 2), x)
    check_against_torch(lambda L, a: L.threshold(a, 0.1, -3.0), DISTINCT)
    check_against_torch(lambda L, a: L.hardshrink(a, 0.6), DISTINCT)
    check_against_torch(lambda L, a: a.hardshrink(), DISTINCT)
    check_against_torch(lambda L, a, p: L.prelu(a, p), x, _arr((4,)))
    check_against_torch(lambda L, a: L.rrelu(a), DISTINCT)
    check_against_torch(lambda L, a: L.selu(a), REAL)
    # (rtol: nn.functional.celu's float64 gradient differs from torch's by ~3e-8 relative)
    check_against_torch(lambda L, a: L.celu(a, 0.7), REAL, rtol=1e-6)
    check_against_torch(lambda L, a: L.dropout(a, 0.5, False), REAL)
    check_against_torch(lambda L, a: L.alpha_dropout(a, 0.5, False), REAL)
    check_against_torch(lambda L, a: L.feature_alpha_dropout(a, 0.5, False), x)


def test_top_level_norms_and_embedding() -> None:
    x = _arr((2, 4, 5))
    g, b = _arr((4,)), _arr((4,))
    rm, rv = _arr((4,)), _arr((4,), 0.5, 2.0)
    check_against_torch(lambda L, a, w, c: L.layer_norm(a, (5,), None, None, 1e-5), x, g, b,
                        grad=False)
    check_against_torch(lambda L, a, w: L.layer_norm(a, [4, 5], w.reshape(4, 1).expand(4, 5)),
                        x, g)
    check_against_torch(lambda L, a, w, c: L.group_norm(a, 2, w, c, 1e-5, False), x, g, b)
    check_against_torch(lambda L, a, w, c: L.batch_norm(
        a, w, c, L.tensor(rm), L.tensor(rv), False, 0.1, 1e-5, False), x, g, b)
    check_against_torch(lambda L, a, w, c: L.batch_norm(a, w, c, None, None, True, 0.1, 1e-5,
                                                        False), x, g, b)
    check_against_torch(lambda L, a, w, c: L.instance_norm(a, w, c, None, None, True, 0.1, 1e-5,
                                                           False), x, g, b)
    table = _arr((5, 3))
    idx = np.array([[0, 2, 4], [4, 1, 0]])
    check_against_torch(lambda L, t: L.embedding(t, L.tensor(idx)), table)
    check_against_torch(lambda L, t: L.embedding(t, L.tensor(idx), 4), table)


def test_top_level_dropout_in_training_is_random_and_scaled() -> None:
    x = chainrule.ones(1000, dtype=chainrule.float64)
    y = chainrule.dropout(x, 0.25, True).numpy()
    assert set(np.unique(y)) <= {0.0, 1 / 0.75} and 0.15 < (y == 0).mean() < 0.35
    slopes = chainrule.rrelu(-x, 0.1, 0.3, True).numpy()
    assert np.all((slopes <= -0.1) & (slopes >= -0.3)) and slopes.std() > 0.01


# ---- in-place forms ------------------------------------------------------------------------------
INPLACE = [
    ("asin_", (), UNIT), ("acos_", (), UNIT), ("atan_", (), REAL), ("sinh_", (), REAL),
    ("cosh_", (), REAL), ("asinh_", (), REAL), ("acosh_", (), GT1), ("atanh_", (), UNIT),
    ("arcsin_", (), UNIT), ("arccos_", (), UNIT), ("arctan_", (), REAL),
    ("arcsinh_", (), REAL), ("arccosh_", (), GT1), ("arctanh_", (), UNIT), ("tan_", (), UNIT),
    ("tril_", (), REAL), ("triu_", (1,), REAL), ("cumsum_", (1,), REAL),
    ("cumprod_", (0,), REAL), ("square_", (), REAL), ("round_", (), REAL * 3),
    ("frac_", (), REAL * 3), ("fmod_", (0.7,), REAL), ("remainder_", (0.7,), REAL),
    ("log2_", (), GT1), ("log10_", (), GT1), ("clamp_min_", (0.1,), REAL),
    ("clamp_max_", (0.1,), REAL), ("renorm_", (2, 0, 1.0), REAL),
    ("floor_divide_", (0.3,), REAL), ("true_divide_", (3.0,), REAL),
    ("multiply_", (3.0,), REAL), ("divide_", (4.0,), REAL), ("subtract_", (2.0,), REAL),
    ("negative_", (), REAL), ("absolute_", (), REAL), ("deg2rad_", (), REAL),
    ("rad2deg_", (), REAL), ("fix_", (), REAL * 3), ("ldexp_", ("t2",), REAL),
    ("sgn_", (), REAL), ("mvlgamma_", (2,), GT1), ("float_power_", (1.5,), GT1),
    ("eq_", ("r",), REAL), ("ne_", ("r",), REAL), ("lt_", (0.0,), REAL), ("le_", (0.0,), REAL),
    ("gt_", (0.0,), REAL), ("ge_", (0.0,), REAL), ("greater_", (0.5,), REAL),
    ("less_", (0.5,), REAL), ("greater_equal_", (0.5,), REAL), ("less_equal_", (0.5,), REAL),
    ("not_equal_", ("r",), REAL), ("logical_and_", ("t",), REAL),
    ("logical_or_", ("t",), REAL), ("logical_not_", (), REAL),
    ("nan_to_num_", (), np.array([np.nan, np.inf, -np.inf, 1.0])),
    ("index_copy_", (0, "i", "s"), REAL), ("masked_scatter_", ("m", "s"), REAL),
    ("scatter_reduce_", (0, "I", "s", "amax"), REAL), ("nextafter_", ("t",), REAL),
]


def _args(L: Any, spec: tuple, x: np.ndarray) -> list[Any]:
    extra = {"r": lambda: L.tensor(x).round(), "t": lambda: L.tensor(x[::-1].copy()),
             "t2": lambda: L.tensor(INTS), "i": lambda: L.tensor([2, 0]),
             "s": lambda: L.tensor(_arr((2, 4)) if x.ndim == 2 else x),
             "m": lambda: L.tensor(x > 0), "I": lambda: L.tensor(IDX[:, :4] % 2)}
    return [extra[a]() if a in extra else a for a in spec]


@pytest.mark.parametrize("name,spec,x", INPLACE, ids=[i[0] for i in INPLACE])
def test_inplace_forms_return_self_and_bump_version(name: str, spec: tuple,
                                                    x: np.ndarray) -> None:
    state = RNG.bit_generator.state
    ours = chainrule.tensor(x)
    a_ours = _args(chainrule, spec, x)
    RNG.bit_generator.state = state  # (the same random source for both)
    theirs = torch.tensor(x)
    a_theirs = _args(torch, spec, x)
    v0, w0 = ours._version, theirs._version
    r_ours, r_theirs = getattr(ours, name)(*a_ours), getattr(theirs, name)(*a_theirs)
    assert r_ours is ours and r_theirs is theirs
    assert ours._version > v0 and theirs._version > w0
    assert_same(ours, theirs)


@pytest.mark.parametrize("name", ["asin_", "cumsum_", "eq_", "renorm_", "clamp_min_"])
def test_inplace_forms_record_gradients_on_non_leaves(name: str) -> None:
    args = {"cumsum_": (1,), "eq_": (0.3,), "renorm_": (2, 0, 1.0), "clamp_min_": (0.1,)}
    grads = []
    for L in (chainrule, torch):
        leaf = L.tensor(UNIT, requires_grad=True)
        y = leaf * 1.0
        getattr(y, name)(*args.get(name, ()))
        (y * L.tensor(REAL)).sum().backward()
        grads.append(leaf.grad)
        with pytest.raises(RuntimeError):
            getattr(L.tensor(UNIT, requires_grad=True), name)(*args.get(name, ()))
    assert_same(*grads)


def test_inplace_errors_match_torch_kind() -> None:
    for L in (chainrule, torch):
        with pytest.raises(RuntimeError):
            L.ones(2).float_power_(2)  # float32 base
        with pytest.raises(RuntimeError):
            L.ones(2, dtype=L.int64).true_divide_(2)  # float result into an int tensor


@pytest.mark.parametrize("name,args", [("t_", ()), ("transpose_", (0, 2)), ("swapaxes_", (1, 2)),
                                       ("swapdims_", (0, 1)), ("squeeze_", ()),
                                       ("squeeze_", (1,)), ("unsqueeze_", (-1,))])
def test_shape_inplace_forms(name: str, args: tuple) -> None:
    x = _arr((2, 1, 3)) if name != "t_" else _arr((2, 3))
    ours, theirs = chainrule.tensor(x), torch.tensor(x)
    v0 = ours._version
    assert getattr(ours, name)(*args) is ours
    getattr(theirs, name)(*args)
    assert_same(ours, theirs)
    assert ours._version > v0
    grads = []
    for L in (chainrule, torch):
        leaf = L.tensor(x, requires_grad=True)
        y = leaf * 2.0
        getattr(y, name)(*args)
        (y * L.tensor(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)))).sum() \
            .backward()
        grads.append(leaf.grad)
        with pytest.raises(RuntimeError):
            getattr(L.tensor(x, requires_grad=True), name)(*args)
    assert_same(*grads)


# ---- legacy/storage methods, hooks, sampling ----------------------------------------------------
def test_new_legacy_constructor() -> None:
    x, tx = chainrule.ones(2, dtype=chainrule.float64), torch.ones(2, dtype=torch.float64)
    assert x.new().shape == tx.new().shape == (0,)
    assert x.new(2, 3).shape == (2, 3) and x.new(2, 3).dtype == chainrule.float64
    assert x.new(chainrule.Size([4])).shape == (4,)
    assert_same(x.new([1, 2]), tx.new([1, 2]))
    assert_same(x.new((2, 3)), tx.new((2, 3)))


def test_resize() -> None:
    for shape in ((4,), (2, 3), (3, 3)):
        ours = chainrule.arange(6.0).reshape(2, 3)
        theirs = torch.arange(6.0).reshape(2, 3)
        ours.resize_(*shape)
        theirs.resize_(*shape)
        assert ours.shape == theirs.shape
        n = min(6, math.prod(shape))
        np.testing.assert_array_equal(ours.numpy().reshape(-1)[:n],
                                      theirs.numpy().reshape(-1)[:n])
    y = chainrule.ones(5)
    assert y.resize_as_(chainrule.zeros(2, 2)) is y and y.shape == (2, 2)
    with pytest.raises(RuntimeError, match="require grad"):
        chainrule.ones(2, requires_grad=True).resize_(3)


def test_post_accumulate_grad_hook() -> None:
    seen: dict[str, list] = {"chainrule": [], "torch": []}
    for L in (chainrule, torch):
        w = L.tensor([1.0, 2.0], requires_grad=True)

        def hook(p: Any, lib: str = L.__name__) -> None:
            seen[lib].append(p.grad.clone().numpy().tolist())

        h = w.register_post_accumulate_grad_hook(hook)
        (w * w).sum().backward()
        (w * 3).sum().backward()
        L.autograd.grad((w * w).sum(), w)  # no accumulation: no call
        h.remove()
        (w * w).sum().backward()
        with pytest.raises(RuntimeError):
            (w * 2).register_post_accumulate_grad_hook(hook)
    assert seen["chainrule"] == seen["torch"] == [[2.0, 4.0], [5.0, 7.0]]


def test_bernoulli_and_multinomial_methods() -> None:
    g = chainrule.Generator().manual_seed(0)
    p = chainrule.full((2000,), 0.3, dtype=chainrule.float64)
    b = p.bernoulli(generator=g)
    assert b.dtype == chainrule.float64 and 0.25 < b.mean().item() < 0.35
    assert 0.75 < p.bernoulli(0.8, generator=g).mean().item() < 0.85
    m = chainrule.tensor([0.0, 1.0, 0.0]).multinomial(4, True, generator=g)
    assert m.tolist() == [1, 1, 1, 1]


def _words(text: str) -> list[str]:
    return text.split()


# ---- the scan: none of the listed names missing -------------------------------------------------
TOP_LEVEL = _words("""
asin acos atan sinh cosh asinh acosh atanh arcsin arccos arctan arcsinh arccosh
arctanh absolute fix positive negative greater less greater_equal less_equal not_equal multiply
divide subtract is_floating_point is_nonzero is_same_size result_type promote_types can_cast
clamp_min clamp_max sgn signbit deg2rad rad2deg float_power floor_divide fmax fmin isposinf
isneginf isreal inner ger vdot column_stack row_stack hstack vstack dstack hsplit vsplit dsplit
moveaxis swapdims argwhere msort tril_indices triu_indices rot90 trapz trapezoid gradient renorm
frexp ldexp nextafter diagflat vander cov corrcoef dist scatter_reduce index_copy masked_scatter
adjoint empty_strided split_with_sizes hann_window hamming_window blackman_window
bartlett_window kaiser_window angle view_as_real view_as_complex complex polar inf nan pi e
newaxis uint16 uint32 uint64 bfloat16 layout strided channels_last channels_last_3d
set_float32_matmul_precision get_float32_matmul_precision typename get_default_device
set_default_device dropout alpha_dropout feature_alpha_dropout layer_norm group_norm batch_norm
instance_norm embedding conv1d conv2d conv3d conv_transpose1d conv_transpose2d max_pool1d
max_pool2d avg_pool1d adaptive_avg_pool1d adaptive_max_pool1d pixel_shuffle pixel_unshuffle
channel_shuffle threshold hardshrink prelu rrelu selu celu mvlgamma nonzero_static ravel
is_signed is_conj is_neg is_inference resolve_conj resolve_neg""")

METHODS = _words("""asin asin_ acos acos_ atan atan_ sinh sinh_ cosh cosh_ asinh asinh_ acosh acosh_
atanh atanh_ arcsin arcsin_ arccos arccos_ arctan arctan_ arcsinh arcsinh_ arccosh arccosh_
arctanh arctanh_ eq_ ne_ lt_ le_ gt_ ge_ greater_ less_ greater_equal_ less_equal_ not_equal_
logical_and_ logical_or_ logical_not_ t_ transpose_ squeeze_ unsqueeze_ tril_ triu_ cumsum_
cumprod_ square_ round_ frac_ fmod_ remainder_ log2_ log10_ tan_ nan_to_num_ clamp_min_
clamp_max_ renorm_ index_copy_ masked_scatter_ scatter_reduce_ float_power_ floor_divide_
true_divide_ multiply_ divide_ subtract_ negative_ absolute_ deg2rad_ rad2deg_ fix_ swapaxes_
swapdims_ ldexp_ sgn_ nextafter_ mvlgamma_ multiply divide subtract greater less greater_equal
less_equal not_equal negative positive absolute fix ravel swapdims msort argwhere inner ger vdot
dist cov corrcoef diagflat rot90 hsplit vsplit dsplit split_with_sizes signbit isposinf isneginf
isreal float_power floor_divide fmax fmin frexp ldexp nextafter mvlgamma renorm index_copy
masked_scatter scatter_reduce adjoint mH angle byte char short bfloat16 cfloat cdouble is_cpu
get_device is_signed is_inference pin_memory share_memory_ storage_offset is_pinned is_conj
is_neg resolve_conj resolve_neg new resize_ resize_as_ register_post_accumulate_grad_hook
output_nr nonzero_static bernoulli multinomial layout hardshrink prelu is_nonzero
is_same_size""")


def test_name_scan_finds_none_of_the_listed_names_missing() -> None:
    assert all(hasattr(torch, n) for n in TOP_LEVEL)  # (the list names torch's own names)
    assert all(hasattr(torch.Tensor, n) for n in METHODS)
    assert [n for n in TOP_LEVEL if not hasattr(chainrule, n)] == []
    assert [n for n in METHODS if not hasattr(chainrule.Tensor, n)] == []
