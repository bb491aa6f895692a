"""nn.functional: ``embedding_bag``, reductions of bags of embedding rows.

Bag b holds the positions [offsets[b], offsets[b+1]) of a 1-D ``input`` (or one row of a 2-D
``input``); with W the table and w_p the optional per-sample weights,

    sum:  out_b = Σ_{p ∈ b} w_p W[input_p]
    mean: out_b = (1 / |b|) Σ_{p ∈ b} W[input_p]
    max:  out_b,d = max_{p ∈ b} W[input_p, d]

Positions equal to ``padding_idx`` are left out (they count neither in the sum nor in |b|);
an empty bag gives zeros. Built from a differentiable row lookup, ``index_add`` and ``gather``
(no derivative of its own): W gets the scattered gradient, the per-sample weights theirs.
"""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.nn._functional.linear import _embedding_renorm_, embedding
from chainrule.tensor import Tensor, _wrap

__all__ = ["embedding_bag"]

_MODES = ("sum", "mean", "max")


def _array(t: Any) -> Any:
    return t._array if isinstance(t, Tensor) else xp.asarray(t)


def _bag_bounds(idx: Any, offsets: Any, include_last_offset: bool) -> tuple[Any, Any, Any]:
    """(flat indices, bag starts, bag ends) of a 1-D or 2-D ``input``, checked as PyTorch."""
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a "
                "mini-batch of fixed length sequences. However, found offsets of type "
                f"{type(offsets).__name__}"
            )
        b, n = idx.shape
        starts = xp.arange(0, b * n, n, dtype=xp.int64) if n else xp.zeros(b, xp.int64)
        return idx.reshape(-1), starts, starts + n
    if idx.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{idx.ndim}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    off = _array(offsets)
    if off.ndim != 1:
        raise ValueError("offsets has to be a 1D Tensor")
    if off.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #2 'offsets' to have one of the "
                           f"following scalar types: Long, Int; but got {off.dtype} instead "
                           "(while checking arguments for embedding_bag)")
    n = idx.shape[0]
    if off.size and off[0] != 0:
        raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch "
                           f"has to start from position 0. However, got {int(off[0])}")
    if off.size and off[-1] > n:
        raise RuntimeError(f"offsets[-1] can not be greater than input's length {n} but got "
                           f"offsets[-1] of {int(off[-1])}")
    if off.size > 1 and (xp.diff(off) < 0).any():
        raise RuntimeError(f"embedding_bag: offsets must be non-decreasing, got {off.tolist()}")
    off = off.astype(xp.int64)
    if include_last_offset:
        # NOTE: the last offset closes the last bag; PyTorch expects it to equal len(input)
        # (with a smaller one its sum, mean and max modes disagree with one another)
        return idx, off[:-1], off[1:]
    return idx, off, xp.append(off[1:], n)


def _bag_max(rows: Tensor, bag: Any, n_bags: int) -> Tensor:
    """out[b, d] = max over the rows of bag b (first maximum wins, as PyTorch's CPU kernel);
    the gradient reaches that row only. ``bag`` is non-decreasing."""
    a = rows._array
    d = a.shape[1]
    seg = xp.flatnonzero(xp.r_[True, bag[1:] != bag[:-1]])  # first row of each non-empty bag
    bags = bag[seg]
    peak = xp.maximum.reduceat(a, seg, axis=0)
    k = xp.arange(a.shape[0], dtype=xp.int64)[:, None]
    cand = xp.where(a == peak[xp.repeat(xp.arange(seg.size), xp.diff(xp.r_[seg, a.shape[0]]))],
                    k, a.shape[0])
    first = xp.minimum.reduceat(cand, seg, axis=0)
    picked = rows.gather(0, first)
    out = _wrap(xp.zeros((n_bags, d), dtype=a.dtype))
    return out.index_add(0, bags, picked)


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,
                  max_norm: float | None = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxima of bags of rows of ``weight`` (num_embeddings, dim): out (B, dim).

    ``input`` is 2-D (B bags of equal length, ``offsets=None``) or 1-D with ``offsets`` (B)
    giving each bag's start (or B + 1 with ``include_last_offset``). ``per_sample_weights``
    (the shape of ``input``) scale the rows in ``mode='sum'``. ``sparse``: the gradient is dense,
    and ``weight`` is marked for ``optim.SparseAdam`` (see ``F.embedding``).
    """
    idx = _array(input)
    if per_sample_weights is not None and tuple(per_sample_weights.shape) != idx.shape:
        raise ValueError(
            f"embedding_bag: If per_sample_weights ({tuple(per_sample_weights.shape)}) is not "
            f"None, then it must have the same shape as the input ({idx.shape})"
        )
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension "
                         f"{weight.ndim}")
    flat, starts, ends = _bag_bounds(idx, offsets, include_last_offset)
    if mode not in _MODES:
        raise ValueError("mode has to be one of sum, mean or max")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if mode == "max" and sparse:
        raise ValueError("max mode does not support sparse weights")
    if sparse and hasattr(weight, "__dict__"):
        weight._sparse_grad = True  # (see F.embedding: optim.SparseAdam accepts it)
    if flat.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the "
                           f"following scalar types: Long, Int; but got {flat.dtype} instead "
                           "(while checking arguments for embedding_bag)")
    n_emb = weight.shape[0]
    bad = xp.flatnonzero((flat < 0) | (flat >= n_emb))
    if bad.size:
        p = int(bad[0])
        raise RuntimeError(f"Index {p} of input takes value {int(flat[p])} which is not in the "
                           f"valid range [0, {n_emb})")
    if padding_idx is not None:
        if not -n_emb <= padding_idx < n_emb:
            raise ValueError(f"padding_idx {padding_idx} must be within num_embeddings "
                             f"({n_emb})")
        padding_idx %= n_emb
    if max_norm is not None:
        _embedding_renorm_(weight, flat, max_norm, norm_type)
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
            "GitHub."
        )
    n_bags = starts.shape[0]
    pos = xp.arange(flat.shape[0])
    bag = xp.searchsorted(starts, pos, side="right") - 1  # the last bag starting at or before
    inside = bag >= 0
    inside[inside] = pos[inside] < ends[bag[inside]]
    if padding_idx is not None:
        inside &= flat != padding_idx
    kept = xp.flatnonzero(inside)
    bag = bag[kept]
    rows = embedding(_wrap(flat[kept]), weight, scale_grad_by_freq=scale_grad_by_freq)
    if mode == "max" and kept.size:
        return _bag_max(rows, bag, n_bags)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1)[kept].unsqueeze(1)
    out = _wrap(xp.zeros((n_bags, weight.shape[1]), dtype=weight._array.dtype))
    out = out.index_add(0, bag, rows)
    if mode == "mean":
        count = xp.bincount(bag, minlength=n_bags).astype(weight._array.dtype)
        out = out / _wrap(xp.maximum(count, 1)[:, None])
    return out
