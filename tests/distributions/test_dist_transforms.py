"""Transforms, TransformedDistribution and the KL pairs against torch in float64: each
transform's forward, inverse and log|det J| (and gradients through them), the composite's
event-dim bookkeeping, TransformedDistribution's log_prob/cdf/icdf/shapes, and
kl_divergence for every registered pair with its parameter gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributions as TD
import torch.distributions.transforms as TT
from dist_ref import compare_stat

import chainrule as cr
import chainrule.distributions as CD
import chainrule.distributions.transforms as CT

R = np.random.default_rng(5)
X = R.standard_normal((3, 4))
X_POS = R.uniform(0.2, 2.0, (3, 4))
Y01 = R.uniform(0.05, 0.95, (3, 4))
YPM = R.uniform(-0.9, 0.9, (3, 4))
ROW, ROW_POS = R.standard_normal(4), R.uniform(0.5, 2.0, 4)

# (id, chainrule transform factory, torch transform factory, x, y in the codomain)
TRANSFORMS = [
    ("exp", CT.ExpTransform, TT.ExpTransform, X, X_POS),
    ("sigmoid", CT.SigmoidTransform, TT.SigmoidTransform, X, Y01),
    ("tanh", CT.TanhTransform, TT.TanhTransform, X, YPM),
    ("softplus", CT.SoftplusTransform, TT.SoftplusTransform, X, X_POS),
    ("power", lambda: CT.PowerTransform(cr.tensor(2.5)),
     lambda: TT.PowerTransform(torch.tensor(2.5)), X_POS, X_POS),
    ("affine", lambda: CT.AffineTransform(1.5, -2.0), lambda: TT.AffineTransform(1.5, -2.0),
     X, X),
    ("affine-event",
     lambda: CT.AffineTransform(cr.tensor(ROW), cr.tensor(ROW_POS), event_dim=1),
     lambda: TT.AffineTransform(torch.tensor(ROW), torch.tensor(ROW_POS), event_dim=1), X, X),
    ("compose", lambda: CT.ComposeTransform([CT.AffineTransform(0.5, 2.0), CT.TanhTransform()]),
     lambda: TT.ComposeTransform([TT.AffineTransform(0.5, 2.0), TT.TanhTransform()]), X, YPM),
    ("compose-event",
     lambda: CT.ComposeTransform([CT.AffineTransform(cr.tensor(ROW), cr.tensor(ROW_POS),
                                                     event_dim=1), CT.ExpTransform()]),
     lambda: TT.ComposeTransform([TT.AffineTransform(torch.tensor(ROW), torch.tensor(ROW_POS),
                                                     event_dim=1), TT.ExpTransform()]),
     X, X_POS),
    ("exp-inv", lambda: CT.ExpTransform().inv, lambda: TT.ExpTransform().inv, X_POS, X),
    ("independent", lambda: CT.IndependentTransform(CT.SigmoidTransform(), 1),
     lambda: TT.IndependentTransform(TT.SigmoidTransform(), 1), X, Y01),
]


def _transform_stat(what: str, x: np.ndarray, y: np.ndarray):
    def stat(t):
        lib = cr if isinstance(t, CT.Transform) else torch
        xv = lib.tensor(x)
        if what == "call":
            return t(xv)
        if what == "inv":
            return t.inv(lib.tensor(y))
        return t.log_abs_det_jacobian(xv, t(xv))
    return stat


@pytest.mark.parametrize("what", ["call", "inv", "ladj"])
@pytest.mark.parametrize("ident,mc,mt,x,y", TRANSFORMS, ids=[t[0] for t in TRANSFORMS])
def test_transform_matches_torch(ident, mc, mt, x, y, what) -> None:
    compare_stat(lambda: mc(), lambda: mt(), [], _transform_stat(what, x, y))


@pytest.mark.parametrize("ident,mc,mt,x,y", TRANSFORMS, ids=[t[0] for t in TRANSFORMS])
def test_transform_properties_match_torch(ident, mc, mt, x, y) -> None:
    c, t = mc(), mt()
    cs, ts = c.sign, t.sign
    if isinstance(ts, torch.Tensor):  # a Tensor parameter: the elementwise sign
        np.testing.assert_array_equal(cs.numpy(), ts.numpy())
    else:
        assert cs == ts
    assert c.bijective == t.bijective
    assert c.domain.event_dim == t.domain.event_dim
    assert c.codomain.event_dim == t.codomain.event_dim


@pytest.mark.parametrize("ident,mc,mt,x,y", TRANSFORMS[:5], ids=[t[0] for t in TRANSFORMS[:5]])
def test_ladj_gradient_wrt_the_input_matches_torch(ident, mc, mt, x, y) -> None:
    """d/dx of Σ G·ladj(x, T(x)) (the gradient a flow's loss sends through x)."""
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    c, t = mc(), mt()
    g = R.standard_normal(x.shape)
    (c.log_abs_det_jacobian(xc, c(xc)) * cr.tensor(g)).sum().backward()
    (t.log_abs_det_jacobian(xt, t(xt)) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_softmax_and_abs_transforms() -> None:
    np.testing.assert_allclose(CT.SoftmaxTransform()(cr.tensor(X)).numpy(),
                               TT.SoftmaxTransform()(torch.tensor(X)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(CT.AbsTransform()(cr.tensor(X)).numpy(), np.abs(X))
    np.testing.assert_allclose(CT.AbsTransform().inv(cr.tensor(X_POS)).numpy(), X_POS)
    with pytest.raises(NotImplementedError):
        CT.SoftmaxTransform().log_abs_det_jacobian(cr.tensor(X), cr.tensor(X))


def test_tanh_cache_returns_the_pre_image_exactly() -> None:
    """With cache_size=1, inv(T(x)) is x itself even where atanh(tanh(x)) overflows."""
    t = CT.TanhTransform(cache_size=1)
    x = cr.tensor([25.0, -30.0, 0.3])
    y = t(x)
    assert t.inv(y) is x
    assert np.isinf(CT.TanhTransform().inv(y).numpy()[:2]).all()


LOC4, SCALE4 = R.standard_normal(4), R.uniform(0.5, 2.0, 4)
TD_CASES = [
    ("tanh-normal", lambda: [CT.TanhTransform()], lambda: [TT.TanhTransform()], YPM),
    ("affine-exp", lambda: [CT.AffineTransform(0.3, 1.7), CT.ExpTransform()],
     lambda: [TT.AffineTransform(0.3, 1.7), TT.ExpTransform()], X_POS),
    ("decreasing", lambda: [CT.AffineTransform(0.3, -1.7)],
     lambda: [TT.AffineTransform(0.3, -1.7)], X),
    ("sigmoid", lambda: CT.SigmoidTransform(), lambda: TT.SigmoidTransform(), Y01),
]


@pytest.mark.parametrize("what", ["log_prob", "cdf", "icdf"])
@pytest.mark.parametrize("ident,tc,tt,v", TD_CASES, ids=[t[0] for t in TD_CASES])
def test_transformed_distribution_matches_torch(ident, tc, tt, v, what) -> None:
    def stat(d):
        lib = cr if isinstance(d, CD.Distribution) else torch
        return getattr(d, what)(lib.tensor(Y01 if what == "icdf" else v))
    compare_stat(lambda m, s: CD.TransformedDistribution(CD.Normal(m, s), tc()),
                 lambda m, s: TD.TransformedDistribution(TD.Normal(m, s), tt()),
                 [LOC4, SCALE4], stat)


def test_event_transform_reinterprets_base_batch_dims() -> None:
    """An event_dim=1 transform on a batch of scalars makes the last batch dim an event dim
    and log_prob sums over it (as torch does)."""
    def make(lib, D, T):
        return lambda m, s: D.TransformedDistribution(D.Normal(m, s),
                                                      [T.AffineTransform(0.3, 1.7, event_dim=1)])
    c = make(cr, CD, CT)(cr.tensor(LOC4), cr.tensor(SCALE4))
    t = make(torch, TD, TT)(torch.tensor(LOC4), torch.tensor(SCALE4))
    assert c.batch_shape == tuple(t.batch_shape) and c.event_shape == tuple(t.event_shape)

    def stat(d):
        lib = cr if isinstance(d, CD.Distribution) else torch
        return d.log_prob(lib.tensor(X))
    compare_stat(make(cr, CD, CT), make(torch, TD, TT), [LOC4, SCALE4], stat)


def test_tanh_normal_policy_rsample_log_prob() -> None:
    """The SAC idiom: a = tanh(u), u ~ N(μ, σ); log π(a) through the cached inverse equals
    N.log_prob(u) - log(1 - tanh²u), with gradients to μ and σ."""
    m, s = cr.tensor(LOC4, requires_grad=True), cr.tensor(SCALE4, requires_grad=True)
    pi = CD.TransformedDistribution(CD.Normal(m, s), [CT.TanhTransform(cache_size=1)])
    a = pi.rsample((6,), generator=cr.Generator().manual_seed(0))
    lp = pi.log_prob(a)
    u = CT.TanhTransform().inv(a.detach()).numpy()
    mt, st = torch.tensor(LOC4, requires_grad=True), torch.tensor(SCALE4, requires_grad=True)
    ut = torch.tensor(u)  # the same pre-images, torch's formula
    ref = TD.Normal(mt, st).log_prob(ut) - TT.TanhTransform().log_abs_det_jacobian(
        ut, ut.tanh())
    np.testing.assert_allclose(lp.detach().numpy(), ref.detach().numpy(), rtol=1e-7)


U23 = lambda: R.uniform(0.5, 3.0, (2, 3))  # noqa: E731
N23 = lambda: R.standard_normal((2, 3))  # noqa: E731
KL_CASES = [
    ("Gamma", CD.Gamma, TD.Gamma, [U23(), U23()], [U23(), U23()]),
    ("Chi2", CD.Chi2, TD.Chi2, [U23()], [U23()]),
    ("Beta", CD.Beta, TD.Beta, [U23(), U23()], [U23(), U23()]),
    ("Dirichlet", CD.Dirichlet, TD.Dirichlet, [U23()], [U23()]),
    ("Exponential", CD.Exponential, TD.Exponential, [U23()], [U23()]),
    ("Laplace", CD.Laplace, TD.Laplace, [N23(), U23()], [N23(), U23()]),
    ("Poisson", CD.Poisson, TD.Poisson, [U23()], [U23()]),
    ("Geometric", CD.Geometric, TD.Geometric, [U23() / 4], [U23() / 4]),
    ("OneHotCategorical", lambda lg: CD.OneHotCategorical(logits=lg),
     lambda lg: TD.OneHotCategorical(logits=lg), [N23()], [N23()]),
    ("Gumbel", CD.Gumbel, TD.Gumbel, [N23(), U23()], [N23(), U23()]),
    ("LogNormal", CD.LogNormal, TD.LogNormal, [N23(), U23()], [N23(), U23()]),
    ("HalfNormal", CD.HalfNormal, TD.HalfNormal, [U23()], [U23()]),
]


@pytest.mark.parametrize("ident,mc,mt,pp,pq", KL_CASES, ids=[k[0] for k in KL_CASES])
def test_kl_divergence_matches_torch(ident, mc, mt, pp, pq) -> None:
    n = len(pp)

    def stat(pair):
        kl = CD.kl_divergence if isinstance(pair[0], CD.Distribution) else TD.kl_divergence
        return kl(*pair)
    compare_stat(lambda *a: (mc(*a[:n]), mc(*a[n:])), lambda *a: (mt(*a[:n]), mt(*a[n:])),
                 list(pp) + list(pq), stat)


def test_kl_of_differently_transformed_distributions_is_not_implemented() -> None:
    p = CD.TransformedDistribution(CD.Normal(0.0, 1.0), [CT.ExpTransform()])
    q = CD.TransformedDistribution(CD.Normal(0.0, 1.0), [CT.SigmoidTransform()])
    with pytest.raises(NotImplementedError):
        CD.kl_divergence(p, q)


@pytest.mark.parametrize("module,name", [
    ("gamma", "Gamma"), ("dirichlet", "Dirichlet"), ("exponential", "Exponential"),
    ("chi2", "Chi2"), ("laplace", "Laplace"), ("cauchy", "Cauchy"), ("studentT", "StudentT"),
    ("poisson", "Poisson"), ("binomial", "Binomial"), ("geometric", "Geometric"),
    ("one_hot_categorical", "OneHotCategorical"), ("log_normal", "LogNormal"),
    ("gumbel", "Gumbel"), ("half_normal", "HalfNormal"), ("relaxed_bernoulli",
                                                          "RelaxedBernoulli"),
    ("relaxed_categorical", "RelaxedOneHotCategorical"),
    ("transformed_distribution", "TransformedDistribution"),
    ("mixture_same_family", "MixtureSameFamily"), ("transforms", "TanhTransform"),
    ("multinomial", "Multinomial"), ("negative_binomial", "NegativeBinomial"),
    ("continuous_bernoulli", "ContinuousBernoulli"),
    ("lowrank_multivariate_normal", "LowRankMultivariateNormal"),
])
def test_torch_module_paths_import(module: str, name: str) -> None:
    import importlib

    importlib.import_module(f"torch.distributions.{module}").__dict__[name]  # the reference
    mod = importlib.import_module(f"chainrule.distributions.{module}")
    assert getattr(mod, name) is getattr(CD, name, None) or module == "transforms"


def test_constraints_module_names() -> None:
    from torch.distributions import constraints as tc

    from chainrule.distributions import constraints as cc
    for name in ["nonnegative", "nonnegative_integer", "one_hot", "positive", "real",
                 "simplex", "unit_interval", "boolean"]:
        assert str(getattr(cc, name)) == str(getattr(tc, name)), name
    assert str(cc.integer_interval(0, 3)) == str(tc.integer_interval(0, 3))
    assert str(cc.interval(-1.0, 2.0)) == str(tc.interval(-1.0, 2.0))
    assert str(cc.greater_than(1.0)) == str(tc.greater_than(1.0))


@pytest.mark.parametrize("make", [
    lambda L: L.distributions.transforms.ExpTransform(),
    lambda L: L.distributions.transforms.SigmoidTransform(),
    lambda L: L.distributions.transforms.AffineTransform(1.0, 2.0),
    lambda L: L.distributions.transforms.PowerTransform(L.tensor(2.0, dtype=L.float64)),
    lambda L: L.distributions.transforms.ExpTransform().inv,
    lambda L: L.distributions.transforms.IndependentTransform(
        L.distributions.transforms.ExpTransform(), 1),
    lambda L: L.distributions.transforms.ComposeTransform(
        [L.distributions.transforms.ExpTransform(),
         L.distributions.transforms.AffineTransform(0.0, 3.0)]),
], ids=["exp", "sigmoid", "affine", "power", "inverse", "independent", "compose"])
def test_with_cache_returns_a_caching_copy_like_torch(make) -> None:
    """``t.with_cache(1)``: the same map, whose call returns the cached y for the same x and
    whose inverse returns the cached x for that y (torch's behaviour, checked side by side)."""
    got = []
    for L in (torch, cr):
        t = make(L)
        c = t.with_cache(1)
        x = L.tensor([[0.5, 1.0]], dtype=L.float64)
        y = c(x)
        assert t.with_cache(0) is t
        got.append((c(x) is y, c.inv(y) is x, np.asarray(y.tolist())))
    assert got[0][:2] == got[1][:2] == (True, True)
    np.testing.assert_allclose(got[1][2], got[0][2], rtol=1e-12)
