"""PyTorch's module path ``torch.distributions.half_normal``."""

from chainrule.distributions.transformed_distribution import HalfNormal

__all__ = ["HalfNormal"]
