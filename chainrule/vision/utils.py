"""torchvision's ``utils.make_grid`` and ``utils.save_image`` (PNG written by a small
built-in encoder: no PIL needed).

``make_grid`` lays a batch (B, C, H, W) out in rows of ``nrow`` images, each framed by
``padding`` pixels of ``pad_value``: the grid has shape
(C, ⌈B/nrow'⌉·(H + p) + p, nrow'·(W + p) + p) with nrow' = min(nrow, B). One-channel images
are repeated to three channels; a single image is returned without a frame. With
``normalize=True`` values are clamped to ``value_range`` (default: the min and max of the
batch, or of each image with ``scale_each=True``) and mapped linearly to [0, 1].

``save_image`` writes that grid as an 8-bit PNG, each value v as ⌊clamp(255·v + 0.5, 0, 255)⌋.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.tensor import Tensor, from_numpy

__all__ = ["make_grid", "save_image"]


def _as_batch(tensor: Any) -> np.ndarray:
    """(B, C, H, W) float array from a tensor or a list of (C, H, W) tensors."""
    if isinstance(tensor, (list, tuple)):
        if not tensor or not all(isinstance(t, Tensor) for t in tensor):
            raise TypeError("make_grid: expected a tensor or a non-empty list of tensors")
        a = np.stack([t.detach().numpy() for t in tensor])
    elif isinstance(tensor, Tensor):
        a = tensor.detach().numpy()
    else:
        raise TypeError(f"make_grid: tensor or list of tensors expected, got "
                        f"{type(tensor).__name__}")
    if a.ndim == 2:  # a single image plane
        a = a[None]
    if a.ndim == 3:  # a single image
        if a.shape[0] == 1:
            a = np.concatenate([a, a, a], axis=0)
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"make_grid: expected 2-D, 3-D or 4-D input, got {a.ndim}-D")
    if a.shape[1] == 1:
        a = np.concatenate([a, a, a], axis=1)
    return a


def _normalize(a: np.ndarray, value_range: tuple[float, float] | None) -> None:
    """In place: clamp to the range and map it to [0, 1]."""
    low, high = value_range if value_range is not None else (float(a.min()), float(a.max()))
    np.clip(a, low, high, out=a)
    a -= low
    a /= max(high - low, 1e-5)


def make_grid(tensor: Tensor | Sequence[Tensor], nrow: int = 8, padding: int = 2,
              normalize: bool = False, value_range: tuple[float, float] | None = None,
              scale_each: bool = False, pad_value: float = 0.0) -> Tensor:
    """A grid of images (torchvision's ``make_grid``).

    Example::

        grid = make_grid(chainrule.rand(10, 1, 28, 28), nrow=5)   # shape (3, 62, 152)
    """
    if value_range is not None and not (isinstance(value_range, tuple) and
                                        len(value_range) == 2):
        raise TypeError("value_range has to be a tuple (min, max) if specified. min and max "
                        "are numbers")
    a = _as_batch(tensor)
    if normalize:
        a = a.copy()
        if scale_each:
            for img in a:
                _normalize(img, value_range)
        else:
            _normalize(a, value_range)
    if a.shape[0] == 1:
        return from_numpy(np.ascontiguousarray(a[0]))
    n, c, h, w = a.shape
    xmaps = min(nrow, n)
    ymaps = math.ceil(n / xmaps)
    grid = np.full((c, ymaps * (h + padding) + padding, xmaps * (w + padding) + padding),
                   pad_value, dtype=a.dtype)
    for k in range(n):
        y, x = divmod(k, xmaps)
        top, left = y * (h + padding) + padding, x * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = a[k]
    return from_numpy(grid)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _png_bytes(img: np.ndarray) -> bytes:
    """An 8-bit PNG of an (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA uint8 image."""
    if img.ndim == 2:
        img = img[:, :, None]
    color_types = {1: 0, 3: 2, 4: 6}
    if img.shape[2] not in color_types:
        raise ValueError(f"save_image: cannot write {img.shape[2]} channels as PNG (1, 3 or 4)")
    h, w, c = img.shape
    header = struct.pack(">IIBBBBB", w, h, 8, color_types[c], 0, 0, 0)
    rows = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * c)], axis=1)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _png_chunk(b"IEND", b""))


def save_image(tensor: Tensor | Sequence[Tensor], fp: str | os.PathLike | Any,
               format: str | None = None, **kwargs: Any) -> None:
    """Save a tensor (or batch) as an image file via :func:`make_grid` (``kwargs`` are its
    arguments). Only PNG is written (a path ending in .png, or ``format="png"``)."""
    if format is not None:
        fmt = format.lower()
    elif hasattr(fp, "write"):
        fmt = "png"
    else:
        fmt = os.path.splitext(os.fspath(fp))[1].lstrip(".").lower()
    if fmt != "png":
        raise ValueError(f"save_image: only PNG is supported (no PIL), got format {fmt!r}")
    grid = make_grid(tensor, **kwargs).numpy()
    # torchvision's rounding: mul(255).add_(0.5).clamp_(0, 255) then truncate to uint8
    img = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    data = _png_bytes(np.ascontiguousarray(img))
    if hasattr(fp, "write"):
        fp.write(data)
        return
    with open(fp, "wb") as f:
        f.write(data)
