"""Critical-point classification, Lanczos vs the exact Hessian, convexity falsifier, multistart."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.analysis import (
    check_convexity,
    classify_critical_point,
    hessian_matrix,
    lanczos,
    multistart,
)


def origin(n: int = 2) -> cr.Tensor:
    return cr.zeros(n, dtype=cr.float64)


def test_saddle_monkey_saddle_minimum_maximum():
    rep = classify_critical_point(lambda p: p[0] ** 2 - p[1] ** 2, origin())
    assert rep.verdict == "saddle" and rep.index == 0.5 and rep.method == "exact"
    np.testing.assert_allclose(rep.eigenvalues, [-2.0, 2.0])
    np.testing.assert_allclose(np.abs(rep.min_eigenvector), [0.0, 1.0])  # escape along y
    monkey = classify_critical_point(lambda p: p[0] ** 3 - 3 * p[0] * p[1] ** 2, origin())
    assert monkey.verdict == "degenerate" and monkey.grad_norm == 0
    np.testing.assert_allclose(monkey.eigenvalues, [0.0, 0.0])
    minimum = classify_critical_point(lambda p: p[0] ** 2 + p[0] * p[1] + 2 * p[1] ** 2,
                                      origin())
    assert minimum.verdict == "minimum" and minimum.index == 0
    np.testing.assert_allclose(minimum.eigenvalues, np.linalg.eigvalsh([[2, 1], [1, 4]]))
    maximum = classify_critical_point(lambda p: -(p * p).sum() - (p ** 4).sum(), origin(3))
    assert maximum.verdict == "maximum" and maximum.index == 1.0
    assert "saddle" in str(rep) and "index" in str(rep)


def test_away_from_critical_points_and_several_tensors():
    rep = classify_critical_point(lambda p: (p * p).sum() + p[0], origin())
    assert rep.verdict == "not critical" and rep.grad_norm == pytest.approx(1.0)
    # f(a, B) = Σ cᵢ aᵢ² - ‖B‖²: index = (negative c's + entries of B) / n
    c = cr.tensor([1.0, -2.0, 3.0], dtype=cr.float64)
    rep = classify_critical_point(lambda a, B: (c * a * a).sum() - (B * B).sum(),
                                  [origin(3), cr.zeros(2, 2, dtype=cr.float64)])
    assert rep.verdict == "saddle" and rep.n == 7
    assert rep.index == pytest.approx(5 / 7)


def mlp_loss_and_params(seed: int = 0) -> tuple:
    """A 3-6-2 tanh network's mean squared error on fixed data, as f(W1, b1, W2, b2)."""
    rng = np.random.default_rng(seed)
    X, Y = cr.tensor(rng.normal(size=(16, 3))), cr.tensor(rng.normal(size=(16, 2)))

    def loss(W1, b1, W2, b2):
        return (((X @ W1.T + b1).tanh() @ W2.T + b2 - Y) ** 2).mean()

    params = [cr.tensor(rng.normal(size=s) * 0.8) for s in [(6, 3), (6,), (2, 6), (2,)]]
    return loss, params


def test_exact_hessian_of_a_small_net_matches_torch():
    torch = pytest.importorskip("torch")
    loss, params = mlp_loss_and_params()
    H = hessian_matrix(loss, params)
    n = sum(p.numel() for p in params)
    assert H.shape == (n, n) == (38, 38)
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.normal(size=(16, 3)))
    Y = torch.tensor(rng.normal(size=(16, 2)))
    shapes = [tuple(p.shape) for p in params]

    def flat_loss(z):
        parts, k = [], 0
        for s in shapes:
            size = int(np.prod(s))
            parts.append(z[k:k + size].reshape(s))
            k += size
        W1, b1, W2, b2 = parts
        return (((X @ W1.T + b1).tanh() @ W2.T + b2 - Y) ** 2).mean()

    z = torch.tensor(np.concatenate([p.numpy().ravel() for p in params]))
    H_ref = torch.autograd.functional.hessian(flat_loss, z).numpy()
    np.testing.assert_allclose(H, H_ref, rtol=1e-10, atol=1e-12)


def test_lanczos_eigenvalues_match_the_exact_spectrum_of_a_net_loss_hessian():
    loss, params = mlp_loss_and_params()
    H = hessian_matrix(loss, params)
    exact = np.linalg.eigvalsh(H)
    n = exact.size
    g = cr.Generator().manual_seed(0)
    # full Krylov space: the Ritz values are the spectrum
    theta, tau = lanczos(lambda v: H @ v, n, n, generator=g)
    np.testing.assert_allclose(np.sort(theta), exact, atol=1e-9)
    assert tau.sum() == pytest.approx(1.0)
    # through Hessian-vector products of the net (no matrix): extremes converge first
    rep = classify_critical_point(loss, params, exact_threshold=0, lanczos_steps=20, probes=2,
                                  generator=g)
    assert rep.method == "lanczos"
    assert rep.eigenvalues.min() == pytest.approx(exact[0], rel=1e-4, abs=1e-8)
    assert rep.eigenvalues.max() == pytest.approx(exact[-1], rel=1e-6)
    exact_rep = classify_critical_point(loss, params)
    assert exact_rep.verdict == rep.verdict == "not critical"
    np.testing.assert_allclose(exact_rep.eigenvalues, exact, atol=1e-12)
    # stochastic Lanczos quadrature estimates the index (fraction of negative eigenvalues)
    slq = classify_critical_point(loss, params, exact_threshold=0, lanczos_steps=n, probes=8,
                                  generator=g)
    assert slq.index == pytest.approx(exact_rep.index, abs=0.15)
    assert 0 < exact_rep.index < 1


def test_convexity_falsifier_finds_witnesses():
    g = cr.Generator().manual_seed(0)
    rep = check_convexity(lambda x: (x ** 4 - x ** 2).sum(), ([-2.0], [2.0]), samples=40,
                          generator=g)
    assert not rep.convex and rep.witness is not None
    # f'' = 12x² - 2 < 0 exactly when |x| < 1/√6
    assert abs(rep.witness[0]) < 1 / np.sqrt(6)
    assert rep.witness_eigenvalue == pytest.approx(12 * rep.witness[0] ** 2 - 2)
    assert "not convex" in str(rep)
    convex = check_convexity(lambda x: (x * x).sum() + x.exp().sum() + x.logsumexp(dim=0),
                             (-3 * np.ones(3), 3 * np.ones(3)), samples=30, generator=g)
    assert convex.convex and convex.min_eigenvalue > 0 and "no counterexample" in convex.verdict
    # -|x| has a zero Hessian almost everywhere: only the chord test sees it is concave
    concave = check_convexity(lambda x: -x.abs().sum(), ([-1.0], [1.0]), samples=30,
                              generator=g)
    assert not concave.convex and concave.witness is None and concave.chord_witness is not None


def test_multistart_convex_problem_versus_an_mlp():
    rng = np.random.default_rng(0)
    X = cr.tensor(rng.normal(size=(30, 2)))
    y = cr.tensor(np.sign(rng.normal(size=30)))

    def logreg(w):  # L2-regularised logistic regression: strictly convex
        return (1 + (-(y * (X @ w))).exp()).log().mean() + 0.01 * (w * w).sum()

    convex = multistart(logreg, 5, region=([-5.0, -5.0], [5.0, 5.0]),
                        generator=cr.Generator().manual_seed(1))
    assert convex.same_optimum and convex.n_distinct == 1
    assert convex.loss_spread <= 1e-12 and convex.point_spread <= 1e-6

    Xx = cr.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]], dtype=cr.float64)
    yx = cr.tensor([0.0, 1, 1, 0], dtype=cr.float64)

    def mlp(generator):  # XOR with a 2-2-1 tanh network
        shapes = [(2, 2), (2,), (1, 2), (1,)]
        ps = [cr.randn(*s, generator=generator, dtype=cr.float64).requires_grad_() for s in
              shapes]

        def loss():
            W1, b1, W2, b2 = ps
            out = ((Xx @ W1.T + b1).tanh() @ W2.T + b2).reshape(-1)
            return ((out - yx) ** 2).mean()

        return ps, loss

    nets = multistart(mlp, 5, generator=cr.Generator().manual_seed(2), max_iter=300)
    assert not nets.same_optimum and nets.n_distinct > 1 and nets.point_spread > 0.1
    assert nets.loss_spread > 0.1  # one run is stuck at a worse stationary point
    assert "distinct" in str(nets)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_points_are_never_classified_as_critical():
    # √x at x = -1 has a NaN gradient and Hessian: NaN > grad_tol is False, so without the
    # finiteness test this point would pass the "critical" gate
    rep = classify_critical_point(lambda p: p.sqrt().sum(), cr.tensor([-1.0], dtype=cr.float64))
    assert rep.verdict == "non-finite"
    with pytest.raises(ValueError, match="not finite"):
        check_convexity(lambda x: x.sqrt().sum(), ([-2.0], [-1.0]), samples=3,
                        generator=cr.Generator().manual_seed(0))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_multistart_runs_ending_at_nan_are_not_one_optimum():
    rep = multistart(lambda x: x.sqrt().sum(), 3, region=([-2.0], [-1.0]),
                     generator=cr.Generator().manual_seed(0))
    assert np.isnan(rep.final_losses).all() and not rep.same_optimum
