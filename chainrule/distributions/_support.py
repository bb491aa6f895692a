"""Constraints and special functions the distributions beyond the first few need:
PyTorch's ``nonnegative``, ``greater_than``, ``interval``, ``integer_interval``,
``nonnegative_integer``, ``one_hot``, ``independent`` constraint objects, and differentiable
``atan`` and the regularised lower incomplete gamma function P(a, x)."""

from __future__ import annotations

from typing import Any

from scipy import special as _sp

from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.distributions.distribution import (
    Constraint,
    positive,
    real,
    real_vector,
    unit_interval,
)
from chainrule.ops.special import Lgamma, Polygamma
from chainrule.tensor import Tensor

__all__ = ["nonnegative", "greater_than", "greater_than_eq", "less_than", "interval",
           "half_open_interval",
           "integer_interval", "nonnegative_integer", "one_hot", "independent", "atan",
           "igamma", "lgamma", "digamma", "xlogy"]


def _float(v: Any) -> float:
    return float(v) if not isinstance(v, Tensor) else v


def _arr(bound: Any) -> Any:
    """A bound as the checks use it: a Tensor bound as its array (checks run on arrays)."""
    return bound.detach().numpy() if isinstance(bound, Tensor) else bound


def _bounded(c: Constraint, lower: Any = None, upper: Any = None) -> Constraint:
    """``c`` with PyTorch's ``lower_bound`` / ``upper_bound`` attributes (what
    ``biject_to`` / ``transform_to`` read)."""
    if lower is not None:
        c.lower_bound = lower
    if upper is not None:
        c.upper_bound = upper
    return c


def greater_than(lo: float) -> Constraint:
    return _bounded(Constraint(f"GreaterThan(lower_bound={_float(lo)})",
                               lambda v: v > _arr(lo)), lo)


def greater_than_eq(lo: float) -> Constraint:
    return _bounded(Constraint(f"GreaterThanEq(lower_bound={_float(lo)})", lambda v: v >= _arr(lo)),
                    lo)


def less_than(hi: float) -> Constraint:
    return _bounded(Constraint(f"LessThan(upper_bound={_float(hi)})", lambda v: v < _arr(hi)),
                    upper=hi)


def interval(lo: float, hi: float) -> Constraint:
    return _bounded(Constraint(f"Interval(lower_bound={_float(lo)}, upper_bound={_float(hi)})",
                               lambda v: (v >= _arr(lo)) & (v <= _arr(hi))), lo, hi)


def half_open_interval(lo: float, hi: float) -> Constraint:
    return _bounded(Constraint(f"HalfOpenInterval(lower_bound={_float(lo)}, "
                               f"upper_bound={_float(hi)})",
                               lambda v: (v >= _arr(lo)) & (v < _arr(hi))), lo, hi)


def open_interval(lo: float, hi: float, name: str) -> Constraint:
    """(lo, hi): the codomain of tanh/sigmoid (PyTorch reprs it as an ``Interval``)."""
    return _bounded(Constraint(name, lambda v: (v > lo) & (v < hi)), lo, hi)


def integer_interval(lo: Any, hi: Any) -> Constraint:
    return Constraint(f"IntegerInterval(lower_bound={lo}, upper_bound={hi})",
                      lambda v: (v % 1 == 0) & (v >= lo) & (v <= hi))


def independent(base: Constraint, n: int) -> Constraint:
    """``base`` on each element, ``n`` rightmost dims forming one event."""
    c = Constraint(f"IndependentConstraint({base}, {n})", base._check,
                   event_dim=base.event_dim + n)
    c.base_constraint, c.reinterpreted_batch_ndims = base, n
    return c


nonnegative = greater_than_eq(0.0)
# the module-level constraints of distribution.py, given their bounds / parts here
positive.lower_bound = 0.0
unit_interval.lower_bound, unit_interval.upper_bound = 0.0, 1.0
real_vector.base_constraint, real_vector.reinterpreted_batch_ndims = real, 1
nonnegative_integer = Constraint("IntegerGreaterThan(lower_bound=0)",
                                 lambda v: (v % 1 == 0) & (v >= 0))
one_hot = Constraint("OneHot()", lambda v: ((v == 0) | (v == 1)).all(-1) & (v.sum(-1) == 1))


def lgamma(x: Tensor) -> Tensor:
    return Lgamma.apply(x)


def digamma(x: Tensor) -> Tensor:
    return Polygamma.apply(x, n=0)


def xlogy(x: Any, y: Tensor) -> Tensor:
    """x log y with 0 where x = 0 (so 0 · log 0 = 0, as torch.xlogy)."""
    prod = x * y.log()
    zero = x == 0
    return prod.masked_fill(zero, 0.0) if isinstance(zero, Tensor) else \
        (prod * 0 if zero else prod)


class Atan(Function):
    """out = atan(x);  dx = g / (1 + x²)."""

    saves = ("x",)

    def forward(self, x: Any) -> Any:
        return xp.arctan(x)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (g / (1 + x * x),)


def atan(x: Tensor) -> Tensor:
    return Atan.apply(x)


class Igamma(Function):
    """out = P(a, x) = γ(a, x)/Γ(a) (torch.special.gammainc);
    dx = g x^(a-1) e^(-x)/Γ(a); the derivative in ``a`` is not implemented (as in PyTorch)."""

    saves = ("a", "x")

    def forward(self, a: Any, x: Any) -> Any:
        return _sp.gammainc(a, x).astype(xp.result_type(a, x), copy=False)

    def vjp(self, g: Any, F: Any) -> tuple:
        a, x = F.inputs(self)
        if self.next[0] is not None:  # the shape parameter asks for a gradient
            raise NotImplementedError("the derivative of igamma with respect to the shape "
                                      "parameter is not implemented")
        dens = F.exp((a - 1) * F.log(x) - x - F.apply(Lgamma, a))
        return (None, g * dens)


def igamma(a: Tensor, x: Tensor) -> Tensor:
    return Igamma.apply(a, x)

