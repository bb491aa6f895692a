"""``backend.axpy`` (the optimizers' y ← a·x + y): equal to NumPy on every layout and dtype,
and SciPy's BLAS, when it is not NumPy's, kept to one thread (its spinning workers would
otherwise take the cores from NumPy's GEMMs)."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import backend


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [7, 1 << 16])
def test_axpy_equals_numpy(dtype: type, n: int) -> None:
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal(n).astype(dtype) for _ in range(2))
    expected = y + dtype(0.3) * x
    backend.axpy(0.3, x, y)
    tol = 1e-6 if dtype == np.float32 else 1e-14  # BLAS may fuse the multiply-add
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


def test_axpy_on_strided_and_mixed_inputs_falls_back_to_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 8))[:, ::2]  # not contiguous
    y = rng.standard_normal((6, 4)).astype(np.float32)
    expected = y + np.float32(-2.0) * x.astype(np.float32)
    backend.axpy(-2.0, x, y)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_scipy_blas_runs_single_threaded_after_axpy() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    backend.axpy(1.0, np.ones(1 << 16, np.float32), np.ones(1 << 16, np.float32))
    numpy_blas = backend._blas_main.filepath if backend._blas_main else None
    others = [c for c in threadpoolctl.ThreadpoolController().select(user_api="blas")
              .lib_controllers if c.filepath != numpy_blas]
    for c in others:
        assert c.get_num_threads() == 1, c.filepath
