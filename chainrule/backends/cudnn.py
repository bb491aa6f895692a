"""``torch.backends.cudnn``: there is no cuDNN here; the flags keep what a program assigns.

``deterministic`` and ``benchmark`` change nothing: chainrule's ops are always deterministic
and have no algorithm search to benchmark.
"""

from __future__ import annotations

enabled = True
benchmark = False
benchmark_limit = 10
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: cuDNN is an NVIDIA library and chainrule runs on NumPy."""
    return False


def version() -> None:
    """None, as PyTorch returns when cuDNN is not available."""
    return None
