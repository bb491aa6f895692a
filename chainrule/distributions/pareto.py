"""PyTorch's module path ``torch.distributions.pareto``."""

from chainrule.distributions.more_families import Pareto

__all__ = ["Pareto"]
