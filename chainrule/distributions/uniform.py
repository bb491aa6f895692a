"""PyTorch's module path ``torch.distributions.uniform``."""

from chainrule.distributions.continuous import Uniform

__all__ = ["Uniform"]
