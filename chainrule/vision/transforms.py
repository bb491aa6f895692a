"""Image transforms (torchvision's ``transforms`` v1 subset) on NumPy images and Tensors.

An image is a NumPy array of shape (H, W) or (H, W, C), usually uint8 (standing in for a PIL
image), or a Tensor of shape (..., H, W) (channels first). ``ToTensor`` turns the first into
the second. Random transforms take ``generator=`` (a ``chainrule.Generator`` or NumPy
Generator; the default generator if None).

Every transform here also has ``batch(x)``, applying it to a whole batch at once (a leading
sample dimension, independent random draws per sample, no Python loop over samples); the
vision datasets use it to load a batch with one call. The batch path draws its random numbers
in a different order from the per-sample path, so the two give different (equally
distributed) augmentations for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from chainrule.backend import default_dtype
from chainrule.tensor import Tensor, _wrap
from chainrule.utils.data.dataset import _random_rng
from chainrule.vision.resample import resize_bilinear

__all__ = [
    "Compose",
    "ToTensor",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Lambda",
    "Resize",
    "InterpolationMode",
    "supports_batch",
]


def supports_batch(transform: Any) -> bool:
    """True if ``transform`` (or every part of a Compose) can be applied to a whole batch."""
    if transform is None:
        return True
    if isinstance(transform, Compose):
        return all(supports_batch(t) for t in transform.transforms)
    return callable(getattr(transform, "batch", None))


def _unwrap(x: Any) -> tuple[np.ndarray, bool]:
    if isinstance(x, Tensor):
        return x._array, True
    return np.asarray(x), False


def _spatial_axes(ndim: int, is_tensor: bool, batched: bool) -> tuple[int, int]:
    """Axes of (H, W): last two for Tensors, the first two of HW[C] images for arrays."""
    if is_tensor:
        return ndim - 2, ndim - 1
    return (1, 2) if batched else (0, 1)


class Compose:
    """Apply transforms one after the other.

    Example::

        t = Compose([ToTensor(), Normalize((0.1307,), (0.3081,))])
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def batch(self, imgs: Any) -> Any:
        if not supports_batch(self):
            raise TypeError("Compose.batch: every transform must define batch()")
        for t in self.transforms:
            imgs = t.batch(imgs)  # type: ignore[attr-defined]
        return imgs

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t}" for t in self.transforms)
        return f"Compose({inner}\n)"


class ToTensor:
    """Array image (H, W[, C]) -> Tensor (C, H, W); uint8 is scaled to [0, 1] floats.

    :math:`x' = x / 255` for uint8 (in the default float dtype); other dtypes are kept.

    Example::

        ToTensor()(np.zeros((28, 28), np.uint8)).shape    # (1, 28, 28)
    """

    @staticmethod
    def _convert(a: np.ndarray) -> Tensor:
        if a.dtype == np.uint8:
            out = a.astype(default_dtype())
            out *= np.asarray(1 / 255, dtype=out.dtype)
            return _wrap(out)
        return _wrap(np.ascontiguousarray(a))

    def __call__(self, pic: Any) -> Tensor:
        if hasattr(pic, "__array_interface__") and not isinstance(pic, np.ndarray):
            pic = np.asarray(pic)  # a PIL image, when Pillow is installed
        if isinstance(pic, Tensor) or not isinstance(pic, np.ndarray):
            raise TypeError(f"ToTensor: pic should be a NumPy image array, got "
                            f"{type(pic).__name__}")
        if pic.ndim not in (2, 3):
            raise ValueError(f"ToTensor: pic should be 2 or 3 dimensional, got shape {pic.shape}")
        a = pic[None] if pic.ndim == 2 else pic.transpose(2, 0, 1)
        return self._convert(a)

    def batch(self, pics: np.ndarray) -> Tensor:
        """(N, H, W[, C]) -> (N, C, H, W)."""
        if isinstance(pics, Tensor) or pics.ndim not in (3, 4):
            raise ValueError("ToTensor.batch: expected a NumPy array (N, H, W[, C])")
        a = pics[:, None] if pics.ndim == 3 else pics.transpose(0, 3, 1, 2)
        return self._convert(a)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """Per-channel standardisation of a Tensor (..., C, H, W).

    :math:`x'_c = (x_c - \\mathrm{mean}_c) / \\mathrm{std}_c`.

    Example::

        Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(img)
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)
        if np.any(self.std == 0):
            raise ValueError(f"std evaluated to zero, leading to division by zero: {std}")
        self.inplace = inplace

    def __call__(self, tensor: Tensor) -> Tensor:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"Normalize: input should be a Tensor, got {type(tensor).__name__}")
        a = tensor._array
        if a.dtype.kind != "f":
            raise TypeError(f"Normalize: input tensor should be a float tensor, got {a.dtype}")
        if a.ndim < 3:
            raise ValueError(f"Normalize: expected a tensor image of shape (..., C, H, W), got "
                             f"{tuple(a.shape)}")
        c = a.shape[-3]
        if len(self.mean) not in (1, c) or len(self.std) not in (1, c):
            raise ValueError(f"Normalize: {len(self.mean)} means / {len(self.std)} stds for "
                             f"{c} channels")
        mean = self.mean.astype(a.dtype).reshape(-1, 1, 1)
        std = self.std.astype(a.dtype).reshape(-1, 1, 1)
        if self.inplace:
            np.subtract(a, mean, out=a)
            np.divide(a, std, out=a)
            return tensor
        return _wrap((a - mean) / std)

    batch = __call__

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def _pad_widths(padding: Any) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) from an int, a 2-sequence or a 4-sequence."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    p = [int(v) for v in padding]
    if len(p) == 1:
        return p[0], p[0], p[0], p[0]
    if len(p) == 2:
        return p[0], p[1], p[0], p[1]
    if len(p) == 4:
        return p[0], p[1], p[2], p[3]
    raise ValueError(f"padding must be an int or a 1, 2 or 4 element sequence, got {padding}")


class RandomCrop:
    """Crop a random ``size`` window, after optional padding.

    ``padding`` (int, (lr, tb) or (l, t, r, b)) pads first with ``padding_mode``
    (``constant`` with ``fill``, ``edge``, ``reflect``, ``symmetric``); ``pad_if_needed`` pads
    an image smaller than ``size``. Top-left corner :math:`i \\sim U\\{0..H-h\\}`,
    :math:`j \\sim U\\{0..W-w\\}`.

    Example::

        RandomCrop(32, padding=4, generator=chainrule.Generator().manual_seed(0))(img)
    """

    def __init__(self, size: int | Sequence[int], padding: Any = None,
                 pad_if_needed: bool = False, fill: float = 0,
                 padding_mode: str = "constant", generator: Any = None) -> None:
        self.size = (int(size), int(size)) if isinstance(size, int) else tuple(int(s)
                                                                              for s in size)
        if len(self.size) != 2:
            raise ValueError(f"RandomCrop: size should be an int or (h, w), got {size}")
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"RandomCrop: unknown padding_mode {padding_mode!r}")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode
        self.generator = generator

    def _pad(self, a: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
        left = top = right = bottom = 0
        if self.padding is not None:
            left, top, right, bottom = _pad_widths(self.padding)
        th, tw = self.size
        h, w = a.shape[axes[0]] + top + bottom, a.shape[axes[1]] + left + right
        if self.pad_if_needed and w < tw:
            left, right = left + tw - w, right + tw - w
        if self.pad_if_needed and h < th:
            top, bottom = top + th - h, bottom + th - h
        if not (left or top or right or bottom):
            return a
        widths = [(0, 0)] * a.ndim
        widths[axes[0]], widths[axes[1]] = (top, bottom), (left, right)
        if self.padding_mode == "constant":
            return np.pad(a, widths, mode="constant", constant_values=self.fill)
        return np.pad(a, widths, mode=self.padding_mode)

    def _check(self, h: int, w: int) -> None:
        th, tw = self.size
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than the "
                             f"(padded) image size {(h, w)}")

    def __call__(self, img: Any) -> Any:
        a, is_t = _unwrap(img)
        ah, aw = _spatial_axes(a.ndim, is_t, batched=False)
        a = self._pad(a, (ah, aw))
        h, w = a.shape[ah], a.shape[aw]
        self._check(h, w)
        th, tw = self.size
        i = j = 0
        if (h, w) != (th, tw):
            rng = _random_rng(self.generator)
            i = int(rng.integers(0, h - th + 1))
            j = int(rng.integers(0, w - tw + 1))
        index = [slice(None)] * a.ndim
        index[ah], index[aw] = slice(i, i + th), slice(j, j + tw)
        out = np.ascontiguousarray(a[tuple(index)])
        return _wrap(out) if is_t else out

    def batch(self, imgs: Any) -> Any:
        a, is_t = _unwrap(imgs)
        ah, aw = _spatial_axes(a.ndim, is_t, batched=True)
        a = self._pad(a, (ah, aw))
        n, h, w = a.shape[0], a.shape[ah], a.shape[aw]
        self._check(h, w)
        th, tw = self.size
        if (h, w) == (th, tw):
            return _wrap(a) if is_t else a
        rng = _random_rng(self.generator)
        i = rng.integers(0, h - th + 1, size=n)
        j = rng.integers(0, w - tw + 1, size=n)
        # Every crop window as a view; one fancy index picks each sample's window.
        win = sliding_window_view(a, (th, tw), axis=(ah, aw))
        rows = np.arange(n)
        if is_t:
            out = win[(rows,) + (slice(None),) * (a.ndim - 3) + (i, j)]  # (N, ..., th, tw)
        else:
            out = win[rows, i, j]  # (N, [C,] th, tw)
            if a.ndim == 4:
                out = np.moveaxis(out, 1, -1)
        out = np.ascontiguousarray(out)
        return _wrap(out) if is_t else out

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the image left-right with probability ``p``.

    Example::

        RandomHorizontalFlip(p=0.5, generator=g)(img)
    """

    def __init__(self, p: float = 0.5, generator: Any = None) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p
        self.generator = generator

    def __call__(self, img: Any) -> Any:
        a, is_t = _unwrap(img)
        if _random_rng(self.generator).random() < self.p:
            aw = _spatial_axes(a.ndim, is_t, batched=False)[1]
            a = np.ascontiguousarray(np.flip(a, axis=aw))
            return _wrap(a) if is_t else a
        return img

    def batch(self, imgs: Any) -> Any:
        a, is_t = _unwrap(imgs)
        flip = _random_rng(self.generator).random(a.shape[0]) < self.p
        aw = _spatial_axes(a.ndim, is_t, batched=True)[1]
        out = a.copy()
        out[flip] = np.flip(a[flip], axis=aw)
        return _wrap(out) if is_t else out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class InterpolationMode(Enum):
    """torchvision's interpolation modes (``Resize`` implements ``BILINEAR``)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _resized_size(h: int, w: int, size: Sequence[int], max_size: int | None) -> tuple[int, int]:
    """torchvision's output size: (h, w) as given, or one int for the shorter edge keeping
    the aspect ratio (the longer edge truncated, then capped at ``max_size``)."""
    if len(size) == 2:
        if max_size is not None:
            raise ValueError("max_size should only be passed if size specifies the length of "
                             "the smaller edge, i.e. size should be an int or a sequence of "
                             f"length 1 in torchscript mode, got size={list(size)}")
        return int(size[0]), int(size[1])
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = int(size[0]), int(int(size[0]) * long / short)
    if max_size is not None:
        if max_size <= new_short:
            raise ValueError(f"max_size = {max_size} must be strictly greater than the "
                             f"requested size for the smaller edge size = {list(size)}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


class Resize:
    """Resize an image to ``size`` by bilinear interpolation (torchvision's ``Resize``).

    ``size`` (h, w), or an int (or [int]) for the shorter edge with the aspect ratio kept:
    the longer edge becomes ⌊size·long/short⌋, capped at ``max_size``. The values are those
    of ``torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False,
    antialias=antialias)`` (see :mod:`chainrule.vision.resample`), which is what torchvision
    computes for tensors. Integer images (uint8 arrays standing in for PIL images, or integer
    tensors) are resized in float and rounded back, as torchvision does for tensors; PIL's
    own resize rounds slightly differently.

    Example::

        Resize(16)(chainrule.rand(3, 32, 48)).shape      # (3, 16, 24)
    """

    def __init__(self, size: int | Sequence[int], interpolation: Any = InterpolationMode.BILINEAR,
                 max_size: int | None = None, antialias: bool | None = True) -> None:
        sizes = [size] if isinstance(size, int) else list(size)
        if not 1 <= len(sizes) <= 2 or not all(isinstance(v, int) and v > 0 for v in sizes):
            raise ValueError(f"Resize: size should be an int or a sequence of 1 or 2 positive "
                             f"ints, got {size!r}")
        mode = InterpolationMode(interpolation.value if isinstance(interpolation, Enum)
                                 else interpolation)
        if mode is not InterpolationMode.BILINEAR:
            raise ValueError(f"Resize: interpolation {mode.value!r} is not implemented; "
                             "chainrule implements 'bilinear'")
        self.size = size
        self.interpolation = mode
        self.max_size = max_size
        self.antialias = True if antialias is None else bool(antialias)
        self._sizes = sizes

    def _resize(self, img: Any, batched: bool) -> Any:
        a, is_t = _unwrap(img)
        if a.ndim < (3 if batched else 2):
            raise ValueError(f"Resize: expected an image with at least 2 dims, got shape "
                             f"{a.shape}")
        axes = _spatial_axes(a.ndim, is_t, batched)
        h, w = a.shape[axes[0]], a.shape[axes[1]]
        new = _resized_size(h, w, self._sizes, self.max_size)
        if new == (h, w):
            return img
        if np.issubdtype(a.dtype, np.floating):
            out = resize_bilinear(a, new, axes, self.antialias)
        else:
            out = resize_bilinear(a.astype(np.float32), new, axes, self.antialias)
            info = np.iinfo(a.dtype)
            out = np.clip(np.round(out), info.min, info.max).astype(a.dtype)
        out = np.ascontiguousarray(out)
        return _wrap(out) if is_t else out

    def __call__(self, img: Any) -> Any:
        return self._resize(img, batched=False)

    def batch(self, imgs: Any) -> Any:
        return self._resize(imgs, batched=True)

    def __repr__(self) -> str:
        return (f"Resize(size={self.size}, interpolation={self.interpolation.value}, "
                f"max_size={self.max_size}, antialias={self.antialias})")


class Lambda:
    """Apply a user function as a transform (per sample only).

    Example::

        Lambda(lambda x: x * 2)
    """

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return "Lambda()"
