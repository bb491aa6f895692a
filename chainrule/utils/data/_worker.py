"""Worker processes of the DataLoader (``num_workers > 0``), PyTorch's design in small.

The main process draws the index batches (the sampler never runs in a worker) and hands batch
``k`` to worker ``k mod num_workers``; each worker fetches and collates its batches and sends
them back, and the main process yields them in batch order whatever order they arrive in. At
most ``prefetch_factor · num_workers`` batches are in flight. Worker ``w`` seeds Python's
``random``, chainrule's default generator and NumPy's legacy global generator from
``base_seed + w`` and limits BLAS to one thread before ``worker_init_fn(w)`` runs, and
:func:`get_worker_info` tells the dataset (and the init function) which worker it runs in.
An exception in a worker is raised in the main process, with the worker's id and traceback,
when its batch is due; a worker that dies is reported by its exit code. Workers stop when
the epoch ends, on an error, or when the iterator is dropped.

Nothing here relies on ``fork``: the worker entry point is a module-level function, so the
``spawn`` and ``forkserver`` start methods work when the dataset, ``collate_fn`` and
``worker_init_fn`` can be pickled.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["WorkerInfo", "get_worker_info"]

# How often (s) a waiting worker checks that its parent lives, and the main process that its
# workers do.
_POLL_S = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker: its ``id`` (0 ... num_workers-1),
    ``num_workers``, its ``seed`` (base_seed + id) and its copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process, its :class:`WorkerInfo`; None in the main process.

    Example (each worker reads its own shard of a stream)::

        info = get_worker_info()
        start = 0 if info is None else info.id
        step = 1 if info is None else info.num_workers
    """
    return _worker_info


class _WorkerError:
    """An exception raised in a worker, carried to the main process as text."""

    def __init__(self, worker_id: int, exc: BaseException) -> None:
        self.exc_type = type(exc)
        self.message = (f"Caught {type(exc).__name__} in DataLoader worker process {worker_id}.\n"
                        "Original " + "".join(traceback.format_exception(exc)))

    def reraise(self) -> None:
        """Raise the worker's exception type with its message (RuntimeError when that type
        cannot be built from one string, as PyTorch does)."""
        try:
            err = self.exc_type(self.message)
        except Exception:
            err = RuntimeError(self.message)
        raise err


class _StreamEnd:
    """A worker's reply when its copy of an IterableDataset is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


_END = object()


def fetch(dataset: Any, idx: np.ndarray, collate_fn: Callable[[list[Any]], Any],
          fast: bool) -> Any:
    """The batch at indices ``idx``: ``dataset.get_batch`` (one gather per tensor) when
    ``fast``, else ``__getitems__`` or one ``__getitem__`` per index, then ``collate_fn``."""
    if fast:
        return dataset.get_batch(idx)
    getitems = getattr(dataset, "__getitems__", None)
    if getitems is not None:
        samples = getitems(idx.tolist())
    else:
        samples = [dataset[i] for i in idx.tolist()]
    return collate_fn(samples)


def _seed_worker(seed: int, worker_id: int) -> None:
    """Seed every global generator a dataset may use, distinctly per worker (a forked worker
    would otherwise repeat its siblings' random augmentations)."""
    from chainrule import random as cr_random

    random.seed(seed)
    cr_random.manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, seed]).generate_state(4))


def worker_loop(dataset: Any, stream_batches: Callable[[Any], Any] | None,
                collate_fn: Callable[[list[Any]], Any], fast: bool, index_queue: Any,
                result_queue: Any, worker_id: int, num_workers: int, seed: int,
                init_fn: Callable[[int], None] | None, parent_pid: int) -> None:
    """A worker's life: seed, run ``init_fn``, then answer (batch number, indices) requests
    until a None arrives. For an IterableDataset ``stream_batches(dataset)`` gives the batch
    iterator of this worker's copy, and each request takes its next batch."""
    global _worker_info
    import chainrule

    chainrule.set_num_threads(1)  # as PyTorch's workers: N workers x BLAS threads would thrash
    _seed_worker(seed, worker_id)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    stream = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
        if stream_batches is not None:
            stream = stream_batches(dataset)
    except Exception as e:  # reported on the first batch this worker owes
        failed: _WorkerError | None = _WorkerError(worker_id, e)
    else:
        failed = None
    while True:
        try:
            job = index_queue.get(timeout=_POLL_S)
        except queue.Empty:
            if os.getppid() != parent_pid:  # the main process is gone: stop
                return
            continue
        if job is None:
            return
        batch_no, idx = job
        if failed is not None:
            result_queue.put((batch_no, failed))
            continue
        try:
            if stream is not None:
                data = next(stream, _END)
                data = _StreamEnd(worker_id) if data is _END else collate_fn(data)
            else:
                data = fetch(dataset, idx, collate_fn, fast)
        except Exception as e:
            data = _WorkerError(worker_id, e)
        result_queue.put((batch_no, data))


class WorkerPool:
    """``num_workers`` processes serving one epoch, and the main side of the protocol."""

    def __init__(self, dataset: Any, num_workers: int, collate_fn: Callable[[list[Any]], Any],
                 fast: bool, base_seed: int, init_fn: Callable[[int], None] | None,
                 context: Any = None, stream_batches: Callable[[Any], Any] | None = None,
                 timeout: float = 0) -> None:
        import multiprocessing as mp

        ctx = mp.get_context(context) if context is None or isinstance(context, str) \
            else context
        self.num_workers = num_workers
        self.timeout = timeout
        self._arrived: dict[int, Any] = {}  # batches that came before their turn
        self.result_queue = ctx.Queue()
        self.index_queues = [ctx.Queue() for _ in range(num_workers)]
        self.workers = []
        for w in range(num_workers):
            p = ctx.Process(
                target=worker_loop, daemon=True, name=f"chainrule-dataloader-{w}",
                args=(dataset, stream_batches, collate_fn, fast, self.index_queues[w],
                      self.result_queue, w, num_workers, base_seed + w, init_fn, os.getpid()))
            p.start()
            self.workers.append(p)
        self._finalizer = weakref.finalize(self, _shutdown, self.workers, self.index_queues,
                                           self.result_queue)

    def send(self, worker_id: int, batch_no: int, idx: np.ndarray | None) -> None:
        self.index_queues[worker_id].put((batch_no, idx))

    def get(self, batch_no: int) -> Any:
        """Batch ``batch_no``'s data, keeping the batches that arrive before it for later."""
        while batch_no not in self._arrived:
            k, data = self.receive()
            self._arrived[k] = data
        return self._arrived.pop(batch_no)

    def receive(self) -> tuple[int, Any]:
        """The next (batch number, data) to arrive; raises if a worker died or ``timeout``
        seconds pass without one."""
        waited = 0.0
        poll = min(_POLL_S, self.timeout) if self.timeout else _POLL_S
        while True:
            try:
                return self.result_queue.get(timeout=poll)
            except queue.Empty:
                waited += poll
            dead = [(w, p) for w, p in enumerate(self.workers) if not p.is_alive()]
            if dead:
                w, p = dead[0]
                self.shutdown(now=True)
                raise RuntimeError(f"DataLoader worker {w} (pid {p.pid}) exited unexpectedly "
                                   f"with exit code {p.exitcode}")
            if self.timeout and waited >= self.timeout:
                self.shutdown(now=True)
                raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds")

    def shutdown(self, now: bool = False) -> None:
        """Stop the workers (idempotent); ``now`` terminates them without waiting for the
        batch they may be busy with."""
        if now:
            for p in self.workers:
                if p.is_alive():
                    p.terminate()
        self._finalizer()


def _shutdown(workers: list[Any], index_queues: list[Any], result_queue: Any) -> None:
    """Ask each worker to stop, wait briefly, terminate the ones that do not."""
    for q in index_queues:
        with contextlib.suppress(OSError, ValueError):  # a queue already closed
            q.put(None)
    for p in workers:
        p.join(timeout=5 * _POLL_S)
        if p.is_alive():
            p.terminate()
            p.join(timeout=_POLL_S)
    for q in [*index_queues, result_queue]:
        q.cancel_join_thread()  # unread batches must not block the main process's exit
        q.close()
