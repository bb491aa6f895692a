"""In-place operations on recorded tensors: saved outputs and their versions, views of a
storage, and the write-back that makes a base tensor's creator "the base with the view's
elements replaced" (PyTorch's CopySlices).

Version rule: every storage has one counter (on the base tensor); a recorded op remembers the
versions of the tensors its backward reads, and the engine refuses to run it if one changed.

``chainrule.tensor`` imports this module; the few Tensor helpers used here are imported where
they are called (at run time both modules are loaded).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.ops import index as I

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

__all__ = [
    "_SavedOutput", "_flat_index", "_mark_overwritten", "_reads_self", "_refresh_views",
    "_register_view", "_write_back",
]


class _SavedOutput:
    """The output a recorded in-place op saved for its backward: the storage it wrote into,
    handed back as a tensor created by that op, versioned by the storage's owner.

    The op and the owner are held weakly (no reference cycle through the graph). ``stale`` is
    set when a later recorded in-place op overwrites the storage, so the check fails even if
    the owner is gone by then.
    """

    __slots__ = ("_array", "root", "fn", "version", "stale")

    def __init__(self, data: Any, root: Tensor | None, fn: Function, version: int) -> None:
        self._array = data
        self.root = weakref.ref(root) if root is not None else None
        self.fn = weakref.ref(fn)
        self.version = version
        self.stale = False

    def __call__(self) -> Tensor:
        from chainrule.tensor import _wrap

        t = _wrap(self._array, True, self.fn())
        root = self.root() if self.root is not None else None
        if self.stale:
            t._version = self.version + 1
        elif root is not None:
            t._base = root
        else:
            t._version = self.version
        return t


def _mark_overwritten(fn: Function, data: Any) -> None:
    """``fn`` saved its output and a recorded in-place op is about to overwrite it: make its
    backward fail the version check (even once the output tensor itself is gone)."""
    ref = fn.out_ref
    if isinstance(ref, _SavedOutput):
        ref.stale = True
    else:
        saved = _SavedOutput(data, None, fn, fn.out_version)
        saved.stale = True
        fn.out_ref = saved


def _reads_self(cls: type[Function], args: tuple) -> bool:
    """Whether the backward of ``cls`` applied in place to (self, *args) reads self's old
    value (then the snapshot must be a copy, since self is overwritten)."""
    from chainrule.tensor import Tensor

    if 0 not in cls._save_idx:
        return False
    when = cls._save_when
    if when is not None and 0 in when:
        other = args[when[0] - 1] if 0 < when[0] <= len(args) else None
        return isinstance(other, Tensor) and other.requires_grad
    return True


def _register_view(root: Tensor, view: Tensor) -> None:
    """Remember a recorded view of ``root``'s storage, to re-derive it after an in-place
    change of that storage (PyTorch regenerates a view's creator the same way)."""
    if root.grad_fn is None:  # a leaf: in-place ops on it or its views are refused anyway
        return
    try:
        views = root._views
    except AttributeError:
        views = root._views = []
    n = len(views)
    if n >= 64 and not n & (n - 1):  # drop dead views at powers of two: amortised O(1)
        views[:] = [v for v in views if v() is not None]
    views.append(weakref.ref(view))


def _flat_index(view: xp.ndarray, root: xp.ndarray) -> xp.ndarray | None:
    """For each element of ``view`` (an array sharing ``root``'s memory) its index in
    ``root.reshape(-1)``; None when ``view`` lies outside ``root``."""
    def offsets(a: xp.ndarray) -> xp.ndarray:
        off = xp.zeros(a.shape, dtype=xp.int64)
        for k, (n, st) in enumerate(zip(a.shape, a.strides)):
            off += (xp.arange(n, dtype=xp.int64) * st).reshape((n,) + (1,) * (a.ndim - k - 1))
        return off

    start = view.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    voff = offsets(view) + start
    if root.flags.c_contiguous:
        if voff.size and (voff.min() < 0 or voff.max() >= root.nbytes):
            return None
        return voff // root.itemsize
    roff = offsets(root).reshape(-1)
    order = xp.argsort(roff, kind="stable")
    pos = xp.searchsorted(roff[order], voff)
    pos = xp.minimum(pos, roff.size - 1)
    if not xp.array_equal(roff[order][pos], voff):
        return None
    return order[pos]


def _write_back(root: Tensor, view: Tensor, res: Tensor) -> None:
    """After a recorded in-place op on ``view``, make ``root``'s creator
    "root with the view's elements replaced by ``res``" (PyTorch's CopySlices)."""
    from chainrule.tensor import _wrap, apply

    idx = _flat_index(view._array, root._array)
    if idx is None:
        return
    flat = _wrap(root._array, root.requires_grad, root.grad_fn).reshape(-1)
    # the storage already holds the new values: only the node is wanted (in place: no copy)
    new = apply(I.SetItem, flat, res.reshape(-1), key=idx.reshape(-1), inplace=True)
    new = new.reshape(root.shape)
    root.grad_fn = new.grad_fn
    root.requires_grad = True


def _refresh_views(root: Tensor, skip: Tensor) -> None:
    """Re-derive the creator of every live recorded view of ``root`` (but ``skip``) from
    root's current creator, after an in-place change of their shared storage."""
    from chainrule.tensor import _wrap, apply

    views = getattr(root, "_views", None)
    if not views or root.grad_fn is None:
        return
    src = None
    for ref in views:
        v = ref()
        if v is None or v is skip or v is root:
            continue
        idx = _flat_index(v._array, root._array)
        if idx is None:
            continue
        if src is None:
            src = _wrap(root._array, True, root.grad_fn).reshape(-1)
        v.grad_fn = apply(I.GetItem, src, key=idx).grad_fn
        v.requires_grad = True
