"""Count and one-hot distributions: Poisson, Binomial, Geometric, OneHotCategorical and
OneHotCategoricalStraightThrough (PyTorch's ``torch.distributions.poisson`` / ``binomial`` /
``geometric`` / ``one_hot_categorical``). Draws are floats of the parameters' dtype, as in
PyTorch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import random as _random
from chainrule.backend import xp
from chainrule.distributions._support import (
    integer_interval,
    lgamma,
    nonnegative,
    nonnegative_integer,
    one_hot,
    xlogy,
)
from chainrule.distributions.discrete import Categorical, _one_of, clamp_probs
from chainrule.distributions.distribution import (
    Constraint,
    Distribution,
    as_float_tensor,
    broadcast_all,
    lazy_property,
    real,
    unit_interval,
)
from chainrule.nn._functional.loss import binary_cross_entropy_with_logits
from chainrule.tensor import Tensor, tensor_of

__all__ = ["Poisson", "Binomial", "Geometric", "OneHotCategorical",
           "OneHotCategoricalStraightThrough"]


def _logits_from_probs(p: Tensor) -> Tensor:
    p = clamp_probs(p)
    return p.log() - (-p).log1p()


class Poisson(Distribution):
    """Poisson(λ = rate) on {0, 1, …}: log p(k) = k log λ - λ - log k!;
    mean = variance = λ, mode ⌊λ⌋."""

    arg_constraints = {"rate": nonnegative}
    support = nonnegative_integer

    def __init__(self, rate: Any, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate)
        super().__init__(tuple(self.rate.shape), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return self.rate.floor()

    @property
    def variance(self) -> Tensor:
        return self.rate

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        lam = xp.broadcast_to(self.rate.detach().numpy(), shape)
        return tensor_of(_random.rng(generator).poisson(lam).astype(lam.dtype))

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        return xlogy(value, self.rate) - self.rate - lgamma(value + 1)


class _ProbsOrLogits(Distribution):
    """Bernoulli-style parameters: ``probs`` or ``logits`` given, the other derived."""

    def _set_params(self, probs: Any, logits: Any, *others: Any) -> tuple[Tensor, ...]:
        _one_of(probs, logits)
        given = probs if probs is not None else logits
        out = broadcast_all(given, *others)
        if probs is not None:
            self.probs = out[0]
        else:
            self.logits = out[0]
        return out

    @lazy_property
    def logits(self) -> Tensor:
        return _logits_from_probs(self.probs)

    @lazy_property
    def probs(self) -> Tensor:
        return self.logits.sigmoid()


class Binomial(_ProbsOrLogits):
    """Binomial(n = total_count, p) on {0, …, n}: with l = logit p,
    log p(k) = log C(n, k) + k l - n log(1 + eˡ) (the last term as n(max(l, 0) +
    log1p(e^(-|l|))) for stability); mean np, variance np(1-p), mode ⌊(n+1)p⌋ ∧ n;
    entropy by enumerating the support (a homogeneous total_count only, as in PyTorch)."""

    arg_constraints = {"total_count": nonnegative_integer, "probs": unit_interval,
                       "logits": real}

    def __init__(self, total_count: Any = 1, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        param, self.total_count = self._set_params(probs, logits, total_count)
        self.total_count = self.total_count.to(param.dtype)
        super().__init__(tuple(param.shape), validate_args=validate_args)

    @property
    def support(self) -> Constraint:  # type: ignore[override]
        n = self.total_count.detach().numpy()
        return integer_interval(0, n)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.probs

    @property
    def mode(self) -> Tensor:
        return ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        n = xp.broadcast_to(self.total_count.detach().numpy(), shape)
        p = xp.broadcast_to(self.probs.detach().numpy(), shape)
        return tensor_of(_random.rng(generator).binomial(n.astype(xp.int64), p).astype(p.dtype))

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        n, lg = self.total_count, self.logits
        log_choose = lgamma(n + 1) - lgamma(value + 1) - lgamma(n - value + 1)
        norm = n * lg.clamp(min=0) + n * (-lg.abs()).exp().log1p()
        # n = k = 0 with l = ±inf: k l is 0 · inf = nan; the term is 0
        kl = (value * lg).masked_fill(value == 0, 0.0)
        return log_choose + kl - norm

    def enumerate_support(self, expand: bool = True) -> Tensor:
        n = self.total_count.detach().numpy()
        top = n.max() if n.size else 0
        if n.size and not bool((n == top).all()):
            raise NotImplementedError("Inhomogeneous total count not supported by "
                                      "`enumerate_support`.")
        values = tensor_of(xp.arange(1 + int(top), dtype=n.dtype)).reshape(
            (-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + self._batch_shape) if expand else values

    def entropy(self) -> Tensor:
        values = self.enumerate_support(expand=False)
        lp = self.log_prob(values)
        return -(lp.exp() * lp).sum(0)


class Geometric(_ProbsOrLogits):
    """The number of failures before the first success, P(k) = (1-p)ᵏ p:
    log p(k) = k log(1-p) + log p (0 log 0 = 0, so p = 1 gives P(0) = 1);
    mean 1/p - 1, variance (1/p - 1)/p, mode 0; entropy BCE(logits, p)/p."""

    arg_constraints = {"probs": unit_interval, "logits": real}
    support = nonnegative_integer

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        (param,) = self._set_params(probs, logits)
        super().__init__(tuple(param.shape), validate_args=validate_args)
        if self._validate_args and probs is not None and \
                not bool(xp.all(self.probs.detach().numpy() > 0)):
            v = self.probs.detach().numpy()
            raise ValueError(f"Expected parameter probs ({type(self.probs).__name__} of shape "
                             f"{tuple(self.probs.shape)}) of distribution {self!r} to be "
                             f"positive but found invalid values:\n{tensor_of(v[~(v > 0)])}")

    @property
    def mean(self) -> Tensor:
        return 1.0 / self.probs - 1.0

    @property
    def mode(self) -> Tensor:
        return self.probs * 0

    @property
    def variance(self) -> Tensor:
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        p = xp.broadcast_to(self.probs.detach().numpy(), shape)
        return tensor_of((_random.rng(generator).geometric(p) - 1).astype(p.dtype))

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        return xlogy(value, 1 - self.probs) + self.probs.log()

    def entropy(self) -> Tensor:
        return binary_cross_entropy_with_logits(self.logits, self.probs,
                                                reduction="none") / self.probs


class _WrapsCategorical:
    """Parameters read from a wrapped ``Categorical`` (one-hot and relaxed families)."""

    _categorical: Categorical

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._categorical.param_shape


class OneHotCategorical(_WrapsCategorical, Distribution):
    """A Categorical draw as a one-hot vector (event shape (K,)): log p(x) = log p_argmax(x);
    mean p, variance p(1 - p), mode the one-hot of the most likely class."""

    arg_constraints = Categorical.arg_constraints
    support = one_hot
    has_enumerate_support = True

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        self._categorical = Categorical(probs, logits, validate_args=False)
        super().__init__(self._categorical.batch_shape,
                         (self._categorical.param_shape[-1],), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        return self._one_hot(self._categorical.mode.numpy())

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def _one_hot(self, idx: Any) -> Tensor:
        k = self._event_shape[0]
        return tensor_of(xp.eye(k, dtype=self.probs.dtype)[idx])

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        return self._one_hot(self._categorical.sample(sample_shape, generator).numpy())

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(tensor_of(value.detach().numpy().argmax(-1)))

    def entropy(self) -> Tensor:
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        k = self._event_shape[0]
        values = tensor_of(xp.eye(k, dtype=self.probs.dtype)).reshape(
            (k,) + (1,) * len(self._batch_shape) + (k,))
        return values.expand((k,) + self._batch_shape + (k,)) if expand else values

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """OneHotCategorical whose ``rsample`` is the straight-through estimator: the one-hot
    draw in the forward pass, the gradient of ``probs`` in the backward one."""

    has_rsample = True

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        s = self.sample(sample_shape, generator)
        p = self.probs
        return s + (p - p.detach())
