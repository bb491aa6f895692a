"""CUDA is not available in chainrule (NumPy runs on the CPU); present so scripts can ask."""

from __future__ import annotations


def is_available() -> bool:
    """Always False: chainrule computes on the CPU."""
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """No-op (there is no CUDA generator), so seeding code written for PyTorch runs."""


def manual_seed_all(seed: int) -> None:
    """No-op, as ``manual_seed``."""


def synchronize() -> None:
    """No-op: CPU work is synchronous."""
