"""nn.functional: the dropout family (masks drawn from an explicit generator).

Every function multiplies the input by a random constant mask (and for the alpha variants adds
a constant), so its gradient is the same mask: these are composites of primitives. Masks come
from ``generator`` (a ``chainrule.Generator``); without one, from
``chainrule.random.default_generator``, so ``chainrule.manual_seed`` makes runs reproducible.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from chainrule import random as _random
from chainrule.backend import xp
from chainrule.tensor import Tensor, _wrap

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
           "feature_alpha_dropout"]

# SELU's negative saturation value: −λα (Klambauer et al. 2017)
_SELU_ALPHA = 1.7580993408473766


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(shape: tuple[int, ...], p: float, dtype: Any, generator: Any,
               scale: float = 1.0) -> Any:
    """Bernoulli(1 − p) draws of ``shape`` times ``scale`` (entries 0 or scale) as ``dtype``:
    one uniform draw (float32 for float32, else float64) compared, then scaled into the draw's
    own buffer (no second float array, one pass fewer)."""
    u = _random.rng(generator).random(shape, dtype=xp.float32 if dtype == xp.float32
                                      else xp.float64)
    xp.multiply(u >= p, u.dtype.type(scale), out=u)
    return u.astype(dtype, copy=False)


def _apply(input: Tensor, scale: Any, shift: Any, inplace: bool) -> Tensor:
    """x·scale (+ shift), in place when asked (the mask is a graph constant)."""
    if inplace:
        input.mul_(_wrap(scale))
        if shift is not None:
            input.add_(_wrap(shift))
        return input
    out = input * _wrap(scale)
    return out + _wrap(shift) if shift is not None else out


def _dropout(input: Tensor, p: float, training: bool, inplace: bool, generator: Any,
             mask_shape: tuple[int, ...]) -> Tensor:
    _check_p(p)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return _apply(input, xp.zeros((), dtype=input.dtype), None, inplace)
    mask = _keep_mask(mask_shape, p, input.dtype, generator, 1.0 / (1.0 - p))
    return _apply(input, mask, None, inplace)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator: Any = None) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014): y = x ⊙ m / (1 − p), m_i ~ Bernoulli(1 − p)
    independently per element in training; y = x otherwise.

    Example::

        y = F.dropout(chainrule.ones(4, 4), p=0.5, generator=chainrule.Generator().manual_seed(0))
    """
    return _dropout(input, p, training, inplace, generator, tuple(input.shape))


def _feature_shape(input: Tensor) -> tuple[int, ...]:
    """One mask entry per (sample, channel): (N, C, 1, ..., 1)."""
    return tuple(input.shape[:2]) + (1,) * (input.ndim - 2)


def _feature(input: Tensor, p: float, training: bool, inplace: bool, generator: Any,
             batched_dims: int, what: str) -> Tensor:
    """Channel-wise dropout for inputs with ``batched_dims`` (or one fewer: unbatched) dims."""
    if input.ndim not in (batched_dims - 1, batched_dims):
        raise RuntimeError(
            f"{what}: Expected {batched_dims - 1}D or {batched_dims}D input, but received a "
            f"{input.ndim}D input of size {list(input.shape)}"
        )
    if input.ndim == batched_dims - 1:
        shape = (input.shape[0],) + (1,) * (input.ndim - 1)
    else:
        shape = _feature_shape(input)
    return _dropout(input, p, training, inplace, generator, shape)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Any = None) -> Tensor:
    """Channel-wise dropout of (N, C, L) or (C, L): whole channels x[n, c, :] are zeroed with
    probability p and the rest scaled by 1/(1 − p)."""
    return _feature(input, p, training, inplace, generator, 3, "dropout1d")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Any = None) -> Tensor:
    """Spatial (channel-wise) dropout, Tompson et al. 2015: whole feature maps x[n, c, :, :]
    of (N, C, H, W) are zeroed with probability p and the rest scaled by 1/(1 − p). Adjacent
    pixels of a map are strongly correlated, so element-wise dropout barely regularises CNNs.

    A 3-D input is treated as (N, C, L), as PyTorch does (with the same warning).
    """
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      "deprecated; dropout2d expects (N, C, H, W) or (C, H, W)", stacklevel=2)
    elif input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), where C is the channel dim.", stacklevel=2)
    return _dropout(input, p, training, inplace, generator, _feature_shape(input))


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Any = None) -> Tensor:
    """Channel-wise dropout of (N, C, D, H, W) or (C, D, H, W): whole volumes zeroed."""
    return _feature(input, p, training, inplace, generator, 5, "dropout3d")


def _alpha(input: Tensor, p: float, training: bool, inplace: bool, generator: Any,
           mask_shape: tuple[int, ...]) -> Tensor:
    _check_p(p)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return _apply(input, xp.zeros((), dtype=input.dtype), None, inplace)
    a = 1.0 / math.sqrt((_SELU_ALPHA**2 * p + 1.0) * (1.0 - p))
    keep = _keep_mask(mask_shape, p, input.dtype, generator)
    shift = (keep - 1.0) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p
    keep *= a
    return _apply(input, keep, shift.astype(input.dtype, copy=False), inplace)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False,
                  generator: Any = None) -> Tensor:
    """Alpha dropout for SELU networks (Klambauer et al. 2017): dropped units are set to SELU's
    saturation −α' (α' = 1.7581) instead of 0, then y = a·(x ⊙ m − α'(1 − m)) + a·α'·p with
    a = ((1 − p)(1 + p α'²))^(−1/2), which keeps zero mean and unit variance."""
    return _alpha(input, p, training, inplace, generator, tuple(input.shape))


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False, generator: Any = None) -> Tensor:
    """Alpha dropout of whole channels x[n, c, ...] (one mask entry per sample and channel)."""
    return _alpha(input, p, training, inplace, generator, _feature_shape(input))
