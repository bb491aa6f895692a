"""DataLoader, samplers, datasets and collation: order, reproducibility, regimes, resume."""

from __future__ import annotations

import json
from collections import namedtuple
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import random as crandom
from chainrule.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    random_split,
)


def make_ds(n: int = 10) -> TensorDataset:
    X = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
    return TensorDataset(cr.from_numpy(X), cr.arange(n))


def labels(loader: DataLoader) -> list[list[int]]:
    return [b[1].tolist() for b in loader]


class CountingDataset(TensorDataset):
    calls = 0

    def __getitem__(self, i):  # noqa: ANN001
        CountingDataset.calls += 1
        return super().__getitem__(i)


# ---- datasets ------------------------------------------------------------------------------
def test_tensor_dataset_items_and_size_mismatch() -> None:
    ds = make_ds(4)
    x, y = ds[2]
    assert x.tolist() == [4.0, 5.0] and y.item() == 2
    assert len(ds) == 4
    with pytest.raises(ValueError, match=r"tensor 0 has 4 rows.*tensor 1 has 3"):
        TensorDataset(cr.zeros(4, 2), cr.zeros(3))


def test_subset_and_concat() -> None:
    ds = make_ds(5)
    sub = Subset(ds, [4, 0, 2])
    assert len(sub) == 3 and sub[0][1].item() == 4
    cat = ds + make_ds(3)
    assert isinstance(cat, ConcatDataset) and len(cat) == 8
    assert cat[6][1].item() == 1 and cat[-1][1].item() == 2
    with pytest.raises(IndexError):
        cat[8]


@pytest.mark.parametrize("kind", ["tensor", "subset", "concat"])
def test_fast_batches_equal_per_sample_collation(kind: str) -> None:
    base = make_ds(12)
    ds = {"tensor": base, "subset": Subset(base, [11, 3, 5, 7, 0, 2, 9]),
          "concat": ConcatDataset([base, Subset(base, [1, 2]), make_ds(4)])}[kind]
    assert hasattr(ds, "get_batch")
    g1, g2 = cr.Generator().manual_seed(3), cr.Generator().manual_seed(3)
    fast = list(DataLoader(ds, batch_size=4, shuffle=True, generator=g1))
    slow = list(DataLoader(ds, batch_size=4, shuffle=True, generator=g2,
                           collate_fn=lambda b: default_collate(b)))
    assert len(fast) == len(slow)
    for (xf, yf), (xs, ys) in zip(fast, slow):
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())
        assert xf.dtype == xs.dtype and yf.dtype == ys.dtype


def test_array_backed_batches_do_not_loop_over_samples() -> None:
    CountingDataset.calls = 0
    ds = CountingDataset(cr.randn(100, 3), cr.arange(100))
    batches = list(DataLoader(ds, batch_size=32, shuffle=True))
    assert CountingDataset.calls == 0
    assert [b[0].shape[0] for b in batches] == [32, 32, 32, 4]


def test_dataset_without_get_batch_uses_getitem() -> None:
    class Squares(Dataset):
        def __len__(self) -> int:
            return 5

        def __getitem__(self, i: int):  # noqa: ANN202
            return float(i), i * i

    xb, yb = next(iter(DataLoader(Squares(), batch_size=5)))
    assert xb.dtype == np.float64 and yb.dtype == np.int64
    assert yb.tolist() == [0, 1, 4, 9, 16]


# ---- regimes -------------------------------------------------------------------------------
def test_sgd_minibatch_fullbatch_sizes() -> None:
    ds = make_ds(10)
    assert [b[0].shape[0] for b in DataLoader(ds, batch_size=1)] == [1] * 10
    assert [b[0].shape[0] for b in DataLoader(ds, batch_size=4)] == [4, 4, 2]
    assert [b[0].shape[0] for b in DataLoader(ds, batch_size=None)] == [10]
    assert [b[0].shape[0] for b in DataLoader(ds, batch_size=len(ds))] == [10]
    assert len(DataLoader(ds, batch_size=1)) == 10
    assert len(DataLoader(ds, batch_size=4)) == 3
    assert len(DataLoader(ds, batch_size=None)) == 1


def test_drop_last() -> None:
    ds = make_ds(10)
    loader = DataLoader(ds, batch_size=4, drop_last=True)
    assert [b[0].shape[0] for b in loader] == [4, 4] and len(loader) == 2
    assert labels(DataLoader(ds, batch_size=3, drop_last=True)) == [[0, 1, 2], [3, 4, 5],
                                                                     [6, 7, 8]]


def test_sequential_order_and_full_coverage() -> None:
    assert sum(labels(DataLoader(make_ds(7), batch_size=3)), []) == list(range(7))


# ---- shuffling and generators --------------------------------------------------------------
def test_shuffle_reproducible_with_generator() -> None:
    ds = make_ds(20)

    def run(seed: int) -> list[list[list[int]]]:
        loader = DataLoader(ds, batch_size=6, shuffle=True,
                            generator=cr.Generator().manual_seed(seed))
        return [labels(loader) for _ in range(3)]

    a, b, c = run(1), run(1), run(2)
    assert a == b and a != c
    epochs = [sum(e, []) for e in a]
    for e in epochs:
        assert sorted(e) == list(range(20))
    assert epochs[0] != epochs[1]  # a new permutation every epoch


def test_shuffle_without_generator_follows_manual_seed() -> None:
    ds = make_ds(20)
    cr.manual_seed(123)
    a = labels(DataLoader(ds, batch_size=5, shuffle=True))
    cr.manual_seed(123)
    b = labels(DataLoader(ds, batch_size=5, shuffle=True))
    assert a == b


def test_numpy_generator_accepted() -> None:
    ds = make_ds(8)
    a = labels(DataLoader(ds, batch_size=8, shuffle=True, generator=np.random.default_rng(0)))
    b = labels(DataLoader(ds, batch_size=8, shuffle=True, generator=np.random.default_rng(0)))
    assert a == b


# ---- samplers ------------------------------------------------------------------------------
def test_sequential_and_subset_random_sampler() -> None:
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    s = SubsetRandomSampler([3, 5, 7, 9], generator=cr.Generator().manual_seed(0))
    out = list(s)
    assert sorted(out) == [3, 5, 7, 9] and len(s) == 4


def test_random_sampler_replacement_is_uniform() -> None:
    s = RandomSampler(range(5), replacement=True, num_samples=20000,
                      generator=cr.Generator().manual_seed(0))
    counts = np.bincount(list(s), minlength=5) / 20000
    np.testing.assert_allclose(counts, 0.2, atol=0.015)
    assert len(s) == 20000


def test_random_sampler_more_samples_than_data_without_replacement() -> None:
    s = RandomSampler(range(4), num_samples=10, generator=cr.Generator().manual_seed(0))
    out = list(s)
    assert len(out) == 10 and sorted(out[:4]) == [0, 1, 2, 3] and sorted(out[4:8]) == [0, 1, 2,
                                                                                       3]


def test_weighted_sampler_distribution() -> None:
    w = [1.0, 3.0, 0.0, 6.0]
    s = WeightedRandomSampler(w, num_samples=30000, generator=cr.Generator().manual_seed(0))
    freq = np.bincount(list(s), minlength=4) / 30000
    np.testing.assert_allclose(freq, np.array(w) / 10, atol=0.015)
    no_rep = list(WeightedRandomSampler(w, 3, replacement=False,
                                        generator=cr.Generator().manual_seed(1)))
    assert sorted(no_rep) == [0, 1, 3]
    with pytest.raises(ValueError, match=r"weights\[1\] = -1"):
        WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler(w, 4, replacement=False)


def test_batch_sampler_and_loader_with_batch_sampler() -> None:
    bs = BatchSampler(SequentialSampler(range(5)), 2, drop_last=False)
    assert list(bs) == [[0, 1], [2, 3], [4]] and len(bs) == 3
    assert len(BatchSampler(range(5), 2, drop_last=True)) == 2
    loader = DataLoader(make_ds(5), batch_sampler=bs)
    assert labels(loader) == [[0, 1], [2, 3], [4]]
    custom = DataLoader(make_ds(5), batch_sampler=[[4, 0], [1]])
    assert labels(custom) == [[4, 0], [1]]


def test_loader_with_sampler() -> None:
    loader = DataLoader(make_ds(6), batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert labels(loader) == [[5, 4], [3, 2], [1, 0]]


def test_loader_argument_errors() -> None:
    ds = make_ds(4)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    assert len(list(DataLoader(ds, num_workers=4, pin_memory=True))) == 4


# ---- random_split --------------------------------------------------------------------------
def test_random_split_lengths_and_fractions() -> None:
    ds = make_ds(10)
    a, b = random_split(ds, [3, 7], generator=cr.Generator().manual_seed(0))
    assert len(a) == 3 and len(b) == 7
    ids = sorted([int(a[i][1]) for i in range(3)] + [int(b[i][1]) for i in range(7)])
    assert ids == list(range(10))
    parts = random_split(ds, [0.33, 0.33, 0.34], generator=cr.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [4, 3, 3]  # floors 3,3,3; remainder to the first
    again = random_split(ds, [3, 7], generator=cr.Generator().manual_seed(0))
    assert a.indices.tolist() == again[0].indices.tolist()
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [3, 3])


# ---- collation -----------------------------------------------------------------------------
def test_default_collate_rules() -> None:
    out = default_collate([(cr.ones(2), 1, 0.5), (cr.zeros(2), 2, 1.5)])
    assert isinstance(out, list) and out[0].shape == (2, 2)
    assert out[1].dtype == np.int64 and out[2].dtype == np.float64
    d = default_collate([{"a": np.ones(3, np.float32), "s": "x"}, {"a": np.zeros(3, np.float32),
                                                                   "s": "y"}])
    assert d["a"].shape == (2, 3) and d["a"].dtype == np.float32 and d["s"] == ["x", "y"]
    P = namedtuple("P", "x y")
    p = default_collate([P(1, 2), P(3, 4)])
    assert isinstance(p, P) and p.x.tolist() == [1, 3]
    with pytest.raises(RuntimeError, match="equal shapes"):
        default_collate([cr.ones(2), cr.ones(3)])


# ---- IterableDataset -----------------------------------------------------------------------
class Stream(IterableDataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):  # noqa: ANN204
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


def test_iterable_dataset_batches() -> None:
    assert [b.tolist() for b in DataLoader(Stream(5), batch_size=2)] == [[0, 1], [2, 3], [4]]
    assert [b.tolist() for b in DataLoader(Stream(5), batch_size=2, drop_last=True)] == [
        [0, 1], [2, 3]]
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]
    assert len(DataLoader(Stream(5), batch_size=2)) == 3
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(3), shuffle=True)


def test_iterable_dataset_resume() -> None:
    loader = DataLoader(Stream(7), batch_size=2)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    fresh = DataLoader(Stream(7), batch_size=2)
    fresh.load_state_dict(state)
    assert [b.tolist() for b in fresh] == [[2, 3], [4, 5], [6]]


# ---- resumable state -----------------------------------------------------------------------
def test_resume_mid_epoch_is_exact() -> None:
    ds = make_ds(23)
    ref_loader = DataLoader(ds, batch_size=4, shuffle=True,
                            generator=cr.Generator().manual_seed(7))
    reference = [labels(ref_loader) for _ in range(3)]

    loader = DataLoader(ds, batch_size=4, shuffle=True, generator=cr.Generator().manual_seed(7))
    first = labels(loader)
    it = iter(loader)
    seen = [next(it)[1].tolist() for _ in range(2)]
    state = json.loads(json.dumps(loader.state_dict()))  # must survive JSON

    other = DataLoader(ds, batch_size=4, shuffle=True, generator=cr.Generator().manual_seed(99))
    other.load_state_dict(state)
    assert other.state_dict() == state  # saving again before iterating keeps the position
    rest = labels(other)
    assert first == reference[0]
    assert seen + rest == reference[1]
    assert labels(other) == reference[2]


def test_resume_with_generator_shared_by_the_model() -> None:
    """A generator also used between batches (e.g. by dropout) continues exactly."""
    ds = make_ds(17)

    def run(stop_after: int | None) -> tuple[list, dict]:
        g = cr.Generator().manual_seed(5)
        loader = DataLoader(ds, batch_size=3, shuffle=True, generator=g)
        draws, k = [], 0
        for _ in range(2):
            for _x, y in loader:
                draws.append((y.tolist(), float(crandom.rng(g).random())))
                k += 1
                if k == stop_after:
                    return draws, loader.state_dict()
        return draws, loader.state_dict()

    full, _ = run(None)
    part, state = run(8)  # stops in the second epoch
    g = cr.Generator().manual_seed(0)
    loader = DataLoader(ds, batch_size=3, shuffle=True, generator=g)
    loader.load_state_dict(state)
    rest = []
    for _ in range(2):
        for _x, y in loader:
            rest.append((y.tolist(), float(crandom.rng(g).random())))
            if len(part) + len(rest) == len(full):
                break
        if len(part) + len(rest) == len(full):
            break
    assert part + rest == full


def test_resume_at_epoch_boundary_starts_next_epoch() -> None:
    ds = make_ds(10)
    ref = DataLoader(ds, batch_size=4, shuffle=True, generator=cr.Generator().manual_seed(1))
    expected = [labels(ref) for _ in range(2)]
    loader = DataLoader(ds, batch_size=4, shuffle=True, generator=cr.Generator().manual_seed(1))
    labels(loader)
    state = loader.state_dict()
    assert state["in_epoch"] is False and state["epoch"] == 1
    fresh = DataLoader(ds, batch_size=4, shuffle=True, generator=cr.Generator().manual_seed(2))
    fresh.load_state_dict(state)
    assert labels(fresh) == expected[1]


# ---- lazy epochs (issue 18) ------------------------------------------------------------------
def test_huge_epochs_draw_indices_on_demand() -> None:
    """minGPT's sampler, 10**10 draws with replacement: the first batch comes from one chunk
    (the whole epoch would be 74.5 GiB of int64)."""
    import tracemalloc

    ds = make_ds(100)
    tracemalloc.start()
    try:
        loader = DataLoader(ds, sampler=RandomSampler(ds, replacement=True,
                                                      num_samples=int(1e10)), batch_size=4)
        x, y = next(iter(loader))
        assert len(loader) == int(1e10) // 4 and y.shape == (4,)
        weighted = WeightedRandomSampler(np.ones(100), num_samples=int(1e10))
        assert len(next(iter(BatchSampler(weighted, 3, drop_last=False)))) == 3
        cycled = RandomSampler(ds, num_samples=int(1e10))  # permutations, drawn one at a time
        assert next(iter(DataLoader(ds, sampler=cycled, batch_size=2)))[1].shape == (2,)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_an_epoch_within_one_chunk_is_one_draw() -> None:
    """Epochs up to a chunk are drawn in one call at the epoch's start (the orders of before
    the lazy sampler): a permutation, or n draws, from the generator's NumPy stream."""
    order = list(RandomSampler(range(50), generator=cr.Generator().manual_seed(3)))
    assert order == cr.Generator().manual_seed(3).rng.permutation(50).tolist()
    draws = list(RandomSampler(range(50), replacement=True, num_samples=70,
                               generator=cr.Generator().manual_seed(4)))
    assert draws == cr.Generator().manual_seed(4).rng.integers(0, 50, 70).tolist()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 5 indices, so short epochs cross several chunk boundaries."""
    from chainrule.utils.data import sampler as sampler_module

    monkeypatch.setattr(sampler_module, "CHUNK", 5)


@pytest.mark.parametrize("kind", ["replacement", "cycled", "weighted", "batch_sampler"])
def test_resume_across_chunks_with_a_shared_generator(small_chunks: None, kind: str) -> None:
    """Lazy chunk draws interleave with the model's draws from the same generator; a resume
    at every batch boundary reproduces the uninterrupted run (indices and model draws)."""
    ds = make_ds(6)

    def make(g: Any) -> DataLoader:
        if kind == "replacement":
            return DataLoader(ds, batch_size=3, generator=g,
                              sampler=RandomSampler(ds, True, 17, generator=g))
        if kind == "cycled":
            return DataLoader(ds, batch_size=4, sampler=RandomSampler(ds, num_samples=15,
                                                                      generator=g))
        w = WeightedRandomSampler(np.arange(1.0, 7.0), 14, generator=g)
        if kind == "weighted":
            return DataLoader(ds, batch_size=3, sampler=w)
        return DataLoader(ds, batch_sampler=BatchSampler(w, 4, drop_last=True))

    def run(stop_after: int | None, loader: DataLoader, g: Any, k0: int = 0) -> tuple:
        out, k = [], k0
        for _ in range(2):
            for _x, y in loader:
                out.append((y.tolist(), float(crandom.rng(g).random())))
                k += 1
                if k == stop_after:
                    return out, json.loads(json.dumps(loader.state_dict()))
        return out, None

    g = cr.Generator().manual_seed(5)
    full, _ = run(None, make(g), g)
    assert len({tuple(b) for b, _ in full}) > 3  # really random batches
    for stop in range(1, len(full)):
        g = cr.Generator().manual_seed(5)
        part, state = run(stop, make(g), g)
        g2 = cr.Generator().manual_seed(0)
        loader = make(g2)
        loader.load_state_dict(state)
        rest, _ = run(None, loader, g2, stop)
        # the resumed loader finishes this epoch and runs one more: compare what overlaps
        assert (part + rest)[: len(full)] == full, f"resume after batch {stop}"


def test_version_1_states_still_resume() -> None:
    """A state saved before the lazy sampler (no chunk entries) resumes the same batches."""
    ds = make_ds(23)
    ref = DataLoader(ds, batch_size=4, shuffle=True, generator=cr.Generator().manual_seed(7))
    it = iter(ref)
    next(it)
    state = ref.state_dict()
    expected = [b[1].tolist() for b in it]
    v1 = {k: v for k, v in state.items() if k not in ("chunk", "chunk_state", "skip")}
    v1["version"] = 1
    loader = DataLoader(ds, batch_size=4, shuffle=True, generator=cr.Generator().manual_seed(1))
    loader.load_state_dict(v1)
    assert labels(loader) == expected
