"""``chainrule.nn``: modules, layers, losses, initialisation, utilities (PyTorch's API)."""

from chainrule.nn import functional, init, utils
from chainrule.nn.modules import *  # noqa: F403
from chainrule.nn.modules import Module, RemovableHandle
from chainrule.nn.parameter import Buffer, Parameter
