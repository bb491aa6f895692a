"""PyTorch's module path ``torch.distributions.geometric``."""

from chainrule.distributions.counts import Geometric

__all__ = ["Geometric"]
