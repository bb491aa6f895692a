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
