"""Location-scale families beyond the Normal: Laplace, Cauchy and Student's t (PyTorch's
``torch.distributions.laplace`` / ``cauchy`` / ``studentT``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import random as _random
from chainrule.backend import xp
from chainrule.distributions._support import atan, digamma, lgamma
from chainrule.distributions.continuous import LocScale, _LocIsMean
from chainrule.distributions.distribution import (
    Distribution,
    as_float_tensor,
    broadcast_all,
    positive,
    real,
)
from chainrule.distributions.gamma import standard_gamma
from chainrule.tensor import Tensor, tensor_of

__all__ = ["Laplace", "Cauchy", "StudentT"]


def _uniform(shape: tuple[int, ...], like: Tensor, generator: Any, lo: float,
             hi: float) -> Tensor:
    u = _random.rng(generator).uniform(lo, hi, shape)
    return tensor_of(xp.asarray(u, dtype=like.dtype))


def _nan_like(t: Tensor, fill: float) -> Tensor:
    return tensor_of(xp.full(tuple(t.shape), fill, dtype=t.dtype))


class Laplace(_LocIsMean, LocScale):
    """Laplace(μ = loc, b = scale): log p(x) = -log 2b - |x - μ|/b;
    cdf ½ - ½ sign(x - μ) expm1(-|x - μ|/b); entropy 1 + log 2b; variance 2b²;
    rsample μ - b sign(u) log(1 - |u|), u ~ U(-1 + eps, 1)."""

    @property
    def variance(self) -> Tensor:
        return 2 * self.scale ** 2

    @property
    def stddev(self) -> Tensor:
        return math.sqrt(2) * self.scale

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        eps = float(xp.finfo(self.loc.dtype).eps)
        u = _uniform(self._extended_shape(sample_shape), self.loc, generator, eps - 1, 1.0)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        d = value - self.loc
        return 0.5 - 0.5 * d.sign() * (-d.abs() / self.scale).expm1()

    def icdf(self, value: Any) -> Tensor:
        t = as_float_tensor(value) - 0.5
        return self.loc - self.scale * t.sign() * (-2 * t.abs()).log1p()

    def entropy(self) -> Tensor:
        return 1 + (2 * self.scale).log()


class Cauchy(LocScale):
    """Cauchy(x₀ = loc, γ = scale): log p(x) = -log π - log γ - log(1 + z²), z = (x - x₀)/γ;
    cdf atan(z)/π + ½; icdf x₀ + γ tan(π(p - ½)); entropy log 4π + log γ; mean nan,
    variance inf, mode x₀; rsample x₀ + γ tan(π(u - ½))."""

    @property
    def mean(self) -> Tensor:
        return _nan_like(self.loc, math.nan)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return _nan_like(self.loc, math.inf)

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps = tensor_of(xp.asarray(_random.rng(generator).standard_cauchy(shape),
                                dtype=self.loc.dtype))
        return self.loc + eps * self.scale

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return -math.log(math.pi) - self.scale.log() - (z ** 2).log1p()

    def cdf(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        return atan((value - self.loc) / self.scale) / math.pi + 0.5

    def icdf(self, value: Any) -> Tensor:
        return (math.pi * (as_float_tensor(value) - 0.5)).tan() * self.scale + self.loc

    def entropy(self) -> Tensor:
        return math.log(4 * math.pi) + self.scale.log()


class StudentT(Distribution):
    """Student's t with ν = df, location μ, scale σ; y = (x - μ)/σ:
    log p(x) = -½(ν+1) log(1 + y²/ν) - log σ - ½ log ν - ½ log π - log Γ(ν/2) + log Γ((ν+1)/2);
    mean μ (ν > 1, else nan); variance σ²ν/(ν-2) (ν > 2), inf (1 < ν ≤ 2), nan (ν ≤ 1);
    entropy log σ + ½(ν+1)(ψ((ν+1)/2) - ψ(ν/2)) + ½ log ν + log B(ν/2, ½);
    rsample μ + σ Z/√(G/ν), Z ~ N(0, 1), G ~ χ²(ν) (implicit gradient in ν)."""

    arg_constraints = {"df": positive, "loc": real, "scale": positive}
    support = real
    has_rsample = True

    def __init__(self, df: Any, loc: Any = 0.0, scale: Any = 1.0,
                 validate_args: bool | None = None) -> None:
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        super().__init__(tuple(self.df.shape), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.loc.masked_fill(self.df <= 1, math.nan)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        df = self.df
        v = self.scale ** 2 * df / (df - 2).masked_fill(df <= 2, 1.0)  # (no 0-division)
        v = v.masked_fill((df <= 2) & (df > 1), math.inf)
        return v.masked_fill(df <= 1, math.nan)

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        r = _random.rng(generator)
        z = tensor_of(xp.asarray(r.standard_normal(shape), dtype=self.df.dtype))
        g = standard_gamma(0.5 * self.df.expand(shape), r) * 2  # χ²(ν) = 2 Gamma(ν/2, 1)
        return self.loc + self.scale * z * (g / self.df).rsqrt()

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        df = self.df
        y = (value - self.loc) / self.scale
        z = self.scale.log() + 0.5 * df.log() + 0.5 * math.log(math.pi) \
            + lgamma(0.5 * df) - lgamma(0.5 * (df + 1.0))
        return -0.5 * (df + 1.0) * (y ** 2 / df).log1p() - z

    def entropy(self) -> Tensor:
        df = self.df
        lbeta = lgamma(0.5 * df) + math.lgamma(0.5) - lgamma(0.5 * (df + 1))
        return self.scale.log() + 0.5 * (df + 1) * (digamma(0.5 * (df + 1))
                                                    - digamma(0.5 * df)) \
            + 0.5 * df.log() + lbeta
