"""Pooling and upsampling against torch (float64, random upstream gradients): max pooling with
indices / ceil_mode / dilation / padding, average pooling with count_include_pad and
divisor_override, adaptive pooling, nearest interpolation; ties and NaNs as torch; double
backward."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from chainrule.autograd.gradcheck import gradgradcheck  # noqa: E402


def check_vs(mine, theirs, x, seed=1):
    """Outputs (and returned indices) equal, then input gradients for a random cotangent."""
    xc, xt = as_cr(x, True), as_torch(x, True)
    yc, yt = mine(xc), theirs(xt)
    if isinstance(yt, tuple):
        np.testing.assert_array_equal(yc[1].data, yt[1].numpy())
        assert yc[1].dtype == np.int64
        yc, yt = yc[0], yt[0]
    assert_close(yc, yt, what="output")
    g = rng(seed).standard_normal(tuple(yt.shape))
    yc.backward(cr.tensor(g))
    yt.backward(as_torch(g))
    assert_close(xc.grad, xt.grad, what="input grad")


MAX2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 1)),
    dict(kernel_size=3, stride=2, dilation=2),
    dict(kernel_size=2, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=3, dilation=(1, 2), padding=1, ceil_mode=True),
]


@pytest.mark.parametrize("kw", MAX2D, ids=[str(i) for i in range(len(MAX2D))])
def test_maxpool2d_equals_torch(kw):
    check_vs(nn.MaxPool2d(return_indices=True, **kw), torch.nn.MaxPool2d(return_indices=True, **kw),
         rng(2).standard_normal((2, 3, 7, 9)))


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, dilation=3, ceil_mode=True, stride=2)])
def test_maxpool1d_equals_torch(kw):
    check_vs(nn.MaxPool1d(return_indices=True, **kw), torch.nn.MaxPool1d(return_indices=True, **kw),
         rng(3).standard_normal((2, 3, 11)))


def test_maxpool_ties_and_nan_like_torch():
    x = np.zeros((1, 2, 4, 4))                  # all ties: the first element of each window
    x[0, 1, 1, 2] = np.nan                      # a NaN wins its window
    x[0, 1, 2, 2] = x[0, 1, 3, 3] = np.nan      # two NaNs in one window
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
        yc, ic = F.max_pool2d(as_cr(x), return_indices=True, **kw)
        yt, it = torch.nn.functional.max_pool2d(as_torch(x), return_indices=True, **kw)
        np.testing.assert_array_equal(ic.data, it.numpy())
        np.testing.assert_array_equal(np.isnan(yc._array), np.isnan(yt.numpy()))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4, 8, 10), (2, 3, 7, 9), (1, 3, 2, 2)])
def test_maxpool_2x2_tiles_equal_torch_bitwise(dtype, shape):
    """The NumPy 2x2 / stride-2 path (:class:`TileChoice`): many ties (small integers, ±inf,
    ±0), values and indices equal torch's; the gradient of an upstream g holding inf and NaN
    equals torch's bit for bit (zeros, not NaN, where no window chose; odd sizes cropped)."""
    from chainrule import _jit
    from chainrule.ops import pool as P

    r = rng(20)
    x = r.integers(-2, 3, shape).astype(dtype)
    x[x == 2] = np.inf
    x[x == -2] = -np.inf
    x[r.random(shape) < 0.2] = -0.0
    g = r.standard_normal((shape[0], shape[1], shape[2] // 2, shape[3] // 2)).astype(dtype)
    g.reshape(-1)[:3] = [np.inf, np.nan, -np.inf]
    with _jit.disabled():
        _, choice = P.max_pool(x, (2, 2), (2, 2), (0, 0), (1, 1), g.shape[2:])
        assert isinstance(choice, P.TileChoice)  # the path under test was taken
        xc = as_cr(x, True)
        yc, ic = F.max_pool2d(xc, 2, return_indices=True)
        yc.backward(cr.tensor(g))
    xt = as_torch(x, True)
    yt, it = torch.nn.functional.max_pool2d(xt, 2, return_indices=True)
    yt.backward(as_torch(g))
    np.testing.assert_array_equal(ic.data, it.numpy())
    np.testing.assert_array_equal(yc.detach().numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(xc.grad.numpy().view(f"u{x.itemsize}"),
                                  xt.grad.numpy().view(f"u{x.itemsize}"))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_maxpool_2x2_scatter_pair_shift_equals_strided_path(dtype, monkeypatch):
    """The gradient of the 2x2 path written as element pairs (one integer twice as wide,
    shifted into the chosen half) equals the two stride-2 passes it replaces, bit for bit,
    with inf and NaN in g (and x with ties, so both flags vary)."""
    from chainrule.ops import pool as P

    r = rng(23)
    x = r.integers(-3, 4, (5, 6, 12, 16)).astype(dtype)
    g = r.standard_normal((5, 6, 6, 8)).astype(dtype)
    g.reshape(-1)[::7] = np.inf
    g.reshape(-1)[3::11] = np.nan
    _, choice = P.TileChoice.pool(x, (6, 8))
    assert choice.right.any() and not choice.right.all()
    assert P._uint_pair(dtype) is not None and P._LITTLE
    fast = choice.scatter(g, x.shape)
    monkeypatch.setattr(P, "_LITTLE", False)  # the strided passes
    slow = choice.scatter(g, x.shape)
    bits = f"u{x.itemsize}"
    np.testing.assert_array_equal(fast.view(bits), slow.view(bits))
    chosen = slow.view(bits) != 0
    assert chosen.sum() > 0.2 * x.size  # (most windows hold a nonzero g)


def test_maxpool_2x2_tiles_double_backward_equals_torch():
    """Gradients of the gradient through the 2x2 path (the scatter's adjoint is the gather)."""
    from chainrule import _jit

    x = rng(21).integers(-3, 4, (2, 3, 6, 5)).astype(np.float64)
    v = rng(22).standard_normal((2, 3, 6, 5))
    grads = []
    for lib, wrap in ((cr, as_cr), (torch, as_torch)):
        xl = wrap(x, True)
        y = lib.nn.functional.max_pool2d(xl, 2)
        (gx,) = lib.autograd.grad((y ** 2).sum(), xl, create_graph=True)
        (hv,) = lib.autograd.grad((gx * wrap(v)).sum(), xl)
        grads.append(hv.detach().numpy())
    with _jit.disabled():
        xl = as_cr(x, True)
        y = F.max_pool2d(xl, 2)
        (gx,) = cr.autograd.grad((y ** 2).sum(), xl, create_graph=True)
        (hv,) = cr.autograd.grad((gx * as_cr(v)).sum(), xl)
    np.testing.assert_allclose(hv.numpy(), grads[1], rtol=1e-12)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_maxpool3d_and_unbatched():
    check_vs(nn.MaxPool3d(2, return_indices=True), torch.nn.MaxPool3d(2, return_indices=True),
         rng(4).standard_normal((1, 2, 4, 5, 4)))
    check_vs(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), rng(5).standard_normal((3, 6, 6)))


AVG2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 4), stride=(1, 3), padding=(1, 2), ceil_mode=True),
    dict(kernel_size=3, stride=2, divisor_override=4),
]


@pytest.mark.parametrize("kw", AVG2D, ids=[str(i) for i in range(len(AVG2D))])
def test_avgpool2d_equals_torch(kw):
    check_vs(nn.AvgPool2d(**kw), torch.nn.AvgPool2d(**kw), rng(6).standard_normal((2, 3, 7, 8)))


@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=4, stride=3, padding=2,
                                                          ceil_mode=True,
                                                          count_include_pad=False)])
def test_avgpool1d_equals_torch(kw):
    check_vs(nn.AvgPool1d(**kw), torch.nn.AvgPool1d(**kw), rng(7).standard_normal((2, 3, 13)))


@pytest.mark.parametrize("size", [1, (3, 5), (4, None), (7, 8), (2, 3)])
def test_adaptive_pool2d_equals_torch(size):
    x = rng(8).standard_normal((2, 3, 7, 8))
    check_vs(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), x)
    check_vs(nn.AdaptiveMaxPool2d(size, return_indices=True),
         torch.nn.AdaptiveMaxPool2d(size, return_indices=True), x)


def test_adaptive_pool1d_equals_torch():
    x = rng(9).standard_normal((2, 3, 10))
    for o in (1, 3, 4, 7):
        check_vs(nn.AdaptiveAvgPool1d(o), torch.nn.AdaptiveAvgPool1d(o), x)
        check_vs(nn.AdaptiveMaxPool1d(o, return_indices=True),
             torch.nn.AdaptiveMaxPool1d(o, return_indices=True), x)


@pytest.mark.parametrize("kw", [dict(scale_factor=2), dict(scale_factor=(2, 3)),
                                dict(size=(7, 3)), dict(scale_factor=1.7), dict(size=(9, 13)),
                                dict(size=(9, 13), mode="nearest-exact"),
                                dict(scale_factor=0.5)])
def test_upsample_nearest_equals_torch(kw):
    check_vs(nn.Upsample(**kw), torch.nn.Upsample(**kw), rng(10).standard_normal((2, 3, 4, 6)))


def test_interpolate_1d_and_repr():
    check_vs(lambda x: F.interpolate(x, size=11), lambda x: torch.nn.functional.interpolate(x, 11),
         rng(11).standard_normal((2, 3, 5)))
    assert repr(nn.Upsample(scale_factor=2)) == repr(torch.nn.Upsample(scale_factor=2))
    assert repr(nn.MaxPool2d(2)) == repr(torch.nn.MaxPool2d(2))
    assert repr(nn.AvgPool2d(3, 2, 1)) == repr(torch.nn.AvgPool2d(3, 2, 1))
    assert repr(nn.AvgPool1d(3)) == repr(torch.nn.AvgPool1d(3))
    assert repr(nn.AdaptiveAvgPool2d((1, 1))) == repr(torch.nn.AdaptiveAvgPool2d((1, 1)))
    with pytest.raises(NotImplementedError, match="bilinear mode needs 4D input"):
        F.interpolate(cr.randn(1, 1, 2), scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match="Anti-alias option is restricted"):
        F.interpolate(cr.randn(1, 1, 2, 2), scale_factor=2, mode="nearest", antialias=True)
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(cr.randn(1, 1, 2, 2), scale_factor=2, align_corners=True)


_INTERP_SHAPES = {"linear": (2, 3, 5), "bilinear": (2, 3, 5, 4), "bicubic": (2, 1, 5, 6),
                  "trilinear": (1, 2, 3, 4, 5), "area": (2, 3, 7, 5)}


@pytest.mark.parametrize(("mode", "align_corners"),
                         [(m, a) for m in _INTERP_SHAPES
                          for a in ((None,) if m == "area" else (None, True, False))])
@pytest.mark.parametrize("kw", [dict(size=8), dict(scale_factor=1.7), dict(size=3),
                                dict(scale_factor=0.5),
                                dict(scale_factor=2.0, recompute_scale_factor=True)],
                         ids=["up8", "s1.7", "down3", "s0.5", "recompute"])
def test_interpolate_linear_cubic_area_equal_torch(mode, align_corners, kw):
    """Every interpolating mode, output and input gradient, against torch in float64."""
    x = rng(13).standard_normal(_INTERP_SHAPES[mode])
    check_vs(lambda t: F.interpolate(t, mode=mode, align_corners=align_corners, **kw),
             lambda t: torch.nn.functional.interpolate(t, mode=mode, align_corners=align_corners,
                                                       **kw), x)


def test_upsample_bilinear_module_equals_torch():
    kw = dict(scale_factor=2, mode="bilinear", align_corners=True)
    check_vs(nn.Upsample(**kw), torch.nn.Upsample(**kw), rng(14).standard_normal((1, 2, 3, 4)))
    assert repr(nn.Upsample(**kw)) == repr(torch.nn.Upsample(**kw))


@pytest.mark.parametrize("fn", [
    lambda x: F.max_pool2d(x, 2),
    lambda x: F.max_pool2d(x, 3, stride=1, padding=1),       # overlapping windows
    lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
    lambda x: F.adaptive_max_pool2d(x, (2, 3)),
    lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
])
def test_pool_gradgradcheck(fn):
    x = as_cr(rng(12).standard_normal((1, 2, 4, 5)), True)
    assert gradgradcheck(lambda x: fn(x) ** 2, (x,))


def test_pool_errors():
    with pytest.raises(ValueError, match="pad should be at most half"):
        F.max_pool2d(cr.randn(1, 1, 6, 6), 2, padding=2)
    with pytest.raises(RuntimeError, match="expected 3-D .* or 4-D"):
        F.max_pool2d(cr.randn(6, 6), 2)
    with pytest.raises(RuntimeError, match="too small"):
        F.avg_pool2d(cr.randn(1, 1, 2, 2), 3)


@pytest.mark.parametrize("threads", [1, 2])
def test_threaded_pooling_equals_torch(threads):
    """Inputs large enough for max pooling and its scatter to be split over threads."""
    from threadpoolctl import threadpool_limits

    x = rng(13).standard_normal((16, 16, 32, 32))
    with threadpool_limits(threads, user_api="blas"):
        check_vs(nn.MaxPool2d(2, return_indices=True),
                 torch.nn.MaxPool2d(2, return_indices=True), x)
        check_vs(nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), x)


@pytest.mark.parametrize("shape,r", [((2, 8, 3, 4), 2), ((18, 2, 3), 3), ((2, 1, 4, 4, 2, 5), 2)])
def test_pixel_shuffle_and_unshuffle_equal_torch(shape, r):
    x = rng(15).standard_normal(shape)
    check_vs(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), x)
    y = rng(16).standard_normal(shape[:-3] + (shape[-3], shape[-2] * r, shape[-1] * r))
    check_vs(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), y)
    assert repr(nn.PixelShuffle(r)) == repr(torch.nn.PixelShuffle(r))
    back = F.pixel_unshuffle(F.pixel_shuffle(as_cr(x, False), r), r)
    np.testing.assert_array_equal(back.numpy(), x)


def test_pixel_shuffle_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        F.pixel_shuffle(cr.randn(1, 3, 2, 2), 2)
    with pytest.raises(RuntimeError, match="divisible by downscale_factor"):
        F.pixel_unshuffle(cr.randn(1, 1, 3, 4), 2)
    with pytest.raises(ValueError, match="positive int"):
        F.pixel_shuffle(cr.randn(1, 4, 2, 2), 0)


@pytest.mark.parametrize("output_size", [2, (3, 1, 4), (None, 2, 3)])
def test_adaptive_max_pool3d_vs_torch(output_size):
    x = rng(20).standard_normal((2, 3, 5, 6, 7))
    check_vs(lambda t: nn.AdaptiveMaxPool3d(output_size, return_indices=True)(t),
             lambda t: torch.nn.AdaptiveMaxPool3d(output_size, return_indices=True)(t), x)


@pytest.mark.parametrize("nd, kernel, out, shape", [
    (2, (2, 3), (4, 5), (2, 3, 9, 11)),
    (2, 3, 5, (1, 2, 7, 8)),                      # out + k - 1 == input: windows touch
    (3, 2, (3, 4, 5), (2, 2, 7, 8, 9)),
    (3, (1, 2, 3), 3, (3, 6, 6, 7)),              # unbatched
])
def test_fractional_max_pool_vs_torch_given_samples(nd, kernel, out, shape):
    """With the same random samples, windows, maxima, indices and gradients are torch's."""
    x = rng(21).standard_normal(shape)
    planes = (shape[0], shape[1]) if len(shape) == nd + 2 else (1, shape[0])
    u = rng(22).random((*planes, nd))
    mine = {2: F.fractional_max_pool2d, 3: F.fractional_max_pool3d}[nd]
    theirs = getattr(torch.nn.functional, f"fractional_max_pool{nd}d")
    check_vs(lambda t: mine(t, kernel, output_size=out, return_indices=True,
                            _random_samples=cr.tensor(u)),
             lambda t: theirs(t, kernel, output_size=out, return_indices=True,
                              _random_samples=torch.tensor(u)), x)


def test_fractional_max_pool_module_draws_and_checks():
    pool = nn.FractionalMaxPool2d(3, output_ratio=0.5)
    cr.manual_seed(0)
    a = pool(cr.randn(2, 3, 12, 12))
    assert tuple(a.shape) == (2, 3, 6, 6)
    x = cr.randn(1, 1, 12, 12)
    cr.manual_seed(1)
    b = pool(x)
    cr.manual_seed(1)
    np.testing.assert_array_equal(b.numpy(), pool(x).numpy())      # draws from the generator
    with pytest.raises(ValueError, match="output size, or a pooling ratio"):
        nn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(RuntimeError, match="too large"):
        F.fractional_max_pool2d(cr.randn(1, 1, 7, 7), 2, output_size=7)
