"""PyTorch's module path ``torch.distributions.independent``."""

from chainrule.distributions.continuous import Independent

__all__ = ["Independent"]
