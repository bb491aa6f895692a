"""More of ``torch.distributions``: Weibull, Pareto, Kumaraswamy, InverseGamma (transformed
distributions, as PyTorch builds them), LogisticNormal (a stick-broken Normal) and VonMises.

Each transformed family inherits ``log_prob`` / ``cdf`` / ``icdf`` / ``rsample`` from its
chain; the moments and entropies are the closed forms in each docstring. VonMises has a
density in closed form, log p(x) = κ cos(x - μ) - log 2π - log I₀(κ), with log I₀ computed as
log(i0e(κ)) + κ so that large κ do not overflow, and draws by Best and Fisher's rejection
sampler (as PyTorch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scipy import special as _sp

from chainrule import random as _random
from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.distributions._support import digamma, greater_than_eq, lgamma
from chainrule.distributions.continuous import Normal, Uniform, _LocIsMean
from chainrule.distributions.distribution import (
    Distribution,
    as_float_tensor,
    broadcast_all,
    positive,
    real,
    simplex,
    unit_interval,
)
from chainrule.distributions.gamma import Exponential, Gamma
from chainrule.distributions.transformed_distribution import TransformedDistribution
from chainrule.distributions.transforms import (
    AffineTransform,
    ExpTransform,
    PowerTransform,
    StickBreakingTransform,
)
from chainrule.tensor import Tensor, tensor_of, where

__all__ = ["Weibull", "Pareto", "Kumaraswamy", "InverseGamma", "LogisticNormal", "VonMises"]

_EULER_GAMMA = 0.57721566490153286061


class Weibull(TransformedDistribution):
    """Weibull(λ = scale, k = concentration) on x > 0: λ E^(1/k) for E ~ Exp(1), so
    log p(x) = log(k/λ) + (k-1) log(x/λ) - (x/λ)^k. Mean λ Γ(1 + 1/k), mode
    λ ((k-1)/k)^(1/k), variance λ²(Γ(1 + 2/k) - Γ(1 + 1/k)²), entropy γ(1 - 1/k) + log(λ/k) + 1."""

    arg_constraints = {"scale": positive, "concentration": positive}
    support = positive

    def __init__(self, scale: Any, concentration: Any, validate_args: bool | None = None) -> None:
        self.scale, self.concentration = broadcast_all(scale, concentration)
        self.concentration_reciprocal = self.concentration.reciprocal()
        base = Exponential(self.scale.new_ones(tuple(self.scale.shape)), validate_args=False)
        chain = [PowerTransform(exponent=self.concentration_reciprocal),
                 AffineTransform(loc=0, scale=self.scale)]
        super().__init__(base, chain, validate_args=validate_args)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return True

    @property
    def mean(self) -> Tensor:
        return self.scale * lgamma(1 + self.concentration_reciprocal).exp()

    @property
    def mode(self) -> Tensor:
        k = self.concentration
        return self.scale * ((k - 1) / k) ** k.reciprocal()

    @property
    def variance(self) -> Tensor:
        k_inv = self.concentration_reciprocal
        return self.scale.pow(2) * (lgamma(1 + 2 * k_inv).exp()
                                    - (2 * lgamma(1 + k_inv)).exp())

    def entropy(self) -> Tensor:
        return (_EULER_GAMMA * (1 - self.concentration_reciprocal)
                + (self.scale * self.concentration_reciprocal).log() + 1)

    def __repr__(self) -> str:
        return (f"Weibull(scale: {tuple(self.scale.shape)}, "
                f"concentration: {tuple(self.concentration.shape)})")


class Pareto(TransformedDistribution):
    """Pareto(x_m = scale, α = alpha) on x ≥ x_m: x_m e^E for E ~ Exp(α), so
    log p(x) = log α + α log x_m - (α + 1) log x. Mean α x_m/(α - 1) (∞ for α ≤ 1), mode x_m,
    variance x_m² α / ((α - 1)²(α - 2)) (∞ for α ≤ 2), entropy log(x_m/α) + 1/α + 1."""

    arg_constraints = {"alpha": positive, "scale": positive}

    def __init__(self, scale: Any, alpha: Any, validate_args: bool | None = None) -> None:
        self.scale, self.alpha = broadcast_all(scale, alpha)
        base = Exponential(self.alpha, validate_args=validate_args)
        chain = [ExpTransform(), AffineTransform(loc=0, scale=self.scale)]
        super().__init__(base, chain, validate_args=validate_args)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return True

    @property
    def support(self) -> Any:  # type: ignore[override]
        return greater_than_eq(self.scale)

    @property
    def mean(self) -> Tensor:
        a = self.alpha.clamp(min=1)
        return a * self.scale / (a - 1)

    @property
    def mode(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        a = self.alpha.clamp(min=2)
        return self.scale.pow(2) * a / ((a - 1).pow(2) * (a - 2))

    def entropy(self) -> Tensor:
        return (self.scale / self.alpha).log() + (1 + self.alpha.reciprocal())

    def __repr__(self) -> str:
        return f"Pareto(scale: {tuple(self.scale.shape)}, alpha: {tuple(self.alpha.shape)})"


def _kumaraswamy_moment(a: Tensor, b: Tensor, n: int) -> Tensor:
    """E[Xⁿ] = b Γ(1 + n/a) Γ(b) / Γ(1 + n/a + b)."""
    arg1 = 1 + n / a
    return b * (lgamma(arg1) + lgamma(b) - lgamma(arg1 + b)).exp()


class Kumaraswamy(TransformedDistribution):
    """Kumaraswamy(a = concentration1, b = concentration0) on (0, 1):
    p(x) = a b x^(a-1) (1 - x^a)^(b-1), drawn as (1 - U^(1/b))^(1/a). Moments from
    ``_kumaraswamy_moment``; mode ((a-1)/(ab-1))^(1/a) (nan when a < 1 or b < 1); entropy
    (1 - 1/b) + (1 - 1/a) H_b - log(ab), H_b = ψ(b + 1) + γ."""

    arg_constraints = {"concentration1": positive, "concentration0": positive}
    support = unit_interval
    has_rsample = True

    def __init__(self, concentration1: Any, concentration0: Any,
                 validate_args: bool | None = None) -> None:
        self.concentration1, self.concentration0 = broadcast_all(concentration1, concentration0)
        zeros = self.concentration0.new_zeros(tuple(self.concentration0.shape))
        base = Uniform(zeros, zeros + 1, validate_args=validate_args)
        chain = [PowerTransform(exponent=self.concentration0.reciprocal()),
                 AffineTransform(loc=1.0, scale=-1.0),
                 PowerTransform(exponent=self.concentration1.reciprocal())]
        super().__init__(base, chain, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return _kumaraswamy_moment(self.concentration1, self.concentration0, 1)

    @property
    def mode(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        log_mode = a.reciprocal() * ((a - 1).log() - (a * b - 1).log())
        return log_mode.masked_fill((a < 1) | (b < 1), math.nan).exp()

    @property
    def variance(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        return _kumaraswamy_moment(a, b, 2) - self.mean.pow(2)

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        harmonic = digamma(b + 1) + _EULER_GAMMA
        return (1 - b.reciprocal()) + (1 - a.reciprocal()) * harmonic - a.log() - b.log()

    def __repr__(self) -> str:
        return (f"Kumaraswamy(concentration1: {tuple(self.concentration1.shape)}, "
                f"concentration0: {tuple(self.concentration0.shape)})")


class InverseGamma(TransformedDistribution):
    """InverseGamma(α = concentration, β = rate) on x > 0: 1/G for G ~ Gamma(α, β), so
    log p(x) = α log β - log Γ(α) - (α + 1) log x - β/x. Mean β/(α - 1) (∞ for α ≤ 1), mode
    β/(α + 1), variance β²/((α - 1)²(α - 2)) (∞ for α ≤ 2), entropy
    α + log β + log Γ(α) - (1 + α) ψ(α)."""

    arg_constraints = {"concentration": positive, "rate": positive}
    support = positive
    has_rsample = True

    def __init__(self, concentration: Any, rate: Any, validate_args: bool | None = None) -> None:
        base = Gamma(concentration, rate, validate_args=validate_args)
        # the base's broadcast parameters (the same tensors, so gradients reach the caller's)
        self.concentration, self.rate = base.concentration, base.rate
        neg_one = -base.rate.new_ones(tuple(base.rate.shape))
        super().__init__(base, PowerTransform(neg_one), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        a = self.concentration
        return where(a > 1, self.rate / (a - 1), math.inf)

    @property
    def mode(self) -> Tensor:
        return self.rate / (self.concentration + 1)

    @property
    def variance(self) -> Tensor:
        a = self.concentration
        return where(a > 2, self.rate.pow(2) / ((a - 1).pow(2) * (a - 2)), math.inf)

    def entropy(self) -> Tensor:
        a = self.concentration
        return a + self.rate.log() + lgamma(a) - (1 + a) * digamma(a)

    def __repr__(self) -> str:
        return (f"InverseGamma(concentration: {tuple(self.concentration.shape)}, "
                f"rate: {tuple(self.rate.shape)})")


class LogisticNormal(TransformedDistribution):
    """The stick-breaking image of N(loc, scale²) on R^K: a distribution on the (K+1)-simplex
    (a 0-d batch is treated as one event of size 1, as PyTorch)."""

    arg_constraints = {"loc": real, "scale": positive}
    support = simplex
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        base = Normal(loc, scale, validate_args=validate_args)
        if not base.batch_shape:
            base = base.expand([1])
        super().__init__(base, StickBreakingTransform(), validate_args=validate_args)

    @property
    def loc(self) -> Tensor:
        return self.base_dist.base_dist.loc

    @property
    def scale(self) -> Tensor:
        return self.base_dist.base_dist.scale

    def __repr__(self) -> str:
        return f"LogisticNormal(loc: {tuple(self.loc.shape)}, scale: {tuple(self.scale.shape)})"


class _LogI0(Function):
    """out = log I₀(κ) = log i0e(κ) + κ;  dκ = g I₁(κ)/I₀(κ)."""

    saves = ("k",)

    def forward(self, k: Any) -> Any:
        return (xp.log(_sp.i0e(k)) + xp.abs(k)).astype(k.dtype, copy=False)

    def vjp(self, g: Any, F: Any) -> tuple:
        (k,) = F.inputs(self)
        return (g * F.apply(_BesselRatio, k),)


class _BesselRatio(Function):
    """out = r(κ) = I₁(κ)/I₀(κ);  dκ = g (1 - r/κ - r²) (from I₁' = I₀ - I₁/κ)."""

    saves = ("k",)

    def forward(self, k: Any) -> Any:
        return (_sp.i1e(k) / _sp.i0e(k)).astype(k.dtype, copy=False)

    def vjp(self, g: Any, F: Any) -> tuple:
        (k,) = F.inputs(self)
        r = F.apply(_BesselRatio, k)
        return (g * (1 - r / k - r * r),)


class VonMises(_LocIsMean, Distribution):
    """The circular normal VonMises(μ = loc, κ = concentration) on angles:
    log p(x) = κ cos(x - μ) - log 2π - log I₀(κ); mean and mode μ; circular variance
    1 - I₁(κ)/I₀(κ). ``sample`` draws in [-π, π) by Best and Fisher's (1979) rejection sampler;
    there is no reparametrised ``rsample`` (as PyTorch)."""

    has_rsample = False
    support = real
    arg_constraints = {"loc": real, "concentration": positive}

    def __init__(self, loc: Any, concentration: Any, validate_args: bool | None = None) -> None:
        params = broadcast_all(loc, concentration)
        self.loc, self.concentration = params
        super().__init__(tuple(params[0].shape), validate_args=validate_args)

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        return (self.concentration * (value - self.loc).cos() - math.log(2 * math.pi)
                - _LogI0.apply(self.concentration))

    @property
    def variance(self) -> Tensor:
        return 1 - _BesselRatio.apply(self.concentration)

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        rng = _random.rng(generator)
        k = xp.broadcast_to(self.concentration.detach().numpy().astype(xp.float64), shape)
        tau = 1 + xp.sqrt(1 + 4 * k ** 2)
        rho = (tau - xp.sqrt(2 * tau)) / (2 * k)
        r = (1 + rho ** 2) / (2 * rho)
        x = xp.empty(shape)
        todo = xp.ones(shape, dtype=bool)
        while todo.any():
            u1, u2, u3 = (rng.random(shape) for _ in range(3))
            z = xp.cos(math.pi * u1)
            f = (1 + r * z) / (r + z)
            c = k * (r - f)
            with xp.errstate(divide="ignore", invalid="ignore"):
                accept = (c * (2 - c) - u2 > 0) | (xp.log(c / u2) + 1 - c >= 0)
            new = todo & accept
            x[new] = (xp.sign(u3 - 0.5) * xp.arccos(xp.clip(f, -1, 1)))[new]
            todo &= ~accept
        loc = self.loc.detach().numpy()
        out = xp.mod(x + loc + math.pi, 2 * math.pi) - math.pi
        return tensor_of(out.astype(self.loc.dtype))

    def __repr__(self) -> str:
        return (f"VonMises(loc: {tuple(self.loc.shape)}, "
                f"concentration: {tuple(self.concentration.shape)})")
