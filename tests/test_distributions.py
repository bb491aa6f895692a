"""chainrule.distributions against torch.distributions in float64: log_prob, entropy, KL,
moments and their gradients wrt the parameters (random upstream gradient); rsample's
gradient with the same noise; seeded sample moments; validation errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributions as TD

import chainrule as cr
import chainrule.distributions as CD

RNG = np.random.default_rng(3)


def _params(*arrays: np.ndarray) -> tuple[list, list]:
    return ([cr.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def check_same(fc, ft, arrays: list[np.ndarray], atol: float = 1e-10) -> None:
    """fc(*chainrule params) == ft(*torch params), and so are the parameter gradients of
    <f, G> for a random G."""
    pc, pt = _params(*arrays)
    yc, yt = fc(*pc), ft(*pt)
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), atol=atol)
    g = RNG.standard_normal(tuple(yt.shape))
    gc = cr.autograd.grad((yc * cr.tensor(g)).sum(), pc, allow_unused=True)
    gt = torch.autograd.grad((yt * torch.tensor(g)).sum(), pt, allow_unused=True)
    for a, b in zip(gc, gt):
        if b is None:
            assert a is None or np.allclose(a.numpy(), 0)
        else:
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=atol)


LOC, SCALE = RNG.standard_normal((2, 3)), RNG.uniform(0.5, 2.0, (2, 3))
X = RNG.standard_normal((4, 2, 3))


def test_normal() -> None:
    xc, xt = cr.tensor(X), torch.tensor(X)
    check_same(lambda m, s: CD.Normal(m, s).log_prob(xc), lambda m, s: TD.Normal(m, s).log_prob(xt),
          [LOC, SCALE])
    check_same(lambda m, s: CD.Normal(m, s).entropy(), lambda m, s: TD.Normal(m, s).entropy(),
          [LOC, SCALE])
    check_same(lambda m, s: CD.Normal(m, s).stddev + CD.Normal(m, s).variance,
          lambda m, s: TD.Normal(m, s).stddev + TD.Normal(m, s).variance, [LOC, SCALE])
    d = CD.Normal(cr.tensor(LOC), cr.tensor(SCALE))
    assert d.batch_shape == (2, 3) and d.event_shape == () and d.has_rsample
    assert d.sample((5,)).shape == (5, 2, 3) and not d.sample().requires_grad


def test_rsample_gradient_is_the_reparameterisation() -> None:
    """d rsample / d loc = 1, d rsample / d scale = eps = (x - loc) / scale."""
    (m, s), _ = _params(LOC, SCALE)
    x = CD.Normal(m, s).rsample((7,), generator=cr.Generator().manual_seed(0))
    g = RNG.standard_normal(x.shape)
    gm, gs = cr.autograd.grad((x * cr.tensor(g)).sum(), [m, s])
    eps = (x.detach().numpy() - LOC) / SCALE
    np.testing.assert_allclose(gm.numpy(), g.sum(0), atol=1e-12)
    np.testing.assert_allclose(gs.numpy(), (g * eps).sum(0), atol=1e-12)
    u = CD.Uniform(m, m + s).rsample((3,))
    assert u.requires_grad and u.shape == (3, 2, 3)


def test_sample_moments_seeded() -> None:
    g = cr.Generator().manual_seed(1)
    x = CD.Normal(cr.tensor([1.0, -2.0]), cr.tensor([0.5, 2.0])).sample((40000,), generator=g)
    np.testing.assert_allclose(x.mean(0).numpy(), [1.0, -2.0], atol=0.03)
    np.testing.assert_allclose(x.std(0).numpy(), [0.5, 2.0], rtol=0.02)
    b = CD.Bernoulli(probs=cr.tensor([0.2, 0.9])).sample((40000,), generator=g)
    np.testing.assert_allclose(b.mean(0).numpy(), [0.2, 0.9], atol=0.01)
    p = np.array([0.1, 0.6, 0.3])
    c = CD.Categorical(probs=cr.tensor(p)).sample((40000,), generator=g)
    assert c.dtype == cr.int64
    np.testing.assert_allclose(np.bincount(c.numpy(), minlength=3) / 40000, p, atol=0.01)
    mvn = CD.MultivariateNormal(cr.zeros(2, dtype=cr.float64),
                                cr.tensor([[2.0, 0.8], [0.8, 1.0]], dtype=cr.float64))
    s = mvn.sample((40000,), generator=g).numpy()
    np.testing.assert_allclose(np.cov(s.T), [[2.0, 0.8], [0.8, 1.0]], atol=0.05)


def test_bernoulli_and_categorical() -> None:
    p = RNG.uniform(0.05, 0.95, (2, 3))
    v = (RNG.random((2, 3)) < 0.5).astype(float)
    for kw in ("probs", "logits"):
        a = p if kw == "probs" else np.log(p / (1 - p))
        check_same(lambda q, kw=kw: CD.Bernoulli(**{kw: q}).log_prob(cr.tensor(v)),
              lambda q, kw=kw: TD.Bernoulli(**{kw: q}).log_prob(torch.tensor(v)), [a])
        check_same(lambda q, kw=kw: CD.Bernoulli(**{kw: q}).entropy(),
              lambda q, kw=kw: TD.Bernoulli(**{kw: q}).entropy(), [a])
    logits = RNG.standard_normal((4, 5))
    k = RNG.integers(0, 5, (3, 4))
    probs = RNG.uniform(0.1, 1.0, (4, 5))
    for kw, a in (("logits", logits), ("probs", probs)):
        check_same(lambda q, kw=kw: CD.Categorical(**{kw: q}).log_prob(cr.tensor(k)),
              lambda q, kw=kw: TD.Categorical(**{kw: q}).log_prob(torch.tensor(k)), [a])
        check_same(lambda q, kw=kw: CD.Categorical(**{kw: q}).entropy(),
              lambda q, kw=kw: TD.Categorical(**{kw: q}).entropy(), [a])
        check_same(lambda q, kw=kw: CD.Categorical(**{kw: q}).probs,
              lambda q, kw=kw: TD.Categorical(**{kw: q}).probs, [a])
    d = CD.Categorical(logits=cr.tensor(logits))
    assert d.batch_shape == (4,) and d.sample().shape == (4,)
    assert d.sample((2, 3)).shape == (2, 3, 4)


def test_reinforce_usage() -> None:
    """policy gradient of -log pi(a) * R equals torch's for the same action."""
    w = RNG.standard_normal((3, 4))
    s = RNG.standard_normal(3)
    wc, wt = cr.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    mc = CD.Categorical(logits=cr.tensor(s) @ wc)
    a = mc.sample(generator=cr.Generator().manual_seed(0))
    (-mc.log_prob(a) * 2.5).backward()
    mt = TD.Categorical(logits=torch.tensor(s) @ wt)
    (-mt.log_prob(torch.tensor(a.numpy())) * 2.5).backward()
    np.testing.assert_allclose(wc.grad.numpy(), wt.grad.numpy(), atol=1e-12)


def test_uniform_and_independent() -> None:
    lo, hi = RNG.uniform(-2, -1, 3), RNG.uniform(1, 2, 3)
    v = RNG.uniform(-0.9, 0.9, (2, 3))
    check_same(lambda a, b: CD.Uniform(a, b).log_prob(cr.tensor(v)),
          lambda a, b: TD.Uniform(a, b).log_prob(torch.tensor(v)), [lo, hi])
    check_same(lambda a, b: CD.Uniform(a, b).entropy() + CD.Uniform(a, b).variance,
          lambda a, b: TD.Uniform(a, b).entropy() + TD.Uniform(a, b).variance, [lo, hi])
    xc, xt = cr.tensor(X), torch.tensor(X)
    check_same(lambda m, s: CD.Independent(CD.Normal(m, s), 1).log_prob(xc),
          lambda m, s: TD.Independent(TD.Normal(m, s), 1).log_prob(xt), [LOC, SCALE])
    d = CD.Independent(CD.Normal(cr.tensor(LOC), cr.tensor(SCALE)), 1)
    assert d.batch_shape == (2,) and d.event_shape == (3,)


def _spd(n: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    m = RNG.standard_normal(batch + (n, n))
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


def test_multivariate_normal() -> None:
    loc, cov = RNG.standard_normal((2, 3)), _spd(3, (2,))
    x = cr.tensor(RNG.standard_normal((4, 2, 3)))
    xt = torch.tensor(x.numpy())
    check_same(lambda m, c: CD.MultivariateNormal(m, covariance_matrix=c).log_prob(x),
          lambda m, c: TD.MultivariateNormal(m, covariance_matrix=c).log_prob(xt), [loc, cov])
    check_same(lambda m, c: CD.MultivariateNormal(m, covariance_matrix=c).entropy(),
          lambda m, c: TD.MultivariateNormal(m, covariance_matrix=c).entropy(), [loc, cov])
    tril = np.linalg.cholesky(cov)
    check_same(lambda m, t: CD.MultivariateNormal(m, scale_tril=t).log_prob(x),
          lambda m, t: TD.MultivariateNormal(m, scale_tril=t).log_prob(xt), [loc, tril])
    check_same(lambda m, p: CD.MultivariateNormal(m, precision_matrix=p).log_prob(x),
          lambda m, p: TD.MultivariateNormal(m, precision_matrix=p).log_prob(xt), [loc, cov])
    check_same(lambda m, c: CD.MultivariateNormal(m, covariance_matrix=c).variance,
          lambda m, c: TD.MultivariateNormal(m, covariance_matrix=c).variance, [loc, cov])
    d = CD.MultivariateNormal(cr.tensor(loc), covariance_matrix=cr.tensor(cov))
    assert d.batch_shape == (2,) and d.event_shape == (3,) and d.rsample((5,)).shape == (5, 2, 3)


def test_kl_divergence() -> None:
    m2, s2 = RNG.standard_normal((2, 3)), RNG.uniform(0.5, 2.0, (2, 3))
    check_same(lambda a, b, c, d: CD.kl_divergence(CD.Normal(a, b), CD.Normal(c, d)),
          lambda a, b, c, d: TD.kl_divergence(TD.Normal(a, b), TD.Normal(c, d)),
          [LOC, SCALE, m2, s2])
    p, q = RNG.uniform(0.1, 1, (3, 4)), RNG.uniform(0.1, 1, (3, 4))
    check_same(lambda a, b: CD.kl_divergence(CD.Categorical(a), CD.Categorical(b)),
          lambda a, b: TD.kl_divergence(TD.Categorical(a), TD.Categorical(b)), [p, q])
    check_same(lambda a, b: CD.kl_divergence(CD.Bernoulli(a), CD.Bernoulli(b)),
          lambda a, b: TD.kl_divergence(TD.Bernoulli(a), TD.Bernoulli(b)), [p, q])
    check_same(lambda a, b: CD.kl_divergence(CD.Bernoulli(logits=a), CD.Bernoulli(logits=b)),
          lambda a, b: TD.kl_divergence(TD.Bernoulli(logits=a), TD.Bernoulli(logits=b)),
          [LOC, m2])
    c1, c2 = _spd(3), _spd(3)
    check_same(lambda a, b, c, d: CD.kl_divergence(CD.MultivariateNormal(a, b),
                                              CD.MultivariateNormal(c, d)),
          lambda a, b, c, d: TD.kl_divergence(TD.MultivariateNormal(a, b),
                                              TD.MultivariateNormal(c, d)),
          [LOC[0], c1, m2[0], c2])
    with pytest.raises(NotImplementedError):
        CD.kl_divergence(CD.Normal(0.0, 1.0), CD.Bernoulli(0.5))


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="scale"):
        CD.Normal(cr.tensor([0.0]), cr.tensor([-1.0]))
    with pytest.raises(ValueError, match="support"):
        CD.Bernoulli(probs=cr.tensor([0.3])).log_prob(cr.tensor([0.5]))
    with pytest.raises(ValueError, match="support"):
        CD.Categorical(logits=cr.zeros(3)).log_prob(cr.tensor(3))
    with pytest.raises(ValueError, match="probs"):
        CD.Bernoulli(probs=cr.tensor([1.5]))
    with pytest.raises(ValueError, match="not both"):
        CD.Categorical(probs=cr.ones(2), logits=cr.ones(2))
    with pytest.raises(ValueError, match="broadcastable"):
        CD.Normal(cr.zeros(3), cr.ones(3)).log_prob(cr.zeros(4))
    CD.Normal(cr.tensor([0.0]), cr.tensor([-1.0]), validate_args=False)  # not checked
    with pytest.raises(RuntimeError, match="positive-definite"):
        CD.MultivariateNormal(cr.zeros(2), covariance_matrix=cr.tensor([[1.0, 2.0], [2.0, 1.0]]),
                              validate_args=False)


def test_beta() -> None:
    a, b = RNG.uniform(0.5, 3.0, 3), RNG.uniform(0.5, 3.0, 3)
    v = RNG.uniform(0.05, 0.95, (2, 3))
    check_same(lambda p, q: CD.Beta(p, q).log_prob(cr.tensor(v)),
          lambda p, q: TD.Beta(p, q).log_prob(torch.tensor(v)), [a, b])
    check_same(lambda p, q: CD.Beta(p, q).entropy(), lambda p, q: TD.Beta(p, q).entropy(), [a, b])
    check_same(lambda p, q: CD.Beta(p, q).mean + CD.Beta(p, q).variance,
          lambda p, q: TD.Beta(p, q).mean + TD.Beta(p, q).variance, [a, b])
    # second derivative of log_prob wrt the concentration goes through polygamma(1)
    pc, pt = _params(a, b)
    (gc,) = cr.autograd.grad(CD.Beta(*pc).log_prob(cr.tensor(v)).sum(), pc[0],
                             create_graph=True)
    (gt,) = torch.autograd.grad(TD.Beta(*pt).log_prob(torch.tensor(v)).sum(), pt[0],
                                create_graph=True)
    np.testing.assert_allclose(cr.autograd.grad(gc.sum(), pc[0])[0].numpy(),
                               torch.autograd.grad(gt.sum(), pt[0])[0].numpy(), atol=1e-10)
    s = CD.Beta(cr.tensor([2.0]), cr.tensor([5.0])).sample((40000,),
                                                           generator=cr.Generator().manual_seed(2))
    np.testing.assert_allclose(float(s.mean()), 2 / 7, atol=0.005)
    with pytest.raises(ValueError, match="support"):
        CD.Beta(cr.tensor([2.0]), cr.tensor([5.0])).log_prob(cr.tensor([1.5]))


def test_cdf_icdf() -> None:
    xc, xt = cr.tensor(X), torch.tensor(X)
    check_same(lambda m, s: CD.Normal(m, s).cdf(xc), lambda m, s: TD.Normal(m, s).cdf(xt),
          [LOC, SCALE])
    q = RNG.uniform(0.02, 0.98, (4, 2, 3))
    check_same(lambda m, s, p: CD.Normal(m, s).icdf(p), lambda m, s, p: TD.Normal(m, s).icdf(p),
          [LOC, SCALE, q], atol=1e-9)
    lo, hi = RNG.uniform(-2, -1, 3), RNG.uniform(1, 2, 3)
    v = RNG.uniform(-0.9, 0.9, (2, 3))
    check_same(lambda a, b: CD.Uniform(a, b).cdf(cr.tensor(v)),
          lambda a, b: TD.Uniform(a, b).cdf(torch.tensor(v)), [lo, hi])
    check_same(lambda a, b, p: CD.Uniform(a, b).icdf(p), lambda a, b, p: TD.Uniform(a, b).icdf(p),
          [lo, hi, q[0]])
