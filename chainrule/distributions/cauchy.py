"""PyTorch's module path ``torch.distributions.cauchy``."""

from chainrule.distributions.location_scale import Cauchy

__all__ = ["Cauchy"]
