"""PyTorch's module path ``torch.distributions.laplace``."""

from chainrule.distributions.location_scale import Laplace

__all__ = ["Laplace"]
