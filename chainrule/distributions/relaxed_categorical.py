"""PyTorch's module path ``torch.distributions.relaxed_categorical``."""

from chainrule.distributions.relaxed import ExpRelaxedCategorical, RelaxedOneHotCategorical

__all__ = ["ExpRelaxedCategorical", "RelaxedOneHotCategorical"]
