"""nn.functional: ``affine_grid`` and ``grid_sample``, the two halves of a spatial transformer
(Jaderberg et al. 2015), composed from differentiable primitives.

``affine_grid(θ, size)`` maps the normalised output coordinates (x, y[, z]) ∈ [-1, 1] of every
output pixel through θ: grid[n, i, j] = θ_n · (x_j, y_i, 1). With ``align_corners`` the
coordinates -1 and 1 are the centres of the corner pixels (linspace(-1, 1, S)); without, the
outer edges of the corner pixels (the linspace scaled by (S - 1)/S).

``grid_sample(input, grid)`` reads input at those coordinates. A normalised coordinate g
becomes the pixel coordinate u = (g + 1)(S - 1)/2 (``align_corners``) or ((g + 1) S - 1)/2;
``padding_mode`` then keeps u (zeros: samples outside read 0), clips it to [0, S - 1]
(border), or reflects it about the borders (reflection), and ``mode`` interpolates:

* ``bilinear`` (trilinear for 5-D): out = Σ_corners Π_k w_k x[corner], with w_k = 1 - (u_k - ⌊u_k⌋)
  for the lower corner and u_k - ⌊u_k⌋ for the upper one; the gradient reaches the input by
  the indexing's scatter-add and the grid through the weights (and the padding's clip /
  reflection: 0 outside the clip range, a sign flip per reflection);
* ``nearest``: the pixel at round-half-even(u); the grid's gradient is 0, as in PyTorch;
* ``bicubic`` (4-D only): Keys' cubic convolution (A = -0.75) over the 4 x 4 pixels around u,
  the padding mode applied to each tap's integer coordinate.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from chainrule.backend import xp
from chainrule.tensor import Tensor, _wrap, where

__all__ = ["affine_grid", "grid_sample"]

_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since "
    "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
    "documentation of grid_sample for details."
)


def _align(align_corners: bool | None) -> bool:
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=3)
        return False
    return bool(align_corners)


def _linspace_from_neg_one(steps: int, align_corners: bool, dtype: Any) -> Any:
    """The normalised coordinates of ``steps`` pixel centres (0 for a single pixel)."""
    if steps <= 1:
        return xp.zeros(1, dtype=dtype)
    r = xp.linspace(-1.0, 1.0, steps, dtype=dtype)
    return r if align_corners else r * ((steps - 1) / steps)


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool | None = None
                ) -> Tensor:
    """The sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of the affine maps ``theta``
    (N, 2, 3) (or (N, 3, 4)) for an output of ``size`` (N, C, H, W) (or (N, C, D, H, W)).

    Example::

        theta = chainrule.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])   # the identity
        F.affine_grid(theta, (1, 1, 4, 4), align_corners=False).shape    # (1, 4, 4, 2)
    """
    align = _align(align_corners)
    size = tuple(int(s) for s in size)
    if not xp.issubdtype(theta.dtype, xp.floating):
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    if len(size) not in (4, 5):
        raise NotImplementedError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
            f"respectively. Got size {size}."
        )
    nd = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[-2:]) != (nd, nd + 1):
        raise ValueError(
            f"Expected a batch of {nd}D affine matrices of shape Nx{nd}x{nd + 1} for size "
            f"{size}. Got {theta.shape}."
        )
    spatial = size[2:]
    if align and min(spatial) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
            "align_corners=True. This is not an intended use case of affine_grid. See the "
            "documentation of affine_grid for details.",
            stacklevel=2,
        )
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{size[0]}, "
            f"{nd + 1}] but got: [{theta.shape[0]}, {nd + 1}]."
        )
    # base[..., k] is the k-th coordinate (x over the last dim, then y, z), base[..., nd] = 1
    axes = [_linspace_from_neg_one(s, align, theta.dtype) for s in spatial]
    mesh = xp.meshgrid(*axes, indexing="ij")
    base = xp.stack([*reversed(mesh), xp.ones(spatial, dtype=theta.dtype)], axis=-1)
    grid = _wrap(base.reshape(-1, nd + 1)) @ theta.transpose(1, 2)  # (N, P, nd)
    return grid.reshape((size[0], *spatial, nd))


def _clip(u: Tensor, size: int) -> Tensor:
    """u clipped to [0, size - 1]; the gradient is 0 at and beyond the limits (PyTorch)."""
    a = u._array
    return where(a <= 0, 0.0, where(a >= size - 1, float(size - 1), u))


def _reflect(u: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """u reflected about low and high until it lies in [low, high] (the span mirrored on every
    crossing: an odd number of flips reverses the direction, so the gradient's sign)."""
    if twice_low == twice_high:
        return u * 0.0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    d = u - low
    d = where(d._array < 0, -d, d)
    flips = xp.floor(d._array / span)
    extra = d - _wrap(flips * span)
    return where(flips % 2 == 0, extra + low, (span + low) - extra)


def _unnormalize(g: Tensor, size: int, align: bool) -> Tensor:
    """The pixel coordinate of the normalised coordinate g."""
    return (g + 1.0) * ((size - 1) / 2) if align else ((g + 1.0) * size - 1.0) / 2


def _pad_coordinate(u: Tensor, size: int, padding_mode: str, align: bool) -> Tensor:
    """A pixel coordinate after the padding mode's mapping (zeros: unchanged)."""
    if padding_mode == "border":
        return _clip(u, size)
    if padding_mode == "reflection":
        u = _reflect(u, 0, 2 * (size - 1)) if align else _reflect(u, -1, 2 * size - 1)
        return _clip(u, size)
    return u


def _cubic_weights(t: Tensor) -> list[Tensor]:
    """Keys' cubic convolution weights (A = -0.75, as PyTorch) of the taps at offsets -1, 0,
    1, 2 from ⌊u⌋, for the fraction t = u - ⌊u⌋."""
    a = -0.75

    def near(x: Tensor) -> Tensor:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1.0

    def far(x: Tensor) -> Tensor:   # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


def _check_grid_sample(input: Tensor, grid: Tensor, mode: str, padding_mode: str) -> None:
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
            f"'reflection', but got: '{padding_mode}'"
        )
    sizes = f"input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
    empty = [d for d in range(2, input.ndim) if input.shape[d] == 0]
    checks = [  # PyTorch's order and wording (its 5-D branch takes every rank but 4)
        (grid.shape[-1] != input.ndim - 2,
         f"expected grid to have size {input.ndim - 2} in last dimension, but got grid with "
         f"sizes {list(grid.shape)}"),
        (input.ndim != grid.ndim,
         f"expected {input.ndim}D input and grid with same number of dimensions, but got "
         f"{sizes}"),
        (input.shape[0] != grid.shape[0],
         f"expected grid and input to have same batch size, but got {sizes}"),
        (input.ndim not in (4, 5),
         f"expected 5D input and grid with same number of dimensions, but got {sizes}"),
        (bool(empty),
         "expected input to have non-empty spatial dimensions, but input has sizes "
         f"{list(input.shape)} with dimension {empty[0] if empty else 0} being empty"),
    ]
    for failed, message in checks:
        if failed:
            raise RuntimeError(f"grid_sampler(): {message}")
    if mode == "bicubic" and input.ndim != 4:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")


Gather = Callable[[list[Any], Tensor], Tensor]


def _gatherer(input: Tensor, out_shape: tuple[int, ...]) -> Gather:
    """A function (integer pixel index per spatial dim, weight) -> weight · input there, shaped
    (N, *out, C); 0 outside the input (zeros padding). Its gradient reaches the input by the
    indexing's scatter-add and the weight directly."""
    nd = input.ndim - 2
    sizes = tuple(input.shape[2:])
    channels_last = input.permute(0, *range(2, nd + 2), 1)  # (N, *sizes, C): gather rows
    batch = xp.broadcast_to(xp.arange(input.shape[0]).reshape((-1,) + (1,) * nd), out_shape)

    def gather(index: list[Any], weight: Tensor) -> Tensor:
        inside = xp.ones(out_shape, dtype=bool)
        for k, i in enumerate(index):
            inside &= (i >= 0) & (i < sizes[k])
        clipped = [xp.clip(i, 0, s - 1) for i, s in zip(index, sizes)]
        vals = channels_last[(batch, *clipped)]
        return vals * where(inside, weight, 0.0).unsqueeze(-1)

    return gather


def _linear(gather: Gather, coords: list[Tensor]) -> Tensor:
    """Σ over the 2^nd corners of Π_k (frac_k or 1 - frac_k) · input[corner]."""
    lower = [xp.floor(c._array) for c in coords]
    frac = [c - _wrap(lo) for c, lo in zip(coords, lower)]
    out = None
    for bits in itertools.product((0, 1), repeat=len(coords)):
        w = None
        for k, b in enumerate(bits):
            wk = frac[k] if b else 1.0 - frac[k]
            w = wk if w is None else w * wk
        term = gather([(lo + b).astype(xp.int64) for lo, b in zip(lower, bits)], w)
        out = term if out is None else out + term
    return out


def _nearest(gather: Gather, coords: list[Tensor]) -> Tensor:
    """input at round-half-even of the coordinates; the grid's gradient is zeros (PyTorch's),
    kept in the graph so that ``grid.grad`` is zeros rather than None."""
    zero = sum((c - c.detach()) * 0.0 for c in coords)
    return gather([xp.rint(c._array).astype(xp.int64) for c in coords], zero + 1.0)


def _bicubic(gather: Gather, pixel: list[Tensor], sizes: tuple[int, ...], padding_mode: str,
             align: bool) -> Tensor:
    """Σ over 4 x 4 taps of w_y[i] w_x[j] · input[tap], each tap's integer coordinate padded
    on its own (PyTorch's order)."""
    lower = [xp.floor(u._array) for u in pixel]
    weights = [_cubic_weights(u - _wrap(lo)) for u, lo in zip(pixel, lower)]
    taps = [[_pad_coordinate(_wrap(lo + (o - 1)), s, padding_mode, align)._array
             .astype(xp.int64) for o in range(4)] for lo, s in zip(lower, sizes)]
    out = None
    for i, j in itertools.product(range(4), repeat=2):
        term = gather([taps[0][i], taps[1][j]], weights[0][i] * weights[1][j])
        out = term if out is None else out + term
    return out


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",
                padding_mode: str = "zeros", align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` (N, C, H, W) at ``grid`` (N, H_out, W_out, 2) of normalised (x, y)
    coordinates in [-1, 1] (or 5-D input with a (N, D_out, H_out, W_out, 3) grid of (x, y, z)),
    giving (N, C, H_out, W_out); see the module docstring for the modes.

    Example::

        theta = chainrule.tensor([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]])     # a 2x zoom
        grid = F.affine_grid(theta, (1, 3, 8, 8), align_corners=False)
        F.grid_sample(image, grid, align_corners=False)                   # (1, 3, 8, 8)
    """
    _check_grid_sample(input, grid, mode, padding_mode)
    align = _align(align_corners)
    nd = input.ndim - 2
    sizes = tuple(input.shape[2:])
    gather = _gatherer(input, tuple(grid.shape[:-1]))
    # grid component nd - 1 - k addresses spatial dim k (x is the last dim)
    pixel = [_unnormalize(grid[..., nd - 1 - k], sizes[k], align) for k in range(nd)]
    if mode == "bicubic":
        out = _bicubic(gather, pixel, sizes, padding_mode, align)
    else:
        coords = [_pad_coordinate(u, s, padding_mode, align) for u, s in zip(pixel, sizes)]
        out = (_nearest if mode == "nearest" else _linear)(gather, coords)
    return out.permute(0, nd + 1, *range(1, nd + 1))
