"""``torch.compiler``: the helpers scripts call around ``torch.compile``.

chainrule's :func:`chainrule.compile` captures NumPy steps rather than tracing Python with
TorchDynamo, so these are the answers PyTorch gives outside a compiled region: nothing is
being compiled, ``disable`` leaves a function as it is, ``reset`` has no cache to clear.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["disable", "is_compiling", "is_dynamo_compiling", "reset", "allow_in_graph",
           "assume_constant_result", "cudagraph_mark_step_begin"]


def is_compiling() -> bool:
    """False: code never runs under a Dynamo trace in chainrule."""
    return False


is_dynamo_compiling = is_compiling


def disable(fn: Callable | None = None, recursive: bool = True, *,
            reason: str | None = None) -> Any:
    """``@torch.compiler.disable`` (with or without arguments): the function unchanged."""
    del recursive, reason
    if fn is None:
        return lambda f: f
    return fn


def allow_in_graph(fn: Callable) -> Callable:
    """The function unchanged (there is no Dynamo graph to allow it in)."""
    return fn


def assume_constant_result(fn: Callable) -> Callable:
    """The function unchanged."""
    return fn


def reset() -> None:
    """No-op: no compilation cache of Dynamo's kind exists."""


def cudagraph_mark_step_begin() -> None:
    """No-op: no CUDA graphs on the CPU."""
