"""Samplers: the order in which a ``DataLoader`` visits a dataset's indices.

Each built-in sampler draws a whole epoch at once as an index array (``epoch_indices``), so
the loader can slice batches out of it without a Python loop, and a random sampler's epoch is
a pure function of its generator's state at the start of the epoch (what makes an exact
mid-epoch resume possible). Iterating a sampler yields Python ints, as in PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

from chainrule.tensor import Tensor
from chainrule.utils.data.dataset import _random_rng

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
]


class Sampler:
    """Base class: an iterable over dataset indices (optionally with ``__len__``).

    Subclasses define ``epoch_indices()`` (one epoch as an int64 array) or ``__iter__``.

    Example::

        class EvenFirst(Sampler):
            def __init__(self, n):
                self.n = n
            def epoch_indices(self):
                return np.r_[np.arange(0, self.n, 2), np.arange(1, self.n, 2)]
            def __len__(self):
                return self.n
    """

    def __init__(self, data_source: Sized | None = None) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        epoch = getattr(self, "epoch_indices", None)
        if epoch is None:
            raise TypeError(f"{type(self).__name__} must define __iter__ or epoch_indices")
        return iter(epoch().tolist())


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order.

    Example::

        list(SequentialSampler(range(3)))   # [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def epoch_indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation each epoch, or ``num_samples`` draws with replacement.

    Without replacement and ``num_samples > len(data_source)``, whole permutations are
    concatenated (then cut), as PyTorch does. Randomness comes from ``generator`` (the
    default generator if None).

    Example::

        g = chainrule.Generator().manual_seed(0)
        order = list(RandomSampler(range(5), generator=g))
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got {replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.num_samples, int) or self.num_samples < 0:
            raise ValueError(
                f"num_samples should be a non-negative integer value, but got "
                f"num_samples={self.num_samples!r}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def epoch_indices(self) -> np.ndarray:
        n, m = len(self.data_source), self.num_samples
        rng = _random_rng(self.generator)
        if m == 0:
            return np.zeros(0, dtype=np.int64)
        if n == 0:
            raise ValueError("RandomSampler: cannot draw samples from an empty data source")
        if self.replacement:
            return rng.integers(0, n, size=m, dtype=np.int64)
        reps = math.ceil(m / n)
        return np.concatenate([rng.permutation(n) for _ in range(reps)])[:m].astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch.

    Example::

        sampler = SubsetRandomSampler([0, 2, 4, 6], generator=chainrule.Generator())
    """

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self._idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices,
                               dtype=np.int64)
        self.generator = generator

    def epoch_indices(self) -> np.ndarray:
        return self._idx[_random_rng(self.generator).permutation(len(self._idx))]

    def __len__(self) -> int:
        return len(self._idx)


class WeightedRandomSampler(Sampler):
    """Draw ``num_samples`` indices with probabilities proportional to ``weights``.

    :math:`P(i) = w_i / \\sum_j w_j`; with ``replacement=False`` an index is drawn at most
    once (so ``num_samples <= len(weights)``). Use it to rebalance classes:
    ``weights = 1 / class_count[y]``.

    Example::

        sampler = WeightedRandomSampler([0.1, 0.9], num_samples=100)
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Any = None) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got "
                f"num_samples={num_samples!r}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got {replacement!r}")
        w = np.asarray(weights.data if isinstance(weights, Tensor) else weights,
                       dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{w.shape}")
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if bad.size:
            raise ValueError(f"weights must be finite and non-negative: weights[{bad[0]}] = "
                             f"{w[bad[0]]}")
        if w.sum() <= 0:
            raise ValueError("weights must not all be zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(
                f"cannot draw {num_samples} samples without replacement from "
                f"{np.count_nonzero(w)} indices with non-zero weight"
            )
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def epoch_indices(self) -> np.ndarray:
        p = self.weights / self.weights.sum()
        rng = _random_rng(self.generator)
        return rng.choice(len(p), size=self.num_samples, replace=self.replacement,
                          p=p).astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group another sampler's indices into lists of ``batch_size``.

    Example::

        list(BatchSampler(SequentialSampler(range(5)), 2, drop_last=False))
        # [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size!r}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def index_batches(self) -> list[np.ndarray]:
        """One epoch of batches as index arrays (slices of one epoch array)."""
        return chunk(sampler_indices(self.sampler), self.batch_size, self.drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self.index_batches())

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


def sampler_indices(sampler: Iterable[int]) -> np.ndarray:
    """One epoch of ``sampler`` as an int64 array (no per-index loop for built-in samplers)."""
    epoch = getattr(sampler, "epoch_indices", None)
    if epoch is not None:
        return np.asarray(epoch(), dtype=np.int64)
    return np.fromiter((int(i) for i in sampler), dtype=np.int64)


def chunk(indices: np.ndarray, size: int, drop_last: bool) -> list[np.ndarray]:
    """Split ``indices`` into consecutive views of ``size`` (the last may be short)."""
    n = len(indices)
    stop = n - n % size if drop_last else n
    return [indices[i: i + size] for i in range(0, stop, size)]
