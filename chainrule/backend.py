"""The one place that names the array library.

Every array call in chainrule goes through ``xp`` (NumPy today). A GPU array library with
NumPy's API (CuPy) can replace it here without touching the rest of the code.

Dtypes are NumPy dtype objects; chainrule re-exports them under PyTorch's names
(``chainrule.float32``, ``chainrule.long`` ...).
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

xp = np
ndarray = np.ndarray


def _quiet_floating_point_warnings() -> None:
    """PyTorch computes ``log(0) = -inf``, ``0/0 = nan`` and ``exp(1000) = inf`` silently;
    NumPy warns (``RuntimeWarning: divide by zero encountered in log``), in forward and
    backward passes alike.

    NOTE: importing chainrule therefore sets NumPy's floating-point error handling to
    ``'ignore'`` (``np.seterr``; the state of the importing thread), so that no user warning
    filter (``simplefilter("error")``, ``catch_warnings(record=True)``) turns chainrule's
    inf/nan into warnings or errors, and no op pays for an ``np.errstate`` per call. NumPy code
    of the user's own in that thread is silent too; ``np.seterr(all="warn")`` after the import
    restores NumPy's default there. Threads that start with NumPy's default state (DataLoader
    workers) are covered by a warning filter that matches chainrule's modules only.
    """
    np.seterr(divide="ignore", invalid="ignore", over="ignore", under="ignore")
    warnings.filterwarnings(
        "ignore", message=r"(divide by zero|invalid value|overflow|underflow) encountered",
        category=RuntimeWarning, module=r"chainrule(\.|$)")


_quiet_floating_point_warnings()

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)


class NamedDtype:
    """A PyTorch dtype that chainrule knows by name but cannot store, NumPy having no such
    dtype: ``bfloat16``, the float8 formats (``float8_e4m3fn`` ...), ``complex32``. The names
    exist so that code naming them runs where the dtype is only passed along or queried
    (``autocast(dtype=chainrule.bfloat16)``, accepted and not applied, as every autocast;
    ``finfo(chainrule.float8_e4m3fn).max``; ``x.dtype == chainrule.bfloat16``); making or
    converting a tensor to one raises ``NotImplementedError`` naming it (see :func:`to_dtype`)
    rather than silently keeping float32 under its name (docs/pytorch.md).

    ``limits``: PyTorch's ``finfo`` of the format as (bits, eps, max, min, smallest_normal,
    resolution), None where PyTorch has none."""

    is_complex = False

    def __init__(self, name: str, itemsize: int, *, is_signed: bool = True,
                 is_floating_point: bool = True, is_complex: bool = False,
                 limits: tuple[int, float, float, float, float, float] | None = None) -> None:
        self.name, self.itemsize, self.is_signed = name, itemsize, is_signed
        self.is_floating_point, self.is_complex, self.limits = (is_floating_point, is_complex,
                                                                limits)

    def __repr__(self) -> str:
        return f"chainrule.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # pickles as this module's singleton of that name

    def refusal(self) -> str:
        """The error message for storing a tensor of this dtype."""
        hint = ("; autocast(dtype=chainrule.bfloat16) is accepted and computes in float32"
                if self.name == "bfloat16" else "")
        return (f"chainrule cannot store {self.name} tensors: NumPy has no {self.name} dtype. "
                f"Keep float32 (or use float16){hint}. See docs/pytorch.md.")


bfloat16 = NamedDtype("bfloat16", 2, limits=(16, 2.0 ** -7, 3.3895313892515355e38,
                                             -3.3895313892515355e38, 2.0 ** -126, 0.01))
# PyTorch's 8-bit floats (OCP / AMD formats): e = exponent bits, m = mantissa bits, fn = finite
# (no inf), uz = unsigned zero (no -0), e8m0fnu = exponent only (a scale, unsigned)
float8_e4m3fn = NamedDtype("float8_e4m3fn", 1,
                           limits=(8, 0.125, 448.0, -448.0, 2.0 ** -6, 1.0))
float8_e4m3fnuz = NamedDtype("float8_e4m3fnuz", 1,
                             limits=(8, 0.125, 240.0, -240.0, 2.0 ** -7, 1.0))
float8_e5m2 = NamedDtype("float8_e5m2", 1,
                         limits=(8, 0.25, 57344.0, -57344.0, 2.0 ** -14, 1.0))
float8_e5m2fnuz = NamedDtype("float8_e5m2fnuz", 1,
                             limits=(8, 0.125, 57344.0, -57344.0, 2.0 ** -15, 1.0))
float8_e8m0fnu = NamedDtype("float8_e8m0fnu", 1, is_signed=False,
                            limits=(8, 1.0, 2.0 ** 127, 2.0 ** -127, 2.0 ** -127, 1.0))
float4_e2m1fn_x2 = NamedDtype("float4_e2m1fn_x2", 1)
complex32 = NamedDtype("complex32", 4, is_floating_point=False, is_complex=True)
NAMED_DTYPES = {d.name: d for d in (bfloat16, float8_e4m3fn, float8_e4m3fnuz, float8_e5m2,
                                    float8_e5m2fnuz, float8_e8m0fnu, float4_e2m1fn_x2,
                                    complex32)}

_FLOAT_KINDS = ("f",)


class _DtypeMode(threading.local):
    """The default float dtype, per thread. The class attribute is what a thread that never
    called ``set_default_dtype`` sees: float32, or what the main thread set (so worker threads
    such as a data loader's follow the program's choice), while a thread's own call changes
    only that thread."""

    value: np.dtype = float32


_dtype_mode = _DtypeMode()


def default_dtype() -> np.dtype:
    """The dtype given to Python floats: float32 unless changed by ``set_default_dtype``."""
    return _dtype_mode.value


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of tensors made from Python floats (float32 or float64) in this thread
    (from the main thread: also the default of threads that never set their own)."""
    if isinstance(dtype, NamedDtype):
        raise NotImplementedError(dtype.refusal())
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point dtypes are allowed, got {d}")
    if threading.current_thread() is threading.main_thread():
        _DtypeMode.value = d
    _dtype_mode.value = d


def is_floating(dtype: np.dtype) -> bool:
    """True for floating-point dtypes (``is_floating_point``: complex is not)."""
    return dtype.kind == "f"


def is_differentiable(dtype: np.dtype) -> bool:
    """True for the dtypes that can carry gradients: floating point and complex."""
    return dtype.kind in "fc"


def to_dtype(dtype: Any) -> np.dtype:
    """Normalise a dtype given as a NumPy dtype, a type, a string or a Python type."""
    if dtype is None:
        return _dtype_mode.value
    if isinstance(dtype, NamedDtype):
        raise NotImplementedError(dtype.refusal())
    if dtype is float:
        return _dtype_mode.value
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
        return arr.astype(_dtype_mode.value)
    if arr.dtype == np.complex128 and not isinstance(data, np.generic):
        # Python complex numbers: the complex dtype of the default float (complex64 for
        # float32), as PyTorch infers them
        return arr.astype(np.complex128 if _dtype_mode.value == float64 else np.complex64)
    if arr.dtype.kind in "iu" and arr.dtype != int64 and not isinstance(data, np.generic):
        return arr.astype(int64)
    return arr


def broadcast_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only broadcast view of ``a`` (NumPy's ``broadcast_to`` costs ~5 µs of Python;
    building the strided view directly costs well under 1 µs)."""
    if a.shape == shape:
        return a
    lead = len(shape) - a.ndim
    if lead < 0 or not a.flags.c_contiguous or a.size == 0 or a.__class__ is not np.ndarray:
        return np.broadcast_to(a, shape)  # (a traced array under chainrule.compile: NumPy's)
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


_AXPY: dict[Any, Any] | None = None
_blas_main: Any = None  # threadpoolctl controller of NumPy's BLAS (False: none found)
_blas_others: list[Any] = []  # controllers of the BLAS that axpy uses (SciPy's)


def blas_threads() -> int:
    """NumPy's BLAS thread count, as set by ``set_num_threads`` / threadpoolctl (1 when it
    cannot be read): the budget of chainrule's own multi-threaded loops."""
    global _blas_main
    if _blas_main is None:
        try:
            from threadpoolctl import ThreadpoolController

            libs = ThreadpoolController().select(user_api="blas").lib_controllers
            mine = [c for c in libs if "numpy" in c.filepath] or libs
            _blas_main = mine[0] if mine else False
        except ImportError:  # pragma: no cover - threadpoolctl is a core dependency
            _blas_main = False
    return max(1, int(_blas_main.get_num_threads())) if _blas_main else 1


def _load_axpy() -> dict[Any, Any]:
    """SciPy's BLAS axpy per dtype (imported on first use), with that BLAS set to one thread
    when it is not NumPy's (see :func:`axpy`)."""
    global _blas_others
    try:
        from scipy.linalg.blas import daxpy, saxpy
    except ImportError:  # pragma: no cover - SciPy is a core dependency
        return {}
    blas_threads()
    try:
        from threadpoolctl import ThreadpoolController

        main = getattr(_blas_main, "filepath", None)
        _blas_others = [c for c in ThreadpoolController().select(user_api="blas").lib_controllers
                        if c.filepath != main]
    except ImportError:  # pragma: no cover
        _blas_others = []
    for c in _blas_others:
        c.set_num_threads(1)
    return {np.dtype(np.float32): saxpy, np.dtype(np.float64): daxpy}


def axpy(a: float, x: np.ndarray, y: np.ndarray) -> None:
    """y ← a·x + y in place: one pass of BLAS ``saxpy``/``daxpy`` where both arrays are
    C-contiguous with the same float dtype, else NumPy (two passes, a temporary).

    # NOTE: a speed primitive of the optimizers: NumPy has no fused multiply-add, and an
    # update is a few such passes over every parameter (memory-bound); one BLAS call halves
    # their traffic (535k float32: 63 µs instead of 115 µs on one Zen 3 core).
    # The BLAS is SciPy's, a second OpenBLAS beside NumPy's. Run threaded, its idle workers
    # busy-wait (~0.1 s) and take the cores from NumPy's next GEMMs: an MLP step at 2 threads
    # went from 6 to 40 ms. So SciPy's BLAS is set to one thread when axpy is first used
    # (a process-wide setting: SciPy's own linear algebra runs single-threaded afterwards;
    # ``threadpoolctl`` changes it back). One thread streams an axpy at memory speed; splitting
    # it over chainrule's pool measured slower, its threads competing with NumPy's spinning
    # BLAS workers.
    """
    global _AXPY
    if y.__class__ is not np.ndarray and traced_call and isinstance(y, np.ndarray):
        traced_call(axpy, a, x, y, writes=2)  # under chainrule.compile: recorded as one call
        return
    if _AXPY is None:
        _AXPY = _load_axpy()
    fn = _AXPY.get(y.dtype)
    if (fn is not None and y.size and x.dtype is y.dtype and x.shape == y.shape
            and x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable):
        fn(x.reshape(-1), y.reshape(-1), a=a)
        return
    if isinstance(a, np.ndarray):  # a 0-d float64 under chainrule.compile: rounded to y's
        a = a.astype(y.dtype)  # dtype as a Python float is, so ``a * x`` stays in y's dtype
    y += a * x


# chainrule.compile's recorder of opaque calls, set when it is imported
traced_call: Any = None


def opaque_call(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` for a function the tracer cannot see into (SciPy, BLAS through raw
    pointers): while ``chainrule.compile`` captures and an argument is a traced array, the
    whole call is recorded as one program step that a replay runs again."""
    if traced_call is not None and any(
            isinstance(a, np.ndarray) and a.__class__ is not np.ndarray for a in args):
        return traced_call(fn, *args)
    return fn(*args)

_ZEROS: dict[Any, np.ndarray] = {}


def zeros_view(like: np.ndarray) -> np.ndarray:
    """A read-only array of zeros with ``like``'s shape and dtype, a view of one cached buffer.

    A binary ufunc runs its fast SIMD loop only when both operands are arrays:
    ``np.maximum(x, zeros)`` is 1.5-2x faster than ``np.maximum(x, 0)`` (DESIGN.md §5). The
    buffer grows to the largest request and stays allocated (one per dtype).
    """
    n = like.size
    dt = like.dtype
    buf = _ZEROS.get(dt)
    if buf is None or buf.size < n:
        buf = np.zeros(n, dtype=dt)
        buf.flags.writeable = False
        _ZEROS[dt] = buf
    return buf[:n].reshape(like.shape)


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
