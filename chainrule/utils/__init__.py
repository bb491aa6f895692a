"""Utilities (PyTorch's ``torch.utils``): ``chainrule.utils.data``; ``checkpoint`` and
``tensorboard`` are imported on first use."""

from chainrule.utils import data

__all__ = ["checkpoint", "data", "tensorboard"]


def __getattr__(name: str) -> object:
    if name in ("checkpoint", "tensorboard"):
        import importlib

        return importlib.import_module(f"chainrule.utils.{name}")
    raise AttributeError(f"module 'chainrule.utils' has no attribute {name!r}")
