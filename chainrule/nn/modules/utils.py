"""``torch.nn.modules.utils``: the argument helpers custom layers import (``_pair`` ...)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["consume_prefix_in_state_dict_if_present"]


def _ntuple(n: int, name: str = "parse") -> Callable[[Any], tuple]:
    """A function that turns a scalar into an n-tuple of it and any iterable into a tuple."""

    def expand(value: Any) -> tuple:
        return tuple(value) if isinstance(value, Iterable) else (value,) * n

    expand.__name__ = name
    return expand


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


def _reverse_repeat_tuple(t: Iterable[Any], n: int) -> tuple:
    """Each entry of ``t``, last first, repeated n times (a conv padding as ``F.pad`` widths)."""
    return tuple(v for v in reversed(tuple(t)) for _ in range(n))


def consume_prefix_in_state_dict_if_present(state_dict: dict[str, Any], prefix: str) -> None:
    """Strip ``prefix`` (e.g. ``"module."`` of a DataParallel/DDP checkpoint) from the keys
    that start with it, in place."""
    for key in list(state_dict):
        if key.startswith(prefix):
            state_dict[key[len(prefix):]] = state_dict.pop(key)
