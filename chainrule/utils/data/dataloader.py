"""The DataLoader: batches of a dataset in a sampler's order, with resumable state.

Batch size chooses the optimisation regime: ``batch_size=1`` is stochastic gradient descent,
``batch_size=B`` mini-batch, and ``batch_size=None`` (or ``len(dataset)``) on a map-style
dataset full-batch gradient descent: one batch of every index the sampler draws.

NOTE: ``batch_size=None`` on a map-style dataset means *full batch* here; PyTorch uses it to
switch automatic batching off. On an ``IterableDataset`` it keeps PyTorch's meaning (samples are
yielded one by one, converted but not collated).

Loading runs in the calling process: ``num_workers``, ``pin_memory``, ``timeout``,
``prefetch_factor`` and ``persistent_workers`` are accepted so PyTorch scripts run unchanged,
and have no effect (NumPy releases the GIL in the array copies that dominate a batch).

``state_dict()`` / ``load_state_dict()`` (the names of torchdata's StatefulDataLoader) save and
restore the epoch, the position in it and the sampler generator's state, so a trainer can stop
mid-epoch and resume with exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule.utils.data.collate import default_collate, default_convert
from chainrule.utils.data.dataset import Dataset, IterableDataset
from chainrule.utils.data.sampler import (
    BatchSampler,
    IndexStream,
    RandomSampler,
    Sampler,
    SequentialSampler,
    get_generator_state,
    set_generator_state,
)

__all__ = ["DataLoader", "get_generator_state", "get_worker_info", "set_generator_state"]

# 2: the position inside the epoch is (chunk, chunk_state, skip) of the lazy index stream;
# version-1 states (the epoch drawn whole at its start) still load.
_STATE_VERSION = 2


def get_worker_info() -> None:
    """Always None: batches are loaded in the calling process (no worker processes)."""
    return None


def _sampler_generator(sampler: Any) -> Any:
    """The generator a sampler draws from (the default one for a random sampler without)."""
    if isinstance(sampler, BatchSampler):
        sampler = sampler.sampler
    if not hasattr(sampler, "generator"):
        return None
    g = sampler.generator
    return _random.default_generator if g is None else g


class _IndexBatches:
    """Batches of ``batch_size`` indices cut from a lazy :class:`IndexStream` (one batch of
    the whole epoch when ``batch_size`` is None)."""

    def __init__(self, stream: IndexStream, batch_size: int | None, drop_last: bool) -> None:
        self.stream, self.batch_size, self.drop_last = stream, batch_size, drop_last
        self._full_done = False

    def next(self) -> np.ndarray | None:
        """The next batch of indices, or None at the end of the epoch."""
        if self.batch_size is None:
            if self._full_done:
                return None
            self._full_done = True
            idx = self.stream.take(None)
            return idx if len(idx) else None
        idx = self.stream.take(self.batch_size)
        if len(idx) == 0 or (self.drop_last and len(idx) < self.batch_size):
            return None
        return idx

    def position(self) -> dict[str, Any]:
        return self.stream.position()


class _ListBatches:
    """A user's ``batch_sampler`` (lists of indices), read lazily; its position is the
    generator state when its iterator was made and the number of batches read."""

    def __init__(self, batch_sampler: Iterable[Any], generator: Any, skip: int = 0,
                 chunk_state: dict[str, Any] | None = None) -> None:
        if chunk_state is not None and generator is not None:
            set_generator_state(generator, chunk_state)
        self.chunk_state = None if generator is None else get_generator_state(generator)
        self._it = iter(batch_sampler)
        self.skip = 0
        for _ in range(skip):
            self.next()

    def next(self) -> np.ndarray | None:
        b = next(self._it, None)
        if b is None:
            return None
        self.skip += 1
        return np.asarray(b, dtype=np.int64)

    def position(self) -> dict[str, Any]:
        return {"chunk": 0, "chunk_state": self.chunk_state, "skip": self.skip}


class _Epoch:
    """One pass over the loader: index batches drawn lazily from the sampler, then fetched."""

    def __init__(self, loader: DataLoader, source: _IndexBatches | _ListBatches,
                 start_state: Any, position: int = 0) -> None:
        self.loader = loader
        self.source = source
        self.start_state = start_state
        self.position = position
        self._exhausted = False
        try:
            self._length: int | None = len(loader)
        except TypeError:  # a sampler without a length
            self._length = None

    def __iter__(self) -> _Epoch:
        return self

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("this DataLoader's sampler has no length")
        return self._length

    @property
    def done(self) -> bool:
        return self._exhausted or (self._length is not None and self.position >= self._length)

    def where(self) -> dict[str, Any]:
        """The index stream's position before the next batch (what a resume rebuilds)."""
        return self.source.position()

    def __next__(self) -> Any:
        idx = None if self._exhausted else self.source.next()
        if idx is None:
            self._exhausted = True
            raise StopIteration
        batch = self.loader._fetch(idx)
        self.position += 1
        return batch


class _StreamEpoch:
    """One pass over an IterableDataset, grouped into batches as it streams."""

    def __init__(self, loader: DataLoader, skip: int = 0) -> None:
        self.loader = loader
        self.position = 0
        self.done = False
        self._it = iter(loader.dataset)
        self.start_state = None
        for _ in range(skip):
            try:
                self._take()
            except StopIteration:
                self.done = True
                break
            self.position += 1

    def __iter__(self) -> _StreamEpoch:
        return self

    def _take(self) -> Any:
        ld = self.loader
        if ld.batch_size is None:
            return next(self._it)
        samples = []
        for s in self._it:
            samples.append(s)
            if len(samples) == ld.batch_size:
                return samples
        if samples and not ld.drop_last:
            return samples
        raise StopIteration

    def __next__(self) -> Any:
        try:
            item = self._take()
        except StopIteration:
            self.done = True
            raise
        self.position += 1
        return self.loader.collate_fn(item)


class DataLoader:
    """Iterate over a dataset in batches.

    ``shuffle=True`` draws a new permutation from ``generator`` each epoch; ``sampler`` or
    ``batch_sampler`` choose the order explicitly. Batches of array-backed datasets (those
    with ``get_batch``, e.g. ``TensorDataset``) are gathered with one fancy index per tensor.

    Example::

        ds = TensorDataset(chainrule.randn(100, 3), chainrule.randint(0, 2, (100,)))
        g = chainrule.Generator().manual_seed(0)
        for x, y in DataLoader(ds, batch_size=32, shuffle=True, generator=g):
            train_step(x, y)
    """

    def __init__(
        self,
        dataset: Dataset | Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable[int] | None = None,
        batch_sampler: Iterable[list[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if batch_size is not None and (
            not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0
        ):
            raise ValueError(f"batch_size should be a positive integer value or None, but got "
                             f"batch_size={batch_size!r}")
        self.dataset = dataset
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.pin_memory_device = pin_memory_device
        self.in_order = in_order
        self.generator = generator
        self.drop_last = drop_last
        self._iterable = isinstance(dataset, IterableDataset)

        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
            if batch_size is None and drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually "
                                 "exclusive with drop_last")
        else:
            if sampler is not None and shuffle:
                raise ValueError("sampler option is mutually exclusive with shuffle")
            if batch_sampler is not None:
                if batch_size != 1 or shuffle or sampler is not None or drop_last:
                    raise ValueError("batch_sampler option is mutually exclusive with "
                                     "batch_size, shuffle, sampler, and drop_last")
                batch_size = None
            elif batch_size is None and drop_last:
                raise ValueError("batch_size=None means one full batch here and is mutually "
                                 "exclusive with drop_last")
            if sampler is None:
                sampler = (RandomSampler(dataset, generator=generator) if shuffle
                           else SequentialSampler(dataset))
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.batch_size = batch_size
        if collate_fn is None:
            collate_fn = default_convert if self._iterable and batch_size is None \
                else default_collate
        self.collate_fn = collate_fn
        self._fast = collate_fn is default_collate and hasattr(dataset, "get_batch")
        self._epoch = 0
        self._current: _Epoch | _StreamEpoch | None = None
        self._resume: dict[str, Any] | None = None

    # ---- batches ---------------------------------------------------------------------------
    def _batch_source(self, gen: Any, chunk: int = 0, skip: int = 0,
                      chunk_state: dict[str, Any] | None = None
                      ) -> _IndexBatches | _ListBatches:
        """This epoch's lazy batches of indices, from the start or from a saved position (the
        sampler's first chunk is drawn here, the rest as the batches reach them)."""
        bs = self.batch_sampler
        if bs is not None and not isinstance(bs, BatchSampler):
            return _ListBatches(bs, gen, skip, chunk_state)
        sampler, size, drop = ((bs.sampler, bs.batch_size, bs.drop_last) if bs is not None
                               else (self.sampler, self.batch_size, self.drop_last))
        stream = IndexStream(sampler, gen, chunk, skip, chunk_state)  # type: ignore[arg-type]
        return _IndexBatches(stream, size, drop)

    def _fetch(self, idx: np.ndarray) -> Any:
        if self._fast:
            return self.dataset.get_batch(idx)
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is not None:
            samples = getitems(idx.tolist())
        else:
            samples = [self.dataset[i] for i in idx.tolist()]
        return self.collate_fn(samples)

    def __iter__(self) -> Iterator[Any]:
        resume, self._resume = self._resume, None
        if self._iterable:
            skip = resume["position"] if resume else 0
            if not resume:
                self._epoch += 1
            self._current = _StreamEpoch(self, skip)
            return self._current
        gen = _sampler_generator(self.batch_sampler or self.sampler)
        if resume is None:
            self._epoch += 1
            start = get_generator_state(gen) if gen is not None else None
            source = self._batch_source(gen)
            position = 0
        else:
            start = resume.get("epoch_start_generator")
            position = resume["position"]
            source = self._batch_source(gen, **self._resume_point(resume, start))
            if gen is not None and resume.get("generator") is not None:
                set_generator_state(gen, resume["generator"])
        self._current = _Epoch(self, source, start, position)
        return self._current

    def _resume_point(self, state: dict[str, Any], start: Any) -> dict[str, Any]:
        """(chunk, skip, chunk_state) of a saved in-epoch state; a version-1 state (the epoch
        drawn whole at its start) resumes at chunk 0 from the epoch's start state."""
        if "chunk" in state:
            return {"chunk": state["chunk"], "skip": state["skip"],
                    "chunk_state": state["chunk_state"]}
        position = state["position"]
        bs = self.batch_sampler
        if bs is not None and not isinstance(bs, BatchSampler):
            skip = position
        else:
            size = bs.batch_size if bs is not None else self.batch_size
            skip = position * size if size else 0  # a full batch is never saved mid-epoch
        return {"chunk": 0, "skip": skip, "chunk_state": start}

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # raises TypeError when the stream has no length
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        n = len(self.sampler)  # type: ignore[arg-type]
        if self.batch_size is None:
            return 1 if n else 0
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    # ---- resumable state -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Epoch, position in it and generator states (JSON-serialisable).

        Mid-epoch it holds the sampler generator's state at the start of the epoch (to redraw
        the same order) and its state now (to continue as if never stopped).
        """
        if self._resume is not None:  # restored but not iterated yet: still that position
            return dict(self._resume)
        cur = self._current
        gen = None if self._iterable else _sampler_generator(self.batch_sampler or self.sampler)
        now = get_generator_state(gen) if gen is not None else None
        if cur is not None and not cur.done:
            state = {"version": _STATE_VERSION, "epoch": self._epoch, "position": cur.position,
                     "epoch_start_generator": cur.start_state, "generator": now,
                     "in_epoch": True}
            if isinstance(cur, _Epoch):
                state.update(cur.where())
            return state
        return {"version": _STATE_VERSION, "epoch": self._epoch, "position": 0,
                "epoch_start_generator": None, "generator": now, "in_epoch": False}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``: the next ``iter(loader)`` continues where it stopped."""
        for key in ("epoch", "position", "generator"):
            if key not in state:
                raise KeyError(f"DataLoader.load_state_dict: state has no {key!r} entry")
        self._epoch = int(state["epoch"])
        self._current = None
        if state.get("in_epoch"):
            self._resume = dict(state)
            return
        self._resume = None
        gen = None if self._iterable else _sampler_generator(self.batch_sampler or self.sampler)
        if gen is not None and state["generator"] is not None:
            set_generator_state(gen, state["generator"])

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"sampler={type(self.sampler).__name__}, drop_last={self.drop_last})")
