"""Separable resampling of images, as ``torch.nn.functional.interpolate`` computes it for
``mode="bilinear", align_corners=False`` (what torchvision's ``Resize`` uses on tensors).

Along one axis of input size n and output size m, with scale s = n / m, output pixel i reads
a weighted sum of input pixels j:

* plain bilinear (``antialias=False``, or any upsampling): the source coordinate
  x = max(s·(i + ½) − ½, 0); weights 1 − λ and λ on ⌊x⌋ and min(⌊x⌋ + 1, n − 1), λ = x − ⌊x⌋;
* antialiased downsampling (``antialias=True``, s > 1): a triangle filter stretched by s,
  centred at c = s·(i + ½): w_j ∝ max(0, 1 − |(j − c + ½)/s|) for j in
  [trunc(c − s + ½), trunc(c + s + ½)) ∩ [0, n), normalised to sum 1 (PyTorch's
  ``_upsample_bilinear2d_aa``, the same filter as PIL's).

Each axis is one (m, n) weight matrix, applied as a matrix product.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["bilinear_weights", "resize_bilinear"]


def bilinear_weights(n: int, m: int, antialias: bool) -> np.ndarray:
    """The (m, n) matrix mapping an axis of size n to size m (rows sum to 1)."""
    if n < 1 or m < 1:
        raise ValueError(f"resize: sizes must be positive, got input {n} and output {m}")
    scale = n / m
    w = np.zeros((m, n), dtype=np.float64)
    if antialias and scale > 1.0:
        support = scale  # the triangle's half-width (1) stretched by the scale
        for i in range(m):
            centre = scale * (i + 0.5)
            lo = max(math.trunc(centre - support + 0.5), 0)
            hi = min(math.trunc(centre + support + 0.5), n)
            j = np.arange(lo, hi)
            taps = np.maximum(0.0, 1.0 - np.abs((j - centre + 0.5) / scale))
            w[i, lo:hi] = taps / taps.sum()
        return w
    x = np.maximum(scale * (np.arange(m) + 0.5) - 0.5, 0.0)
    i0 = np.minimum(np.floor(x).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = x - i0
    rows = np.arange(m)
    np.add.at(w, (rows, i0), 1.0 - lam)
    np.add.at(w, (rows, i1), lam)
    return w


def resize_bilinear(a: np.ndarray, size: tuple[int, int], axes: tuple[int, int],
                    antialias: bool) -> np.ndarray:
    """Resize the two ``axes`` of float array ``a`` to ``size`` (h, w)."""
    out = a
    for axis, m in zip(axes, size):
        w = bilinear_weights(a.shape[axis], int(m), antialias).astype(
            a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64)
        out = np.moveaxis(np.tensordot(w, np.moveaxis(out, axis, 0), axes=(1, 0)), 0, axis)
    return out
