"""The compiled kernels of the ops (chainrule._jit, the ``fast`` extra) give exactly what the
NumPy paths they replace give (the optimizers' kernels: tests/optim/test_jit_kernels.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("numba")

import chainrule  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from chainrule import _jit  # noqa: E402


def _grads(fn: Any, x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = chainrule.tensor(x, requires_grad=True)
    out = fn(t)
    out.backward(chainrule.tensor(g))
    return out.detach().numpy().copy(), t.grad.numpy().copy()


def check_both(fn: Any, x: np.ndarray, g: np.ndarray) -> None:
    fast = _grads(fn, x, g)
    with _jit.disabled():
        ref = _grads(fn, x, g)
    for a, b in zip(fast, ref):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf · 0 on purpose
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backward_kernel_equals_numpy(dtype: Any) -> None:
    r = np.random.default_rng(0)
    x = r.standard_normal((8, 16, 20, 20)).astype(dtype)  # above the kernels' size threshold
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
    g = r.standard_normal(x.shape).astype(dtype)
    g[0, 0, 1, :2] = [np.inf, np.nan]
    check_both(F.relu, x, g)


def test_max_pool_backward_kernel_equals_numpy() -> None:
    r = np.random.default_rng(1)
    x = r.standard_normal((4, 8, 32, 32))
    x[0, 0, :2, :2] = 1.0  # ties: the first maximum wins
    g = r.standard_normal((4, 8, 16, 16))
    check_both(lambda t: F.max_pool2d(t, 2), x, g)


def test_max_pool_with_nan_takes_the_exact_scan() -> None:
    """A NaN anywhere in a window wins (PyTorch's rule) on the path that checks the pooled
    values for NaN instead of the whole input."""
    x = np.arange(4 * 4, dtype=np.float64).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    out, idx = F.max_pool2d(chainrule.tensor(x), 2, return_indices=True)
    assert np.isnan(out.numpy()[0, 0, 0, 0]) and idx.numpy()[0, 0, 0, 0] == 4
    np.testing.assert_array_equal(out.numpy()[0, 0, 0, 1:], [7.0])
    np.testing.assert_array_equal(out.numpy()[0, 0, 1], [13.0, 15.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_2x2_kernel_equals_numpy_scan(dtype: Any) -> None:
    """Values and PyTorch's indices: ties (first maximum), NaN (wins), -inf, odd sizes."""
    r = np.random.default_rng(3)
    x = r.integers(-3, 3, (4, 8, 25, 27)).astype(dtype)  # many ties
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 2:4, 2:4] = -np.inf
    x[1, 2, 5, 4] = x[1, 2, 4, 5] = np.nan
    t = chainrule.tensor(x)
    out, idx = F.max_pool2d(t, 2, return_indices=True)
    with _jit.disabled():
        ref, ref_idx = F.max_pool2d(t, 2, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
    assert idx.dtype == ref_idx.dtype

