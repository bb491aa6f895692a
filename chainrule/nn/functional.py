"""``chainrule.nn.functional``: the maths of the layers, as composites of primitives.

One public namespace, as in PyTorch; the implementations live in ``nn/_functional/`` by family
(activation, attention, loss, conv, pooling, normalization, dropout, linear) so each stays a
focused file.
"""

from chainrule.nn._functional.activation import *  # noqa: F403
from chainrule.nn._functional.attention import *  # noqa: F403
from chainrule.nn._functional.channels import *  # noqa: F403
from chainrule.nn._functional.conv import *  # noqa: F403
from chainrule.nn._functional.ctc import *  # noqa: F403
from chainrule.nn._functional.distance import *  # noqa: F403
from chainrule.nn._functional.dropout import *  # noqa: F403
from chainrule.nn._functional.embedding_bag import *  # noqa: F403
from chainrule.nn._functional.linear import *  # noqa: F403
from chainrule.nn._functional.loss import *  # noqa: F403
from chainrule.nn._functional.losses_more import *  # noqa: F403
from chainrule.nn._functional.normalization import *  # noqa: F403
from chainrule.nn._functional.padding import *  # noqa: F403
from chainrule.nn._functional.pooling import *  # noqa: F403
from chainrule.nn._functional.recurrent import *  # noqa: F403
from chainrule.nn._functional.sampling import *  # noqa: F403
from chainrule.nn._functional.unpool import *  # noqa: F403
