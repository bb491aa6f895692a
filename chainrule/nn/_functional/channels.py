"""nn.functional: cross-channel layers of classic CNNs and the Gumbel-softmax relaxation.

* ``local_response_norm`` (AlexNet): y_c = x_c / (k + α/n Σ_{c' ∈ window(c)} x_{c'}²)^β, the
  window of n channels from c - ⌊n/2⌋ to c + ⌊(n-1)/2⌋, zero beyond the edges (the divisor
  stays n, as PyTorch's zero-padded average pooling).
* ``channel_shuffle`` (ShuffleNet): channels (g, C/g) transposed to (C/g, g).
* ``gumbel_softmax``: softmax((logits + G) / τ) with G ~ Gumbel(0, 1) = -log E, E ~ Exp(1),
  drawn from ``generator`` (or the default one); ``hard`` returns the one-hot of the argmax
  with the soft sample's gradient (straight-through: y_hard - sg(y_soft) + y_soft).
"""

from __future__ import annotations

import warnings
from typing import Any

from chainrule import random as _random
from chainrule.backend import xp
from chainrule.nn._functional.activation import softmax
from chainrule.tensor import Tensor, _wrap

__all__ = ["local_response_norm", "channel_shuffle", "gumbel_softmax"]


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """Normalise each channel by the energy of its ``size`` neighbouring channels (dim 1):
    y = x / (k + α · mean_window(x²))^β, the mean over a zero-padded window of ``size``."""
    if input.ndim < 3:
        raise ValueError(
            "Expected 3D or higher dimensionality                          input (got "
            f"{input.ndim} dimensions)"
        )
    if input.numel() == 0:
        return input
    channels = input.shape[1]
    widths = (0, 0) * (input.ndim - 2) + (size // 2, (size - 1) // 2)
    sq = (input * input).pad(widths, 0.0)
    total = sq[:, 0:channels]
    for j in range(1, size):  # the window sum as `size` shifted slices (size is small: 2-5)
        total = total + sq[:, j:j + channels]
    div = (total * (alpha / size) + k) ** beta
    return input / div


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, g·m, *) -> view (N, g, m, *) -> swap to (N, m, g, *) -> (N, m·g, *): output channel
    i·g + j is input channel j·m + i."""
    if input.ndim <= 2:
        raise RuntimeError(
            "channel_shuffle expects input with > 2 dims, but got input with sizes "
            f"{list(input.shape)}"
        )
    if groups <= 0:
        raise RuntimeError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    c = input.shape[1]
    if c % groups:
        raise RuntimeError(
            f"Number of channels must be divisible by groups. Got {c} channels and {groups} "
            "groups."
        )
    n, rest = input.shape[0], tuple(input.shape[2:])
    return (input.reshape((n, groups, c // groups) + rest).transpose(1, 2)
            .reshape((n, c) + rest))


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1, generator: Any = None) -> Tensor:
    """A sample from the Gumbel-softmax (Concrete) distribution over ``dim``:
    y = softmax((logits + G) / τ), G_i = -log E_i, E_i ~ Exp(1) i.i.d. With ``hard`` the value
    is one_hot(argmax y) and the gradient that of y (straight-through). ``eps`` is deprecated
    and unused, as in PyTorch; ``generator`` is chainrule's addition (PyTorch has none).

    Example::

        F.gumbel_softmax(logits, tau=0.5, hard=True, generator=chainrule.Generator().manual_seed(0))
    """
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    e = _random.rng(generator).standard_exponential(tuple(logits.shape))
    gumbels = _wrap(-xp.log(e).astype(logits.dtype, copy=False))
    y_soft = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = xp.argmax(y_soft._array, axis=dim)
    y_hard = xp.zeros(y_soft.shape, dtype=y_soft.dtype)
    xp.put_along_axis(y_hard, xp.expand_dims(index, dim), 1.0, axis=dim)
    return _wrap(y_hard) - y_soft.detach() + y_soft
