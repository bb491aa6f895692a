"""Linear-algebra primitives the distributions need: Cholesky factor and triangular solve
(batched over leading dims), with PyTorch's derivatives."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.ops.shape import Tri


class Cholesky(Function):
    """L = cholesky(A) (lower, A = L Lᵀ);  dA = L⁻ᵀ Φ L⁻¹ with T = tril(Lᵀ dL) and
    Φ = ½ (T + tril(T, -1)ᵀ) (PyTorch's cholesky_backward)."""

    saves = ("out",)

    def forward(self, a: Any) -> Any:
        try:
            return xp.linalg.cholesky(a)
        except xp.linalg.LinAlgError:
            raise RuntimeError("linalg.cholesky: The factorization could not be completed "
                               "because the input is not positive-definite.") from None

    def vjp(self, g: Any, F: Any) -> tuple:
        Lt = F.mT(F.output(self))
        t = F.apply(Tri, Lt @ g)
        phi = 0.5 * (t + F.mT(F.apply(Tri, t, k=-1)))
        x = F.apply(SolveTriangular, Lt, phi, upper=True)  # L⁻ᵀ Φ
        return (F.mT(F.apply(SolveTriangular, Lt, F.mT(x), upper=True)),)  # (L⁻ᵀ xᵀ)ᵀ = x L⁻¹


class SolveTriangular(Function):
    """X = A⁻¹ B for triangular A (``upper`` says which triangle is read);
    dB = A⁻ᵀ G, dA = -(dB Xᵀ) restricted to A's triangle."""

    saves = ("a", "out")

    def forward(self, a: Any, b: Any, upper: bool = False) -> Any:
        self.upper = upper
        tri = xp.triu(a) if upper else xp.tril(a)
        return xp.linalg.solve(tri, b)

    def vjp(self, g: Any, F: Any) -> tuple:
        a = F.inputs(self)[0]
        gb = F.apply(SolveTriangular, F.mT(a), g, upper=not self.upper)
        ga = None
        if self.needs[0]:
            ga = F.apply(Tri, -(gb @ F.mT(F.output(self))), upper=self.upper)
        return ga, gb
