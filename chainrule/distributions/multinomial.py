"""Multinomial and NegativeBinomial (PyTorch's ``torch.distributions.multinomial`` /
``negative_binomial``). Draws are floats of the parameters' dtype, as in PyTorch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import random as _random
from chainrule.backend import xp
from chainrule.distributions._support import independent, lgamma, nonnegative, nonnegative_integer
from chainrule.distributions.counts import Binomial, _ProbsOrLogits, _WrapsCategorical
from chainrule.distributions.discrete import Categorical
from chainrule.distributions.distribution import (
    Constraint,
    Distribution,
    as_float_tensor,
    broadcast_all,
    real,
    simplex,
)
from chainrule.distributions.gamma import Gamma
from chainrule.nn._functional.activation import logsigmoid
from chainrule.tensor import Tensor, tensor_of

__all__ = ["Multinomial", "NegativeBinomial"]


class Multinomial(_WrapsCategorical, Distribution):
    """Counts of ``total_count`` = n Categorical(p) draws over K classes (event shape (K,)):
    log p(x) = log n! - Σ log x_k! + Σ x_k log p_k (0 log 0 = 0); mean n p,
    variance n p (1 - p); entropy n H(Categorical) - log n! + Σ_k E[log x_k!] with
    x_k ~ Binomial(n, p_k) (the expectation by enumerating 0..n). (PyTorch's entropy is off
    by ~1e-8 relative in float64; chainrule's matches a brute-force sum over all outcomes.)"""

    arg_constraints = {"probs": simplex, "logits": independent(real, 1)}

    def __init__(self, total_count: int = 1, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits, validate_args=False)
        self._binomial = Binomial(total_count=total_count, probs=self._categorical.probs,
                                  validate_args=False)
        super().__init__(self._categorical.batch_shape,
                         (self._categorical.param_shape[-1],), validate_args=validate_args)

    @property
    def support(self) -> Constraint:  # type: ignore[override]
        n = self.total_count
        return Constraint(f"IntegerInterval(lower_bound=0, upper_bound={n})",
                          lambda v: ((v % 1 == 0) & (v >= 0)).all(-1) & (v.sum(-1) <= n),
                          event_dim=1)

    @property
    def mean(self) -> Tensor:
        return self.probs * self.total_count

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        p = xp.broadcast_to(self.probs.detach().numpy(), shape).astype(xp.float64)
        p = p / p.sum(-1, keepdims=True)  # NumPy checks Σp ≤ 1 strictly
        x = _random.rng(generator).multinomial(self.total_count, p)
        return tensor_of(x.astype(self.probs.dtype))

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        logits = self.logits
        shape = tuple(xp.broadcast_shapes(tuple(logits.shape), tuple(value.shape)))
        logits, value = logits.expand(shape), value.expand(shape)
        # x log p with 0 where x = 0 (a class of probability 0 that was never drawn)
        xlogp = (value * logits).masked_fill(value == 0, 0.0).sum(-1)
        log_coef = lgamma(value.sum(-1) + 1) - lgamma(value + 1).sum(-1)
        return log_coef + xlogp

    def entropy(self) -> Tensor:
        n = float(self.total_count)
        # the Binomial's batch is batch + (K,): k is (n + 1, 1, ..., 1), the pmf
        # (n + 1,) + batch + (K,)
        k = self._binomial.enumerate_support(expand=False)
        pmf = self._binomial.log_prob(k).exp()
        expected = (lgamma(k + 1) * pmf).sum(0).sum(-1)
        return n * self._categorical.entropy() - lgamma(tensor_of(xp.asarray(n + 1))) + expected


class NegativeBinomial(_ProbsOrLogits):
    """The number of successes (probability p each) before ``total_count`` = r failures:
    log p(k) = log Γ(r + k) - log Γ(k + 1) - log Γ(r) + r log(1 - p) + k log p;
    mean r p/(1 - p), variance mean/(1 - p), mode ⌊(r - 1) p/(1 - p)⌋ ∨ 0.
    Draws are Poisson(Gamma(r, rate (1 - p)/p)) (a Gamma-Poisson mixture)."""

    arg_constraints = {"total_count": nonnegative, "probs": Constraint(
        "HalfOpenInterval(lower_bound=0.0, upper_bound=1.0)", lambda v: (v >= 0) & (v < 1)),
        "logits": real}
    support = nonnegative_integer

    def __init__(self, total_count: Any, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        param, total = self._set_params(probs, logits, total_count)
        self.total_count = total.to(param.dtype)
        super().__init__(tuple(param.shape), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.logits.exp()

    @property
    def mode(self) -> Tensor:
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0)

    @property
    def variance(self) -> Tensor:
        return self.mean / (-self.logits).sigmoid()

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        r = _random.rng(generator)
        rate = Gamma(self.total_count, (-self.logits).exp(), validate_args=False)
        lam = rate.sample(sample_shape, generator=r).numpy()
        return tensor_of(r.poisson(lam).astype(lam.dtype))

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        r, lg = broadcast_all(self.total_count, self.logits)
        unnorm = r * logsigmoid(-lg) + value * logsigmoid(lg)
        # r + k = 0 (nothing to count): probability 1
        log_norm = (-lgamma(r + value) + lgamma(1.0 + value) + lgamma(r)) \
            .masked_fill(r + value == 0, 0.0)
        return unnorm - log_norm
