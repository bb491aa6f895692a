"""Elementwise primitives: arithmetic, transcendental functions, activations' building blocks.

Each class holds the forward (on arrays) and the backward (on Tensors, so it is itself
differentiable). Broadcasting is undone by the engine, so a backward may return a gradient of
the broadcast shape. ``x, y`` are the inputs and ``g`` the upstream gradient.

Complex inputs follow PyTorch's convention (see :mod:`chainrule.ops.complex`): a holomorphic
f has dz = g · conj(f'(z)). The one derivative of each op serves both: the derivative factor
is conjugated when the gradient is complex (a complex gradient means a complex output), a
dtype test that leaves real data as it was.
"""

from __future__ import annotations

import warnings
from typing import Any

from chainrule import _jit
from chainrule.autograd.engine import Function
from chainrule.autograd.function import ARRAYS
from chainrule.backend import default_dtype, float64, xp, zeros_view
from chainrule.ops.complex import Real, conj

complex128 = xp.dtype(xp.complex128)


def _wide(v: Any) -> bool:
    """Whether ``v`` has a 64-bit float or 128-bit complex dtype (identity tests: a dtype
    compares equal to None, which NumPy reads as float64)."""
    d = getattr(v, "dtype", None)
    return d is float64 or d is complex128


def _fix_dtype(out: Any, x: Any, y: Any) -> Any:
    """Undo NumPy's promotion of integer (or mixed int/float32) results to float64, and of
    integer-with-Python-complex results to complex128.

    PyTorch gives the default float dtype when no operand is float64 (``int_tensor / 2``,
    ``int_tensor * 0.5``, ``int64 + float32``), and its complex counterpart when no operand is
    float64 or complex128 (``int_tensor * 1j``); NumPy gives float64 and complex128.
    """
    if (
        out.dtype is float64
        and getattr(x, "dtype", None) is not float64
        and getattr(y, "dtype", None) is not float64
    ):
        return out.astype(default_dtype())
    if out.dtype is complex128 and not (_wide(x) or _wide(y)):
        return out.astype(xp.complex128 if default_dtype() is float64 else xp.complex64)
    return out


def _float(out: Any, x: Any) -> Any:
    """The result of a float function of ``x``: an integer ``x`` gives the default float dtype
    (PyTorch), not NumPy's float64."""
    if out.dtype is float64 and x.dtype is not float64:
        return out.astype(default_dtype())
    return out


_CONSTANTS = (xp.ndarray, xp.generic, int, float, complex, type(None))


def _arr(v: Any) -> Any:
    """The array of an op input: a Tensor's ``._array``; constants (arrays, NumPy and Python
    scalars) as they are. NumPy arrays and scalars have a ``data`` attribute too (a buffer),
    hence the test for constants rather than for a ``data`` attribute; ops never import the
    Tensor class."""
    return v if isinstance(v, _CONSTANTS) else v._array


def _cx(g: Any) -> bool:
    """Whether the gradient ``g`` is complex (then the derivative factors are conjugated)."""
    return g.dtype.kind == "c"


def times_conj(g: Any, d: Any, F: Any) -> Any:
    """g · d̄ for the derivative factor d of a holomorphic function (g · d for real data)."""
    return g * (conj(d, F) if g.dtype.kind == "c" else d)


def over_conj(g: Any, d: Any, F: Any) -> Any:
    """g / d̄ (g / d for real data)."""
    return g / (conj(d, F) if g.dtype.kind == "c" else d)


def _no_complex(x: Any, message: str) -> None:
    """PyTorch's refusal of an op that needs an order (clamp, max, floor ...) on complex data."""
    if x.dtype.kind == "c":
        raise NotImplementedError(message)


def _mask(cond: Any, like: Any) -> Any:
    """A boolean array turned into a 0/1 array of ``like``'s dtype (a constant for the graph)."""
    return cond.astype(like.dtype)


class Add(Function):
    """out = x + y;  dx = g, dy = g."""

    node_name = "AddBackward0"
    forward_ufunc = xp.add  # (the recorder's direct call; see Function.forward_ufunc)
    forward_fix = staticmethod(_fix_dtype)
    saves = ()

    def forward(self, x: Any, y: Any) -> Any:
        out = x + y
        return out if out.dtype is not float64 and out.dtype is not complex128 else \
            _fix_dtype(out, x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        return g, g


class Sub(Function):
    """out = x - y;  dx = g, dy = -g."""

    node_name = "SubBackward0"
    forward_ufunc = xp.subtract  # (the recorder's direct call; see Function.forward_ufunc)
    forward_fix = staticmethod(_fix_dtype)
    saves = ()

    def forward(self, x: Any, y: Any) -> Any:
        out = x - y
        return out if out.dtype is not float64 and out.dtype is not complex128 else \
            _fix_dtype(out, x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        return g, (-g if self.needs[1] else None)


class Mul(Function):
    """out = x * y;  dx = g ȳ, dy = g x̄ (the bars only for complex data)."""

    node_name = "MulBackward0"
    forward_ufunc = xp.multiply  # (the recorder's direct call; see Function.forward_ufunc)
    forward_fix = staticmethod(_fix_dtype)
    saves = ("x for dy", "y for dx")

    def forward(self, x: Any, y: Any) -> Any:
        out = x * y
        return out if out.dtype is not float64 and out.dtype is not complex128 else \
            _fix_dtype(out, x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        x, y = F.inputs(self)
        if g.dtype.kind == "c":  # (inline: the hottest ops)
            x, y = conj(x, F), conj(y, F)
        return (g * y if self.needs[0] else None), (g * x if self.needs[1] else None)


class Div(Function):
    """out = x / y;  dx = g / ȳ, dy = -g x̄ / ȳ² (the bars only for complex data)."""

    node_name = "DivBackward0"
    forward_ufunc = xp.true_divide  # (the recorder's direct call; see Function.forward_ufunc)
    forward_fix = staticmethod(_fix_dtype)
    saves = ("x for dy", "y")

    def forward(self, x: Any, y: Any) -> Any:
        out = x / y
        return out if out.dtype is not float64 and out.dtype is not complex128 else \
            _fix_dtype(out, x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        x, y = F.inputs(self)
        if g.dtype.kind == "c":  # (inline: the hottest ops)
            x, y = conj(x, F), conj(y, F)
        gx = g / y if self.needs[0] else None
        gy = -(g * x) / (y * y) if self.needs[1] else None
        return gx, gy


class Neg(Function):
    """out = -x;  dx = -g."""

    node_name = "NegBackward0"
    forward_ufunc = xp.negative  # (-x keeps the dtype: no fix)
    saves = ()
    grads_fit = True  # (elementwise, one input: see Function.grads_fit)

    def forward(self, x: Any) -> Any:
        return -x

    def vjp(self, g: Any, F: Any) -> tuple:
        return (-g,)


class PowScalar(Function):
    """out = x ** p for a constant p;  dx = g conj(p x^(p-1))."""

    node_name = "PowBackward0"
    saves = ("x",)

    def forward(self, x: Any, p: float) -> Any:
        out = x**p
        if out.dtype != x.dtype and x.dtype.kind == "f":
            out = out.astype(x.dtype)
        return _fix_dtype(out, x, None)

    def vjp(self, g: Any, F: Any) -> tuple:
        x, p = F.inputs(self)
        if p == 0:
            return g * 0.0, None
        if p == 1:
            return g, None
        if _cx(g):  # (the conjugate of the power, not a power of x̄: they differ on the cut)
            return g * conj(x ** (p - 1) * p if p != 2 else x * 2.0, F), None
        if p == 2:
            return g * (x * 2.0), None
        return g * (x ** (p - 1) * p), None


class Pow(Function):
    """out = x ** y;  dx = g conj(y x^(y-1)) (0 where y = 0), dy = g conj(out log x) (0 where
    x = 0 and Re y >= 0)."""

    node_name = "PowBackward1"
    saves = ("x", "y")

    def forward(self, x: Any, y: Any) -> Any:
        return _fix_dtype(xp.power(x, y), x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        x, y = F.inputs(self)
        cx = _cx(g)
        gx = gy = None
        if self.needs[0]:
            gx = g * conj(y * x ** (y - 1), F) if cx else g * y * x ** (y - 1)
            y0 = _arr(self.inputs[1]) == 0
            if xp.any(y0):  # d/dx x⁰ = 0, at x = 0 too (where y x^(y-1) is 0·inf), as PyTorch
                gx = F.where(y0, 0.0, gx)
        if self.needs[1]:
            zero = (xp.asarray(_arr(self.inputs[0])) == 0) & (xp.real(_arr(self.inputs[1])) >= 0)
            # log x with x = 1 where x = 0 and y >= 0 (the limit of x^y log x there is 0)
            safe_x = x + _mask(zero, g) if zero.any() else x
            # (a constant x, e.g. a negative base of ``c ** y``, has a constant log)
            log_x = F.log(safe_x) if self.needs[0] else xp.log(_arr(safe_x))
            gy = g * conj((x**y) * log_x, F) if cx else g * (x**y) * log_x
        return gx, gy


class RPowScalar(Function):
    """out = c ** y for a constant c > 0;  dy = g conj(out) log c."""

    saves = ("out",)

    def forward(self, c: float, y: Any) -> Any:
        return _fix_dtype(xp.power(c, y), None, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        c = self.inputs[0]
        return None, g * conj(F.output(self), F) * float(xp.log(c))


class _FloatUnary(Function):
    """A one-input op whose forward is a NumPy ufunc with a float result (ints give the
    default float dtype, as PyTorch)."""

    saves = ("x",)
    grads_fit = True  # (elementwise, one input: see Function.grads_fit)

    ufunc: Any = None

    def forward(self, x: Any) -> Any:
        out = self.ufunc(x)
        return out if out.dtype is not float64 else _float(out, x)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # the recorder calls the ufunc itself when ``forward`` is this one
        if cls.forward is _FloatUnary.forward and cls.ufunc is not None:
            cls.forward_ufunc = cls.ufunc
            cls.forward_fix = staticmethod(_float)


class Exp(_FloatUnary):
    """out = eˣ;  dx = g conj(out)."""

    node_name = "ExpBackward0"
    saves = ("out",)
    ufunc = staticmethod(xp.exp)

    def vjp(self, g: Any, F: Any) -> tuple:
        out = F.output(self)
        return (times_conj(g, out, F),)


class Log(_FloatUnary):
    """out = ln x;  dx = g / x̄."""

    node_name = "LogBackward0"
    saves = ("x",)
    ufunc = staticmethod(xp.log)

    def vjp(self, g: Any, F: Any) -> tuple:
        x = F.inputs(self)[0]
        return (over_conj(g, x, F),)


class Log1p(_FloatUnary):
    """out = ln(1 + x);  dx = g / conj(1 + x)."""

    node_name = "Log1PBackward0"
    saves = ("x",)
    ufunc = staticmethod(xp.log1p)

    def vjp(self, g: Any, F: Any) -> tuple:
        d = F.inputs(self)[0] + 1.0
        return (over_conj(g, d, F),)


class Expm1(_FloatUnary):
    """out = eˣ - 1;  dx = g conj(out + 1)."""

    node_name = "Expm1Backward0"
    saves = ("out",)
    ufunc = staticmethod(xp.expm1)

    def vjp(self, g: Any, F: Any) -> tuple:
        d = F.output(self) + 1.0
        return (times_conj(g, d, F),)


class Sqrt(_FloatUnary):
    """out = √x;  dx = g / conj(2 out)."""

    node_name = "SqrtBackward0"
    saves = ("out",)
    ufunc = staticmethod(xp.sqrt)

    def vjp(self, g: Any, F: Any) -> tuple:
        d = F.output(self) * 2.0
        return (over_conj(g, d, F),)


class Rsqrt(Function):
    """out = 1/√x;  dx = -g conj(out³) / 2."""

    node_name = "RsqrtBackward0"
    saves = ("out",)

    def forward(self, x: Any) -> Any:
        return _float(1.0 / xp.sqrt(x), x)

    def vjp(self, g: Any, F: Any) -> tuple:
        out = F.output(self)
        d = out * out * out
        return (times_conj(g, d, F) * -0.5,)


class Reciprocal(Function):
    """out = 1/x;  dx = -g conj(out²)."""

    node_name = "ReciprocalBackward0"
    saves = ("out",)

    def forward(self, x: Any) -> Any:
        return _fix_dtype(1.0 / x, x, None)

    def vjp(self, g: Any, F: Any) -> tuple:
        out = F.output(self)
        d = out * out
        return (-times_conj(g, d, F),)


class Abs(Function):
    """out = |x|;  dx = g sign(x) (0 at x = 0, as PyTorch); for complex z, dz = g z/|z| (0 at
    z = 0)."""

    node_name = "AbsBackward0"
    saves = ("x",)

    def forward(self, x: Any) -> Any:
        return xp.abs(x)

    def vjp(self, g: Any, F: Any) -> tuple:
        x = self.inputs[0]._array
        if x.dtype.kind != "c" or F is ARRAYS:
            # sign: a constant (piecewise for real x); NumPy's sign of a complex z is z/|z|
            return (g * xp.sign(x),)
        # create_graph on complex data: z/|z| is not locally constant, so record it
        (z,) = F.inputs(self)
        zero = x == 0
        mag = abs(z)
        return (g * (z / (F.where(zero, 1.0, mag) if zero.any() else mag)),)


class Sin(_FloatUnary):
    """out = sin x;  dx = g conj(cos x)."""

    node_name = "SinBackward0"
    saves = ("x",)
    ufunc = staticmethod(xp.sin)

    def vjp(self, g: Any, F: Any) -> tuple:
        d = F.cos(F.inputs(self)[0])
        return (times_conj(g, d, F),)


class Cos(_FloatUnary):
    """out = cos x;  dx = -g conj(sin x)."""

    node_name = "CosBackward0"
    saves = ("x",)
    ufunc = staticmethod(xp.cos)

    def vjp(self, g: Any, F: Any) -> tuple:
        d = F.sin(F.inputs(self)[0])
        return (-times_conj(g, d, F),)


class Tanh(_FloatUnary):
    """out = tanh x;  dx = g conj(1 - out²)."""

    node_name = "TanhBackward0"
    saves = ("out",)
    ufunc = staticmethod(xp.tanh)

    def vjp(self, g: Any, F: Any) -> tuple:
        out = F.output(self)
        d = 1.0 - out * out
        return (times_conj(g, d, F),)


_expit: Any = None


def stable_sigmoid(x: Any) -> Any:
    """σ(x) = 1/(1+e⁻ˣ) without overflow and with full relative precision for x ≪ 0.

    SciPy's ``expit`` is one ufunc (20x faster than a NumPy composite on small arrays, 2.5x on
    large); it is imported on first use so that ``import chainrule`` does not pay for SciPy.
    """
    global _expit
    if x.dtype.kind == "c":  # (SciPy's expit is real only; complex z has no overflow issue
        return 1.0 / (1.0 + xp.exp(-x))  # that PyTorch guards against either)
    if _expit is None:
        from scipy.special import expit as _expit
    out = _expit(x)
    return out if out.dtype is not float64 else _float(out, x)


class Sigmoid(Function):
    """out = σ(x) = 1/(1+e⁻ˣ);  dx = g conj(out (1 - out))."""

    node_name = "SigmoidBackward0"
    saves = ("out",)
    grads_fit = True  # (elementwise, one input: see Function.grads_fit)

    def forward(self, x: Any) -> Any:
        return stable_sigmoid(x)

    def vjp(self, g: Any, F: Any) -> tuple:
        out = F.output(self)
        d = out * (1.0 - out)
        return (times_conj(g, d, F),)


class Relu(Function):
    """out = max(x, 0);  dx = g [x > 0] (the derivative at 0 is taken as 0, as in PyTorch)."""

    node_name = "ReluBackward0"
    saves = ("out",)
    grads_fit = True  # (elementwise, one input: see Function.grads_fit)

    def forward(self, x: Any) -> Any:
        _no_complex(x, "clamp is not supported for complex types")
        # maximum against an array of zeros is the fastest form (x * (x > 0) takes 1.5-2x
        # longer, np.maximum(x, 0) more; DESIGN.md §5), and gives 0, not nan, at -inf
        return xp.maximum(x, zeros_view(x))

    def backward(self, g: Any) -> tuple:
        return (g * (self.output()._array > 0),)

    def fast_backward(self, g: Any) -> tuple:
        out = self.output()._array
        k = _relu_backward.get() if out.size >= _JIT_MIN else None
        arrays = _jit.flat(g, out) if k else None
        if arrays is None:
            return (g * (out > 0),)
        dx = xp.empty(out.shape, dtype=out.dtype)
        _jit.run(k, (*arrays, dx.reshape(-1)))
        return (dx,)


# compiled loops pay off above this many elements (below, NumPy's call overhead is as small)
_JIT_MIN = 1 << 14


@_jit.kernel(writes=(2,))
def _relu_backward(g: Any, out: Any, dx: Any) -> None:  # pragma: no cover - compiled
    """dx = g [out > 0]: one pass instead of a mask and a product (the product as NumPy's,
    so a non-finite g times 0 stays nan)."""
    for i in range(g.size):
        dx[i] = g[i] * (out[i] > 0)


class Clamp(Function):
    """out = min(max(x, lo), hi);  dx = g [lo <= x <= hi]."""

    node_name = "ClampBackward1"
    saves = ("x",)

    def forward(self, x: Any, lo: Any = None, hi: Any = None) -> Any:
        _no_complex(x, "clamp is not supported for complex types")
        self.lo, self.hi = lo, hi
        lo_d = getattr(lo, "_array", lo)
        hi_d = getattr(hi, "_array", hi)
        out = xp.clip(x, lo_d, hi_d)
        return out.astype(x.dtype, copy=False)

    def vjp(self, g: Any, F: Any) -> tuple:
        x = self.inputs[0]._array
        keep = xp.ones(x.shape, dtype=bool)
        if self.lo is not None:
            keep &= x >= getattr(self.lo, "_array", self.lo)
        if self.hi is not None:
            keep &= x <= getattr(self.hi, "_array", self.hi)
        return (g * _mask(keep, g),)


class ZeroGrad(Function):
    """Piecewise-constant functions (floor, ceil, round, sign): out = f(x), dx = 0."""

    saves = ()

    def forward(self, x: Any, fn: str = "floor", decimals: int = 0) -> Any:
        if x.dtype.kind == "c":
            raise NotImplementedError(_ZERO_GRAD_COMPLEX.get(fn, f"{fn} is not supported for "
                                                                 "complex inputs"))
        if fn == "round":
            return xp.round(x, decimals)
        return getattr(xp, fn)(x)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g * 0.0,)


_ZERO_GRAD_COMPLEX = {
    "sign": "Unlike NumPy, torch.sign is not intended to support complex numbers. Please use "
            "torch.sgn instead.",
}


class _Extremum(Function):
    """max or min of two inputs (``ufunc``); the gradient goes to the winner (the larger one
    when ``greater``), split evenly at ties."""

    saves = ("x", "y")

    ufunc: Any = None
    greater = True

    def forward(self, x: Any, y: Any) -> Any:
        out = self.ufunc(x, y)
        if out.dtype.kind == "c":  # (NumPy orders complex numbers lexicographically)
            raise RuntimeError(f"{self.ufunc.__name__} not implemented for complex tensors.")
        return _fix_dtype(out, x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        return _minmax_vjp(self, g, greater=self.greater)


class Maximum(_Extremum):
    """out = max(x, y);  the gradient goes to the larger input, split evenly at ties."""

    node_name = "MaximumBackward0"
    ufunc = staticmethod(xp.maximum)


class Minimum(_Extremum):
    """out = min(x, y);  the gradient goes to the smaller input, split evenly at ties."""

    node_name = "MinimumBackward0"
    ufunc = staticmethod(xp.minimum)
    greater = False


def _minmax_vjp(fn: Function, g: Any, greater: bool) -> tuple:
    """The gradients of max(x, y) (``greater``) or min(x, y): g to the winner, g/2 to each at
    a tie (the weights are constants: the array pass and create_graph share them)."""
    xd, yd = _arr(fn.inputs[0]), _arr(fn.inputs[1])
    win = (xd > yd) if greater else (xd < yd)
    tie = xd == yd
    wx = _mask(win, g) + 0.5 * _mask(tie, g)
    gx = g * wx if fn.needs[0] else None
    gy = g * (1.0 - wx) if fn.needs[1] else None
    return gx, gy


class Where(Function):
    """out = cond ? x : y;  dx = g [cond], dy = g [¬cond]."""

    node_name = "WhereBackward0"
    # the derivative reads the condition: a condition Tensor changed in place before backward
    # is refused (as in PyTorch), rather than silently routing the gradient by its new values
    saves = ("cond",)

    def forward(self, cond: Any, x: Any, y: Any) -> Any:
        out = xp.where(cond, x, y)
        return _fix_dtype(out, x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        # selected, not multiplied by a 0/1 mask: an inf or NaN gradient in the branch not
        # taken must give 0, not NaN (0 · inf), as in PyTorch (a masked_fill after a log ...)
        c = xp.asarray(_arr(self.inputs[0]), dtype=bool)
        gx = F.where(c, g, 0.0) if self.needs[1] else None
        gy = F.where(c, 0.0, g) if self.needs[2] else None
        return None, gx, gy


class Remainder(Function):
    """out = x mod y (sign of y, Python's rule);  dx = g, dy = -g floor(x / y)."""

    saves = ("x for dy", "y for dy")  # (dx = g reads neither)
    ufunc: Any = xp.remainder

    @staticmethod
    def quotient(x: Any, y: Any) -> Any:
        """The integer quotient q with out = x - q y."""
        return xp.floor_divide(x, y)

    def forward(self, x: Any, y: Any) -> Any:
        return _fix_dtype(self.ufunc(x, y), x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        xd, yd = _arr(self.inputs[0]), _arr(self.inputs[1])
        gy = -(g * self.quotient(xd, yd)) if self.needs[1] else None
        return (g if self.needs[0] else None), gy


class Fmod(Remainder):
    """out = fmod(x, y) (sign of x, C's rule);  dx = g, dy = -g trunc(x / y)."""

    node_name = "FmodBackward0"
    ufunc: Any = xp.fmod

    @staticmethod
    def quotient(x: Any, y: Any) -> Any:
        return xp.trunc(xp.true_divide(x, y))


class RoundedDiv(Function):
    """``div(x, y, rounding_mode=...)``: out = floor(x / y) ('floor', computed as Python's and
    PyTorch's floor division, exact near integers) or trunc(x / y) ('trunc'). Piecewise
    constant, so dx = dy = 0, as PyTorch's gradient."""

    node_name = "DivBackward2"
    saves = ()

    def forward(self, x: Any, y: Any, rounding_mode: str = "floor") -> Any:
        if rounding_mode == "floor":
            return _fix_dtype(xp.floor_divide(x, y), x, y)
        if xp.result_type(x, y).kind in "iub":
            # integer truncation: floor, plus one where the signs differ and y does not divide x
            q = xp.floor_divide(x, y)
            return q + ((xp.remainder(x, y) != 0) & ((xp.asarray(x) < 0) != (xp.asarray(y) < 0)))
        return _fix_dtype(xp.trunc(xp.true_divide(x, y)), x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        zero = g * 0.0
        return (zero if self.needs[0] else None), (zero if self.needs[1] else None)


class Cast(Function):
    """out = x converted to another floating dtype;  dx = g converted back."""

    saves = ()

    def forward(self, x: Any, dtype: Any = None) -> Any:
        self.src = x.dtype
        if x.dtype.kind == "c" and xp.dtype(dtype).kind != "c":
            warnings.warn("Casting complex values to real discards the imaginary part",
                          UserWarning, stacklevel=2)
            return x.real.astype(dtype)
        return x.astype(dtype)

    def vjp(self, g: Any, F: Any) -> tuple:
        if g.dtype.kind == "c" and self.src.kind != "c":  # real -> complex: dx = Re g
            g = F.apply(Real, g)
        return (F.cast(g, self.src),)


class Clone(Function):
    """out = a copy of x;  dx = g."""

    saves = ()

    def forward(self, x: Any) -> Any:
        return x.copy()

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g,)
