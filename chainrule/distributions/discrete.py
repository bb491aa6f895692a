"""Discrete distributions: Bernoulli and Categorical, parameterised by ``probs`` or
``logits`` (the other is derived on first use, as in PyTorch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import random as _random
from chainrule.autograd.engine import no_grad
from chainrule.backend import xp
from chainrule.distributions.distribution import (
    Constraint,
    Distribution,
    as_float_tensor,
    boolean,
    broadcast_all,
    lazy_property,
    real,
    simplex,
    unit_interval,
)
from chainrule.nn._functional.loss import binary_cross_entropy_with_logits
from chainrule.tensor import Tensor, tensor_of

__all__ = ["Bernoulli", "Categorical"]

_real_vector_logits = Constraint("IndependentConstraint(Real(), 1)", lambda v: v == v,
                                 event_dim=1)


def clamp_probs(p: Tensor) -> Tensor:
    """p kept in [eps, 1 - eps] (eps of its dtype), so its logits are finite."""
    eps = float(xp.finfo(p.dtype).eps)
    return p.clamp(eps, 1 - eps)


def _one_of(probs: Any, logits: Any) -> None:
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")


class Bernoulli(Distribution):
    """P(x = 1) = p: log p(x) = x log p + (1 - x) log(1 - p) = -BCE(logits, x);
    entropy = BCE(logits, p); mean p, variance p (1 - p)."""

    arg_constraints = {"probs": unit_interval, "logits": real}
    support = boolean

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        _one_of(probs, logits)
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            shape = tuple(self.probs.shape)
        else:
            (self.logits,) = broadcast_all(logits)
            shape = tuple(self.logits.shape)
        super().__init__(shape, validate_args=validate_args)

    @lazy_property
    def logits(self) -> Tensor:
        p = clamp_probs(self.probs)
        return p.log() - (-p).log1p()

    @lazy_property
    def probs(self) -> Tensor:
        return self.logits.sigmoid()

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        return (self.probs >= 0.5).to(self.probs.dtype)

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            p = xp.broadcast_to(self.probs.detach().numpy(), shape)
            u = _random.rng(generator).random(shape)
            return tensor_of((u < p).astype(p.dtype))

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self) -> Tensor:
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


class Categorical(Distribution):
    """P(x = k) = p_k over the last dim of ``probs`` (normalised) or softmax(``logits``):
    log p(k) = logits_k - logsumexp(logits); entropy -Σ p_k log p_k. batch_shape is the
    parameters' shape without the last dim; a draw is an int64 index."""

    arg_constraints = {"probs": simplex, "logits": _real_vector_logits}

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        _one_of(probs, logits)
        if probs is not None:
            p = as_float_tensor(probs)
            if p.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = p / p.sum(-1, keepdim=True)
            param = self.probs
        else:
            lg = as_float_tensor(logits)
            if lg.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = lg - lg.logsumexp(-1, keepdim=True)
            param = self.logits
        self._num_events = param.shape[-1]
        super().__init__(tuple(param.shape[:-1]), validate_args=validate_args)

    @lazy_property
    def logits(self) -> Tensor:
        return clamp_probs(self.probs).log()

    @lazy_property
    def probs(self) -> Tensor:
        return self.logits.softmax(-1)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._batch_shape + (self._num_events,)

    @property
    def support(self) -> Constraint:  # type: ignore[override]
        n = self._num_events
        return Constraint(f"IntegerInterval(lower_bound=0, upper_bound={n - 1})",
                          lambda v: (v == xp.floor(v)) & (v >= 0) & (v <= n - 1))

    @property
    def mean(self) -> Tensor:
        return tensor_of(xp.full(self._batch_shape, xp.nan, dtype=self.probs.dtype))

    @property
    def variance(self) -> Tensor:
        return tensor_of(xp.full(self._batch_shape, xp.nan, dtype=self.probs.dtype))

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        """Inverse-CDF draws: the first k with cumsum(p)_k > u, u ~ U[0, 1)."""
        sample_shape = tuple(sample_shape)
        p = self.probs.detach().numpy().reshape(-1, self._num_events)
        u = _random.rng(generator).random(sample_shape + (p.shape[0],))
        cdf = xp.cumsum(p, -1)
        cdf[:, -1] = 1.0  # rounding must not leave u above the total
        idx = (u[..., None] >= cdf).sum(-1)
        idx = xp.minimum(idx, self._num_events - 1).astype(xp.int64)
        return tensor_of(idx.reshape(sample_shape + self._batch_shape))

    def log_prob(self, value: Any) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        v = value.long().unsqueeze(-1) if isinstance(value, Tensor) else \
            tensor_of(xp.asarray(value, dtype=xp.int64)).unsqueeze(-1)
        shape = tuple(xp.broadcast_shapes(tuple(v.shape[:-1]), self._batch_shape))
        logits = self.logits.expand(shape + (self._num_events,))
        return logits.gather(-1, v.expand(shape + (1,))).squeeze(-1)

    def entropy(self) -> Tensor:
        lo = float(xp.finfo(self.logits.dtype).min)
        logits = self.logits.clamp(min=lo)
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        values = tensor_of(xp.arange(self._num_events, dtype=xp.int64)).reshape(
            (-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + self._batch_shape) if expand else values


