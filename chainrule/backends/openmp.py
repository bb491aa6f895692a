"""``torch.backends.openmp``: chainrule's parallelism is BLAS threads and its own pool."""

from __future__ import annotations


def is_available() -> bool:
    return False
