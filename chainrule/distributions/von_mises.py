"""PyTorch's module path ``torch.distributions.von_mises``."""

from chainrule.distributions.more_families import VonMises

__all__ = ["VonMises"]
