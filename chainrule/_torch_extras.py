"""Everyday ``torch.*`` names that chainrule lacked: aliases, small composites, dtype queries,
window functions, constants and the top-level forms of ``nn.functional`` ops.

Everything here but the inverse trigonometric/hyperbolic functions (primitives of
:mod:`chainrule.ops.trig`) is a composite of existing differentiable ops, so gradients come from
theirs; functions PyTorch does not differentiate (``frexp``, ``nextafter``, the windows) return
tensors without a graph. :data:`TORCH_FUNCTIONS` is what ``chainrule/__init__.py`` exports;
the Tensor methods built from these live in :mod:`chainrule._tensor_extras`.
"""

from __future__ import annotations

import builtins
import math
import threading
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

from chainrule import _more_functions as _more
from chainrule import backend as _backend
from chainrule.autograd.function import Function, _GradMode
from chainrule.autograd.function import record as apply
from chainrule.backend import default_dtype, to_dtype, xp
from chainrule.ops import complex as CX
from chainrule.ops import trig as TR
from chainrule.tensor import Tensor, _wrap, cat, device, stack, where

# ---- constants and dtypes ---------------------------------------------------------------------
inf = math.inf
nan = math.nan
pi = math.pi
e = math.e
newaxis = None
uint16 = xp.dtype(xp.uint16)
uint32 = xp.dtype(xp.uint32)
uint64 = xp.dtype(xp.uint64)


bfloat16 = _backend.bfloat16  # (the float8 formats and complex32: _CONSTANTS, below)


def check_storable(dtype: Any) -> None:
    """Raise the documented error for a dtype chainrule names but cannot store (bfloat16, the
    float8 formats, complex32)."""
    if isinstance(dtype, _backend.NamedDtype):
        to_dtype(dtype)


class layout:  # noqa: N801 - PyTorch's name
    """``torch.layout``: dense tensors are ``torch.strided``; ``chainrule.sparse`` tensors
    report ``torch.sparse_coo``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"chainrule.{self.name}"


strided = layout("strided")
sparse_coo = layout("sparse_coo")


# ---- float32 matmul precision -----------------------------------------------------------------
_PRECISION = {"value": "highest"}
_PRECISION_LOCK = threading.Lock()


def set_float32_matmul_precision(precision: str) -> None:
    """``torch.set_float32_matmul_precision``: one of 'highest', 'high', 'medium'. Recorded only:
    NumPy's float32 GEMM always runs at full float32 precision (PyTorch's 'high'/'medium' allow
    TF32/bfloat16 internals on GPUs), so results are those of 'highest'."""
    if precision not in ("highest", "high", "medium"):
        # PyTorch warns and keeps the current setting
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "set_float32_matmul_precision call has no effect.", UserWarning,
                      stacklevel=2)
        return
    with _PRECISION_LOCK:
        _PRECISION["value"] = precision


def get_float32_matmul_precision() -> str:
    with _PRECISION_LOCK:
        return _PRECISION["value"]


# ---- devices and names ------------------------------------------------------------------------
def get_default_device() -> device:
    """The device of the innermost ``with device(...)`` block: ``device('cpu')`` outside any
    (the only device with data)."""
    from chainrule._device import default_device

    return default_device()


def set_default_device(dev: Any) -> None:
    """Accepts ``None`` and the CPU; any other device is an error naming it."""
    if dev is None:
        return
    d = device(dev) if not isinstance(dev, device) else dev
    if d.type != "cpu":  # (device() itself refuses most non-CPU names)
        raise RuntimeError(f"set_default_device: chainrule runs on 'cpu' only, got {dev!r}")


def typename(obj: Any) -> str:
    """``torch.typename``: a tensor's type string, else the object's qualified type name."""
    if isinstance(obj, Tensor):
        return obj.type()
    t = obj if isinstance(obj, type) else type(obj)
    module = t.__module__
    return t.__qualname__ if module in ("builtins", None) else f"{module}.{t.__qualname__}"


# ---- dtype queries ------------------------------------------------------------------------------
def _category(d: xp.dtype) -> int:
    """bool < integer < floating < complex: PyTorch's promotion categories."""
    return {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}[d.kind]


_WIDE_UNSIGNED = (uint16, uint32, uint64)


def promote_types(type1: Any, type2: Any) -> xp.dtype:
    """The smallest dtype both convert to under PyTorch's rules: within a category NumPy's
    (uint8 and int8 give int16), across categories the higher category's dtype (int64 and
    float16 give float16, where NumPy gives float64)."""
    if type1 is bfloat16 or type2 is bfloat16:
        other = type2 if type1 is bfloat16 else type1
        if other is bfloat16 or _category(to_dtype(other)) < 2:
            return bfloat16
        other = to_dtype(other)
        return xp.dtype(xp.float32) if other == xp.float16 else other
    a, b = to_dtype(type1), to_dtype(type2)
    if a == b:
        return a
    if a in _WIDE_UNSIGNED or b in _WIDE_UNSIGNED:
        raise TypeError(f"Promotion for uint16, uint32, uint64 types is not supported, "
                        f"attempted to promote {a} and {b}")
    ca, cb = _category(a), _category(b)
    if ca != cb and ca >= 2 and cb < 2:
        return a
    if ca != cb and cb >= 2 and ca < 2:
        return b
    return xp.promote_types(a, b)


def _complex_of(d: xp.dtype) -> xp.dtype:
    return xp.dtype(xp.complex128 if d == xp.float64 else xp.complex64)


def _combine(higher: Any, lower: Any) -> Any:
    """PyTorch's combine_categories: a lower-priority operand changes the result only when
    it is of a higher category (a float scalar makes an int tensor float, not float64)."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    ch, cl = _category(higher), _category(lower)
    if ch == 3:
        return higher
    if cl == 3:
        return _complex_of(higher) if ch == 2 else lower
    if ch == 2:
        return higher
    if ch == 0 or cl == 2:
        return promote_types(higher, lower)
    return higher


def _scalar_dtype(s: Any) -> xp.dtype:
    if isinstance(s, builtins.bool):
        return xp.dtype(xp.bool_)
    if isinstance(s, builtins.int):
        return xp.dtype(xp.int64)
    if isinstance(s, builtins.float):
        return default_dtype()
    if isinstance(s, builtins.complex):
        return _complex_of(default_dtype())
    raise TypeError(f"result_type(): expected a Tensor or a Python number, got "
                    f"{type(s).__name__}")


def result_type(tensor1: Any, tensor2: Any) -> xp.dtype:
    """The dtype of an arithmetic op on the two operands (tensors outrank 0-d tensors, which
    outrank Python numbers, unless the lower one is of a higher category)."""
    levels: list[Any] = [None, None, None]  # dimensioned tensors, 0-d tensors, numbers
    for o in (tensor1, tensor2):
        if isinstance(o, Tensor):
            k = 0 if o.ndim else 1
            d = o.dtype
        else:
            k, d = 2, _scalar_dtype(o)
        levels[k] = d if levels[k] is None else promote_types(levels[k], d)
    return _combine(levels[0], _combine(levels[1], levels[2]))


def can_cast(from_: Any, to: Any) -> builtins.bool:
    """PyTorch's casting rule: no cast to a lower category (float to int, complex to float)
    and no cast of a non-bool to bool; anything else, narrowing included, is allowed."""
    a, b = to_dtype(from_), to_dtype(to)
    return _category(a) <= _category(b)


def is_floating_point(input: Tensor) -> builtins.bool:
    return _tensor_arg(input, "is_floating_point").is_floating_point()


def is_nonzero(input: Tensor) -> builtins.bool:
    """The truth of a one-element tensor (an error for 0 or several elements, as PyTorch)."""
    n = _tensor_arg(input, "is_nonzero").numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return builtins.bool(input._array.reshape(()).item() != 0)


def is_same_size(input: Tensor, other: Tensor) -> builtins.bool:
    return tuple(input.shape) == tuple(other.shape)


def is_signed(input: Tensor) -> builtins.bool:
    """True for signed integer, float and complex dtypes (False for bool and uint8)."""
    return _tensor_arg(input, "is_signed").dtype.kind in "ifc"


def is_conj(input: Tensor) -> builtins.bool:
    """False: chainrule conjugates eagerly (no lazy conjugate bit)."""
    return False


def is_neg(input: Tensor) -> builtins.bool:
    """False: chainrule negates eagerly (no lazy negative bit)."""
    return False


def is_inference(input: Tensor) -> builtins.bool:
    """False: chainrule has no inference tensors (``inference_mode`` is ``no_grad`` here)."""
    return False


def resolve_conj(input: Tensor) -> Tensor:
    return input


def resolve_neg(input: Tensor) -> Tensor:
    return input


def ravel(input: Tensor) -> Tensor:
    """The elements as a 1-D tensor (a view when possible)."""
    return input.reshape(-1)


def unravel_index(indices: Any, shape: Any) -> tuple[Tensor, ...]:
    """The coordinates in a tensor of ``shape`` of each flat (row-major) index: one int64
    tensor per dimension, shaped as ``indices``; coordinate d = ⌊index / stride_d⌋ mod
    shape_d, as PyTorch computes it (so -1 is the last element, and indices out of range wrap
    around instead of raising)."""
    idx = indices._array if isinstance(indices, Tensor) else xp.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"expected 'indices' to be integer dtype, but got {idx.dtype}")
    dims = (int(shape),) if isinstance(shape, (int, xp.integer)) else tuple(int(s) for s in shape)
    idx = idx.astype(xp.int64)
    strides = [math.prod(dims[d + 1:]) for d in range(len(dims))]
    return tuple(_wrap((idx // st) % n) for st, n in zip(strides, dims))


def _tensor_arg(x: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    return x


# ---- elementwise ---------------------------------------------------------------------------------
def asin(input: Tensor) -> Tensor:
    """arcsin x (NaN outside [-1, 1])."""
    return apply(TR.Asin, input)


def acos(input: Tensor) -> Tensor:
    """arccos x (NaN outside [-1, 1])."""
    return apply(TR.Acos, input)


def atan(input: Tensor) -> Tensor:
    """arctan x, in (-π/2, π/2)."""
    return apply(TR.Atan, input)


def sinh(input: Tensor) -> Tensor:
    return apply(TR.Sinh, input)


def cosh(input: Tensor) -> Tensor:
    return apply(TR.Cosh, input)


def asinh(input: Tensor) -> Tensor:
    return apply(TR.Asinh, input)


def acosh(input: Tensor) -> Tensor:
    """arcosh x (NaN below 1)."""
    return apply(TR.Acosh, input)


def atanh(input: Tensor) -> Tensor:
    """artanh x (±inf at ±1, NaN outside [-1, 1])."""
    return apply(TR.Atanh, input)


def positive(input: Tensor) -> Tensor:
    """``+input``: the tensor itself (an error for bool, as PyTorch)."""
    if input.dtype == xp.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def fix(input: Tensor) -> Tensor:
    """Round toward zero (``trunc``)."""
    return input.trunc()


def clamp_min(input: Tensor, min: Any) -> Tensor:
    return input.clamp(min=min)


def clamp_max(input: Tensor, max: Any) -> Tensor:
    return input.clamp(max=max)


def sgn(input: Tensor) -> Tensor:
    """sign(x) for real x; z/|z| (0 at 0) for complex z."""
    if input.dtype.kind != "c":
        return input.sign()
    mag = input.abs()
    return where(mag == 0, 0.0, input / where(mag == 0, 1.0, mag))


def signbit(input: Tensor) -> Tensor:
    """True where the sign bit is set (-0.0 included)."""
    if input.dtype.kind == "c":
        raise RuntimeError("signbit is not implemented for complex tensors.")
    return _wrap(xp.asarray(xp.signbit(input._array)))


def _float_result(input: Tensor) -> Tensor:
    return input if input.dtype.kind in "fc" else input.to(default_dtype())


def deg2rad(input: Tensor) -> Tensor:
    """x · π/180."""
    if input.dtype.kind == "c":
        raise RuntimeError("deg2rad is not supported for complex tensors.")
    return _float_result(input) * (math.pi / 180.0)


def rad2deg(input: Tensor) -> Tensor:
    """x · 180/π."""
    if input.dtype.kind == "c":
        raise RuntimeError("rad2deg is not supported for complex tensors.")
    return _float_result(input) * (180.0 / math.pi)


def float_power(input: Any, exponent: Any) -> Tensor:
    """input ** exponent computed in double precision (complex128 when either is complex)."""
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise TypeError("float_power(): expected at least one Tensor argument")
    kinds = [o.dtype.kind if isinstance(o, Tensor) else xp.asarray(o).dtype.kind
             for o in (input, exponent)]
    dt = xp.complex128 if "c" in kinds else xp.float64

    def up(o: Any) -> Any:
        if isinstance(o, Tensor):
            return o.to(dt)
        return builtins.complex(o) if dt == xp.complex128 else builtins.float(o)

    base, ex = up(input), up(exponent)
    if isinstance(base, Tensor):
        return base ** ex
    return _wrap(xp.asarray(base, dtype=dt)) ** ex


def floor_divide(input: Any, other: Any) -> Tensor:
    """⌊input / other⌋ (rounding toward -inf, PyTorch ≥ 1.13)."""
    if isinstance(input, Tensor):
        return input // other
    if isinstance(other, Tensor):
        return other.__rfloordiv__(input)
    raise TypeError("floor_divide(): expected at least one Tensor argument")


def fmax(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum ignoring NaN (NaN only where both are); at ties the gradient goes to
    ``input``, as PyTorch's."""
    return where((input >= other) | other.isnan(), input, other)


def fmin(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum ignoring NaN; at ties the gradient goes to ``input``."""
    return where((input <= other) | other.isnan(), input, other)


def isposinf(input: Tensor) -> Tensor:
    return _wrap(xp.asarray(xp.isposinf(input._array)) if input.dtype.kind == "f"
                 else xp.zeros(input.shape, bool))


def isneginf(input: Tensor) -> Tensor:
    return _wrap(xp.asarray(xp.isneginf(input._array)) if input.dtype.kind == "f"
                 else xp.zeros(input.shape, bool))


def isreal(input: Tensor) -> Tensor:
    """True where the imaginary part is 0 (everywhere for a real tensor)."""
    a = input._array
    return _wrap(xp.asarray(a.imag == 0) if a.dtype.kind == "c" else xp.ones(a.shape, bool))


class Frexp(NamedTuple):
    """``(mantissa, exponent)`` as returned by ``torch.frexp``."""

    mantissa: Any
    exponent: Any


def frexp(input: Tensor) -> tuple[Tensor, Tensor]:
    """(mantissa, exponent) with input = mantissa · 2^exponent, |mantissa| in [0.5, 1)
    (exponent int32; not differentiable, as PyTorch)."""
    if input.dtype.kind != "f":
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    m, ex = xp.frexp(input._array)
    return Frexp(_wrap(xp.asarray(m)), _wrap(xp.asarray(ex, dtype=xp.int32)))


def ldexp(input: Tensor, other: Any) -> Tensor:
    """input · 2^other."""
    return _float_result(input) * 2.0 ** other


def nextafter(input: Tensor, other: Tensor) -> Tensor:
    """The next representable float after ``input`` toward ``other`` (not differentiable)."""
    if input.dtype != other.dtype:
        raise RuntimeError(f"nextafter: expected both inputs to have the same dtype, got "
                           f"{input.dtype} and {other.dtype}")
    return _wrap(xp.asarray(xp.nextafter(input._array, other._array)))


def mvlgamma(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma: log Γ_p(x) = p(p-1)/4 log π + Σ_{i<p} log Γ(x - i/2)."""
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    if builtins.bool((input._array <= (p - 1) / 2).any()):
        raise RuntimeError(f"All elements must be greater than (p-1)/2 = {(p - 1) / 2}")
    x = _float_result(input)
    terms = stack([_more.lgamma(x - i / 2) for i in range(p)]).sum(0)
    return terms + p * (p - 1) / 4 * math.log(math.pi)


def angle(input: Tensor) -> Tensor:
    """arg z for complex z (dz = g i z/|z|²); for real x: 0 (x ≥ 0), π (x < 0), NaN at NaN
    (gradient 0)."""
    a = input._array
    if a.dtype.kind == "c":
        return apply(CX.Angle, input)
    x = _float_result(input)
    out = xp.where(xp.isnan(x._array), x._array, xp.where(x._array < 0, math.pi, 0.0))
    return _zero_gradient(_wrap(out.astype(x.dtype)), x)


def _zero_gradient(value: Tensor, x: Tensor) -> Tensor:
    """``value`` linked to x's graph with a zero gradient (a ``where`` that never selects x:
    its backward gives exactly 0, where ``x * 0`` would give NaN at ±inf)."""
    if not (x.requires_grad and _GradMode.enabled):
        return value
    return where(_wrap(xp.zeros(x.shape, bool)), x, value)


# ---- complex views -------------------------------------------------------------------------------
def view_as_real(input: Tensor) -> Tensor:
    """A complex tensor viewed as real with a trailing dim of 2 (re, im), sharing storage;
    dz = g[..., 0] + i g[..., 1]."""
    if input.dtype.kind != "c":
        raise RuntimeError("view_as_real is only supported for complex tensors")
    return input._view_of(apply(CX.ViewAsReal, input))


def view_as_complex(input: Tensor) -> Tensor:
    """A float tensor whose last dim has size 2 viewed as complex, sharing storage;
    dx = (Re g, Im g) on a last dim."""
    a = input._array
    if a.dtype not in (xp.float32, xp.float64):
        raise RuntimeError(f"view_as_complex is only supported for float and double tensors, "
                           f"but got a tensor of scalar type: {a.dtype}")
    if a.ndim == 0 or a.shape[-1] != 2:
        raise RuntimeError("Tensor must have a last dimension of size 2")
    if a.strides[-1] != a.itemsize:
        raise RuntimeError("Tensor must have a last dimension with stride 1")
    if any(st % (2 * a.itemsize) for st in a.strides[:-1]):
        raise RuntimeError("Tensor must have a stride divisible by 2 for all but last "
                           "dimension")
    if input.storage_offset() % 2:
        raise RuntimeError("Tensor must have a storage_offset divisible by 2")
    return input._view_of(apply(CX.ViewAsComplex, input))



def complex(real: Tensor, imag: Tensor) -> Tensor:
    """real + i·imag (both float32 or both float64, as PyTorch);  dreal = Re g, dimag = Im g."""
    for t in (real, imag):
        if t.dtype not in (xp.float32, xp.float64):
            raise RuntimeError(f"Expected both inputs to be Half, Float or Double tensors but "
                               f"got {real.dtype} and {imag.dtype}")
    if real.dtype != imag.dtype:
        raise RuntimeError(f"Expected object of scalar type {real.dtype} but got scalar type "
                           f"{imag.dtype} for second argument")
    return apply(CX.Complex, real, imag)


def polar(abs: Tensor, angle: Tensor) -> Tensor:
    """abs · (cos angle + i sin angle) (differentiable in both, through ``complex``)."""
    return complex(abs * angle.cos(), abs * angle.sin())


# ---- products and statistics ------------------------------------------------------------------
def inner(input: Tensor, other: Tensor) -> Tensor:
    """Σ over the last dims of both (a product when either is 0-d)."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but "
                           f"got shapes {list(input.shape)} and {list(other.shape)}")
    n = input.shape[-1]
    out = input.reshape(-1, n).matmul(other.reshape(-1, n).transpose(0, 1))
    return out.reshape(tuple(input.shape[:-1]) + tuple(other.shape[:-1]))


def ger(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two vectors (``outer``)."""
    for t in (input, vec2):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument, but got {t.ndim}-D")
    return input.outer(vec2)


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """conj(input) · other for 1-D tensors of one dtype."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D "
                           f"tensors")
    if input.dtype != other.dtype:
        raise RuntimeError(f"vdot : expected both vectors to have same dtype, but found "
                           f"{input.dtype} and {other.dtype}")
    return _more.conj(input).dot(other)


def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """‖input − other‖_p over all elements (after broadcasting)."""
    from chainrule.linalg import vector_norm

    return vector_norm(input - other, ord=p)


def cov(input: Tensor, *, correction: int = 1, fweights: Any = None,
        aweights: Any = None) -> Tensor:
    """The covariance of the rows of ``input`` (variables × observations; a 1-D input is one
    variable): Σ_k w_k (x_ik − μ_i)(x_jk − μ_j)* / (Σw − correction · Σ(w·a)/Σw), with
    w = fweights · aweights and μ the w-weighted means (numpy.cov's definition)."""
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an "
                           f"input with {input.ndim} dimensions")
    x = _float_result(input).reshape(1, -1) if input.ndim < 2 else _float_result(input)
    n = x.shape[1]
    w = None
    if fweights is not None:
        if fweights.dtype.kind not in "iu":
            raise RuntimeError("cov(): expected fweights to have integral dtype")
        if builtins.bool((fweights._array < 0).any()):
            raise RuntimeError("cov(): fweights cannot be negative")
        w = fweights.to(x.dtype)
    if aweights is not None:
        if aweights.dtype.kind != "f":
            raise RuntimeError("cov(): expected aweights to have floating point dtype")
        if builtins.bool((aweights._array < 0).any()):
            raise RuntimeError("cov(): aweights cannot be negative")
        w = aweights if w is None else w * aweights
    for ws in (fweights, aweights):
        if ws is not None and (ws.ndim != 1 or ws.shape[0] != n):
            raise RuntimeError(f"cov(): expected weights to be a 1-D tensor of {n} elements")
    if w is None:
        w_sum = builtins.float(n)
        mean = x.mean(1, keepdim=True)
        norm = w_sum - correction
    else:
        w_sum_t = w.sum()
        mean = (x * w).sum(1, keepdim=True) / w_sum_t
        if aweights is None:
            norm = w_sum_t - correction
        else:
            norm = w_sum_t - correction * (w * aweights).sum() / w_sum_t
    xm = x - mean
    xw = xm if w is None else xm * w
    c = xw.matmul(_more.conj(xm).transpose(0, 1))
    if isinstance(norm, Tensor):
        c = c / norm.clamp(min=0.0)
    else:
        c = c / builtins.max(norm, 0.0)
    return c.squeeze()  # (as PyTorch: one variable gives a 0-d result)


def corrcoef(input: Tensor) -> Tensor:
    """Pearson correlation of the rows: cov_ij / √(cov_ii cov_jj), clipped to [-1, 1]."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = c.diagonal()
    std = d.sqrt() if d.dtype.kind != "c" else d.real.sqrt()
    c = c / std.reshape(-1, 1) / std.reshape(1, -1)
    return c.clamp(-1.0, 1.0) if c.dtype.kind != "c" else c


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """A 2-D tensor with the flattened input on its ``offset`` diagonal."""
    return input.flatten().diag(offset)


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix: columns x^(N−1), …, x⁰ (x⁰ … x^(N−1) when ``increasing``)."""
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if x.dtype == xp.bool_:
        x = x.to(xp.int64)
    if n == 0:
        return _wrap(xp.empty((x.shape[0], 0), x.dtype))
    cols = [x * 0 + 1] + [x ** k for k in range(1, n)]  # (x ** 0 of an int x would be float)
    out = stack(cols, 1)
    return out if increasing else out.flip(1)


# ---- shapes ------------------------------------------------------------------------------------
def _seq(tensors: Any, name: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, Sequence) or not tensors:
        raise TypeError(f"{name}(): argument 'tensors' must be a non-empty sequence of Tensors")
    return list(tensors)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Stack as columns: 0-d and 1-D tensors become (n, 1) columns, then ``hstack``."""
    ts = [t.reshape(-1, 1) if t.ndim <= 1 else t for t in _seq(tensors, "column_stack")]
    return cat(ts, 1)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    ts = [_more.atleast_1d(t) for t in _seq(tensors, "hstack")]
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    return cat([_more.atleast_2d(t) for t in _seq(tensors, "vstack")], 0)


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    return cat([_more.atleast_3d(t) for t in _seq(tensors, "dstack")], 2)


def _split_along(input: Tensor, sections: Any, dim: int, name: str, min_dims: int) -> tuple:
    if input.ndim < min_dims:
        raise RuntimeError(f"torch.{name} requires a tensor with at least {min_dims} dimension"
                           f"{'s' if min_dims > 1 else ''}, but got a tensor with {input.ndim} "
                           f"dimensions!")
    if isinstance(sections, builtins.int):
        size = input.shape[dim]
        if sections == 0 or size % sections:
            raise RuntimeError(f"torch.{name} attempted to split along dimension {dim}, but the "
                               f"size of the dimension {size} is not divisible by the "
                               f"split_size {sections}!")
    return _more.tensor_split(input, sections, dim)


def hsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """Split along dim 1 (dim 0 of a 1-D tensor)."""
    return _split_along(input, indices_or_sections, 0 if input.ndim == 1 else 1, "hsplit", 1)


def vsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    return _split_along(input, indices_or_sections, 0, "vsplit", 2)


def dsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    return _split_along(input, indices_or_sections, 2, "dsplit", 3)


def split_with_sizes(input: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple:
    """Split into pieces of the given sizes, which must sum to the size of ``dim``."""
    size = input.shape[dim]
    if builtins.sum(split_sizes) != size or builtins.any(s < 0 for s in split_sizes):
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} "
                           f"(input tensor's size at dimension {dim}), but got split_sizes="
                           f"{list(split_sizes)}")
    return tuple(input.split(list(split_sizes), dim))


def argwhere(input: Tensor) -> Tensor:
    """The indices of the nonzero elements, one row each: shape (n, ndim)."""
    a = input._array
    if a.ndim == 0:
        return _wrap(xp.zeros((1 if a.item() != 0 else 0, 0), xp.int64))
    return _wrap(xp.asarray(xp.argwhere(a), dtype=xp.int64))


def nonzero_static(input: Tensor, *, size: int, fill_value: int = -1) -> Tensor:
    """``argwhere`` cut or padded (with ``fill_value`` rows) to exactly ``size`` rows."""
    if size < 0:
        raise RuntimeError(f"nonzero_static: 'size' must be an non-negative integer, got {size}")
    idx = argwhere(input)._array[:size]
    pad = xp.full((size - idx.shape[0], builtins.max(input.ndim, idx.shape[1])), fill_value,
                  xp.int64)
    return _wrap(xp.concatenate([idx.reshape(-1, pad.shape[1]), pad], 0))


def msort(input: Tensor) -> Tensor:
    """Sorted along dim 0."""
    return input.sort(0)[0]


def _tri_indices(row: int, col: int, offset: int, dtype: Any, upper: builtins.bool) -> Tensor:
    fn = xp.triu_indices if upper else xp.tril_indices
    if row < 0 or col < 0:
        raise RuntimeError(f"row must be non-negative, got {row}" if row < 0
                           else f"col must be non-negative, got {col}")
    i, j = fn(row, offset, col)
    return _wrap(xp.stack([i, j]).astype(to_dtype(dtype) if dtype is not None else xp.int64))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None,
                 device: Any = None, layout: Any = None) -> Tensor:
    """The (2, N) row/column indices of the lower triangle of a row × col matrix."""
    return _tri_indices(row, col, offset, dtype, upper=False)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None,
                 device: Any = None, layout: Any = None) -> Tensor:
    """The (2, N) row/column indices of the upper triangle of a row × col matrix."""
    return _tri_indices(row, col, offset, dtype, upper=True)


def rot90(input: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90° k times in the plane of ``dims`` (from the first toward the second)."""
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = (_more._dim(d, input.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and "
                           f"dim1 = {d1}")
    k %= 4
    if k == 1:
        return input.flip(d1).transpose(d0, d1)
    if k == 2:
        return input.flip(d0, d1)
    if k == 3:
        return input.flip(d0).transpose(d0, d1)
    return input.clone()


def adjoint(input: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims (a view for real tensors)."""
    if input.ndim < 2:
        raise RuntimeError(f"tensor.adjoint() is only supported on matrices or batches of "
                           f"matrices. Got {input.ndim}-D tensor.")
    return _more.conj(input.transpose(-2, -1))


def empty_strided(size: Sequence[int], stride: Sequence[int], *, dtype: Any = None,
                  layout: Any = None, device: Any = None, requires_grad: builtins.bool = False,
                  pin_memory: builtins.bool = False) -> Tensor:
    """An uninitialised tensor of ``size``; chainrule storage is always C-contiguous, so the
    requested ``stride`` is checked for length and otherwise not applied."""
    from chainrule.creation import empty

    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape: {len(size)} vs "
                           f"{len(stride)}")
    check_storable(dtype)
    return empty(tuple(size), dtype=dtype, device=device, requires_grad=requires_grad)


# ---- integration and differences --------------------------------------------------------------
def _slices(t: Tensor, dim: int, lo: Any, hi: Any) -> Tensor:
    key = [slice(None)] * t.ndim
    key[dim] = slice(lo, hi)
    return t[tuple(key)]


def trapezoid(y: Tensor, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """∫ y along ``dim`` by the trapezoid rule: Σ (y_i + y_{i+1})/2 · Δx_i, with Δx from the
    sample points ``x`` (1-D along dim, or y's shape) or the constant spacing ``dx``."""
    if x is not None and dx is not None:
        raise TypeError("trapezoid() received an invalid combination of arguments: x and dx")
    d = _more._dim(dim, y.ndim, "trapezoid")
    y = _float_result(y)
    if y.shape[d] == 0:
        return y.sum(d)
    avg = (_slices(y, d, 1, None) + _slices(y, d, None, -1)) * 0.5
    if isinstance(x, Tensor):
        if x.ndim == 1:
            shape = [1] * y.ndim
            shape[d] = -1
            diff = (x[1:] - x[:-1]).reshape(shape)
        else:
            xd = _more._dim(dim, x.ndim, "trapezoid")
            diff = _slices(x, xd, 1, None) - _slices(x, xd, None, -1)
        return (avg * diff).sum(d)
    step = 1.0 if x is None and dx is None else (dx if dx is not None else x)
    return avg.sum(d) * step


def trapz(y: Tensor, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """``trapezoid`` (the older name)."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y: Tensor, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The running trapezoid integral along ``dim``: entry k is Σ_{i<=k} (y_i + y_{i+1})/2 · Δx_i,
    so the result has one element fewer along ``dim`` than ``y`` (``x`` and ``dx`` as in
    :func:`trapezoid`)."""
    if x is not None and dx is not None:
        raise TypeError("cumulative_trapezoid() received an invalid combination of arguments: "
                        "x and dx")
    d = _more._dim(dim, y.ndim, "cumulative_trapezoid")
    y = _float_result(y)
    avg = (_slices(y, d, 1, None) + _slices(y, d, None, -1)) * 0.5
    if isinstance(x, Tensor):
        if x.ndim == 1:
            shape = [1] * y.ndim
            shape[d] = -1
            avg = avg * (x[1:] - x[:-1]).reshape(shape)
        else:
            xd = _more._dim(dim, x.ndim, "cumulative_trapezoid")
            avg = avg * (_slices(x, xd, 1, None) - _slices(x, xd, None, -1))
    else:
        avg = avg * (1.0 if x is None and dx is None else (dx if dx is not None else x))
    return avg.cumsum(d)


def _gradient_coords(spacing: Any, dims: list[int], shape: Sequence[int]) -> list[Any]:
    """Coordinates (arrays) or uniform steps (floats) per differentiated dim."""
    if isinstance(spacing, (builtins.int, builtins.float)):
        return [builtins.float(spacing)] * len(dims)
    if isinstance(spacing, Tensor) and spacing.ndim == 0:
        return [builtins.float(spacing.item())] * len(dims)
    sp = list(spacing)
    if len(sp) == 1 and len(dims) > 1:
        sp = sp * len(dims)
    if len(sp) != len(dims):
        raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or a "
                           f"list of length {len(dims)} but got a list of length {len(sp)}")
    out: list[Any] = []
    for s, d in zip(sp, dims):
        if isinstance(s, Tensor) and s.ndim == 1:
            if s.shape[0] != shape[d]:
                raise RuntimeError(f"torch.gradient expected each tensor to be on the same "
                                   f"device and of size {shape[d]} along dim {d}")
            out.append(xp.asarray(s._array, dtype=xp.float64))
        else:
            out.append(builtins.float(s.item() if isinstance(s, Tensor) else s))
    return out


def gradient(input: Tensor, *, spacing: Any = 1, dim: Any = None,
             edge_order: int = 1) -> tuple[Tensor, ...]:
    """∂input/∂x_d along each dim by second-order central differences inside and one-sided
    differences of order ``edge_order`` (1 or 2) at the ends; ``spacing`` is a step, a list
    of steps, or a list of 1-D coordinate tensors (non-uniform grids: numpy.gradient's
    weights)."""
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    dims = list(range(input.ndim)) if dim is None else (
        [dim] if isinstance(dim, builtins.int) else list(dim))
    dims = [_more._dim(d, input.ndim, "gradient") for d in dims]
    for d in dims:
        if input.shape[d] < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least "
                               "edge_order+1")
    coords = _gradient_coords(spacing, dims, input.shape)
    f = _float_result(input)
    return tuple(_gradient_1d(f, d, c, edge_order) for d, c in zip(dims, coords))


def _gradient_1d(f: Tensor, d: int, c: Any, edge_order: int) -> Tensor:
    n = f.shape[d]
    x = xp.arange(n, dtype=xp.float64) * c if isinstance(c, builtins.float) else c
    shape = [1] * f.ndim
    shape[d] = -1

    def w(v: Any) -> Tensor:  # a weight vector broadcast along dim d, in f's dtype
        return _wrap(xp.asarray(v, dtype=f.dtype).reshape(shape))

    def part(lo: Any, hi: Any) -> Tensor:
        return _slices(f, d, lo, hi)

    hl, hr = x[1:-1] - x[:-2], x[2:] - x[1:-1]
    inner = (part(None, -2) * w(-hr / (hl * (hl + hr)))
             + part(1, -1) * w((hr - hl) / (hl * hr))
             + part(2, None) * w(hl / (hr * (hl + hr))))
    if edge_order == 1:
        first = (part(1, 2) - part(0, 1)) / builtins.float(x[1] - x[0])
        last = (part(n - 1, n) - part(n - 2, n - 1)) / builtins.float(x[-1] - x[-2])
    else:
        a, b = builtins.float(x[1] - x[0]), builtins.float(x[2] - x[1])
        first = (part(0, 1) * (-(2 * a + b) / (a * (a + b))) + part(1, 2) * ((a + b) / (a * b))
                 + part(2, 3) * (-a / (b * (a + b))))
        a, b = builtins.float(x[-2] - x[-3]), builtins.float(x[-1] - x[-2])
        last = (part(n - 3, n - 2) * (b / (a * (a + b))) + part(n - 2, n - 1) * (-(a + b) / (a * b))
                + part(n - 1, n) * ((2 * b + a) / (b * (a + b))))
    return cat([first, inner, last], d)


# ---- scatter / index composites --------------------------------------------------------------
def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along ``dim`` whose p-norm exceeds ``maxnorm`` is scaled to norm
    maxnorm (by maxnorm / (norm + 1e-7), as PyTorch); the others are unchanged."""
    if p <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported, got p={p}")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if input.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} "
                           f"dimensions")
    d = _more._dim(dim, input.ndim, "renorm")
    from chainrule.linalg import vector_norm

    others = [i for i in range(input.ndim) if i != d]
    norm = vector_norm(input, ord=p, dim=others, keepdim=True)
    factor = where(norm > maxnorm, maxnorm / (norm + 1e-7), 1.0)
    return input * factor


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``input`` with its slices ``index`` along ``dim`` replaced by ``source``'s."""
    if index.ndim > 1 or index.dtype != xp.int64:
        raise RuntimeError("index_copy_(): Index should have dimension 1 or 0 and dtype int64")
    d = _more._dim(dim, builtins.max(input.ndim, 1), "index_copy")
    n = index.numel()
    src = source if source.ndim else source.reshape(1)
    if input.ndim and (src.ndim != input.ndim or src.shape[d] != n):
        raise IndexError(f"index_copy_(): Number of indices ({n}) should be equal to "
                         f"source.size(dim) ({src.shape[d] if src.ndim > d else 1})")
    if input.ndim == 0:
        return source.reshape(()) + input * 0 if n else input
    return _more.index_fill(input, d, index.reshape(-1), 0).index_add(d, index.reshape(-1), src)


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """``input`` with the positions where ``mask`` (broadcast) is True filled, in row-major
    order, with consecutive elements of ``source``."""
    if mask.dtype != xp.bool_:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with "
                           f"dtype {mask.dtype}")
    if source.dtype != input.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but "
                           f"got {input.dtype} and {source.dtype}")
    shape = xp.broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    m = xp.broadcast_to(mask._array, shape).reshape(-1)
    idx = xp.flatnonzero(m)
    if idx.size > source.numel():
        raise RuntimeError("masked_scatter: expected source to have at least as many elements "
                           "as ones in mask")
    base = input.expand(shape) if tuple(input.shape) != shape else input
    placed = _wrap(xp.zeros(int(m.size), input.dtype)).index_add(
        0, _wrap(idx), source.reshape(-1)[: idx.size])
    return where(_wrap(m.reshape(shape)), placed.reshape(shape), base)


_SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: builtins.bool = True) -> Tensor:
    """``input`` with each ``src[i]`` reduced into ``out[index[i]]`` along ``dim`` (sum, prod,
    mean, amax, amin; ``include_self`` says whether input's values take part).

    The value is computed on the arrays; the gradient is linear with each contributor's
    partial derivative as its weight (1 for sum, 1/count for mean, an even share among the
    extremes for amax/amin as PyTorch, the product of the other contributors for prod), one
    node (:class:`_ScatterReduced`), so infinite values (a ``-inf`` start for amax) stay
    infinite instead of turning into NaN. # NOTE: these weights are constants, so second
    derivatives of the prod/mean reductions through this function are not supported (first
    derivatives are exact).
    """
    if reduce not in _SCATTER_REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    if index.dtype != xp.int64:
        raise RuntimeError("scatter_reduce(): Expected dtype int64 for index")
    if src.dtype != input.dtype:
        raise RuntimeError(f"scatter_reduce(): Expected self.dtype to be equal to src.dtype, "
                           f"got {input.dtype} and {src.dtype}")
    d = _more._dim(dim, builtins.max(input.ndim, 1), "scatter_reduce")
    x, s = input._array, src._array
    idx = index._array
    if idx.ndim != x.ndim or builtins.any(
            idx.shape[i] > s.shape[i] or (i != d and idx.shape[i] > x.shape[i])
            for i in range(idx.ndim)):
        raise RuntimeError("scatter_reduce(): Expected index to be no larger than src in every "
                           "dim and no larger than self apart from dim")
    if idx.size and (idx.min() < -x.shape[d] or idx.max() >= x.shape[d]):
        raise RuntimeError(f"index {int(idx.max())} is out of bounds for dimension {d} with "
                           f"size {x.shape[d]}")
    target = list(xp.indices(idx.shape, sparse=True))
    target[d] = idx % x.shape[d]
    tkey = tuple(xp.broadcast_arrays(*target))
    sv = s[tuple(slice(0, n) for n in idx.shape)]
    out, w_self, w_src = _scatter_values(x, sv, tkey, reduce, include_self)
    if not _GradMode.enabled or not (input.requires_grad or src.requires_grad):
        return _wrap(out)
    src_part = src[tuple(slice(0, n) for n in idx.shape)]
    return _ScatterReduced.apply(input, src_part, out, w_self, w_src, d, index)


class _ScatterReduced(Function):
    """The node of ``scatter_reduce``: its value, and the linear backward
    ∂L/∂input = g ⊙ w_self, ∂L/∂src_i = g[target(i)] · w_src_i (written with Tensor ops, so it
    is recorded under ``create_graph``)."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, src: Tensor, out: Any, w_self: Any, w_src: Any,
                dim: int, index: Tensor) -> Tensor:
        ctx.w_self, ctx.w_src, ctx.dim, ctx.index = w_self, w_src, dim, index
        return _wrap(out)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple:
        return (g * _wrap(ctx.w_self), g.gather(ctx.dim, ctx.index) * _wrap(ctx.w_src),
                None, None, None, None, None)


def _scatter_values(x: Any, s: Any, tkey: tuple, reduce: str,
                    include_self: builtins.bool) -> tuple[Any, Any, Any]:
    """The reduced array and each contributor's partial derivative (self's, src's)."""
    hit = xp.zeros(x.shape, bool)
    hit[tkey] = True
    count = xp.zeros(x.shape, xp.int64)
    xp.add.at(count, tkey, 1)
    keep = ~hit if not include_self else xp.ones(x.shape, bool)  # self takes part here
    count = count + keep
    if reduce in ("sum", "mean"):
        out = xp.where(keep, x, 0).astype(x.dtype)
        xp.add.at(out, tkey, s)
        if reduce == "sum":
            return out, keep.astype(x.dtype), xp.ones_like(s)
        cnt = xp.maximum(count, 1)
        out = out // cnt if x.dtype.kind in "iu" else (out / cnt).astype(x.dtype)
        inv = (1.0 / cnt).astype(x.dtype) if x.dtype.kind in "fc" else cnt
        return out, keep * inv, inv[tkey]
    if reduce in ("amax", "amin"):
        ufunc = xp.maximum if reduce == "amax" else xp.minimum
        init = xp.inf if reduce == "amin" else -xp.inf
        if x.dtype.kind in "iu":
            info = xp.iinfo(x.dtype)
            init = info.max if reduce == "amin" else info.min
        out = xp.where(keep, x, init).astype(x.dtype)
        ufunc.at(out, tkey, s)
        self_is = keep & (x == out)
        src_is = s == out[tkey]
        n = self_is.astype(xp.int64)
        xp.add.at(n, tkey, src_is.astype(xp.int64))
        share = 1.0 / xp.maximum(n, 1)
        return out, (self_is * share).astype(x.dtype), (src_is * share[tkey]).astype(x.dtype)
    # prod: ∂out/∂c = the product of the other contributors (zeros counted apart, so that a
    # single zero contributor still gets the product of the rest)
    nz_x = xp.where(keep & (x != 0), x, 1).astype(x.dtype)
    zeros = (keep & (x == 0)).astype(xp.int64)
    xp.add.at(zeros, tkey, (s == 0).astype(xp.int64))
    nz_prod = nz_x.copy()
    xp.multiply.at(nz_prod, tkey, xp.where(s == 0, 1, s).astype(x.dtype))
    out = xp.where(zeros > 0, 0, nz_prod).astype(x.dtype)

    def others(v: Any, z: Any, p: Any) -> Any:
        with xp.errstate(divide="ignore", invalid="ignore"):
            return xp.where(v != 0, xp.where(z > 0, 0, p / xp.where(v != 0, v, 1)),
                            xp.where(z == 1, p, 0))

    w_self = xp.where(keep, others(x, zeros, nz_prod), 0).astype(x.dtype)
    w_src = others(s, zeros[tkey], nz_prod[tkey]).astype(x.dtype)
    return out, w_self, w_src


_INDEX_REDUCTIONS = ("prod", "mean", "amax", "amin")


def index_reduce(input: Tensor, dim: int, index: Any, source: Tensor, reduce: str, *,
                 include_self: builtins.bool = True) -> Tensor:
    """``input`` with each slice ``source.select(dim, i)`` reduced into
    ``out.select(dim, index[i])`` (``prod``, ``mean``, ``amax``, ``amin``; ``include_self``
    says whether input's own values take part), as ``torch.index_reduce``.

    It is :func:`scatter_reduce` with ``index`` broadcast over source's other dims
    (``full[..., i, ...] = index[i]``), so values and gradients are the same: for ``mean``
    out = (Σ contributors) / count, for ``prod`` ∂out/∂c = the product of the other
    contributors, for ``amax``/``amin`` the gradient is shared evenly among the extremes.
    """
    name = "index_reduce_()"
    if reduce not in _INDEX_REDUCTIONS:
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or "
                           f"amin but got {reduce}.")
    idx = xp.asarray(index._array if isinstance(index, Tensor) else index)
    if idx.ndim > 1:
        raise IndexError(f"{name}: Index is supposed to be a vector, but got dim: {idx.ndim} "
                         f"with size: {list(idx.shape)}")
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"{name}: Expected dtype int32/int64 for index but got: {idx.dtype}")
    if not isinstance(source, Tensor):
        raise TypeError(f"index_reduce(): argument 'source' must be Tensor, not "
                        f"{type(source).__name__}")
    if source.dtype != input.dtype:
        raise RuntimeError(f"{name}: self ({input.dtype}) and source ({source.dtype}) must have "
                           f"the same scalar type")
    d = _more._dim(dim, builtins.max(input.ndim, 1), "index_reduce")
    idx = idx.reshape(-1)
    src_len = source.shape[d] if source.ndim else 1
    if idx.size != src_len:
        raise RuntimeError(f"{name}: Number of indices ({idx.size}) should be equal to "
                           f"source.size(dim): ({src_len}), for dim: {d}")
    if source.ndim != input.ndim or (
            source.shape[:d] + source.shape[d + 1:] != input.shape[:d] + input.shape[d + 1:]):
        raise RuntimeError(f"source tensor shape must match self tensor shape, excluding the "
                           f"specified dimension. Got self.shape = {list(input.shape)} "
                           f"source.shape = {list(source.shape)}")
    n = input.shape[d] if input.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError("index out of range in self")
    view = [1] * builtins.max(source.ndim, 1)
    view[d] = idx.size
    full = xp.broadcast_to(idx.reshape(view) % n, source.shape or (1,)).astype(xp.int64)
    if not source.ndim:
        full = full.reshape(())
    return scatter_reduce(input, d, _wrap(full), source, reduce, include_self=include_self)


# ---- windows ------------------------------------------------------------------------------------
def _window(name: str, n: int, periodic: builtins.bool, dtype: Any, requires_grad: Any,
            formula: Any) -> Tensor:
    if n < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got "
                           f"window_length={n}")
    dt = to_dtype(dtype)
    if dt.kind != "f":
        raise RuntimeError(f"{name} expects floating point dtypes, got: {dt}")
    if n <= 1:
        out = xp.ones(n, dt)
    else:
        m = n + 1 if periodic else n
        k = xp.arange(m, dtype=xp.float64)
        out = formula(k, m - 1)[:n].astype(dt)
    t = _wrap(out)
    return t.requires_grad_() if requires_grad else t


def hann_window(window_length: int, periodic: builtins.bool = True, *, dtype: Any = None,
                layout: Any = None, device: Any = None,
                requires_grad: builtins.bool = False) -> Tensor:
    """w[k] = ½ − ½ cos(2πk/(N−1)) (N = length + 1 when ``periodic``, last sample dropped)."""
    return _window("hann_window", window_length, periodic, dtype, requires_grad,
                   lambda k, m: 0.5 - 0.5 * xp.cos(2 * math.pi * k / m))


def hamming_window(window_length: int, periodic: builtins.bool = True, alpha: float = 0.54,
                   beta: float = 0.46, *, dtype: Any = None, layout: Any = None,
                   device: Any = None, requires_grad: builtins.bool = False) -> Tensor:
    """w[k] = α − β cos(2πk/(N−1))."""
    return _window("hamming_window", window_length, periodic, dtype, requires_grad,
                   lambda k, m: alpha - beta * xp.cos(2 * math.pi * k / m))


def blackman_window(window_length: int, periodic: builtins.bool = True, *, dtype: Any = None,
                    layout: Any = None, device: Any = None,
                    requires_grad: builtins.bool = False) -> Tensor:
    """w[k] = 0.42 − 0.5 cos(2πk/(N−1)) + 0.08 cos(4πk/(N−1))."""
    return _window("blackman_window", window_length, periodic, dtype, requires_grad,
                   lambda k, m: 0.42 - 0.5 * xp.cos(2 * math.pi * k / m)
                   + 0.08 * xp.cos(4 * math.pi * k / m))


def bartlett_window(window_length: int, periodic: builtins.bool = True, *, dtype: Any = None,
                    layout: Any = None, device: Any = None,
                    requires_grad: builtins.bool = False) -> Tensor:
    """w[k] = 1 − |2k/(N−1) − 1|."""
    return _window("bartlett_window", window_length, periodic, dtype, requires_grad,
                   lambda k, m: 1.0 - xp.abs(2.0 * k / m - 1.0))


def kaiser_window(window_length: int, periodic: builtins.bool = True, beta: float = 12.0, *,
                  dtype: Any = None, layout: Any = None, device: Any = None,
                  requires_grad: builtins.bool = False) -> Tensor:
    """w[k] = I₀(β √(1 − ((k − α)/α)²)) / I₀(β), α = (N−1)/2."""
    return _window("kaiser_window", window_length, periodic, dtype, requires_grad,
                   lambda k, m: xp.i0(beta * xp.sqrt(xp.clip(
                       1.0 - ((k - m / 2) / (m / 2)) ** 2, 0.0, None))) / xp.i0(beta))


# ---- top-level forms of nn.functional ops (torch's own signatures) ----------------------------
def _nnf() -> Any:
    import chainrule.nn.functional as F  # (imported on first use: keeps `import chainrule` fast)

    return F


def dropout(input: Tensor, p: float, train: builtins.bool) -> Tensor:
    """``torch.dropout(input, p, train)``: F.dropout with ``train`` positional."""
    return _nnf().dropout(input, p, train)


def alpha_dropout(input: Tensor, p: float, train: builtins.bool) -> Tensor:
    return _nnf().alpha_dropout(input, p, train)


def feature_alpha_dropout(input: Tensor, p: float, train: builtins.bool) -> Tensor:
    return _nnf().feature_alpha_dropout(input, p, train)


def layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Any = None,
               bias: Any = None, eps: float = 1e-5, cudnn_enable: builtins.bool = True) -> Tensor:
    return _nnf().layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input: Tensor, num_groups: int, weight: Any = None, bias: Any = None,
               eps: float = 1e-5, cudnn_enabled: builtins.bool = True) -> Tensor:
    return _nnf().group_norm(input, num_groups, weight, bias, eps)


def batch_norm(input: Tensor, weight: Any, bias: Any, running_mean: Any, running_var: Any,
               training: builtins.bool, momentum: float, eps: float,
               cudnn_enabled: builtins.bool) -> Tensor:
    """``torch.batch_norm``: weight and bias come before the running statistics (F.batch_norm
    takes them after)."""
    return _nnf().batch_norm(input, running_mean, running_var, weight, bias, training,
                             momentum, eps)


def instance_norm(input: Tensor, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                  use_input_stats: builtins.bool, momentum: float, eps: float,
                  cudnn_enabled: builtins.bool) -> Tensor:
    return _nnf().instance_norm(input, running_mean, running_var, weight, bias,
                                use_input_stats, momentum, eps)


def embedding(weight: Tensor, indices: Tensor, padding_idx: int = -1,
              scale_grad_by_freq: builtins.bool = False, sparse: builtins.bool = False) -> Tensor:
    """``torch.embedding(weight, indices, ...)``: the table first and ``padding_idx=-1`` for
    none (F.embedding takes the indices first)."""
    return _nnf().embedding(indices, weight, None if padding_idx < 0 else padding_idx,
                            scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def conv1d(input: Tensor, weight: Tensor, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    return _nnf().conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    return _nnf().conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    return _nnf().conv3d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    return _nnf().conv_transpose1d(input, weight, bias, stride, padding, output_padding,
                                   groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    return _nnf().conv_transpose2d(input, weight, bias, stride, padding, output_padding,
                                   groups, dilation)


def _stride(stride: Any) -> Any:
    """torch's top-level pools take ``stride=()`` for "the kernel size" (F's None)."""
    return None if stride is None or (isinstance(stride, (tuple, list)) and not stride) \
        else stride


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = (), padding: Any = 0,
               dilation: Any = 1, ceil_mode: builtins.bool = False) -> Tensor:
    return _nnf().max_pool1d(input, kernel_size, _stride(stride), padding, dilation,
                             ceil_mode=ceil_mode)


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = (), padding: Any = 0,
               dilation: Any = 1, ceil_mode: builtins.bool = False) -> Tensor:
    return _nnf().max_pool2d(input, kernel_size, _stride(stride), padding, dilation,
                             ceil_mode=ceil_mode)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = (), padding: Any = 0,
               ceil_mode: builtins.bool = False,
               count_include_pad: builtins.bool = True) -> Tensor:
    return _nnf().avg_pool1d(input, kernel_size, _stride(stride), padding, ceil_mode,
                             count_include_pad)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    return _nnf().adaptive_avg_pool1d(input, output_size)


def adaptive_max_pool1d(input: Tensor, output_size: Any) -> tuple[Tensor, Tensor]:
    """``torch.adaptive_max_pool1d``: always (values, indices)."""
    return _nnf().adaptive_max_pool1d(input, output_size, return_indices=True)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    return _nnf().pixel_shuffle(input, upscale_factor)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    return _nnf().pixel_unshuffle(input, downscale_factor)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    return _nnf().channel_shuffle(input, groups)


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    """y = x where x > threshold, else ``value``."""
    return _nnf().threshold(input, threshold, value)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """y = x where |x| > λ, else 0."""
    return where((input > lambd) | (input < -lambd), input, 0.0)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    return _nnf().prelu(input, weight)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: builtins.bool = False, generator: Any = None) -> Tensor:
    """Randomised leaky ReLU: slope a ~ U(lower, upper) per element of a negative input in
    training, a = (lower + upper)/2 otherwise."""
    from chainrule import random as _random

    if training:
        a = _random.rng(generator).uniform(lower, upper, tuple(input.shape))
        slope = _wrap(a.astype(input.dtype))
    else:
        slope = (lower + upper) / 2
    return where(input >= 0, input, input * slope)


def selu(input: Tensor) -> Tensor:
    return _nnf().selu(input)


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    return _nnf().celu(input, alpha)


# torch names for functions chainrule already has under another name
# ---- functional scatters: a copy of input with one slice / diagonal replaced ------------------
def _scatter_into(input: Tensor, src: Tensor, view_of: Any, name: str) -> Tensor:
    """``input`` with the elements ``view_of`` picks replaced by ``src`` (whose shape must equal
    the view's, as PyTorch). ``view_of`` is applied to an array of flat positions, and the
    result is one differentiable ``scatter`` into the flattened input: gradients reach
    ``input`` outside the view and ``src`` inside it."""
    if not isinstance(input, Tensor) or not isinstance(src, Tensor):
        raise TypeError(f"{name}(): expected Tensor arguments for input and src")
    where_ = view_of(xp.arange(input.numel()).reshape(tuple(input.shape)))
    if tuple(where_.shape) != tuple(src.shape):
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = "
                           f"{list(src.shape)}, slice size = {list(where_.shape)}")
    index = _wrap(xp.ascontiguousarray(where_).reshape(-1).astype(xp.int64))
    flat = input.reshape(-1).scatter(0, index, src.reshape(-1).to(input.dtype))
    return flat.reshape(tuple(input.shape))


def select_scatter(input: Tensor, src: Tensor, dim: builtins.int, index: builtins.int
                   ) -> Tensor:
    """``input`` with ``input.select(dim, index)`` replaced by ``src``."""
    d = _more._dim(dim, input.ndim, "select_scatter")
    return _scatter_into(input, src, lambda a: xp.take(a, index, axis=d), "select_scatter")


def slice_scatter(input: Tensor, src: Tensor, dim: builtins.int = 0, start: Any = None,
                  end: Any = None, step: builtins.int = 1) -> Tensor:
    """``input`` with ``input[..., start:end:step, ...]`` (along ``dim``) replaced by ``src``."""
    d = _more._dim(dim, input.ndim, "slice_scatter")
    key = (slice(None),) * d + (slice(start, end, step),)
    return _scatter_into(input, src, lambda a: a[key], "slice_scatter")


def diagonal_scatter(input: Tensor, src: Tensor, offset: builtins.int = 0,
                     dim1: builtins.int = 0, dim2: builtins.int = 1) -> Tensor:
    """``input`` with ``input.diagonal(offset, dim1, dim2)`` replaced by ``src``."""
    return _scatter_into(input, src, lambda a: xp.diagonal(a, offset, dim1, dim2),
                         "diagonal_scatter")


# ---- array interop and legacy constructors ----------------------------------------------------
def _check_device(d: Any) -> None:
    device(d)  # raises for a device chainrule does not have


def asarray(obj: Any, *, dtype: Any = None, device: Any = None, copy: Any = None,
            requires_grad: builtins.bool = False) -> Tensor:
    """``obj`` as a tensor, sharing memory where it can (PyTorch's ``torch.asarray``): a Tensor of
    the requested dtype is returned itself, a NumPy array of a storable dtype is wrapped without
    a copy; ``copy=True`` always copies and ``copy=False`` refuses a conversion that would have
    to copy (a ValueError, as PyTorch). Python data follow ``torch.tensor``'s dtype rules."""
    from chainrule.creation import tensor as _tensor

    if device is not None:
        _check_device(device)
    want = None if dtype is None else to_dtype(dtype)
    if isinstance(obj, Tensor):
        same = want is None or obj.dtype == want
        if copy is False and not same:
            raise ValueError(f"can't alias tensor with dtype {obj.dtype} into dtype {want}")
        out = obj if same and not copy else _tensor(obj, dtype=want)
    elif isinstance(obj, xp.ndarray) or hasattr(obj, "__array__"):
        arr = xp.asarray(obj)
        if arr.dtype.kind in "fiub" and (want is None or arr.dtype == want) and not copy:
            out = _wrap(arr)
        elif copy is False:
            raise ValueError(f"can't alias an array of dtype {arr.dtype} into dtype "
                             f"{want or arr.dtype} without a copy")
        else:
            out = _tensor(arr, dtype=want)
    else:
        if copy is False:
            raise ValueError("can't alias a Python sequence or scalar: set copy=None or True")
        out = _tensor(obj, dtype=want)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _range(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None,
           requires_grad: builtins.bool = False) -> Tensor:
    """The deprecated ``torch.range``: ``start, start + step, ...`` up to and INCLUDING ``end``,
    in the default float dtype unless ``dtype`` says otherwise (a UserWarning, as PyTorch)."""
    from chainrule.creation import arange as _arange

    warnings.warn("torch.range is deprecated and will be removed in a future release because "
                  "its behavior is inconsistent with Python's range builtin. Instead, use "
                  "torch.arange, which produces values in [start, end).", UserWarning,
                  stacklevel=2)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    n = builtins.int(math.floor((end - start) / step)) + 1
    out = _arange(n, dtype=dtype if dtype is not None else default_dtype(), device=device)
    out = (out * step + start).to(out.dtype) if n > 0 else out
    return out.requires_grad_(True) if requires_grad else out


_range.__name__ = _range.__qualname__ = "range"   # (defined as _range: "range" is a builtin here)


def scalar_tensor(s: Any, *, dtype: Any = None, device: Any = None,
                  requires_grad: builtins.bool = False) -> Tensor:
    """A 0-d tensor holding ``s``, in the default float dtype unless ``dtype`` is given."""
    from chainrule.creation import tensor as _tensor

    return _tensor(s, dtype=dtype if dtype is not None else default_dtype(), device=device,
                   requires_grad=requires_grad)


def set_default_tensor_type(t: Any) -> None:
    """The deprecated ``torch.set_default_tensor_type``: ``'torch.DoubleTensor'`` (or the class
    ``torch.DoubleTensor``) makes float64 the default dtype; only floating types are allowed."""
    from chainrule import _legacy

    warnings.warn("torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
                  "torch.set_default_dtype() and torch.set_default_device() as alternatives.",
                  UserWarning, stacklevel=2)
    d = _legacy._parse(t)
    if d.kind != "f":
        raise TypeError("only floating-point types are supported as the default type")
    _backend.set_default_dtype(d)


_ALIASES = {
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
    "arccosh": "acosh", "arctanh": "atanh", "moveaxis": "movedim", "swapdims": "swapaxes",
    "absolute": "abs", "negative": "neg", "greater": "gt", "less": "lt", "greater_equal": "ge",
    "less_equal": "le", "not_equal": "ne", "multiply": "mul", "divide": "div",
    "subtract": "sub", "row_stack": "vstack",
}

_CONSTANTS = {"inf": inf, "nan": nan, "pi": pi, "e": e, "newaxis": newaxis, "uint16": uint16,
              "uint32": uint32, "uint64": uint64, "bfloat16": bfloat16, "layout": layout,
              "strided": strided, "sparse_coo": sparse_coo,
              **_backend.NAMED_DTYPES, "chalf": _backend.complex32}

TORCH_FUNCTIONS: dict[str, Any] = {
    name: obj for name, obj in list(globals().items())
    if not name.startswith("_") and callable(obj) and getattr(obj, "__module__", None) == __name__
    and name not in ("layout", "check_storable", "Frexp")
}


def isin(elements: Any, test_elements: Any, *, assume_unique: builtins.bool = False,
         invert: builtins.bool = False) -> Tensor:
    """``elements ∈ test_elements`` elementwise (a bool tensor of ``elements``' shape); either
    may be a Python number, as ``torch.isin``."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin(): expected at least one of elements and test_elements to be a "
                        "Tensor")
    a = elements._array if isinstance(elements, Tensor) else xp.asarray(elements)
    b = test_elements._array if isinstance(test_elements, Tensor) else xp.asarray(test_elements)
    return _wrap(xp.isin(a, b, assume_unique=assume_unique, invert=invert))


def gcd(input: Tensor, other: Any) -> Tensor:
    """Greatest common divisor of integers, elementwise (``gcd(0, 0) = 0``)."""
    return _wrap(xp.gcd(input._array, other._array if isinstance(other, Tensor) else other))


def lcm(input: Tensor, other: Any) -> Tensor:
    """Least common multiple of integers, elementwise."""
    return _wrap(xp.lcm(input._array, other._array if isinstance(other, Tensor) else other))


def rsub(input: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    """``other − alpha·input`` (PyTorch's reversed subtraction)."""
    return other - (input * alpha if alpha != 1 else input)


def _functional_forms() -> dict[str, Any]:
    """``torch.cosine_similarity``, ``torch.pdist``, ... : the top-level names PyTorch gives
    some ``nn.functional`` ops (same arguments and results)."""
    from chainrule.nn import functional as F

    return {name: getattr(F, name) for name in ("cosine_similarity", "pdist", "pairwise_distance",
                                                "bilinear", "rms_norm") if hasattr(F, name)}


# Tensor methods whose ``torch.<name>_(input, ...)`` form PyTorch also exports.
_INPLACE_FORMS = (
    "abs_", "acos_", "acosh_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_",
    "arctanh_", "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_",
    "clamp_min_", "clip_", "cos_", "cosh_", "deg2rad_", "detach_", "erf_", "erfc_", "exp2_",
    "exp_", "expm1_", "fill_", "fix_", "floor_", "frac_", "gcd_", "i0_", "lcm_", "ldexp_",
    "log10_", "log1p_", "log2_", "log_", "logit_", "nan_to_num_", "neg_", "negative_",
    "rad2deg_", "reciprocal_", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_", "sinh_",
    "sqrt_", "square_", "tan_", "tanh_", "trunc_", "xlogy_", "zero_", "index_put_",
)


def _inplace_form(name: str) -> Any:
    def inplace(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                            f"{type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)

    inplace.__name__ = inplace.__qualname__ = name
    inplace.__doc__ = f"``torch.{name}(input, ...)`` is ``input.{name}(...)``."
    return inplace


def _install_inplace_forms(namespace: dict[str, Any]) -> None:
    for name in _INPLACE_FORMS:
        if hasattr(Tensor, name):
            namespace.setdefault(name, _inplace_form(name))


def install(namespace: dict[str, Any]) -> None:
    """Add this module's names to the ``chainrule`` namespace (names it already defines are
    kept), the aliases of functions it has, and the channels-last memory formats."""
    from chainrule._foreach import FUNCTIONS as foreach

    for name, obj in {**TORCH_FUNCTIONS, **_CONSTANTS, **foreach, "isin": isin, "gcd": gcd,
                      "lcm": lcm, "rsub": rsub, "range": _range, **_functional_forms()}.items():
        namespace.setdefault(name, obj)
    _install_inplace_forms(namespace)
    for alias, target in _ALIASES.items():
        namespace.setdefault(alias, namespace[target])
    from chainrule import fft

    namespace.setdefault("stft", fft.stft)
    namespace.setdefault("istft", fft.istft)
    fmt = namespace["memory_format"]
    namespace.setdefault("channels_last", fmt("channels_last"))
    namespace.setdefault("channels_last_3d", fmt("channels_last_3d"))
