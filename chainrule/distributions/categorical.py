"""PyTorch's module path ``torch.distributions.categorical``."""

from chainrule.distributions.discrete import Categorical

__all__ = ["Categorical"]
