"""More of PyTorch's functions, as ``torch.*`` functions and Tensor methods.

Elementwise maths (``atan2``, ``hypot``, ``logaddexp``, ``sinc``, ``xlogy``, ``copysign``,
``heaviside``, the bitwise ops, ...), selections and scans (``median``, ``kthvalue``, ``mode``,
``cummax``, ``logcumsumexp``, ``quantile``, ...) and construction/shape helpers (``diff``,
``cross``, ``kron``, ``block_diag``, ``meshgrid``, ``tensor_split``, ...), each with PyTorch's
signature and semantics. New primitives live in :mod:`chainrule.ops.extra`; everything else is a
composite of differentiable ops, so its gradient comes from theirs (a selection is a ``gather``
at indices found on the arrays, whose derivative scatters g back to them, as PyTorch's).

The Tensor methods are attached once, from the table :data:`TENSOR_METHODS` at the end of this
module (tensor.py is left to define the core class); :data:`TORCH_FUNCTIONS` lists the names
``chainrule/__init__.py`` exports as ``torch.*`` functions.
"""

from __future__ import annotations

import builtins
import itertools
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

from chainrule import random as _random
from chainrule._tensor_methods import _accept_numpy_spellings
from chainrule.autograd.function import _GradMode
from chainrule.autograd.function import record as apply
from chainrule.backend import default_dtype, xp
from chainrule.ops import extra as X
from chainrule.ops import fft as FT
from chainrule.ops import index as I
from chainrule.ops import reduce as R
from chainrule.ops import special as SP
from chainrule.tensor import (
    Tensor,
    _const,
    _data,
    _wrap,
    cat,
    stack,
    where,
)
from chainrule.types import MinMax, Size


class AminMax(NamedTuple):
    """``(min, max)`` as returned by ``torch.aminmax``."""

    min: Any
    max: Any


def _tensor(x: Any) -> Tensor:
    """``x`` as a Tensor (Python numbers and arrays are wrapped, never copied into a graph)."""
    return x if isinstance(x, Tensor) else _wrap(xp.asarray(x))


def _binary(cls: type, name: str, x: Any, y: Any) -> Tensor:
    """A two-operand op on Tensors or one Tensor and a number (PyTorch needs one Tensor)."""
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        raise TypeError(f"{name}(): expected at least one Tensor argument, got "
                        f"{type(x).__name__} and {type(y).__name__}")
    return apply(cls, _const(x), _const(y))


def _dim(dim: Any, ndim: int, name: str) -> int:
    """``dim`` wrapped into [0, ndim) (a 0-d tensor accepts 0 and -1), or IndexError."""
    n = builtins.max(ndim, 1)
    if not isinstance(dim, int) or not -n <= dim < n:
        raise IndexError(f"{name}(): Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return dim % n


def _float_input(x: Tensor, name: str) -> None:
    if x.dtype.kind != "f":
        raise RuntimeError(f"{name}(): input tensor must be either float or double dtype, got "
                           f"{x.dtype}")


# ---- elementwise -----------------------------------------------------------------------------
def atan2(input: Any, other: Any) -> Tensor:
    """The angle of the point (other, input): atan2(y = input, x = other), in (-π, π]."""
    return _binary(X.Atan2, "atan2", input, other)


def hypot(input: Any, other: Any) -> Tensor:
    """√(input² + other²) without overflow."""
    _no_integers("hypot", input, other)
    return _binary(X.Hypot, "hypot", input, other)


def logaddexp(input: Any, other: Any) -> Tensor:
    """log(e^input + e^other), exact at any range."""
    _no_integers("logaddexp", input, other)
    return _binary(X.LogAddExp, "logaddexp", input, other)


def logaddexp2(input: Any, other: Any) -> Tensor:
    """log₂(2^input + 2^other)."""
    _no_integers("logaddexp2", input, other)
    return _binary(X.LogAddExp2, "logaddexp2", input, other)


def _no_integers(name: str, *operands: Any) -> None:
    """PyTorch has no integer kernel for some float functions: when every operand is an integer
    (or bool) tensor it raises instead of promoting."""
    kinds = [xp.asarray(_data(o)).dtype.kind for o in operands]
    if all(k in "biu" for k in kinds):
        raise NotImplementedError(f'"{name}_cpu" not implemented for integer tensors')


def xlogy(input: Any, other: Any) -> Tensor:
    """input · log(other), 0 where input = 0 (unless other is NaN)."""
    return _binary(X.Xlogy, "xlogy", input, other)


def xlog1py(input: Any, other: Any) -> Tensor:
    """input · log(1 + other), 0 where input = 0 (unless other is NaN)."""
    return _binary(X.Xlog1py, "xlog1py", input, other)


def copysign(input: Any, other: Any) -> Tensor:
    """|input| with the sign of other (signed zeros count: copysign(1, -0.) = -1)."""
    return _binary(X.Copysign, "copysign", input, other)


def heaviside(input: Tensor, values: Any) -> Tensor:
    """0 for input < 0, 1 for input > 0, ``values`` where input = 0 (no gradient, as PyTorch)."""
    x, v = _tensor(input), _tensor(values)
    if x.dtype != v.dtype:
        raise RuntimeError(f"heaviside is not yet implemented for tensors with different "
                           f"dtypes: {x.dtype} and {v.dtype}")
    xa = x._array
    out = xp.where(xa == 0, v._array, (xa > 0).astype(xa.dtype))
    return _wrap(xp.asarray(out, dtype=xa.dtype))


def sinc(input: Tensor) -> Tensor:
    """sin(πx) / (πx), 1 at x = 0."""
    return apply(X.Sinc, input)


def exp2(input: Tensor) -> Tensor:
    """2^x."""
    return apply(X.Exp2, input)


def erf(input: Tensor) -> Tensor:
    """erf(x) = 2/√π ∫₀ˣ exp(-t²) dt."""
    return _float_unary(SP.Erf, input)


def erfc(input: Tensor) -> Tensor:
    """1 - erf(x), accurate in the right tail."""
    return apply(X.Erfc, input)


def erfinv(input: Tensor) -> Tensor:
    """The inverse of erf on (-1, 1) (±inf at ±1)."""
    return _float_unary(SP.Erfinv, input)


def lgamma(input: Tensor) -> Tensor:
    """log |Γ(x)|."""
    return _float_unary(SP.Lgamma, input)


def digamma(input: Tensor) -> Tensor:
    """ψ(x) = d/dx log Γ(x)."""
    return _float_unary(SP.Polygamma, input, n=0)


def polygamma(n: int, input: Tensor) -> Tensor:
    """ψ⁽ⁿ⁾(x), the n-th derivative of the digamma function."""
    if not isinstance(n, int) or n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative n, got n={n}")
    return _float_unary(SP.Polygamma, input, n=n)


def i0(input: Tensor) -> Tensor:
    """I₀(x), the modified Bessel function of the first kind of order 0."""
    return apply(X.I0, input)


def _float_unary(cls: type, x: Tensor, **kw: Any) -> Tensor:
    """An op of ``chainrule.ops.special`` (which keep the input's dtype) on a float input:
    integer inputs are cast to the default float dtype first, as PyTorch's result type."""
    x = _tensor(x)
    if x.dtype.kind != "f":
        x = x.to(default_dtype())
    return apply(cls, x, **kw)


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(p / (1 - p)), with p clamped to [eps, 1 - eps] when eps is given (the gradient is 0
    outside that range, as PyTorch's)."""
    z = input if eps is None else input.clamp(eps, 1.0 - eps)
    return (z / (1.0 - z)).log()


def addcmul(input: Tensor, tensor1: Any, tensor2: Any, *, value: float = 1) -> Tensor:
    """input + value · tensor1 · tensor2."""
    return input + value * (tensor1 * tensor2)


def addcdiv(input: Tensor, tensor1: Any, tensor2: Any, *, value: float = 1) -> Tensor:
    """input + value · tensor1 / tensor2 (integer division is refused, as PyTorch)."""
    t1, t2 = _tensor(tensor1), _tensor(tensor2)
    if t1.dtype.kind in "biu" and t2.dtype.kind in "biu":
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a "
                           "future release addcdiv will perform a true division of tensor1 and "
                           "tensor2. Use torch.addcdiv(input, tensor1.float(), tensor2, ...)")
    return input + value * (tensor1 / tensor2)


def _bitwise(name: str, ufunc: Any) -> Any:
    def fn(input: Any, other: Any) -> Tensor:
        a, b = _data(_const(input)), _data(_const(other))
        for v in (a, b):
            kind = xp.asarray(v).dtype.kind
            if kind not in "biu":
                raise RuntimeError(f"{name}(): only integral and boolean tensors are supported, "
                                   f"got {xp.asarray(v).dtype}")
        return _wrap(xp.asarray(ufunc(a, b)))

    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} of integer or boolean tensors (no gradient)."
    return fn


bitwise_and = _bitwise("bitwise_and", xp.bitwise_and)
bitwise_or = _bitwise("bitwise_or", xp.bitwise_or)
bitwise_xor = _bitwise("bitwise_xor", xp.bitwise_xor)
bitwise_left_shift = _bitwise("bitwise_left_shift", xp.left_shift)
bitwise_right_shift = _bitwise("bitwise_right_shift", xp.right_shift)


def bitwise_not(input: Tensor) -> Tensor:
    """~x of an integer or boolean tensor."""
    if input.dtype.kind not in "biu":
        raise RuntimeError(f"bitwise_not(): only integral and boolean tensors are supported, "
                           f"got {input.dtype}")
    return _wrap(xp.invert(input._array))


def logical_xor(input: Any, other: Any) -> Tensor:
    """bool(x) != bool(y), a bool tensor."""
    return _wrap(xp.asarray(xp.logical_xor(_data(_const(input)), _data(_const(other)))))


# ---- selections, scans and statistics ------------------------------------------------------
def _select(x: Tensor, dim: int, keepdim: bool, pick: Any, name: str) -> MinMax:
    """(values, indices) of one entry per slice along ``dim``: ``pick(a)`` gets the array with
    ``dim`` moved last and returns the chosen position per slice; the values are a gather."""
    if x.ndim == 0:
        _dim(dim, 0, name)
        return MinMax(x * 1 if x.requires_grad else x.clone(), _wrap(xp.zeros((), xp.int64)))
    d = _dim(dim, x.ndim, name)
    if x.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    a = xp.moveaxis(x._array, d, -1)
    idx = xp.expand_dims(xp.asarray(pick(a), dtype=xp.int64), d)
    values = apply(I.Gather, x, dim=d, index=idx)
    if not keepdim:
        values, idx = values.squeeze(d), xp.squeeze(idx, d)
    return MinMax(values, _wrap(idx))


def _sorted_position(a: Any, k: Any) -> Any:
    """The original position of the k-th smallest entry of each last-axis slice of ``a``
    (NaN sorts last; a stable sort, so equal values keep their order); ``k`` per slice."""
    order = xp.argsort(a, axis=-1, kind="stable")
    k = xp.broadcast_to(xp.asarray(k), a.shape[:-1])
    return xp.take_along_axis(order, k[..., None], axis=-1)[..., 0]


def _median_rank(a: Any, ignore_nan: bool) -> Any:
    """The sorted rank of the (lower) median of each slice: NaN propagates (the first NaN is
    returned) unless ``ignore_nan``, where the median of the non-NaN entries is taken."""
    n = a.shape[-1]
    nans = xp.isnan(a).sum(axis=-1) if a.dtype.kind == "f" else xp.zeros(a.shape[:-1], int)
    valid = n - nans
    if ignore_nan:
        return xp.where(valid > 0, (valid - 1) // 2, 0)
    return xp.where(nans > 0, valid, (n - 1) // 2)


def _global_median(x: Tensor, ignore_nan: bool, name: str) -> Tensor:
    a = x._array.reshape(-1)
    if a.size == 0:
        return _wrap(xp.asarray(xp.nan, dtype=a.dtype)) if a.dtype.kind == "f" else _wrap(
            xp.asarray(0, dtype=a.dtype))
    pos = _sorted_position(a, _median_rank(a, ignore_nan))
    value = a[pos]
    if x.requires_grad:
        return apply(X.EvenlyDistributed, x, value=value)
    return _wrap(xp.asarray(value, dtype=a.dtype))


def median(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median (of all entries: a 0-d tensor, the gradient shared by the entries equal
    to it; along ``dim``: ``(values, indices)``); NaN propagates."""
    if dim is None:
        return _global_median(input, False, "median")
    return _select(input, dim, keepdim,
                   lambda a: _sorted_position(a, _median_rank(a, False)), "median")


def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """``median`` ignoring NaNs (NaN only where a slice is all NaN)."""
    if dim is None:
        return _global_median(input, True, "nanmedian")
    return _select(input, dim, keepdim,
                   lambda a: _sorted_position(a, _median_rank(a, True)), "nanmedian")


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> MinMax:
    """``(values, indices)`` of the k-th smallest entry (k from 1) along ``dim``."""
    n = input.shape[_dim(dim, input.ndim, "kthvalue")] if input.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim} "
                           f"(k = {k}, size {n})")
    return _select(input, dim, keepdim, lambda a: _sorted_position(a, k - 1), "kthvalue")


def _mode_position(a: Any) -> Any:
    """Per last-axis slice: the position of the most frequent value (the smallest such value;
    its last occurrence, as PyTorch's CPU kernel)."""
    flat = a.reshape(-1, a.shape[-1])
    out = xp.empty(flat.shape[0], dtype=xp.int64)
    for r, row in enumerate(flat):
        values, counts = xp.unique(row, return_counts=True)
        v = values[xp.argmax(counts)]
        hits = xp.flatnonzero((row == v) | (xp.isnan(row) & xp.isnan(v)))
        out[r] = hits[-1]
    return out.reshape(a.shape[:-1])


def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> MinMax:
    """``(values, indices)`` of the most frequent value along ``dim``."""
    return _select(input, dim, keepdim, _mode_position, "mode")


def _cumulative(x: Tensor, dim: int, greater: bool, name: str) -> MinMax:
    """Running max (``greater``) or min with the position of the entry that set it: a later
    equal value takes over, and NaN, once met, stays (PyTorch's rule)."""
    if x.ndim == 0:
        _dim(dim, 0, name)
        return MinMax(x * 1 if x.requires_grad else x.clone(), _wrap(xp.zeros((), xp.int64)))
    d = _dim(dim, x.ndim, name)
    a = xp.moveaxis(x._array, d, 0)
    idx = xp.zeros(a.shape, dtype=xp.int64)
    if a.shape[0]:
        cur = a[0].copy()
        pos = xp.zeros(a.shape[1:], dtype=xp.int64)
        isf = a.dtype.kind == "f"
        for i in range(1, a.shape[0]):
            v = a[i]
            better = (v >= cur) if greater else (v <= cur)
            if isf:
                better = xp.isnan(v) | (~xp.isnan(cur) & better)
            cur = xp.where(better, v, cur)
            pos = xp.where(better, i, pos)
            idx[i] = pos
    idx = xp.moveaxis(idx, 0, d)
    return MinMax(apply(I.Gather, x, dim=d, index=idx), _wrap(idx))


def cummax(input: Tensor, dim: int) -> MinMax:
    """``(values, indices)``: the running maximum along ``dim`` and where it was reached."""
    return _cumulative(input, dim, True, "cummax")


def cummin(input: Tensor, dim: int) -> MinMax:
    """``(values, indices)``: the running minimum along ``dim`` and where it was reached."""
    return _cumulative(input, dim, False, "cummin")


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """log Σ_{j<=i} exp(x_j) along ``dim``."""
    _no_integers("logcumsumexp", input)
    if input.ndim == 0:
        _dim(dim, 0, "logcumsumexp")
        return apply(X.LogCumSumExp, input.reshape(1), dim=0).reshape(())
    return apply(X.LogCumSumExp, input, dim=_dim(dim, input.ndim, "logcumsumexp"))


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(x: Tensor, q: Any, dim: int | None, keepdim: bool, interpolation: str,
              ignore_nan: bool, name: str) -> Tensor:
    """The q-quantiles along ``dim`` (all entries when None): sorted values at rank
    q·(n - 1), interpolated as ``interpolation`` says; the gradient flows through the sort."""
    _float_input(x, name)
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{name}() interpolation must be one of {', '.join(_INTERPOLATIONS)}. "
                           f"Got {interpolation}")
    if isinstance(q, Tensor):
        if q.dtype != x.dtype:
            raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor")
        if q.ndim > 1:
            raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
        qa, q_dims = q._array.astype(xp.float64), q.ndim
    else:
        qa, q_dims = xp.asarray(float(q)), 0
    if ((qa < 0) | (qa > 1)).any():
        raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
    if x.numel() == 0:
        raise IndexError(f"{name}() input tensor must be non-empty")
    if dim is None:
        src, d = x.reshape(-1), 0
        out_shape = (1,) * x.ndim if keepdim else ()
    else:
        d = _dim(dim, x.ndim, name)
        src = x if x.ndim else x.reshape(1)
        out_shape = tuple(1 if i == d else s for i, s in enumerate(x.shape)) if keepdim else \
            tuple(s for i, s in enumerate(x.shape) if i != d)
    srt = src.movedim(d, -1).sort(-1).values  # NaN last
    n = srt.shape[-1]
    nans = xp.isnan(srt._array).sum(-1, keepdims=True)
    qv = qa.reshape(-1)
    if ignore_nan:
        valid = n - nans
        ranks = qv * (valid - 1)
        ranks = xp.where(valid == 0, n - 1, ranks)  # all NaN: the result is NaN
    else:
        ranks = xp.where(nans > 0, n - 1, qv * (n - 1))  # any NaN: the result is NaN
    ranks = xp.broadcast_to(ranks, srt.shape[:-1] + (qv.size,))
    lo = xp.floor(ranks).astype(xp.int64)
    hi = xp.ceil(ranks).astype(xp.int64)
    if interpolation == "lower":
        out = srt.gather(-1, lo)
    elif interpolation == "higher":
        out = srt.gather(-1, hi)
    elif interpolation == "nearest":
        out = srt.gather(-1, xp.round(ranks).astype(xp.int64))  # round half to even
    else:
        w = ranks - lo if interpolation == "linear" else xp.full(ranks.shape, 0.5)
        out = srt.gather(-1, lo).lerp(srt.gather(-1, hi), _wrap(w.astype(srt.dtype)))
    out = out.movedim(-1, 0)  # (nq, *rest)
    if q_dims == 0:
        return out.reshape(out_shape)
    return out.reshape((qv.size,) + out_shape)


def quantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The q-quantiles of ``input`` (NaN where a slice holds a NaN); ``q`` a number or a 1-D
    tensor (its dim comes first in the result)."""
    return _quantile(input, q, dim, keepdim, interpolation, False, "quantile")


def nanquantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """``quantile`` ignoring NaNs (NaN only where a slice is all NaN)."""
    return _quantile(input, q, dim, keepdim, interpolation, True, "nanquantile")


def std_mean(input: Tensor, dim: Any = None, unbiased: bool | None = None,
             keepdim: bool = False, *, correction: float | None = None) -> tuple[Tensor, Tensor]:
    """(standard deviation, mean) over ``dim`` with Bessel's ``correction`` (default 1)."""
    if isinstance(dim, bool):  # std_mean(x, False): the legacy unbiased flag
        dim, unbiased = None, dim
    return (input.std(dim, unbiased, keepdim, correction), input.mean(dim, keepdim))


def var_mean(input: Tensor, dim: Any = None, unbiased: bool | None = None,
             keepdim: bool = False, *, correction: float | None = None) -> tuple[Tensor, Tensor]:
    """(variance, mean) over ``dim`` with Bessel's ``correction`` (default 1)."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    return (input.var(dim, unbiased, keepdim, correction), input.mean(dim, keepdim))


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> AminMax:
    """``(min, max)`` over all entries or along ``dim``."""
    if input.numel() == 0:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                           "operation has no identity.")
    if dim is not None:
        dim = _dim(dim, input.ndim, "aminmax")
        if input.ndim == 0:
            dim = None
    return AminMax(input.amin(dim, keepdim), input.amax(dim, keepdim))


def nanmean(input: Tensor, dim: Any = None, keepdim: bool = False, *,
            dtype: Any = None) -> Tensor:
    """The mean of the non-NaN entries (NaN where a slice is all NaN)."""
    x = input if dtype is None else input.to(dtype)
    _float_input(x, "nanmean")
    nan = xp.isnan(x._array)
    axes = R.normalize_dims(dim, x.ndim) if x.ndim else ()
    count = (~nan).sum(axis=axes or None, keepdims=keepdim)
    # 1 / count as a constant, NaN for an all-NaN slice (not 1/0 = inf, whose gradient would
    # be inf · 0 with NumPy's warnings; the value and gradient there are NaN, as PyTorch's)
    with xp.errstate(divide="ignore"):
        inv = xp.where(count > 0, 1.0 / count, xp.nan).astype(x.dtype)
    return x.nansum(axes or None, keepdim=keepdim) * _wrap(inv)


# ---- construction and shape ----------------------------------------------------------------
def diff(input: Tensor, n: int = 1, dim: int = -1, prepend: Any = None,
         append: Any = None) -> Tensor:
    """The n-th forward difference along ``dim`` (xor for bool tensors), after ``prepend``
    and ``append`` are joined on."""
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = _dim(dim, input.ndim, "diff")
    parts = [p for p in (prepend, input, append) if p is not None]
    x = cat([_tensor(p) for p in parts], d) if len(parts) > 1 else input
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        a, b = x.narrow(d, 1, m - 1), x.narrow(d, 0, m - 1)
        x = logical_xor(a, b) if x.dtype.kind == "b" else a - b
    return x


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (inputs broadcast); with no ``dim``, the
    first dim of size 3 (PyTorch's deprecated default; ``linalg.cross`` uses -1)."""
    from chainrule import linalg

    if input.ndim != other.ndim:
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions, got "
                           f"{input.ndim} and {other.ndim}")
    if dim is None:
        shape = xp.broadcast_shapes(tuple(input.shape), tuple(other.shape))
        threes = [i for i, s in enumerate(shape) if s == 3]
        if not threes:
            raise RuntimeError(f"no dimension of size 3 in input (shape {tuple(shape)})")
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated. Please "
                      "either pass the dim explicitly or simply use torch.linalg.cross.",
                      UserWarning, stacklevel=2)
        dim = threes[0]
    _dim(dim, input.ndim, "cross")  # (an out-of-range dim named as PyTorch names it)
    return linalg.cross(input, other, dim=dim)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: out[i·m + k] = input[i] · other[k] in every dim."""
    nd = builtins.max(input.ndim, other.ndim)
    a = input.reshape((1,) * (nd - input.ndim) + tuple(input.shape))
    b = other.reshape((1,) * (nd - other.ndim) + tuple(other.shape))
    a_shape = [s for k in a.shape for s in (k, 1)]
    b_shape = [s for k in b.shape for s in (1, k)]
    out = a.reshape(a_shape) * b.reshape(b_shape)
    return out.reshape([p * q for p, q in zip(a.shape, b.shape)])


def _result_dtype(tensors: Sequence[Tensor]) -> Any:
    return xp.result_type(*[t._array for t in tensors])


def block_diag(*tensors: Tensor) -> Tensor:
    """The block-diagonal matrix with the given blocks (0-d and 1-d inputs are rows)."""
    if not tensors:
        return _wrap(xp.zeros((1, 0), dtype=default_dtype()))
    dtype = _result_dtype(tensors)
    blocks = []
    for k, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer "
                               f"dimensions. Input {k} has {t.ndim} dimensions")
        blocks.append(t.reshape(1, -1) if t.ndim < 2 else t)
    width = builtins.sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = b.shape
        b = b.to(dtype) if b.dtype != dtype else b
        pieces = [_wrap(xp.zeros((r, left), dtype)), b,
                  _wrap(xp.zeros((r, width - left - c), dtype))]
        rows.append(cat(pieces, 1))
        left += c
    return cat(rows, 0)


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors: ``indexing="ij"`` (the default) gives the grids the
    inputs' order of dims, ``"xy"`` swaps the first two (Cartesian, as NumPy). The grids are
    expanded views."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                           f"received: {indexing}")
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    ts = [t.reshape(-1) if t.ndim == 0 else t for t in tensors]
    for t in ts:
        if t.ndim != 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list "
                               f"but got: {t.ndim}D")
    if len({t.dtype for t in ts}) > 1:
        raise RuntimeError("torch.meshgrid: expects all tensors to have the same dtype")
    order = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        order[0], order[1] = 1, 0  # input k varies along output dim order[k]
    shape = [0] * len(ts)
    for k, t in enumerate(ts):
        shape[order[k]] = t.shape[0]
    out = []
    for k, t in enumerate(ts):
        view = [1] * len(ts)
        view[order[k]] = -1
        out.append(t.reshape(view).expand(shape))
    return tuple(out)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """All tuples (a, b, ...) of entries of 1-D tensors, in row-major order, as rows."""
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([g.reshape(-1) for g in grids], 1)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """All length-``r`` combinations of a 1-D tensor's entries (itertools' order), as rows."""
    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return _wrap(xp.empty((0,), input.dtype))
    gen = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    idx = xp.asarray(list(gen(range(input.shape[0]), r)), dtype=xp.int64).reshape(-1, r)
    return input[idx]


def tensor_split(input: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of ``input`` split along ``dim``: into n near-equal parts (the first n mod size
    one longer) for an int, or at the given indices for a sequence."""
    if input.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                           "tensor with 0 dims")
    d = _dim(dim, input.ndim, "tensor_split")
    size = input.shape[d]
    s = indices_or_sections
    if isinstance(s, Tensor):
        if s.dtype.kind not in "iu" or s.ndim > 1:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to be a "
                               "zero-dimensional or one-dimensional tensor of dtype long")
        s = s.item() if s.ndim == 0 else s.tolist()
    if isinstance(s, int):
        if s <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {s}")
        q, rem = divmod(size, s)
        bounds = [0]
        for k in range(s):
            bounds.append(bounds[-1] + q + (1 if k < rem else 0))
    else:
        bounds = [0] + [builtins.min(builtins.max(int(i) + (size if int(i) < 0 else 0), 0),
                                     size) for i in s] + [size]
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        a = builtins.min(a, size)
        out.append(input.narrow(d, a, builtins.max(b - a, 0)))
    return tuple(out)


def broadcast_shapes(*shapes: Any) -> Size:
    """The shape all ``shapes`` broadcast to (RuntimeError when they do not)."""
    norm = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    try:
        return Size(xp.broadcast_shapes(*norm))
    except ValueError:
        raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape "
                           f"{norm}") from None


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors expanded (as views) to their common broadcast shape."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = broadcast_shapes(*[t.shape for t in tensors])
    return tuple(t if t.shape == shape else t.expand(shape) for t in tensors)


def broadcast_to(input: Tensor, size: Sequence[int]) -> Tensor:
    """``input`` expanded (a view) to ``size``."""
    return input.broadcast_to(size)


def _atleast(tensors: tuple, n: int) -> Any:
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(_atleast((t,), n) for t in tensors[0])
    out = []
    for t in tensors:
        if t.ndim == 0:
            t = t.reshape((1,) * n)
        elif t.ndim == 1 and n >= 2:
            t = t.unsqueeze(0)
            if n == 3:
                t = t.unsqueeze(-1)
        elif t.ndim == 2 and n == 3:
            t = t.unsqueeze(-1)
        out.append(t)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*tensors: Tensor) -> Any:
    """Each input viewed with at least 1 dim (a 0-d tensor becomes shape (1,))."""
    return _atleast(tensors, 1)


def atleast_2d(*tensors: Tensor) -> Any:
    """Each input viewed with at least 2 dims ((n,) becomes (1, n))."""
    return _atleast(tensors, 2)


def atleast_3d(*tensors: Tensor) -> Any:
    """Each input viewed with at least 3 dims ((n,) becomes (1, n, 1), (m, n) (m, n, 1))."""
    return _atleast(tensors, 3)


def unique_consecutive(input: Tensor, return_inverse: bool = False,
                       return_counts: bool = False, dim: int | None = None) -> Any:
    """``input`` with each run of equal consecutive entries (slices along ``dim``) kept once;
    optionally the run index of each entry and each run's length."""
    a = input._array
    if dim is None:
        flat = a.reshape(-1)
        new = xp.ones(flat.shape, dtype=bool)
        new[1:] = flat[1:] != flat[:-1]
        values = _wrap(flat[new])
        inv_shape = a.shape
    else:
        d = _dim(dim, input.ndim, "unique_consecutive")
        m = xp.moveaxis(a, d, 0).reshape(a.shape[d], -1)
        new = xp.ones(m.shape[0], dtype=bool)
        new[1:] = (m[1:] != m[:-1]).any(axis=1)
        values = _wrap(xp.compress(new, a, axis=d))
        inv_shape = (a.shape[d],)
    out = [values]
    if return_inverse:
        out.append(_wrap((xp.cumsum(new) - 1).astype(xp.int64).reshape(inv_shape)))
    if return_counts:
        starts = xp.flatnonzero(new)
        out.append(_wrap(xp.diff(xp.append(starts, new.size)).astype(xp.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def _index_mask(x: Tensor, dim: int, index: Any, name: str) -> Any:
    """A bool array broadcastable to x, true on the slices ``index`` names along ``dim``."""
    idx = xp.asarray(_data(index))
    if idx.dtype.kind not in "iu":
        raise IndexError(f"{name}(): Expected a long tensor for index, but got {idx.dtype}")
    if idx.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector")
    if x.ndim == 0:
        _dim(dim, 0, name)
        I.check_index(name, idx.reshape(-1), 0, 1)
        return xp.asarray(idx.size > 0)
    d = _dim(dim, x.ndim, name)
    idx = _wrapped_index(name, idx.reshape(-1), d, x.shape[d])
    hit = xp.zeros(x.shape[d], dtype=bool)
    hit[idx] = True
    return hit.reshape([-1 if i == d else 1 for i in range(x.ndim)])


def _wrapped_index(name: str, idx: Any, dim: int, size: int) -> Any:
    """``idx`` with negative entries counted from the end (index_fill and put accept them,
    unlike gather); IndexError for entries outside [-size, size)."""
    if idx.size and (bool(idx.min() < -size) or bool(idx.max() >= size)):
        bad = int(idx.min()) if idx.min() < -size else int(idx.max())
        raise IndexError(f"{name}(): index {bad} is out of bounds for dimension {dim} with "
                         f"size {size}")
    return idx % builtins.max(size, 1)


def index_fill(input: Tensor, dim: int, index: Any, value: Any) -> Tensor:
    """``input`` with the slices ``index`` along ``dim`` set to ``value`` (a number or a 0-d
    tensor, which then gets the gradient of the filled entries)."""
    mask = _index_mask(input, dim, index, "index_fill")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but "
                               f"got tensor with {value.ndim} dimension(s).")
        v = value.to(input.dtype) if value.dtype != input.dtype else value
    else:
        v = _wrap(xp.asarray(value).astype(input.dtype))
    return where(mask, v, input)


def put(input: Tensor, index: Any, source: Any, accumulate: bool = False) -> Tensor:
    """``input`` with its flattened entries at ``index`` set to (or, with ``accumulate``,
    increased by) the flattened ``source``."""
    idx = xp.asarray(_data(index)).reshape(-1)
    src = _tensor(source)
    if idx.dtype.kind not in "iu":
        raise IndexError(f"put_(): Expected a long tensor for index, but got {idx.dtype}")
    if src.numel() != idx.size:
        raise RuntimeError(f"put_(): Expected source and index to have the same number of "
                           f"elements, but got source.numel() = {src.numel()}, "
                           f"index.numel() = {idx.size}")
    idx = _wrapped_index("put_", idx, 0, input.numel())
    flat = input.reshape(-1).index_put((_wrap(idx),), src.reshape(-1), accumulate)
    return flat.reshape(input.shape)


def poisson(input: Tensor, generator: Any = None) -> Tensor:
    """Poisson samples with the rates in ``input`` (same dtype; no gradient)."""
    rates = input._array
    if (rates < 0).any() or xp.isnan(rates).any():
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    return _wrap(_random.rng(generator).poisson(rates).astype(rates.dtype))


# ---- complex parts (the fft results) -------------------------------------------------------
def real(input: Tensor) -> Tensor:
    """Re z (the tensor itself when it is real, as PyTorch)."""
    if input.dtype.kind != "c":
        return input
    return apply(FT.Real, input)


def imag(input: Tensor) -> Tensor:
    """Im z (an error for a real tensor, as PyTorch)."""
    if input.dtype.kind != "c":
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return apply(FT.Imag, input)


def conj(input: Tensor) -> Tensor:
    """z̄ (the tensor itself when it is real, as PyTorch)."""
    return apply(FT.Conj, input) if input.dtype.kind == "c" else input


def is_complex(input: Tensor) -> bool:
    """True for a complex dtype."""
    return input.dtype.kind == "c"


# ---- Tensor methods and torch.* exports ----------------------------------------------------
def _as_property(fn: Any) -> property:
    return property(fn, doc=fn.__doc__)


def _nbytes(self: Tensor) -> int:
    """numel · itemsize."""
    return int(self._array.nbytes)


def _itemsize(self: Tensor) -> int:
    """The size of one element in bytes."""
    return int(self._array.itemsize)


def _softmax(self: Tensor, dim: int, dtype: Any = None) -> Tensor:
    from chainrule.nn._functional.activation import softmax as f

    return f(self, dim, dtype=dtype)


def _log_softmax(self: Tensor, dim: int, dtype: Any = None) -> Tensor:
    from chainrule.nn._functional.activation import log_softmax as f

    return f(self, dim, dtype=dtype)


_core_sort = Tensor.sort


def _sort(self: Tensor, dim: int = -1, descending: bool = False, *,
          stable: bool = False) -> MinMax:
    """Sorted values and their indices along ``dim`` (always a stable sort here, so
    ``stable=True`` is what every call gets)."""
    return _core_sort(self, dim, descending)


def _inplace(fn: Any, name: str) -> Any:
    """``x.f_(...)``: ``f(x, ...)`` written into x, as the core in-place ops do
    (``Tensor._inplace``): recorded on a copy of x's current value, then committed into x's
    storage (version counter, views and creator updated). A result of another dtype kind (a
    float result into an integer tensor) is refused, as PyTorch does."""

    def method(self: Tensor, *args: Any, **kw: Any) -> Tensor:
        recording = _GradMode.enabled and (self.requires_grad or builtins.any(
            isinstance(a, Tensor) and a.requires_grad for a in args))
        if recording:
            self._check_inplace(name)
        out = fn(self._snapshot(True) if recording else self, *args, **kw)
        if out.dtype != self.dtype and out.dtype.kind != self.dtype.kind:
            raise RuntimeError(f"{name}: result type {out.dtype} can't be cast to the desired "
                               f"output type {self.dtype}")
        if out.dtype != self.dtype:
            out = out.to(self.dtype)
        if recording:
            return self._commit(out)
        self._write(out._array)
        return self

    method.__name__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``."
    return method


_INPLACE = {
    "atan2_": atan2, "arctan2_": atan2, "hypot_": hypot, "xlogy_": xlogy, "copysign_": copysign,
    "heaviside_": heaviside, "sinc_": sinc, "exp2_": exp2, "erf_": erf, "erfc_": erfc,
    "erfinv_": erfinv, "lgamma_": lgamma, "digamma_": digamma,
    "polygamma_": lambda self, n: polygamma(n, self), "i0_": i0, "logit_": logit,
    "bitwise_and_": bitwise_and, "bitwise_or_": bitwise_or, "bitwise_xor_": bitwise_xor,
    "bitwise_not_": bitwise_not, "logical_xor_": logical_xor, "index_fill_": index_fill,
    "put_": put,
}


# The Tensor methods this module adds (and the few core ones it extends: ``sort`` takes
# ``stable=``, ``softmax``/``log_softmax`` take ``dtype=``), attached once below.
TENSOR_METHODS: dict[str, Any] = {
    "atan2": atan2, "arctan2": atan2, "hypot": hypot, "logaddexp": logaddexp,
    "logaddexp2": logaddexp2, "xlogy": xlogy, "copysign": copysign, "heaviside": heaviside,
    "sinc": sinc, "exp2": exp2, "erf": erf, "erfc": erfc, "erfinv": erfinv, "lgamma": lgamma,
    "digamma": digamma, "polygamma": lambda self, n: polygamma(n, self), "i0": i0,
    "logit": logit, "addcmul": addcmul, "addcdiv": addcdiv, "bitwise_and": bitwise_and,
    "bitwise_or": bitwise_or, "bitwise_xor": bitwise_xor, "bitwise_not": bitwise_not,
    "bitwise_left_shift": bitwise_left_shift, "bitwise_right_shift": bitwise_right_shift,
    "logical_xor": logical_xor,
    "median": median, "nanmedian": nanmedian, "kthvalue": kthvalue, "mode": mode,
    "cummax": cummax, "cummin": cummin, "logcumsumexp": logcumsumexp, "quantile": quantile,
    "nanquantile": nanquantile, "aminmax": aminmax, "nanmean": nanmean,
    "diff": diff, "cross": cross, "kron": kron, "tensor_split": tensor_split,
    "unique_consecutive": unique_consecutive, "index_fill": index_fill,
    "put": put,
    "nbytes": _as_property(_nbytes), "itemsize": _as_property(_itemsize),
    "sort": _sort, "softmax": _softmax, "log_softmax": _log_softmax,
    "real": _as_property(real), "imag": _as_property(imag), "is_complex": is_complex,
    "conj": conj,
    **{name: _inplace(fn, name) for name, fn in _INPLACE.items()},
}

for _name, _fn in TENSOR_METHODS.items():
    if not isinstance(_fn, property):
        _fn = _accept_numpy_spellings(_fn) if "dim" in getattr(
            getattr(_fn, "__code__", None), "co_varnames", ()) else _fn
    setattr(Tensor, _name, _fn)
del _name, _fn

_MATMUL_PRECISION = {"value": "highest"}


def set_float32_matmul_precision(precision: str) -> None:
    """``torch.set_float32_matmul_precision``: recorded only. PyTorch may then use TF32 or
    bfloat16 passes on GPUs; chainrule's float32 products are always full float32 (NumPy's
    BLAS), which is what "highest" means."""
    if precision not in ("highest", "high", "medium"):
        import warnings

        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "set_float32_matmul_precision call has no effect.", UserWarning,
                      stacklevel=2)
        return
    _MATMUL_PRECISION["value"] = precision


def get_float32_matmul_precision() -> str:
    """The value last given to :func:`set_float32_matmul_precision` (default "highest")."""
    return _MATMUL_PRECISION["value"]


# the ``torch.*`` functions defined here (exported by chainrule/__init__.py)
TORCH_FUNCTIONS: dict[str, Any] = {
    "atan2": atan2, "arctan2": atan2, "hypot": hypot, "logaddexp": logaddexp,
    "logaddexp2": logaddexp2, "xlogy": xlogy, "copysign": copysign, "heaviside": heaviside,
    "sinc": sinc, "exp2": exp2, "erf": erf, "erfc": erfc, "erfinv": erfinv, "lgamma": lgamma,
    "digamma": digamma, "polygamma": polygamma, "i0": i0, "logit": logit, "addcmul": addcmul,
    "addcdiv": addcdiv, "bitwise_and": bitwise_and, "bitwise_or": bitwise_or,
    "bitwise_xor": bitwise_xor, "bitwise_not": bitwise_not,
    "bitwise_left_shift": bitwise_left_shift, "bitwise_right_shift": bitwise_right_shift,
    "logical_xor": logical_xor, "median": median, "nanmedian": nanmedian,
    "kthvalue": kthvalue, "mode": mode, "cummax": cummax, "cummin": cummin,
    "logcumsumexp": logcumsumexp, "quantile": quantile, "nanquantile": nanquantile,
    "std_mean": std_mean, "var_mean": var_mean, "aminmax": aminmax, "nanmean": nanmean,
    "diff": diff, "cross": cross, "kron": kron, "block_diag": block_diag,
    "cartesian_prod": cartesian_prod, "combinations": combinations, "meshgrid": meshgrid,
    "tensor_split": tensor_split, "broadcast_shapes": broadcast_shapes,
    "broadcast_tensors": broadcast_tensors, "broadcast_to": broadcast_to,
    "atleast_1d": atleast_1d, "atleast_2d": atleast_2d, "atleast_3d": atleast_3d,
    "unique_consecutive": unique_consecutive, "index_fill": index_fill, "put": put,
    "poisson": poisson, "real": real, "imag": imag, "is_complex": is_complex,
    "conj": conj, "set_float32_matmul_precision": set_float32_matmul_precision,
    "get_float32_matmul_precision": get_float32_matmul_precision,
}
