"""Datasets: the map-style ``Dataset`` protocol and the array-backed containers.

A map-style dataset has ``__getitem__(i)`` and ``__len__``. A dataset that can also return a
whole collated batch for an index array defines ``get_batch(indices)``; the ``DataLoader`` then
loads each batch with one call (one fancy index per tensor) instead of a Python loop over the
samples. ``TensorDataset``, ``Subset`` and ``ConcatDataset`` (when their parts can) and the
bundled data sets do so.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule.backend import xp
from chainrule.tensor import Tensor, _wrap

__all__ = [
    "Dataset",
    "IterableDataset",
    "TensorDataset",
    "Subset",
    "ConcatDataset",
    "ChainDataset",
    "StackDataset",
    "random_split",
    "split_lengths",
]


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``.

    Example::

        class Squares(Dataset):
            def __len__(self):
                return 10
            def __getitem__(self, i):
                return chainrule.tensor([float(i)]), chainrule.tensor([float(i * i)])
    """

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of stream-style datasets: subclasses define ``__iter__`` (samples in order).

    Example::

        class Count(IterableDataset):
            def __iter__(self):
                return iter(range(5))
    """

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(f"{type(self).__name__} must define __iter__ to be an IterableDataset")

    def __add__(self, other: Dataset) -> ConcatDataset:
        raise TypeError("ConcatDataset does not support IterableDataset; chain the iterators")


def take_rows(t: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of a Tensor or array with one fancy index (``take`` along dim 0).

    A Tensor that requires grad goes through the indexing op so its gradient flows.
    """
    if isinstance(t, Tensor):
        if t.requires_grad:
            return t[idx]
        return _wrap(xp.take(t._array, idx, axis=0))
    return xp.take(xp.asarray(t), idx, axis=0)


def _as_index_array(indices: Any) -> np.ndarray:
    arr = np.asarray(indices._array if isinstance(indices, Tensor) else indices)
    if arr.dtype.kind not in "iu":
        arr = arr.astype(np.int64)
    return arr


class TensorDataset(Dataset):
    """Samples are the rows of tensors that share their first dimension.

    ``dataset[i]`` is ``(t0[i], t1[i], ...)``; a batch of indices is taken with one fancy
    index per tensor. NumPy arrays are wrapped as Tensors without copying.

    Example::

        X, y = chainrule.randn(100, 3), chainrule.randint(0, 2, (100,))
        ds = TensorDataset(X, y)
        x0, y0 = ds[0]
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        ts = tuple(_wrap(t) if isinstance(t, np.ndarray) else t for t in tensors)
        for k, t in enumerate(ts):
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"TensorDataset: argument {k} is a {type(t).__name__}, expected a Tensor "
                    "or a NumPy array"
                )
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {k} is 0-dimensional (no samples)")
        n = ts[0].shape[0]
        for k, t in enumerate(ts[1:], 1):
            if t.shape[0] != n:
                raise ValueError(
                    f"Size mismatch between tensors: tensor 0 has {n} rows (shape "
                    f"{tuple(ts[0].shape)}) but tensor {k} has {t.shape[0]} (shape "
                    f"{tuple(t.shape)})"
                )
        self.tensors = ts

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])

    def get_batch(self, indices: Any) -> list[Tensor]:
        """The collated batch at ``indices``: one ``take`` per tensor, no loop over samples."""
        idx = _as_index_array(indices)
        return [take_rows(t, idx) for t in self.tensors]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (in that order).

    Example::

        first_ten = Subset(dataset, range(10))
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices
        self._idx = _as_index_array(indices)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[int(self._idx[i]) for i in idx]]
        return self.dataset[int(self._idx[idx])]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        """Samples at ``indices`` as a list (PyTorch's batched-fetch protocol)."""
        mapped = self._idx[_as_index_array(indices)]
        inner = getattr(self.dataset, "__getitems__", None)
        if inner is not None:
            return inner(mapped.tolist())
        return [self.dataset[int(i)] for i in mapped]

    def __len__(self) -> int:
        return len(self._idx)

    @property
    def targets(self) -> Any:
        """Labels of the subset's samples, if the wrapped dataset has ``targets``."""
        t = self.dataset.targets  # type: ignore[attr-defined]
        return take_rows(t, self._idx) if isinstance(t, (Tensor, np.ndarray)) else [
            t[int(i)] for i in self._idx]

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes Subset lacks: expose get_batch when the parent has it.
        if name == "get_batch" and hasattr(self.__dict__.get("dataset"), "get_batch"):
            return self._get_batch
        raise AttributeError(f"'Subset' object has no attribute {name!r}")

    def _get_batch(self, indices: Any) -> Any:
        return self.dataset.get_batch(self._idx[_as_index_array(indices)])  # type: ignore


class ConcatDataset(Dataset):
    """The samples of several datasets one after the other.

    Example::

        both = ConcatDataset([train_a, train_b])   # or train_a + train_b
    """

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, idx: int) -> Any:
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise IndexError(f"index {idx} is out of range for a dataset of length {n}")
            idx += n
        if idx >= n:
            raise IndexError(f"index {idx} is out of range for a dataset of length {n}")
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][idx - start]

    def __getattr__(self, name: str) -> Any:
        if name == "get_batch" and all(
            hasattr(d, "get_batch") for d in self.__dict__.get("datasets", [None])
        ):
            return self._get_batch
        raise AttributeError(f"'ConcatDataset' object has no attribute {name!r}")

    def _get_batch(self, indices: Any) -> Any:
        """Gather from each part its share of the batch, then scatter back into batch order."""
        idx = _as_index_array(indices)
        which = np.searchsorted(np.asarray(self.cumulative_sizes), idx, side="right")
        starts = np.concatenate([[0], self.cumulative_sizes[:-1]])
        local = idx - starts[which]
        parts = np.unique(which)
        if len(parts) == 1:
            return self.datasets[int(parts[0])].get_batch(local)  # type: ignore[attr-defined]
        pieces = [(which == p, self.datasets[int(p)].get_batch(local[which == p]))  # type: ignore
                  for p in parts]
        return _scatter(pieces, len(idx))


def _scatter(pieces: list[tuple[np.ndarray, Any]], n: int) -> Any:
    """Merge per-part collated batches (same structure) into one batch of ``n`` rows."""
    first = pieces[0][1]
    if isinstance(first, (Tensor, np.ndarray)):
        arr0 = first._array if isinstance(first, Tensor) else first
        out = np.empty((n,) + arr0.shape[1:], dtype=np.result_type(
            *[(p._array if isinstance(p, Tensor) else p).dtype for _, p in pieces]))
        for mask, p in pieces:
            out[mask] = p._array if isinstance(p, Tensor) else p
        return _wrap(out) if isinstance(first, Tensor) else out
    if isinstance(first, dict):
        return {k: _scatter([(m, p[k]) for m, p in pieces], n) for k in first}
    if isinstance(first, (list, tuple)):
        merged = [_scatter([(m, p[i]) for m, p in pieces], n) for i in range(len(first))]
        return merged if isinstance(first, list) else type(first)(merged)
    raise TypeError(f"ConcatDataset: cannot merge batches of type {type(first).__name__}")


def split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Integer lengths from ``lengths`` (integers summing to ``n`` or fractions summing to 1).

    Fractions are floored and the remainder is given one by one to the first splits, as
    PyTorch's ``random_split`` does.
    """
    lengths = list(lengths)
    if not lengths:
        raise ValueError("lengths must not be empty")
    total = math.fsum(lengths)
    if math.isclose(total, 1.0) and total <= 1 + 1e-12:  # fractions (PyTorch's rule)
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"fraction at index {i} is not between 0 and 1: {frac}")
        out = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(out)):
            out[i % len(out)] += 1
        for i, length in enumerate(out):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              "empty dataset.")
        return out
    out = [int(x) for x in lengths]
    if any(x != float(y) for x, y in zip(out, lengths)) or any(x < 0 for x in out):
        raise ValueError(f"lengths must be non-negative integers or fractions summing to 1, "
                         f"got {lengths}")
    if sum(out) != n:
        raise ValueError(
            f"Sum of input lengths ({sum(out)}) does not equal the length of the input "
            f"dataset ({n})!"
        )
    return out


def random_split(dataset: Dataset, lengths: Sequence[float],
                 generator: Any = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given lengths.

    ``lengths`` are integers summing to ``len(dataset)`` or fractions summing to 1. The
    permutation comes from ``generator`` (the default generator if None).

    Example::

        train, val = random_split(ds, [0.8, 0.2], generator=chainrule.Generator().manual_seed(0))
    """
    sizes = split_lengths(len(dataset), lengths)  # type: ignore[arg-type]
    perm = _random_rng(generator).permutation(sum(sizes))
    offsets = np.cumsum(sizes)
    return [Subset(dataset, perm[off - size: off]) for off, size in zip(offsets, sizes)]


def _random_rng(generator: Any) -> np.random.Generator:
    """The NumPy generator behind a chainrule Generator, a NumPy Generator or None."""
    if isinstance(generator, np.random.Generator):
        return generator
    return _random.rng(generator)


class ChainDataset(IterableDataset):
    """Several iterable datasets streamed one after the other (PyTorch's ``ChainDataset``).

    Example::

        stream = ChainDataset([LogLines("a.txt"), LogLines("b.txt")])
    """

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)  # type: ignore[arg-type]
        return total


class StackDataset(Dataset):
    """Samples of several equally long datasets side by side: ``StackDataset(a, b)[i]`` is
    ``(a[i], b[i])`` and ``StackDataset(x=a, y=b)[i]`` is ``{"x": a[i], "y": b[i]}``.

    Example::

        pairs = StackDataset(images=image_ds, labels=label_ds)
    """

    def __init__(self, *args: Dataset, **kwargs: Dataset) -> None:
        if args and kwargs:
            raise ValueError("Supported either ``tuple``- (via ``args``) or``dict``- (via "
                             "``kwargs``) like input/output, but both types are given.")
        parts = list(args) if args else list(kwargs.values())
        if not parts:
            raise ValueError("At least one dataset should be passed")
        self._length = len(parts[0])  # type: ignore[arg-type]
        if any(len(d) != self._length for d in parts):  # type: ignore[arg-type]
            raise ValueError("Size mismatch between datasets")
        self.datasets: tuple | dict = tuple(args) if args else dict(kwargs)

    def __getitem__(self, index: int) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length
