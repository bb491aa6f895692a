"""Normalisation layers against torch (float64, random upstream gradients, train and eval,
running statistics over several steps), masked BatchNorm, the batch-of-one warning, and the
invariances of LayerNorm."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, check_twin, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from chainrule.autograd.gradcheck import gradgradcheck  # noqa: E402


def _perturb_affine(mine, theirs, seed=0):
    """Non-trivial γ, β in both (the defaults 1, 0 would hide their gradients' mistakes)."""
    r = rng(seed)
    with torch.no_grad():
        for name in ("weight", "bias"):
            p = getattr(theirs, name, None)
            if p is not None:
                p.copy_(torch.tensor(r.standard_normal(tuple(p.shape))))
    mine.load_state_dict(theirs.state_dict())


def check_steps(mine, theirs, shapes, train=True, **fwd):
    """Several forward/backward steps in one mode; outputs, all gradients and every buffer
    (running stats, num_batches_tracked) must agree after each step."""
    mine.train(train)
    theirs.train(train)
    for step, shape in enumerate(shapes):
        x = rng(10 + step).standard_normal(shape) * 3 + 1.5
        xc, xt = as_cr(x, True), as_torch(x, True)
        yc, yt = mine(xc, **fwd), theirs(xt)
        assert_close(yc, yt, what=f"output step {step}")
        g = rng(20 + step).standard_normal(tuple(yt.shape))
        mine.zero_grad()
        theirs.zero_grad()
        yc.backward(cr.tensor(g))
        yt.backward(as_torch(g))
        assert_close(xc.grad, xt.grad, what=f"input grad step {step}")
        for (n, pc), (_, pt) in zip(mine.named_parameters(), theirs.named_parameters()):
            assert_close(pc.grad, pt.grad, what=f"grad of {n} step {step}")
        for (n, bc), (_, bt) in zip(mine.named_buffers(), theirs.named_buffers()):
            assert_close(bc, bt, what=f"buffer {n} step {step}")


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("cls,shapes", [
    ("BatchNorm1d", [(6, 4), (5, 4), (7, 4)]),
    ("BatchNorm1d", [(3, 4, 5), (2, 4, 6)]),
    ("BatchNorm2d", [(3, 4, 3, 2), (2, 4, 4, 3), (4, 4, 2, 2)]),
])
def test_batchnorm_train_then_eval_equals_torch(cls, shapes, momentum):
    mine = getattr(nn, cls)(4, momentum=momentum).double()
    theirs = getattr(torch.nn, cls)(4, momentum=momentum).double()
    _perturb_affine(mine, theirs)
    check_steps(mine, theirs, shapes, train=True)
    check_steps(mine, theirs, shapes[:1], train=False)


@pytest.mark.parametrize("kw", [dict(affine=False), dict(track_running_stats=False),
                                dict(eps=1e-2, affine=False, track_running_stats=False)])
def test_batchnorm_options_equal_torch(kw):
    mine, theirs = nn.BatchNorm2d(3, **kw).double(), torch.nn.BatchNorm2d(3, **kw).double()
    assert list(mine.state_dict()) == list(theirs.state_dict())
    check_steps(mine, theirs, [(4, 3, 2, 3), (3, 3, 3, 3)], train=True)
    check_steps(mine, theirs, [(2, 3, 2, 2)], train=False)


def test_batchnorm_state_dict_and_repr():
    mine, theirs = nn.BatchNorm1d(5), torch.nn.BatchNorm1d(5)
    sd = mine.state_dict()
    assert list(sd) == list(theirs.state_dict())
    assert sd["num_batches_tracked"].dtype == np.int64
    assert [n for n, _ in mine.named_parameters()] == ["weight", "bias"]
    assert repr(mine) == repr(theirs)
    assert repr(nn.LayerNorm(7)) == repr(torch.nn.LayerNorm(7))
    assert repr(nn.GroupNorm(2, 4)) == repr(torch.nn.GroupNorm(2, 4))


def test_masked_batchnorm_equals_batchnorm_on_real_elements_only():
    """Statistics and running stats from padded (N, C, L) equal plain BN on the concatenation
    of the unpadded sequences, and padding values never matter."""
    lengths = [5, 2, 4]
    x = rng(1).standard_normal((3, 4, 5))
    x_pad = x.copy()
    for n, L in enumerate(lengths):
        x_pad[n, :, L:] = 1e6 * (n + 1)              # garbage in the padding
    real = np.concatenate([x[n, :, :L] for n, L in enumerate(lengths)], axis=1)  # (C, T)
    ref = nn.BatchNorm1d(4).double()
    masked = nn.BatchNorm1d(4).double()
    _perturb_affine(masked, torch.nn.BatchNorm1d(4).double())
    ref.load_state_dict(masked.state_dict())
    xr = as_cr(real.T.copy(), True)                   # (T, C): BN over the real elements only
    xm = as_cr(x_pad, True)
    yr = ref(xr)
    ym = masked(xm, lengths=cr.tensor(lengths))
    g = rng(2).standard_normal(x.shape)
    gr = np.concatenate([g[n, :, :L] for n, L in enumerate(lengths)], axis=1).T.copy()
    for n, L in enumerate(lengths):
        assert_close(ym._array[n, :, :L], yr._array[sum(lengths[:n]):sum(lengths[:n]) + L].T)
        g[n, :, L:] = 0                                # a masked loss ignores the padding
    (yr * cr.tensor(gr)).sum().backward()
    (ym * cr.tensor(g)).sum().backward()
    for n, L in enumerate(lengths):
        s0 = sum(lengths[:n])
        assert_close(xm.grad._array[n, :, :L], xr.grad._array[s0:s0 + L].T)
    assert_close(masked.weight.grad, ref.weight.grad)
    assert_close(masked.bias.grad, ref.bias.grad)
    assert_close(masked.running_mean, ref.running_mean)
    assert_close(masked.running_var, ref.running_var)
    # the same through an explicit boolean mask
    again = nn.BatchNorm1d(4).double()
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    again(as_cr(x_pad), mask=cr.tensor(mask))
    assert_close(again.running_var, ref.running_var)


def test_batchnorm_warns_once_on_single_value_per_channel():
    bn = nn.BatchNorm1d(3)
    with pytest.warns(UserWarning, match=r"BatchNorm1d\(3\).*1 value per channel"):
        y = bn(cr.randn(1, 3))
    np.testing.assert_allclose(y._array, np.broadcast_to(bn.bias._array, (1, 3)))
    assert np.all(bn.running_var._array == 1)           # no update from a degenerate batch
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bn(cr.randn(1, 3))                            # once per layer
    with pytest.warns(UserWarning, match="single example"):
        nn.BatchNorm2d(2)(cr.randn(1, 2, 3, 3))
    bn.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.BatchNorm1d(3).eval()(cr.randn(1, 3))      # eval uses running stats: fine


@pytest.mark.parametrize("shape,ns,kw", [
    ((4, 6), (6,), {}),
    ((2, 3, 4, 5), (4, 5), {}),
    ((2, 3, 5), 5, dict(elementwise_affine=False)),
    ((2, 3, 5), (5,), dict(bias=False)),
])
def test_layernorm_equals_torch(shape, ns, kw):
    mine, theirs = nn.LayerNorm(ns, **kw), torch.nn.LayerNorm(ns, **kw)
    _perturb_affine(mine, theirs.double())
    check_twin(mine, theirs, [rng(3).standard_normal(shape)])


def test_layernorm_invariances():
    ln = nn.LayerNorm(8, eps=1e-12, elementwise_affine=False).double()  # eps breaks scaling
    x = rng(4).standard_normal((5, 8))
    y = ln(as_cr(x))._array
    scale = rng(5).uniform(0.5, 10, (5, 1))
    assert_close(ln(as_cr(x * scale + 3.0))._array, y, rtol=1e-7, atol=1e-7)   # per-example affine
    assert_close(ln(as_cr(x[[3, 1]]))._array, y[[3, 1]])                         # batch composition
    assert_close(y.mean(1), np.zeros(5), atol=1e-12)
    assert_close(y.var(1), np.full(5, 1.0), rtol=1e-4)


@pytest.mark.parametrize("shape,ns,eps", [((4, 6), 6, None), ((2, 3, 4), (3, 4), 1e-3)])
def test_rmsnorm_equals_torch(shape, ns, eps):
    mine, theirs = nn.RMSNorm(ns, eps=eps), torch.nn.RMSNorm(ns, eps=eps)
    _perturb_affine(mine, theirs.double())
    check_twin(mine, theirs, [rng(6).standard_normal(shape)])


@pytest.mark.parametrize("groups,affine", [(1, True), (2, True), (4, False)])
def test_groupnorm_equals_torch(groups, affine):
    mine, theirs = nn.GroupNorm(groups, 4, affine=affine), torch.nn.GroupNorm(groups, 4,
                                                                              affine=affine)
    if affine:
        _perturb_affine(mine, theirs.double())
    check_twin(mine, theirs, [rng(7).standard_normal((3, 4, 3, 2))])


@pytest.mark.parametrize("cls,shapes", [("InstanceNorm1d", [(3, 4, 6), (2, 4, 5)]),
                                        ("InstanceNorm2d", [(2, 4, 3, 3), (3, 4, 2, 4)])])
@pytest.mark.parametrize("kw", [{}, dict(affine=True), dict(affine=True,
                                                             track_running_stats=True)])
def test_instancenorm_equals_torch(cls, shapes, kw):
    mine, theirs = getattr(nn, cls)(4, **kw).double(), getattr(torch.nn, cls)(4, **kw).double()
    assert list(mine.state_dict()) == list(theirs.state_dict())
    if kw.get("affine"):
        _perturb_affine(mine, theirs)
    check_steps(mine, theirs, shapes, train=True)
    check_steps(mine, theirs, shapes[:1], train=False)


def test_instancenorm_unbatched():
    check_twin(nn.InstanceNorm1d(3), torch.nn.InstanceNorm1d(3),
               [rng(8).standard_normal((3, 7))])


def test_batchnorm_gradgradcheck():
    x = as_cr(rng(9).standard_normal((4, 3)), True)
    w = as_cr(rng(10).standard_normal(3), True)
    assert gradgradcheck(lambda x, w: F.batch_norm(x, None, None, w, None, True), (x, w))


def test_batchnorm_errors():
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(cr.randn(2, 3, 4))
    with pytest.raises(ValueError, match="expected 3 channels"):
        nn.BatchNorm1d(3)(cr.randn(2, 4))
    with pytest.raises(ValueError, match="mask of shape"):
        nn.BatchNorm1d(3)(cr.randn(2, 3, 5), mask=cr.ones(2, 4).bool())
    with pytest.raises(RuntimeError, match="normalized_shape"):
        nn.LayerNorm(4)(cr.randn(2, 5))
