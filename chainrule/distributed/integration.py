"""What the Trainer needs to run unchanged under :class:`DistributedDataParallel`.

The Trainer asks :func:`distributed_context` for a context when its model is a DDP model on
more than one rank; with it:

* only rank 0 prints progress and writes files: logger callbacks (``CSVLogger``,
  ``JSONLLogger``, ``TensorBoard`` and any callback with ``rank_zero_only = True``) are muted
  on the other ranks, and ``save_checkpoint`` writes on rank 0 only; every other callback
  (early stopping, schedulers, checkpoint bookkeeping) runs on all ranks, on identical logs;
* the epoch's loss and metrics are all-reduced: the loss sum and count and every metric's
  accumulated numeric state (counts, sums, confusion matrices) are summed over the ranks in
  ONE all-reduce, so the logged values are those of the global data and identical on every
  rank (a metric must be a function of such sums, as all built-in ones are);
* :func:`set_sampler_epoch` gives a ``DistributedSampler`` the epoch, so an exact resume
  (same number of ranks) redraws the same shards.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.distributed.communicator import Communicator, get_world
from chainrule.distributed.launch import is_mpi_launched

__all__ = ["TrainerContext", "distributed_context", "cli_context", "set_sampler_epoch",
           "RankZeroOnly"]

_LOGGER_NAMES = ("CSVLogger", "JSONLLogger", "TensorBoard")


def set_sampler_epoch(loader: Any, epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on the loader's sampler (or batch sampler's) if it has one."""
    for sampler in (getattr(loader, "sampler", None),
                    getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        set_epoch = getattr(sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
            return


def distributed_context(model: Any) -> TrainerContext | None:
    """A context when ``model`` is a DistributedDataParallel on several ranks, else None."""
    from chainrule.distributed.ddp import DistributedDataParallel

    if isinstance(model, DistributedDataParallel) and model.comm.world_size > 1:
        return TrainerContext(model.comm)
    return None


def cli_context(requested: bool) -> TrainerContext | None:
    """The context of ``chainrule train``: distributed when ``--distributed`` was given or an
    MPI launcher started the process (a world of one without mpirun), else None."""
    if not requested and not is_mpi_launched():
        return None
    return TrainerContext(get_world())


def _rank_zero_only(cb: Any) -> bool:
    return bool(getattr(cb, "rank_zero_only", False)) or type(cb).__name__ in _LOGGER_NAMES


class RankZeroOnly:
    """Wraps a callback so that its events run on rank 0 only; its state (saved in
    checkpoints) stays reachable on every rank, keeping the callback lists aligned."""

    def __init__(self, callback: Any, active: bool) -> None:
        self.callback = callback
        self.active = active

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        if "callback" not in d:  # being copied or unpickled: not set up yet
            raise AttributeError(name)
        target = getattr(d["callback"], name)
        if name.startswith("on_") and callable(target) and not d["active"]:
            return _ignore
        return target

    def __repr__(self) -> str:
        return f"RankZeroOnly({self.callback!r})"


def _ignore(*args: Any, **kwargs: Any) -> None:
    """A muted callback event."""


class TrainerContext:
    """Rank facts and reductions for one Trainer (see the module docstring)."""

    def __init__(self, comm: Communicator) -> None:
        self.comm = comm

    @property
    def is_main(self) -> bool:
        return self.comm.rank == 0

    def wrap_model(self, model: Any) -> Any:
        """``model`` as a DistributedDataParallel over this context's ranks."""
        from chainrule.distributed.ddp import DistributedDataParallel

        return DistributedDataParallel(model, self.comm)

    def sampler(self, dataset: Any, seed: int, shuffle: bool = True) -> Any:
        """This rank's shard of ``dataset``, in the single-process loader's global order."""
        from chainrule.distributed.sampler import DistributedSampler

        return DistributedSampler(dataset, self.comm.world_size, self.comm.rank,
                                  shuffle=shuffle, seed=seed)

    def wrap_callbacks(self, callbacks: Sequence[Any]) -> list[Any]:
        return [RankZeroOnly(cb, self.is_main) if _rank_zero_only(cb) else cb
                for cb in callbacks]

    def reduce_sums(self, total: float, count: int, metrics: Sequence[Any]
                    ) -> tuple[float, int]:
        """Sum ``total``, ``count`` and the metrics' states over the ranks (one all-reduce);
        the metrics are updated in place."""
        fields = [_metric_fields(m) for m in metrics]
        parts = [np.array([total, count], dtype=np.float64)]
        for fs in fields:
            parts += [np.asarray(value, dtype=np.float64).ravel() - np.ravel(base)
                      for _, value, base in fs]
        flat = np.concatenate(parts)
        self.comm.allreduce_(flat, "sum")
        offset = 2
        for m, fs in zip(metrics, fields):
            for name, value, base in fs:
                n = np.size(value)
                summed = flat[offset: offset + n] + np.ravel(base)
                offset += n
                setattr(m, name, _like(value, summed))
        return float(flat[0]), int(round(flat[1]))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _metric_fields(m: Any) -> list[tuple[str, Any, Any]]:
    """(name, value, value after reset) of every numeric field of a metric's state; config
    fields (``k``, ``num_classes``) are equal to their reset value and sum to themselves."""
    fresh = copy.deepcopy(m)
    fresh.reset()
    base = vars(fresh)
    return [(name, value, base.get(name)) for name, value in vars(m).items()
            if _summable(value, base.get(name))]


def _summable(value: Any, ref: Any) -> bool:
    if _is_number(value):
        return _is_number(ref)
    return (isinstance(value, np.ndarray) and value.dtype.kind in "iuf"
            and isinstance(ref, np.ndarray) and ref.shape == value.shape)


def _like(value: Any, summed: np.ndarray) -> Any:
    """``summed`` in the type of ``value`` (int counts stay ints, arrays keep their dtype)."""
    if isinstance(value, np.ndarray):
        arr = summed.reshape(value.shape)
        return np.rint(arr).astype(value.dtype) if value.dtype.kind in "iu" else \
            arr.astype(value.dtype)
    if isinstance(value, (int, np.integer)):
        return int(round(float(summed[0])))
    return float(summed[0])
