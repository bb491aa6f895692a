"""affine_grid and grid_sample against torch (float64, random upstream gradients): both
align_corners settings, bilinear, nearest and bicubic modes, the three padding modes, grids reaching
well outside [-1, 1], 4-D and 5-D; gradients to the input and (bilinear) the grid and theta;
torch's errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, rng  # noqa: E402
from test_padding import assert_same_error  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402

tF = torch.nn.functional


@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid")  # unit size, aligned
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (2, 2, 3, 4, 2)])
def test_affine_grid_equals_torch(align, size):
    nd = len(size) - 2
    theta = rng(1).standard_normal((2, nd, nd + 1))
    tc, tt = as_cr(theta, True), as_torch(theta, True)
    gc = F.affine_grid(tc, size, align_corners=align)
    gt = tF.affine_grid(tt, size, align_corners=align)
    assert_close(gc, gt, what="grid")
    up = rng(2).standard_normal(tuple(gt.shape))
    gc.backward(cr.tensor(up))
    gt.backward(as_torch(up))
    assert_close(tc.grad, tt.grad, what="theta grad")


def _grid(shape, seed, spread=1.4):
    """Random normalised coordinates, some outside [-1, 1] (to exercise the padding modes)."""
    return rng(seed).uniform(-spread, spread, shape)


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_equals_torch(mode, padding_mode, align):
    x = rng(3).standard_normal((2, 3, 5, 6))
    grid = _grid((2, 4, 7, 2), 4, spread=2.6 if padding_mode == "reflection" else 1.4)
    _compare_sample(x, grid, dict(mode=mode, padding_mode=padding_mode, align_corners=align))


def _compare_sample(x, grid, kw, seed=5):
    """grid_sample's output, then input and grid gradients for a random cotangent."""
    xc, xt = as_cr(x, True), as_torch(x, True)
    gc, gt = as_cr(grid, True), as_torch(grid, True)
    yc, yt = F.grid_sample(xc, gc, **kw), tF.grid_sample(xt, gt, **kw)
    assert_close(yc, yt, what="output")
    up = rng(seed).standard_normal(tuple(yt.shape))
    yc.backward(cr.tensor(up))
    yt.backward(as_torch(up))
    assert_close(xc.grad, xt.grad, what="input grad")
    assert_close(gc.grad, gt.grad, rtol=1e-8, atol=1e-10, what="grid grad")


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample_5d_equals_torch(padding_mode):
    x = rng(6).standard_normal((1, 2, 3, 4, 5))
    _compare_sample(x, _grid((1, 2, 3, 4, 3), 7),
                    dict(padding_mode=padding_mode, align_corners=False), seed=8)


def test_spatial_transformer_chain_equals_torch():
    """theta -> affine_grid -> grid_sample, the gradient reaching theta (an STN's loc net)."""
    x = rng(9).standard_normal((2, 3, 8, 8))
    theta = np.array([[[0.9, -0.2, 0.1], [0.3, 1.1, -0.2]], [[0.5, 0.0, 0.3], [0.0, 0.5, 0.0]]])
    tc, tt = as_cr(theta, True), as_torch(theta, True)
    yc = F.grid_sample(as_cr(x), F.affine_grid(tc, (2, 3, 6, 6), align_corners=False),
                       align_corners=False)
    yt = tF.grid_sample(as_torch(x), tF.affine_grid(tt, (2, 3, 6, 6), align_corners=False),
                        align_corners=False)
    assert_close(yc, yt, what="output")
    (yc * yc).sum().backward()
    (yt * yt).sum().backward()
    assert_close(tc.grad, tt.grad, rtol=1e-8, what="theta grad")


def test_identity_grid_reproduces_the_input():
    x = rng(10).standard_normal((1, 2, 4, 5))
    theta = cr.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=cr.float64)
    for align in (False, True):
        y = F.grid_sample(as_cr(x), F.affine_grid(theta, (1, 2, 4, 5), align_corners=align),
                          align_corners=align)
        np.testing.assert_allclose(y.numpy(), x, atol=1e-12)


def test_align_corners_warning():
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(cr.zeros(1, 2, 3), (1, 1, 2, 2))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(cr.zeros(1, 1, 2, 2), cr.zeros(1, 2, 2, 2))


@pytest.mark.parametrize("xs,gs,kw", [
    ((2, 3, 4, 5), (2, 3, 3, 3), {}),
    ((2, 3, 4, 5), (1, 3, 3, 2), {}),
    ((2, 3, 4, 5), (2, 3, 2), {}),
    ((2, 3, 4, 5, 6), (2, 3, 3, 2), {}),
    ((2, 3, 4), (2, 3, 1), {}),
    ((2, 3, 0, 5), (2, 3, 3, 2), {}),
    ((2, 3, 4, 5), (2, 3, 3, 2), dict(mode="foo")),
    ((2, 3, 4, 5), (2, 3, 3, 2), dict(padding_mode="foo")),
    ((1, 1, 2, 2, 2), (1, 1, 1, 1, 3), dict(mode="bicubic")),
])
def test_grid_sample_errors_like_torch(xs, gs, kw):
    x, g = np.zeros(xs), np.zeros(gs)
    assert_same_error(lambda: F.grid_sample(as_cr(x), as_cr(g), align_corners=False, **kw),
            lambda: tF.grid_sample(as_torch(x), as_torch(g), align_corners=False, **kw))


@pytest.mark.parametrize("theta,size", [
    (np.zeros((2, 2, 3)), (2, 3, 4)),
    (np.zeros((2, 2, 3)), (2, 3, 0, 5)),
    (np.zeros((3, 2, 3)), (2, 3, 4, 5)),
    (np.zeros((2, 2, 3), dtype=np.int64), (2, 3, 4, 5)),
])
def test_affine_grid_errors_like_torch(theta, size):
    def fix(msg):  # the dtype's namespace is the only difference
        return msg.replace("torch.", "").replace("chainrule.", "")

    with pytest.raises(Exception) as ec:
        F.affine_grid(as_cr(theta), size, align_corners=False)
    with pytest.raises(Exception) as et:
        tF.affine_grid(as_torch(theta), size, align_corners=False)
    assert type(ec.value) is type(et.value) and fix(str(ec.value)) == fix(str(et.value))
