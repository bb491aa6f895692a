"""PyTorch's module path ``torch.distributions.kumaraswamy``."""

from chainrule.distributions.more_families import Kumaraswamy

__all__ = ["Kumaraswamy"]
