"""PyTorch's module path ``torch.distributions.gumbel``."""

from chainrule.distributions.transformed_distribution import Gumbel

__all__ = ["Gumbel"]
