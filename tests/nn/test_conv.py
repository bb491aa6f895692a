"""Convolutions against torch (float64, random upstream gradients, copied state_dicts): a
stride/padding/dilation/groups grid, 1-D/3-D, transposed, padding modes, unfold/fold, double
backward (gradgradcheck and torch's second derivatives), default init and errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, check_twin, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck  # noqa: E402

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")

# (in, out, kernel, stride, padding, dilation, groups, bias, input HxW)
GRID = [
    (3, 4, 3, 1, 0, 1, 1, True, (7, 8)),
    (3, 4, 3, 1, 1, 1, 1, False, (7, 8)),
    (3, 4, 3, 2, 1, 1, 1, True, (7, 8)),
    (3, 4, 3, 2, 0, 1, 1, True, (8, 9)),
    (3, 4, 3, 3, 2, 1, 1, True, (9, 7)),
    (3, 4, (2, 3), 1, 0, 1, 1, True, (6, 7)),
    (3, 4, (3, 1), (2, 1), (1, 0), 1, 1, True, (7, 6)),
    (3, 4, 1, 1, 0, 1, 1, True, (5, 5)),
    (3, 4, 1, 2, 0, 1, 1, False, (6, 5)),
    (3, 4, 3, 1, 2, 2, 1, True, (7, 8)),
    (3, 4, 3, 2, 2, 2, 1, True, (9, 9)),
    (3, 4, (3, 2), 1, 1, (2, 3), 1, True, (8, 9)),
    (4, 6, 3, 1, 1, 1, 2, True, (6, 6)),
    (4, 6, 3, 2, 1, 1, 2, False, (7, 7)),
    (6, 6, 3, 1, 1, 1, 6, True, (5, 6)),        # depthwise
    (6, 12, 3, 1, 0, 1, 3, True, (6, 5)),
    (4, 8, 3, 2, 1, 2, 4, True, (9, 8)),
    (4, 4, 2, 2, 0, 1, 1, True, (8, 8)),
    (4, 4, 5, 1, 2, 1, 1, True, (6, 6)),
    (2, 3, 3, 1, "same", 1, 1, True, (6, 7)),
    (2, 3, 4, 1, "same", 1, 1, True, (6, 7)),   # even kernel: asymmetric padding
    (2, 3, (2, 3), 1, "same", (3, 2), 1, True, (7, 6)),
    (2, 3, 3, 1, "valid", 1, 1, True, (6, 7)),
    (4, 4, 3, 1, "same", 1, 2, False, (5, 5)),
    (1, 5, 3, 1, 0, 1, 1, True, (10, 10)),
    (5, 1, 3, 1, 1, 1, 1, True, (4, 4)),
    (3, 2, 3, 4, 1, 1, 1, True, (11, 10)),
    (3, 2, 2, 3, 1, 3, 1, True, (10, 11)),
]


@pytest.mark.parametrize("case", GRID, ids=[str(i) for i in range(len(GRID))])
def test_conv2d_grid_equals_torch(case):
    cin, cout, k, s, p, d, g, b, hw = case
    mine = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=b)
    theirs = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=b)
    check_twin(mine, theirs, [rng(len(str(case))).standard_normal((2, cin, *hw))])


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_padding_modes(mode):
    check_twin(nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode),
               torch.nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode),
               [rng(1).standard_normal((2, 2, 5, 6))])
    check_twin(nn.Conv1d(2, 3, 4, padding="same", padding_mode=mode),
               torch.nn.Conv1d(2, 3, 4, padding="same", padding_mode=mode),
               [rng(2).standard_normal((2, 2, 7))])


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(dilation=2, groups=2),
                                dict(padding="same", dilation=3)])
def test_conv1d_equals_torch(kw):
    check_twin(nn.Conv1d(4, 6, 3, **kw), torch.nn.Conv1d(4, 6, 3, **kw),
               [rng(3).standard_normal((3, 4, 12))])


def test_conv3d_equals_torch():
    check_twin(nn.Conv3d(2, 4, (2, 3, 2), stride=(1, 2, 1), padding=1, groups=2),
               torch.nn.Conv3d(2, 4, (2, 3, 2), stride=(1, 2, 1), padding=1, groups=2),
               [rng(4).standard_normal((2, 2, 4, 5, 4))])


@pytest.mark.parametrize("kw", [
    dict(),
    dict(stride=2),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=3, padding=2, output_padding=2, dilation=2),
    dict(stride=(2, 1), padding=(0, 1), groups=2, bias=False),
    dict(stride=1, dilation=3, output_padding=2),   # output_padding < dilation only
])
def test_conv_transpose2d_equals_torch(kw):
    check_twin(nn.ConvTranspose2d(4, 6, 3, **kw), torch.nn.ConvTranspose2d(4, 6, 3, **kw),
               [rng(5).standard_normal((2, 4, 5, 4))])


def test_conv_transpose1d_3d_equal_torch():
    check_twin(nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1),
               torch.nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1),
               [rng(6).standard_normal((2, 3, 6))])
    check_twin(nn.ConvTranspose3d(2, 2, 2, stride=2), torch.nn.ConvTranspose3d(2, 2, 2, stride=2),
               [rng(7).standard_normal((1, 2, 2, 3, 2))])


def test_conv_transpose_output_size():
    mine, theirs = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), \
        torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    mine.double().load_state_dict(theirs.double().state_dict())
    x = rng(8).standard_normal((1, 3, 4, 4))
    out_c = mine(as_cr(x), output_size=(8, 8))
    out_t = theirs(as_torch(x), output_size=(8, 8))
    assert out_c.shape == (1, 2, 8, 8)
    assert_close(out_c, out_t)
    with pytest.raises(ValueError, match="valid sizes"):
        mine(as_cr(x), output_size=(10, 10))


def test_unbatched_input_and_float32():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    y = conv(cr.randn(2, 5, 5))
    assert y.shape == (3, 5, 5) and y.dtype == cr.float32
    y.sum().backward()
    assert conv.weight.grad.dtype == cr.float32


def test_unfold_fold_equal_torch():
    x = rng(9).standard_normal((2, 3, 6, 7))
    for fn_c, fn_t, args, a in [
        (F.unfold, TF.unfold, dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=2), x),
        (F.fold, TF.fold, dict(output_size=(5, 6), kernel_size=2, stride=1),
         rng(10).standard_normal((2, 12, 20))),
    ]:
        xc, xt = as_cr(a, True), as_torch(a, True)
        yc, yt = fn_c(xc, **args), fn_t(xt, **args)
        assert_close(yc, yt, what=fn_c.__name__)
        gout = rng(11).standard_normal(tuple(yt.shape))
        yc.backward(cr.tensor(gout))
        yt.backward(as_torch(gout))
        assert_close(xc.grad, xt.grad, what=fn_c.__name__ + " grad")
    m = nn.Unfold(2)
    assert m(cr.randn(1, 2, 3, 3)).shape == (1, 8, 4)


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(dilation=2, groups=2)])
def test_conv2d_gradgradcheck(kw):
    r = rng(12)
    x = as_cr(r.standard_normal((1, 2, 5, 5)), True)
    w = as_cr(r.standard_normal((2, 1 if kw.get("groups") else 2, 2, 2)), True)
    b = as_cr(r.standard_normal(2), True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b))
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b))


def test_conv_transpose2d_gradgradcheck():
    r = rng(13)
    x = as_cr(r.standard_normal((1, 2, 3, 3)), True)
    w = as_cr(r.standard_normal((2, 1, 2, 2)), True)
    assert gradgradcheck(lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=1),
                         (x, w))


def test_conv_double_backward_equals_torch():
    """Hessian-vector product of a CNN loss: grad(create_graph) then backward through it."""
    r = rng(14)
    xa, wa, va = (r.standard_normal((2, 3, 6, 6)), r.standard_normal((4, 3, 3, 3)),
                  r.standard_normal((4, 3, 3, 3)))
    res = []
    for lib, conv, wrap in [(cr, F.conv2d, as_cr), (torch, TF.conv2d, as_torch)]:
        x, w = wrap(xa, True), wrap(wa, True)
        loss = (conv(x, w, stride=2, padding=1).tanh() ** 2).sum()
        gw, = lib.autograd.grad(loss, [w], create_graph=True)
        (gw * wrap(va)).sum().backward()
        res.append((w.grad, x.grad))
    assert_close(res[0][0], res[1][0], what="H v (weight)")
    assert_close(res[0][1], res[1][1], what="d(gᵀv)/dx")


def test_default_init_matches_torch_distribution():
    """W, b ~ U(±1/√fan_in) with fan_in = weight.shape[1]·prod(kernel), as PyTorch."""
    torch.manual_seed(0)
    cr.manual_seed(0)
    for mine, theirs in [(nn.Conv2d(16, 32, 3), torch.nn.Conv2d(16, 32, 3)),
                         (nn.Conv1d(8, 64, 5, groups=4), torch.nn.Conv1d(8, 64, 5, groups=4)),
                         (nn.ConvTranspose2d(32, 16, 3), torch.nn.ConvTranspose2d(32, 16, 3))]:
        w = theirs.weight
        bound = 1 / np.sqrt(w.shape[1] * int(np.prod(w.shape[2:])))
        for name in ("weight", "bias"):
            a = getattr(mine, name)._array
            t = getattr(theirs, name).detach().numpy()
            assert a.shape == t.shape and a.dtype == np.float32
            assert np.abs(a).max() <= bound and np.abs(t).max() <= bound
            n = a.size
            # sample mean and std of U(-b, b) within 5 standard errors
            assert abs(a.mean()) < 5 * bound / np.sqrt(3 * n)
            if n > 1000:
                assert abs(a.std() / (bound / np.sqrt(3)) - 1) < 5 * np.sqrt(0.2 / n)
                assert np.abs(a).max() > 0.95 * bound


def test_state_dict_keys_and_repr_match_torch():
    for mine, theirs in [(nn.Conv2d(1, 32, 3), torch.nn.Conv2d(1, 32, 3)),
                         (nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2,
                                    bias=False, padding_mode="reflect"),
                          torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2, bias=False,
                                          padding_mode="reflect")),
                         (nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1),
                          torch.nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1))]:
        assert repr(mine) == repr(theirs)
        assert {k: tuple(v.shape) for k, v in mine.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in theirs.state_dict().items()}


def test_errors_name_the_problem():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError, match="expected input.*3 channels, but got 2"):
        conv(cr.randn(1, 2, 5, 5))
    with pytest.raises(RuntimeError, match="too small"):
        conv(cr.randn(1, 3, 2, 2))
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(RuntimeError, match="4-D"):
        conv(cr.randn(3, 5))


@pytest.mark.parametrize("threads", [1, 2])
def test_threaded_memory_loops_equal_torch(threads):
    """Shapes large enough for im2col/col2im/layout copies to be split over threads."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads, user_api="blas"):
        for kw in (dict(padding=1), dict(stride=2)):
            check_twin(nn.Conv2d(16, 8, 3, **kw), torch.nn.Conv2d(16, 8, 3, **kw),
                       [rng(15).standard_normal((8, 16, 24, 24))])


@pytest.mark.parametrize("geom", [
    # (N, C, sizes, kernel, dilation): 2-D and 3-D wide layouts, a batch the blocks don't divide
    (7, 3, (9, 8), (3, 3), (1, 1)),
    (5, 2, (8, 9), (2, 3), (2, 1)),
    (3, 2, (5, 6, 5), (2, 2, 3), (1, 1, 1)),
])
def test_blocked_gemm_col2im_equals_col2im(geom, monkeypatch):
    """The input gradient computed a few samples at a time equals col2im of the whole GEMM
    (blocks forced small so several, including a partial last one, are taken)."""
    from chainrule.ops import conv as C

    n, c, sizes, k, dil = geom
    osize = tuple(s - d * (kk - 1) for s, kk, d in zip(sizes, k, dil))
    lay = C.Columns(n, c, sizes, k, (1,) * len(k), dil, osize)
    assert lay.wide
    r = rng(21)
    w2 = r.standard_normal((4, c * int(np.prod(k))))
    g2 = r.standard_normal((4, n * lay.p))
    monkeypatch.setattr(C, "_BLOCK_BYTES", w2.shape[1] * lay.p * 8 * 2)  # two samples a block
    np.testing.assert_allclose(lay.gemm_col2im(w2, g2), lay.col2im(w2.T @ g2), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("geom", [
    (7, 3, (9, 8), (3, 3), (1, 1)),
    (3, 2, (5, 6, 5), (2, 2, 3), (1, 1, 1)),
])
def test_blocked_gemm_output_equals_output(geom, bias, monkeypatch):
    """The forward computed a few samples at a time equals the whole GEMM laid out at once."""
    from chainrule.ops import conv as C

    n, c, sizes, k, dil = geom
    osize = tuple(s - d * (kk - 1) for s, kk, d in zip(sizes, k, dil))
    lay = C.Columns(n, c, sizes, k, (1,) * len(k), dil, osize)
    r = rng(22)
    w2 = r.standard_normal((4, c * int(np.prod(k))))
    cols = r.standard_normal((w2.shape[1], n * lay.p))
    b = r.standard_normal(4) if bias else None
    monkeypatch.setattr(C, "_OUT_BLOCK_BYTES", 4 * lay.p * 8 * 2)  # two samples a block
    np.testing.assert_allclose(lay.gemm_output(w2, cols, b), lay.output(w2 @ cols, b),
                               rtol=1e-12, atol=1e-12)
