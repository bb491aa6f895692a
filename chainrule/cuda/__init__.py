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


def empty_cache() -> None:
    """No-op: there is no CUDA caching allocator (PyTorch's call also does nothing without
    CUDA)."""


def is_initialized() -> bool:
    """False: CUDA is never initialised."""
    return False


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False, as PyTorch answers without CUDA (and chainrule cannot store bfloat16)."""
    return False


def __getattr__(name: str) -> object:
    import importlib

    if name == "amp":  # chainrule.cuda.amp: PyTorch's deprecated spelling of chainrule.amp
        return importlib.import_module("chainrule.cuda.amp")
    if name.endswith("Tensor"):  # legacy chainrule.cuda.FloatTensor ...: exist, never build
        types = importlib.import_module("chainrule._legacy").CUDA_TYPES
        if name in types:
            return types[name]
    raise AttributeError(f"module 'chainrule.cuda' has no attribute {name!r}")
