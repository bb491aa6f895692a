"""L-BFGS against torch.optim.LBFGS on the Rosenbrock function: the same trajectory.

Both run the same algorithm in float64; they differ only by rounding (BLAS dot products, the
autograd of the loss), which Rosenbrock's curved valley amplifies by about 10x per outer step.
The number of compared steps per configuration keeps that drift below 1e-8; the function
evaluation counts (every line-search branch taken) must be equal.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import optim  # noqa: E402
from chainrule.nn import Parameter  # noqa: E402

START = np.array([-1.2, 1.0, -0.5, 0.8, 1.5, -0.3])


def rosenbrock(x, y):
    """Chained Rosenbrock over the concatenation of two parameters (tests the flattening)."""
    return (100 * (y - x**2) ** 2 + (1 - x) ** 2).sum()


def run(lib, opt_cls, steps, **kw):
    if lib is torch:
        a = torch.tensor(START[:3], dtype=torch.float64, requires_grad=True)
        b = torch.tensor(START[3:], dtype=torch.float64, requires_grad=True)
    else:
        a = Parameter(chainrule.tensor(START[:3], dtype=chainrule.float64))
        b = Parameter(chainrule.tensor(START[3:], dtype=chainrule.float64))
    opt = opt_cls([a, b], **kw)

    def closure():
        opt.zero_grad()
        xs = lib.cat([a, b])
        loss = rosenbrock(xs[:-1], xs[1:])
        loss.backward()
        return loss

    traj, losses = [], []
    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
        traj.append(np.concatenate([a.detach().numpy().copy(), b.detach().numpy().copy()]))
    return np.array(traj), losses, opt


@pytest.mark.parametrize("steps,kw", [
    (6, dict(lr=1, max_iter=5)),
    (7, dict(lr=0.5, max_iter=4, history_size=3)),
    (9, dict(lr=1, max_iter=5, line_search_fn="strong_wolfe")),
    (4, dict(lr=1, max_iter=7, history_size=2, line_search_fn="strong_wolfe", max_eval=9)),
    (3, dict(lr=1, max_iter=50, line_search_fn="strong_wolfe", tolerance_grad=1e-5,
             tolerance_change=1e-12)),
], ids=["plain", "short-history", "strong-wolfe", "wolfe-short-history", "wolfe-converge"])
def test_lbfgs_trajectory_equals_torch(steps, kw):
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        t_traj, t_losses, t_opt = run(torch, torch.optim.LBFGS, steps, **kw)
    finally:
        torch.set_default_dtype(prev)
    c_traj, c_losses, c_opt = run(chainrule, optim.LBFGS, steps, **kw)
    np.testing.assert_allclose(c_traj, t_traj, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(c_losses, t_losses, rtol=1e-8, atol=1e-10)
    c_state = c_opt.state[c_opt.param_groups[0]["params"][0]]
    t_state = t_opt.state[t_opt.param_groups[0]["params"][0]]
    assert c_state["func_evals"] == t_state["func_evals"]
    assert c_state["n_iter"] == t_state["n_iter"]
    assert not np.allclose(c_traj[0], START)


def test_lbfgs_converges_to_rosenbrock_minimum():
    traj, losses, _ = run(chainrule, optim.LBFGS, 10, lr=1, max_iter=100,
                          line_search_fn="strong_wolfe", tolerance_grad=1e-10,
                          tolerance_change=1e-14)
    np.testing.assert_allclose(traj[-1], np.ones(6), atol=1e-6)


def test_lbfgs_rejects_groups_and_needs_closure():
    w = Parameter(chainrule.tensor([1.0]))
    v = Parameter(chainrule.tensor([1.0]))
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": [w]}, {"params": [v]}])
    with pytest.raises(RuntimeError, match="requires a closure"):
        optim.LBFGS([w]).step(None)
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS([w], line_search_fn="armijo")


def _run_scalar(lib, w0, loss_fn, steps, **kw):
    """``steps`` LBFGS steps on one float64 parameter: the iterates and the func_evals count."""
    if lib is torch:
        w = torch.tensor(np.asarray(w0, dtype=np.float64), requires_grad=True)
        opt = torch.optim.LBFGS([w], **kw)
    else:
        w = Parameter(chainrule.tensor(np.asarray(w0, dtype=np.float64)))
        opt = optim.LBFGS([w], **kw)

    def closure():
        opt.zero_grad()
        loss = loss_fn(w)
        loss.backward()
        return loss

    traj = []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            opt.step(closure)
            traj.append(w.detach().numpy().copy())
    state = opt.state[opt.param_groups[0]["params"][0]]
    return np.array(traj), state["func_evals"]


def neg_log_plus_square(w):
    """f(w) = Σ -log w + w², minimum 1/√2 per entry; nan for w < 0 and inf at w = 0."""
    return (-w.log() + w * w).sum()


def quadratic(w):
    """An ill-conditioned quadratic ½ Σ_i 10^i w_i² (condition number 10³)."""
    scales = np.array([1.0, 10.0, 100.0, 1000.0])
    s = torch.tensor(scales) if isinstance(w, torch.Tensor) else chainrule.tensor(scales)
    return 0.5 * (s * w * w).sum()


@pytest.mark.parametrize("w0,loss_fn,steps,kw", [
    ([-1.0], neg_log_plus_square, 3, dict(line_search_fn="strong_wolfe")),
    ([0.5], neg_log_plus_square, 3, dict(lr=100, line_search_fn="strong_wolfe")),
    ([1.0, -2.0, 0.5, 3.0], quadratic, 4, dict(max_iter=3, line_search_fn="strong_wolfe")),
    ([1.0, -2.0, 0.5, 3.0], quadratic, 4, dict(lr=0.1, max_iter=3)),
], ids=["nan-start", "nan-start-free", "quadratic-wolfe", "quadratic-plain"])
def test_lbfgs_step_by_step_equals_torch(w0, loss_fn, steps, kw):
    """Iterates and evaluation counts equal to torch's. From w = -1, f is nan (log of a
    negative) and the first trial w = 0 gives inf: the search extrapolates out of the invalid
    region and both reach 1/√2 (this ended at nan before the non-finite cases were handled)."""
    theirs, t_evals = _run_scalar(torch, w0, loss_fn, steps, **kw)
    ours, c_evals = _run_scalar(chainrule, w0, loss_fn, steps, **kw)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert c_evals == t_evals
    assert np.isfinite(ours).all()
    if loss_fn is neg_log_plus_square:
        np.testing.assert_allclose(ours[-1], 2 ** -0.5, rtol=1e-5)


@pytest.mark.parametrize("lr", [10.0, 50.0])
def test_lbfgs_backs_away_from_non_finite_trial_points(lr):
    """From w = 3 with a long first step the trials w < 0 give nan. A non-finite trial is a
    failed step here: every iterate keeps a finite loss and the search reaches 1/√2. (torch
    2.13 accepts a nan trial as the bracket's low end; with lr=50 its first iterate is w < 0.)"""
    ours, _ = _run_scalar(chainrule, [3.0], neg_log_plus_square, 4,
                          lr=lr, line_search_fn="strong_wolfe")
    assert (ours > 0).all()
    np.testing.assert_allclose(ours[-1], 2 ** -0.5, rtol=1e-4)
    if lr == 50.0:
        theirs, _ = _run_scalar(torch, [3.0], neg_log_plus_square, 1,
                                lr=lr, line_search_fn="strong_wolfe")
        assert theirs[0, 0] < 0  # the documented difference: torch stepped into nan


@pytest.mark.parametrize("f2,g2", [(np.inf, -np.inf), (np.nan, np.nan), (np.inf, 1.0)])
def test_cubic_interpolate_bisects_non_finite_ends(f2, g2):
    from chainrule.optim.lbfgs import cubic_interpolate

    assert cubic_interpolate(0.0, 1.0, -1.0, 2.0, f2, g2) == 1.0
    assert cubic_interpolate(0.0, 1.0, -1.0, 2.0, f2, g2, bounds=(2.0, 20.0)) == 11.0
