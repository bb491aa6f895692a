"""PyTorch's module path ``torch.nn.modules.instancenorm`` (the classes of
:mod:`chainrule.nn.modules.normalization`)."""

from chainrule.nn.modules.normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]
