"""PyTorch's module path ``torch.distributions.binomial``."""

from chainrule.distributions.counts import Binomial

__all__ = ["Binomial"]
