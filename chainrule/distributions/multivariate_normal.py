"""PyTorch's module path ``torch.distributions.multivariate_normal``."""

from chainrule.distributions.continuous import MultivariateNormal

__all__ = ["MultivariateNormal"]
