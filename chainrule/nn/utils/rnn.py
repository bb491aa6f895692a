"""Variable-length sequences: ``PackedSequence``, pack/pad helpers (PyTorch's ``nn.utils.rnn``).

A packed sequence stores only the valid steps of a batch, time-major: first the step-0 element of
every sequence (longest first), then the step-1 element of every sequence still running, and so
on; ``batch_sizes[t]`` counts the sequences running at step t. Packing and unpacking are one
gather and one scatter over precomputed index arrays (no loop over the batch), and both are
differentiable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from chainrule.backend import int64, xp
from chainrule.ops.index import IndexAdd
from chainrule.tensor import Tensor, _wrap, apply, cat

__all__ = [
    "PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence",
    "pad_sequence", "pack_sequence", "unpad_sequence", "unpack_sequence",
]


class PackedSequence(NamedTuple):
    """The valid steps of a batch of sequences, time-major, longest sequence first.

    ``data``: ``(sum of lengths, *)``; ``batch_sizes``: int64 ``(max length,)``;
    ``sorted_indices``: batch order used for packing (None when the input was already sorted);
    ``unsorted_indices``: its inverse. Recurrent layers accept it in place of a padded tensor.

    Example::

        x = chainrule.randn(5, 3, 8)                       # (T, B, features)
        packed = pack_padded_sequence(x, [5, 2, 3], enforce_sorted=False)
        out, lengths = pad_packed_sequence(packed)         # (5, 3, 8), tensor([5, 2, 3])
    """

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """The same sequence with ``data`` converted by ``Tensor.to``."""
        return self._replace(data=self.data.to(*args, **kwargs))

    def float(self) -> PackedSequence:
        return self._replace(data=self.data.float())

    def double(self) -> PackedSequence:
        return self._replace(data=self.data.double())

    def cpu(self) -> PackedSequence:
        return self

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation (None stays None)."""
    if permutation is None:
        return None
    p = xp.asarray(_data(permutation))
    inv = xp.empty_like(p)
    inv[p] = xp.arange(p.size, dtype=p.dtype)
    return _wrap(inv)


def _data(x: Any) -> Any:
    return x._array if isinstance(x, Tensor) else x


def _lengths_array(lengths: Any, batch: int) -> Any:
    arr = xp.asarray(_data(lengths)).astype(int64).reshape(-1)
    if arr.shape[0] != batch:
        raise ValueError(
            f"lengths: expected one length per sequence ({batch}), got {arr.shape[0]}"
        )
    return arr


def _packed_index(batch_sizes: Any, sorted_indices: Any) -> tuple[Any, Any]:
    """Time and batch index of every packed row (rows are time-major, longest first)."""
    bs = xp.asarray(batch_sizes, dtype=int64)
    t_idx = xp.repeat(xp.arange(bs.size), bs)
    starts = xp.repeat(xp.cumsum(bs) - bs, bs)
    j_idx = xp.arange(t_idx.size) - starts
    return t_idx, xp.asarray(sorted_indices)[j_idx]


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) of sequences with
    the given lengths; with ``enforce_sorted=False`` the lengths may be in any order."""
    batch = input.shape[0] if batch_first else input.shape[1]
    steps = input.shape[1] if batch_first else input.shape[0]
    lens = _lengths_array(lengths, batch)
    if lens.size and (lens.min() <= 0 or lens.max() > steps):
        raise RuntimeError(
            f"pack_padded_sequence: every length must be in [1, {steps}] (the padded length), "
            f"got {lens.tolist()}"
        )
    if enforce_sorted:
        if xp.any(lens[:-1] < lens[1:]):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                f"True (got {lens.tolist()}). You can pass `enforce_sorted=False` to "
                "pack_padded_sequence and/or pack_sequence to sidestep this requirement."
            )
        order = xp.arange(batch)
        sorted_t = unsorted_t = None
    else:
        order = xp.argsort(-lens, kind="stable")
        sorted_t = _wrap(order.astype(int64))
        unsorted_t = invert_permutation(sorted_t)
    batch_sizes = (xp.arange(int(lens.max()))[:, None] < lens[None, :]).sum(1).astype(int64)
    t_idx, b_idx = _packed_index(batch_sizes, order)
    key = (b_idx, t_idx) if batch_first else (t_idx, b_idx)
    return PackedSequence(input[key], _wrap(batch_sizes), sorted_t, unsorted_t)


def pack_with(padded: Tensor, like: PackedSequence, batch_first: bool = False) -> PackedSequence:
    """Pack ``padded`` with exactly the layout (batch sizes, ordering) of ``like``."""
    order = like.sorted_indices
    n = padded.shape[0] if batch_first else padded.shape[1]
    order = xp.arange(n) if order is None else order._array
    t_idx, b_idx = _packed_index(like.batch_sizes._array, order)
    key = (b_idx, t_idx) if batch_first else (t_idx, b_idx)
    return PackedSequence(padded[key], like.batch_sizes, like.sorted_indices,
                          like.unsorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo ``pack_padded_sequence``: the padded batch (original order) and the lengths."""
    bs = sequence.batch_sizes._array.astype(int64)
    steps, batch = int(bs.size), int(bs[0]) if bs.size else 0
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being "
                f"{steps}"
            )
        steps = int(total_length)
    order = (xp.arange(batch) if sequence.sorted_indices is None
             else sequence.sorted_indices._array)
    t_idx, b_idx = _packed_index(bs, order)
    data = sequence.data
    feat = tuple(data.shape[1:])
    shape = ((batch, steps) if batch_first else (steps, batch)) + feat
    key = (b_idx, t_idx) if batch_first else (t_idx, b_idx)
    padded = apply(IndexAdd, data, shape=shape, key=key)
    lens_sorted = (bs[None, :] > xp.arange(batch)[:, None]).sum(1)
    lengths = xp.empty(batch, dtype=int64)
    lengths[order] = lens_sorted
    if padding_value != 0:
        valid = xp.zeros(shape[:2], dtype=padded.dtype)
        valid[key] = 1
        padded = padded + (1.0 - valid.reshape(shape[:2] + (1,) * len(feat))) * padding_value
    return padded, _wrap(lengths)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes ``(L_i, *)`` into ``(max L, B, *)`` (``(B, max L, *)`` with
    ``batch_first``), padded with ``padding_value`` on the ``padding_side``."""
    seqs = list(sequences)
    if not seqs:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    feat = tuple(seqs[0].shape[1:])
    for k, s in enumerate(seqs):
        if tuple(s.shape[1:]) != feat:
            raise RuntimeError(
                f"pad_sequence: sequence {k} has trailing shape {tuple(s.shape[1:])}, sequence 0 "
                f"has {feat}"
            )
    lens = xp.asarray([s.shape[0] for s in seqs], dtype=int64)
    steps, batch = int(lens.max()), len(seqs)
    b_idx = xp.repeat(xp.arange(batch), lens)
    t_idx = xp.arange(b_idx.size) - xp.repeat(xp.cumsum(lens) - lens, lens)
    if padding_side == "left":
        t_idx = t_idx + (steps - lens)[b_idx]
    shape = ((batch, steps) if batch_first else (steps, batch)) + feat
    key = (b_idx, t_idx) if batch_first else (t_idx, b_idx)
    out = apply(IndexAdd, cat(seqs, 0), shape=shape, key=key)
    if padding_value != 0:
        valid = xp.zeros(shape[:2], dtype=out.dtype)
        valid[key] = 1
        out = out + (1.0 - valid.reshape(shape[:2] + (1,) * len(feat))) * padding_value
    return out


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences ``(L_i, *)`` (``pad_sequence`` then ``pack_padded_sequence``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths: Any,
                   batch_first: bool = False) -> list[Tensor]:
    """Split a padded batch back into a list of sequences ``(L_i, *)``."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    lens = _lengths_array(lengths, x.shape[0])
    return [x[b, : int(n)] for b, n in enumerate(lens)]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """Split a packed sequence into a list of sequences ``(L_i, *)`` in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
