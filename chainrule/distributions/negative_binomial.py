"""PyTorch's module path ``torch.distributions.negative_binomial``."""

from chainrule.distributions.multinomial import NegativeBinomial

__all__ = ["NegativeBinomial"]
