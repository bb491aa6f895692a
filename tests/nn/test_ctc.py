"""CTC loss against torch in float64: every reduction, padded and concatenated targets,
repeated labels (which need a blank between them), empty targets, shorter inputs, unbatched
input, infinite losses with and without zero_infinity; gradients through log_softmax and to a
leaf log_probs (PyTorch's convention); reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import assert_close, rng  # noqa: E402
from test_padding import assert_same_error  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402

T, N, C, S = 12, 3, 5, 4


def _data(seed=0, blank=0):
    r = rng(seed)
    x = r.standard_normal((T, N, C))
    labels = [c for c in range(C) if c != blank]
    t = r.choice(labels, (N, S))
    t[0, 1] = t[0, 0]  # a repeat
    return x, t, np.array([12, 9, 7]), np.array([4, 3, 0])


def _compare(x, t, il, tl, kw, through_softmax=True, seed=1, concat=False):
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lpc = xc.log_softmax(-1) if through_softmax else xc
    lpt = xt.log_softmax(-1) if through_softmax else xt
    if concat:
        t = np.concatenate([row[:k] for row, k in zip(t, tl)])
    lc = nn.CTCLoss(**kw)(lpc, cr.tensor(t), cr.tensor(il), cr.tensor(tl))
    lt = torch.nn.CTCLoss(**kw)(lpt, torch.tensor(t), torch.tensor(il), torch.tensor(tl))
    assert_close(lc, lt, what="loss")
    g = rng(seed).standard_normal(tuple(lt.shape))
    lc.backward(cr.tensor(g))
    lt.backward(torch.tensor(g))
    np.testing.assert_array_equal(np.isnan(xc.grad.numpy()), np.isnan(xt.grad.numpy()))
    assert_close(np.nan_to_num(xc.grad.numpy()), np.nan_to_num(xt.grad.numpy()),
                 what="grad")


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("blank", [0, 3])
def test_ctc_equals_torch(reduction, blank):
    x, t, il, tl = _data(blank=blank)
    kw = dict(blank=blank, reduction=reduction)
    assert repr(nn.CTCLoss(**kw)) == repr(torch.nn.CTCLoss(**kw))
    _compare(x, t, il, tl, kw)
    _compare(x, t, il, tl, kw, through_softmax=False)  # leaf log_probs: torch's convention
    _compare(x, t, il, tl, kw, concat=True)


def test_ctc_unbatched_and_lists():
    x, t, il, tl = _data(2)
    xc, xt = cr.tensor(x[:, 0]).log_softmax(-1), torch.tensor(x[:, 0]).log_softmax(-1)
    for red in ("none", "mean"):
        lc = nn.functional.ctc_loss(xc, cr.tensor(t[0]), cr.tensor(12), cr.tensor(4),
                                    reduction=red)
        lt = torch.nn.functional.ctc_loss(xt, torch.tensor(t[0]), torch.tensor(12),
                                          torch.tensor(4), reduction=red)
        assert_close(lc, lt, what=red)
    lc = nn.functional.ctc_loss(cr.tensor(x).log_softmax(-1), cr.tensor(t), tuple(il), tuple(tl),
                                reduction="none")
    lt = torch.nn.functional.ctc_loss(torch.tensor(x).log_softmax(-1), torch.tensor(t),
                                      tuple(il), tuple(tl), reduction="none")
    assert_close(lc, lt)


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_impossible_alignment(zero_infinity):
    x, t, _, tl = _data(3)
    il = np.array([2, 9, 3])  # too short for 4 labels with a repeat, and for 3 labels
    for reduction in ("none", "sum"):
        _compare(x, t, il, tl, dict(reduction=reduction, zero_infinity=zero_infinity))


def test_ctc_gradient_under_create_graph():
    """create_graph works: the gradient is recorded as a function of the upstream gradient
    (its own derivative with respect to log_probs is not: CTC has no second derivative here)."""
    x, t, il, tl = _data(4)
    xc = cr.tensor(x, requires_grad=True)
    loss = nn.functional.ctc_loss(xc.log_softmax(-1), cr.tensor(t), cr.tensor(il),
                                  cr.tensor(tl))
    (g,) = cr.autograd.grad(loss, xc, create_graph=True)
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.ctc_loss(xt.log_softmax(-1), torch.tensor(t), torch.tensor(il),
                                      torch.tensor(tl))
    lt.backward()
    assert_close(g, xt.grad)


@pytest.mark.parametrize("change", [
    dict(t=lambda t: t[:, :2]), dict(il=[13, 9, 7]), dict(tl=[5, 3, 0]), dict(il=[12, 9]),
    dict(tl=[4, 3]), dict(blank=5), dict(blank=-1), dict(tl=[-1, 2, 0]),
    dict(t=lambda t: t.reshape(-1)[:5]), dict(reduction="x"),
])
def test_ctc_errors_like_torch(change):
    x, t, il, tl = _data(5)
    t = change.get("t", lambda v: v)(t)
    il, tl = np.array(change.get("il", il)), np.array(change.get("tl", tl))
    kw = {k: v for k, v in change.items() if k in ("blank", "reduction")}
    lp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    assert_same_error(lambda: nn.functional.ctc_loss(cr.tensor(lp), cr.tensor(t), cr.tensor(il),
                                           cr.tensor(tl), **kw),
            lambda: torch.nn.functional.ctc_loss(torch.tensor(lp), torch.tensor(t),
                                                 torch.tensor(il), torch.tensor(tl), **kw))
