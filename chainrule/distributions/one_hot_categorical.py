"""PyTorch's module path ``torch.distributions.one_hot_categorical``."""

from chainrule.distributions.counts import OneHotCategorical, OneHotCategoricalStraightThrough

__all__ = ["OneHotCategorical", "OneHotCategoricalStraightThrough"]
