"""LocalResponseNorm, ChannelShuffle, Softmax2d and gumbel_softmax against torch (float64,
random upstream gradients); gumbel_softmax statistically (sample frequencies against the
softmax of the logits, which the Gumbel-max trick makes the exact argmax law) and its
straight-through gradient exactly."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, rng  # noqa: E402
from test_padding import assert_same_error, check_vs  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402


@pytest.mark.parametrize("shape", [(2, 7, 5), (2, 6, 3, 4), (1, 5, 2, 3, 2)])
@pytest.mark.parametrize("size,alpha,beta,k", [(2, 1e-4, 0.75, 1.0), (5, 0.3, 0.6, 2.0),
                                               (3, 1.0, 1.5, 0.5)])
def test_local_response_norm_equals_torch(shape, size, alpha, beta, k):
    mine, theirs = nn.LocalResponseNorm(size, alpha, beta, k), torch.nn.LocalResponseNorm(
        size, alpha, beta, k)
    assert repr(mine) == repr(theirs)
    check_vs(mine, theirs, rng(size).standard_normal(shape))


def test_channel_shuffle_and_softmax2d_equal_torch():
    mine, theirs = nn.ChannelShuffle(3), torch.nn.ChannelShuffle(3)
    assert repr(mine) == repr(theirs)
    check_vs(mine, theirs, rng(1).standard_normal((2, 6, 3, 2)))
    check_vs(lambda t: F.channel_shuffle(t, 2),
             lambda t: torch.nn.functional.channel_shuffle(t, 2), rng(2).standard_normal((2, 4, 5)))
    assert repr(nn.Softmax2d()) == repr(torch.nn.Softmax2d())
    check_vs(nn.Softmax2d(), torch.nn.Softmax2d(), rng(3).standard_normal((2, 4, 3, 3)))
    check_vs(nn.Softmax2d(), torch.nn.Softmax2d(), rng(4).standard_normal((4, 3, 3)))


@pytest.mark.parametrize("call", [
    lambda M, x: M.functional.channel_shuffle(x[:, :5], 2),
    lambda M, x: M.functional.channel_shuffle(x, 0),
    lambda M, x: M.functional.channel_shuffle(x[0, 0], 2),
    lambda M, x: M.functional.local_response_norm(x[0, 0], 2),
    lambda M, x: M.Softmax2d()(x[0, 0]),
])
def test_channel_errors_like_torch(call):
    x = rng(0).standard_normal((2, 6, 3))
    assert_same_error(lambda: call(nn, as_cr(x)), lambda: call(torch.nn, as_torch(x)))


def test_gumbel_softmax_distribution_and_generator():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    n = 20000
    x = cr.tensor(np.tile(logits, (n, 1)))
    gen = cr.Generator().manual_seed(0)
    y = F.gumbel_softmax(x, tau=0.5, generator=gen)
    np.testing.assert_allclose(y.sum(-1).numpy(), 1.0, rtol=1e-12)
    freq = np.bincount(y.numpy().argmax(-1), minlength=4) / n
    se = np.sqrt(0.25 / n)
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=5 * se)
    # the soft sample's mean at tau -> large is near uniform; at tau = 1 its mean per class is
    # torch's (same law): compare with torch's own samples
    yt = torch.nn.functional.gumbel_softmax(as_torch(np.tile(logits, (n, 1))), tau=1.0)
    yc = F.gumbel_softmax(x, tau=1.0, generator=gen)
    np.testing.assert_allclose(yc.numpy().mean(0), yt.numpy().mean(0), atol=0.01)
    np.testing.assert_allclose(yc.numpy().std(0), yt.numpy().std(0), atol=0.01)
    # the generator makes draws reproducible
    a = F.gumbel_softmax(x[:5], generator=cr.Generator().manual_seed(3))
    b = F.gumbel_softmax(x[:5], generator=cr.Generator().manual_seed(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("dim", [-1, 0])
def test_gumbel_softmax_hard_straight_through(dim):
    x = as_cr(rng(5).standard_normal((6, 5)), True)
    tau = 0.7
    y = F.gumbel_softmax(x, tau=tau, hard=True, dim=dim, generator=cr.Generator().manual_seed(1))
    v = y.detach().numpy()
    # one-hot up to the rounding of (1 - s) + s, as torch's y_hard - y_soft.detach() + y_soft
    np.testing.assert_allclose(v, np.round(v), atol=1e-15)
    np.testing.assert_allclose(v.sum(dim), 1.0, atol=1e-15)
    g = rng(6).standard_normal((6, 5))
    y.backward(cr.tensor(g))
    # the gradient is the soft sample's: recover the soft sample from the same draws
    z = F.gumbel_softmax(x.detach(), tau=tau, dim=dim, generator=cr.Generator().manual_seed(1))
    assert (z.numpy().argmax(dim) == v.argmax(dim)).all()
    s = torch.tensor(z.numpy(), requires_grad=True)
    logits_t = as_torch(x.detach().numpy(), True)
    # y_soft = softmax((logits + G)/tau): G = tau log s - logits up to a per-slice constant
    gumb = (tau * torch.log(s.detach()) - logits_t.detach())
    soft = torch.softmax((logits_t + gumb) / tau, dim)
    soft.backward(as_torch(g))
    assert_close(x.grad, logits_t.grad, what="straight-through grad")
