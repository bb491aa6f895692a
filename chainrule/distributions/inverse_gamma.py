"""PyTorch's module path ``torch.distributions.inverse_gamma``."""

from chainrule.distributions.more_families import InverseGamma

__all__ = ["InverseGamma"]
