"""The DataLoader: batches of a dataset in a sampler's order, with resumable state.

Batch size chooses the optimisation regime: ``batch_size=1`` is stochastic gradient descent,
``batch_size=B`` mini-batch, and ``batch_size=None`` (or ``len(dataset)``) on a map-style
dataset full-batch gradient descent: one batch of every index the sampler draws.

NOTE: ``batch_size=None`` on a map-style dataset means *full batch* here; PyTorch uses it to
switch automatic batching off. On an ``IterableDataset`` it keeps PyTorch's meaning (samples are
yielded one by one, converted but not collated).

``num_workers=0`` loads in the calling process; ``num_workers > 0`` starts that many worker
processes per epoch (see ``_worker.py``: PyTorch's per-worker seeding, ``worker_init_fn``,
:func:`get_worker_info`, batches yielded in order, worker exceptions re-raised with the
worker's id). ``pin_memory`` has no effect (no accelerator) and ``persistent_workers`` keeps
PyTorch's checks but workers still start afresh each epoch.

NOTE: the workers' base seed is derived from the generator's state (the loader's, else the
sampler's, else the default one) and the epoch number without drawing from it, so a loader
with workers yields the same batches as with ``num_workers=0`` (PyTorch draws the base seed
from the generator, which shifts a shared generator's stream).

``state_dict()`` / ``load_state_dict()`` (the names of torchdata's StatefulDataLoader) save and
restore the epoch, the position in it and the sampler generator's state, so a trainer can stop
mid-epoch and resume with exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule.utils.data._worker import WorkerPool, _StreamEnd, _WorkerError, fetch
from chainrule.utils.data._worker import get_worker_info as get_worker_info
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


def _base_seed(state: Any, epoch: int) -> int:
    """A 63-bit worker base seed from a generator ``state`` and the epoch number (nothing is
    drawn from the generator)."""
    state = json.dumps(state, sort_keys=True, default=str)
    digest = hashlib.sha256(f"{epoch}:{state}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class _WorkerEpoch(_Epoch):
    """One pass with worker processes: index batches are sent round-robin ahead of use (at
    most ``prefetch_factor · num_workers`` in flight) and yielded in order.

    NOTE: the index stream runs ahead of the yielded batches, so a sampler chunk after the
    first (epochs over 2**20 indices) is drawn earlier than with ``num_workers=0``; with a
    generator also drawn from between batches (the model's dropout), that chunk then differs
    from the in-process run's, as in PyTorch, whose main process also samples ahead. A resume
    still continues from the yielded batches (``where``)."""

    def __init__(self, loader: DataLoader, source: _IndexBatches | _ListBatches,
                 start_state: Any, position: int, base_seed: int) -> None:
        super().__init__(loader, source, start_state, position)
        self.pool = WorkerPool(loader.dataset, loader.num_workers, loader.collate_fn,
                               loader._fast, base_seed, loader.worker_init_fn,
                               loader.multiprocessing_context, timeout=loader.timeout)
        self.in_flight = (loader.prefetch_factor or 2) * loader.num_workers
        self._sent = 0  # batches handed out (numbered from 0 in this pass)
        self._next = 0  # the batch number to yield next
        self._positions: deque[dict[str, Any]] = deque()  # stream position before each batch
        self._source_done = False
        self._send_more()

    def _send_more(self) -> None:
        while not self._source_done and self._sent - self._next < self.in_flight:
            where = self.source.position()
            idx = self.source.next()
            if idx is None:
                self._source_done = True
                break
            self._positions.append(where)
            self.pool.send(self._sent % self.pool.num_workers, self._sent, idx)
            self._sent += 1
        if self._source_done and self._next == self._sent:
            self.pool.shutdown()  # the epoch is delivered: stop the workers now

    def where(self) -> dict[str, Any]:
        return self._positions[0] if self._positions else self.source.position()

    def __next__(self) -> Any:
        if self._exhausted or self._next == self._sent:
            self._exhausted = True
            self.pool.shutdown()
            raise StopIteration
        data = self.pool.get(self._next)
        self._next += 1
        self._positions.popleft()
        if isinstance(data, _WorkerError):
            self._exhausted = True
            self.pool.shutdown()
            data.reraise()
        self.position += 1
        self._send_more()
        return data


def stream_batches(dataset: Iterable[Any], batch_size: int | None,
                   drop_last: bool) -> Iterator[Any]:
    """Samples of an iterable dataset grouped into lists of ``batch_size`` (the last one
    shorter unless ``drop_last``), or one by one when ``batch_size`` is None."""
    it = iter(dataset)
    if batch_size is None:
        yield from it
        return
    while True:
        samples = []
        for s in it:
            samples.append(s)
            if len(samples) == batch_size:
                break
        if not samples or (drop_last and len(samples) < batch_size):
            return
        yield samples


class _StreamEpoch:
    """One pass over an IterableDataset, grouped into batches as it streams."""

    def __init__(self, loader: DataLoader, skip: int = 0) -> None:
        self._setup(loader)
        self._it = stream_batches(loader.dataset, loader.batch_size, loader.drop_last)
        self._skip(skip)

    def _setup(self, loader: DataLoader) -> None:
        self.loader = loader
        self.position = 0
        self.done = False
        self.start_state = None

    def _skip(self, skip: int) -> None:
        """Pass over the ``skip`` batches a resumed epoch has already delivered."""
        for _ in range(skip):
            if self._take() is _END:
                self.done = True
                break
            self.position += 1

    def __iter__(self) -> _StreamEpoch:
        return self

    def _take(self) -> Any:
        """The next batch's raw samples, or _END."""
        return next(self._it, _END)

    def _deliver(self, item: Any) -> Any:
        return self.loader.collate_fn(item)

    def __next__(self) -> Any:
        item = self._take()
        if item is _END:
            self.done = True
            raise StopIteration
        self.position += 1
        return self._deliver(item)


class _StreamWorkerEpoch(_StreamEpoch):
    """One pass over an IterableDataset with workers: each worker streams its own copy of the
    dataset (shard it with :func:`get_worker_info`); batches are taken from the workers in
    turn, a worker leaving the rotation when its copy is exhausted."""

    def __init__(self, loader: DataLoader, skip: int, base_seed: int) -> None:
        self._setup(loader)
        batches = partial(stream_batches, batch_size=loader.batch_size,
                          drop_last=loader.drop_last)
        self.pool = WorkerPool(loader.dataset, loader.num_workers, loader.collate_fn, False,
                               base_seed, loader.worker_init_fn,
                               loader.multiprocessing_context, stream_batches=batches,
                               timeout=loader.timeout)
        self._active = list(range(loader.num_workers))
        self._turn = 0
        self._owner: dict[int, int] = {}  # batch number -> worker asked for it
        self._sent = self._next = 0
        self._in_flight = (loader.prefetch_factor or 2) * loader.num_workers
        self._send_more()
        self._skip(skip)

    def _send_more(self) -> None:
        n = self.pool.num_workers
        while self._active and self._sent - self._next < self._in_flight:
            w = self._turn % n  # the next active worker in the cycle 0, 1, ..., n-1, 0, ...
            while w not in self._active:
                self._turn += 1
                w = self._turn % n
            self._turn += 1
            self._owner[self._sent] = w
            self.pool.send(w, self._sent, None)
            self._sent += 1

    def _take(self) -> Any:
        while self._next < self._sent:
            data = self.pool.get(self._next)
            w = self._owner.pop(self._next)
            self._next += 1
            if isinstance(data, _StreamEnd):
                if w in self._active:
                    self._active.remove(w)
                self._send_more()
                continue
            if isinstance(data, _WorkerError):
                self.pool.shutdown()
                self.done = True
                data.reraise()
            self._send_more()
            return data
        self.pool.shutdown()
        return _END

    def _deliver(self, item: Any) -> Any:
        return item  # collated in the worker


_END = object()  # end of a stream


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
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
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
        return fetch(self.dataset, idx, self.collate_fn, self._fast)

    def __iter__(self) -> Iterator[Any]:
        resume, self._resume = self._resume, None
        if self._iterable:
            skip = resume["position"] if resume else 0
            if not resume:
                self._epoch += 1
            if self.num_workers:
                seed = _base_seed(self._seed_state(None), self._epoch)
                self._current = _StreamWorkerEpoch(self, skip, seed)
            else:
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
        if self.num_workers:
            seed = _base_seed(self._seed_state(start), self._epoch)
            self._current = _WorkerEpoch(self, source, start, position, seed)
        else:
            self._current = _Epoch(self, source, start, position)
        return self._current

    def _seed_state(self, start: Any) -> Any:
        """The generator state the workers' base seed comes from: the sampler generator's at
        the epoch's start, else the loader's generator's (or the default one's) now."""
        if start is not None:
            return start
        return get_generator_state(self.generator or _random.default_generator)

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
