"""``chainrule.nn.parallel``: PyTorch's import path of the data-parallel wrappers
(``DataParallel``: :mod:`chainrule.nn.data_parallel`).

``from chainrule.nn.parallel import DistributedDataParallel`` is the class of
:mod:`chainrule.distributed` (MPI, one process per rank; a single process runs it as a no-op).
"""

from chainrule.distributed.ddp import DistributedDataParallel
from chainrule.nn.data_parallel import DataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]
