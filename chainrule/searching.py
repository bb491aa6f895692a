"""``torch.searchsorted`` and ``torch.bucketize``: insertion indices into sorted boundaries
(integer results, no gradient).

For a sorted row b and a value v: side 'left' gives the first i with v <= b[i] (the number of
entries < v), side 'right' the first i with v < b[i] (the number of entries <= v).

Example::

    >>> import chainrule as torch
    >>> torch.searchsorted(torch.tensor([1, 3, 5, 7]), torch.tensor([3, 6, 9]))
    tensor([1, 3, 4])
    >>> torch.bucketize(torch.tensor([3, 6, 9]), torch.tensor([1, 3, 5, 7]), right=True)
    tensor([2, 3, 4])
"""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.tensor import Tensor, _wrap

__all__ = ["bucketize", "searchsorted"]

# above this many comparisons (batch · values · boundaries) the N-D case searches row by row
# instead of counting with one broadcast comparison
_BROADCAST_LIMIT = 1 << 22


def _array(v: Any) -> Any:
    return v._array if isinstance(v, Tensor) else xp.asarray(v)


def _side(right: bool, side: str | None) -> str:
    if side is None:
        return "right" if right else "left"
    if side not in ("left", "right"):
        raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got "
                           f"{side}")
    if right and side == "left":
        raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got "
                           "side of left while right was True")
    return side


def _rows(seq: Any, vals: Any, side: str) -> Any:
    """Per batch row: searchsorted(seq[i], vals[i]) for seq (B, n) and vals (B, m)."""
    if seq.shape[0] * seq.shape[1] * vals.shape[1] <= _BROADCAST_LIMIT:
        cmp = xp.less if side == "left" else xp.less_equal
        return cmp(seq[:, None, :], vals[:, :, None]).sum(-1)
    return xp.stack([xp.searchsorted(s, v, side=side) for s, v in zip(seq, vals)])


def searchsorted(sorted_sequence: Tensor, input: Any, *, out_int32: bool = False,
                 right: bool = False, side: str | None = None, sorter: Any = None) -> Tensor:
    """Indices where ``input``'s values would be inserted into ``sorted_sequence`` (sorted along
    its last dim; 1-D, or with the same leading dims as ``input``) to keep it sorted;
    ``sorter`` holds the indices that sort an unsorted sequence. int64 (int32 with
    ``out_int32``), shaped like ``input`` (0-d for a Python number)."""
    side = _side(right, side)
    seq = _array(sorted_sequence)
    vals = _array(input)
    if seq.ndim == 0:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should have positive "
                           "dimension, but got 0 dimension")
    if sorter is not None:
        seq = xp.take_along_axis(seq, _array(sorter).astype(xp.int64), axis=-1)
    dtype = xp.int32 if out_int32 else xp.int64
    if seq.ndim == 1:
        return _wrap(xp.asarray(xp.searchsorted(seq, vals, side=side), dtype=dtype))
    if vals.ndim != seq.ndim or vals.shape[:-1] != seq.shape[:-1]:
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
            "dimensions of boundaries tensor and input value tensor must match, but we got "
            f"boundaries tensor {list(seq.shape)} and input value tensor {list(vals.shape)}")
    flat = _rows(seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1]), side)
    return _wrap(flat.reshape(vals.shape).astype(dtype))


def bucketize(input: Any, boundaries: Tensor, *, out_int32: bool = False,
              right: bool = False) -> Tensor:
    """The bucket of each value of ``input`` given 1-D sorted ``boundaries``: i with
    b[i-1] < x <= b[i] (``right=False``) or b[i-1] <= x < b[i] (``right=True``)."""
    b = _array(boundaries)
    if b.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({b.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)
