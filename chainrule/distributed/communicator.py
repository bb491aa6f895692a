"""Communicators: the collective operations data-parallel training needs.

:class:`Communicator` is the interface and its own single-process implementation (a world of
one rank, where every collective is the identity), so code written for several processes runs
unchanged in one. :class:`MPICommunicator` runs the same collectives over MPI through
``mpi4py`` (the ``dist`` extra), imported only when an MPI communicator is created.

Collectives work in place on NumPy arrays or on chainrule Tensors (their ``._array``). Every MPI
collective is started nonblocking and polled against a deadline (``timeout`` seconds, default
``CHAINRULE_DIST_TIMEOUT`` or 300): a rank that never joins (a collective mismatch, a hung or
dead peer) gives :class:`CollectiveTimeoutError` naming the collective instead of a hang.

Example::

    comm = chainrule.distributed.get_world()     # MPI under mpirun, else one process
    g = np.ones(3) * comm.rank
    comm.allreduce_(g, op="mean")                # the same mean on every rank
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.distributed.launch import install_abort_excepthook, mpi_world_size_from_env
from chainrule.tensor import Tensor, _wrap

__all__ = [
    "Communicator",
    "MPICommunicator",
    "Work",
    "CollectiveTimeoutError",
    "init_process_group",
    "get_world",
    "is_initialized",
    "get_rank",
    "get_world_size",
    "destroy_process_group",
]

OPS = ("sum", "mean", "max", "min")
DEFAULT_TIMEOUT = 300.0
_MAX_NDIM = 32


class CollectiveTimeoutError(RuntimeError):
    """A collective did not complete in time: some rank never joined it."""


def default_timeout() -> float:
    """Seconds a collective may wait: ``CHAINRULE_DIST_TIMEOUT`` or 300 (``inf``: forever)."""
    raw = os.environ.get("CHAINRULE_DIST_TIMEOUT", "")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"CHAINRULE_DIST_TIMEOUT={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"CHAINRULE_DIST_TIMEOUT={raw!r} must be positive (inf: no timeout)")
    return value


def _array(x: Any, what: str) -> np.ndarray:
    """The array a collective works on: a Tensor's ``._array`` or the ndarray itself."""
    arr = x._array if isinstance(x, Tensor) else x
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{what}: expected a chainrule Tensor or a NumPy array, got "
                        f"{type(x).__name__}")
    if not arr.flags.writeable:
        raise ValueError(f"{what}: the array of shape {arr.shape} is read-only (in-place "
                         "collective)")
    return arr


def _check_op(op: str, arr: np.ndarray) -> None:
    if op not in OPS:
        raise ValueError(f"allreduce_: unknown op {op!r} (expected one of {', '.join(OPS)})")
    if op == "mean" and arr.dtype.kind not in "fc":
        raise TypeError(f"allreduce_(op='mean') needs a floating array, got {arr.dtype} "
                        "(use op='sum' and divide)")


class Work:
    """Handle of a started collective: ``wait()`` blocks until it is complete (and returns
    its result), ``is_completed()`` tests without blocking."""

    def __init__(self, test: Callable[[], bool] | None = None,
                 wait: Callable[[], None] | None = None,
                 finish: Callable[[], Any] | None = None) -> None:
        self._test, self._wait, self._finish = test, wait, finish
        self._done = test is None
        self._result: Any = None
        if self._done and finish is not None:
            self._result = finish()

    def is_completed(self) -> bool:
        if not self._done and self._test is not None and self._test():
            self._complete()
        return self._done

    def wait(self) -> Any:
        if not self._done:
            if self._wait is not None:
                self._wait()
            self._complete()
        return self._result

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._result = self._finish()


class Communicator:
    """A group of ``world_size`` processes; this one is ``rank``. The base class is the
    single-process world (rank 0 of 1): every collective leaves its data as it is.

    Collectives: ``allreduce_(x, op)`` (in place; op 'sum', 'mean', 'max' or 'min'),
    ``iallreduce_`` (the same, returning a :class:`Work` to ``wait()`` on),
    ``broadcast_(x, root)`` (in place), ``barrier()``, ``allgather(x)`` (a list with every
    rank's array) and ``broadcast_object(obj, root)`` (JSON-serialisable values).

    Example::

        comm = Communicator()                    # one process
        x = np.arange(3.0)
        comm.allreduce_(x)                       # unchanged: the sum over one rank
        assert comm.allgather(x)[0].tolist() == [0.0, 1.0, 2.0]
    """

    timeout: float = math.inf

    @property
    def rank(self) -> int:
        return 0

    @property
    def world_size(self) -> int:
        return 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that prints, writes checkpoints and reports."""
        return self.rank == 0

    def allreduce_(self, x: Any, op: str = "sum") -> Any:
        """Reduce ``x`` over all ranks in place: every rank ends with Σ (or mean, max, min)."""
        self.iallreduce_(x, op).wait()
        return x

    def iallreduce_(self, x: Any, op: str = "sum") -> Work:
        """Start an in-place all-reduce of ``x``; ``wait()`` on the result before reading x."""
        _check_op(op, _array(x, "allreduce_"))
        return Work()

    def broadcast_(self, x: Any, root: int = 0) -> Any:
        """Overwrite ``x`` on every rank with rank ``root``'s values (in place)."""
        self._check_root(root)
        _array(x, "broadcast_")
        return x

    def barrier(self) -> None:
        """Return once every rank has entered the barrier."""

    def allgather(self, x: Any) -> list[Any]:
        """Every rank's ``x`` (same shape and dtype on all ranks), in rank order."""
        arr = np.asarray(x._array if isinstance(x, Tensor) else x)
        return [_wrap(arr.copy()) if isinstance(x, Tensor) else arr.copy()]

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        """Rank ``root``'s ``obj`` on every rank (sent as JSON: no pickling)."""
        self._check_root(root)
        return json.loads(json.dumps(obj))

    def _check_root(self, root: int) -> None:
        if not 0 <= int(root) < self.world_size:
            raise ValueError(f"root rank {root} is not in [0, {self.world_size})")

    def __deepcopy__(self, memo: dict) -> Communicator:
        return self  # a handle on the process group: copies of a model share it

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, world_size={self.world_size})"


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "MPI communication needs mpi4py and an MPI library: pip install 'chainrule[dist]' "
            "(mpi4py + mpich)"
        ) from e
    return MPI


class MPICommunicator(Communicator):
    """Collectives over an MPI communicator (``MPI.COMM_WORLD`` by default) via ``mpi4py``.

    Each collective is one MPI call on the whole array, in place (``MPI.IN_PLACE``), started
    nonblocking and polled until done or ``timeout`` seconds have passed
    (:class:`CollectiveTimeoutError`); polling yields the CPU between polls, then sleeps with a
    growing pause, so that waiting ranks leave the CPU to ranks still computing.
    A communicator that timed out has a collective still pending: end the job.

    Example::

        # mpirun -np 2 python -m mpi4py script.py
        comm = MPICommunicator()
        x = np.full(4, float(comm.rank))
        comm.allreduce_(x, op="max")             # [1, 1, 1, 1] on both ranks
    """

    # NOTE: a nonblocking collective advances only while some MPI call polls it, so a long
    # message (several protocol rounds) needs frequent polls: yield-polling (sleep(0)) measured
    # as fast as a blocking MPI_Allreduce, and faster than it with more ranks than cores
    # (2.1 MB: 2-5 ms at np=2, 9-14 ms vs 14-26 ms at np=4 on 2 loaded cores); pauses start
    # only after _YIELD_S, for peers that are far behind.
    _YIELD_S = 0.05
    _MAX_SLEEP_S = 2e-3

    def __init__(self, comm: Any = None, timeout: float | None = None,
                 abort_on_exception: bool = True) -> None:
        MPI = _import_mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self._rank = int(self.comm.Get_rank())
        self._size = int(self.comm.Get_size())
        self.timeout = default_timeout() if timeout is None else float(timeout)
        if self.timeout <= 0:
            raise ValueError(f"MPICommunicator: timeout must be positive, got {timeout!r}")
        self._ops = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
        if abort_on_exception and self._size > 1:
            install_abort_excepthook(self.comm)

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def world_size(self) -> int:
        return self._size

    # ---- waiting with a deadline ----------------------------------------------------------
    def _wait(self, request: Any, what: str) -> None:
        """Poll ``request`` until complete; raise after ``timeout`` seconds."""
        if request.Test():
            return
        start = time.monotonic()
        deadline = start + self.timeout
        pause = 1e-4
        while not request.Test():
            now = time.monotonic()
            if now > deadline:
                raise CollectiveTimeoutError(
                    f"chainrule.distributed: {what} on rank {self._rank} of {self._size} did not "
                    f"complete within {self.timeout:g} s. Another rank is not taking part: it "
                    "is stuck or much slower, it died, or it called a different collective "
                    "(ranks diverged, e.g. different numbers of batches: shard the data with "
                    "DistributedSampler). Set CHAINRULE_DIST_TIMEOUT to wait longer."
                )
            if now - start < self._YIELD_S:
                time.sleep(0)  # let a rank sharing this core run, then poll again
            else:
                time.sleep(pause)
                pause = min(pause * 2, self._MAX_SLEEP_S)

    def _start(self, request: Any, what: str, finish: Callable[[], Any] | None = None) -> Work:
        return Work(request.Test, lambda: self._wait(request, what), finish)

    # ---- collectives ----------------------------------------------------------------------
    def iallreduce_(self, x: Any, op: str = "sum") -> Work:
        arr = _array(x, "allreduce_")
        _check_op(op, arr)
        what = f"allreduce_(op={op!r}) of {arr.size} x {arr.dtype}"
        if self._size == 1:
            return Work()
        buf = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self._ops[op])

        def finish() -> None:
            if op == "mean":
                np.multiply(buf, 1.0 / self._size, out=buf)
            if buf is not arr:
                np.copyto(arr, buf)

        return self._start(req, what, finish)

    def broadcast_(self, x: Any, root: int = 0) -> Any:
        self._check_root(root)
        arr = _array(x, "broadcast_")
        if self._size == 1:
            return x
        buf = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
        self._wait(self.comm.Ibcast(buf, root=root),
                   f"broadcast_ of {arr.size} x {arr.dtype} from rank {root}")
        if buf is not arr:
            np.copyto(arr, buf)
        return x

    def barrier(self) -> None:
        if self._size > 1:
            self._wait(self.comm.Ibarrier(), "barrier")

    def allgather(self, x: Any) -> list[Any]:
        arr = np.ascontiguousarray(x._array if isinstance(x, Tensor) else x)
        if arr.ndim > _MAX_NDIM:
            raise ValueError(f"allgather: at most {_MAX_NDIM} dims, got shape {arr.shape}")
        meta = np.full(_MAX_NDIM + 2, -1, dtype=np.int64)
        meta[0], meta[1] = arr.ndim, arr.dtype.num
        meta[2: 2 + arr.ndim] = arr.shape
        metas = np.empty((self._size, meta.size), dtype=np.int64)
        self._wait(self.comm.Iallgather(meta, metas), "allgather (shapes)")
        if not (metas == meta).all():
            bad = int(np.flatnonzero((metas != meta).any(1))[0])
            shape = tuple(int(s) for s in metas[bad, 2: 2 + metas[bad, 0]])
            what = "a different dtype" if shape == arr.shape else f"shape {shape}"
            raise ValueError(
                f"allgather: rank {self._rank} has an array of shape {arr.shape} ({arr.dtype}) "
                f"but rank {bad} has {what}; all ranks must give the same shape and dtype"
            )
        out = np.empty((self._size, *arr.shape), dtype=arr.dtype)
        self._wait(self.comm.Iallgather(arr, out), f"allgather of {arr.size} x {arr.dtype}")
        return [_wrap(out[i]) if isinstance(x, Tensor) else out[i] for i in range(self._size)]

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        self._check_root(root)
        if self._size == 1:
            return json.loads(json.dumps(obj))
        data = json.dumps(obj).encode() if self._rank == root else b""
        n = np.array([len(data)], dtype=np.int64)
        self.broadcast_(n, root)
        buf = (np.frombuffer(data, dtype=np.uint8).copy() if self._rank == root
               else np.empty(int(n[0]), dtype=np.uint8))
        self.broadcast_(buf, root)
        return json.loads(buf.tobytes().decode())

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (``MPI_Abort``)."""
        sys.stderr.flush()
        self.comm.Abort(code)


# ---- the default (world) communicator ---------------------------------------------------------
_world: Communicator | None = None


def init_process_group(backend: str = "auto", timeout: float | None = None) -> Communicator:
    """Create the world communicator: ``'mpi'``, ``'single'`` (one process) or ``'auto'``
    (MPI when an MPI launcher started this process, see :func:`mpi_world_size_from_env`).

    Example::

        comm = init_process_group()   # under mpirun -np 2: an MPICommunicator of 2 ranks
    """
    global _world
    if backend not in ("auto", "mpi", "single"):
        raise ValueError(f"init_process_group: unknown backend {backend!r} (expected 'auto', "
                         "'mpi' or 'single')")
    use_mpi = backend == "mpi" or (backend == "auto" and mpi_world_size_from_env() is not None)
    if use_mpi:
        _world = MPICommunicator(timeout=timeout)
    else:
        _world = Communicator()
    return _world


def get_world() -> Communicator:
    """The world communicator (created by :func:`init_process_group` on first use)."""
    return _world if _world is not None else init_process_group()


def is_initialized() -> bool:
    return _world is not None


def destroy_process_group() -> None:
    """Forget the world communicator (the next :func:`get_world` creates a new one)."""
    global _world
    _world = None


def get_rank() -> int:
    return get_world().rank


def get_world_size() -> int:
    return get_world().world_size
