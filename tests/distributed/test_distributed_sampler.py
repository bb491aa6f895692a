"""DistributedSampler: disjoint covering shards in the single-process loader's global order."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.distributed import DistributedSampler
from chainrule.utils.data import DataLoader, TensorDataset


def loader_orders(n: int, seed: int, epochs: int) -> list[list[int]]:
    """The epochs' orders of the single-process shuffling loader with ``seed``."""
    loader = DataLoader(range(n), batch_size=n, shuffle=True,
                        generator=cr.Generator().manual_seed(seed))
    return [next(iter(loader)).data.tolist() for _ in range(epochs)]


def shards(n: int, world: int, epoch: int, **kw) -> list[np.ndarray]:
    out = []
    for r in range(world):
        s = DistributedSampler(range(n), num_replicas=world, rank=r, **kw)
        s.set_epoch(epoch)
        out.append(s.epoch_indices())
    return out


@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 7, 12])
def test_shards_disjoint_covering_in_global_order(world, n):
    for epoch, order in enumerate(loader_orders(n, seed=5, epochs=3)):
        parts = shards(n, world, epoch, shuffle=True, seed=5)
        assert len({len(p) for p in parts}) == 1  # every rank the same number of steps
        interleaved = np.stack(parts, 1).reshape(-1)
        assert interleaved[:n].tolist() == order
        padding = interleaved[n:].tolist()
        assert padding == (order * world)[: len(padding)]  # wraps around, as PyTorch
        if n % world == 0:
            assert sorted(interleaved.tolist()) == list(range(n))


@pytest.mark.parametrize("world", [2, 3, 5])
def test_drop_last_keeps_disjoint_prefix(world):
    n = 12 if world != 5 else 13
    order = loader_orders(n, seed=2, epochs=1)[0]
    parts = shards(n, world, 0, shuffle=True, seed=2, drop_last=True)
    flat = np.stack(parts, 1).reshape(-1).tolist()
    assert len(set(flat)) == len(flat) == world * (n // world)
    assert flat == order[: len(flat)]


def test_no_shuffle_is_arange_strided_and_epochs_differ_when_shuffled():
    a, b = shards(10, 2, 0, shuffle=False)
    assert a.tolist() == [0, 2, 4, 6, 8] and b.tolist() == [1, 3, 5, 7, 9]
    s = DistributedSampler(range(50), num_replicas=2, rank=0, seed=1)
    first = s.epoch_indices().copy()
    s.set_epoch(1)
    second = s.epoch_indices().copy()
    s.set_epoch(0)  # going back redraws from the seed
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(s.epoch_indices(), first)
    assert list(iter(s)) == first.tolist() and len(s) == 25


def test_loader_batches_together_are_the_global_batches():
    ds = TensorDataset(cr.arange(24))
    world, b = 3, 2
    global_batches = [x[0].data.tolist() for x in DataLoader(
        ds, batch_size=world * b, shuffle=True, generator=cr.Generator().manual_seed(4))]
    per_rank = [[x[0].data.tolist() for x in DataLoader(
        ds, batch_size=b, sampler=DistributedSampler(ds, world, r, seed=4))]
        for r in range(world)]
    for k, want in enumerate(global_batches):
        got = sorted(sum((per_rank[r][k] for r in range(world)), []))
        assert got == sorted(want)


def test_defaults_come_from_the_world_and_bad_ranks_are_errors():
    s = DistributedSampler(range(4))
    assert (s.num_replicas, s.rank) == (1, 0)
    with pytest.raises(ValueError, match="invalid rank 2"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
