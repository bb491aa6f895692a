"""More elementwise and scan primitives (PyTorch's ``atan2``, ``hypot``, ``logaddexp``, ``sinc``,
``xlogy``, ``copysign``, ``exp2``, the ``torch.special`` functions, ``logcumsumexp``) and the
``EvenlyDistributed`` selector behind the global ``median``.

Each derivative is written once as ``vjp(g, F)`` (docs/ops.md); ``x, y`` are the inputs, ``g`` the
upstream gradient. Masks that decide a branch (x == 0, g > 0) are read from the arrays, so they
are constants of the recorded graph, as in PyTorch's formulas.
"""

from __future__ import annotations

import math
from typing import Any

from scipy import special as _sp

from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.ops.elementwise import _arr, _fix_dtype, _float, _FloatUnary, times_conj

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_LN2 = math.log(2.0)


def _binary_float(out: Any, x: Any, y: Any) -> Any:
    """A float function of two operands: integer operands give the default float dtype."""
    return _fix_dtype(xp.asarray(out), x, y)


class Atan2(Function):
    """out = atan2(y, x);  dy = g x / (x² + y²),  dx = -g y / (x² + y²)."""

    saves = ("y", "x")

    def forward(self, y: Any, x: Any) -> Any:
        return _binary_float(xp.arctan2(y, x), y, x)

    def vjp(self, g: Any, F: Any) -> tuple:
        y, x = F.inputs(self)
        with xp.errstate(divide="ignore", invalid="ignore"):
            r = x * x + y * y
            return g * x / r, -(g * y) / r


class Hypot(Function):
    """out = √(x² + y²);  dx = g x / out,  dy = g y / out."""

    saves = ("x", "y", "out")

    def forward(self, x: Any, y: Any) -> Any:
        return _binary_float(xp.hypot(x, y), x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        x, y = F.inputs(self)
        out = F.output(self)
        with xp.errstate(divide="ignore", invalid="ignore"):
            return g * x / out, g * y / out


class LogAddExp(Function):
    """out = log(eˣ + eʸ);  dx = g / (1 + e^(y-x)),  dy = g / (1 + e^(x-y))."""

    saves = ("x", "y")

    def forward(self, x: Any, y: Any) -> Any:
        with xp.errstate(invalid="ignore"):  # inf - inf inside NumPy: PyTorch is silent
            return _binary_float(xp.logaddexp(x, y), x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        x, y = F.inputs(self)
        with xp.errstate(over="ignore", invalid="ignore"):
            return g / (1.0 + F.exp(y - x)), g / (1.0 + F.exp(x - y))


class LogAddExp2(Function):
    """out = log₂(2ˣ + 2ʸ);  dx = g / (1 + 2^(y-x)),  dy = g / (1 + 2^(x-y))."""

    saves = ("x", "y")

    def forward(self, x: Any, y: Any) -> Any:
        with xp.errstate(invalid="ignore"):
            return _binary_float(xp.logaddexp2(x, y), x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        x, y = F.inputs(self)
        with xp.errstate(over="ignore", invalid="ignore"):
            return g / (1.0 + F.exp((y - x) * _LN2)), g / (1.0 + F.exp((x - y) * _LN2))


class Sinc(_FloatUnary):
    """out = sin(πx) / (πx) (1 at 0);  dx = g (πx cos(πx) - sin(πx)) / (πx²) (0 at x = 0)."""

    saves = ("x",)
    ufunc = staticmethod(xp.sinc)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        zero = xp.asarray(F.array(x) == 0)
        xs = F.where(zero, 1.0, x)  # a safe divisor; the x = 0 entries are replaced below
        px = xs * math.pi
        d = (px * F.cos(px) - F.sin(px)) / (px * xs)
        return (times_conj(g, F.where(zero, 0.0, d), F),)  # (conj: complex z, as torch)


def _zero_where(x: Any, y: Any) -> Any:
    """The entries where x·f(y) is defined as 0: x == 0 and y is not NaN (PyTorch's xlogy)."""
    return (xp.asarray(x) == 0) & ~xp.isnan(y)


class _XLog(Function):
    """out = x·log(inner(y)) (0 where x = 0 and y is not NaN), for ``log`` = log(inner(·)):
    dx = cls(g, y) (the op itself on g), zeroed where x = 0 and y <= ``edge`` (where the log
    is -∞ or NaN);  dy = g x / inner(y)."""

    saves = ("x", "y")
    log: Any = None  # y -> log(inner(y)), on arrays
    edge = 0.0

    @staticmethod
    def inner(y: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: Any, y: Any) -> Any:
        with xp.errstate(divide="ignore", invalid="ignore"):
            out = xp.where(_zero_where(x, y), 0.0, x * self.log(y))
        return _binary_float(out.astype(xp.result_type(x, y, 1.0)), x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        x, y = F.inputs(self)
        xa, ya = xp.asarray(_arr(self.inputs[0])), xp.asarray(_arr(self.inputs[1]))
        gx = gy = None
        with xp.errstate(divide="ignore", invalid="ignore"):
            if self.needs[0]:
                gx = F.where((xa == 0) & (ya <= self.edge), 0.0, F.apply(type(self), g, y))
            if self.needs[1]:
                gy = g * x / self.inner(y)
        return gx, gy


class Xlogy(_XLog):
    """out = x log y (0 where x = 0 and y is not NaN);  dx = xlogy(g, y), 0 where x = 0 and
    y <= 0 (PyTorch's rule);  dy = g x / y."""

    log = staticmethod(xp.log)
    edge = 0.0

    @staticmethod
    def inner(y: Any) -> Any:
        return y


class Xlog1py(_XLog):
    """out = x log(1 + y) (0 where x = 0 and y is not NaN);  dx = xlog1py(g, y), 0 where x = 0
    and y <= -1;  dy = g x / (1 + y)."""

    log = staticmethod(xp.log1p)
    edge = -1.0

    @staticmethod
    def inner(y: Any) -> Any:
        return 1.0 + y


class Copysign(Function):
    """out = |x| with the sign of y;  dx = g out / x (0 at x = 0),  dy = 0."""

    saves = ("x", "out")  # (the sign of x is read in vjp)

    def forward(self, x: Any, y: Any) -> Any:
        return _binary_float(xp.copysign(x, y), x, y)

    def vjp(self, g: Any, F: Any) -> tuple:
        xa = xp.asarray(_arr(self.inputs[0]))
        ratio = xp.sign(F.array(F.output(self))) * xp.sign(xa)  # ±1, 0 at x = 0
        gy = g * 0.0 if self.needs[1] else None  # zeros, as PyTorch (not "unused")
        return g * ratio.astype(xp.result_type(ratio, 1.0)), gy


class Exp2(Function):
    """out = 2ˣ;  dx = g out ln 2."""

    saves = ("out",)

    def forward(self, x: Any) -> Any:
        with xp.errstate(over="ignore"):  # 2^x = inf past the range, silently as PyTorch
            return _float(xp.exp2(x), x)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (times_conj(g, F.output(self), F) * _LN2,)


class Erfc(_FloatUnary):
    """out = erfc(x) = 1 - erf(x) (accurate in the tail);  dx = -g 2/√π exp(-x²)."""

    saves = ("x",)
    ufunc = staticmethod(_sp.erfc)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (g * (-2.0 / _SQRT_PI) * F.exp(-(x * x)),)


class I0(_FloatUnary):
    """out = I₀(x), the modified Bessel function of order 0;  dx = g I₁(x)."""

    saves = ("x",)
    ufunc = staticmethod(_sp.i0)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (g * F.apply(I1, x),)


class I1(_FloatUnary):
    """out = I₁(x);  dx = g (I₀(x) - I₁(x)/x) (g/2 at x = 0)."""

    saves = ("x", "out")
    ufunc = staticmethod(_sp.i1)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        zero = xp.asarray(F.array(x) == 0)
        xs = F.where(zero, 1.0, x)
        d = F.apply(I0, x) - F.output(self) / xs
        return (g * F.where(zero, 0.5, d),)


class Ndtri(_FloatUnary):
    """out = Φ⁻¹(p), the standard normal quantile;  dp = g √(2π) exp(out² / 2)."""

    saves = ("out",)
    ufunc = staticmethod(_sp.ndtri)

    def vjp(self, g: Any, F: Any) -> tuple:
        y = F.output(self)
        return (g * _SQRT_2PI * F.exp(y * y * 0.5),)


class LogNdtr(_FloatUnary):
    """out = log Φ(x) (stable in both tails);  dx = g exp(-x²/2 - out) / √(2π)."""

    saves = ("x", "out")
    ufunc = staticmethod(_sp.log_ndtr)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (g * F.exp(-(x * x) * 0.5 - F.output(self)) / _SQRT_2PI,)


class Entr(Function):
    """out = -x log x (0 at x = 0, -∞ for x < 0);  dx = -g (log x + 1)."""

    saves = ("x",)

    def forward(self, x: Any) -> Any:
        x = xp.asarray(x)
        with xp.errstate(divide="ignore", invalid="ignore"):
            out = xp.where(x > 0, -x * xp.log(xp.where(x > 0, x, 1)), 0.0)
        out = xp.where(x < 0, -xp.inf, out)
        out = xp.where(xp.isnan(x), xp.nan, out)
        return _float(out.astype(xp.result_type(x, 1.0)), x)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        with xp.errstate(divide="ignore", invalid="ignore"):
            return (-g * (F.log(x) + 1.0),)


class LogCumSumExp(Function):
    """out_i = log Σ_{j<=i} exp(x_j) along ``dim`` (a running logaddexp: exact at any range);
    dx_j = Σ_{i>=j} g_i exp(x_j - out_i).

    The array pass takes the gradient in log space as PyTorch does, split by the sign of g so
    that no exponential can overflow: dx = exp(x + rlcse(log g⁺ - out)) - exp(x + rlcse(log g⁻ -
    out)), with rlcse the reversed logcumsumexp. Under create_graph the -∞ of log 0 would make
    that formula's own derivative NaN, so ``backward`` uses the shifted sum instead:
    dx = exp(x - c) · revcumsum(g exp(c - out)), c the slice's last (largest) output (exact for
    any constant c; it overflows only where the outputs of one slice span more than ~700).
    """

    saves = ("x", "out")

    def forward(self, x: Any, dim: int = 0) -> Any:
        self.dim = dim
        x = _float(x.astype(xp.result_type(x, 1.0), copy=False), x)
        if x.size == 0:
            return x.copy()
        with xp.errstate(invalid="ignore"):
            return xp.logaddexp.accumulate(x, axis=dim)

    def _reversed(self, v: Any, F: Any) -> Any:
        from chainrule.ops.shape import Flip

        d = (self.dim,)
        return F.apply(Flip, F.apply(LogCumSumExp, F.apply(Flip, v, dims=d), dim=self.dim),
                       dims=d)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        out = F.output(self)
        ga = xp.asarray(F.array(g))
        parts = []
        with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for mask, sgn in ((ga > 0, 1.0), (ga < 0, -1.0)):
                logg = F.where(mask, F.log(F.where(mask, g * sgn, 1.0)), -xp.inf)
                parts.append(F.exp(x + self._reversed(logg - out, F)))
        return (parts[0] - parts[1],)

    def backward(self, g: Any) -> tuple:
        (x,) = self.inputs
        out = self.output()
        d = self.dim
        c = xp.take(out._array, [-1], axis=d)  # a constant shift (see the docstring)
        e = g * (c - out).exp()
        return ((x - c).exp() * e.flip(d).cumsum(d).flip(d),)


class EvenlyDistributed(Function):
    """out = a value selected from x (the global median); dx = g w, with w spread evenly over
    the entries equal to that value (over the NaNs when it is NaN), as PyTorch's median()."""

    saves = ()

    def forward(self, x: Any, value: Any = None) -> Any:
        hit = xp.isnan(x) if xp.isnan(value) else (x == value)
        self.w = hit / hit.sum()
        return xp.asarray(value, dtype=x.dtype)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g * self.w.astype(xp.result_type(self.w, 1.0)),)
