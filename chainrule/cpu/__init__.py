"""``chainrule.cpu``: PyTorch's ``torch.cpu`` namespace (``torch.cpu.amp``)."""

from __future__ import annotations

import importlib


def is_available() -> bool:
    """True: chainrule computes on the CPU."""
    return True


def device_count() -> int:
    return 1


def synchronize(device: object = None) -> None:
    """No-op: CPU work is synchronous."""


def __getattr__(name: str) -> object:
    if name == "amp":
        return importlib.import_module("chainrule.cpu.amp")
    raise AttributeError(f"module 'chainrule.cpu' has no attribute {name!r}")
