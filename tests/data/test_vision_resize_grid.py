"""vision.transforms.Resize against torch.nn.functional.interpolate (bilinear,
align_corners=False, with and without antialias: what torchvision runs on tensors), and
vision.utils.make_grid / save_image against torchvision's documented algorithm written out
in torch below (torchvision itself is not installed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.vision.transforms import InterpolationMode, Resize
from chainrule.vision.utils import make_grid, save_image


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("size,want_hw", [((7, 9), (7, 9)), (10, (10, 15)), ([40], (40, 60)),
                                          ((23, 5), (23, 5))])
def test_resize_tensor_vs_interpolate(antialias, size, want_hw):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 20, 30))
    got = Resize(size, antialias=antialias).batch(cr.from_numpy(a))
    one = Resize(size, antialias=antialias)(cr.from_numpy(a[0]))
    want = torch.nn.functional.interpolate(torch.from_numpy(a), size=want_hw, mode="bilinear",
                                           align_corners=False, antialias=antialias).numpy()
    assert tuple(got.shape) == (2, 3, *want_hw)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(one.numpy(), want[0], rtol=1e-12, atol=1e-12)


def test_resize_arrays_max_size_and_errors():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)  # an HWC "PIL" image
    out = Resize(6, interpolation=InterpolationMode.BILINEAR)(img)
    want = torch.nn.functional.interpolate(
        torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)[None], size=(6, 10),
        mode="bilinear", align_corners=False, antialias=True)[0].permute(1, 2, 0)
    assert out.dtype == np.uint8 and out.shape == (6, 10, 3)
    np.testing.assert_array_equal(out, np.clip(np.round(want.numpy()), 0, 255).astype(np.uint8))
    assert Resize(8, max_size=10)(cr.zeros(1, 12, 20)).shape == (1, 6, 10)
    assert Resize((12, 20))(img) is img  # same size: unchanged, as torchvision
    with pytest.raises(ValueError, match="max_size"):
        Resize(8, max_size=8)(img)
    with pytest.raises(ValueError, match="not implemented"):
        Resize(8, interpolation=InterpolationMode.BICUBIC)


def _torchvision_make_grid(t, nrow=8, padding=2, normalize=False, value_range=None,
                           scale_each=False, pad_value=0.0):
    """torchvision.utils.make_grid's documented steps, in torch."""
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() == 3:
        if t.size(0) == 1:
            t = torch.cat((t, t, t), 0)
        t = t.unsqueeze(0)
    if t.dim() == 4 and t.size(1) == 1:
        t = torch.cat((t, t, t), 1)
    if normalize:
        t = t.clone()

        def norm(img, lo, hi):
            img.clamp_(min=lo, max=hi)
            img.sub_(lo).div_(max(hi - lo, 1e-5))

        def norm_range(img):
            if value_range is not None:
                norm(img, value_range[0], value_range[1])
            else:
                norm(img, float(img.min()), float(img.max()))

        if scale_each:
            for img in t:
                norm_range(img)
        else:
            norm_range(t)
    if t.size(0) == 1:
        return t.squeeze(0)
    n = t.size(0)
    xmaps = min(nrow, n)
    ymaps = math.ceil(n / xmaps)
    h, w = t.size(2) + padding, t.size(3) + padding
    grid = t.new_full((t.size(1), h * ymaps + padding, w * xmaps + padding), pad_value)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= n:
                break
            grid.narrow(1, y * h + padding, h - padding).narrow(
                2, x * w + padding, w - padding).copy_(t[k])
            k += 1
    return grid


@pytest.mark.parametrize("shape,kw", [
    ((5, 3, 4, 6), dict(nrow=2)),
    ((3, 1, 5, 5), dict(padding=1, pad_value=0.5)),
    ((7, 3, 2, 3), dict(nrow=3, normalize=True)),
    ((4, 3, 3, 3), dict(normalize=True, scale_each=True, value_range=(-1.0, 1.0))),
    ((4, 3, 3, 3), dict(normalize=True, scale_each=True)),
    ((1, 1, 4, 4), dict()),
    ((4, 5), dict()),
])
def test_make_grid_vs_torchvision_algorithm(shape, kw):
    rng = np.random.default_rng(2)
    a = rng.standard_normal(shape) * 2
    got = make_grid(cr.from_numpy(a), **kw)
    want = _torchvision_make_grid(torch.from_numpy(a), **kw)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


def test_make_grid_known_layout():
    imgs = cr.stack([cr.full((3, 2, 2), float(k + 1)) for k in range(3)])
    g = make_grid(imgs, nrow=2, padding=1).numpy()
    assert g.shape == (3, 7, 7)
    assert g[0, 1, 1] == 1 and g[0, 1, 4] == 2 and g[0, 4, 1] == 3 and g[0, 4, 4] == 0
    assert g[0, 0].sum() == 0 and g[0, :, 3].sum() == 0  # the frame


def test_save_image_png_round_trip(tmp_path):
    import matplotlib.image as mpimg

    rng = np.random.default_rng(3)
    a = rng.random((6, 1, 5, 7))
    path = tmp_path / "grid.png"
    save_image(cr.from_numpy(a), path, nrow=3, padding=2, pad_value=1.0)
    back = mpimg.imread(path)  # float in [0, 1], (H, W, 3)
    grid = _torchvision_make_grid(torch.from_numpy(a), nrow=3, padding=2, pad_value=1.0)
    want = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    assert back.shape == want.shape == (2 * 7 + 2, 3 * 9 + 2, 3)
    np.testing.assert_array_equal(np.round(back * 255).astype(np.uint8), want)
    with pytest.raises(ValueError, match="PNG"):
        save_image(cr.from_numpy(a), tmp_path / "grid.jpg")
