"""Small result types shared across the package."""

from __future__ import annotations

from typing import Any, NamedTuple


class MinMax(NamedTuple):
    """``(values, indices)`` as returned by ``max(dim)``, ``min(dim)``, ``sort`` and ``topk``."""

    values: Any
    indices: Any
