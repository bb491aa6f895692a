"""Shared state under threads: concurrent checkpoint saves into one directory, a DataLoader
iterated by two threads, and the random-draw hook of compile/activation checkpointing, which
must stay in the thread that set it. Threads are forced to interleave (tiny switch interval).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np
import pytest
from test_threads import _fast_switching, _run_threads  # noqa: F401 - an autouse fixture

import chainrule as cr
from chainrule import nn
from chainrule import random as cr_random
from chainrule.train import checkpoint
from chainrule.utils.data import DataLoader, TensorDataset


def test_concurrent_checkpoint_saves_into_one_directory(tmp_path) -> None:
    """Three threads save 'last1', 'last2', 'last3' (and plain files) into one root. Each
    save's cleanup of interrupted saves used to delete the other threads' directories while
    they were being written (FileNotFoundError, or a lost checkpoint)."""
    root = tmp_path / "ck"

    def saver(k: int) -> Callable[[], None]:
        def run() -> None:
            model = nn.Linear(8, 8)
            for i in range(15):
                with cr.no_grad():
                    model.weight.fill_(float(100 * k + i))
                checkpoint.save_checkpoint(str(root / f"last{k}"), model, None, {"i": i})
                cr.save({"w": cr.full((3000,), float(100 * k + i))}, tmp_path / f"m{k}")
        return run

    _run_threads(saver(1), saver(2), saver(3))
    for k in (1, 2, 3):
        m = nn.Linear(8, 8)
        assert checkpoint.load_checkpoint(str(root / f"last{k}"), m, None)["i"] == 14
        assert (m.weight.detach().numpy() == 100 * k + 14).all()
        assert (cr.load(tmp_path / f"m{k}")["w"].numpy() == 100 * k + 14).all()
    assert len(os.listdir(root)) == 6  # three pointers and their three directories


def test_a_live_writers_checkpoint_directory_is_not_cleaned(tmp_path) -> None:
    """A directory named with a running process's pid is another save in progress."""
    other = tmp_path / f"last.ckpt-{os.getppid()}-0123456789abcdef"
    other.mkdir()
    dead = tmp_path / "last.ckpt-0123456789abcdef"  # no pid: an older version's leftover
    dead.mkdir()
    checkpoint.save_checkpoint(str(tmp_path / "best"), nn.Linear(2, 2), None, {})
    assert other.exists() and not dead.exists()


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_dataloader_iterated_by_two_threads_gives_each_every_sample(num_workers: int
                                                                      ) -> None:
    ds = TensorDataset(cr.arange(60), cr.arange(60) * 3)
    loader = DataLoader(ds, batch_size=7, shuffle=True, num_workers=num_workers,
                        generator=cr.Generator().manual_seed(0))
    seen: dict[int, list[int]] = {}

    def reader(k: int) -> Callable[[], None]:
        def run() -> None:
            out = []
            for _ in range(2):
                for x, y in loader:
                    assert (y.numpy() == 3 * x.numpy()).all()  # pairs never mixed up
                    out += x.tolist()
            seen[k] = out
        return run

    _run_threads(reader(0), reader(1))
    for k in (0, 1):
        assert sorted(seen[k]) == sorted(list(range(60)) * 2)


def test_the_random_draw_hook_stays_in_the_thread_that_set_it() -> None:
    """compile sets ``random._rng_hook`` while it captures a step: another thread's dropout
    draws meanwhile must not be recorded into (and replayed from) that capture."""
    hooked: list[str] = []
    armed, drawn = threading.Event(), threading.Event()

    def hooker() -> None:
        cr_random._rng_hook = lambda g, r: (hooked.append(threading.current_thread().name), r)[1]
        try:
            armed.set()
            drawn.wait(30)
            cr.randn(2)  # this thread's own draw is hooked
        finally:
            cr_random._rng_hook = None

    def drawer() -> None:
        armed.wait(30)
        cr.randn(3)
        nn.functional.dropout(cr.ones(4), 0.5, training=True)
        drawn.set()

    t1 = threading.Thread(target=hooker, name="hooker")
    t2 = threading.Thread(target=drawer, name="drawer")
    t1.start()
    t2.start()
    t1.join(30)
    t2.join(30)
    assert hooked == ["hooker"] and cr_random._rng_hook is None


def test_seeded_draws_in_two_threads_with_their_own_generators_are_reproducible() -> None:
    out: dict[int, np.ndarray] = {}

    def draw(k: int) -> Callable[[], None]:
        def run() -> None:
            g = cr.Generator().manual_seed(k)
            out[k] = np.concatenate([cr.randn(50, generator=g).numpy() for _ in range(20)])
        return run

    _run_threads(draw(1), draw(2))
    for k in (1, 2):
        g = cr.Generator().manual_seed(k)
        ref = np.concatenate([cr.randn(50, generator=g).numpy() for _ in range(20)])
        np.testing.assert_array_equal(out[k], ref)
