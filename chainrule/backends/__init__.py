"""``torch.backends``: the switches PyTorch programs set at start-up, with what they mean here.

chainrule runs on NumPy on the CPU: there is no cuDNN, MPS or CUDA back end, and every op is
deterministic (its result depends only on its inputs and the explicit generators, never on
thread timing). Programs written for PyTorch still set these flags (``cudnn.deterministic =
True`` in a seeding helper, ``mps.is_available()`` to pick a device), so the flags exist, keep
what is assigned to them, and report honestly that the back ends are absent.
"""

from __future__ import annotations

from chainrule.backends import cpu, cuda, cudnn, mkldnn, mps, openmp

__all__ = ["cpu", "cuda", "cudnn", "mkldnn", "mps", "openmp"]
