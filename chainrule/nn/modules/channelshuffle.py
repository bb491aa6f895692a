"""PyTorch's module path ``torch.nn.modules.channelshuffle`` (the class lives in
:mod:`chainrule.nn.modules.channels`)."""

from chainrule.nn.modules.channels import ChannelShuffle

__all__ = ["ChannelShuffle"]
