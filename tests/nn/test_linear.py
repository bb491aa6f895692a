"""Linear, Bilinear, Embedding and one_hot against their torch twins (float64, random grads)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, check_twin, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_equals_torch(shape, bias):
    check_twin(nn.Linear(4, 3, bias=bias), torch.nn.Linear(4, 3, bias=bias),
               [rng().standard_normal(shape)])


def test_linear_repr_dtype_and_errors():
    assert repr(nn.Linear(2, 3)) == repr(torch.nn.Linear(2, 3))
    assert repr(nn.Linear(2, 3, bias=False)) == repr(torch.nn.Linear(2, 3, bias=False))
    m = nn.Linear(2, 3, dtype=cr.float64)
    assert m.weight.dtype == np.float64 and m.bias.dtype == np.float64
    assert nn.Linear(2, 3).weight.dtype == np.float32
    assert m.state_dict().keys() == torch.nn.Linear(2, 3).state_dict().keys()
    with pytest.raises(RuntimeError, match=r"in_features=2"):
        nn.Linear(2, 3)(cr.ones(4, 5))
    assert nn.Linear(2, 3, bias=False).bias is None
    assert list(dict(nn.Linear(2, 3, bias=False).named_parameters())) == ["weight"]


def test_functional_linear_and_double_backward():
    x = rng().standard_normal((3, 4))
    w = rng(1).standard_normal((2, 4))
    b = rng(2).standard_normal(2)
    xc, wc, bc = as_cr(x, True), as_cr(w, True), as_cr(b, True)
    assert_close(F.linear(xc, wc, bc), torch.nn.functional.linear(as_torch(x), as_torch(w),
                                                             as_torch(b)))
    assert cr.autograd.gradcheck(lambda a, c: F.linear(a, c, bc), (xc, wc))


@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_equals_torch(bias):
    mine, theirs = nn.Bilinear(3, 4, 2, bias=bias), torch.nn.Bilinear(3, 4, 2, bias=bias)
    assert repr(mine) == repr(theirs)
    check_twin(mine, theirs, [rng().standard_normal((5, 3)), rng(1).standard_normal((5, 4))])
    check_twin(nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2),
               [rng().standard_normal((2, 5, 3)), rng(1).standard_normal((2, 5, 4))])
    with pytest.raises(RuntimeError, match="don't fit"):
        mine(cr.ones(2, 3, dtype=cr.float64), cr.ones(2, 5, dtype=cr.float64))


def _embedding_twin(idx, **kw):
    mine, theirs = nn.Embedding(7, 3, **kw), torch.nn.Embedding(7, 3, **kw)
    theirs.double()
    mine.double()
    mine.load_state_dict(theirs.state_dict())
    out_c, out_t = mine(cr.tensor(idx)), theirs(torch.tensor(idx))
    assert_close(out_c, out_t)
    g = rng(3).standard_normal(out_t.shape)
    out_c.backward(cr.tensor(g))
    out_t.backward(as_torch(g))
    assert_close(mine.weight.grad, theirs.weight.grad, what="weight grad")
    assert_close(mine.weight, theirs.weight, what="weight after forward")
    return mine, theirs


@pytest.mark.parametrize("kw", [
    {},
    {"padding_idx": 0},
    {"padding_idx": -1},
    {"scale_grad_by_freq": True},
    {"padding_idx": 2, "scale_grad_by_freq": True},
    {"max_norm": 1.0},
    {"max_norm": 0.5, "norm_type": 1.0},
])
def test_embedding_equals_torch(kw):
    idx = np.array([[0, 2, 1, 2], [6, 0, 0, 3]])
    mine, theirs = _embedding_twin(idx, **kw)
    assert repr(mine) == repr(theirs)
    if "padding_idx" in kw:
        row = kw["padding_idx"] % 7
        assert np.all(mine.weight.grad._array[row] == 0)


def test_embedding_padding_row_init_zero_and_from_pretrained():
    e = nn.Embedding(5, 4, padding_idx=3)
    assert np.all(e.weight._array[3] == 0) and np.any(e.weight._array[2] != 0)
    table = cr.randn(4, 2)
    frozen = nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad and frozen.weight._array is table._array
    free = nn.Embedding.from_pretrained(table, freeze=False, padding_idx=1)
    assert_close(free(cr.tensor([1, 3])), table._array[[1, 3]])
    assert free.weight.requires_grad
    with pytest.raises(ValueError):
        nn.Embedding.from_pretrained(cr.ones(3))
    with pytest.raises(ValueError):
        nn.Embedding(3, 2, padding_idx=5)
    with pytest.raises(IndexError, match="index 9"):
        e(cr.tensor([9]))
    with pytest.raises(RuntimeError, match="integer"):
        e(cr.tensor([1.0]))


def test_embedding_double_backward_through_lookup():
    w = cr.randn(4, 2, dtype=cr.float64, requires_grad=True)
    idx = cr.tensor([0, 3, 3])
    assert cr.autograd.gradcheck(lambda t: F.embedding(idx, t, scale_grad_by_freq=False) ** 2, (w,))
    assert cr.autograd.gradgradcheck(lambda t: F.embedding(idx, t) ** 2, (w,))


def test_one_hot_equals_torch():
    idx = np.array([[0, 3], [2, 1]])
    assert_close(F.one_hot(cr.tensor(idx)), torch.nn.functional.one_hot(torch.tensor(idx)))
    out = F.one_hot(cr.tensor(idx), 6)
    assert out.shape == (2, 2, 6) and out.dtype == np.int64
    with pytest.raises(RuntimeError, match="num_classes"):
        F.one_hot(cr.tensor([5]), 3)
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(cr.tensor([-1]), 3)
    with pytest.raises(RuntimeError, match="integer"):
        F.one_hot(cr.tensor([1.0]), 3)


@pytest.mark.parametrize("batch", [1, 32, 128, 129])
@pytest.mark.parametrize("bias", [True, False])
def test_large_weight_small_batch_forms_equal_torch(batch, bias):
    """Weights of 64k+ entries: batches up to 128 take the (W xᵀ)ᵀ form of the GEMM, larger ones
    x Wᵀ; both equal torch, and the result is C-contiguous either way."""
    check_twin(nn.Linear(300, 256, bias=bias), torch.nn.Linear(300, 256, bias=bias),
               [rng(3).standard_normal((batch, 300))])
    out = nn.Linear(300, 256, bias=bias)(cr.randn(batch, 300))
    assert out.is_contiguous() and out.dtype == cr.float32


_DTYPES = ["float16", "float32", "float64", "int32", "int64"]


def _outcome(fn):
    """The result's dtype name, or 'error' when the call raises RuntimeError."""
    try:
        return str(fn().dtype).replace("torch.", "")
    except RuntimeError:
        return "error"


@pytest.mark.parametrize("dx", _DTYPES)
@pytest.mark.parametrize("dw", _DTYPES)
def test_linear_dtype_pairs_match_torch(dx, dw):
    """Mixed dtypes raise, as in PyTorch (no silent promotion); equal dtypes keep the dtype."""
    x, w = np.ones((2, 3)), np.ones((4, 3))
    ours = _outcome(lambda: F.linear(cr.tensor(x.astype(dx)), cr.tensor(w.astype(dw))))
    theirs = _outcome(lambda: torch.nn.functional.linear(
        torch.tensor(x.astype(dx)), torch.tensor(w.astype(dw))))
    assert ours == theirs
    if theirs == "error":
        with pytest.raises(RuntimeError, match="same dtype"):
            F.linear(cr.tensor(x.astype(dx)), cr.tensor(w.astype(dw)))


@pytest.mark.parametrize("dx", ["float16", "float64", "int64"])
def test_linear_and_bilinear_modules_refuse_other_input_dtypes(dx):
    """A float32 layer given another dtype raises, naming both dtypes, as PyTorch's does."""
    with pytest.raises(RuntimeError, match=r"input: \w+, weight: Float"):
        nn.Linear(3, 4)(cr.ones(2, 3, dtype=getattr(cr, dx)))
    with pytest.raises(RuntimeError):
        torch.nn.Linear(3, 4)(torch.ones(2, 3, dtype=getattr(torch, dx)))
    with pytest.raises(RuntimeError, match="same dtype"):
        nn.Bilinear(3, 3, 2)(cr.ones(2, 3, dtype=getattr(cr, dx)), cr.ones(2, 3))
    with pytest.raises(RuntimeError, match="same dtype"):
        F.linear(cr.ones(2, 3), cr.ones(4, 3), cr.ones(4, dtype=cr.float64))
    with pytest.raises(RuntimeError, match="same dtype"):
        F.bilinear(cr.ones(2, 3), cr.ones(2, 3), cr.ones(4, 3, 3), cr.ones(4, dtype=cr.float64))
