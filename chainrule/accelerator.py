"""``chainrule.accelerator``: PyTorch's device-agnostic accelerator API, answering for a
machine without one (chainrule computes on the CPU with NumPy).

The idiom of PyTorch's examples runs unchanged and picks the CPU::

    use_accel = torch.accelerator.is_available()                 # False
    device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")

As in PyTorch on a machine with no accelerator, the calls that would touch a device
(``set_device_index``, ``current_device_index``, ``synchronize``, the memory queries, entering
``device_index(i)`` with an index) raise ``RuntimeError``; ``device_index(None)`` is a no-op.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = [
    "is_available", "current_accelerator", "device_count", "current_device_index",
    "current_device_idx", "set_device_index", "set_device_idx", "device_index", "synchronize",
    "empty_cache", "memory_allocated", "max_memory_allocated", "memory_reserved",
    "max_memory_reserved", "memory_stats", "reset_peak_memory_stats",
    "reset_accumulated_memory_stats", "get_memory_info", "get_device_capability",
    "current_stream", "set_stream",
]

_NONE = "Cannot access accelerator device when none is available."


def is_available() -> bool:
    """False: there is no accelerator."""
    return False


def current_accelerator(check_available: bool = False) -> None:
    """None: there is no accelerator (so ``.type`` on it fails, as in PyTorch)."""
    return None


def device_count() -> int:
    """0 accelerator devices."""
    return 0


def _no_device(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(_NONE)


current_device_index = current_device_idx = _no_device
synchronize = empty_cache = _no_device
memory_allocated = max_memory_allocated = memory_reserved = max_memory_reserved = _no_device
memory_stats = reset_peak_memory_stats = reset_accumulated_memory_stats = _no_device
get_memory_info = get_device_capability = current_stream = set_stream = _no_device


def set_device_index(device: Any, /) -> None:
    """Raises: there is no device to select (``None`` is rejected with ValueError, as torch)."""
    if device is None:
        raise ValueError("Expected a torch.device with a specified index or an integer, but "
                         "got:None")
    raise RuntimeError(_NONE)


set_device_idx = set_device_index


@contextlib.contextmanager
def device_index(device: int | None, /) -> Iterator[None]:
    """Context manager selecting accelerator ``device``: a no-op for ``None``, an error
    otherwise."""
    if device is not None:
        raise RuntimeError(_NONE)
    yield
