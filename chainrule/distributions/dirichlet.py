"""PyTorch's module path ``torch.distributions.dirichlet``."""

from chainrule.distributions.gamma import Dirichlet

__all__ = ["Dirichlet"]
