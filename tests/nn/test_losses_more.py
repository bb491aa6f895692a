"""PoissonNLL, GaussianNLL, HingeEmbedding, MultiLabelSoftMargin, MultiLabelMargin and
TripletMarginWithDistance losses against torch (float64; every reduction; gradients of the
inputs for a random upstream gradient), reprs, and torch's errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, rng  # noqa: E402
from test_padding import assert_same_error  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402

REDUCTIONS = ["none", "mean", "sum"]


def check_loss(mine, theirs, grads, consts=(), seed=1):
    """Same loss value, then the same gradient of every array in ``grads`` (upstream: a random
    array for 'none', 1.7 otherwise); ``consts`` are passed without gradient (targets)."""
    xc = [as_cr(a, True) for a in grads] + [as_cr(a) for a in consts]
    xt = [as_torch(a, True) for a in grads] + [as_torch(a) for a in consts]
    yc, yt = mine(*xc), theirs(*xt)
    assert_close(yc, yt, what="loss")
    g = rng(seed).standard_normal(tuple(yt.shape)) if yt.ndim else np.array(1.7)
    yc.backward(cr.tensor(g))
    yt.backward(as_torch(g))
    for i, (a, b) in enumerate(zip(xc[:len(grads)], xt[:len(grads)])):
        assert_close(a.grad, b.grad, what=f"grad {i}")


def both(name, *args, **kw):
    m, t = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(m) == repr(t)
    return m, t


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input,full", [(True, False), (False, True), (True, True)])
def test_poisson_nll(reduction, log_input, full):
    r = rng(2)
    x = r.standard_normal((4, 5)) if log_input else r.uniform(0.1, 3.0, (4, 5))
    y = r.poisson(2.0, (4, 5)).astype(float)
    m, t = both("PoissonNLLLoss", log_input=log_input, full=full, eps=1e-3, reduction=reduction)
    check_loss(m, t, [x], [y])
    # the target's gradient too; with ``full`` torch's is nan at y = 0 (0 · d/dy y log y through
    # its masked_fill), chainrule's 0 there: compared on y >= 1
    check_loss(m, t, [x, y + 1.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1), (1, 3)])
def test_gaussian_nll(reduction, var_shape):
    r = rng(3)
    x, y = r.standard_normal((4, 3)), r.standard_normal((4, 3))
    var = r.uniform(0.0, 2.0, var_shape)
    var.flat[0] = 1e-9  # below eps: clamped in value, the gradient passes through
    m, t = both("GaussianNLLLoss", full=True, eps=1e-4, reduction=reduction)
    check_loss(m, t, [x, y, var])
    m2, t2 = both("GaussianNLLLoss", reduction=reduction)
    check_loss(lambda a, b: m2(a, b, 0.7), lambda a, b: t2(a, b, 0.7), [x, y])


def test_gaussian_nll_errors():
    x = rng(0).standard_normal((3, 4))
    for var in (-np.ones((3, 4)), np.ones((2, 4)), np.ones((3, 2))):
        assert_same_error(lambda v=var: nn.GaussianNLLLoss()(as_cr(x), as_cr(x), as_cr(v)),
                lambda v=var: torch.nn.GaussianNLLLoss()(as_torch(x), as_torch(x), as_torch(v)))
    assert_same_error(lambda: nn.GaussianNLLLoss()(as_cr(x), as_cr(x), -1.0),
            lambda: torch.nn.GaussianNLLLoss()(as_torch(x), as_torch(x), -1.0))
    assert_same_error(lambda: nn.GaussianNLLLoss(reduction="x")(as_cr(x), as_cr(x), 1.0),
            lambda: torch.nn.GaussianNLLLoss(reduction="x")(as_torch(x), as_torch(x), 1.0))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_embedding_and_multilabel_soft_margin(reduction):
    r = rng(4)
    x = r.standard_normal((5, 4))
    y = r.choice([-1.0, 1.0], (5, 4))
    m, t = both("HingeEmbeddingLoss", margin=0.8, reduction=reduction)
    check_loss(m, t, [x], [y])
    w = r.uniform(0.5, 2.0, 4)
    m = nn.MultiLabelSoftMarginLoss(weight=cr.tensor(w), reduction=reduction)
    t = torch.nn.MultiLabelSoftMarginLoss(weight=as_torch(w), reduction=reduction)
    assert list(m.state_dict()) == list(t.state_dict())
    yb = (y > 0).astype(float)
    check_loss(m, t, [x], [yb])
    check_loss(*both("MultiLabelSoftMarginLoss", reduction=reduction), [x[0]], [yb[0]])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin(reduction):
    x = rng(5).standard_normal((4, 5))
    y = np.array([[3, 0, -1, 1, 2], [0, 1, 2, 3, 4], [1, 1, -1, 0, 0], [4, -1, 3, 3, 3]])
    m, t = both("MultiLabelMarginLoss", reduction=reduction)
    check_loss(m, t, [x], [y])
    check_loss(m, t, [x[0]], [y[0]])


def test_multilabel_margin_errors():
    x = rng(0).standard_normal((3, 4))
    t = np.array([[3, 0, -1, 1], [0, 1, 2, 3], [1, -1, 0, 0]])
    for xx, tt in [(x, t[:2]), (x, t + 1), (x, t - 2), (x, t.astype(np.float32)),
                   (x[None], t), (x[:, :0], t[:, :0])]:
        assert_same_error(lambda a=xx, b=tt: nn.MultiLabelMarginLoss()(as_cr(a), as_cr(b)),
                lambda a=xx, b=tt: torch.nn.MultiLabelMarginLoss()(as_torch(a), as_torch(b)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_with_distance(reduction, swap):
    r = rng(6)
    a, p, n = (r.standard_normal((6, 3)) for _ in range(3))
    m, t = both("TripletMarginWithDistanceLoss", margin=1.5, swap=swap, reduction=reduction)
    check_loss(m, t, [a, p, n])

    def cos_c(u, v):
        return 1.0 - nn.functional.cosine_similarity(u, v)

    def cos_t(u, v):
        return 1.0 - torch.nn.functional.cosine_similarity(u, v)

    m = nn.TripletMarginWithDistanceLoss(distance_function=cos_c, margin=0.3, swap=swap,
                                         reduction=reduction)
    t = torch.nn.TripletMarginWithDistanceLoss(distance_function=cos_t, margin=0.3, swap=swap,
                                               reduction=reduction)
    assert repr(m) == repr(t)
    check_loss(m, t, [a, p, n])


def test_loss_errors_like_torch():
    x = rng(0).standard_normal((3, 4))
    F, tF = nn.functional, torch.nn.functional
    for name, args in [("multilabel_soft_margin_loss", (x, x)), ("poisson_nll_loss", (x, x)),
                       ("hinge_embedding_loss", (x, x)), ("multilabel_margin_loss",
                                                          (x, np.zeros((3, 4), np.int64)))]:
        assert_same_error(lambda n=name, a=args: getattr(F, n)(*map(as_cr, a), reduction="x"),
                lambda n=name, a=args: getattr(tF, n)(*map(as_torch, a), reduction="x"))
    assert_same_error(lambda: F.triplet_margin_with_distance_loss(as_cr(x), as_cr(x), as_cr(x[0])),
            lambda: tF.triplet_margin_with_distance_loss(as_torch(x), as_torch(x),
                                                         as_torch(x[0])))
    assert_same_error(lambda: F.triplet_margin_with_distance_loss(*[as_cr(x)] * 3, margin=0),
            lambda: tF.triplet_margin_with_distance_loss(*[as_torch(x)] * 3, margin=0))
    assert_same_error(lambda: nn.TripletMarginWithDistanceLoss(margin=-1),
            lambda: torch.nn.TripletMarginWithDistanceLoss(margin=-1))
