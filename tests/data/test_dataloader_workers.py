"""DataLoader worker processes: seeding, worker_init_fn, get_worker_info, order, errors.

Every dataset here is generated (no files); the workers start with the platform's default
method (fork on Linux) unless a test names one.
"""

from __future__ import annotations

import json
import os
import random
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    TensorDataset,
    get_worker_info,
)


class WhoLoads(Dataset):
    """Item i: (i, the loading worker's id, its seed, its num_workers; -1s in the main
    process), and a draw from each global generator a dataset might use."""

    def __len__(self) -> int:
        return 12

    def __getitem__(self, i: int) -> cr.Tensor:
        info = get_worker_info()
        who = [-1, -1, -1] if info is None else [info.id, info.seed, info.num_workers]
        return cr.tensor([i, *who, random.random() * 1e6, np.random.random() * 1e6])


def _record_init(worker_id: int) -> None:
    """A worker_init_fn that leaves a mark get_worker_info can be checked against."""
    info = get_worker_info()
    assert info is not None and info.id == worker_id
    path = os.environ["CR_TEST_INIT_DIR"]
    with open(os.path.join(path, f"init-{worker_id}-{os.getpid()}.json"), "w") as f:
        json.dump({"id": info.id, "num_workers": info.num_workers, "seed": info.seed,
                   "dataset": type(info.dataset).__name__}, f)


def test_worker_init_fn_runs_once_per_worker_with_its_info(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CR_TEST_INIT_DIR", str(tmp_path))
    loader = DataLoader(WhoLoads(), batch_size=2, num_workers=2, worker_init_fn=_record_init)
    batches = [b.numpy() for b in loader]
    marks = sorted((json.loads(p.read_text()) for p in tmp_path.iterdir()),
                   key=lambda m: m["id"])
    assert [m["id"] for m in marks] == [0, 1]  # once per worker, in distinct processes
    assert {m["num_workers"] for m in marks} == {2}
    assert {m["dataset"] for m in marks} == {"WhoLoads"}
    base = marks[0]["seed"]
    assert marks[1]["seed"] == base + 1  # PyTorch's seeding: base_seed + worker_id
    rows = np.concatenate(batches)
    np.testing.assert_array_equal(rows[:, 0], np.arange(12))  # batches in order
    # batch k was loaded by worker k mod 2, which saw its own seed and the worker count
    np.testing.assert_array_equal(rows[:, 1], (np.arange(12) // 2) % 2)
    np.testing.assert_array_equal(rows[:, 2], base + rows[:, 1])
    assert (rows[:, 3] == 2).all()
    # per-worker seeding of Python's and NumPy's global generators: the workers differ
    first = {int(w): r for r, w in zip(rows[:, 4], rows[:, 1])}
    assert first[0] != first[1]
    assert len(set(rows[:, 5])) == 12
    assert get_worker_info() is None  # the main process


def test_workers_yield_the_batches_of_num_workers_0() -> None:
    ds = TensorDataset(cr.arange(41), cr.randn(41, 3, generator=cr.Generator().manual_seed(0)))

    def run(workers: int) -> list:
        loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers,
                            generator=cr.Generator().manual_seed(11))
        return [[b[0].tolist(), b[1].numpy().tolist()] for _ in range(2) for b in loader]

    serial = run(0)
    assert run(2) == serial and run(3) == serial
    assert len(serial) == 22  # two epochs of 11 batches, different orders
    assert serial[0] != serial[11]


def test_worker_seeds_are_reproducible_and_change_per_epoch() -> None:
    def seeds(seed: int) -> list:
        loader = DataLoader(WhoLoads(), batch_size=6, num_workers=2,
                            generator=cr.Generator().manual_seed(seed))
        return [float(b[0, 2]) for _ in range(2) for b in loader]

    a = seeds(1)
    assert a == seeds(1) and a != seeds(2)
    assert a[0] != a[2]  # epoch 2's base seed differs from epoch 1's


class Boom(Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> cr.Tensor:
        if i == 7:
            raise KeyError("item 7 is missing")
        return cr.tensor(i)


def test_a_worker_exception_is_reraised_with_the_worker_id() -> None:
    loader = DataLoader(Boom(), batch_size=2, num_workers=2)
    got = []
    with pytest.raises(KeyError, match=r"(?s)worker process 1.*item 7 is missing"):
        for b in loader:
            got.append(b.tolist())
    assert got == [[0, 1], [2, 3], [4, 5]]  # everything before the failing batch, in order


def _fail_init(worker_id: int) -> None:
    raise ValueError(f"init of worker {worker_id} failed")


def test_a_failing_worker_init_fn_is_reported() -> None:
    with pytest.raises(ValueError, match="init of worker 0 failed"):
        list(DataLoader(WhoLoads(), batch_size=4, num_workers=2, worker_init_fn=_fail_init))


class Dies(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> cr.Tensor:
        if i == 2 and get_worker_info() is not None:
            os._exit(3)
        return cr.tensor(i)


def test_a_worker_that_dies_is_reported_and_workers_stop() -> None:
    import multiprocessing as mp

    with pytest.raises(RuntimeError, match="exited unexpectedly with exit code 3"):
        list(DataLoader(Dies(), batch_size=1, num_workers=2))
    time.sleep(0.2)
    assert not [p for p in mp.active_children() if p.name.startswith("chainrule-dataloader")]


def test_workers_stop_when_the_epoch_ends_or_the_iterator_is_dropped() -> None:
    import gc
    import multiprocessing as mp

    def ours() -> list:
        return [p for p in mp.active_children() if p.name.startswith("chainrule-dataloader")]

    loader = DataLoader(TensorDataset(cr.arange(20)), batch_size=2, num_workers=2)
    list(loader)
    assert not ours()
    it = iter(loader)
    next(it)
    assert len(ours()) == 2
    del it
    loader._current = None  # the loader keeps its last epoch for state_dict
    gc.collect()
    deadline = time.time() + 10
    while ours() and time.time() < deadline:
        time.sleep(0.05)
    assert not ours()


def test_resume_from_a_worker_loader_mid_epoch() -> None:
    ds = TensorDataset(cr.arange(30))
    loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2,
                        generator=cr.Generator().manual_seed(3))
    it = iter(loader)
    seen = [next(it)[0].tolist() for _ in range(3)]  # more batches are already prefetched
    state = json.loads(json.dumps(loader.state_dict()))
    rest = [b[0].tolist() for b in it]
    for workers in (0, 2):
        fresh = DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers,
                           generator=cr.Generator().manual_seed(8))
        fresh.load_state_dict(state)
        assert [b[0].tolist() for b in fresh] == rest
    assert sorted(sum(seen + rest, [])) == list(range(30))


def test_huge_lazy_sampler_with_workers() -> None:
    ds = TensorDataset(cr.arange(10))
    loader = DataLoader(ds, batch_size=4, num_workers=2,
                        sampler=RandomSampler(ds, replacement=True, num_samples=int(1e10)))
    it = iter(loader)
    assert [next(it)[0].shape for _ in range(3)] == [(4,)] * 3


class Shards(IterableDataset):
    """0 ... n-1, each worker streaming every num_workers-th item from its id on."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        lo, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(lo, self.n, step))


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("n,workers,batch_size", [(11, 2, 2), (11, 3, 2), (5, 2, None),
                                                  (7, 2, 3)])
def test_iterable_dataset_workers_interleave_as_torch(n, workers, batch_size) -> None:
    torch = pytest.importorskip("torch")
    tdata = torch.utils.data

    class TorchShards(tdata.IterableDataset):
        def __iter__(self):
            info = tdata.get_worker_info()
            return iter(range(info.id, n, info.num_workers))

    def flat(batches: list) -> list:
        return [b if isinstance(b, int) else np.asarray(b).tolist() for b in batches]

    theirs = flat(list(tdata.DataLoader(TorchShards(), batch_size=batch_size,
                                        num_workers=workers)))
    ours = flat(list(DataLoader(Shards(n), batch_size=batch_size, num_workers=workers)))
    assert ours == theirs


def test_spawn_start_method() -> None:
    ds = TensorDataset(cr.arange(9) * 2)
    loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="spawn")
    assert [b[0].tolist() for b in loader] == [[0, 2, 4, 6], [8, 10, 12, 14], [16]]


def test_worker_option_errors_match_torch() -> None:
    ds = TensorDataset(cr.arange(4))
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)


def test_iterable_dataset_resume_with_workers() -> None:
    loader = DataLoader(Shards(11), batch_size=2, num_workers=2)
    it = iter(loader)
    seen = [next(it).tolist() for _ in range(2)]
    state = loader.state_dict()
    rest = [b.tolist() for b in it]
    fresh = DataLoader(Shards(11), batch_size=2, num_workers=2)
    fresh.load_state_dict(state)
    assert [b.tolist() for b in fresh] == rest
    assert seen + rest == [[0, 2], [1, 3], [4, 6], [5, 7], [8, 10], [9]]
