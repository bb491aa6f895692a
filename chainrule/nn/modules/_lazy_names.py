"""PyTorch keeps ``LazyLinear`` in ``nn/modules/linear.py`` and ``LazyConv*`` in ``conv.py``;
chainrule defines them in ``lazy.py`` (which imports those files), so the two files resolve
the names on first use through :func:`lazy_attribute`."""

from __future__ import annotations

from typing import Any


def lazy_attribute(module: str, name: str) -> Any:
    """``chainrule.nn.modules.lazy.<name>`` if it is a lazy layer, else AttributeError."""
    from chainrule.nn.modules import lazy

    if name.startswith("Lazy") and name in lazy.__all__:
        return getattr(lazy, name)
    raise AttributeError(f"module {module!r} has no attribute {name!r}")
