"""Closed-form KL(p ‖ q) for the pairs of the Gamma, Beta, Dirichlet, Exponential, Laplace,
Poisson, Geometric, Gumbel, OneHotCategorical and transformed families (registered with
``register_kl`` as PyTorch registers them). ψ is the digamma function."""

from __future__ import annotations

from chainrule.distributions._support import digamma, lgamma
from chainrule.distributions.continuous import Beta
from chainrule.distributions.counts import Geometric, OneHotCategorical, Poisson
from chainrule.distributions.gamma import Dirichlet, Exponential, Gamma
from chainrule.distributions.kl import kl_divergence, register_kl
from chainrule.distributions.location_scale import Laplace
from chainrule.distributions.transformed_distribution import Gumbel, TransformedDistribution
from chainrule.tensor import Tensor

_EULER_GAMMA = 0.57721566490153286061


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p: Gamma, q: Gamma) -> Tensor:
    """(αp - αq) ψ(αp) - log Γ(αp) + log Γ(αq) + αq (log βp - log βq) + αp (βq - βp)/βp."""
    ap, bp, aq, bq = p.concentration, p.rate, q.concentration, q.rate
    return (ap - aq) * digamma(ap) - lgamma(ap) + lgamma(aq) \
        + aq * (bp.log() - bq.log()) + ap * (bq - bp) / bp


@register_kl(Beta, Beta)
def _kl_beta_beta(p: Beta, q: Beta) -> Tensor:
    """log B(aq, bq) - log B(ap, bp) + (ap - aq) ψ(ap) + (bp - bq) ψ(bp)
    + (aq - ap + bq - bp) ψ(ap + bp)."""
    ap, bp, aq, bq = p.concentration1, p.concentration0, q.concentration1, q.concentration0
    lbeta = lambda a, b: lgamma(a) + lgamma(b) - lgamma(a + b)  # noqa: E731
    return lbeta(aq, bq) - lbeta(ap, bp) + (ap - aq) * digamma(ap) \
        + (bp - bq) * digamma(bp) + (aq - ap + bq - bp) * digamma(ap + bp)


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p: Dirichlet, q: Dirichlet) -> Tensor:
    """log Γ(Σαp) - log Γ(Σαq) - Σ log Γ(αp) + Σ log Γ(αq) + Σ (αp - αq)(ψ(αp) - ψ(Σαp))."""
    ap, aq = p.concentration, q.concentration
    sp = ap.sum(-1)
    return lgamma(sp) - lgamma(aq.sum(-1)) - lgamma(ap).sum(-1) + lgamma(aq).sum(-1) \
        + ((ap - aq) * (digamma(ap) - digamma(sp).unsqueeze(-1))).sum(-1)


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p: Exponential, q: Exponential) -> Tensor:
    """log(λp/λq) + λq/λp - 1."""
    r = q.rate / p.rate
    return r - r.log() - 1


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p: Laplace, q: Laplace) -> Tensor:
    """log(bq/bp) + |μp - μq|/bq + (bp/bq) e^(-|μp - μq|/bp) - 1."""
    r = p.scale / q.scale
    d = (p.loc - q.loc).abs()
    return -r.log() + d / q.scale + r * (-d / p.scale).exp() - 1


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p: Poisson, q: Poisson) -> Tensor:
    """λp (log λp - log λq) - (λp - λq)."""
    return p.rate * (p.rate.log() - q.rate.log()) - (p.rate - q.rate)


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p: Geometric, q: Geometric) -> Tensor:
    """-H(p) - log(1 - q)/p - logit(q): E_p[k] = 1/p - 1 failures at log(1 - q) each."""
    return -p.entropy() - (-q.probs).log1p() / p.probs - q.logits


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehot_onehot(p: OneHotCategorical, q: OneHotCategorical) -> Tensor:
    return kl_divergence(p._categorical, q._categorical)


@register_kl(Gumbel, Gumbel)
def _kl_gumbel_gumbel(p: Gumbel, q: Gumbel) -> Tensor:
    """With r = βp/βq: -log r + (μp - μq)/βq + γ r + e^((μq - μp)/βq) Γ(1 + r) - (1 + γ)."""
    r = p.scale / q.scale
    shift = (p.loc - q.loc) / q.scale
    return -r.log() + shift + _EULER_GAMMA * r + (lgamma(1 + r) - shift).exp() \
        - (1 + _EULER_GAMMA)


@register_kl(TransformedDistribution, TransformedDistribution)
def _kl_transformed_transformed(p: TransformedDistribution,
                                q: TransformedDistribution) -> Tensor:
    """KL is invariant under a shared bijection: KL(T(X) ‖ T(Y)) = KL(X ‖ Y)."""
    if p.transforms != q.transforms or p.event_shape != q.event_shape:
        raise NotImplementedError("KL between TransformedDistributions with different "
                                  "transforms or event shapes")
    return kl_divergence(p.base_dist, q.base_dist)
