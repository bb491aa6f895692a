"""Draws of the added distributions: goodness of fit at a fixed seed (SciPy's KS test against
the exact cdf for continuous families, a chi-square test against the pmf for counts), and
rsample gradients — pathwise ones exactly (the draw as a function of its noise), the implicit
Gamma gradient sample by sample against torch's ``_standard_gamma_grad``, and the Gamma,
Beta, Dirichlet and Student-t ones in expectation against the closed-form derivative of a
moment (or torch's own rsample estimate)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.distributions as TD
from scipy import stats

import chainrule as cr
import chainrule.distributions as CD

N = 4000
P_MIN = 1e-3  # fixed seeds: deterministic, so a pass is not luck-dependent across runs


def _gen(seed: int = 0) -> cr.Generator:
    return cr.Generator().manual_seed(seed)


def _t(*v: float) -> list:
    return [cr.tensor(np.asarray(x, dtype=np.float64)) for x in v]


KS_CASES: list[tuple[str, Callable, Callable]] = [
    ("Gamma", lambda: CD.Gamma(*_t(2.5, 1.5)), stats.gamma(2.5, scale=1 / 1.5).cdf),
    ("Gamma-small-shape", lambda: CD.Gamma(*_t(0.3, 2.0)), stats.gamma(0.3, scale=0.5).cdf),
    ("Chi2", lambda: CD.Chi2(*_t(3.0)), stats.chi2(3.0).cdf),
    ("Exponential", lambda: CD.Exponential(*_t(0.7)), stats.expon(scale=1 / 0.7).cdf),
    ("Laplace", lambda: CD.Laplace(*_t(0.5, 2.0)), stats.laplace(0.5, 2.0).cdf),
    ("Cauchy", lambda: CD.Cauchy(*_t(-1.0, 0.5)), stats.cauchy(-1.0, 0.5).cdf),
    ("StudentT", lambda: CD.StudentT(*_t(3.5, 1.0, 2.0)), stats.t(3.5, 1.0, 2.0).cdf),
    ("LogNormal", lambda: CD.LogNormal(*_t(0.3, 0.8)), stats.lognorm(0.8, scale=np.exp(0.3)).cdf),
    ("Gumbel", lambda: CD.Gumbel(*_t(1.0, 2.0)), stats.gumbel_r(1.0, 2.0).cdf),
    ("HalfNormal", lambda: CD.HalfNormal(*_t(1.7)), stats.halfnorm(scale=1.7).cdf),
    ("Beta", lambda: CD.Beta(*_t(0.7, 2.5)), stats.beta(0.7, 2.5).cdf),
    ("Mixture", lambda: CD.MixtureSameFamily(CD.Categorical(probs=cr.tensor([0.3, 0.7])),
                                             CD.Normal(*_t([-2.0, 1.0], [0.5, 1.0]))),
     lambda x: 0.3 * stats.norm(-2, 0.5).cdf(x) + 0.7 * stats.norm(1, 1).cdf(x)),
]


@pytest.mark.parametrize("method", ["sample", "rsample"])
@pytest.mark.parametrize("ident,make,cdf", KS_CASES, ids=[c[0] for c in KS_CASES])
def test_draws_follow_the_distribution(ident, make, cdf, method) -> None:
    d = make()
    if method == "rsample" and not d.has_rsample:
        pytest.skip("no rsample (as in torch)")
    x = getattr(d, method)((N,), generator=_gen(1)).detach().numpy()
    assert x.shape == (N,)
    assert stats.kstest(x, cdf).pvalue > P_MIN


def test_dirichlet_marginals_are_beta() -> None:
    a = np.array([0.5, 1.5, 3.0])
    x = CD.Dirichlet(cr.tensor(a)).rsample((N,), generator=_gen(2)).numpy()
    np.testing.assert_allclose(x.sum(-1), 1.0, atol=1e-12)
    for i in range(3):
        assert stats.kstest(x[:, i], stats.beta(a[i], a.sum() - a[i]).cdf).pvalue > P_MIN


def test_relaxed_bernoulli_logit_is_logistic() -> None:
    """logit(X) = (l + logit U)/λ is Logistic(l/λ, 1/λ)."""
    lg, lam = 0.8, 0.4
    x = CD.RelaxedBernoulli(cr.tensor(lam, dtype=cr.float64),
                            logits=cr.tensor(lg, dtype=cr.float64)).sample((N,),
                                                                           generator=_gen(3))
    z = np.log(x.numpy()) - np.log1p(-x.numpy())
    assert stats.kstest(z, stats.logistic(lg / lam, 1 / lam).cdf).pvalue > P_MIN


def test_relaxed_one_hot_argmax_is_categorical() -> None:
    """argmax of softmax((l + g)/λ) is Categorical(softmax(l)) at any λ (Gumbel-max)."""
    p = np.array([0.1, 0.2, 0.7])
    d = CD.RelaxedOneHotCategorical(cr.tensor(0.5, dtype=cr.float64), probs=cr.tensor(p))
    k = d.sample((N,), generator=_gen(4)).numpy().argmax(-1)
    assert stats.chisquare(np.bincount(k, minlength=3), N * p).pvalue > P_MIN


def _chisq(counts: np.ndarray, pmf: np.ndarray) -> float:
    """χ² test with the tail beyond the last expected count ≥ 5 pooled into one cell."""
    exp = N * pmf
    keep = np.nonzero(exp >= 5)[0].max() + 1
    obs = np.append(counts[:keep], counts[keep:].sum())
    e = np.append(exp[:keep], N - exp[:keep].sum())
    return stats.chisquare(obs, e).pvalue


@pytest.mark.parametrize("ident,make,pmf", [
    ("Poisson", lambda: CD.Poisson(*_t(3.3)), stats.poisson(3.3).pmf),
    ("Binomial", lambda: CD.Binomial(12, *_t(0.35)), stats.binom(12, 0.35).pmf),
    ("Geometric", lambda: CD.Geometric(*_t(0.3)), lambda k: stats.geom(0.3).pmf(k + 1)),
    ("NegativeBinomial", lambda: CD.NegativeBinomial(*_t(2.5, 0.4)),
     stats.nbinom(2.5, 0.6).pmf),  # SciPy counts failures with success probability 1 - p
])
def test_counts_follow_the_pmf(ident, make, pmf) -> None:
    k = make().sample((N,), generator=_gen(5)).numpy()
    assert k.dtype == np.float64 and (k == np.round(k)).all()
    grid = np.arange(60)
    assert _chisq(np.bincount(k.astype(int), minlength=60)[:60], pmf(grid)) > P_MIN


def test_one_hot_categorical_draws() -> None:
    p = np.array([0.5, 0.2, 0.3])
    x = CD.OneHotCategorical(probs=cr.tensor(p)).sample((N,), generator=_gen(6)).numpy()
    assert (x.sum(-1) == 1).all()
    assert stats.chisquare(x.sum(0), N * p).pvalue > P_MIN


def test_gamma_implicit_gradient_matches_torch_per_draw() -> None:
    """dx/dα of a standard-Gamma draw is a function of (x, α): torch's at the same (x, α)."""
    a = np.array([0.05, 0.3, 1.0, 2.5, 20.0, 300.0])
    ac = cr.tensor(a, requires_grad=True)
    x = CD.Gamma(ac, cr.tensor(np.ones(6))).rsample((50,), generator=_gen(7))
    x.sum().backward()  # draws of different α are independent: the sum gives each dx/dα
    # per-draw gradients: one batch element per (draw, α)
    ab = cr.tensor(np.broadcast_to(a, (50, 6)).copy(), requires_grad=True)
    xb = CD.Gamma(ab, cr.tensor(1.0, dtype=cr.float64)).rsample(generator=_gen(7))
    xb.sum().backward()
    ref = torch._standard_gamma_grad(torch.tensor(ab.detach().numpy()),
                                     torch.tensor(xb.detach().numpy())).numpy()
    np.testing.assert_allclose(ab.grad.numpy(), ref, rtol=2e-3, atol=1e-12)
    np.testing.assert_allclose(ac.grad.numpy(), ab.grad.numpy().sum(0), rtol=1e-12)


@pytest.mark.parametrize("a,x", [(0.01, 1.56), (0.3, 9.02), (1.0, 0.2), (8.0, 24.0),
                                 (8.0, 1.18), (300.0, 270.0)])
def test_gamma_implicit_gradient_against_high_precision(a: float, x: float) -> None:
    """dx/dα = -∂_α P(α, x) / p(x; α) with a 30-digit mpmath derivative: chainrule's
    finite-difference value is within 1e-7 (torch's series is up to ~1e-3 off here)."""
    mp = pytest.importorskip("mpmath")
    from chainrule.distributions.gamma import standard_gamma_grad
    with mp.workdps(30):
        xm, am = mp.mpf(x), mp.mpf(a)
        dens = xm ** (am - 1) * mp.exp(-xm) / mp.gamma(am)
        ref = float(-mp.diff(lambda s: mp.gammainc(s, 0, xm, regularized=True), am) / dens)
    got = standard_gamma_grad(np.array([a]), np.array([x]))[0]
    assert abs(got - ref) <= 1e-7 * abs(ref)


def _mc_grad(estimate: Callable[[int], np.ndarray], batches: int = 10) -> tuple:
    """Mean and standard error over independent batches of a gradient estimate."""
    g = np.stack([estimate(b) for b in range(batches)])
    return g.mean(0), g.std(0, ddof=1) / np.sqrt(batches)


def _assert_within(est: np.ndarray, se: np.ndarray, ref: np.ndarray, k: float = 4.0) -> None:
    assert (np.abs(est - ref) <= k * se + 1e-3 * np.abs(ref)).all(), (est, se, ref)


def test_gamma_rsample_gradient_in_expectation() -> None:
    """d E[x]/dα = 1/β, d E[x]/dβ = -α/β², d E[x²]/dα = (2α + 1)/β²."""
    a0, b0 = np.array([0.4, 2.0, 7.0]), np.array([1.5, 0.5, 2.0])

    def est(seed: int) -> np.ndarray:
        a, b = cr.tensor(a0, requires_grad=True), cr.tensor(b0, requires_grad=True)
        x = CD.Gamma(a, b).rsample((2000,), generator=_gen(100 + seed))
        ga, gb = cr.autograd.grad(x.mean(0).sum(), [a, b], retain_graph=True)
        (ga2,) = cr.autograd.grad((x ** 2).mean(0).sum(), [a])
        return np.concatenate([ga.numpy(), gb.numpy(), ga2.numpy()])
    m, se = _mc_grad(est)
    ref = np.concatenate([1 / b0, -a0 / b0 ** 2, (2 * a0 + 1) / b0 ** 2])
    _assert_within(m, se, ref)


def _closed_form_grad(fn: Callable, *params: np.ndarray) -> np.ndarray:
    ts = [torch.tensor(p, requires_grad=True) for p in params]
    return np.concatenate([g.numpy() for g in torch.autograd.grad(fn(*ts), ts)])


def test_beta_rsample_gradient_in_expectation() -> None:
    """d/d(a, b) of E[x²] = a(a+1)/((a+b)(a+b+1))."""
    a0, b0 = np.array([0.6, 2.0]), np.array([3.0, 0.8])

    def est(seed: int) -> np.ndarray:
        a, b = cr.tensor(a0, requires_grad=True), cr.tensor(b0, requires_grad=True)
        x = CD.Beta(a, b).rsample((2000,), generator=_gen(200 + seed))
        return np.concatenate([g.numpy() for g in
                               cr.autograd.grad((x ** 2).mean(0).sum(), [a, b])])
    m, se = _mc_grad(est)
    ref = _closed_form_grad(lambda a, b: (a * (a + 1) / ((a + b) * (a + b + 1))).sum(), a0, b0)
    _assert_within(m, se, ref)


def test_dirichlet_rsample_gradient_in_expectation() -> None:
    """d/dα of E[Σ w_i x_i²], E[x_i²] = α_i(α_i + 1)/(A(A + 1))."""
    a0, w = np.array([0.5, 1.5, 3.0]), np.array([1.0, -2.0, 0.5])

    def est(seed: int) -> np.ndarray:
        a = cr.tensor(a0, requires_grad=True)
        x = CD.Dirichlet(a).rsample((2000,), generator=_gen(300 + seed))
        return cr.autograd.grad(((x ** 2) * cr.tensor(w)).sum(-1).mean(), [a])[0].numpy()
    m, se = _mc_grad(est)
    ref = _closed_form_grad(
        lambda a: (torch.tensor(w) * a * (a + 1) / (a.sum() * (a.sum() + 1))).sum(), a0)
    _assert_within(m, se, ref)


def test_student_t_rsample_gradient_matches_torch_in_expectation() -> None:
    """d/d(ν, μ, σ) of E[tanh(x)²]: chainrule's estimate vs torch's, within their joint
    standard error (no closed form)."""
    p0 = [np.array([2.5, 6.0]), np.array([0.3, -0.5]), np.array([1.0, 0.7])]

    def est(lib, dist, seed: int) -> np.ndarray:
        ps = [lib.tensor(p, requires_grad=True) for p in p0]
        if lib is torch:
            torch.manual_seed(seed)
            x = dist(*ps).rsample((4000,))
        else:
            x = dist(*ps).rsample((4000,), generator=_gen(400 + seed))
        gs = lib.autograd.grad((x.tanh() ** 2).mean(0).sum(), ps)
        return np.concatenate([g.numpy() for g in gs])
    mc, sec = _mc_grad(lambda s: est(cr, CD.StudentT, s))
    mt, set_ = _mc_grad(lambda s: est(torch, TD.StudentT, s))
    assert (np.abs(mc - mt) <= 4 * np.hypot(sec, set_) + 1e-3).all(), (mc, mt, sec, set_)


@pytest.mark.parametrize("ident,make,dx", [
    ("Laplace", lambda m, s: CD.Laplace(m, s), lambda x, m, s: (1.0, (x - m) / s)),
    ("Cauchy", lambda m, s: CD.Cauchy(m, s), lambda x, m, s: (1.0, (x - m) / s)),
    ("Gumbel", lambda m, s: CD.Gumbel(m, s), lambda x, m, s: (1.0, (x - m) / s)),
    ("LogNormal", lambda m, s: CD.LogNormal(m, s),
     lambda x, m, s: (x, x * (np.log(x) - m) / s)),
])
def test_pathwise_rsample_gradients(ident, make, dx) -> None:
    """With the noise fixed, x = loc + scale·ε (or exp of it): dx/dloc and dx/dscale."""
    m0, s0 = np.array([0.3, -1.0]), np.array([0.5, 2.0])
    m, s = cr.tensor(m0, requires_grad=True), cr.tensor(s0, requires_grad=True)
    x = make(m, s).rsample((5,), generator=_gen(8))
    assert x.requires_grad
    g = np.random.default_rng(0).standard_normal(x.shape)
    gm, gs = cr.autograd.grad((x * cr.tensor(g)).sum(), [m, s])
    xv = x.detach().numpy()
    dm, ds = dx(xv, m0, s0)
    np.testing.assert_allclose(gm.numpy(), (g * dm).sum(0), rtol=1e-9)
    np.testing.assert_allclose(gs.numpy(), (g * ds).sum(0), rtol=1e-9)


def test_exponential_and_half_normal_pathwise_gradients() -> None:
    r = cr.tensor([0.5, 2.0], requires_grad=True)
    x = CD.Exponential(r).rsample((5,), generator=_gen(9))
    (g,) = cr.autograd.grad(x.sum(), [r])
    np.testing.assert_allclose(g.numpy(), (-x.detach().numpy() / r.detach().numpy()).sum(0))
    s = cr.tensor([0.5, 2.0], requires_grad=True)
    y = CD.HalfNormal(s).rsample((5,), generator=_gen(9))
    (g,) = cr.autograd.grad(y.sum(), [s])
    np.testing.assert_allclose(g.numpy(), (y.detach().numpy() / s.detach().numpy()).sum(0))


def test_relaxed_rsample_gradients() -> None:
    """RelaxedBernoulli: x = σ((l + L)/λ), dx/dl = x(1 - x)/λ. RelaxedOneHotCategorical:
    y = softmax((l + g)/λ), Gᵀ dy/dl = (y ⊙ G - y (y·G))/λ."""
    lam = 0.6
    lg = cr.tensor([0.2, -1.0, 2.0], dtype=cr.float64, requires_grad=True)
    x = CD.RelaxedBernoulli(cr.tensor(lam, dtype=cr.float64), logits=lg).rsample(
        (4,), generator=_gen(10))
    (g,) = cr.autograd.grad(x.sum(), [lg])
    xv = x.detach().numpy()
    np.testing.assert_allclose(g.numpy(), (xv * (1 - xv) / lam).sum(0), rtol=1e-9)
    y = CD.RelaxedOneHotCategorical(cr.tensor(lam, dtype=cr.float64), logits=lg).rsample(
        (4,), generator=_gen(11))
    G = np.random.default_rng(1).standard_normal(y.shape)
    (g,) = cr.autograd.grad((y * cr.tensor(G)).sum(), [lg])
    yv = y.detach().numpy()
    ref = (yv * G - yv * (yv * G).sum(-1, keepdims=True)) / lam
    np.testing.assert_allclose(g.numpy(), ref.sum(0), rtol=1e-9, atol=1e-12)


def test_straight_through_one_hot_gradient_is_that_of_probs() -> None:
    lg = cr.tensor([0.2, -1.0, 2.0], dtype=cr.float64, requires_grad=True)
    d = CD.OneHotCategoricalStraightThrough(logits=lg)
    s = d.rsample((3,), generator=_gen(12))
    assert set(np.unique(s.detach().numpy())) <= {0.0, 1.0}
    G = np.random.default_rng(2).standard_normal(s.shape)
    (g,) = cr.autograd.grad((s * cr.tensor(G)).sum(), [lg])
    lt = torch.tensor([0.2, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    (gt,) = torch.autograd.grad((lt.softmax(-1) * torch.tensor(G).sum(0)).sum(), [lt])
    np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=1e-9)


def test_draws_are_reproducible_from_the_generator() -> None:
    for make in (lambda: CD.Gamma(*_t(2.0, 1.0)), lambda: CD.Poisson(*_t(4.0)),
                 lambda: CD.StudentT(*_t(3.0)), lambda: CD.Dirichlet(cr.tensor([1.0, 2.0]))):
        a = make().sample((7,), generator=_gen(13)).numpy()
        b = make().sample((7,), generator=_gen(13)).numpy()
        np.testing.assert_array_equal(a, b)


def test_low_rank_mvn_draws_have_chi2_mahalanobis_norms() -> None:
    """(x - μ)ᵀ Σ⁻¹ (x - μ) ~ χ²_k for x ~ N(μ, Σ); and rsample is pathwise in loc."""
    rng = np.random.default_rng(14)
    loc = cr.tensor(rng.standard_normal(4), requires_grad=True)
    w, d = rng.standard_normal((4, 2)), rng.uniform(0.5, 2.0, 4)
    dist = CD.LowRankMultivariateNormal(loc, cr.tensor(w), cr.tensor(d))
    x = dist.rsample((N,), generator=_gen(15))
    diff = x.detach().numpy() - loc.detach().numpy()
    prec = np.linalg.inv(w @ w.T + np.diag(d))
    maha = np.einsum("ni,ij,nj->n", diff, prec, diff)
    assert stats.kstest(maha, stats.chi2(4).cdf).pvalue > P_MIN
    (g,) = cr.autograd.grad(x.sum(), [loc])
    np.testing.assert_allclose(g.numpy(), np.full(4, float(N)))


@pytest.mark.parametrize("lam", [0.2, 0.5, 0.93])
def test_continuous_bernoulli_draws_follow_its_cdf(lam: float) -> None:
    d = CD.ContinuousBernoulli(cr.tensor(lam, dtype=cr.float64))
    x = d.rsample((N,), generator=_gen(16)).numpy()
    ref = TD.ContinuousBernoulli(torch.tensor(lam, dtype=torch.float64))
    assert stats.kstest(x, lambda v: ref.cdf(torch.tensor(v)).numpy()).pvalue > P_MIN


def test_multinomial_draws() -> None:
    p = np.array([0.5, 0.2, 0.3])
    x = CD.Multinomial(5, probs=cr.tensor(p)).sample((N,), generator=_gen(17)).numpy()
    assert (x.sum(-1) == 5).all()
    assert stats.chisquare(x.sum(0), 5 * N * p).pvalue > P_MIN
