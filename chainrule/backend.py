"""The one place that names the array library.

Every array call in chainrule goes through ``xp`` (NumPy today). A GPU array library with
NumPy's API (CuPy) can replace it here without touching the rest of the code.

Dtypes are NumPy dtype objects; chainrule re-exports them under PyTorch's names
(``chainrule.float32``, ``chainrule.long`` ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

xp = np
ndarray = np.ndarray

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

_FLOAT_KINDS = ("f",)
_default_float = float32


def default_dtype() -> np.dtype:
    """The dtype given to Python floats: float32 unless changed by ``set_default_dtype``."""
    return _default_float


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of tensors made from Python floats (float32 or float64)."""
    global _default_float
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point dtypes are allowed, got {d}")
    _default_float = d


def is_floating(dtype: np.dtype) -> bool:
    """True for floating-point dtypes (the only ones that can carry gradients)."""
    return dtype.kind == "f"


def to_dtype(dtype: Any) -> np.dtype:
    """Normalise a dtype given as a NumPy dtype, a type, a string or a Python type."""
    if dtype is None:
        return _default_float
    if dtype is float:
        return _default_float
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    return np.dtype(dtype)


def asarray(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert Python data to an array with PyTorch's dtype inference.

    Python floats become the default float dtype (float32), Python ints int64, bools bool;
    NumPy arrays keep their dtype unless ``dtype`` is given.
    """
    if isinstance(data, np.ndarray):
        return data if dtype is None else data.astype(to_dtype(dtype), copy=False)
    arr = np.asarray(data)
    if dtype is not None:
        return arr.astype(to_dtype(dtype), copy=False)
    if arr.dtype == float64 and not isinstance(data, np.generic):
        return arr.astype(_default_float)
    if arr.dtype.kind in "iu" and arr.dtype != int64 and not isinstance(data, np.generic):
        return arr.astype(int64)
    return arr


def broadcast_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only broadcast view of ``a`` (NumPy's ``broadcast_to`` costs ~5 µs of Python;
    building the strided view directly costs well under 1 µs)."""
    if a.shape == shape:
        return a
    lead = len(shape) - a.ndim
    if lead < 0 or not a.flags.c_contiguous or a.size == 0:
        return np.broadcast_to(a, shape)
    strides = [0] * lead
    for n, m, st in zip(shape[lead:], a.shape, a.strides):
        if n == m:
            strides.append(st)
        elif m == 1:
            strides.append(0)
        else:
            return np.broadcast_to(a, shape)  # raises NumPy's error naming both shapes
    out = np.ndarray(shape, a.dtype, a, 0, tuple(strides))
    out.flags.writeable = False
    return out


def blas_info() -> list[dict[str, Any]]:
    """BLAS libraries and their thread counts (via threadpoolctl), for benchmark headers."""
    from threadpoolctl import threadpool_info

    return [
        {k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    ]


def tune_malloc(threshold: int = 1 << 30) -> bool:
    """Serve large arrays from glibc's heap instead of fresh ``mmap``s, and keep freed memory.

    Every array above glibc's mmap threshold (32 MiB at most by default) is mapped afresh and
    page-faulted in on first touch: on the machines we measure, 13 ms to allocate and touch a
    42 MB im2col buffer, 1.7 ms once the threshold is raised. Conv/pool steps, optimizer
    temporaries and large elementwise results all allocate such arrays every step. The price
    is a resident size that stays at its peak. Linux/glibc only; set the environment variable
    ``CHAINRULE_NO_MALLOC_TUNING=1`` to opt out. Returns True when applied.
    """
    import ctypes
    import os
    import sys

    if os.environ.get("CHAINRULE_NO_MALLOC_TUNING") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = libc.mallopt(m_mmap_threshold, threshold) == 1
        return libc.mallopt(m_trim_threshold, 2 * threshold) == 1 and ok
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False


_MALLOC_TUNED = tune_malloc()
