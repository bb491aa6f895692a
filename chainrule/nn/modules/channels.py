"""nn modules: LocalResponseNorm (AlexNet), ChannelShuffle (ShuffleNet) and Softmax2d (softmax
over the channels of every pixel). The maths is in ``nn.functional``.

Example::

    nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(chainrule.randn(2, 16, 8, 8))
"""

from __future__ import annotations

from chainrule.nn._functional.activation import softmax
from chainrule.nn._functional.channels import channel_shuffle, local_response_norm
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor

__all__ = ["LocalResponseNorm", "ChannelShuffle", "Softmax2d"]


class LocalResponseNorm(Module):
    """y_c = x_c / (k + α/n Σ_{c' near c} x_{c'}²)^β over a window of n = ``size`` channels."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75,
                 k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class ChannelShuffle(Module):
    """Interleave the channels of ``groups`` groups: (N, g·m, *) -> channel i·g + j = j·m + i."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, input: Tensor) -> Tensor:
        return channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class Softmax2d(Module):
    """Softmax over the channel dim (-3) of a (N, C, H, W) or (C, H, W) input."""

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ValueError(
                f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead"
            )
        return softmax(input, -3)
