"""Continuous distributions: Normal, Uniform, MultivariateNormal, and Independent (which turns
batch dims of any distribution into event dims)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import random as _random
from chainrule.backend import xp
from chainrule.distributions.distribution import (
    Constraint,
    Distribution,
    broadcast_all,
    lazy_property,
    lower_cholesky,
    positive,
    positive_definite,
    real,
    real_vector,
    sum_rightmost,
)
from chainrule.ops.linalg import Cholesky, SolveTriangular
from chainrule.ops.special import Erf, Erfinv, Lgamma, Polygamma
from chainrule.tensor import Tensor, tensor_of

__all__ = ["Normal", "Uniform", "MultivariateNormal", "Independent", "Beta"]


def _noise(shape: tuple[int, ...], like: Tensor, generator: Any, kind: str) -> Tensor:
    """Parameter-free noise of ``like``'s dtype: standard normal or uniform on [0, 1)."""
    r = _random.rng(generator)
    arr = r.standard_normal(shape) if kind == "normal" else r.random(shape)
    return tensor_of(xp.asarray(arr, dtype=like.dtype))


class _LocIsMean:
    """Symmetric unimodal families: mean and mode are ``loc``."""

    loc: Tensor

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc


class LocScale(Distribution):
    """A real-valued family with a location and a positive scale, broadcast together
    (Normal, Laplace, Cauchy)."""

    arg_constraints = {"loc": real, "scale": positive}
    support = real
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(tuple(self.loc.shape), validate_args=validate_args)


class Normal(_LocIsMean, LocScale):
    """N(loc, scale²): log p(x) = -(x - μ)²/(2σ²) - log σ - ½ log 2π;
    entropy ½ + ½ log 2π + log σ; rsample μ + σ ε with ε ~ N(0, 1)."""

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale ** 2

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        eps = _noise(self._extended_shape(sample_shape), self.loc, generator, "normal")
        return self.loc + eps * self.scale

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() \
            - math.log(math.sqrt(2 * math.pi))

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()

    def cdf(self, value: Any) -> Tensor:
        """½ (1 + erf((x - μ) / (σ √2)))."""
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + Erf.apply((value - self.loc) / (self.scale * math.sqrt(2))))

    def icdf(self, value: Any) -> Tensor:
        """μ + σ √2 erf⁻¹(2p - 1)."""
        return self.loc + self.scale * Erfinv.apply(2 * value - 1) * math.sqrt(2)


class Uniform(Distribution):
    """U[low, high): log p(x) = -log(high - low) inside, -inf outside; rsample
    low + (high - low) u with u ~ U[0, 1)."""

    arg_constraints = {"low": real, "high": real}
    has_rsample = True

    def __init__(self, low: Any, high: Any, validate_args: bool | None = None) -> None:
        self.low, self.high = broadcast_all(low, high)
        if (validate_args if validate_args is not None else self._validate_default) and \
                not bool(xp.all(self.low.detach().numpy() < self.high.detach().numpy())):
            raise ValueError(f"Expected parameter low ({tuple(self.low.shape)}) of distribution "
                             "Uniform to satisfy low < high, but found invalid values")
        super().__init__(tuple(self.low.shape), validate_args=validate_args)

    @property
    def support(self) -> Any:  # type: ignore[override]
        from chainrule.distributions.distribution import Constraint

        lo, hi = self.low.detach().numpy(), self.high.detach().numpy()
        return Constraint(f"Interval(lower_bound={lo}, upper_bound={hi})",
                          lambda v: (lo <= v) & (v < hi))

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low) ** 2 / 12

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        u = _noise(self._extended_shape(sample_shape), self.low, generator, "uniform")
        return self.low + u * (self.high - self.low)

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        inside = (self.low <= value) & (self.high > value)
        return inside.to(self.low.dtype).log() - (self.high - self.low).log()

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()

    def cdf(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value: Any) -> Tensor:
        return value * (self.high - self.low) + self.low


class MultivariateNormal(_LocIsMean, Distribution):
    """N(μ, Σ) over vectors, Σ = L Lᵀ given as covariance_matrix, precision_matrix or
    scale_tril: log p(x) = -½ (k log 2π + ‖L⁻¹(x - μ)‖²) - Σ log diag L;
    entropy ½ k (1 + log 2π) + Σ log diag L; rsample μ + L ε."""

    arg_constraints = {"loc": real_vector, "covariance_matrix": positive_definite,
                       "precision_matrix": positive_definite, "scale_tril": lower_cholesky}
    support = real_vector
    has_rsample = True

    def __init__(self, loc: Any, covariance_matrix: Any = None, precision_matrix: Any = None,
                 scale_tril: Any = None, validate_args: bool | None = None) -> None:
        if (covariance_matrix is not None) + (scale_tril is not None) + \
                (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        (loc,) = broadcast_all(loc)
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        mat = covariance_matrix if covariance_matrix is not None else \
            precision_matrix if precision_matrix is not None else scale_tril
        (mat,) = broadcast_all(mat)
        if mat.ndim < 2:
            raise ValueError("scale_tril, covariance_matrix or precision_matrix must be at "
                             "least two-dimensional, with optional leading batch dimensions")
        batch = tuple(xp.broadcast_shapes(tuple(mat.shape[:-2]), tuple(loc.shape[:-1])))
        k = loc.shape[-1]
        mat = mat.expand(batch + (k, k))
        self.loc = loc.expand(batch + (k,))
        if scale_tril is not None:
            self.scale_tril = mat
        elif covariance_matrix is not None:
            self.covariance_matrix = mat
        else:
            self.precision_matrix = mat
        super().__init__(batch, (k,), validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = mat
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = Cholesky.apply(mat)
        else:  # Σ = P⁻¹: L = chol(P⁻¹) via the inverse's Cholesky (identity solve)
            eye = tensor_of(xp.broadcast_to(xp.eye(k, dtype=mat.dtype), mat.shape).copy())
            lp = Cholesky.apply(mat)
            inv_lp = SolveTriangular.apply(lp, eye, upper=False)
            self._unbroadcasted_scale_tril = Cholesky.apply(inv_lp.mT @ inv_lp)

    @lazy_property
    def scale_tril(self) -> Tensor:
        return self._unbroadcasted_scale_tril

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril
        return L @ L.mT

    @lazy_property
    def precision_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril
        eye = tensor_of(xp.broadcast_to(xp.eye(L.shape[-1], dtype=L.dtype), L.shape).copy())
        inv = SolveTriangular.apply(L, eye, upper=False)
        return inv.mT @ inv

    @property
    def variance(self) -> Tensor:
        return (self._unbroadcasted_scale_tril ** 2).sum(-1).expand(
            self._batch_shape + self._event_shape)

    def _half_log_det(self) -> Tensor:
        return self._unbroadcasted_scale_tril.diagonal(0, -2, -1).log().sum(-1)

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        eps = _noise(self._extended_shape(sample_shape), self.loc, generator, "normal")
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        shape = tuple(xp.broadcast_shapes(tuple(diff.shape[:-1]),
                                          tuple(self._unbroadcasted_scale_tril.shape[:-2])))
        k = self._event_shape[0]
        L = self._unbroadcasted_scale_tril.expand(shape + (k, k))
        z = SolveTriangular.apply(L, diff.expand(shape + (k,)).unsqueeze(-1), upper=False)
        m = (z.squeeze(-1) ** 2).sum(-1)
        return -0.5 * (k * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self) -> Tensor:
        k = self._event_shape[0]
        h = 0.5 * k * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h.expand(self._batch_shape) if self._batch_shape else h


class Independent(Distribution):
    """Reinterprets the ``reinterpreted_batch_ndims`` rightmost batch dims of ``base`` as event
    dims: log_prob and entropy are summed over them."""

    arg_constraints: dict = {}

    def __init__(self, base_distribution: Distribution, reinterpreted_batch_ndims: int,
                 validate_args: bool | None = None) -> None:
        n = reinterpreted_batch_ndims
        bs = base_distribution.batch_shape
        if n > len(bs):
            raise ValueError(f"Expected reinterpreted_batch_ndims <= len(base_distribution."
                             f"batch_shape), actual {n} vs {len(bs)}")
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = n
        cut = len(bs) - n
        super().__init__(bs[:cut], bs[cut:] + base_distribution.event_shape,
                         validate_args=validate_args)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def support(self) -> Any:  # type: ignore[override]
        return self.base_dist.support

    @property
    def mean(self) -> Tensor:
        return self.base_dist.mean

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        return self.base_dist.sample(sample_shape, generator=generator)

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        return self.base_dist.rsample(sample_shape, generator=generator)

    def log_prob(self, value: Any) -> Tensor:
        return sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self) -> Tensor:
        return sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def __repr__(self) -> str:
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"


def _lbeta(a: Tensor, b: Tensor) -> Tensor:
    """log B(a, b) = log Γ(a) + log Γ(b) - log Γ(a + b)."""
    return Lgamma.apply(a) + Lgamma.apply(b) - Lgamma.apply(a + b)


class Beta(Distribution):
    """Beta(α = concentration1, β = concentration0) on [0, 1]:
    log p(x) = (α-1) log x + (β-1) log(1-x) - log B(α, β);
    entropy log B - (α-1)ψ(α) - (β-1)ψ(β) + (α+β-2)ψ(α+β). ``sample`` draws from NumPy's
    beta; ``rsample`` is G₁/(G₁ + G₀), G ~ Gamma(·, 1), with implicit-reparameterisation
    gradients (``chainrule.distributions.gamma``)."""

    arg_constraints = {"concentration1": positive, "concentration0": positive}
    has_rsample = True
    support = Constraint("Interval(lower_bound=0.0, upper_bound=1.0)",
                         lambda v: (v >= 0) & (v <= 1))

    def __init__(self, concentration1: Any, concentration0: Any,
                 validate_args: bool | None = None) -> None:
        self.concentration1, self.concentration0 = broadcast_all(concentration1,
                                                                 concentration0)
        super().__init__(tuple(self.concentration1.shape), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def variance(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        t = a + b
        return a * b / (t ** 2 * (t + 1))

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        a = xp.broadcast_to(self.concentration1.detach().numpy(), shape)
        b = xp.broadcast_to(self.concentration0.detach().numpy(), shape)
        draw = _random.rng(generator).beta(a, b)
        return tensor_of(xp.asarray(draw, dtype=self.concentration1.dtype))

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        from chainrule.distributions.gamma import standard_gamma

        shape = self._extended_shape(sample_shape)
        r = _random.rng(generator)
        g1 = standard_gamma(self.concentration1.expand(shape), r)
        g0 = standard_gamma(self.concentration0.expand(shape), r)
        fi = xp.finfo(g1.dtype)
        return (g1 / (g1 + g0)).clamp(float(fi.tiny), 1 - float(fi.eps))

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration1, self.concentration0
        return (a - 1) * value.log() + (b - 1) * (-value).log1p() - _lbeta(a, b)

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        psi = lambda t: Polygamma.apply(t, n=0)  # noqa: E731 - a local shorthand
        return _lbeta(a, b) - (a - 1) * psi(a) - (b - 1) * psi(b) + (a + b - 2) * psi(a + b)
