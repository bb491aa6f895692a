"""Inverse trigonometric and hyperbolic primitives: asin, acos, atan, sinh, cosh, asinh, acosh,
atanh (``sin``/``cos``/``tan``/``tanh`` live in :mod:`chainrule.ops.elementwise`).

Each derivative is written once with operators, ``**`` and ``F.apply`` only, so the same formula
serves the array pass and the create_graph pass (gradients of gradients). Integer inputs give
the default float dtype, as PyTorch; complex data gets g · conj(f'(z)) (PyTorch's convention,
:mod:`chainrule.ops.complex`).
"""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.ops.elementwise import _FloatUnary, over_conj, times_conj


class Asin(_FloatUnary):
    """out = arcsin x;  dx = g / √(1 - x²)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arcsin)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (times_conj(g, (1.0 - x * x) ** -0.5, F),)


class Acos(_FloatUnary):
    """out = arccos x;  dx = -g / √(1 - x²)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arccos)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (-times_conj(g, (1.0 - x * x) ** -0.5, F),)


class Atan(_FloatUnary):
    """out = arctan x;  dx = g / (1 + x²)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arctan)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (over_conj(g, x * x + 1.0, F),)


class Sinh(_FloatUnary):
    """out = sinh x;  dx = g cosh x."""

    saves = ("x",)
    ufunc = staticmethod(xp.sinh)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (times_conj(g, F.apply(Cosh, F.inputs(self)[0]), F),)


class Cosh(_FloatUnary):
    """out = cosh x;  dx = g sinh x."""

    saves = ("x",)
    ufunc = staticmethod(xp.cosh)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (times_conj(g, F.apply(Sinh, F.inputs(self)[0]), F),)


class Asinh(_FloatUnary):
    """out = arsinh x = ln(x + √(x² + 1));  dx = g / √(x² + 1)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arcsinh)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (times_conj(g, (x * x + 1.0) ** -0.5, F),)


class Acosh(_FloatUnary):
    """out = arcosh x = ln(x + √(x² - 1)) (x ≥ 1);  dx = g / √(x² - 1)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arccosh)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        # (x - 1)(x + 1) rather than x² - 1: no cancellation near x = 1
        return (times_conj(g, ((x - 1.0) * (x + 1.0)) ** -0.5, F),)


class Atanh(_FloatUnary):
    """out = artanh x = ½ ln((1 + x)/(1 - x)) (|x| < 1);  dx = g / (1 - x²)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arctanh)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (over_conj(g, 1.0 - x * x, F),)
