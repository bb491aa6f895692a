"""``torch.version``: the library version and the accelerator toolkits it was built with
(none: chainrule runs on NumPy, so ``cuda`` and ``hip`` are None, as on a CPU-only PyTorch)."""

from __future__ import annotations

from chainrule import __version__

__all__ = ["__version__", "cuda", "hip", "git_version", "debug"]

cuda: str | None = None
hip: str | None = None
git_version = "unknown"
debug = False
