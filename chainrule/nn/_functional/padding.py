"""nn.functional: ``pad`` in its four modes, with PyTorch's checks and error messages.

``constant`` pads any number of trailing dims with a value (negative widths crop). The other
modes gather: each padded dim is an index map i -> src(i) applied by advanced indexing, whose
gradient (scatter-add) sums every output position back onto the source element it copied:

* ``reflect``   src(i) = m - |m - |i||, m = size - 1 (mirror, the edge not repeated);
* ``replicate`` src(i) = clip(i, 0, size - 1)      (the edge repeated);
* ``circular``  src(i) = i mod size                (wrap around; a negative width crops
  first and the cropped span wraps);

for i in [-left, size + right). As in PyTorch, the non-constant modes pad the last 1, 2 or 3
dims of a (batched or unbatched) 2-D to 5-D input only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.backend import xp
from chainrule.tensor import Tensor

__all__ = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


def _gather_index(length: int, lo: int, hi: int, mode: str) -> Any:
    """The source index of each output position along one dim (see the module docstring)."""
    i = xp.arange(-lo, length + hi)
    if mode == "reflect":
        m = length - 1
        return m - xp.abs(m - xp.abs(i)) if m else xp.zeros_like(i)
    if mode == "replicate":
        return xp.clip(i, 0, length - 1)
    # circular, as PyTorch: negative widths crop first, then the cropped span wraps around
    start, kept = max(-lo, 0), length + min(lo, 0) + min(hi, 0)
    return start + xp.arange(-max(lo, 0), kept + max(hi, 0)) % kept


def _check_non_constant(input: Tensor, pad: tuple[int, ...], mode: str) -> None:
    """PyTorch's dimensionality and size checks for reflect / replicate / circular padding."""
    n = len(pad) // 2
    if input.ndim not in (n + 1, n + 2) or n > 3:
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    for i in range(n):
        lo, hi = pad[2 * i], pad[2 * i + 1]
        dim = input.ndim - 1 - i
        size = input.shape[dim]
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(
                f"Argument #{4 + 2 * i}: Padding size should be less than the corresponding "
                f"input dimension, but got: padding ({lo}, {hi}) at dimension {dim} of input "
                f"{list(input.shape)}"
            )
        if mode == "circular" and (lo > size or hi > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if size + lo + hi <= 0:
            raise RuntimeError(
                f"{mode} padding: the padded size {size + lo + hi} of dimension {dim} of input "
                f"{list(input.shape)} is not positive"
            )


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims; ``pad`` lists (left, right) for the last dim first,
    then the one before, ... Modes: ``constant`` (``value``, default 0), ``reflect`` (mirror
    without repeating the edge), ``replicate`` (repeat the edge), ``circular`` (wrap around).
    Negative widths crop.

    Example::

        F.pad(chainrule.arange(3.0).reshape(1, 1, 3), (2, 1), mode="reflect")
        # tensor([[[2., 1., 0., 1., 2., 1.]]])
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {input.ndim}"
        )
    if mode == "constant":
        return input.pad(pad, 0.0 if value is None else value)
    if mode not in _MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    _check_non_constant(input, pad, mode)
    out = input
    for i in range(len(pad) // 2):
        lo, hi = pad[2 * i], pad[2 * i + 1]
        if lo == 0 and hi == 0:
            continue
        dim = input.ndim - 1 - i
        idx = _gather_index(input.shape[dim], lo, hi, mode)
        out = out[(slice(None),) * dim + (idx,)]
    return out
