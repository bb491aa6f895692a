"""Utilities (PyTorch's ``torch.utils``): ``chainrule.utils.data``; ``checkpoint``,
``tensorboard``, ``benchmark`` and ``_pytree`` are imported on first use."""

from chainrule.utils import data

__all__ = ["benchmark", "checkpoint", "data", "tensorboard"]


def __getattr__(name: str) -> object:
    if name in ("checkpoint", "tensorboard", "benchmark", "_pytree"):
        import importlib

        return importlib.import_module(f"chainrule.utils.{name}")
    raise AttributeError(f"module 'chainrule.utils' has no attribute {name!r}")
