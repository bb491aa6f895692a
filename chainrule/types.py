"""Small result types shared across the package."""

from __future__ import annotations

from typing import Any, NamedTuple


class MinMax(NamedTuple):
    """``(values, indices)`` as returned by ``max(dim)``, ``min(dim)``, ``sort`` and ``topk``."""

    values: Any
    indices: Any


class Size(tuple):
    """``torch.Size``: a tensor's shape, a tuple of ints with ``numel()``.

    Slicing and concatenation keep the type (``x.shape[1:]`` and ``x.shape + (1,)`` are Sizes),
    and it compares equal to the plain tuple of the same ints.
    """

    __slots__ = ()

    def __new__(cls, sizes: Any = ()) -> Size:
        self = super().__new__(cls, sizes)
        for s in self:
            if not isinstance(s, int) and not hasattr(s, "__index__"):
                raise TypeError(f"chainrule.Size() takes an iterable of ints, got an element "
                                f"of type {type(s).__name__}: {s!r}")
        return self

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds: ∏ sizes (1 for ``Size([])``)."""
        n = 1
        for s in self:
            n *= s
        return int(n)

    def __getitem__(self, key: Any) -> Any:
        out = tuple.__getitem__(self, key)
        return Size(out) if isinstance(key, slice) else out

    def __add__(self, other: Any) -> Any:
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other: Any) -> Any:
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __repr__(self) -> str:
        return f"chainrule.Size({list(self)})"

    def __reduce__(self) -> tuple:
        return (Size, (tuple(self),))
