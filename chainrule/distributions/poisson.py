"""PyTorch's module path ``torch.distributions.poisson``."""

from chainrule.distributions.counts import Poisson

__all__ = ["Poisson"]
