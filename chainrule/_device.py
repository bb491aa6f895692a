"""``chainrule.device`` (PyTorch's ``torch.device``): the name of where a tensor lives.

Only ``"cpu"`` holds data; the class is here so that scripts calling ``.to(device)`` or
``torch.device("cpu")`` run unchanged. ``"meta"`` names PyTorch's data-free device: as a
context manager (``with torch.device("meta"): model = Net()``) it makes the modules built
inside the same skeletons ``Module.to("meta")`` gives (see :func:`register_module`).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

_TYPES = ("cpu", "meta")


class _Blocks(threading.local):
    """Per thread (as PyTorch's default-device mode): the devices of the enclosing
    ``with device(...)`` blocks, innermost last, and per open meta block weak references to
    the modules built inside it. Another thread's ``with device("meta")`` must not turn this
    thread's modules into skeletons."""

    def __init__(self) -> None:
        self.context: list[Any] = []
        self.built_in_meta: list[list[Any]] = []


_BLOCKS = _Blocks()


def default_device() -> device:
    """The device of the innermost ``with device(...)`` block (the CPU outside any)."""
    context = _BLOCKS.context
    return context[-1] if context else _CPU


def register_module(module: Any) -> None:
    """Called by ``Module.__init__``: inside a meta block, remember the module so that the
    block's exit turns it into a skeleton. (Its parameters are ordinary arrays while its
    ``__init__`` initialises them; the conversion waits until the block ends.)"""
    blocks = _BLOCKS
    if blocks.built_in_meta and blocks.context[-1].type == "meta":
        blocks.built_in_meta[-1].append(weakref.ref(module))


def _unavailable(name: Any) -> RuntimeError:
    return RuntimeError(
        f"device {name!r} is not available: chainrule runs on 'cpu' only "
        "(chainrule.cuda.is_available() is False; 'meta' exists only as "
        "`with torch.device('meta'):` around module construction, or Module.to('meta'))")


def data_device(d: Any) -> device:
    """The device named by a ``device=`` argument of something that holds data (a factory, a
    module constructor, ``Tensor.to``, ``map_location``): the CPU. ``'meta'`` is refused here
    although ``device('meta')`` exists: it is only a name for the user's ``with
    device("meta")`` block and ``Module.to('meta')``, and data asked for on it would silently
    be CPU data."""
    dev = d if isinstance(d, device) else device(d)
    if dev.type != "cpu":
        raise _unavailable(d if isinstance(d, str) else str(dev))
    return dev


class device:
    """A device name. Only ``"cpu"`` exists for now, so scripts calling ``.to(device)`` run."""

    __slots__ = ("type", "index")

    def __init__(self, type: str | device = "cpu", index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index
        name = str(type)
        if ":" in name:
            name, idx = name.split(":", 1)
            index = int(idx)
        if name not in _TYPES:
            raise _unavailable(type)
        self.type = name
        self.index = index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"

    def __str__(self) -> str:
        return self.type

    def __enter__(self) -> device:
        """``with torch.device(d):`` makes ``d`` the default device inside the block
        (``get_default_device()``). For 'cpu' nothing else changes (the CPU holds every
        tensor); for 'meta' every module built inside becomes a skeleton when the block ends.
        """
        _BLOCKS.context.append(self)
        if self.type == "meta":
            _BLOCKS.built_in_meta.append([])
        return self

    def __exit__(self, *exc: object) -> None:
        if _BLOCKS.context.pop().type == "meta":
            refs = _BLOCKS.built_in_meta.pop()
            built = [m for m in (ref() for ref in refs) if m is not None]
            for module in built:
                module._to_meta()
        return None


_CPU = device("cpu")
_META = device("meta")


_META_FILLS: dict[Any, Any] = {}  # dtype -> the one 0-d array every meta placeholder views


def meta_placeholder(a: Any) -> Any:
    """The storage of a meta tensor shaped like array ``a``: chainrule has no storage-free
    tensors, so a read-only zero-stride view of one shared 0-d NaN (0 for integers and bools)
    of ``a``'s dtype: no memory, and a forward that still reads it gives NaN rather than
    plausible numbers."""
    import numpy as np

    fill = _META_FILLS.get(a.dtype)
    if fill is None:
        fill = np.full((), np.nan if a.dtype.kind in "fc" else 0, dtype=a.dtype)
        fill.flags.writeable = False
        fill = _META_FILLS.setdefault(a.dtype, fill)
    return np.broadcast_to(fill, a.shape)


def is_meta_placeholder(a: Any) -> bool:
    """Whether array ``a`` (or a view of it) is a meta tensor's storage. Identity with the
    shared fill, not "read-only with zero strides", which ``expand`` results also are."""
    base = a.base
    return base is not None and _META_FILLS.get(a.dtype) is base
_Device = device  # (the methods' ``device=`` keyword shadows the class)
