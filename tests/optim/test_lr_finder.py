"""The LR range test: exponential sweep, smoothed losses, a sensible suggestion, no trace."""

from __future__ import annotations

import numpy as np

import chainrule
from chainrule import nn, optim
from chainrule.optim import lr_finder


def regression(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 5))
    y = x @ rng.standard_normal(5) + 0.1 * rng.standard_normal(64)
    # f(w) = mean((xw − y)²) is L-smooth with L = 2 λ_max(xᵀx / n): GD diverges for lr > 2/L
    lipschitz = 2 * np.linalg.eigvalsh(x.T @ x / len(y)).max()
    return chainrule.tensor(x), chainrule.tensor(y), lipschitz


def test_range_test_sweeps_suggests_and_restores():
    x, y, lipschitz = regression()
    w = nn.Parameter(chainrule.tensor(np.full(5, 0.3)))
    opt = optim.SGD([w], lr=0.123, momentum=0.5)
    w.grad = None
    opt.zero_grad()
    ((x @ w - y) ** 2).mean().backward()
    opt.step()  # some optimizer state to restore
    before_w = w._array.copy()
    before_buf = opt.state[w]["momentum_buffer"].copy()

    def step():
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    res = lr_finder.range_test(opt, step, start_lr=1e-4 / lipschitz, end_lr=1e3 / lipschitz,
                               num_iter=80)
    ratios = np.diff(np.log(res.lrs))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)  # an exponential sweep
    assert res.diverged and len(res.lrs) < 80
    assert len(res.losses) == len(res.raw_losses) == len(res.lrs)
    assert 1e-3 / lipschitz < res.suggestion < 2 / lipschitz
    assert res.lr_at_min_loss / 10 < 2 / lipschitz  # the "min / 10" rule of thumb
    np.testing.assert_array_equal(w.data, before_w)
    np.testing.assert_array_equal(opt.state[w]["momentum_buffer"], before_buf)
    assert opt.param_groups[0]["lr"] == 0.123


class Affine(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(chainrule.zeros(5, dtype=chainrule.float64))
        self.b = nn.Parameter(chainrule.zeros(1, dtype=chainrule.float64))

    def forward(self, x):
        return x @ self.w + self.b


def test_find_lr_with_a_model_and_batches():
    x, y, lipschitz = regression(1)
    model = Affine()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    batches = [(x[i: i + 16], y[i: i + 16]) for i in range(0, 64, 16)]
    res = lr_finder.find_lr(model, opt, lambda out, t: ((out - t) ** 2).mean(), batches,
                            start_lr=1e-5, end_lr=10.0, num_iter=60)
    assert len(res.lrs) >= 30  # the 4 batches were cycled
    assert res.losses[np.argmin(res.losses)] < res.losses[0]
    assert 1e-5 < res.suggestion < 10.0
    assert not model.w.data.any() and not model.b.data.any()  # weights restored
    assert len(opt.state) == 0  # Adam had not stepped before the test: no state after it
    ax = res.plot()
    assert ax.get_xscale() == "log"


def test_valley_ignores_an_early_noisy_drop():
    """A big noisy dip among the tiny lrs fools 'steepest' but not 'valley'."""
    lrs = list(np.logspace(-6, 0, 61))
    losses = [2.0 + (0.8 if i == 8 else 0.0) for i in range(20)]  # flat, one noisy spike
    losses += [2.0 - 1.9 * (i / 30) for i in range(1, 31)]  # the useful descent
    losses += [0.1 * 3**i for i in range(1, 12)]  # divergence
    assert lr_finder.steepest(lrs, losses) == lrs[9]
    v = lr_finder.valley(lrs, losses)
    assert lrs[20] < v < lrs[50]
