"""``nn.MaxUnpool1d/2d/3d`` and ``nn.LPPool1d/2d/3d`` (``nn.functional``'s max_unpool and
lp_pool as modules)."""

from __future__ import annotations

from typing import Any

from chainrule.nn._functional import unpool as F
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor

__all__ = ["MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "LPPool1d", "LPPool2d", "LPPool3d"]


class _MaxUnpoolNd(Module):
    _n = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = F._tuple(kernel_size, self._n)
        self.stride = F._tuple(stride if stride is not None else kernel_size, self._n)
        self.padding = F._tuple(padding, self._n)

    def forward(self, input: Tensor, indices: Tensor, output_size: Any = None) -> Tensor:
        return F._max_unpool(input, indices, self.kernel_size, self.stride, self.padding,
                             output_size, self._n)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool1d(..., return_indices=True)``: the maxima back at their
    positions, zeros elsewhere.

    Example::

        pool, unpool = nn.MaxPool1d(2, return_indices=True), nn.MaxUnpool1d(2)
        y, idx = pool(chainrule.randn(1, 1, 8))
        unpool(y, idx).shape     # (1, 1, 8)
    """

    _n = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool2d(..., return_indices=True)`` (SegNet-style decoders).

    Example::

        pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
        y, idx = pool(chainrule.randn(1, 3, 8, 8))
        unpool(y, idx).shape     # (1, 3, 8, 8)
    """

    _n = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool3d(..., return_indices=True)``.

    Example::

        nn.MaxUnpool3d(2)
    """

    _n = 3


class _LPPoolNd(Module):
    _fn = staticmethod(F.lp_pool2d)

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, float(self.norm_type), self.kernel_size, self.stride,
                        self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """(Σ_window xᵖ)^(1/p) over windows of (N, C, L).

    Example::

        nn.LPPool1d(2, 3)(chainrule.randn(1, 2, 9)).shape     # (1, 2, 3)
    """

    _fn = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """(Σ_window xᵖ)^(1/p) over windows of (N, C, H, W).

    Example::

        nn.LPPool2d(2, 2)(chainrule.randn(1, 2, 8, 8)).shape     # (1, 2, 4, 4)
    """

    _fn = staticmethod(F.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """(Σ_window xᵖ)^(1/p) over windows of (N, C, D, H, W).

    Example::

        nn.LPPool3d(2, 2)
    """

    _fn = staticmethod(F.lp_pool3d)
