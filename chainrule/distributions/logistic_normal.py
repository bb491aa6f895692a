"""PyTorch's module path ``torch.distributions.logistic_normal``."""

from chainrule.distributions.more_families import LogisticNormal

__all__ = ["LogisticNormal"]
