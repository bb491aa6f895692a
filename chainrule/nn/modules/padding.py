"""nn modules: zero / constant / reflection / replication / circular padding of the last 1, 2
or 3 dims (PyTorch's constructors, attributes and reprs; the maths is ``F.pad``).

``padding`` is an int (the same width on every side) or a tuple (left, right[, top, bottom[,
front, back]]), stored as that tuple, as in PyTorch.

Example::

    nn.ReflectionPad2d((1, 1, 2, 0))(chainrule.randn(1, 3, 4, 4)).shape   # (1, 3, 6, 6)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chainrule.nn._functional.padding import pad
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor

__all__ = [
    "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
    "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
]


def _widths(padding: Any, n: int) -> tuple[Any, ...]:
    """PyTorch's ``_ntuple``: an iterable is kept as given, a scalar is repeated n times."""
    if isinstance(padding, Iterable):
        return tuple(padding)
    return (padding,) * n


class _PadNd(Module):
    """Shared body: ``_mode`` names the ``F.pad`` mode, ``_sides`` = 2 × the padded dims."""

    _mode = "constant"
    _sides = 2

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _widths(padding, self._sides)

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with ``value``: (N, C, W) -> (N, C, W + left + right)."""


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with ``value``: (N, C, H, W) -> (N, C, H + top + bottom,
    W + left + right)."""

    _sides = 4


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with ``value`` (N, C, D, H, W)."""

    _sides = 6


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dim with zeros."""


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dims with zeros."""

    _sides = 4


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dims with zeros."""

    _sides = 6


def _mode_pad(name: str, base: type, mode: str, dims: int, doc: str) -> type:
    """One PyTorch padding class: ``base`` with mode ``mode`` over the last ``dims`` dims."""
    return type(name, (base,), {"_mode": mode, "_sides": 2 * dims, "__doc__": doc,
                                "__module__": __name__})


_REFLECT = "Mirror the last {} about the edges (the edge not repeated); widths < the size."
_REPLICATE = "Repeat the edge values of the last {}."
ReflectionPad1d = _mode_pad("ReflectionPad1d", _PadNd, "reflect", 1, _REFLECT.format("dim"))
ReflectionPad2d = _mode_pad("ReflectionPad2d", _PadNd, "reflect", 2, _REFLECT.format("2 dims"))
ReflectionPad3d = _mode_pad("ReflectionPad3d", _PadNd, "reflect", 3, _REFLECT.format("3 dims"))
ReplicationPad1d = _mode_pad("ReplicationPad1d", _PadNd, "replicate", 1,
                             _REPLICATE.format("dim"))
ReplicationPad2d = _mode_pad("ReplicationPad2d", _PadNd, "replicate", 2,
                             _REPLICATE.format("2 dims"))
ReplicationPad3d = _mode_pad("ReplicationPad3d", _PadNd, "replicate", 3,
                             _REPLICATE.format("3 dims"))


class _CircularPadNd(_PadNd):
    _mode = "circular"

    def forward(self, input: Tensor) -> Tensor:
        lo = self._sides // 2 + 1
        if input.ndim not in (lo, lo + 1):
            raise ValueError(f"expected {lo}D or {lo + 1}D input (got {input.ndim}D input)")
        return pad(input, self.padding, "circular")


class CircularPad1d(_CircularPadNd):
    """Wrap the last dim around: the left pad copies the end, the right pad the start."""


class CircularPad2d(_CircularPadNd):
    """Wrap the last two dims around (a torus)."""

    _sides = 4


class CircularPad3d(_CircularPadNd):
    """Wrap the last three dims around."""

    _sides = 6
