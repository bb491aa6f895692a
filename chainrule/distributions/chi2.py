"""PyTorch's module path ``torch.distributions.chi2``."""

from chainrule.distributions.gamma import Chi2

__all__ = ["Chi2"]
