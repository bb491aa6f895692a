"""``torch.autograd.profiler``: the older spelling of the profiler (``profile(use_cuda=...)``,
``record_function``, ``emit_nvtx``); the same recorder as :mod:`chainrule.profiler`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from chainrule.profiler import EventList, FunctionEvent, FunctionEventAvg, record_function
from chainrule.profiler import profile as _profile

__all__ = ["profile", "record_function", "emit_nvtx", "EventList", "FunctionEvent",
           "FunctionEventAvg"]


class profile(_profile):  # noqa: N801 - PyTorch's spelling
    """``torch.autograd.profiler.profile(enabled=True, use_cuda=False, record_shapes=False,
    ...)``: positional ``enabled`` as in PyTorch; results as :class:`chainrule.profiler.profile`."""

    def __init__(self, enabled: bool = True, *, use_cuda: bool = False, use_device: Any = None,
                 record_shapes: bool = False, with_flops: bool = False,
                 profile_memory: bool = False, with_stack: bool = False,
                 with_modules: bool = False, use_kineto: bool = False, use_cpu: bool = True,
                 **unused: Any) -> None:
        del use_cuda, use_device, with_flops, profile_memory, with_stack, with_modules
        del use_kineto, use_cpu, unused
        super().__init__(record_shapes=record_shapes, enabled=enabled)

    def total_average(self) -> FunctionEventAvg:
        total = FunctionEventAvg("Total")
        for e in self.events():
            total.add(e)
        return total


@contextlib.contextmanager
def emit_nvtx(enabled: bool = True, record_shapes: bool = False) -> Iterator[None]:
    """No NVTX on a CPU library: a context that does nothing."""
    del enabled, record_shapes
    yield
