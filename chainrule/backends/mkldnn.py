"""``torch.backends.mkldnn``: oneDNN is not used (NumPy's BLAS does the GEMMs)."""

from __future__ import annotations

enabled = False


def is_available() -> bool:
    return False
