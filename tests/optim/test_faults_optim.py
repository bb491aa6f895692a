"""Unconstrained optimisers under adversarial inputs: optim.Newton on the Moré–Garbow–Hillstrom
set (published f*), saddle points reported as such, NaN losses that never update or converge,
bad hyperparameters named, and SGD/Adam trajectories on textbook functions equal to torch's."""

from __future__ import annotations

import numpy as np
import pytest
from mgh_problems import MGH, PROBLEMS

import chainrule as cr
from chainrule import optim

torch = pytest.importorskip("torch")

# fast under plain Newton (< 0.3 s each); Meyer and Biggs EXP6 are checked separately
FAST = [p for p in PROBLEMS if p.number not in (10, 18, 26) and p.n <= 12]


def newton_run(p: MGH, **kw: object) -> tuple[float, optim.Newton, cr.Tensor]:
    x = cr.tensor(np.array(p.x0), dtype=cr.float64, requires_grad=True)
    opt = optim.Newton([x], max_iter=300, tolerance_grad=1e-10, **kw)

    def closure() -> cr.Tensor:
        opt.zero_grad()
        loss = p.f(x)
        loss.backward()
        return loss

    opt.step(closure)
    return float(p.f(x.detach())), opt, x


def reaches(f: float, p: MGH) -> bool:
    return any(abs(f - s) <= 1e-5 * max(1.0, abs(s)) or (s == 0 and f <= 1e-10)
               for s in p.f_star + p.other)


@pytest.mark.parametrize("p", FAST, ids=lambda p: p.label)
def test_newton_reaches_a_published_minimum_and_says_converged(p: MGH) -> None:
    f, opt, _ = newton_run(p)
    assert opt.converged and opt.stop_reason == "tolerance_grad", opt.stop_message
    assert reaches(f, p), (f, p.f_star)


def _fd_hessian(p: MGH, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of the autograd gradient: an independent Hessian."""
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((p.fun_and_grad(x + e)[1] - p.fun_and_grad(x - e)[1]) / (2 * h))
    H = np.array(cols)
    return 0.5 * (H + H.T)


def test_newton_reports_the_biggs_exp6_stationary_point_as_a_saddle() -> None:
    """From the standard x0 plain Newton stops where ∇f = 0 at f = 5.65565e-3 (the value the
    paper lists); the Hessian there has a clearly negative eigenvalue, so it is a saddle, and
    Newton must not call it converged."""
    p = next(q for q in PROBLEMS if q.number == 18)
    f, opt, x = newton_run(p)
    assert abs(f - 5.65565e-3) <= 1e-5 and opt.stop_reason == "saddle" and not opt.converged
    low = np.linalg.eigvalsh(_fd_hessian(p, x.detach().numpy().copy())).min()
    assert low < -1e-3, low


def _closure(opt: optim.Optimizer, x: cr.Tensor, fn) -> object:  # noqa: ANN001
    def closure() -> cr.Tensor:
        opt.zero_grad()
        loss = fn(x)
        loss.backward()
        return loss
    return closure


def test_newton_started_at_a_saddle_is_not_converged_and_saddle_free_escapes() -> None:
    def f(x: cr.Tensor) -> cr.Tensor:
        return x[0] ** 2 - x[1] ** 2 + x[1] ** 4

    x = cr.tensor([0.0, 0.0], dtype=cr.float64, requires_grad=True)
    opt = optim.Newton([x], max_iter=5)
    opt.step(_closure(opt, x, f))
    assert opt.stop_reason == "saddle" and not opt.converged and "eigenvalue -2" in \
        opt.stop_message
    y = cr.tensor([0.0, 1e-3], dtype=cr.float64, requires_grad=True)
    sf = optim.Newton([y], max_iter=50, saddle_free=True)
    sf.step(_closure(sf, y, f))
    assert sf.converged and abs(float(f(y.detach())) + 0.25) <= 1e-12  # min at x1 = ±1/√2


@pytest.mark.parametrize("where", ["start", "loss"])
def test_newton_stops_on_nan_without_touching_the_parameters(where: str) -> None:
    start = [float("nan"), 1.0] if where == "start" else [1.0, 2.0]

    def f(x: cr.Tensor) -> cr.Tensor:
        return (x * x).sum() * (float("nan") if where == "loss" else 1.0)

    x = cr.tensor(start, dtype=cr.float64, requires_grad=True)
    opt = optim.Newton([x], max_iter=10)
    opt.step(_closure(opt, x, f))
    assert opt.stop_reason == "non_finite" and not opt.converged
    np.testing.assert_array_equal(x.detach().numpy(), np.array(start))


BAD = {
    "LBFGS negative tolerance_grad": (lambda p: optim.LBFGS(p, tolerance_grad=-1e-7),
                                      "tolerance_grad"),
    "LBFGS NaN tolerance_change": (lambda p: optim.LBFGS(p, tolerance_change=float("nan")),
                                   "tolerance_change"),
    "LBFGS max_iter 0": (lambda p: optim.LBFGS(p, max_iter=0), "max_iter must be"),
    "LBFGS history_size 0": (lambda p: optim.LBFGS(p, history_size=0), "history_size must be"),
    "LBFGS max_eval 0": (lambda p: optim.LBFGS(p, max_eval=0), "max_eval must be"),
    "Newton negative tolerance_grad": (lambda p: optim.Newton(p, tolerance_grad=-1.0),
                                       "tolerance_grad"),
    "Newton max_iter 0": (lambda p: optim.Newton(p, max_iter=0), "max_iter must be"),
    "Newton c1 1.5": (lambda p: optim.Newton(p, c1=1.5), "c1"),
    "Newton negative cg_tol": (lambda p: optim.Newton(p, mode="cg", cg_tol=-0.1), "cg_tol"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_hyperparameters_are_named(case: str) -> None:
    make, match = BAD[case]
    with pytest.raises(ValueError, match=match):
        make([cr.zeros(2, requires_grad=True)])


# ---- SGD and Adam on textbook functions, against torch ----------------------------------------
def rosenbrock(x):  # noqa: ANN001, ANN201 - works on chainrule and torch tensors alike
    return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2


def beale(x):  # noqa: ANN001, ANN201
    return ((1.5 - x[0] + x[0] * x[1]) ** 2 + (2.25 - x[0] + x[0] * x[1] ** 2) ** 2
            + (2.625 - x[0] + x[0] * x[1] ** 3) ** 2)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=1e-4, momentum=0.9)),
                                     ("SGD", dict(lr=1e-4, momentum=0.9, nesterov=True)),
                                     ("Adam", dict(lr=1e-2)),
                                     ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=1e-3))])
@pytest.mark.parametrize("fn,x0", [(rosenbrock, [-1.2, 1.0]), (beale, [1.0, 1.0])])
def test_sgd_and_adam_trajectories_equal_torch(name: str, kw: dict, fn, x0: list) -> None:  # noqa: ANN001
    x = cr.tensor(x0, dtype=cr.float64, requires_grad=True)
    t = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    ours, theirs = getattr(optim, name)([x], **kw), getattr(torch.optim, name)([t], **kw)
    for _ in range(300):
        ours.step(_closure(ours, x, fn))
        theirs.step(_closure(theirs, t, fn))
    np.testing.assert_allclose(x.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert float(fn(x.detach())) < float(fn(cr.tensor(x0, dtype=cr.float64)))  # it descends


@pytest.mark.parametrize("n", [2, 40, 300])
def test_newton_cg_reports_a_saddle_from_hessian_vector_products_alone(n: int) -> None:
    """mode="cg" never forms H: at a stationary point the lowest Lanczos Ritz value decides.
    A quadratic ½xᵀAx with one eigenvalue −0.5 among n in [1, 10] is a saddle at x = 0; the
    same with that eigenvalue +0.5 is a minimum (n = 300 > the 250 Lanczos steps)."""
    rng = np.random.default_rng(n)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    for low, expected in ((-0.5, "saddle"), (0.5, "tolerance_grad")):
        lam = np.concatenate([[low], rng.uniform(1, 10, n - 1)])
        a = cr.tensor((q * lam) @ q.T, dtype=cr.float64)
        x = cr.zeros(n, dtype=cr.float64, requires_grad=True)
        opt = optim.Newton([x], mode="cg", max_iter=3)
        opt.step(_closure(opt, x, lambda v, a=a: 0.5 * (v @ (a @ v))))
        assert opt.stop_reason == expected, (low, opt.stop_message)
        assert opt.converged == (expected == "tolerance_grad")
        if expected == "saddle":
            assert "eigenvalue -0.5" in opt.stop_message
