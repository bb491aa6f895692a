"""``torch.special``: the special functions under PyTorch's names (SciPy's spellings), each
differentiable where PyTorch's is.

Most are the ``torch.*`` functions under another name; the ones only found here are
``xlog1py``, ``entr``, ``ndtr``, ``ndtri``, ``log_ndtr`` and ``i1``.

Example::

    import chainrule as torch
    torch.special.ndtr(torch.tensor([0.0]))     # tensor([0.5000])
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import _more_functions as _m
from chainrule.autograd.function import record as _apply
from chainrule.ops import extra as _X
from chainrule.tensor import Tensor

__all__ = [
    "expit", "logit", "erf", "erfc", "erfinv", "gammaln", "digamma", "psi", "polygamma",
    "xlogy", "xlog1py", "entr", "log_softmax", "softmax", "logsumexp", "ndtr", "ndtri",
    "log_ndtr", "sinc", "i0", "i1", "round", "exp2", "expm1", "log1p",
]

erf = _m.erf
erfc = _m.erfc
erfinv = _m.erfinv
gammaln = _m.lgamma
digamma = psi = _m.digamma
polygamma = _m.polygamma
xlogy = _m.xlogy
xlog1py = _m.xlog1py
sinc = _m.sinc
i0 = _m.i0
exp2 = _m.exp2


def expit(input: Tensor) -> Tensor:
    """The logistic sigmoid 1 / (1 + e⁻ˣ)."""
    return input.sigmoid()


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given."""
    return _m.logit(input, eps)


def expm1(input: Tensor) -> Tensor:
    """eˣ - 1, accurate near 0."""
    return input.expm1()


def log1p(input: Tensor) -> Tensor:
    """log(1 + x), accurate near 0."""
    return input.log1p()


def round(input: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round half to even (to ``decimals`` places)."""
    return input.round(decimals=decimals)


def softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """exp(x) / Σ exp(x) along ``dim`` (computed in ``dtype`` when given)."""
    return input.softmax(dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """x - log Σ exp(x) along ``dim`` (computed in ``dtype`` when given)."""
    return input.log_softmax(dim, dtype=dtype)


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log Σ exp(x) over ``dim``."""
    return input.logsumexp(dim, keepdim)


def entr(input: Tensor) -> Tensor:
    """-x log x (0 at x = 0, -∞ for x < 0), the entropy of one probability."""
    return _apply(_X.Entr, input)


def ndtr(input: Tensor) -> Tensor:
    """Φ(x), the standard normal CDF, as erfc(-x/√2) / 2 (accurate in the left tail)."""
    return _m.erfc(input * (-1.0 / math.sqrt(2.0))) * 0.5


def ndtri(input: Tensor) -> Tensor:
    """Φ⁻¹(p), the standard normal quantile (±∞ at 0 and 1)."""
    return _apply(_X.Ndtri, input)


def log_ndtr(input: Tensor) -> Tensor:
    """log Φ(x), stable in both tails."""
    return _apply(_X.LogNdtr, input)


def i1(input: Tensor) -> Tensor:
    """I₁(x), the modified Bessel function of the first kind of order 1."""
    return _apply(_X.I1, input)
