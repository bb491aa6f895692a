"""``F.embedding_bag`` and ``nn.EmbeddingBag`` against torch 2.13 (float64): modes sum / mean /
max, 1-D input with offsets (and include_last_offset), 2-D input, per_sample_weights,
padding_idx, empty bags, max_norm; gradients of a random cotangent; training; errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nn_twin import as_cr, as_torch, assert_close, rng

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F

IDX = np.array([1, 2, 4, 5, 4, 3, 2, 9, 7, 4, 4, 0])


def _compare(mode, idx, offsets=None, psw=None, seed=0, **kw):
    """Forward and gradients (weight, per-sample weights) against torch."""
    w = rng(seed).standard_normal((10, 3))
    if mode == "max":  # distinct values: the argmax (where the gradient goes) is well defined
        w = w + np.arange(30).reshape(10, 3) * 1e-3
    wc, wt = as_cr(w, True), as_torch(w, True)
    pc = pt = None
    if psw is not None:
        pc, pt = as_cr(psw, True), as_torch(psw, True)
    oc = as_cr(offsets) if offsets is not None else None
    ot = as_torch(offsets) if offsets is not None else None
    out_c = F.embedding_bag(as_cr(idx), wc, oc, mode=mode, per_sample_weights=pc, **kw)
    out_t = torch.nn.functional.embedding_bag(as_torch(idx), wt, ot, mode=mode,
                                              per_sample_weights=pt, **kw)
    assert_close(out_c, out_t, what="output")
    g = rng(seed + 1).standard_normal(tuple(out_t.shape))
    out_c.backward(cr.tensor(g))
    out_t.backward(as_torch(g))
    assert_close(wc.grad, wt.grad, what="grad of weight")
    if psw is not None:
        assert_close(pc.grad, pt.grad, what="grad of per_sample_weights")


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_offsets_with_an_empty_bag(mode):
    _compare(mode, IDX, np.array([0, 3, 3, 8]))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_2d_input(mode):
    _compare(mode, IDX.reshape(4, 3))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_padding_idx_is_left_out(mode):
    # bag [4, 4] is all padding: zeros, as an empty bag
    _compare(mode, IDX, np.array([0, 3, 9, 11]), padding_idx=4)
    _compare(mode, IDX.reshape(3, 4), padding_idx=-6)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_include_last_offset(mode):
    _compare(mode, IDX, np.array([0, 2, 2, 7, 12]), include_last_offset=True)


def test_per_sample_weights_sum():
    psw = rng(3).standard_normal(IDX.shape)
    _compare("sum", IDX, np.array([0, 5, 6]), psw=psw)
    _compare("sum", IDX.reshape(3, 4), psw=psw.reshape(3, 4), padding_idx=4)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_scale_grad_by_freq(mode):
    """Each row's gradient divided by its count in the batch, as documented (and as
    F.embedding does). torch 2.13's CPU embedding_bag misindexes its counts (with
    IDX it halves row 3's gradient and leaves row 4's unscaled), so the reference is torch's
    unscaled gradient divided by the counts."""
    w = rng(7).standard_normal((10, 3))
    wc, wt = as_cr(w, True), as_torch(w, True)
    off = np.array([0, 4, 9])
    out_c = F.embedding_bag(as_cr(IDX), wc, as_cr(off), mode=mode, scale_grad_by_freq=True)
    out_t = torch.nn.functional.embedding_bag(as_torch(IDX), wt, as_torch(off), mode=mode)
    assert_close(out_c, out_t)
    g = rng(8).standard_normal(tuple(out_t.shape))
    out_c.backward(cr.tensor(g))
    out_t.backward(as_torch(g))
    counts = np.maximum(np.bincount(IDX, minlength=10), 1)[:, None]
    assert_close(wc.grad, wt.grad.numpy() / counts)


def test_max_norm_renormalises_the_table_in_place():
    w = rng(4).standard_normal((10, 3)) * 3
    wc, wt = as_cr(w), as_torch(w)
    out_c = F.embedding_bag(as_cr(IDX), wc, as_cr(np.array([0, 6])), max_norm=1.0)
    out_t = torch.nn.functional.embedding_bag(as_torch(IDX), wt, as_torch(np.array([0, 6])),
                                              max_norm=1.0)
    assert_close(out_c, out_t)
    assert_close(wc, wt)


def test_module_training_matches_torch():
    t = torch.nn.EmbeddingBag(10, 4, mode="mean", padding_idx=0).double()
    c = nn.EmbeddingBag(10, 4, mode="mean", padding_idx=0).double()
    assert list(c.state_dict()) == list(t.state_dict()) == ["weight"]
    assert not np.any(c.weight.detach().numpy()[0])  # the padding row starts at zero
    assert repr(c) == repr(t) == "EmbeddingBag(10, 4, mode='mean', padding_idx=0)"
    c.load_state_dict(t.state_dict())
    head_t, head_c = torch.nn.Linear(4, 1).double(), nn.Linear(4, 1).double()
    head_c.load_state_dict(head_t.state_dict())
    params_c = list(c.parameters()) + list(head_c.parameters())
    params_t = list(t.parameters()) + list(head_t.parameters())
    oc, ot = cr.optim.Adam(params_c, lr=0.1), torch.optim.Adam(params_t, lr=0.1)
    offsets, y = np.array([0, 4, 4, 7]), rng(5).standard_normal((4, 1))
    for _ in range(4):
        for bag, head, opt, conv in ((c, head_c, oc, as_cr), (t, head_t, ot, as_torch)):
            opt.zero_grad()
            ((head(bag(conv(IDX), conv(offsets))) - conv(y)) ** 2).mean().backward()
            opt.step()
    assert_close(c.weight, t.weight, rtol=1e-8, atol=1e-10)
    assert not np.any(c.weight.detach().numpy()[0])  # no gradient reached the padding row


def test_from_pretrained_freezes():
    w = cr.tensor(rng(6).standard_normal((5, 2)))
    bag = nn.EmbeddingBag.from_pretrained(w, mode="sum")
    assert not bag.weight.requires_grad
    out = bag(cr.tensor([[0, 1], [2, 2]]))
    assert_close(out, w.numpy()[[0, 2]] + w.numpy()[[1, 2]])
    assert nn.EmbeddingBag.from_pretrained(w, freeze=False).weight.requires_grad


@pytest.mark.parametrize("call,exc,msg", [
    (lambda w: F.embedding_bag(cr.tensor(IDX), w), ValueError, "offsets has to be a 1D Tensor"),
    (lambda w: F.embedding_bag(cr.tensor(IDX.reshape(3, 4)), w, cr.tensor([0, 1])), ValueError,
     "if input is 2D, then offsets has to be None"),
    (lambda w: F.embedding_bag(cr.tensor(IDX), w, cr.tensor([1, 4])), RuntimeError,
     r"offsets\[0\] has to be 0"),
    (lambda w: F.embedding_bag(cr.tensor(IDX), w, cr.tensor([0, 13])), RuntimeError,
     r"offsets\[-1\] can not be greater than input's length 12"),
    (lambda w: F.embedding_bag(cr.tensor(IDX), w, cr.tensor([0, 5, 3])), RuntimeError,
     "offsets must be non-decreasing"),
    (lambda w: F.embedding_bag(cr.tensor([1, 10]), w, cr.tensor([0])), RuntimeError,
     r"Index 1 of input takes value 10 which is not in the valid range \[0, 10\)"),
    (lambda w: F.embedding_bag(cr.tensor(IDX), w, cr.tensor([0]), mode="median"), ValueError,
     "mode has to be one of sum, mean or max"),
    (lambda w: F.embedding_bag(cr.tensor(IDX), w, cr.tensor([0]), mode="mean",
                               per_sample_weights=cr.ones(12)), NotImplementedError,
     "per_sample_weights is only supported for mode='sum'"),
    (lambda w: F.embedding_bag(cr.tensor(IDX), w, cr.tensor([0]), mode="sum",
                               per_sample_weights=cr.ones(3)), ValueError,
     "must have the same shape as the input"),
    (lambda w: F.embedding_bag(cr.tensor(IDX), w, cr.tensor([0]), mode="max",
                               scale_grad_by_freq=True), ValueError,
     "max mode does not support scaling the gradient"),
    (lambda w: F.embedding_bag(cr.tensor([1.0, 2.0]), w, cr.tensor([0])), RuntimeError,
     "'indices' to have one of the following scalar types: Long, Int"),
    (lambda w: F.embedding_bag(cr.tensor(IDX), w[0], cr.tensor([0])), ValueError,
     "weight has to be a 2D Tensor"),
])
def test_errors_match_torch(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call(cr.randn(10, 3))
