"""nn modules: ``Identity``, ``Linear``, ``Bilinear``; shape layers ``Flatten``, ``Unflatten``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule._device import data_device
from chainrule.backend import to_dtype, xp
from chainrule.nn import init
from chainrule.nn._functional import linear as F
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

__all__ = ["Identity", "Linear", "Bilinear", "Flatten", "Unflatten"]


def _param(shape: tuple[int, ...], dtype: Any, device_: Any) -> Parameter:
    """An uninitialised parameter of ``shape`` (float32 unless ``dtype``); 'cpu' only."""
    if device_ is not None:
        data_device(device_)
    return Parameter(xp.empty(shape, dtype=to_dtype(dtype)))


class Identity(Module):
    """y = x (arguments are accepted and ignored, as in PyTorch).

    Example::

        nn.Identity()(chainrule.ones(2))     # tensor([1., 1.])
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x Wᵀ + b, with W: (out_features, in_features) and b: (out_features,).

    Default init (PyTorch's): W and b ~ U(-1/√in_features, 1/√in_features), i.e.
    ``kaiming_uniform_(W, a=√5)`` for the weight.

    Example::

        fc = nn.Linear(20, 30)
        y = fc(chainrule.randn(128, 20))     # shape (128, 30)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = _param((out_features, in_features), dtype, device)
        if bias:
            self.bias = _param((out_features,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """W ~ kaiming_uniform(a=√5) = U(±1/√fan_in); b ~ U(±1/√fan_in)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """y_k = x₁ᵀ W_k x₂ + b_k, with W: (out_features, in1_features, in2_features).

    Default init: W and b ~ U(-1/√in1_features, 1/√in1_features).

    Example::

        m = nn.Bilinear(20, 30, 40)
        y = m(chainrule.randn(128, 20), chainrule.randn(128, 30))   # shape (128, 40)
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = _param((out_features, in1_features, in2_features), dtype, device)
        if bias:
            self.bias = _param((out_features,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` into one (a view): (N, C, H, W) -> (N, C·H·W).

    Example::

        nn.Flatten()(chainrule.zeros(32, 1, 5, 5)).shape    # (32, 25)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (a view): the inverse of ``Flatten``.

    Example::

        nn.Unflatten(1, (2, 5))(chainrule.zeros(4, 10)).shape    # (4, 2, 5)
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(dim, int):
            raise TypeError(f"invalid argument type for dim parameter: {type(dim).__name__}, "
                            "expected int")
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(s, int) for s in unflattened_size):
            raise TypeError(f"unflattened_size must be a tuple or list of ints, got "
                            f"{unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"



def __getattr__(name: str) -> Any:
    """``LazyLinear``/``LazyConv*`` under this path too, as in PyTorch."""
    from chainrule.nn.modules._lazy_names import lazy_attribute

    return lazy_attribute(__name__, name)
