"""``torch.backends.cpu``."""

from __future__ import annotations


def get_cpu_capability() -> str:
    """The SIMD level chainrule's kernels use: NumPy's own dispatch, reported as "DEFAULT"."""
    return "DEFAULT"
