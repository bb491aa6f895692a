"""Samplers: the order in which a ``DataLoader`` visits a dataset's indices.

Each built-in sampler draws an epoch lazily, in chunks of index arrays (``index_chunks``): the
loader slices batches out of a chunk without a Python loop, and draws the next chunk from the
generator only when the batches reach it, so ``RandomSampler(ds, replacement=True,
num_samples=10**10)`` costs one chunk of memory, not the whole epoch. Chunk ``k`` is a pure
function of the generator's state just before it is drawn (what makes an exact mid-epoch
resume possible: :class:`IndexStream` records that state). An epoch that fits in one chunk is
drawn in a single call at the start of the epoch. Iterating a sampler yields Python ints, as
in PyTorch.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

from chainrule.tensor import Tensor
from chainrule.utils.data.dataset import _random_rng

# Indices drawn per call for long epochs: 2**20 int64 = 8 MiB, and a few ms of drawing.
CHUNK = 1 << 20

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

    Subclasses define ``index_chunks(first)`` (the epoch lazily as int64 arrays, see
    :class:`RandomSampler`), ``epoch_indices()`` (one epoch as an int64 array) or ``__iter__``.

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
        if getattr(self, "epoch_indices", None) is None and not _has_chunks(self):
            raise TypeError(f"{type(self).__name__} must define __iter__, index_chunks or "
                            "epoch_indices")
        stream = IndexStream(self)
        return itertools.chain.from_iterable(c.tolist() for c in stream.chunks())


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order.

    Example::

        list(SequentialSampler(range(3)))   # [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def index_chunks(self, first: int = 0) -> Iterator[np.ndarray]:
        """Chunk k: the indices k·CHUNK ... (k+1)·CHUNK - 1 (below n)."""
        n = len(self.data_source)
        for start in range(first * CHUNK, n, CHUNK):
            yield np.arange(start, min(start + CHUNK, n), dtype=np.int64)

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
        # an empty data set gives an empty epoch, but an explicit num_samples=0 (an epoch of
        # nothing, silently) is refused as PyTorch refuses it
        explicit_zero = num_samples is not None and not isinstance(num_samples, bool) and \
            num_samples == 0
        if (not isinstance(self.num_samples, int) or isinstance(self.num_samples, bool)
                or self.num_samples < 0 or explicit_zero):
            raise ValueError(
                f"num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples!r}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def index_chunks(self, first: int = 0) -> Iterator[np.ndarray]:
        """The epoch from chunk ``first`` on, each chunk drawn from the generator when asked.

        With replacement chunk k holds draws k·CHUNK ... of the ``num_samples`` (uniform on
        0..n-1); without, chunk k is the k-th permutation of 0..n-1 (the last one cut so the
        epoch has ``num_samples`` indices).
        """
        n, m = len(self.data_source), self.num_samples
        if m == 0:
            return
        if n == 0:
            raise ValueError("RandomSampler: cannot draw samples from an empty data source")
        size = CHUNK if self.replacement else n
        for start in range(first * size, m, size):
            rng = _random_rng(self.generator)  # looked up per chunk: a resume may reseed it
            if self.replacement:
                yield rng.integers(0, n, size=min(size, m - start), dtype=np.int64)
            else:
                yield rng.permutation(n)[: m - start].astype(np.int64, copy=False)

    def epoch_indices(self) -> np.ndarray:
        """The whole epoch as one array (materialised: for short epochs only)."""
        return _concat(self.index_chunks())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch.

    Example::

        sampler = SubsetRandomSampler([0, 2, 4, 6], generator=chainrule.Generator())
    """

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self._idx = np.asarray(indices._array if isinstance(indices, Tensor) else indices,
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
        w = np.asarray(weights._array if isinstance(weights, Tensor) else weights,
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

    def index_chunks(self, first: int = 0) -> Iterator[np.ndarray]:
        """With replacement, chunk k holds draws k·CHUNK ... (each a uniform u mapped through
        the cumulative weights); without, the one chunk of all ``num_samples`` draws."""
        p = self.weights / self.weights.sum()
        m = self.num_samples
        size = CHUNK if self.replacement else m
        for start in range(first * size, m, size):
            rng = _random_rng(self.generator)
            yield rng.choice(len(p), size=min(size, m - start), replace=self.replacement,
                             p=p).astype(np.int64)

    def epoch_indices(self) -> np.ndarray:
        """The whole epoch as one array (materialised: for short epochs only)."""
        return _concat(self.index_chunks())

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

    def index_batches(self) -> Iterator[np.ndarray]:
        """The epoch's batches as index arrays, drawn lazily (slices of the sampler's chunks)."""
        stream = IndexStream(self.sampler)
        while True:
            batch = stream.take(self.batch_size)
            if len(batch) == 0 or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self.index_batches())

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


# ---- lazy epochs -----------------------------------------------------------------------------
def get_generator_state(generator: Any) -> dict[str, Any]:
    """JSON-serialisable state of a chainrule or NumPy generator."""
    if isinstance(generator, np.random.Generator):
        return {"bit_generator": copy.deepcopy(generator.bit_generator.state)}
    return generator.get_state()


def set_generator_state(generator: Any, state: dict[str, Any]) -> None:
    """Restore a state given by :func:`get_generator_state` (in place)."""
    if isinstance(generator, np.random.Generator):
        generator.bit_generator.state = copy.deepcopy(state["bit_generator"])
    else:
        generator.set_state(state)


def _has_chunks(sampler: Any) -> bool:
    return callable(getattr(sampler, "index_chunks", None))


def _concat(chunks: Iterable[np.ndarray]) -> np.ndarray:
    parts = list(chunks)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class IndexStream:
    """One epoch of a sampler's indices, drawn chunk by chunk as :meth:`take` consumes them.

    Where it stands is (``chunk``, ``chunk_state``, ``skip``): the number of the chunk holding
    the next index, the generator's state just before that chunk was drawn, and how many of
    the chunk's indices are consumed. A stream built with those three redraws the same chunk
    and continues from the same index (``generator`` is the one the sampler draws from; None
    when it draws nothing). A sampler without ``index_chunks`` counts as one chunk: its
    ``epoch_indices()`` array, or its ``__iter__`` read lazily (then ``chunk_state`` is the
    state when the iterator was made and ``skip`` counts every index read).
    """

    def __init__(self, sampler: Iterable[int], generator: Any = None, chunk: int = 0,
                 skip: int = 0, chunk_state: dict[str, Any] | None = None) -> None:
        if chunk_state is not None and generator is not None:
            set_generator_state(generator, chunk_state)
        self.generator = generator
        self.chunk = chunk
        self.skip = 0
        self._iter: Iterator[int] | None = None
        self._chunks: Iterator[np.ndarray] | None = None
        self._buf = np.zeros(0, dtype=np.int64)
        self._exhausted = False
        if _has_chunks(sampler):
            self._chunks = sampler.index_chunks(chunk)  # type: ignore[attr-defined]
        elif callable(getattr(sampler, "epoch_indices", None)):  # drawn at the first next()
            self._chunks = (np.asarray(e(), dtype=np.int64)
                            for e in [sampler.epoch_indices])  # type: ignore[attr-defined]
        self.chunk_state = self._state()
        if self._chunks is None:
            self._iter = iter(sampler)
        else:
            self._buf = next(self._chunks, None)
            if self._buf is None:
                self._exhausted, self._buf = True, np.zeros(0, dtype=np.int64)
        if skip:
            self.take(skip)

    def _state(self) -> dict[str, Any] | None:
        return None if self.generator is None else get_generator_state(self.generator)

    def _next_chunk(self) -> bool:
        """Draw the next chunk (built-in samplers); False at the end of the epoch."""
        if self._chunks is None or self._exhausted:
            return False
        state = self._state()
        nxt = next(self._chunks, None)
        if nxt is None:
            self._exhausted = True
            return False
        self.chunk += 1
        self.chunk_state, self.skip, self._buf = state, 0, nxt
        return True

    def take(self, k: int | None) -> np.ndarray:
        """The next ``k`` indices (all that are left when None; fewer at the end)."""
        if self._iter is not None:
            got = np.fromiter((int(i) for i in itertools.islice(self._iter, k)),
                              dtype=np.int64)
            self.skip += len(got)
            return got
        parts = []
        want = math.inf if k is None else k
        while want > 0:
            avail = len(self._buf) - self.skip
            if avail <= 0:
                if not self._next_chunk():
                    break
                continue
            n = int(min(avail, want))
            parts.append(self._buf[self.skip: self.skip + n])
            self.skip += n
            want -= n
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def chunks(self) -> Iterator[np.ndarray]:
        """The rest of the epoch chunk by chunk (for iterating a sampler by itself)."""
        while True:
            part = self.take(CHUNK)
            if len(part) == 0:
                return
            yield part

    def position(self) -> dict[str, Any]:
        """``chunk``, ``chunk_state`` and ``skip``: what rebuilds this stream where it stands."""
        return {"chunk": self.chunk, "chunk_state": self.chunk_state, "skip": self.skip}


def sampler_indices(sampler: Iterable[int]) -> np.ndarray:
    """One whole epoch of ``sampler`` as an int64 array (materialised: short epochs only)."""
    return IndexStream(sampler).take(None)
