"""``chainrule.nn.parallel``: PyTorch's import path of the data-parallel wrapper.

``from chainrule.nn.parallel import DistributedDataParallel`` is the class of
:mod:`chainrule.distributed` (MPI, one process per rank; a single process runs it as a no-op).
"""

from chainrule.distributed.ddp import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
