"""``TransformedDistribution`` (y = T(x), x from a base distribution) and the families PyTorch
defines through it: LogNormal, Gumbel, HalfNormal.

log p_Y(y) = log p_X(T⁻¹(y)) - log|det ∂T/∂x| at x = T⁻¹(y), applied transform by transform
from the last; the cdf of a monotone scalar chain is the base cdf of T⁻¹(y) (1 - it where
the chain decreases)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule.backend import xp
from chainrule.distributions._support import nonnegative
from chainrule.distributions.continuous import Independent, Normal, Uniform
from chainrule.distributions.distribution import (
    Constraint,
    Distribution,
    as_float_tensor,
    broadcast_all,
    positive,
    real,
    sum_rightmost,
)
from chainrule.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    ComposeTransform,
    ExpTransform,
    Transform,
)
from chainrule.tensor import Tensor, tensor_of

__all__ = ["TransformedDistribution", "LogNormal", "Gumbel", "HalfNormal"]

_EULER_GAMMA = 0.57721566490153286061


class TransformedDistribution(Distribution):
    """The law of T(X) for X ~ ``base_distribution`` and T the composition of ``transforms``
    (a Transform or a list, applied in order)."""

    arg_constraints: dict = {}

    def __init__(self, base_distribution: Distribution, transforms: Any,
                 validate_args: bool | None = None) -> None:
        if isinstance(transforms, Transform):
            self.transforms = [transforms]
        elif isinstance(transforms, list) and all(isinstance(t, Transform) for t in transforms):
            self.transforms = list(transforms)
        else:
            raise ValueError(f"transforms must be a Transform or a list of Transforms, but "
                             f"was {transforms}")
        base_shape = base_distribution.batch_shape + base_distribution.event_shape
        base_ev = len(base_distribution.event_shape)
        chain = ComposeTransform(self.transforms)
        if len(base_shape) < chain.domain.event_dim:
            raise ValueError(f"base_distribution needs to have shape with size at least "
                             f"{chain.domain.event_dim}, but got {base_shape}.")
        if chain.domain.event_dim > base_ev:  # reinterpret base batch dims as event dims
            base_distribution = Independent(base_distribution, chain.domain.event_dim - base_ev)
        self.base_dist = base_distribution
        shape = chain.forward_shape(base_shape)
        ev = max(chain.codomain.event_dim,
                 len(base_distribution.event_shape) + chain.codomain.event_dim
                 - chain.domain.event_dim)
        cut = len(shape) - ev
        super().__init__(shape[:cut], shape[cut:], validate_args=validate_args)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def support(self) -> Constraint | None:  # type: ignore[override]
        if not self.transforms:
            return self.base_dist.support
        return self.transforms[-1].codomain

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        x = self.base_dist.sample(sample_shape, generator=generator)
        for t in self.transforms:
            x = t(x)
        return x

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        x = self.base_dist.rsample(sample_shape, generator=generator)
        for t in self.transforms:
            x = t(x)
        return x

    def log_prob(self, value: Any) -> Tensor:
        y = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(y)
        ev = len(self._event_shape)
        lp: Any = 0.0
        for t in reversed(self.transforms):
            x = t.inv(y)
            ev += t.domain.event_dim - t.codomain.event_dim
            lp = lp - sum_rightmost(t.log_abs_det_jacobian(x, y), ev - t.domain.event_dim)
            y = x
        return lp + sum_rightmost(self.base_dist.log_prob(y),
                                  ev - len(self.base_dist.event_shape))

    def _monotonize_cdf(self, value: Tensor) -> Tensor:
        """F where the chain increases, 1 - F where it decreases (sign may be a Tensor)."""
        sign: Any = 1
        for t in self.transforms:
            sign = sign * t.sign
        if isinstance(sign, int) and sign == 1:
            return value
        return sign * (value - 0.5) + 0.5

    def cdf(self, value: Any) -> Tensor:
        y = as_float_tensor(value)
        for t in reversed(self.transforms):
            y = t.inv(y)
        if self._validate_args:
            self.base_dist._validate_sample(y)
        return self._monotonize_cdf(self.base_dist.cdf(y))

    def icdf(self, value: Any) -> Tensor:
        x = self.base_dist.icdf(self._monotonize_cdf(as_float_tensor(value)))
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LogNormal(TransformedDistribution):
    """exp(N(μ, σ²)) on x > 0: mean e^(μ + σ²/2), mode e^(μ - σ²),
    variance (e^(σ²) - 1) e^(2μ + σ²), entropy ½ + ½ log 2π + log σ + μ."""

    arg_constraints = {"loc": real, "scale": positive}
    support = positive
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        base = Normal(loc, scale, validate_args=validate_args)
        super().__init__(base, ExpTransform(), validate_args=validate_args)

    @property
    def loc(self) -> Tensor:
        return self.base_dist.loc

    @property
    def scale(self) -> Tensor:
        return self.base_dist.scale

    @property
    def mean(self) -> Tensor:
        return (self.loc + self.scale ** 2 / 2).exp()

    @property
    def mode(self) -> Tensor:
        return (self.loc - self.scale ** 2).exp()

    @property
    def variance(self) -> Tensor:
        s2 = self.scale ** 2
        return s2.expm1() * (2 * self.loc + s2).exp()

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() + self.loc

    def __repr__(self) -> str:
        return f"LogNormal(loc: {tuple(self.loc.shape)}, scale: {tuple(self.scale.shape)})"


class Gumbel(TransformedDistribution):
    """Gumbel(μ = loc, β = scale): with z = (x - μ)/β, log p(x) = -log β - z - e^(-z);
    cdf exp(-e^(-z)); mean μ + γβ (γ Euler's constant), mode μ, variance π²β²/6,
    entropy log β + 1 + γ. Draws are μ - β log(-log u), u ~ U(tiny, 1 - eps)."""

    arg_constraints = {"loc": real, "scale": positive}
    support = real

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        fi = xp.finfo(self.loc.dtype)
        lo = tensor_of(xp.full(tuple(self.loc.shape), fi.tiny, dtype=self.loc.dtype))
        hi = tensor_of(xp.full(tuple(self.loc.shape), 1 - fi.eps, dtype=self.loc.dtype))
        base = Uniform(lo, hi, validate_args=validate_args)
        chain = [ExpTransform().inv, AffineTransform(0, -1), ExpTransform().inv,
                 AffineTransform(self.loc, -self.scale)]
        super().__init__(base, chain, validate_args=validate_args)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return True

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return -(self.scale.log() + z + (-z).exp())

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * _EULER_GAMMA

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return (math.pi / math.sqrt(6)) * self.scale

    @property
    def variance(self) -> Tensor:
        return self.stddev ** 2

    def entropy(self) -> Tensor:
        return self.scale.log() + (1 + _EULER_GAMMA)

    def __repr__(self) -> str:
        return f"Gumbel(loc: {tuple(self.loc.shape)}, scale: {tuple(self.scale.shape)})"


class HalfNormal(TransformedDistribution):
    """|N(0, σ²)| on x ≥ 0: log p(x) = log 2 + log N(x; 0, σ) (−inf for x < 0);
    cdf 2Φ(x/σ) - 1; mean σ√(2/π), mode 0, variance σ²(1 - 2/π),
    entropy that of the Normal minus log 2."""

    arg_constraints = {"scale": positive}
    support = nonnegative
    has_rsample = True

    def __init__(self, scale: Any, validate_args: bool | None = None) -> None:
        (scale,) = broadcast_all(scale)
        base = Normal(scale * 0, scale, validate_args=False)
        super().__init__(base, AbsTransform(), validate_args=validate_args)

    @property
    def scale(self) -> Tensor:
        return self.base_dist.scale

    @property
    def mean(self) -> Tensor:
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def mode(self) -> Tensor:
        return self.scale * 0

    @property
    def variance(self) -> Tensor:
        return self.scale ** 2 * (1 - 2 / math.pi)

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        lp = self.base_dist.log_prob(value) + math.log(2)
        return lp.masked_fill(value < 0, float("-inf"))

    def cdf(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, prob: Any) -> Tensor:
        return self.base_dist.icdf((as_float_tensor(prob) + 1) / 2)

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() - math.log(2)

    def __repr__(self) -> str:
        return f"HalfNormal(scale: {tuple(self.scale.shape)})"
