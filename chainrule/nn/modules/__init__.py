"""The layers of ``chainrule.nn``, one file per family."""

from chainrule.nn.modules import (  # noqa: E402,F401 - PyTorch's module paths as attributes
    batchnorm,
    instancenorm,
    rnn,
    sparse,
)
from chainrule.nn.modules.activation import *  # noqa: F403
from chainrule.nn.modules.adaptive import *  # noqa: F403
from chainrule.nn.modules.channels import *  # noqa: F403
from chainrule.nn.modules.container import *  # noqa: F403
from chainrule.nn.modules.conv import *  # noqa: F403
from chainrule.nn.modules.distance import *  # noqa: F403
from chainrule.nn.modules.dropout import *  # noqa: F403
from chainrule.nn.modules.embedding import *  # noqa: F403
from chainrule.nn.modules.lazy import *  # noqa: F403
from chainrule.nn.modules.linear import *  # noqa: F403
from chainrule.nn.modules.loss import *  # noqa: F403
from chainrule.nn.modules.losses_more import *  # noqa: F403
from chainrule.nn.modules.module import Module, RemovableHandle
from chainrule.nn.modules.normalization import *  # noqa: F403
from chainrule.nn.modules.padding import *  # noqa: F403
from chainrule.nn.modules.pooling import *  # noqa: F403
from chainrule.nn.modules.recurrent import *  # noqa: F403
from chainrule.nn.modules.residual import *  # noqa: F403
from chainrule.nn.modules.transformer import *  # noqa: F403
from chainrule.nn.modules.unpool import *  # noqa: F403
