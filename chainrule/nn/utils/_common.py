"""Helpers shared by the nn.utils functions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chainrule.tensor import Tensor


def as_list(parameters: Tensor | Iterable[Tensor] | Any) -> list[Tensor]:
    """A single tensor, an iterable of tensors, or a Module (its ``parameters()``) as a list."""
    if isinstance(parameters, Tensor):
        return [parameters]
    if hasattr(parameters, "parameters") and callable(parameters.parameters):
        return list(parameters.parameters())
    return list(parameters)


def remove_pre_hook(module: Any, name: str, hook_cls: type, what: str) -> Any:
    """Undo a legacy reparametrisation hook (``weight_norm``, ``spectral_norm``): the hook of
    class ``hook_cls`` for parameter ``name`` folds its value back into a plain parameter and is
    unregistered; a ValueError names ``what`` when there is none."""
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, hook_cls) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")
