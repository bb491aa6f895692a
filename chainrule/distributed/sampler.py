"""``DistributedSampler``: each rank's shard of every epoch.

The epoch's global order is exactly the one the single-process loader draws with the same
seed: ``DataLoader(ds, shuffle=True, generator=chainrule.Generator().manual_seed(seed))``
visits, in its epoch ``e``, the permutation this sampler uses after ``set_epoch(e)`` (or
``arange`` without shuffling). Rank r of R takes positions r, r + R, r + 2R, ... of it, so the
shards are disjoint and cover the data, and with a per-rank batch size B the ranks' k-th
batches together are the single-process loader's k-th batch at batch size R·B: data-parallel
training sees the same global batches as one process would.

Without ``drop_last`` the order is padded by repeating its first indices up to a multiple of
R (every rank gets ceil(N / R) indices, a few examples twice, as in PyTorch); with
``drop_last`` the tail is dropped instead (floor(N / R) each).
"""

from __future__ import annotations

import math
from collections.abc import Sized
from typing import Any

import numpy as np

from chainrule.random import Generator
from chainrule.utils.data.sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """Rank ``rank``'s disjoint shard of each epoch's order (see the module docstring).

    ``num_replicas`` and ``rank`` default to the world communicator's. Call
    ``set_epoch(epoch)`` before each epoch (the Trainer does) so that every epoch has a new
    order; all ranks must use the same ``seed``.

    Example::

        sampler = DistributedSampler(ds, num_replicas=2, rank=0, shuffle=True, seed=0)
        loader = DataLoader(ds, batch_size=32, sampler=sampler)
        for epoch in range(3):
            sampler.set_epoch(epoch)
            for x, y in loader:
                train_step(x, y)
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from chainrule.distributed.communicator import get_world

            world = get_world()
            num_replicas = world.world_size if num_replicas is None else num_replicas
            rank = world.rank if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, got "
                             f"{num_replicas!r}")
        if not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}, rank should be in the "
                             f"interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.data_source = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self._rng: Any = None      # the stream of epoch orders, positioned after _rng_epoch
        self._rng_epoch = -1
        self._order: tuple[int, np.ndarray] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s order on the next iteration."""
        self.epoch = int(epoch)

    def global_order(self, epoch: int | None = None) -> np.ndarray:
        """The whole epoch's order before sharding and padding: the single-process loader's."""
        epoch = self.epoch if epoch is None else int(epoch)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        if self._order is not None and self._order[0] == epoch:
            return self._order[1]
        if self._rng is None or self._rng_epoch >= epoch:
            # epoch e is the (e+1)-th permutation of a generator seeded with ``seed``
            self._rng = Generator().manual_seed(self.seed).rng
            self._rng_epoch = -1
        perm = np.zeros(0, dtype=np.int64)
        while self._rng_epoch < epoch:
            perm = self._rng.permutation(n).astype(np.int64)
            self._rng_epoch += 1
        self._order = (epoch, perm)
        return perm

    def epoch_indices(self) -> np.ndarray:
        """This rank's indices for the current epoch (positions rank, rank + R, ...)."""
        order = self.global_order()
        if self.drop_last:
            order = order[: self.total_size]
        elif len(order) < self.total_size:
            pad = self.total_size - len(order)
            order = np.concatenate([order, np.resize(order, pad)])
        return order[self.rank: self.total_size: self.num_replicas]

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"DistributedSampler(num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})")
