"""Inverse trigonometric and hyperbolic primitives: asin, acos, atan, sinh, cosh, asinh, acosh,
atanh (``sin``/``cos``/``tan``/``tanh`` live in :mod:`chainrule.ops.elementwise`).

Each derivative is written once with operators, ``**`` and ``F.apply`` only, so the same formula
serves the array pass and the create_graph pass (gradients of gradients). Integer inputs give
the default float dtype, as PyTorch.
"""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.ops.elementwise import _FloatUnary


class Asin(_FloatUnary):
    """out = arcsin x;  dx = g / √(1 - x²)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arcsin)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (g * (1.0 - x * x) ** -0.5,)


class Acos(_FloatUnary):
    """out = arccos x;  dx = -g / √(1 - x²)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arccos)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (-(g * (1.0 - x * x) ** -0.5),)


class Atan(_FloatUnary):
    """out = arctan x;  dx = g / (1 + x²)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arctan)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (g / (x * x + 1.0),)


class Sinh(_FloatUnary):
    """out = sinh x;  dx = g cosh x."""

    saves = ("x",)
    ufunc = staticmethod(xp.sinh)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g * F.apply(Cosh, F.inputs(self)[0]),)


class Cosh(_FloatUnary):
    """out = cosh x;  dx = g sinh x."""

    saves = ("x",)
    ufunc = staticmethod(xp.cosh)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g * F.apply(Sinh, F.inputs(self)[0]),)


class Asinh(_FloatUnary):
    """out = arsinh x = ln(x + √(x² + 1));  dx = g / √(x² + 1)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arcsinh)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (g * (x * x + 1.0) ** -0.5,)


class Acosh(_FloatUnary):
    """out = arcosh x = ln(x + √(x² - 1)) (x ≥ 1);  dx = g / √(x² - 1)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arccosh)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        # (x - 1)(x + 1) rather than x² - 1: no cancellation near x = 1
        return (g * ((x - 1.0) * (x + 1.0)) ** -0.5,)


class Atanh(_FloatUnary):
    """out = artanh x = ½ ln((1 + x)/(1 - x)) (|x| < 1);  dx = g / (1 - x²)."""

    saves = ("x",)
    ufunc = staticmethod(xp.arctanh)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (g / (1.0 - x * x),)
