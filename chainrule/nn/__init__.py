"""``chainrule.nn``: modules, layers, losses, initialisation, utilities (PyTorch's API)."""

from chainrule.nn import attention, functional, init, utils
from chainrule.nn.modules import *  # noqa: F403
from chainrule.nn.modules import Module, RemovableHandle
from chainrule.nn.parameter import Buffer, Parameter


def __getattr__(name: str) -> object:
    """PyTorch's names whose classes live in :mod:`chainrule.distributed` (imported on first
    use: that package imports ``chainrule.nn``): ``nn.SyncBatchNorm`` and ``nn.parallel``."""
    if name == "SyncBatchNorm":
        from chainrule.distributed.sync_batchnorm import SyncBatchNorm

        return SyncBatchNorm
    if name == "DataParallel":
        from chainrule.nn.data_parallel import DataParallel

        return DataParallel
    if name == "parallel":
        import importlib

        return importlib.import_module("chainrule.nn.parallel")
    raise AttributeError(f"module 'chainrule.nn' has no attribute {name!r}")
