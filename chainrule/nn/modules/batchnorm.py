"""PyTorch's module path ``torch.nn.modules.batchnorm``: the batch-norm classes of
:mod:`chainrule.nn.modules.normalization` and :mod:`chainrule.nn.modules.lazy` (the same
classes); ``SyncBatchNorm`` resolves to :mod:`chainrule.distributed`'s on first use."""

from typing import Any

from chainrule.nn.modules.lazy import LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d
from chainrule.nn.modules.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    _BatchNorm,
    _NormBase,
)

__all__ = ["BatchNorm1d", "LazyBatchNorm1d", "BatchNorm2d", "LazyBatchNorm2d", "BatchNorm3d",
           "LazyBatchNorm3d"]  # and SyncBatchNorm, resolved on first use
_private = (_BatchNorm, _NormBase)  # PyTorch's base classes live here too


def __getattr__(name: str) -> Any:
    if name == "SyncBatchNorm":  # chainrule.distributed imports chainrule.nn: import lazily
        from chainrule.distributed.sync_batchnorm import SyncBatchNorm

        return SyncBatchNorm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
