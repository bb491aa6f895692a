"""``torch.nn.attention``: choosing the kernel behind ``F.scaled_dot_product_attention``.

PyTorch picks among fused kernels (flash, memory-efficient, cuDNN) and its math reference;
chainrule has one implementation, the math one, so every backend choice computes the same
numbers (those of ``SDPBackend.MATH``). ``sdpa_kernel`` checks its argument as PyTorch does and
changes nothing.

Example::

    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from typing import Any

__all__ = ["SDPBackend", "sdpa_kernel"]


class SDPBackend(enum.IntEnum):
    """PyTorch's attention backends (same names and values)."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


@contextlib.contextmanager
def sdpa_kernel(backends: Any, set_priority: bool = False) -> Iterator[None]:
    """A context in which ``scaled_dot_product_attention`` may use only ``backends`` (one
    ``SDPBackend`` or a list). chainrule always computes the math formula, so the context only
    validates its argument."""
    chosen = list(backends) if isinstance(backends, (list, tuple, set)) else [backends]
    for b in chosen:
        if not isinstance(b, SDPBackend):
            raise TypeError(f"sdpa_kernel: expected SDPBackend values, got {b!r}")
    yield
