"""``LowRankMultivariateNormal``: N(μ, Σ) with Σ = W Wᵀ + diag(D), W of shape k × r
(PyTorch's ``torch.distributions.lowrank_multivariate_normal``).

Everything goes through the r × r capacitance matrix C = I + Wᵀ D⁻¹ W = L_C L_Cᵀ, never a
k × k factorisation:
  log det Σ = 2 Σ log diag L_C + Σ log D        (matrix determinant lemma)
  xᵀ Σ⁻¹ x = xᵀ D⁻¹ x - ‖L_C⁻¹ Wᵀ D⁻¹ x‖²        (Woodbury identity)
rsample is μ + W ε_r + √D ε_k with independent standard normals ε.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import random as _random
from chainrule.backend import xp
from chainrule.distributions._support import independent
from chainrule.distributions.continuous import _LocIsMean
from chainrule.distributions.distribution import (
    Distribution,
    as_float_tensor,
    lazy_property,
    positive,
    real,
    real_vector,
)
from chainrule.ops.linalg import Cholesky, SolveTriangular
from chainrule.tensor import Tensor, tensor_of

__all__ = ["LowRankMultivariateNormal"]


def _eye(n: int, like: Tensor) -> Tensor:
    return tensor_of(xp.eye(n, dtype=like.dtype))


class LowRankMultivariateNormal(_LocIsMean, Distribution):
    """N(loc, cov_factor cov_factorᵀ + diag(cov_diag)) over vectors of size k (see the
    module doc for the maths)."""

    arg_constraints = {"loc": real_vector, "cov_factor": independent(real, 2),
                       "cov_diag": independent(positive, 1)}
    support = real_vector
    has_rsample = True

    def __init__(self, loc: Any, cov_factor: Any, cov_diag: Any,
                 validate_args: bool | None = None) -> None:
        loc, w, d = as_float_tensor(loc), as_float_tensor(cov_factor), as_float_tensor(cov_diag)
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        k = loc.shape[-1]
        if w.ndim < 2:
            raise ValueError("cov_factor must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        if tuple(w.shape[-2:-1]) != (k,):
            raise ValueError(f"cov_factor must be a batch of matrices with shape {k} x m")
        if tuple(d.shape[-1:]) != (k,):
            raise ValueError(f"cov_diag must be a batch of vectors with shape {(k,)}")
        batch = tuple(xp.broadcast_shapes(tuple(loc.shape[:-1]), tuple(w.shape[:-2]),
                                          tuple(d.shape[:-1])))
        r = w.shape[-1]
        self.loc = loc.expand(batch + (k,))
        self.cov_factor = w.expand(batch + (k, r))
        self.cov_diag = d.expand(batch + (k,))
        self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag = w, d
        wt_dinv = w.mT / d.unsqueeze(-2)
        self._capacitance_tril = Cholesky.apply(wt_dinv @ w + _eye(r, w))
        super().__init__(batch, (k,), validate_args=validate_args)

    @property
    def variance(self) -> Tensor:
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return ((w ** 2).sum(-1) + d).expand(self._batch_shape + self._event_shape)

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        cov = w @ w.mT + d.unsqueeze(-1) * _eye(d.shape[-1], d)
        return cov.expand(self._batch_shape + self._event_shape + self._event_shape)

    @lazy_property
    def scale_tril(self) -> Tensor:
        return Cholesky.apply(self.covariance_matrix)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        """Σ⁻¹ = D⁻¹ - D⁻¹ W C⁻¹ Wᵀ D⁻¹ (Woodbury)."""
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        # (C and Wᵀ D⁻¹ share the batch shape of the unbroadcast W and D)
        a = SolveTriangular.apply(self._capacitance_tril, (w / d.unsqueeze(-1)).mT,
                                  upper=False)
        k = d.shape[-1]
        prec = (1 / d).unsqueeze(-1) * _eye(k, d) - a.mT @ a
        return prec.expand(self._batch_shape + self._event_shape + self._event_shape)

    def _log_det(self) -> Tensor:
        lc = self._capacitance_tril
        return 2 * lc.diagonal(0, -2, -1).log().sum(-1) \
            + self._unbroadcasted_cov_diag.log().sum(-1)

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        r = _random.rng(generator)
        rank = self._unbroadcasted_cov_factor.shape[-1]
        dt = self.loc.dtype
        eps_w = tensor_of(xp.asarray(r.standard_normal(shape[:-1] + (rank,)), dtype=dt))
        eps_d = tensor_of(xp.asarray(r.standard_normal(shape), dtype=dt))
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return self.loc + (w @ eps_w.unsqueeze(-1)).squeeze(-1) + d.sqrt() * eps_d

    def log_prob(self, value: Any) -> Tensor:
        value = as_float_tensor(value)
        if self._validate_args:
            self._validate_sample(value)
        k, rank = self._event_shape[0], self._unbroadcasted_cov_factor.shape[-1]
        diff = value - self.loc
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        batch = tuple(diff.shape[:-1])
        u = (w.mT @ (diff / d).unsqueeze(-1))  # Wᵀ D⁻¹ x, (…, r, 1)
        lc = self._capacitance_tril.expand(batch + (rank, rank))
        z = SolveTriangular.apply(lc, u.expand(batch + (rank, 1)), upper=False).squeeze(-1)
        maha = (diff ** 2 / d).sum(-1) - (z ** 2).sum(-1)
        return -0.5 * (k * math.log(2 * math.pi) + maha + self._log_det())

    def entropy(self) -> Tensor:
        k = self._event_shape[0]
        h = 0.5 * (k * (1.0 + math.log(2 * math.pi)) + self._log_det())
        return h.expand(self._batch_shape) if self._batch_shape else h
