"""``kl_divergence(p, q)``: KL(p ‖ q) = E_p[log p - log q] in closed form for registered pairs
(``register_kl`` adds one, as in PyTorch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.backend import xp
from chainrule.distributions.continuous import Independent, MultivariateNormal, Normal
from chainrule.distributions.discrete import Bernoulli, Categorical
from chainrule.distributions.distribution import Distribution, sum_rightmost
from chainrule.nn._functional.activation import softplus
from chainrule.ops.linalg import SolveTriangular
from chainrule.tensor import Tensor

__all__ = ["kl_divergence", "register_kl"]

_KL: dict[tuple[type, type], Callable[[Any, Any], Tensor]] = {}


def register_kl(type_p: type, type_q: type) -> Callable:
    """Decorator: ``@register_kl(P, Q) def kl(p, q): ...``."""
    def deco(fn: Callable[[Any, Any], Tensor]) -> Callable[[Any, Any], Tensor]:
        _KL[(type_p, type_q)] = fn
        return fn
    return deco


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p ‖ q), batched over the distributions' batch shape."""
    # the most specific registered pair wins (Gumbel before TransformedDistribution)
    mro_p, mro_q = type(p).__mro__, type(q).__mro__
    matches = [(mro_p.index(tp) + mro_q.index(tq), mro_p.index(tp), fn)
               for (tp, tq), fn in _KL.items() if isinstance(p, tp) and isinstance(q, tq)]
    if matches:
        return min(matches, key=lambda m: m[:2])[2](p, q)
    raise NotImplementedError(f"No KL(p || q) is implemented for p type {type(p).__name__} "
                              f"and q type {type(q).__name__}")


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    """log(σq/σp) + (σp² + (μp - μq)²) / (2σq²) - ½."""
    var_ratio = (p.scale / q.scale) ** 2
    t1 = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    """p (softplus(-lq) - softplus(-lp)) + (1 - p)(softplus(lq) - softplus(lp)), with the
    terms whose weight is exactly 0 or 1 set to their limit (PyTorch's handling)."""
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t1 = t1.masked_fill(q.probs == 0, float("inf")).masked_fill(p.probs == 0, 0.0)
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    t2 = t2.masked_fill(q.probs == 1, float("inf")).masked_fill(p.probs == 1, 0.0)
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    """Σ p_k (log p_k - log q_k), inf where q_k = 0 < p_k, 0 terms where p_k = 0."""
    t = p.probs * (p.logits - q.logits)
    t = t.masked_fill(q.probs == 0, float("inf")).masked_fill(p.probs == 0, 0.0)
    return t.sum(-1)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p: MultivariateNormal, q: MultivariateNormal) -> Tensor:
    """½ (tr(Σq⁻¹Σp) + ‖Lq⁻¹(μq - μp)‖² - k + log det Σq - log det Σp)."""
    k = p.event_shape[0]
    lp, lq = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    shape = tuple(xp.broadcast_shapes(tuple(lp.shape), tuple(lq.shape)))
    lp, lq = lp.expand(shape), lq.expand(shape)
    m = SolveTriangular.apply(lq, lp, upper=False)
    d = (q.loc - p.loc).expand(shape[:-1])
    z = SolveTriangular.apply(lq, d.unsqueeze(-1), upper=False).squeeze(-1)
    return q._half_log_det() - p._half_log_det() + 0.5 * ((m ** 2).sum((-2, -1))
                                                          + (z ** 2).sum(-1) - k)


@register_kl(Independent, Independent)
def _kl_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("KL between Independents with different "
                                  "reinterpreted_batch_ndims")
    return sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)
