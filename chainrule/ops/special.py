"""Special functions the distributions need: log Γ and the polygamma functions ψ⁽ⁿ⁾
(SciPy's), each differentiable to any order (d ψ⁽ⁿ⁾ = ψ⁽ⁿ⁺¹⁾)."""

from __future__ import annotations

import math
from typing import Any

from scipy import special as _sp

from chainrule.autograd.engine import Function


class Lgamma(Function):
    """out = log |Γ(x)|;  dx = g ψ(x)."""

    saves = ("x",)

    def forward(self, x: Any) -> Any:
        return _sp.gammaln(x).astype(x.dtype, copy=False)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g * F.apply(Polygamma, F.inputs(self)[0], n=0),)


class Polygamma(Function):
    """out = ψ⁽ⁿ⁾(x) (n = 0: digamma, else (-1)ⁿ⁺¹ n! ζ(n+1, x));  dx = g ψ⁽ⁿ⁺¹⁾(x)."""

    saves = ("x",)

    def forward(self, x: Any, n: int = 0) -> Any:
        self.n = n
        if n == 0:
            out = _sp.digamma(x)
        else:  # SciPy's polygamma formula, written with the zeta ufunc so that
            # chainrule.compile sees one ufunc call (scipy.special.polygamma is Python code
            # whose intermediate arrays a capture cannot follow)
            out = _sp.zeta(n + 1, x) * float((-1) ** (n + 1) * math.factorial(n))
        return out.astype(x.dtype, copy=False)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g * F.apply(Polygamma, F.inputs(self)[0], n=self.n + 1),)


class Erf(Function):
    """out = erf(x);  dx = g 2/√π exp(-x²)."""

    saves = ("x",)

    def forward(self, x: Any) -> Any:
        return _sp.erf(x).astype(x.dtype, copy=False)

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (g * (2.0 / math.sqrt(math.pi)) * F.exp(-(x * x)),)


class Erfinv(Function):
    """out = erf⁻¹(x);  dx = g √π/2 exp(out²)."""

    saves = ("out",)

    def forward(self, x: Any) -> Any:
        return _sp.erfinv(x).astype(x.dtype, copy=False)

    def vjp(self, g: Any, F: Any) -> tuple:
        y = F.output(self)
        return (g * (math.sqrt(math.pi) / 2) * F.exp(y * y),)
