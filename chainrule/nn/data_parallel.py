"""``nn.DataParallel``: PyTorch's single-process multi-GPU wrapper, on chainrule's one device.

PyTorch's ``DataParallel`` splits the batch along ``dim`` over its ``device_ids``, runs a replica
per device and gathers the outputs on ``output_device``. Where no accelerator is available
(PyTorch on a CPU-only machine, and always in chainrule) it keeps no device ids and its forward
is the wrapped module's forward; that is what this class does. The wrapper is still a Module
holding the model as ``.module``, so ``state_dict()`` keys carry the ``module.`` prefix exactly
as PyTorch's (``module.fc.weight``), and checkpoints written through it load into a wrapped
model. For several processes use :class:`chainrule.nn.parallel.DistributedDataParallel`.

Example::

    model = nn.DataParallel(Net())
    out = model(x)                        # == model.module(x)
    list(model.state_dict())[0]           # 'module.fc1.weight'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.nn.modules.module import Module

__all__ = ["DataParallel"]


class DataParallel(Module):
    """``DataParallel(module, device_ids=None, output_device=None, dim=0)``: forward is
    ``module(*inputs, **kwargs)`` (one CPU device: nothing to scatter or gather, as PyTorch
    without accelerators, which likewise ignores ``device_ids``)."""

    def __init__(self, module: Module, device_ids: Sequence[Any] | None = None,
                 output_device: Any = None, dim: int = 0) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel expects an nn.Module, got {type(module).__name__}")
        self.module = module
        self.device_ids: list[int] = []  # (PyTorch's value when no accelerator is available)
        self.output_device = None
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)
