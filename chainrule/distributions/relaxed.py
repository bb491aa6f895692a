"""Continuous relaxations of discrete draws (Maddison et al. 2017, Jang et al. 2017):
RelaxedBernoulli, RelaxedOneHotCategorical and their log-space bases LogitRelaxedBernoulli and
ExpRelaxedCategorical (PyTorch's ``torch.distributions.relaxed_bernoulli`` /
``relaxed_categorical``). All are reparameterised: rsample carries gradients to the logits
and (through the scaling) to nothing else; the temperature is a fixed Tensor."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import random as _random
from chainrule.backend import xp
from chainrule.distributions._support import independent
from chainrule.distributions.counts import _ProbsOrLogits, _WrapsCategorical
from chainrule.distributions.discrete import Categorical
from chainrule.distributions.distribution import (
    Distribution,
    as_float_tensor,
    real,
    simplex,
    unit_interval,
)
from chainrule.distributions.transformed_distribution import TransformedDistribution
from chainrule.distributions.transforms import ExpTransform, SigmoidTransform
from chainrule.nn._functional.activation import softplus
from chainrule.tensor import Tensor, tensor_of

__all__ = ["LogitRelaxedBernoulli", "RelaxedBernoulli", "ExpRelaxedCategorical",
           "RelaxedOneHotCategorical"]


def _open_uniform(shape: tuple[int, ...], like: Tensor, generator: Any) -> Tensor:
    """u ~ U(tiny, 1 - eps): both log u and log(1 - u) finite."""
    fi = xp.finfo(like.dtype)
    u = _random.rng(generator).random(shape).clip(fi.tiny, 1 - fi.eps)
    return tensor_of(xp.asarray(u, dtype=like.dtype))


class LogitRelaxedBernoulli(_ProbsOrLogits):
    """The logit of a RelaxedBernoulli draw, λ = temperature:
    x = (l + log u - log(1 - u))/λ; log p(x) = log λ + (l - λx) - 2 softplus(l - λx)."""

    arg_constraints = {"probs": unit_interval, "logits": real}
    support = real
    has_rsample = True

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        self.temperature = as_float_tensor(temperature)
        (param,) = self._set_params(probs, logits)
        super().__init__(tuple(param.shape), validate_args=validate_args)

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = _open_uniform(shape, self.logits, generator)
        return (self.logits + u.log() - (-u).log1p()) / self.temperature

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        diff = self.logits - value * self.temperature
        return self.temperature.log() + diff - 2 * softplus(diff)


class _RelaxedParams:
    """temperature, logits and probs read from the log-space base distribution."""

    base_dist: Any

    @property
    def temperature(self) -> Tensor:
        return self.base_dist.temperature

    @property
    def logits(self) -> Tensor:
        return self.base_dist.logits

    @property
    def probs(self) -> Tensor:
        return self.base_dist.probs


class RelaxedBernoulli(_RelaxedParams, TransformedDistribution):
    """σ(LogitRelaxedBernoulli): a draw in (0, 1) that tends to a Bernoulli one as the
    temperature → 0."""

    arg_constraints = {"probs": unit_interval, "logits": real}
    support = unit_interval
    has_rsample = True

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        base = LogitRelaxedBernoulli(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base, SigmoidTransform(), validate_args=validate_args)


class ExpRelaxedCategorical(_WrapsCategorical, Distribution):
    """log of a RelaxedOneHotCategorical draw over K classes, λ = temperature:
    x = s - logsumexp(s), s = (logits + g)/λ with g standard Gumbel;
    log p(x) = log Γ(K) + (K - 1) log λ + Σ_k (l_k - λx_k) - K logsumexp(l - λx)."""

    arg_constraints = {"probs": simplex, "logits": independent(real, 1)}
    support = independent(real, 1)
    has_rsample = True

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        self._categorical = Categorical(probs, logits, validate_args=False)
        self.temperature = as_float_tensor(temperature)
        super().__init__(self._categorical.batch_shape,
                         (self._categorical.param_shape[-1],), validate_args=validate_args)

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = _open_uniform(shape, self.logits, generator)
        gumbel = -((-u.log()).log())
        scores = (self.logits + gumbel) / self.temperature
        return scores - scores.logsumexp(-1, keepdim=True)

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        k = self._event_shape[0]
        t = self.temperature
        log_scale = math.lgamma(k) + (k - 1) * t.log()
        score = self.logits - value * t
        score = (score - score.logsumexp(-1, keepdim=True)).sum(-1)
        return score + log_scale

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RelaxedOneHotCategorical(_RelaxedParams, TransformedDistribution):
    """exp(ExpRelaxedCategorical): the Gumbel-softmax / Concrete distribution on the
    simplex, softmax((logits + g)/λ)."""

    arg_constraints = {"probs": simplex, "logits": independent(real, 1)}
    support = simplex
    has_rsample = True

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        base = ExpRelaxedCategorical(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base, ExpTransform(), validate_args=validate_args)
