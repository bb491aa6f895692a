"""``finfo`` / ``iinfo``: numeric limits of a dtype as Python numbers (PyTorch's objects)."""

from __future__ import annotations

from typing import Any

from chainrule.backend import NamedDtype, default_dtype, xp


class finfo:  # noqa: N801 - PyTorch's name
    """Limits of a floating dtype: eps, max, min, tiny (= smallest_normal), resolution, bits."""

    def __init__(self, dtype: Any = None) -> None:
        if isinstance(dtype, NamedDtype):
            # a format chainrule names but cannot store (bfloat16, float8): PyTorch's limits
            if dtype.limits is None:
                raise TypeError(f"finfo: chainrule has no limits for {dtype.name}")
            self.dtype = dtype.name
            self.bits, self.eps, self.max, self.min, self.tiny, self.resolution = dtype.limits
            self.smallest_normal = self.tiny
            return
        f = xp.finfo(default_dtype() if dtype is None else dtype)
        self.dtype = str(f.dtype)
        self.bits = int(f.bits)
        self.eps = float(f.eps)
        self.max = float(f.max)
        self.min = float(f.min)
        self.tiny = self.smallest_normal = float(f.smallest_normal)
        self.resolution = float(f.resolution)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, "
                f"eps={self.eps}, smallest_normal={self.tiny}, tiny={self.tiny}, "
                f"dtype={self.dtype})")


class iinfo:  # noqa: N801 - PyTorch's name
    """Limits of an integer dtype: min, max, bits."""

    def __init__(self, dtype: Any) -> None:
        i = xp.iinfo(dtype)
        self.dtype = str(i.dtype)
        self.bits, self.min, self.max = int(i.bits), int(i.min), int(i.max)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"
