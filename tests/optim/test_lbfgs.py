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
