"""PyTorch's module path ``torch.distributions.beta``."""

from chainrule.distributions.continuous import Beta

__all__ = ["Beta"]
