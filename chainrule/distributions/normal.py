"""PyTorch's module path ``torch.distributions.normal``."""

from chainrule.distributions.continuous import Normal

__all__ = ["Normal"]
