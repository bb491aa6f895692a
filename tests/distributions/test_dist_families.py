"""The distributions added beyond Normal/Beta/Categorical against torch.distributions in
float64: log_prob, cdf, icdf, entropy, mean, variance, mode, stddev and enumerate_support,
with the gradients of each wrt the parameters (random upstream gradient); shapes and
validation errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.distributions as TD
from dist_ref import compare_stat

import chainrule as cr
import chainrule.distributions as CD

R = np.random.default_rng(11)
POS_A, POS_B = R.uniform(0.5, 3.0, (2, 3)), R.uniform(0.5, 2.0, (2, 3))
REAL = R.standard_normal((2, 3))
X_POS = R.gamma(2.0, 1.0, (4, 2, 3))
X_REAL = 2 * R.standard_normal((4, 2, 3))
U01 = R.uniform(0.02, 0.98, (4, 2, 3))
COUNTS = R.poisson(3.0, (4, 2, 3)).clip(0, 10).astype(float)
PROBS = R.uniform(0.05, 0.95, (2, 3))
CONC = R.uniform(0.5, 3.0, (2, 4))
SIMPLEX = R.dirichlet(np.ones(4), (3, 2))
LOGITS4 = R.standard_normal((2, 4))
ONE_HOT = np.eye(4)[R.integers(0, 4, (3, 2))]
# λ on both sides of ½ and inside the Taylor band (0.499, 0.501); X in (0, 1)
CB_PROBS = np.array([[0.1, 0.4995, 0.5], [0.7, 0.5008, 0.3]])
CB_X = R.uniform(0.01, 0.99, (4, 2, 3))


def _on(value: np.ndarray, method: str) -> Callable:
    """d.method(value), value as the distribution's library's tensor."""
    def stat(d: object) -> object:
        lib = cr if isinstance(d, CD.Distribution) else torch
        return getattr(d, method)(lib.tensor(value))
    return stat


def _attr(name: str) -> Callable:
    def stat(d: object) -> object:
        out = getattr(d, name)
        return out() if callable(out) else out
    return stat


MOMENTS = ["entropy", "mean", "variance", "mode", "stddev"]

# (id, chainrule ctor, torch ctor, params, [(stat name, stat, grad mask or None)])
CASES: list[tuple] = [
    ("Gamma", CD.Gamma, TD.Gamma, [POS_A, POS_B],
     [("log_prob", _on(X_POS, "log_prob"), None),
      ("cdf", _on(X_POS, "cdf"), [False, True])]),  # torch: no igamma grad in the shape
    ("Chi2", CD.Chi2, TD.Chi2, [POS_A], [("log_prob", _on(X_POS, "log_prob"), None)]),
    ("Exponential", CD.Exponential, TD.Exponential, [POS_B],
     [("log_prob", _on(X_POS, "log_prob"), None), ("cdf", _on(X_POS, "cdf"), None),
      ("icdf", _on(U01, "icdf"), None)]),
    ("Dirichlet", CD.Dirichlet, TD.Dirichlet, [CONC],
     [("log_prob", _on(SIMPLEX, "log_prob"), None)]),
    ("Laplace", CD.Laplace, TD.Laplace, [REAL, POS_B],
     [("log_prob", _on(X_REAL, "log_prob"), None), ("cdf", _on(X_REAL, "cdf"), None),
      ("icdf", _on(U01, "icdf"), None)]),
    ("Cauchy", CD.Cauchy, TD.Cauchy, [REAL, POS_B],
     [("log_prob", _on(X_REAL, "log_prob"), None), ("cdf", _on(X_REAL, "cdf"), None),
      ("icdf", _on(U01, "icdf"), None)]),
    ("Gumbel", CD.Gumbel, TD.Gumbel, [REAL, POS_B],
     [("log_prob", _on(X_REAL, "log_prob"), None), ("cdf", _on(X_REAL, "cdf"), None),
      ("icdf", _on(U01, "icdf"), None)]),
    ("LogNormal", CD.LogNormal, TD.LogNormal, [REAL, POS_B],
     [("log_prob", _on(X_POS, "log_prob"), None), ("cdf", _on(X_POS, "cdf"), None),
      ("icdf", _on(U01, "icdf"), None)]),
    ("HalfNormal", CD.HalfNormal, TD.HalfNormal, [POS_B],
     [("log_prob", _on(X_POS, "log_prob"), None), ("cdf", _on(X_POS, "cdf"), None),
      ("icdf", _on(U01, "icdf"), None)]),
    # (ν > 1: where torch's masked_fill blocks a NaN gradient from sqrt(nan) in stddev,
    # chainrule's where-backward multiplies it by 0 and keeps the NaN — see the report)
    ("StudentT", CD.StudentT, TD.StudentT, [R.uniform(1.2, 5.0, (2, 3)), REAL, POS_B],
     [("log_prob", _on(X_REAL, "log_prob"), None)]),
    ("Poisson", CD.Poisson, TD.Poisson, [POS_A], [("log_prob", _on(COUNTS, "log_prob"), None)]),
    ("Binomial-probs", lambda p: CD.Binomial(10, p), lambda p: TD.Binomial(10, p), [PROBS],
     [("log_prob", _on(COUNTS, "log_prob"), None)]),
    ("Binomial-logits",
     lambda lg: CD.Binomial(cr.tensor(np.full((2, 3), 10.0)), logits=lg),
     lambda lg: TD.Binomial(torch.tensor(np.full((2, 3), 10.0)), logits=lg), [REAL],
     [("log_prob", _on(COUNTS, "log_prob"), None),
      ("enumerate_support", _attr("enumerate_support"), None)]),
    ("Geometric-probs", CD.Geometric, TD.Geometric, [PROBS],
     [("log_prob", _on(COUNTS, "log_prob"), None)]),
    ("Geometric-logits", lambda lg: CD.Geometric(logits=lg), lambda lg: TD.Geometric(logits=lg),
     [REAL], [("log_prob", _on(COUNTS, "log_prob"), None)]),
    ("OneHotCategorical", lambda lg: CD.OneHotCategorical(logits=lg),
     lambda lg: TD.OneHotCategorical(logits=lg), [LOGITS4],
     [("log_prob", _on(ONE_HOT, "log_prob"), None),
      ("enumerate_support", _attr("enumerate_support"), None)]),
    ("RelaxedBernoulli",
     lambda lg: CD.RelaxedBernoulli(cr.tensor(0.7, dtype=cr.float64), logits=lg),
     lambda lg: TD.RelaxedBernoulli(torch.tensor(0.7, dtype=torch.float64), logits=lg), [REAL],
     [("log_prob", _on(U01, "log_prob"), None)]),
    ("RelaxedOneHotCategorical",
     lambda lg: CD.RelaxedOneHotCategorical(cr.tensor(0.6, dtype=cr.float64), logits=lg),
     lambda lg: TD.RelaxedOneHotCategorical(torch.tensor(0.6, dtype=torch.float64),
                                            logits=lg), [LOGITS4],
     [("log_prob", _on(SIMPLEX, "log_prob"), None)]),
    ("Mixture-Normal",
     lambda w, m, s: CD.MixtureSameFamily(CD.Categorical(logits=w), CD.Normal(m, s)),
     lambda w, m, s: TD.MixtureSameFamily(TD.Categorical(logits=w), TD.Normal(m, s)),
     [REAL, R.standard_normal((2, 3)), POS_B],
     [("log_prob", _on(X_REAL[:, :, 0], "log_prob"), None),
      ("cdf", _on(X_REAL[:, :, 0], "cdf"), None), ("mean", _attr("mean"), None),
      ("variance", _attr("variance"), None)]),
    ("Mixture-Independent",
     lambda w, m, s: CD.MixtureSameFamily(CD.Categorical(logits=w),
                                          CD.Independent(CD.Normal(m, s), 1)),
     lambda w, m, s: TD.MixtureSameFamily(TD.Categorical(logits=w),
                                          TD.Independent(TD.Normal(m, s), 1)),
     [REAL, R.standard_normal((2, 3, 4)), R.uniform(0.5, 2.0, (2, 3, 4))],
     [("log_prob", _on(R.standard_normal((5, 2, 4)), "log_prob"), None),
      ("mean", _attr("mean"), None), ("variance", _attr("variance"), None)]),
    ("ContinuousBernoulli-probs", CD.ContinuousBernoulli, TD.ContinuousBernoulli, [CB_PROBS],
     [("log_prob", _on(CB_X, "log_prob"), None),
      ("cdf", _on(CB_X, "cdf"), None), ("icdf", _on(CB_X, "icdf"), None)]),
    ("ContinuousBernoulli-logits", lambda lg: CD.ContinuousBernoulli(logits=lg),
     lambda lg: TD.ContinuousBernoulli(logits=lg), [np.log(CB_PROBS / (1 - CB_PROBS))],
     [("log_prob", _on(CB_X, "log_prob"), None), ("cdf", _on(CB_X, "cdf"), None),
      ("icdf", _on(CB_X, "icdf"), None)]),
    ("LowRankMVN", CD.LowRankMultivariateNormal, TD.LowRankMultivariateNormal,
     [LOGITS4, R.standard_normal((2, 4, 2)), R.uniform(0.5, 2.0, (2, 4))],
     [("log_prob", _on(R.standard_normal((3, 2, 4)), "log_prob"), None),
      ("covariance_matrix", _attr("covariance_matrix"), None),
      ("precision_matrix", _attr("precision_matrix"), None),
      ("scale_tril", _attr("scale_tril"), None)]),
    ("LowRankMVN-shared-factor", CD.LowRankMultivariateNormal, TD.LowRankMultivariateNormal,
     [LOGITS4, R.standard_normal((4, 3)), R.uniform(0.5, 2.0, 4)],
     [("log_prob", _on(R.standard_normal((3, 2, 4)), "log_prob"), None),
      ("precision_matrix", _attr("precision_matrix"), None)]),
]
_NO_MOMENTS = {"Mixture-Normal", "Mixture-Independent", "RelaxedBernoulli",
               "RelaxedOneHotCategorical"}
_PARAMS = []
for case in CASES:
    ident, mc, mt, params, stats = case
    if ident not in _NO_MOMENTS:
        stats = stats + [(m, _attr(m), None) for m in MOMENTS
                         if not (ident == "Poisson" and m == "entropy")  # (none in torch)
                         and not (ident.startswith("ContinuousBernoulli") and m == "mode")]
    for name, stat, mask in stats:
        _PARAMS.append(pytest.param(mc, mt, params, stat, mask, id=f"{ident}-{name}"))


@pytest.mark.parametrize("make_c,make_t,params,stat,mask", _PARAMS)
def test_statistic_and_gradient_match_torch(make_c, make_t, params, stat, mask) -> None:
    compare_stat(make_c, make_t, params, stat, mask)


def test_student_t_moments_where_undefined() -> None:
    """mean nan for ν ≤ 1; variance inf for 1 < ν ≤ 2 and nan for ν ≤ 1, as in torch."""
    df = np.array([0.5, 1.0, 1.5, 2.0, 3.0])
    c, t = CD.StudentT(cr.tensor(df)), TD.StudentT(torch.tensor(df))
    np.testing.assert_array_equal(c.mean.numpy(), t.mean.numpy())
    np.testing.assert_array_equal(c.variance.numpy(), t.variance.numpy())


def test_dirichlet_mode_with_all_concentrations_below_one() -> None:
    conc = np.array([[0.5, 0.3, 0.9], [2.0, 3.0, 0.5]])
    np.testing.assert_array_equal(CD.Dirichlet(cr.tensor(conc)).mode.numpy(),
                                  TD.Dirichlet(torch.tensor(conc)).mode.numpy())


def test_cauchy_moments_are_undefined() -> None:
    c = CD.Cauchy(cr.tensor(REAL), cr.tensor(POS_B))
    assert np.isnan(c.mean.numpy()).all() and np.isinf(c.variance.numpy()).all()


def test_binomial_and_geometric_at_the_boundary_probabilities() -> None:
    """p ∈ {0, 1}: the 0 · log 0 terms are 0 (a certain outcome has log-probability 0)."""
    p = np.array([0.0, 1.0, 1.0, 0.0])
    k = np.array([0.0, 10.0, 0.0, 3.0])
    for mc, mt in [(lambda q: CD.Binomial(10, q), lambda q: TD.Binomial(10, q))]:
        np.testing.assert_allclose(mc(cr.tensor(p)).log_prob(cr.tensor(k)).numpy(),
                                   mt(torch.tensor(p)).log_prob(torch.tensor(k)).numpy(),
                                   atol=1e-12)
    pg, kg = np.array([1.0, 0.5]), np.array([0.0, 2.0])
    np.testing.assert_allclose(CD.Geometric(cr.tensor(pg)).log_prob(cr.tensor(kg)).numpy(),
                               TD.Geometric(torch.tensor(pg)).log_prob(torch.tensor(kg)).numpy())


@pytest.mark.parametrize("make_c,make_t,n_params", [
    (CD.Gamma, TD.Gamma, 2), (CD.Laplace, TD.Laplace, 2), (CD.StudentT, TD.StudentT, 1),
    (CD.Exponential, TD.Exponential, 1), (CD.Poisson, TD.Poisson, 1),
    (CD.Gumbel, TD.Gumbel, 2), (CD.LogNormal, TD.LogNormal, 2),
    (CD.HalfNormal, TD.HalfNormal, 1), (CD.Cauchy, TD.Cauchy, 2),
])
def test_shapes_match_torch(make_c, make_t, n_params: int) -> None:
    args = [POS_A, POS_B][:n_params]
    c = make_c(*[cr.tensor(a) for a in args])
    t = make_t(*[torch.tensor(a) for a in args])
    assert c.batch_shape == tuple(t.batch_shape) and c.event_shape == tuple(t.event_shape)
    assert c.has_rsample == t.has_rsample
    assert str(c.support) == str(t.support)
    assert c.sample((5,), generator=cr.Generator().manual_seed(0)).shape == (5, 2, 3)


def test_multivariate_event_shapes_match_torch() -> None:
    pairs = [(CD.Dirichlet(cr.tensor(CONC)), TD.Dirichlet(torch.tensor(CONC))),
             (CD.OneHotCategorical(logits=cr.tensor(LOGITS4)),
              TD.OneHotCategorical(logits=torch.tensor(LOGITS4))),
             (CD.RelaxedOneHotCategorical(cr.tensor(0.5), logits=cr.tensor(LOGITS4)),
              TD.RelaxedOneHotCategorical(torch.tensor(0.5), logits=torch.tensor(LOGITS4)))]
    for c, t in pairs:
        assert c.batch_shape == tuple(t.batch_shape) and c.event_shape == tuple(t.event_shape)
        assert c.sample((3,)).shape == tuple(t.sample((3,)).shape)
        assert c.has_rsample == t.has_rsample


@pytest.mark.parametrize("make_c,make_t,args,name", [
    (CD.Gamma, TD.Gamma, (-1.0, 1.0), "concentration"),
    (CD.Exponential, TD.Exponential, (0.0,), "rate"),
    (CD.Laplace, TD.Laplace, (0.0, -1.0), "scale"),
    (CD.Poisson, TD.Poisson, (-0.5,), "rate"),
    (CD.StudentT, TD.StudentT, (-2.0,), "df"),
    (CD.HalfNormal, TD.HalfNormal, (-1.0,), "scale"),
    (CD.Geometric, TD.Geometric, (0.0,), "probs"),
])
def test_invalid_parameters_raise_torch_error(make_c, make_t, args, name) -> None:
    with pytest.raises(ValueError) as et:
        make_t(*[torch.tensor([a], dtype=torch.float64) for a in args], validate_args=True)
    with pytest.raises(ValueError) as ec:
        make_c(*[cr.tensor([a]) for a in args], validate_args=True)
    head = f"Expected parameter {name} (Tensor of shape (1,))"
    assert str(et.value).startswith(head) and str(ec.value).startswith(head)
    # the constraint's name (after "to satisfy the constraint" / "to be positive")
    tail_t = str(et.value).split(") to ")[-1].split(",")[0] if "constraint" in str(et.value) \
        else "positive"
    assert tail_t in str(ec.value)


@pytest.mark.parametrize("make_c,value", [
    (lambda: CD.Gamma(cr.tensor(1.0), cr.tensor(1.0), validate_args=True), -1.0),
    (lambda: CD.Poisson(cr.tensor(1.0), validate_args=True), 1.5),
    (lambda: CD.Dirichlet(cr.tensor([1.0, 1.0]), validate_args=True), [0.3, 0.3]),
    (lambda: CD.Binomial(5, cr.tensor(0.3), validate_args=True), 6.0),
])
def test_values_outside_the_support_raise(make_c, value) -> None:
    with pytest.raises(ValueError, match="Expected value argument"):
        make_c().log_prob(cr.tensor(value))


def test_gamma_cdf_refuses_a_concentration_gradient_as_torch() -> None:
    a = cr.tensor([2.0], requires_grad=True)
    y = CD.Gamma(a, cr.tensor([1.0])).cdf(cr.tensor([1.5]))
    with pytest.raises(NotImplementedError):
        y.sum().backward()


def _lib(lib: object, dists: object) -> object:
    """A namespace with ``tensor`` and the distribution classes of one library."""
    ns = {k: getattr(dists, k) for k in dir(dists) if not k.startswith("_")}
    return type("Lib", (), {"tensor": staticmethod(lib.tensor), **ns})


EXPAND_CASES = [
    (lambda L: L.Normal(L.tensor(np.array([0.0, 1.0])), L.tensor(np.array([1.0, 2.0]))), (3, 2)),
    (lambda L: L.Gamma(L.tensor(np.array(2.0)), L.tensor(np.array(1.5))), (4,)),
    (lambda L: L.Dirichlet(L.tensor(np.array([1.0, 2.0, 3.0]))), (2,)),
    (lambda L: L.OneHotCategorical(logits=L.tensor(np.array([1.0, 2.0, 3.0]))), (2,)),
    (lambda L: L.Independent(L.Normal(L.tensor(np.zeros(3)), L.tensor(np.ones(3))), 1), (5,)),
    (lambda L: L.LogNormal(L.tensor(np.zeros(3)), L.tensor(np.ones(3))), (2, 3)),
    (lambda L: L.MultivariateNormal(L.tensor(np.zeros(2)), L.tensor(np.eye(2))), (3,)),
    (lambda L: L.MixtureSameFamily(L.Categorical(logits=L.tensor(np.zeros(2))),
                                   L.Normal(L.tensor(np.array([0.0, 1.0])),
                                            L.tensor(np.ones(2)))), (4,)),
    (lambda L: L.Binomial(5, L.tensor(np.array([0.2, 0.5]))), (3, 2)),
]


@pytest.mark.parametrize("make,shape", EXPAND_CASES)
def test_expand_matches_torch(make, shape) -> None:
    c, t = make(_lib(cr, CD)).expand(shape), make(_lib(torch, TD)).expand(shape)
    assert c.batch_shape == tuple(t.batch_shape) and c.event_shape == tuple(t.event_shape)
    s = t.sample((2,))
    assert c.sample((2,)).shape == tuple(s.shape)
    np.testing.assert_allclose(c.log_prob(cr.tensor(s.numpy())).detach().numpy(),
                               t.log_prob(s).numpy(), rtol=1e-12)


def test_expand_keeps_the_gradient_path() -> None:
    loc = cr.tensor([0.5], dtype=cr.float64, requires_grad=True)
    d = CD.Normal(loc, cr.tensor([1.0], dtype=cr.float64)).expand((4,))
    d.log_prob(cr.tensor(np.zeros(4))).sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [-2.0])
    with pytest.raises(ValueError):
        CD.Normal(cr.tensor([0.0, 1.0]), cr.tensor(1.0)).expand((3,))


def test_continuous_bernoulli_at_the_band_edges() -> None:
    """λ exactly at the lims: the closed forms (their gradients lose digits to cancellation
    there in both libraries, so values only)."""
    p = np.array([0.499, 0.501, 0.5])
    c, t = CD.ContinuousBernoulli(cr.tensor(p)), TD.ContinuousBernoulli(torch.tensor(p))
    for name in ["mean", "variance"]:
        np.testing.assert_allclose(getattr(c, name).numpy(), getattr(t, name).numpy(),
                                   rtol=1e-9)
    np.testing.assert_allclose(c.entropy().numpy(), t.entropy().numpy(), rtol=1e-9)


MN_LOGITS = R.standard_normal((2, 4))
MN_X = R.multinomial(6, [0.1, 0.2, 0.3, 0.4], (3, 2)).astype(float)
NB_COUNT, NB_PROBS = R.uniform(0.5, 4.0, (2, 3)), R.uniform(0.05, 0.9, (2, 3))
NB_K = R.poisson(3.0, (4, 2, 3)).astype(float)


@pytest.mark.parametrize("name", ["log_prob", "mean", "variance"])
@pytest.mark.parametrize("logits", [MN_LOGITS, MN_LOGITS[0]], ids=["batched", "single"])
def test_multinomial_matches_torch(name: str, logits: np.ndarray) -> None:
    x = MN_X if logits.ndim == 2 else MN_X[:, 0]
    stat = _on(x, "log_prob") if name == "log_prob" else _attr(name)
    compare_stat(lambda lg: CD.Multinomial(6, logits=lg), lambda lg: TD.Multinomial(6, logits=lg),
                 [logits], stat)


def test_multinomial_entropy_is_the_exact_sum() -> None:
    """Against a brute-force sum over every outcome (torch's is ~1e-8 off in float64)."""
    import itertools

    from scipy.special import gammaln
    p = np.exp(MN_LOGITS) / np.exp(MN_LOGITS).sum(-1, keepdims=True)
    ref = np.zeros(2)
    for x in itertools.product(range(7), repeat=4):
        if sum(x) == 6:
            xa = np.array(x, dtype=float)
            lp = gammaln(7) - gammaln(xa + 1).sum() + (xa * np.log(p)).sum(-1)
            ref -= np.exp(lp) * lp
    got = CD.Multinomial(6, logits=cr.tensor(MN_LOGITS)).entropy().numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    np.testing.assert_allclose(got, TD.Multinomial(6, logits=torch.tensor(MN_LOGITS))
                               .entropy().numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["log_prob", "mean", "variance", "mode"])
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_negative_binomial_matches_torch(name: str, param: str) -> None:
    stat = _on(NB_K, "log_prob") if name == "log_prob" else _attr(name)
    if param == "probs":
        compare_stat(CD.NegativeBinomial, TD.NegativeBinomial, [NB_COUNT, NB_PROBS], stat)
    else:
        compare_stat(lambda r, lg: CD.NegativeBinomial(r, logits=lg),
                     lambda r, lg: TD.NegativeBinomial(r, logits=lg),
                     [NB_COUNT, NB_PROBS - 0.5], stat)
