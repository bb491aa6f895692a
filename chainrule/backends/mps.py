"""``torch.backends.mps``: Apple's Metal back end is not available in chainrule."""

from __future__ import annotations


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
