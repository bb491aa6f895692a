"""Data-parallel training over MPI (extra ``dist``: mpi4py + mpich).

Launch one process per rank with ``mpirun -np N python -m mpi4py -m chainrule train ...`` (or a
script of your own); each rank wraps its model in :class:`DistributedDataParallel`, reads its
shard through :class:`DistributedSampler`, and the gradients are averaged over the ranks after
every backward. Without MPI everything runs as a world of one process.

Example::

    from chainrule import distributed as dist

    comm = dist.get_world()                         # MPI under mpirun, else one process
    model = dist.DistributedDataParallel(net, comm)
    sampler = dist.DistributedSampler(ds, comm.world_size, comm.rank, seed=0)
    loader = DataLoader(ds, batch_size=64, sampler=sampler)
"""

from chainrule.distributed.communicator import (
    CollectiveTimeoutError,
    Communicator,
    MPICommunicator,
    Work,
    destroy_process_group,
    get_rank,
    get_world,
    get_world_size,
    init_process_group,
    is_initialized,
)
from chainrule.distributed.ddp import DistributedDataParallel
from chainrule.distributed.integration import distributed_context, set_sampler_epoch
from chainrule.distributed.launch import (
    find_mpiexec,
    install_abort_excepthook,
    is_mpi_launched,
    mpi_world_size_from_env,
    mpiexec_command,
    mpiexec_env,
)
from chainrule.distributed.sampler import DistributedSampler
from chainrule.distributed.sync_batchnorm import (
    SyncBatchNorm,
    allreduce_sum,
    convert_sync_batchnorm,
    sync_batch_norm,
)

DDP = DistributedDataParallel

__all__ = [
    "CollectiveTimeoutError", "Communicator", "MPICommunicator", "Work",
    "destroy_process_group", "get_rank", "get_world", "get_world_size", "init_process_group",
    "is_initialized", "DistributedDataParallel", "DDP", "DistributedSampler", "SyncBatchNorm",
    "allreduce_sum", "convert_sync_batchnorm", "sync_batch_norm", "distributed_context",
    "set_sampler_epoch", "find_mpiexec", "install_abort_excepthook", "is_mpi_launched",
    "mpi_world_size_from_env", "mpiexec_command", "mpiexec_env",
]
