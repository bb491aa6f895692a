"""``torch.nn.utils.skip_init``: build a module without running its parameter initialisation.

PyTorch builds the module on the ``meta`` device and then allocates uninitialised storage
(``to_empty``), so the values are whatever memory held. chainrule builds it normally: its
initial values are one admissible outcome of "uninitialised", and a program that overwrites
them (the only correct use) runs unchanged.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["skip_init"]


def skip_init(module_cls: type, *args: Any, **kwargs: Any) -> Any:
    """``module_cls(*args, **kwargs)`` for a module class that accepts ``device=`` (the
    requirement PyTorch enforces, with its error)."""
    from chainrule.nn.modules.module import Module

    if not issubclass(module_cls, Module):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    return module_cls(*args, **kwargs)
