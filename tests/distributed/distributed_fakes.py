"""An in-process stand-in for R identical ranks: every rank holds the same data, so a sum
over the ranks is R times the local value. Lets the single-process tests drive the multi-rank
code paths (buckets, hooks, SyncBatchNorm's global statistics) without MPI."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.distributed import Communicator, Work
from chainrule.tensor import Tensor


class IdenticalRanks(Communicator):
    def __init__(self, world_size: int = 2, rank: int = 0) -> None:
        self._size, self._rank = world_size, rank
        self.calls: list[tuple[str, int]] = []

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def world_size(self) -> int:
        return self._size

    def iallreduce_(self, x: Any, op: str = "sum") -> Work:
        arr = x._array if isinstance(x, Tensor) else x
        self.calls.append(("allreduce", arr.size))
        if op == "sum":
            arr *= self._size
        return Work()

    def broadcast_(self, x: Any, root: int = 0) -> Any:
        arr = x._array if isinstance(x, Tensor) else x
        self.calls.append(("broadcast", arr.size))
        return x

    def allgather(self, x: Any) -> list[Any]:
        return [np.array(x, copy=True) for _ in range(self._size)]
