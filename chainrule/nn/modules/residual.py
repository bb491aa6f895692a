"""nn modules: skip connections. ``Residual`` wraps any block as y = P(x) + F(x) (He et al.
2016, "Deep residual learning"); ``ResidualMLPBlock`` and ``BasicBlock`` are the standard MLP
and ResNet-18/34 blocks built with it in mind (``BasicBlock`` keeps torchvision's names so its
state_dict loads torchvision weights)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.nn.modules.activation import ReLU
from chainrule.nn.modules.container import Sequential
from chainrule.nn.modules.conv import Conv2d
from chainrule.nn.modules.dropout import Dropout
from chainrule.nn.modules.linear import Identity, Linear
from chainrule.nn.modules.module import Module
from chainrule.nn.modules.normalization import BatchNorm2d, LayerNorm
from chainrule.tensor import Tensor

__all__ = ["Residual", "ResidualMLPBlock", "BasicBlock"]


class Residual(Module):
    """y = x + block(x), or projection(x) + block(x) when the block changes the shape.

    The identity path lets gradients reach early layers unattenuated (∂y/∂x = I + ∂F/∂x), which
    is what makes very deep networks trainable. ``projection`` (e.g. a 1x1 ``Conv2d`` with the
    block's stride, or a ``Linear``) maps x to the block's output shape.

    Example::

        block = nn.Residual(nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32)))
        y = block(chainrule.randn(8, 32))
        down = nn.Residual(nn.Conv2d(8, 16, 3, stride=2, padding=1),
                           projection=nn.Conv2d(8, 16, 1, stride=2))
    """

    def __init__(self, block: Module, projection: Module | None = None) -> None:
        super().__init__()
        self.block = block
        self.projection = projection

    def forward(self, input: Tensor) -> Tensor:
        out = self.block(input)
        skip = self.projection(input) if self.projection is not None else input
        if tuple(out.shape) != tuple(skip.shape):
            if self.projection is None:
                raise ValueError(
                    f"Residual: the block maps an input of shape {tuple(input.shape)} to shape "
                    f"{tuple(out.shape)}, so x + block(x) is undefined; pass projection= (e.g. "
                    "a 1x1 Conv2d with the block's stride, or a Linear) to map the input to "
                    f"{tuple(out.shape)}"
                )
            raise ValueError(
                f"Residual: projection gives shape {tuple(skip.shape)} but the block gives "
                f"{tuple(out.shape)} (input shape {tuple(input.shape)})"
            )
        return skip + out


class ResidualMLPBlock(Residual):
    """Pre-norm residual MLP block: y = x + W₂ · drop(act(W₁ · norm(x) + b₁)) + b₂, width in
    and out (the transformer feed-forward block with ``hidden = 4·width``).

    ``activation`` is a module class (default ``ReLU``); ``norm`` a class taking the width
    (default ``LayerNorm``) or ``None``.

    Example::

        mlp = nn.Sequential(nn.Linear(10, 64), nn.ResidualMLPBlock(64), nn.ResidualMLPBlock(64),
                            nn.Linear(64, 2))
        y = mlp(chainrule.randn(5, 10))
    """

    def __init__(self, width: int, hidden: int | None = None,
                 activation: Callable[[], Module] = ReLU,
                 norm: Callable[[int], Module] | None = LayerNorm, dropout: float = 0.0) -> None:
        hidden = hidden or width
        layers: list[Module] = [norm(width) if norm is not None else Identity(),
                                Linear(width, hidden), activation()]
        if dropout:
            layers.append(Dropout(dropout))
        layers.append(Linear(hidden, width))
        super().__init__(Sequential(*layers))
        self.width = width

    def extra_repr(self) -> str:
        return f"width={self.width}"


class BasicBlock(Module):
    """ResNet's basic block: y = relu(bn₂(conv₂(relu(bn₁(conv₁(x))))) + downsample(x)) with
    3x3 convs (the first with ``stride``). ``downsample`` defaults to 1x1 conv + BatchNorm when
    the stride or channel count changes, else the identity. Names match torchvision's.

    Example::

        block = nn.BasicBlock(16, 32, stride=2)
        y = block(chainrule.randn(2, 16, 8, 8))     # shape (2, 32, 4, 4)
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Module | None = None,
                 norm_layer: Callable[[int], Module] = BatchNorm2d) -> None:
        super().__init__()
        self.conv1 = Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(planes)
        self.relu = ReLU()
        self.conv2 = Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = norm_layer(planes)
        if downsample is None and (stride != 1 or inplanes != planes):
            downsample = Sequential(Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                    norm_layer(planes))
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity: Any = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)
