"""PyTorch's module path ``torch.distributions.bernoulli``."""

from chainrule.distributions.discrete import Bernoulli

__all__ = ["Bernoulli"]
