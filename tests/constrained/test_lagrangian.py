"""Constrained training with ``Lagrangian`` + ``PrimalDual``, checked against the solvers."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import constrained as C
from chainrule import nn


def logistic_loss(w: cr.Tensor, X: cr.Tensor, y: cr.Tensor) -> cr.Tensor:
    """Mean logistic loss of a linear classifier, labels y in {-1, +1}."""
    return (1 + (-(y * (X @ w))).exp()).log().mean()


def nll(W: cr.Tensor, X: cr.Tensor, Y: cr.Tensor) -> cr.Tensor:
    """Cross-entropy of each sample under softmax regression (Y one-hot)."""
    return -((X @ W.T).log_softmax(dim=1) * Y).sum(dim=1)


def per_class(W: cr.Tensor, X: cr.Tensor, Y: cr.Tensor) -> cr.Tensor:
    """Mean cross-entropy of each class."""
    return (nll(W, X, Y).reshape(-1, 1) * Y).sum(dim=0) / Y.sum(dim=0)


class LogReg(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(cr.zeros(d, dtype=cr.float64))

    def forward(self, X: cr.Tensor, y: cr.Tensor) -> cr.Tensor:
        return logistic_loss(self.weight, X, y)


class Softmax(nn.Module):
    def __init__(self, d: int, k: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(cr.zeros(k, d, dtype=cr.float64))

    def forward(self, X: cr.Tensor, Y: cr.Tensor) -> cr.Tensor:
        return nll(self.weight, X, Y).mean()


@pytest.fixture(scope="module")
def binary() -> tuple[cr.Tensor, cr.Tensor]:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal([1.5, 1, 0], 1, (20, 3)), rng.normal([-1.5, -1, 0], 1, (20, 3))])
    y = np.array([1.0] * 20 + [-1.0] * 20)
    return cr.tensor(X), cr.tensor(y)


def train(lag: C.Lagrangian, opt: C.PrimalDual, args: tuple, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        lag(*args).backward()
        opt.step()


@pytest.mark.parametrize("use_optim", [False, True])
def test_weight_norm_constraint_reaches_the_kkt_point(binary, use_optim):
    X, y = binary
    model = LogReg(3)
    lag = C.Lagrangian(model, [C.Constraint("norm", lambda X, y: (model.weight ** 2).sum() - 1)],
                       dtype=cr.float64, rho=1.0)
    if use_optim:
        optim = pytest.importorskip("chainrule.optim")
        opt = C.PrimalDual(lag, optim.SGD(model.parameters(), lr=0.5), dual_lr=1.0)
    else:
        opt = C.PrimalDual(lag, lr=0.5, dual_lr=1.0)
    train(lag, opt, (X, y), 300)
    # the same problem through the interior-point solver
    ref = C.interior_point(C.Problem(lambda w: logistic_loss(w, X, y),
                                     cr.zeros(3, dtype=cr.float64),
                                     ineq=lambda w: (w * w).sum() - 1))
    np.testing.assert_allclose(model.weight.detach().numpy(), ref.x_flat, atol=1e-6)
    mu = lag.state_dict()["multipliers.norm"]
    assert float(mu) == pytest.approx(ref.mu[0], abs=1e-6) and ref.mu[0] > 0.01
    assert "norm <= 0" in lag.report() and "multiplier" in lag.report()


def test_multipliers_live_in_state_dict_and_reload(binary):
    X, y = binary
    model = LogReg(3)
    lag = C.Lagrangian(model, [C.Constraint("norm", lambda X, y: (model.weight ** 2).sum() - 1),
                               C.Constraint("w0", lambda X, y: model.weight[:2], kind="eq",
                                            shape=(2,))])
    sd = lag.state_dict()
    assert list(sd) == ["objective.weight", "multipliers.norm", "multipliers.w0"]
    assert [n for n, _ in lag.named_parameters()] == ["objective.weight"]
    train(lag, C.PrimalDual(lag, lr=0.5, dual_lr=0.5), (X, y), 50)
    assert float(lag.multiplier("norm")) >= 0
    assert np.any(lag.multiplier("w0").numpy() != 0)
    model2 = LogReg(3)
    lag2 = C.Lagrangian(model2, [C.Constraint("norm", lambda X, y: (model2.weight ** 2).sum()
                                              - 1),
                                 C.Constraint("w0", lambda X, y: model2.weight[:2], kind="eq",
                                              shape=(2,))])
    lag2.load_state_dict(lag.state_dict())
    np.testing.assert_array_equal(lag2.multiplier("w0").numpy(), lag.multiplier("w0").numpy())
    assert float(lag2(X, y)) == pytest.approx(float(lag(X, y)))


def test_per_class_loss_constraint_matches_the_constrained_optimum():
    # three classes, the last one rare: its mean cross-entropy is capped at 0.2
    rng = np.random.default_rng(1)
    centers = np.array([[2.0, 0], [0, 2], [-1.2, -1.2]])
    counts = [30, 30, 6]
    X = np.vstack([rng.normal(cen, 1.0, (n, 2)) for cen, n in zip(centers, counts)])
    X = np.hstack([X, np.ones((X.shape[0], 1))])
    labels = np.repeat([0, 1, 2], counts)
    Xt, Yt = cr.tensor(X), cr.tensor(np.eye(3)[labels])
    caps = cr.tensor([10.0, 10.0, 0.2])
    model = Softmax(3, 3)
    lag = C.Lagrangian(model, [C.Constraint("class_loss",
                                            lambda X, Y: per_class(model.weight, X, Y) - caps,
                                            shape=(3,))], dtype=cr.float64, rho=4.0)
    train(lag, C.PrimalDual(lag, lr=4.0, dual_lr=4.0), (Xt, Yt), 1000)
    ref = C.interior_point(C.Problem(
        lambda W: nll(W, Xt, Yt).mean(), cr.zeros(3, 3, dtype=cr.float64),
        ineq=lambda W: per_class(W, Xt, Yt) - caps))
    mu = lag.multiplier("class_loss").numpy()
    np.testing.assert_allclose(mu, ref.mu, atol=2e-6)
    assert mu[2] > 0.01 and mu[0] == 0 and mu[1] == 0  # only the rare class is constrained
    # softmax is unchanged by adding one vector to every class row: compare centred weights
    W, W_ref = model.weight.detach().numpy(), ref.x_flat.reshape(3, 3)
    np.testing.assert_allclose(W - W.mean(0), W_ref - W_ref.mean(0), atol=1e-5)
    assert float(per_class(model.weight, Xt, Yt)[2]) <= 0.2 + 1e-6
    free = C.projected_gradient(C.Problem(lambda W: nll(W, Xt, Yt).mean(),
                                          cr.zeros(3, 3, dtype=cr.float64)), tol=1e-7)
    assert float(per_class(free.x[0] if isinstance(free.x, tuple) else free.x, Xt, Yt)[2]) > 0.25


def test_lagrangian_errors(binary):
    X, y = binary
    model = LogReg(3)
    with pytest.raises(ValueError, match="identifier"):
        C.Constraint("a.b", lambda X, y: model.weight.sum())
    with pytest.raises(ValueError, match="unique"):
        C.Lagrangian(model, [C.Constraint("c", lambda X, y: model.weight.sum())] * 2)
    lag = C.Lagrangian(model, [C.Constraint("c", lambda X, y: model.weight, shape=())])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        lag(X, y)
    with pytest.raises(RuntimeError, match="forward"):
        C.Lagrangian(model, [C.Constraint("c", lambda X, y: model.weight.sum())]).ascent_step(1.0)
    with pytest.raises(ValueError, match="params"):
        C.PrimalDual(C.Lagrangian(lambda X, y: X.sum(), []))
