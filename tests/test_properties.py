"""Property tests (hypothesis): broadcasting and reductions over random shapes and dims,
checked against torch (forward and backward with a random upstream gradient)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")

import hypothesis.extra.numpy as hnp  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import chainrule  # noqa: E402

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)


def _arrays(shapes: list[tuple[int, ...]], seed: int, positive: bool = False) -> list:
    r = np.random.default_rng(seed)
    return [r.uniform(0.5, 2.0, s) if positive else r.standard_normal(s) for s in shapes]


def _compare(fn: Any, arrays: list[np.ndarray], seed: int) -> None:
    """fn(lib, *tensors) with both libraries: equal outputs, equal gradients for a random
    cotangent, each gradient with its input's shape."""
    cx = [chainrule.tensor(a, requires_grad=True) for a in arrays]
    tx = [torch.tensor(a, requires_grad=True) for a in arrays]
    co, to = fn(chainrule, *cx), fn(torch, *tx)
    assert tuple(co.shape) == tuple(to.shape)
    np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = np.random.default_rng(seed + 1).standard_normal(tuple(to.shape))
    cg = chainrule.autograd.grad(co, cx, chainrule.tensor(v))
    tg = torch.autograd.grad(to, tx, torch.tensor(v))
    for c, t, a in zip(cg, tg, arrays):
        assert c.shape == a.shape and c.dtype == chainrule.float64
        np.testing.assert_allclose(c.numpy(), t.numpy(), rtol=1e-9, atol=1e-10)


BINARY = {
    "add": lambda L, x, y: x + y,
    "sub": lambda L, x, y: x - y,
    "mul": lambda L, x, y: x * y,
    "div": lambda L, x, y: x / y,
    "pow": lambda L, x, y: x**y,
    "maximum": lambda L, x, y: L.maximum(x, y),
    "where": lambda L, x, y: L.where(x > 0.6, x, y),
}


@SETTINGS
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
    op=st.sampled_from(sorted(BINARY)),
    seed=st.integers(0, 2**16),
)
def test_binary_broadcasting(shapes: Any, op: str, seed: int) -> None:
    arrays = _arrays(list(shapes.input_shapes), seed, positive=op in ("div", "pow"))
    _compare(BINARY[op], arrays, seed)


REDUCTIONS = {
    "sum": lambda L, x, d, k: x.sum(d, keepdim=k),
    "mean": lambda L, x, d, k: x.mean(d, keepdim=k),
    "var": lambda L, x, d, k: x.var(d, keepdim=k, correction=0),
    "std": lambda L, x, d, k: x.std(d, keepdim=k, correction=0),
    "amax": lambda L, x, d, k: x.amax(d, keepdim=k),
    "amin": lambda L, x, d, k: x.amin(d, keepdim=k),
    "logsumexp": lambda L, x, d, k: L.logsumexp(x, d, keepdim=k),
    "norm": lambda L, x, d, k: x.norm(dim=d, keepdim=k),
}


@st.composite
def shape_and_dims(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    dims = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=3))
    uniq = tuple(sorted({d % len(shape) for d in dims}))
    # negative spellings of the same dims must work too
    return shape, tuple(d - len(shape) if i % 2 else d for i, d in enumerate(uniq))


@SETTINGS
@given(sd=shape_and_dims(), op=st.sampled_from(sorted(REDUCTIONS)), keepdim=st.booleans(),
       seed=st.integers(0, 2**16))
def test_reductions_over_dim_tuples(sd: Any, op: str, keepdim: bool, seed: int) -> None:
    shape, dims = sd
    (a,) = _arrays([shape], seed)
    if op in ("var", "std"):  # a constant slice has std 0 (no derivative): keep them apart
        a = a + np.arange(a.size).reshape(shape) * 1e-3
    fn = REDUCTIONS[op]
    _compare(lambda L, x: fn(L, x, dims, keepdim), [a], seed)


@SETTINGS
@given(sd=shape_and_dims(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_single_dim_reductions_and_softmax(sd: Any, keepdim: bool, seed: int) -> None:
    shape, dims = sd
    d = dims[0]
    (a,) = _arrays([shape], seed)
    _compare(lambda L, x: x.max(d, keepdim=keepdim)[0], [a], seed)
    _compare(lambda L, x: x.prod(d, keepdim=keepdim), [a], seed)
    _compare(lambda L, x: x.cumsum(d), [a], seed)
    _compare(lambda L, x: x.log_softmax(d), [a], seed)
    _compare(lambda L, x: x.softmax(d), [a], seed)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=3,
                                                max_side=3),
       seed=st.integers(0, 2**16))
def test_expand_then_sum_to_is_adjoint(shapes: Any, seed: int) -> None:
    """<expand(x), v> == <x, sum_to(v)>: sum_to is the adjoint of broadcasting."""
    small = shapes.input_shapes[0]
    big = shapes.result_shape
    x, v = _arrays([small, big], seed)
    lhs = float((chainrule.tensor(x).expand(big) * chainrule.tensor(v)).sum())
    rhs = float((chainrule.tensor(x) * chainrule.tensor(v).sum_to(small)).sum())
    assert np.isclose(lhs, rhs, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), seed=st.integers(0, 2**16),
       data=st.data())
def test_permute_reshape_round_trip(shape: tuple[int, ...], seed: int, data: Any) -> None:
    perm = data.draw(st.permutations(range(len(shape))))
    (a,) = _arrays([shape], seed)
    _compare(lambda L, x: x.permute(*perm).reshape(-1).exp(), [a], seed)
    x = chainrule.tensor(a)
    inv = np.argsort(perm)
    np.testing.assert_array_equal(x.permute(*perm).permute(*inv).numpy(), a)
