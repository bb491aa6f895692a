"""The handle every ``register_*_hook`` returns (PyTorch's ``torch.utils.hooks``)."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count()


class RemovableHandle:
    """Unregisters one hook from the dict that holds it: ``handle.remove()``, or leave a
    ``with handle:`` block. Tensors, modules and optimizers all keep their hooks in dicts
    keyed by ``handle.id`` (insertion order is the calling order).

    Example::

        handle = model.register_forward_hook(lambda m, i, o: print(o.shape))
        model(x)
        handle.remove()
    """

    def __init__(self, hooks: dict[int, Any], key: int | None = None) -> None:
        self.hooks = hooks
        self.id = next(_ids) if key is None else key

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()
