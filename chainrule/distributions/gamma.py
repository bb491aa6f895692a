"""The Gamma family: Gamma, Chi2, Exponential and Dirichlet (PyTorch's
``torch.distributions.gamma`` / ``chi2`` / ``exponential`` / ``dirichlet``).

``rsample`` of Gamma (and of Dirichlet, Beta, Chi2, StudentT, which are built on it) is
reparameterised by *implicit* differentiation, as in PyTorch: a draw x ~ Gamma(α, 1) satisfies
F(x; α) = u for a parameter-free u, so

    dx/dα = -(∂F/∂α)(x; α) / f(x; α),

with F the regularised incomplete gamma function P(α, x) and f the density. chainrule gets ∂F/∂α
by a five-point central difference in α (step 10⁻³ α, truncation error O(h⁴)) on SciPy's
``gammainc`` (``gammaincc`` in the upper tail, where P ≈ 1 would lose the digits); PyTorch uses
series/asymptotic approximations instead. Both are deterministic functions of (x, α), so the
two agree sample by sample up to those approximations (tested). Second derivatives through a
Gamma draw are not supported (PyTorch's are not either).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scipy import special as _sp

from chainrule import random as _random
from chainrule.autograd.engine import no_grad
from chainrule.backend import xp
from chainrule.distributions._support import (
    digamma,
    igamma,
    independent,
    lgamma,
    nonnegative,
    xlogy,
)
from chainrule.distributions.distribution import (
    Distribution,
    as_float_tensor,
    broadcast_all,
    positive,
    simplex,
)
from chainrule.tensor import Tensor, tensor_of

__all__ = ["Gamma", "Chi2", "Exponential", "Dirichlet", "standard_gamma"]


def _dP_dalpha(a: Any, x: Any) -> Any:
    """∂P(a, x)/∂a by a five-point stencil (the upper tail through -∂Q/∂a)."""
    h = 1e-3 * a
    upper = x > a
    f = lambda s: xp.where(upper, -_sp.gammaincc(s, x), _sp.gammainc(s, x))  # noqa: E731
    return (f(a - 2 * h) - 8 * f(a - h) + 8 * f(a + h) - f(a + 2 * h)) / (12 * h)


def standard_gamma_grad(a: Any, x: Any) -> Any:
    """dx/dα of a Gamma(α, 1) draw x held at fixed CDF level (see the module doc)."""
    a64, x64 = a.astype(xp.float64), x.astype(xp.float64)
    log_pdf = (a64 - 1) * xp.log(x64) - x64 - _sp.gammaln(a64)
    return (-_dP_dalpha(a64, x64) * xp.exp(-log_pdf)).astype(x.dtype)


def standard_gamma(concentration: Tensor, generator: Any = None) -> Tensor:
    """One Gamma(α, 1) draw per element of ``concentration``, differentiable in α by the
    implicit gradient: value x₀, and x₀ + (dx/dα)(α - stop_grad(α)) carries the gradient."""
    a = concentration.detach().numpy()
    x = _random.rng(generator).standard_gamma(a).astype(a.dtype)
    x = xp.maximum(x, xp.finfo(a.dtype).tiny)  # PyTorch clamps draws at the smallest normal
    out = tensor_of(x)
    if concentration.requires_grad:
        dxda = tensor_of(standard_gamma_grad(a, x))
        out = out + dxda * (concentration - concentration.detach())
    return out


class Gamma(Distribution):
    """Gamma(α = concentration, β = rate) on x ≥ 0:
    log p(x) = α log β + (α-1) log x - βx - log Γ(α);
    entropy α - log β + log Γ(α) + (1-α) ψ(α); mean α/β, variance α/β², mode max((α-1)/β, 0);
    cdf P(α, βx); rsample standard_gamma(α)/β (implicit reparameterisation)."""

    arg_constraints = {"concentration": positive, "rate": positive}
    support = nonnegative
    has_rsample = True

    def __init__(self, concentration: Any, rate: Any, validate_args: bool | None = None) -> None:
        self.concentration, self.rate = broadcast_all(concentration, rate)
        super().__init__(tuple(self.concentration.shape), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate ** 2

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        x = standard_gamma(self.concentration.expand(shape), generator) / self.rate.expand(shape)
        return x.clamp(min=float(xp.finfo(x.dtype).tiny))

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration, self.rate
        return xlogy(a, b) + xlogy(a - 1, value) - b * value - lgamma(a)

    def entropy(self) -> Tensor:
        a = self.concentration
        return a - self.rate.log() + lgamma(a) + (1.0 - a) * digamma(a)

    def cdf(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        a, bx = broadcast_all(self.concentration, self.rate * value)
        return igamma(a, bx)


class Chi2(Gamma):
    """χ²(df) = Gamma(df/2, rate ½)."""

    arg_constraints = {"df": positive}

    def __init__(self, df: Any, validate_args: bool | None = None) -> None:
        (df,) = broadcast_all(df)
        super().__init__(0.5 * df, tensor_of(xp.asarray(0.5, dtype=df.dtype)).expand(df.shape),
                         validate_args=validate_args)

    @property
    def df(self) -> Tensor:
        return self.concentration * 2

    def __repr__(self) -> str:
        return f"Chi2(df: {tuple(self.concentration.shape) or self.df})"


class Exponential(Distribution):
    """Exp(λ = rate) on x ≥ 0: log p(x) = log λ - λx; entropy 1 - log λ; mean 1/λ,
    variance 1/λ², mode 0; cdf 1 - e^(-λx); icdf -log(1 - p)/λ; rsample E/λ, E ~ Exp(1)."""

    arg_constraints = {"rate": positive}
    support = nonnegative
    has_rsample = True

    def __init__(self, rate: Any, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate)
        super().__init__(tuple(self.rate.shape), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def mode(self) -> Tensor:
        return self.rate * 0

    @property
    def stddev(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def variance(self) -> Tensor:
        return self.rate ** -2

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        e = _random.rng(generator).standard_exponential(shape)
        return tensor_of(xp.asarray(e, dtype=self.rate.dtype)) / self.rate

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value: Any) -> Tensor:
        return -(-as_float_tensor(value)).log1p() / self.rate

    def entropy(self) -> Tensor:
        return 1.0 - self.rate.log()


class Dirichlet(Distribution):
    """Dir(α) on the simplex (event shape: α's last dim k), α₀ = Σα:
    log p(x) = Σ (α_i - 1) log x_i + log Γ(α₀) - Σ log Γ(α_i);
    entropy Σ log Γ(α_i) - log Γ(α₀) - (k - α₀) ψ(α₀) - Σ (α_i - 1) ψ(α_i);
    mean α/α₀, variance α(α₀ - α)/(α₀²(α₀ + 1)); rsample G/ΣG with G_i ~ Gamma(α_i, 1)
    (implicit gradients through each G_i: unbiased, though not PyTorch's per-draw gradient)."""

    arg_constraints = {"concentration": independent(positive, 1)}
    support = simplex
    has_rsample = True

    def __init__(self, concentration: Any, validate_args: bool | None = None) -> None:
        c = as_float_tensor(concentration)
        if c.ndim < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = c
        super().__init__(tuple(c.shape[:-1]), tuple(c.shape[-1:]), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self) -> Tensor:
        """(α - 1)/(α₀ - k) with α_i < 1 clipped to 0. Where every α_i < 1 that is 0/0, and
        PyTorch returns the one-hot of the argmax of those NaNs, i.e. the first vertex; so
        does chainrule (the density is unbounded at every vertex there)."""
        a = self.concentration
        num = (a - 1).clamp(min=0)
        mode = num / num.sum(-1, keepdim=True)
        with no_grad():
            all_small = (a < 1).all(-1)
            if bool(all_small.any()):
                k = a.shape[-1]
                onehot = tensor_of(xp.eye(k, dtype=a.dtype)[mode.detach().numpy().argmax(-1)])
                mode = tensor_of(xp.where(all_small.numpy()[..., None], onehot.numpy(),
                                       mode.detach().numpy()))
        return mode

    @property
    def variance(self) -> Tensor:
        a = self.concentration
        a0 = a.sum(-1, keepdim=True)
        return a * (a0 - a) / (a0 ** 2 * (a0 + 1))

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        g = standard_gamma(self.concentration.expand(shape), generator)
        x = g / g.sum(-1, keepdim=True)
        fi = xp.finfo(x.dtype)
        return x.clamp(float(fi.tiny), 1 - float(fi.eps))

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        a = self.concentration
        return xlogy(a - 1.0, value).sum(-1) + lgamma(a.sum(-1)) - lgamma(a).sum(-1)

    def entropy(self) -> Tensor:
        a = self.concentration
        k = a.shape[-1]
        a0 = a.sum(-1)
        return lgamma(a).sum(-1) - lgamma(a0) - (k - a0) * digamma(a0) \
            - ((a - 1.0) * digamma(a)).sum(-1)
