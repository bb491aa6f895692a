"""PyTorch's module path ``torch.distributions.weibull``."""

from chainrule.distributions.more_families import Weibull

__all__ = ["Weibull"]
