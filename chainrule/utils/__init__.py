"""Utilities (PyTorch's ``torch.utils``): ``chainrule.utils.data``."""

from chainrule.utils import data

__all__ = ["data"]
