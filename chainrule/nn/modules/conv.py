"""nn modules: ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d`` (PyTorch's parameters, state_dict
keys ``weight`` / ``bias`` and default initialisation)."""

from __future__ import annotations

import math
from typing import Any

from chainrule._device import data_device
from chainrule.backend import to_dtype, xp
from chainrule.nn import init
from chainrule.nn._functional import conv as F
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d", "Unfold", "Fold"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """Shared state of convolutions: hyper-parameters, ``weight``, ``bias`` and their init."""

    _nd = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", output_padding: Any = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        n = self._nd
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by groups "
                             f"({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, but got "
                             f"padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = F._ntuple(kernel_size, n, "kernel_size")
        self.stride = F._ntuple(stride, n, "stride")
        self.dilation = F._ntuple(dilation, n, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: invalid padding string {padding!r}, should be one of "
                                 "'valid', 'same'")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding: Any = padding
        else:
            self.padding = F._ntuple(padding, n, "padding")
        self.output_padding = F._ntuple(output_padding, n, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        pads = F.conv_pads(self.padding, self.kernel_size, (1,) * n, self.dilation)
        # F.pad order (last dim first) for the non-zero padding modes, as PyTorch stores it
        self._reversed_padding_repeated_twice = tuple(
            v for lo_hi in reversed(pads) for v in lo_hi
        )
        if self.transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        if device is not None:
            data_device(device)
        dt = to_dtype(dtype)
        self.weight = Parameter(xp.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(xp.empty((out_channels,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: W ~ kaiming_uniform(a=√5) = U(±1/√fan_in), b ~ U(±1/√fan_in),
        fan_in = weight.shape[1] · prod(kernel_size)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        n = self._nd
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _fn = staticmethod(F.conv2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The convolution with a given weight and bias (DropConnect substitutes its own)."""
        if self.padding_mode != "zeros":
            x = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return self._fn(x, weight, bias, self.stride, 0, self.dilation, self.groups)
        return self._fn(input, weight, bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L): y[n, o] = b[o] + Σ_c W[o, c] ⋆ x[n, c].

    Example::

        conv = nn.Conv1d(4, 8, kernel_size=3, padding="same")
        y = conv(chainrule.randn(2, 4, 50))     # shape (2, 8, 50)
    """

    _nd = 1
    _fn = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W):
    y[n, o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] x_pad[n, c, i·s + p·d, j·s + q·d],
    H_out = ⌊(H + 2·pad − d·(k − 1) − 1)/s⌋ + 1. Weight (C_out, C_in/groups, kH, kW).

    Example::

        conv = nn.Conv2d(1, 32, 3)
        y = conv(chainrule.randn(64, 1, 28, 28))     # shape (64, 32, 26, 26)
    """

    _nd = 2
    _fn = staticmethod(F.conv2d)


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W), the same formula over three spatial dims.

    Example::

        y = nn.Conv3d(2, 4, 3)(chainrule.randn(1, 2, 5, 5, 5))     # shape (1, 4, 3, 3, 3)
    """

    _nd = 3
    _fn = staticmethod(F.conv3d)


class _ConvTranspose(_ConvNd):
    transposed = True
    _fn = staticmethod(F.conv_transpose2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for '
                             f"{type(self).__name__}")
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, ...]:
        """output_padding giving ``output_size`` (which must lie in [min, min + stride − 1])."""
        if output_size is None:
            return self.output_padding
        n = self._nd
        size = tuple(output_size)[-n:]
        if len(size) != n:
            raise ValueError(f"{type(self).__name__}: output_size must have {n} or {n + 2} "
                             f"elements, got {tuple(output_size)}")
        res = []
        for i in range(n):
            lo = F.transpose_out_size(input.shape[input.ndim - n + i], self.kernel_size[i],
                                      self.stride[i], self.padding[i], self.dilation[i], 0)
            hi = lo + self.stride[i] - 1
            if not lo <= size[i] <= hi:
                raise ValueError(
                    f"requested an output size of {size}, but valid sizes range from "
                    f"{lo} to {hi} (for an input of {tuple(input.shape[-n:])}) in dim {i}"
                )
            res.append(size[i] - lo)
        return tuple(res)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        op = self._output_padding(input, output_size)
        return self._fn(input, self.weight, self.bias, self.stride, self.padding, op,
                        self.groups, self.dilation)

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return self._fn(input, weight, bias, self.stride, self.padding, self.output_padding,
                        self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution (the input-gradient of Conv1d), output length
    (L − 1)·s − 2·pad + d·(k − 1) + output_padding + 1. Weight (C_in, C_out/groups, k).

    Example::

        up = nn.ConvTranspose1d(8, 4, 2, stride=2)
        y = up(chainrule.randn(3, 8, 10))     # shape (3, 4, 20)
    """

    _nd = 1
    _fn = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution: x[n, c, i·s + p·d − pad, j·s + q·d − pad] += Σ_o W[o, c, p, q]
    y[n, o, i, j] (+ b[c]); H_out = (H − 1)·s − 2·pad + d·(k − 1) + output_padding + 1.
    Weight (C_in, C_out/groups, kH, kW).

    Example::

        up = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
        y = up(chainrule.randn(2, 16, 7, 7))     # shape (2, 8, 14, 14)
    """

    _nd = 2
    _fn = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution, the same formula over three spatial dims.

    Example::

        y = nn.ConvTranspose3d(2, 2, 2, stride=2)(chainrule.randn(1, 2, 3, 3, 3))  # (1,2,6,6,6)
    """

    _nd = 3
    _fn = staticmethod(F.conv_transpose3d)


class Unfold(Module):
    """Extract sliding local blocks: (N, C, *S) -> (N, C·prod(kernel_size), L) (im2col).

    Example::

        nn.Unfold(kernel_size=(2, 3))(chainrule.randn(2, 5, 3, 4)).shape     # (2, 30, 4)
    """

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Sum sliding local blocks back into (N, C, *output_size) (col2im, the adjoint of Unfold).

    Example::

        nn.Fold((4, 5), (2, 2))(chainrule.randn(1, 12, 12)).shape     # (1, 3, 4, 5)
    """

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")



def __getattr__(name: str) -> Any:
    """``LazyLinear``/``LazyConv*`` under this path too, as in PyTorch."""
    from chainrule.nn.modules._lazy_names import lazy_attribute

    return lazy_attribute(__name__, name)
