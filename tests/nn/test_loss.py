"""Losses against torch over every option and reduction: values and gradients (float64)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tF = torch.nn.functional

from nn_twin import as_cr, as_torch, assert_close, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from chainrule.nn._functional.loss import PickClass  # noqa: E402
from chainrule.tensor import apply  # noqa: E402

R = rng(0)
N, C = 6, 5


def _softmax(a, axis):
    e = np.exp(a - a.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _labels(shape, ignore=False, seed=1):
    t = rng(seed).integers(0, C, shape)
    if ignore:
        t.reshape(-1)[::4] = -100
    return t


def _pm1(shape, seed=2):
    return np.where(rng(seed).random(shape) < 0.5, -1.0, 1.0)


X = R.standard_normal((N, C)) * 2
Y = R.standard_normal((N, C))
W = rng(5).random(C) + 0.2
P01 = rng(6).random((N, C)) * 0.98 + 0.01
T01 = rng(7).random((N, C))
LOGP = np.log(_softmax(X, 1))

# (function name, positional arrays, which of them need grad, keyword arguments)
CASES = [
    ("mse_loss", [X, Y], [1, 1], {}),
    ("l1_loss", [X, Y], [1, 1], {}),
    ("huber_loss", [X, Y], [1, 1], {}),
    ("huber_loss", [X, Y], [1, 1], {"delta": 0.4}),
    ("smooth_l1_loss", [X, Y], [1, 1], {"beta": 0.3}),
    ("smooth_l1_loss", [X, Y], [1, 1], {"beta": 0.0}),
    ("mse_loss", [X, Y], [1, 0], {"weight": T01}),
    ("l1_loss", [X, Y], [1, 0], {"weight": T01}),
    ("huber_loss", [X, Y], [1, 0], {"weight": T01, "delta": 0.7}),
    ("cross_entropy", [X, _labels(N)], [1, 0], {}),
    ("cross_entropy", [X, _labels(N, True)], [1, 0], {"weight": W}),
    ("cross_entropy", [X, _labels(N, True)], [1, 0], {"label_smoothing": 0.2}),
    ("cross_entropy", [X, _labels(N, True)], [1, 0], {"weight": W, "label_smoothing": 0.3}),
    ("cross_entropy", [X, _labels(N)], [1, 0], {"ignore_index": 2, "weight": W}),
    ("cross_entropy", [R.standard_normal((3, C, 2, 4)), _labels((3, 2, 4), True)], [1, 0],
     {"weight": W, "label_smoothing": 0.1}),
    ("cross_entropy", [R.standard_normal(C), np.array(3)], [1, 0], {"label_smoothing": 0.1}),
    ("cross_entropy", [X, _softmax(Y, 1)], [1, 1], {}),
    ("cross_entropy", [X, _softmax(Y, 1)], [1, 1], {"weight": W, "label_smoothing": 0.25}),
    ("cross_entropy", [R.standard_normal((2, C, 3)), _softmax(R.standard_normal((2, C, 3)), 1)],
     [1, 1], {"weight": W}),
    ("nll_loss", [LOGP, _labels(N, True)], [1, 0], {}),
    ("nll_loss", [LOGP, _labels(N, True)], [1, 0], {"weight": W}),
    ("nll_loss", [np.log(_softmax(R.standard_normal((2, C, 3)), 1)), _labels((2, 3))], [1, 0],
     {"weight": W, "ignore_index": 1}),
    ("binary_cross_entropy", [P01, T01], [1, 1], {}),
    ("binary_cross_entropy", [P01, T01], [1, 0], {"weight": W}),
    ("binary_cross_entropy_with_logits", [X * 5, T01], [1, 1], {}),
    ("binary_cross_entropy_with_logits", [X * 5, T01], [1, 1], {"pos_weight": W}),
    ("binary_cross_entropy_with_logits", [X, T01], [1, 0], {"pos_weight": W, "weight": T01}),
    ("multi_margin_loss", [X, _labels(N)], [1, 0], {}),
    ("multi_margin_loss", [X, _labels(N)], [1, 0], {"p": 2, "margin": 0.5}),
    ("multi_margin_loss", [X, _labels(N)], [1, 0], {"weight": W, "margin": 2.0}),
    ("multi_margin_loss", [R.standard_normal(C), np.array(1)], [1, 0], {}),
    ("kl_div", [LOGP, _softmax(Y, 1)], [1, 1], {}),
    ("kl_div", [LOGP, np.log(_softmax(Y, 1))], [1, 1], {"log_target": True}),
    ("cosine_embedding_loss", [X, Y, _pm1(N)], [1, 1, 0], {"margin": 0.1}),
    ("margin_ranking_loss", [X[:, 0], Y[:, 0], _pm1(N)], [1, 1, 0], {"margin": 0.3}),
    ("soft_margin_loss", [X, _pm1((N, C))], [1, 0], {}),
]

REDUCTIONS = ["none", "mean", "sum"]


def _kw(kw, conv):
    return {k: conv(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}


def check_loss(name, arrays, needs, kw, reduction):
    xs_c = [as_cr(a, bool(n)) for a, n in zip(arrays, needs)]
    xs_t = [as_torch(a, bool(n)) for a, n in zip(arrays, needs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean' warning, in both libraries
        out_c = getattr(F, name)(*xs_c, reduction=reduction, **_kw(kw, as_cr))
        out_t = getattr(tF, name)(*xs_t, reduction=reduction, **_kw(kw, as_torch))
    assert_close(out_c, out_t, what=f"{name} value")
    g = rng(9).standard_normal(out_t.shape)
    out_c.backward(cr.tensor(g))
    out_t.backward(as_torch(g))
    for k, (xc, xt) in enumerate(zip(xs_c, xs_t)):
        if needs[k]:
            assert_close(xc.grad, xt.grad, what=f"{name} grad of argument {k}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_functional_loss_equals_torch(case, reduction):
    name, arrays, needs, kw = case
    check_loss(name, arrays, needs, kw, reduction)


def test_kl_div_batchmean_equals_torch():
    check_loss("kl_div", [LOGP, _softmax(Y, 1)], [1, 1], {}, "batchmean")


MODULES = [
    ("MSELoss", {}, [X, Y]), ("L1Loss", {}, [X, Y]), ("HuberLoss", {"delta": 0.5}, [X, Y]),
    ("SmoothL1Loss", {"beta": 0.5}, [X, Y]),
    ("CrossEntropyLoss", {"weight": W, "ignore_index": 0, "label_smoothing": 0.1},
     [X, _labels(N)]),
    ("NLLLoss", {"weight": W}, [LOGP, _labels(N)]), ("BCELoss", {}, [P01, T01]),
    ("BCEWithLogitsLoss", {"pos_weight": W}, [X, T01]),
    ("MultiMarginLoss", {"p": 2, "weight": W}, [X, _labels(N)]),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True},
     [LOGP, np.log(_softmax(Y, 1))]),
    ("CosineEmbeddingLoss", {"margin": 0.2}, [X, Y, _pm1(N)]),
    ("MarginRankingLoss", {"margin": 0.1}, [X[:, 1], Y[:, 1], _pm1(N)]),
    ("SoftMarginLoss", {}, [X, _pm1((N, C))]),
]


@pytest.mark.parametrize("name,kw,arrays", MODULES, ids=[m[0] for m in MODULES])
def test_loss_modules_equal_torch(name, kw, arrays):
    mine = getattr(nn, name)(**_kw(kw, as_cr))
    theirs = getattr(torch.nn, name)(**_kw(kw, as_torch))
    assert list(mine.state_dict()) == list(theirs.state_dict())
    assert repr(mine) == repr(theirs)
    float_args = [a.dtype.kind == "f" for a in arrays]
    xs_c = [as_cr(a, f and k == 0) for k, (a, f) in enumerate(zip(arrays, float_args))]
    xs_t = [as_torch(a, f and k == 0) for k, (a, f) in enumerate(zip(arrays, float_args))]
    out_c, out_t = mine(*xs_c), theirs(*xs_t)
    assert_close(out_c, out_t)
    out_c.backward()
    out_t.backward()
    assert_close(xs_c[0].grad, xs_t[0].grad)


def test_legacy_size_average_reduce():
    x, y = as_cr(X, True), as_cr(Y)
    with pytest.warns(UserWarning):
        assert_close(F.mse_loss(x, y, size_average=False), tF.mse_loss(as_torch(X), as_torch(Y),
                                                               reduction="sum"))
    with pytest.warns(UserWarning):
        assert nn.L1Loss(reduce=False).reduction == "none"
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.l1_loss(x, y, reduction="avg")


def test_all_ignored_mean_is_nan_like_torch():
    t = np.full(N, -100)
    out = F.cross_entropy(as_cr(X), cr.tensor(t))
    ref = tF.cross_entropy(as_torch(X), torch.tensor(t)).item()
    assert np.isnan(out.item()) and np.isnan(ref)
    assert F.nll_loss(as_cr(LOGP), cr.tensor(t), reduction="sum").item() == 0.0


def test_cross_entropy_target_errors_are_clear():
    x = as_cr(X)
    with pytest.raises(RuntimeError, match=r"integers \(int64\).*float64 labels"):
        F.cross_entropy(x, cr.tensor([0.0, 1.0, 2.0, 1.0, 0.0, 3.0], dtype=cr.float64))
    with pytest.raises(IndexError, match=r"Target 7 is out of bounds.*C = 5"):
        F.cross_entropy(x, cr.tensor([0, 1, 7, 1, 0, 3]))
    with pytest.raises(IndexError, match=r"Target -2 is out of bounds"):
        F.nll_loss(x, cr.tensor([0, 1, -2, 1, 0, 3]))
    with pytest.raises(ValueError, match=r"\(6,\).*\(6, 5\).*\(4,\)"):
        F.cross_entropy(x, cr.tensor([0, 1, 2, 3]))
    with pytest.raises(RuntimeError, match="weight tensor should be defined"):
        F.cross_entropy(x, cr.tensor(_labels(N)), weight=cr.ones(4))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, cr.tensor(_labels(N)), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="ignore_index"):
        F.cross_entropy(x, cr.tensor(_softmax(Y, 1)), ignore_index=1)


def test_shape_and_range_errors_name_both_shapes():
    with pytest.raises(RuntimeError, match=r"\(4,\).*\(6, 5\)"):
        F.mse_loss(as_cr(X), cr.zeros(4, dtype=cr.float64))
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(as_cr(X), cr.zeros(C, dtype=cr.float64))
    with pytest.raises(ValueError, match=r"\(6, 1\).*\(6,\)"):
        F.binary_cross_entropy(cr.full((6,), 0.5), cr.zeros(6, 1))
    with pytest.raises(ValueError, match=r"\(6, 1\).*\(6,\)"):
        F.binary_cross_entropy_with_logits(cr.zeros(6), cr.zeros(6, 1))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(cr.tensor([1.5]), cr.tensor([1.0]))
    with pytest.raises(ValueError, match="p == 1 and p == 2"):
        F.multi_margin_loss(as_cr(X), cr.tensor(_labels(N)), p=3)
    with pytest.raises(IndexError, match="Target 9"):
        F.multi_margin_loss(as_cr(X), cr.tensor([9, 0, 0, 0, 0, 0]))


def test_bce_at_exact_zero_and_one_is_finite():
    p = cr.tensor([0.0, 1.0, 0.5], dtype=cr.float64, requires_grad=True)
    y = cr.tensor([0.0, 1.0, 1.0], dtype=cr.float64)
    out = F.binary_cross_entropy(p, y, reduction="none")
    assert_close(out, tF.binary_cross_entropy(torch.tensor(p._array), torch.tensor(y._array),
                                       reduction="none"))
    out.sum().backward()
    assert np.all(np.isfinite(p.grad._array))
    far = F.binary_cross_entropy_with_logits(cr.tensor([-800.0, 800.0], dtype=cr.float64),
                                             cr.tensor([1.0, 0.0], dtype=cr.float64),
                                             reduction="none")
    assert_close(far, [800.0, 800.0])


def test_pick_class_equals_gather_and_is_twice_differentiable():
    x = as_cr(R.standard_normal((3, C, 2)), True)
    t = _labels((3, 2)).astype(np.intp)
    picked = apply(PickClass, x, dim=1, index=t)
    assert_close(picked, x.gather(1, cr.tensor(t[:, None, :])).squeeze(1))
    g = rng(4).standard_normal(picked.shape)
    picked.backward(cr.tensor(g))
    ref = as_cr(x._array, True)
    ref.gather(1, cr.tensor(t[:, None, :])).squeeze(1).backward(cr.tensor(g))
    assert_close(x.grad, ref.grad)
    xx = as_cr(R.standard_normal((4, C)), True)
    labels = cr.tensor(_labels(4))
    assert cr.autograd.gradgradcheck(
        lambda a: F.cross_entropy(a, labels, label_smoothing=0.1), (xx,)
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_nll_equals_composite(reduction):
    from chainrule.nn._functional.loss import _nll

    logp = np.log(_softmax(R.standard_normal((4, C, 3)), 1))
    t = _labels((4, 3), ignore=True)
    w = cr.tensor(W)
    fused_x, comp_x = as_cr(logp, True), as_cr(logp, True)
    fused = _nll(fused_x, t, w, -100, 1, reduction, 0.7)[0]
    valid = t != -100
    safe = np.where(valid, t, 0).astype(np.intp)
    w_t = W[safe] * valid
    terms = -(apply(PickClass, comp_x, dim=1, index=safe) * w_t) * 0.7
    comp = {"none": terms, "sum": terms.sum(), "mean": terms.sum() / float(w_t.sum())}[reduction]
    assert_close(fused, comp)
    g = cr.tensor(rng(8).standard_normal(comp.shape))
    fused.backward(g)
    comp.backward(g)
    assert_close(fused_x.grad, comp_x.grad)
    assert cr.autograd.gradgradcheck(
        lambda a: _nll(a, t, w, -100, 1, reduction)[0] * 1.0, (as_cr(logp, True),)
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, C), (4, C, 3)])
def test_fused_cross_entropy_equals_log_softmax_then_nll(reduction, shape):
    """The fused CrossEntropy node equals the composite NLL(LogSoftmax(x)): value, gradient by
    the array path and by the differentiable path, and it is twice differentiable."""
    x = R.standard_normal(shape)
    t = _labels((shape[0],) + shape[2:], ignore=True)
    w = cr.tensor(W)
    fused_x, comp_x = as_cr(x, True), as_cr(x, True)
    fused = F.cross_entropy(fused_x, cr.tensor(t), weight=w, reduction=reduction)
    assert type(fused.grad_fn).__name__ == "CrossEntropy"
    comp = F.nll_loss(F.log_softmax(comp_x, 1), cr.tensor(t), weight=w, reduction=reduction)
    assert_close(fused, comp)
    g = cr.tensor(rng(9).standard_normal(comp.shape))
    (plain,) = cr.autograd.grad(fused, [fused_x], g, retain_graph=True)
    (graph,) = cr.autograd.grad(fused, [fused_x], g, create_graph=True)
    (ref,) = cr.autograd.grad(comp, [comp_x], g)
    assert_close(plain, ref)
    assert_close(graph, ref)
    assert cr.autograd.gradgradcheck(
        lambda a: F.cross_entropy(a, cr.tensor(t), weight=w, reduction=reduction) * 1.0,
        (as_cr(x, True),),
    )


def _z(shape, kind="f"):
    """An all-zero array of ``shape`` (float64, or int64 class labels for kind 'i')."""
    return np.zeros(shape, dtype=np.int64 if kind == "i" else np.float64)


# (name, call(functional module, wrap) -> loss): every loss of nn/_functional/loss.py on an
# empty batch; ``wrap`` turns a NumPy array into the library's tensor.
_EMPTY_CASES = [
    ("mse", lambda f, w, r: f.mse_loss(w(_z((0, 3))), w(_z((0, 3))), reduction=r)),
    ("l1", lambda f, w, r: f.l1_loss(w(_z((0, 3))), w(_z((0, 3))), reduction=r)),
    ("huber", lambda f, w, r: f.huber_loss(w(_z((0, 3))), w(_z((0, 3))), reduction=r)),
    ("smooth_l1", lambda f, w, r: f.smooth_l1_loss(w(_z((0, 3))), w(_z((0, 3))), reduction=r)),
    ("smooth_l1_beta0", lambda f, w, r: f.smooth_l1_loss(w(_z((0, 3))), w(_z((0, 3))),
                                                         reduction=r, beta=0.0)),
    ("ce", lambda f, w, r: f.cross_entropy(w(_z((0, 3))), w(_z(0, "i")), reduction=r)),
    ("ce_weight", lambda f, w, r: f.cross_entropy(w(_z((0, 3))), w(_z(0, "i")),
                                                  weight=w(_z(3) + 1), reduction=r)),
    ("ce_smooth", lambda f, w, r: f.cross_entropy(w(_z((0, 3))), w(_z(0, "i")), reduction=r,
                                                  label_smoothing=0.1)),
    ("ce_probs", lambda f, w, r: f.cross_entropy(w(_z((0, 3))), w(_z((0, 3))), reduction=r)),
    ("ce_spatial", lambda f, w, r: f.cross_entropy(w(_z((2, 3, 0, 2))), w(_z((2, 0, 2), "i")),
                                                   reduction=r)),
    ("nll", lambda f, w, r: f.nll_loss(w(_z((0, 3))), w(_z(0, "i")), reduction=r)),
    ("nll_weight", lambda f, w, r: f.nll_loss(w(_z((0, 3))), w(_z(0, "i")),
                                              weight=w(_z(3) + 1), reduction=r)),
    ("bce", lambda f, w, r: f.binary_cross_entropy(w(_z((0, 3))), w(_z((0, 3))), reduction=r)),
    ("bce_logits", lambda f, w, r: f.binary_cross_entropy_with_logits(
        w(_z((0, 3))), w(_z((0, 3))), pos_weight=w(_z(3) + 2), reduction=r)),
    ("kl_div", lambda f, w, r: f.kl_div(w(_z((0, 3))), w(_z((0, 3))), reduction=r)),
    ("kl_div_log", lambda f, w, r: f.kl_div(w(_z((0, 3))), w(_z((0, 3))), reduction=r,
                                            log_target=True)),
    ("margin_ranking", lambda f, w, r: f.margin_ranking_loss(w(_z(0)), w(_z(0)), w(_z(0)),
                                                             reduction=r)),
    ("cosine_embedding", lambda f, w, r: f.cosine_embedding_loss(
        w(_z((0, 3))), w(_z((0, 3))), w(_z(0)), reduction=r)),
    ("soft_margin", lambda f, w, r: f.soft_margin_loss(w(_z((0, 3))), w(_z((0, 3))),
                                                       reduction=r)),
]


_EMPTY_GRID = [(name, call, r) for name, call in _EMPTY_CASES
               for r in ("none", "mean", "sum") + (("batchmean",) if "kl" in name else ())]


@pytest.mark.parametrize("name,call,reduction", _EMPTY_GRID,
                         ids=[f"{n}-{r}" for n, _, r in _EMPTY_GRID])
def test_empty_batch_equals_torch(name, call, reduction):
    """An empty batch: 'mean' is nan (0/0), 'sum' is 0, 'none' an empty tensor, as PyTorch;
    no NumPy warning on the way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own kl_div 'mean' warning
        theirs = call(tF, torch.tensor, reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="reduction: 'mean' divides")
        ours = call(F, cr.tensor, reduction)
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())  # nan == nan here


def test_empty_batch_backward_gives_an_empty_gradient():
    x = cr.zeros(0, 3, requires_grad=True)
    loss = F.cross_entropy(x, cr.zeros(0, dtype=cr.int64))
    assert np.isnan(loss.item())
    loss.backward()
    assert x.grad.shape == (0, 3)


def test_multi_margin_empty_batch():
    """torch 2.13 returns uninitialised memory here (an empty-reduction bug), so no twin:
    'mean' is 0/0 = nan, 'sum' is 0."""
    x, t = cr.zeros(0, 3), cr.zeros(0, dtype=cr.int64)
    assert np.isnan(F.multi_margin_loss(x, t).item())
    assert F.multi_margin_loss(x, t, reduction="sum").item() == 0.0
    assert F.multi_margin_loss(x, t, reduction="none").shape == (0,)
