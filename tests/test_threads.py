"""Thread-local modes (as in PyTorch): grad mode, anomaly mode, the default dtype and
``backward_creates_graph`` set in one thread never change another thread's.

The threads are forced to interleave (barriers between every step, a tiny switch interval),
so a mode that leaked across threads would switch off the other thread's recording mid-step.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim


@pytest.fixture(autouse=True)
def _fast_switching():
    prev = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the GIL changes hands every few bytecodes
    yield
    sys.setswitchinterval(prev)


def _model(seed: int) -> nn.Module:
    chainrule.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def _data(seed: int) -> tuple[chainrule.Tensor, chainrule.Tensor]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, 4))
    return chainrule.tensor(x), chainrule.tensor(np.sin(x.sum(1, keepdims=True)))


def _train(seed: int, steps: int, sync: Callable[[], None] = lambda: None,
           model: nn.Module | None = None) -> list[np.ndarray]:
    """SGD steps on a tiny MLP; after each step an evaluation under no_grad (its mode must stay
    in this thread). Returns every step's gradients and the final weights."""
    model = _model(seed) if model is None else model
    x, y = _data(seed)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    out = []
    for _ in range(steps):
        sync()
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        sync()
        loss.backward()
        out += [p.grad.numpy().copy() for p in model.parameters()]
        opt.step()
        with chainrule.no_grad():
            sync()
            assert not model(x).requires_grad
    return out + [p.detach().numpy().copy() for p in model.parameters()]


def _run_threads(*targets: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def guard(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
                errors.append(e)
        return run

    threads = [threading.Thread(target=guard(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]


def test_training_thread_beside_a_no_grad_thread_matches_a_single_thread():
    expected = _train(0, steps=5)
    inside = threading.Event()
    done = threading.Event()
    got: list[np.ndarray] = []

    model0, model1 = _model(0), _model(1)  # (one default generator: see the test below)

    def evaluator() -> None:
        model = model1
        x, _ = _data(1)
        with chainrule.no_grad():
            inside.set()  # the trainer starts only once this thread is in no_grad
            while not done.is_set():
                assert not model(x).requires_grad
                assert not chainrule.is_grad_enabled()

    def trainer() -> None:
        assert inside.wait(10)
        assert chainrule.is_grad_enabled()  # another thread's no_grad is not ours
        got.extend(_train(0, steps=5, model=model0))
        done.set()

    _run_threads(evaluator, trainer)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_two_threads_training_two_models_equal_sequential_runs():
    expected = [_train(10, steps=4), _train(11, steps=4)]
    barrier = threading.Barrier(2, timeout=10)
    got: list[list[np.ndarray]] = [[], []]

    # the models are built here: the default generator is one for the process (as PyTorch's),
    # so two threads seeding and drawing from it at once would interleave their draws
    models = [_model(10), _model(11)]

    def worker(k: int) -> Callable[[], None]:
        return lambda: got[k].extend(_train(10 + k, steps=4, sync=barrier.wait,
                                            model=models[k]))

    _run_threads(worker(0), worker(1))
    for g, e in zip(got, expected):
        assert len(g) == len(e)
        for a, b in zip(g, e):
            np.testing.assert_array_equal(a, b)


def test_default_dtype_anomaly_and_create_graph_modes_are_per_thread():
    seen: dict[str, object] = {}
    ready, release = threading.Event(), threading.Event()

    def other() -> None:
        chainrule.set_default_dtype(chainrule.float64)
        with chainrule.autograd.detect_anomaly(), chainrule.autograd.backward_creates_graph(), \
                chainrule.no_grad():
            ready.set()
            assert release.wait(10)
            seen["dtype"] = chainrule.tensor([1.5]).dtype
            seen["grad"] = chainrule.is_grad_enabled()

    t = threading.Thread(target=other)
    t.start()
    assert ready.wait(10)
    try:
        # the other thread holds float64 / anomaly / create_graph / no_grad right now
        assert chainrule.get_default_dtype() == chainrule.float32
        assert chainrule.tensor([1.5]).dtype == chainrule.float32
        assert not chainrule.autograd.anomaly.is_anomaly_enabled()
        assert chainrule.is_grad_enabled()
        w = chainrule.tensor([2.0], requires_grad=True)
        (w * w).sum().backward()
        assert not w.grad.requires_grad  # no create_graph leaked in
    finally:
        release.set()
        t.join(10)
    assert seen == {"dtype": chainrule.float64, "grad": False}


def test_a_thread_that_never_set_the_default_dtype_follows_the_main_thread():
    """The main thread's choice is the program's (a data-loader thread follows it)."""
    got: list[object] = []
    chainrule.set_default_dtype(chainrule.float64)
    try:
        t = threading.Thread(target=lambda: got.append(chainrule.tensor([0.5]).dtype))
        t.start()
        t.join(10)
    finally:
        chainrule.set_default_dtype(chainrule.float32)
    assert got == [chainrule.float64]
