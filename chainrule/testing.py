"""``chainrule.testing``: PyTorch's ``torch.testing.assert_close`` and ``make_tensor``.

``assert_close(actual, expected)`` passes when every element satisfies
|actual − expected| ≤ atol + rtol·|expected| (equal infinities pass; NaNs pass only with
``equal_nan=True``), after checking that shapes and (with ``check_dtype=True``) dtypes agree.
The defaults depend on the dtype, as PyTorch's:

    float16  rtol 1e-3,   atol 1e-5        float32  rtol 1.3e-6, atol 1e-5
    float64  rtol 1e-7,   atol 1e-7        integers and bool: exact (0, 0)

(with different dtypes and ``check_dtype=False``, the larger of the two; Python floats count as
float64, ints as exact). Tensors, NumPy arrays, Python numbers, ``None``, and sequences and
mappings of those are compared, recursively; a Tensor is never compared with an array or a
number (PyTorch's TypeError). The failure message is PyTorch's, with ``chainrule`` for
``torch`` in type names::

    Tensor-likes are not close!

    Mismatched elements: 1 / 3 (33.3%)
    Greatest absolute difference: 0.5 at index (1,) (up to 1e-05 allowed)
    Greatest relative difference: 0.20000000298023224 at index (1,) (up to 1.3e-06 allowed)

``msg`` replaces the message (a string) or transforms it (a callable). Not checked, as there is
nothing to check in chainrule: device, layout (always strided), memory format; ``check_stride``
is accepted and ignored (chainrule has no stride API to compare).
"""

from __future__ import annotations

import collections.abc
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend

__all__ = ["assert_close", "make_tensor"]

_TOLERANCES = {
    np.dtype(np.float16): (1e-3, 1e-5),
    np.dtype(np.float32): (1.3e-6, 1e-5),
    np.dtype(np.float64): (1e-7, 1e-7),
    np.dtype(np.complex64): (1.3e-6, 1e-5),
    np.dtype(np.complex128): (1e-7, 1e-7),
}


def _default_tolerances(*dtypes: np.dtype) -> tuple[float, float]:
    """PyTorch's defaults: per dtype, the largest over the dtypes compared (exact otherwise)."""
    pairs = [_TOLERANCES.get(np.dtype(d), (0.0, 0.0)) for d in dtypes]
    return max(r for r, _ in pairs), max(a for _, a in pairs)


class _Mismatch(Exception):
    """A comparison failure: its error type and message, before ``msg`` and the item path."""

    def __init__(self, kind: type, text: str) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text


def _tensor_cls() -> type:
    from chainrule.tensor import Tensor

    return Tensor


def _dtype_name(dt: np.dtype) -> str:
    return f"chainrule.{np.dtype(dt)}"


def _diff_line(kind: str, diff: Any, idx: Any, tol: float, equality: bool) -> str:
    text = (f"{kind.title()} difference: {diff}" if idx is None
            else f"Greatest {kind} difference: {diff} at index {idx}")
    return text + ("" if equality else f" (up to {tol} allowed)")


def _message(identifier: str, extra: str, abs_diff: Any, abs_idx: Any, rel_diff: Any,
             rel_idx: Any, rtol: float, atol: float) -> str:
    equality = rtol == 0 and atol == 0
    lines = [f"{identifier} are not {'equal' if equality else 'close'}!", "", extra,
             _diff_line("absolute", abs_diff, abs_idx, atol, equality),
             _diff_line("relative", rel_diff, rel_idx, rtol, equality)]
    return "\n".join(lines)


def _close_mask(a: np.ndarray, e: np.ndarray, rtol: float, atol: float,
                equal_nan: bool) -> np.ndarray:
    """torch.isclose: a == e, or |a − e| finite and ≤ atol + |rtol·e|, or both NaN if asked."""
    same = a == e
    if a.dtype.kind not in "fc":
        if rtol == 0 and atol == 0:
            return same
        a, e = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - e)
        allowed = atol + np.abs(rtol * e)
        close = same | (np.isfinite(err) & (err <= allowed))
    if equal_nan:
        close |= np.isnan(a) & np.isnan(e)
    return close


def _compare_arrays(a: np.ndarray, e: np.ndarray, rtol: float, atol: float,
                    equal_nan: bool, scalar_msg: bool) -> None:
    close = _close_mask(a, e, rtol, atol, equal_nan)
    if close.all():
        return
    if scalar_msg:  # a 0-d tensor: PyTorch reports it as a pair of scalars
        _compare_numbers(a.item(), e.item(), rtol, atol, equal_nan)
        return
    if a.dtype.kind not in "fc":  # integer differences in int64, as PyTorch
        a, e = a.astype(np.int64), e.astype(np.int64)
    n = close.size
    bad = n - int(close.sum())
    flat_close = close.reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(a - e).reshape(-1)
        abs_diff[flat_close] = 0
        # PyTorch divides integer differences in float32 (its default dtype)
        den = np.abs(e).reshape(-1)
        num = abs_diff if abs_diff.dtype.kind in "fc" else abs_diff.astype(np.float32)
        rel_diff = num / (den if den.dtype.kind in "fc" else den.astype(np.float32))
        rel_diff[flat_close] = 0
    i, j = int(np.argmax(abs_diff)), int(np.argmax(rel_diff))
    if np.isnan(abs_diff).any():
        i = int(np.flatnonzero(np.isnan(abs_diff))[0])
    if np.isnan(rel_diff).any():
        j = int(np.flatnonzero(np.isnan(rel_diff))[0])
    extra = f"Mismatched elements: {bad} / {n} ({bad / n:.1%})"
    raise _Mismatch(AssertionError, _message(
        "Tensor-likes", extra, abs_diff[i].item(), _unravel(i, close.shape),
        rel_diff[j].item(), _unravel(j, close.shape), rtol, atol))


def _unravel(flat: int, shape: tuple) -> tuple:
    return tuple(int(k) for k in np.unravel_index(flat, shape)) if shape else ()


def _compare_numbers(a: Any, e: Any, rtol: float, atol: float, equal_nan: bool) -> None:
    if a == e or (equal_nan and _isnan(a) and _isnan(e)):
        return
    diff = abs(a - e)
    if not isinstance(diff, complex) and math.isfinite(diff) and diff <= atol + abs(rtol * e):
        return
    rel = diff / abs(e) if e != 0 else math.inf
    extra = f"Expected {e} but got {a}."
    raise _Mismatch(AssertionError, _message("Scalars", extra, diff, None, rel, None, rtol,
                                             atol))


def _isnan(v: Any) -> bool:
    return isinstance(v, (float, complex)) and v != v


def _is_array_like(x: Any) -> bool:
    return isinstance(x, (_tensor_cls(), np.ndarray))


def _number_dtype(x: Any) -> np.dtype:
    if isinstance(x, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(x, numbers.Integral):
        return np.dtype(np.int64)
    if isinstance(x, numbers.Real):
        return np.dtype(np.float64)
    return np.dtype(np.complex128)


def _compare_leaf(a: Any, e: Any, rtol: float | None, atol: float | None, equal_nan: bool,
                  check_dtype: bool) -> None:
    T = _tensor_cls()
    if a is None or e is None:
        if a is not e:
            raise _Mismatch(AssertionError, f"None mismatch: {a} is not {e}")
        return
    if isinstance(a, (bool, np.bool_)) and isinstance(e, (bool, np.bool_)):
        if bool(a) != bool(e):
            raise _Mismatch(AssertionError, f"Booleans mismatch: {a} is not {e}")
        return
    numbers_pair = isinstance(a, numbers.Number) and isinstance(e, numbers.Number) and not (
        _is_array_like(a) or _is_array_like(e))
    if numbers_pair:
        if check_dtype and type(a) is not type(e):
            raise _Mismatch(AssertionError, f"The (d)types do not match: {type(a)} != "
                                            f"{type(e)}.")
        r, t = _tolerances(rtol, atol, _number_dtype(a), _number_dtype(e))
        _compare_numbers(a, e, r, t, equal_nan)
        return
    same_kind = (isinstance(a, T) and isinstance(e, T)) or (
        isinstance(a, np.ndarray) and isinstance(e, np.ndarray))
    if not same_kind:
        raise _Mismatch(TypeError, f"No comparison pair was able to handle inputs of type "
                                   f"{type(a)} and {type(e)}.")
    aa = np.asarray(a.detach().numpy() if isinstance(a, T) else a)
    ea = np.asarray(e.detach().numpy() if isinstance(e, T) else e)
    if aa.shape != ea.shape:
        from chainrule.types import Size

        raise _Mismatch(AssertionError, f"The values for attribute 'shape' do not match: "
                                        f"{Size(aa.shape)!r} != {Size(ea.shape)!r}.")
    if aa.dtype != ea.dtype and check_dtype:
        raise _Mismatch(AssertionError, f"The values for attribute 'dtype' do not match: "
                                        f"{_dtype_name(aa.dtype)} != "
                                        f"{_dtype_name(ea.dtype)}.")
    r, t = _tolerances(rtol, atol, aa.dtype, ea.dtype)
    common = _promote(aa.dtype, ea.dtype)
    _compare_arrays(aa.astype(common, copy=False), ea.astype(common, copy=False), r, t,
                    equal_nan, scalar_msg=aa.ndim == 0 and isinstance(a, T))


def _promote(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's promotion of two tensor dtypes: a floating dtype wins over an integer one
    (NumPy would widen float32 with int64 to float64)."""
    fa, fb = a.kind in "fc", b.kind in "fc"
    if fa != fb:
        return a if fa else b
    return np.promote_types(a, b)


def _tolerances(rtol: float | None, atol: float | None, *dtypes: np.dtype) -> tuple:
    if rtol is None:  # (both or neither: checked up front)
        return _default_tolerances(*dtypes)
    return float(rtol), float(atol)


def _compare(a: Any, e: Any, path: tuple, **kw: Any) -> None:
    """Recurse through sequences and mappings; raise _Mismatch with the item path."""
    T = _tensor_cls()
    seq = (collections.abc.Sequence,)
    if (isinstance(a, seq) and isinstance(e, seq) and not isinstance(a, (str, T))
            and not isinstance(e, (str, T))):
        if len(a) != len(e):
            raise _Mismatch(AssertionError, f"The length of the sequences mismatch: {len(a)} "
                                            f"!= {len(e)}")
        for k, (x, y) in enumerate(zip(a, e)):
            _compare(x, y, path + (k,), **kw)
        return
    if isinstance(a, collections.abc.Mapping) and isinstance(e, collections.abc.Mapping):
        if set(a) != set(e):
            missing = sorted(set(e) - set(a), key=str)
            extra = sorted(set(a) - set(e), key=str)
            raise _Mismatch(AssertionError, "The keys of the mappings do not match:\n"
                            f"Missing keys in the actual mapping: {missing}\n"
                            f"Additional keys in the actual mapping: {extra}")
        for k in e:
            _compare(a[k], e[k], path + (k,), **kw)
        return
    try:
        _compare_leaf(a, e, **kw)
    except _Mismatch as m:
        m.path = path  # type: ignore[attr-defined]
        raise


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True,
                 rtol: float | None = None, atol: float | None = None, equal_nan: bool = False,
                 check_device: bool = True, check_dtype: bool = True, check_layout: bool = True,
                 check_stride: bool = False, msg: str | Callable[[str], str] | None = None
                 ) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` are close (module
    docstring: the criterion, PyTorch's default tolerances per dtype, the message)."""
    del allow_subclasses, check_device, check_layout, check_stride
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {'rtol' if rtol is None else 'atol'}.")
    if rtol is not None and (rtol < 0 or atol < 0):
        raise ValueError(f"rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    try:
        _compare(actual, expected, (), rtol=rtol, atol=atol, equal_nan=equal_nan,
                 check_dtype=check_dtype)
    except _Mismatch as m:
        text = m.text
        if m.kind is AssertionError and msg is not None:
            text = msg(text) if callable(msg) else msg
        path = getattr(m, "path", ())
        if path:
            text += "\n\nThe failure occurred for item " + "".join(f"[{k!r}]" for k in path)
        raise m.kind(text) from None


def make_tensor(*shape: Any, dtype: Any, device: Any = None, low: float | None = None,
                high: float | None = None, requires_grad: bool = False,
                noncontiguous: bool = False, exclude_zero: bool = False,
                memory_format: Any = None, generator: Any = None) -> Any:
    """A tensor of ``shape`` and ``dtype`` with values uniform in [low, high) (PyTorch's
    defaults: [-9, 9) for floats, [-9, 10) for signed ints, [0, 10) for uint8; random bools).
    Drawn from ``generator`` (default: chainrule's default generator, which ``manual_seed``
    seeds). ``noncontiguous`` and ``memory_format`` change nothing (chainrule arrays are
    contiguous); ``exclude_zero`` replaces zeros by the smallest positive step, as PyTorch."""
    from chainrule._device import data_device
    from chainrule.creation import tensor
    from chainrule.random import rng

    if device is not None:
        data_device(device)
    del noncontiguous, memory_format
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    dt = backend.to_dtype(dtype)
    r = rng(generator)
    if dt == np.bool_:
        arr = r.integers(0, 2, size=shape).astype(np.bool_)
    elif dt.kind in "iu":
        lo = (0 if dt.kind == "u" else -9) if low is None else math.ceil(low)
        hi = 10 if high is None else math.ceil(high)
        if hi <= lo:
            raise ValueError(f"make_tensor: high ({high}) must be greater than low ({low})")
        arr = r.integers(lo, hi, size=shape).astype(dt)
        if exclude_zero:
            arr[arr == 0] = 1
    else:
        lo = -9.0 if low is None else float(low)
        hi = 9.0 if high is None else float(high)
        if hi < lo:
            raise ValueError(f"make_tensor: high ({high}) must be >= low ({low})")
        arr = r.uniform(lo, hi, size=shape).astype(dt)
        if exclude_zero:
            arr[arr == 0] = np.finfo(dt).tiny
    return tensor(arr, dtype=dt, requires_grad=requires_grad and dt.kind in "fc")
