"""nn modules: max / average / adaptive pooling and nearest-neighbour upsampling (PyTorch's
constructor arguments, attributes and reprs). The maths is in ``nn.functional``."""

from __future__ import annotations

from typing import Any

from chainrule.nn._functional import pooling as F
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor

__all__ = [
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "FractionalMaxPool2d", "FractionalMaxPool3d",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "PixelShuffle", "PixelUnshuffle",
]


class _MaxPoolNd(Module):
    _fn = staticmethod(F.max_pool2d)

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        return self._fn(input, self.kernel_size, self.stride, self.padding, self.dilation,
                        ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """y[n, c, l] = max_k x_pad[n, c, l·stride + k·dilation] over (N, C, L) (padding is −∞).

    Example::

        nn.MaxPool1d(2)(chainrule.randn(4, 3, 10)).shape     # (4, 3, 5)
    """

    _fn = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """y[n, c, i, j] = max_{p, q} x_pad[n, c, i·s + p·d, j·s + q·d] over (N, C, H, W);
    H_out = ⌊(H + 2·pad − d·(k − 1) − 1)/s⌋ + 1 (⌈·⌉ with ``ceil_mode``). With
    ``return_indices`` the flat index h·W + w of each maximum is returned too.

    Example::

        pool = nn.MaxPool2d(2)
        pool(chainrule.randn(64, 64, 24, 24)).shape     # (64, 64, 12, 12)
    """

    _fn = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling over (N, C, D, H, W).

    Example::

        nn.MaxPool3d(2)(chainrule.randn(1, 2, 4, 4, 4)).shape     # (1, 2, 2, 2, 2)
    """

    _fn = staticmethod(F.max_pool3d)


class AvgPool1d(Module):
    """y[n, c, l] = (1/k) Σ_j x_pad[n, c, l·stride + j] over (N, C, L).

    Example::

        nn.AvgPool1d(3, stride=2)(chainrule.randn(4, 3, 11)).shape     # (4, 3, 5)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = F._ntuple(kernel_size, 1, "kernel_size")
        self.stride = F._ntuple(stride if stride is not None else kernel_size, 1, "stride")
        self.padding = F._ntuple(padding, 1, "padding")
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(Module):
    _fn = staticmethod(F.avg_pool2d)

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                        self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """y[n, c, i, j] = (1/D) Σ_{p, q} x_pad[n, c, i·s + p, j·s + q] over (N, C, H, W); D is the
    window area (clipped to input + padding), the count of real inputs when
    ``count_include_pad=False``, or ``divisor_override``.

    Example::

        nn.AvgPool2d(2)(chainrule.randn(2, 3, 8, 8)).shape     # (2, 3, 4, 4)
    """

    _fn = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """3-D average pooling over (N, C, D, H, W).

    Example::

        nn.AvgPool3d(2)(chainrule.randn(1, 2, 4, 4, 4)).shape     # (1, 2, 2, 2, 2)
    """

    _fn = staticmethod(F.avg_pool3d)


class _AdaptivePool(Module):
    _fn = staticmethod(F.adaptive_avg_pool2d)

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool):
    """Average over windows [⌊i·L/out⌋, ⌈(i+1)·L/out⌉) giving length ``output_size``.

    Example::

        nn.AdaptiveAvgPool1d(4)(chainrule.randn(2, 3, 10)).shape     # (2, 3, 4)
    """

    _fn = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average over adaptive windows giving spatial size ``output_size`` (``None`` keeps a dim);
    ``AdaptiveAvgPool2d(1)`` is global average pooling.

    Example::

        nn.AdaptiveAvgPool2d((1, 1))(chainrule.randn(2, 512, 7, 7)).shape   # (2, 512, 1, 1)
    """

    _fn = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptivePool):
    """3-D adaptive average pooling.

    Example::

        nn.AdaptiveAvgPool3d(1)(chainrule.randn(1, 2, 3, 4, 5)).shape     # (1, 2, 1, 1, 1)
    """

    _fn = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxPool(Module):
    _fn = staticmethod(F.adaptive_max_pool2d)

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        return self._fn(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """Maximum over windows [⌊i·L/out⌋, ⌈(i+1)·L/out⌉).

    Example::

        nn.AdaptiveMaxPool1d(3)(chainrule.randn(2, 3, 10)).shape     # (2, 3, 3)
    """

    _fn = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """Maximum over adaptive windows giving spatial size ``output_size``.

    Example::

        nn.AdaptiveMaxPool2d((2, 3))(chainrule.randn(1, 4, 7, 9)).shape     # (1, 4, 2, 3)
    """

    _fn = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    """3-D adaptive max pooling.

    Example::

        nn.AdaptiveMaxPool3d(2)(chainrule.randn(1, 2, 5, 6, 7)).shape     # (1, 2, 2, 2, 2)
    """

    _fn = staticmethod(F.adaptive_max_pool3d)


class FractionalMaxPool2d(Module):
    """Fractional max pooling (Graham, 2014): ``kernel_size`` windows at pseudo-random starts
    (drawn per plane from the default generator each call) giving ``output_size`` or
    ⌊input·``output_ratio``⌋.

    Example::

        nn.FractionalMaxPool2d(3, output_ratio=0.5)(chainrule.randn(1, 2, 12, 12)).shape
        # (1, 2, 6, 6)
    """

    _fn = staticmethod(F.fractional_max_pool2d)

    def __init__(self, kernel_size: Any, output_size: Any = None, output_ratio: Any = None,
                 return_indices: bool = False, _random_samples: Tensor | None = None) -> None:
        super().__init__()
        if output_size is None and output_ratio is None:
            raise ValueError(f"{type(self).__name__} requires specifying either an output size, "
                             "or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        ratios = (output_ratio,) if isinstance(output_ratio, (int, float)) else (
            output_ratio or ())
        if any(not 0 < r < 1 for r in ratios):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")
        self.kernel_size = kernel_size
        self.output_size = output_size
        self.output_ratio = output_ratio
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)

    def forward(self, input: Tensor) -> Any:
        return self._fn(input, self.kernel_size, self.output_size, self.output_ratio,
                        self.return_indices, _random_samples=self._random_samples)


class FractionalMaxPool3d(FractionalMaxPool2d):
    """3-D fractional max pooling.

    Example::

        nn.FractionalMaxPool3d(2, output_size=3)(chainrule.randn(1, 1, 6, 6, 6)).shape
        # (1, 1, 3, 3, 3)
    """

    _fn = staticmethod(F.fractional_max_pool3d)


class Upsample(Module):
    """Resize (N, C, *spatial) to ``size`` or by ``scale_factor`` with
    :func:`~chainrule.nn.functional.interpolate`'s ``mode``: nearest(-exact), (bi/tri)linear,
    bicubic or area.

    Example::

        nn.Upsample(scale_factor=2)(chainrule.randn(1, 3, 4, 4)).shape     # (1, 3, 8, 8)
    """

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor: Any = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(mode="nearest")`` for (N, C, H, W) inputs.

    Example::

        nn.UpsamplingNearest2d(scale_factor=3)(chainrule.randn(1, 1, 2, 2)).shape  # (1,1,6,6)
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(mode="bilinear", align_corners=True)`` for (N, C, H, W) inputs.

    Example::

        nn.UpsamplingBilinear2d(scale_factor=2)(chainrule.randn(1, 1, 2, 2)).shape  # (1,1,4,4)
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """(*, C·r², H, W) → (*, C, H·r, W·r); see :func:`~chainrule.nn.functional.pixel_shuffle`.

    Example::

        nn.PixelShuffle(2)(chainrule.randn(1, 8, 3, 3)).shape     # (1, 2, 6, 6)
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H·r, W·r) → (*, C·r², H, W), the inverse of :class:`PixelShuffle`.

    Example::

        nn.PixelUnshuffle(2)(chainrule.randn(1, 2, 6, 6)).shape   # (1, 8, 3, 3)
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"

# PyTorch's torch.nn.modules.pooling also holds the unpooling and power-average layers
from chainrule.nn.modules.unpool import (  # noqa: E402
    LPPool1d,
    LPPool2d,
    LPPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
)

__all__ += ["MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "LPPool1d", "LPPool2d", "LPPool3d"]
