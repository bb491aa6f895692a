"""PyTorch's module path ``torch.distributions.exponential``."""

from chainrule.distributions.gamma import Exponential

__all__ = ["Exponential"]
