"""PyTorch's module path ``torch.distributions.log_normal``."""

from chainrule.distributions.transformed_distribution import LogNormal

__all__ = ["LogNormal"]
