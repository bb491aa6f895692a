"""``ContinuousBernoulli`` (Loaiza-Ganem & Cunningham 2019): the density on [0, 1]
p(x | λ) = C(λ) λˣ (1 - λ)¹⁻ˣ, with normaliser C(λ) = log((1-λ)/λ) / (1 - 2λ) (2 at λ = ½)
(PyTorch's ``torch.distributions.continuous_bernoulli``).

The closed forms divide 0 by 0 at λ = ½, so inside ``lims`` (default (0.499, 0.501)) each is
replaced by its Taylor expansion in δ = λ - ½, and the closed form is evaluated at a safe λ
(the ``where`` keeps the unused branch's NaN out of the gradient):
  log C ≈ log 2 + (4/3 + 104/45 δ²) δ²,  mean ≈ ½ + (1/3 + 16/45 δ²) δ,
  variance ≈ 1/12 - (1/15 - 128/945 δ²) δ²,  cdf ≈ x,  icdf ≈ u.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import random as _random
from chainrule.autograd.engine import no_grad
from chainrule.backend import xp
from chainrule.distributions.counts import _ProbsOrLogits
from chainrule.distributions.discrete import clamp_probs
from chainrule.distributions.distribution import (
    as_float_tensor,
    broadcast_all,
    lazy_property,
    real,
    unit_interval,
)
from chainrule.nn._functional.loss import binary_cross_entropy_with_logits
from chainrule.tensor import Tensor, tensor_of, where

__all__ = ["ContinuousBernoulli"]


class ContinuousBernoulli(_ProbsOrLogits):
    """CB(λ = probs) on [0, 1] (see the module doc); rsample is icdf(u), u ~ U[0, 1)."""

    arg_constraints = {"probs": unit_interval, "logits": real}
    support = unit_interval
    has_rsample = True

    def __init__(self, probs: Any = None, logits: Any = None,
                 lims: tuple[float, float] = (0.499, 0.501),
                 validate_args: bool | None = None) -> None:
        (param,) = self._set_params(probs, logits)
        self._lims = lims
        super().__init__(tuple(param.shape), validate_args=validate_args)

    @lazy_property
    def probs(self) -> Tensor:
        return clamp_probs(self.logits.sigmoid())

    def _stable(self) -> Tensor:
        """True where λ is outside ``lims`` (the closed forms are accurate there)."""
        p = self.probs
        return (p <= self._lims[0]) | (p > self._lims[1])

    def _cut(self) -> Tensor:
        """λ where stable, a safe stand-in (lims[0]) elsewhere."""
        p = self.probs
        return where(self._stable(), p, p * 0 + self._lims[0])

    def _log_norm(self) -> Tensor:
        lam = self._cut()
        below = lam <= 0.5
        lam_lo = where(below, lam, lam * 0)  # each branch fed a value it is finite at
        lam_hi = where(lam >= 0.5, lam, lam * 0 + 1)
        log_norm = ((-lam).log1p() - lam.log()).abs().log() \
            - where(below, (-2.0 * lam_lo).log1p(), (2.0 * lam_hi - 1.0).log())
        d2 = (self.probs - 0.5) ** 2
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * d2) * d2
        return where(self._stable(), log_norm, taylor)

    @property
    def mean(self) -> Tensor:
        lam = self._cut()
        closed = lam / (2.0 * lam - 1.0) + 1.0 / ((-lam).log1p() - lam.log())
        d = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * d ** 2) * d
        return where(self._stable(), closed, taylor)

    @property
    def variance(self) -> Tensor:
        lam = self._cut()
        closed = lam * (lam - 1.0) / (1.0 - 2.0 * lam) ** 2 \
            + 1.0 / ((-lam).log1p() - lam.log()) ** 2
        d2 = (self.probs - 0.5) ** 2
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * d2) * d2
        return where(self._stable(), closed, taylor)

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = _random.rng(generator).random(shape)
        return self.icdf(tensor_of(xp.asarray(u, dtype=self.probs.dtype)))

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        with no_grad():
            return self.rsample(sample_shape, generator)

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value, reduction="none") \
            + self._log_norm()

    def cdf(self, value: Any) -> Tensor:
        """(λˣ (1-λ)¹⁻ˣ + λ - 1)/(2λ - 1), clipped to 0 below 0 and 1 above 1."""
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        lam = self._cut()
        closed = (lam ** value * (1.0 - lam) ** (1.0 - value) + lam - 1.0) / (2.0 * lam - 1.0)
        inner = where(self._stable(), closed, value)
        return where(value <= 0.0, value * 0, where(value >= 1.0, value * 0 + 1, inner))

    def icdf(self, value: Any) -> Tensor:
        """log(1 + u(2λ - 1)/(1 - λ)) / log(λ/(1 - λ)): the cdf solved for x."""
        u = as_float_tensor(value)
        lam = self._cut()
        closed = ((-lam + u * (2.0 * lam - 1.0)).log1p() - (-lam).log1p()) \
            / (lam.log() - (-lam).log1p())
        return where(self._stable(), closed, u)

    def entropy(self) -> Tensor:
        """E[-log p] = mean · (log(1-λ) - log λ) - log C - log(1 - λ)."""
        log0, log1 = (-self.probs).log1p(), self.probs.log()
        return self.mean * (log0 - log1) - self._log_norm() - log0
