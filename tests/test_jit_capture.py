"""The compiled kernels (chainrule._jit, the ``fast`` extra) under ``chainrule.compile``: a
capture records each kernel call as one program step that writes the arguments the kernel
declares, so a replay runs the same kernels in the same order as eager and equals it bit for
bit (the LSTM scan, ReLU's backward, max pooling, the Adam / SGD / Adadelta updates)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import test_compile as tc

pytest.importorskip("numba")

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from chainrule import _jit, nn, optim  # noqa: E402

pytestmark = pytest.mark.skipif(not _jit.available(), reason="compiled kernels switched off")

STEPS = 8  # a warm-up, two captures, five replays


def _trajectory(make: Callable[[], tuple], data: list, compiled: bool,
                sched: Callable[[Any], Any] | None = None) -> tuple[list, Any]:
    """Loss and every parameter after each step, eager or compiled, from the same start."""
    cr.manual_seed(0)
    model, opt, loss_fn = make()
    scheduler = sched(opt) if sched else None
    step = tc._train_step(model, opt, loss_fn)
    fn = cr.compile(step) if compiled else step
    out = []
    for x, y in data:
        loss = fn(x, y)
        if scheduler is not None:
            scheduler.step()
        out.append([loss.detach().numpy().copy()]
                   + [p.detach().numpy().copy() for p in model.parameters()])
    return out, fn


def _assert_bitwise(make: Callable[[], tuple], data: list, kernels: tuple[str, ...],
                    sched: Callable[[Any], Any] | None = None) -> Any:
    eager, _ = _trajectory(make, data, False, sched)
    replayed, fn = _trajectory(make, data, True, sched)
    assert fn.replays >= STEPS - 3, fn.reasons
    for name in kernels:  # the replay calls the kernels (not the NumPy twins)
        assert f"{name}(" in fn.code, name
    for k, (a, b) in enumerate(zip(eager, replayed)):
        for x, y in zip(a, b):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y, err_msg=f"step {k}")
    return fn


class _Seq(nn.Module):
    def __init__(self, bidirectional: bool, batch_first: bool) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 12, num_layers=2, bidirectional=bidirectional,
                            batch_first=batch_first)
        self.head = nn.Linear(12 * (2 if bidirectional else 1), 1)

    def forward(self, x: Any) -> Any:
        return self.head(self.lstm(x)[0])


@pytest.mark.parametrize("bidirectional,batch_first", [(False, False), (True, True)])
def test_compiled_lstm_adam_step_equals_eager_bitwise(bidirectional: bool,
                                                      batch_first: bool) -> None:
    """The benchmark's shape of step (LSTM, Adam, float32): five replays equal eager exactly,
    and the program calls the scan's kernels and Adam's."""
    rng = np.random.default_rng(0)
    shape = (3, 7, 5) if batch_first else (7, 3, 5)
    data = [(cr.tensor(rng.standard_normal(shape).astype(np.float32)),
             cr.tensor(rng.standard_normal((*shape[:2], 1)).astype(np.float32)))
            for _ in range(STEPS)]

    def make() -> tuple:
        model = _Seq(bidirectional, batch_first)
        return model, optim.Adam(model.parameters(), lr=1e-2), F.mse_loss

    _assert_bitwise(make, data, ("_lstm_cell", "_lstm_hidden", "_lstm_bptt",
                                 "_adam_kernel_split"))


def test_relu_and_sgd_momentum_replay_follow_a_scheduler() -> None:
    """ReLU's backward kernel (a layer above its size threshold) and SGD's kernel with the lr
    read live: a scheduler changing lr at every step does not end the replays."""
    rng = np.random.default_rng(1)
    data = [(cr.tensor(rng.standard_normal((64, 20)).astype(np.float32)),
             cr.tensor(rng.integers(0, 3, 64))) for _ in range(STEPS)]

    def make() -> tuple:
        model = nn.Sequential(nn.Linear(20, 512), nn.ReLU(), nn.Linear(512, 3))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        return model, opt, F.cross_entropy

    _assert_bitwise(make, data, ("_relu_backward_split", "_sgd_kernel_split"),
                    sched=lambda o: optim.lr_scheduler.ExponentialLR(o, gamma=0.7))


def test_max_pool_and_adadelta_replay_equal_eager() -> None:
    rng = np.random.default_rng(2)
    data = [(cr.tensor(rng.standard_normal((8, 1, 34, 34)).astype(np.float32)),
             cr.tensor(rng.integers(0, 3, 8))) for _ in range(STEPS)]

    def make() -> tuple:
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(4 * 16 * 16, 3))
        return model, optim.Adadelta(model.parameters()), F.cross_entropy

    _assert_bitwise(make, data, ("_max_pool_2x2_fast", "_scatter", "_adadelta_kernel_split"))


def test_a_kernels_result_that_python_branches_on_is_a_value_guard() -> None:
    """Max pooling's fast kernel reports NaN or inf, and only then the exact scan runs: under
    capture that report is a value guard, so a replay on an input with NaN does not reuse the
    decision of the finite inputs it was captured on (PyTorch's rule: a NaN wins)."""
    fn = cr.compile(lambda x: F.max_pool2d(x, 2, return_indices=True))
    rng = np.random.default_rng(3)
    for _ in range(5):
        fn(cr.tensor(rng.standard_normal((2, 4, 64, 64)).astype(np.float32)))
    assert fn.replays >= 2 and "_max_pool_2x2_fast(" in fn.code
    x = rng.standard_normal((2, 4, 64, 64)).astype(np.float32)
    x[0, 0, 1, 1] = np.nan  # the last element of window (0, 0): its index is 65
    out, idx = fn(cr.tensor(x))
    assert np.isnan(out.numpy()[0, 0, 0, 0]) and idx.numpy()[0, 0, 0, 0] == 65
    ref, ref_idx = F.max_pool2d(cr.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())


def test_an_undeclared_kernel_is_not_used_while_a_step_is_captured(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a declaration of what it writes, a kernel is withheld during a capture (its
    caller takes the NumPy path, which the tracer sees); the replay still equals eager."""
    from chainrule.ops import elementwise

    monkeypatch.setattr(elementwise._relu_backward, "writes", None)
    rng = np.random.default_rng(4)
    data = [(cr.tensor(rng.standard_normal((64, 20))), cr.tensor(rng.integers(0, 3, 64)))
            for _ in range(STEPS)]

    def make() -> tuple:
        model = nn.Sequential(nn.Linear(20, 512, dtype="float64"), nn.ReLU(),
                              nn.Linear(512, 3, dtype="float64"))
        return model, optim.SGD(model.parameters(), lr=0.1), F.cross_entropy

    fn = _assert_bitwise(make, data, ())
    assert "_relu_backward" not in fn.code
    monkeypatch.setattr(_jit, "recorder", lambda *a, **k: None)
    assert elementwise._relu_backward.get() is None
    assert optim.sgd._sgd_kernel.get() is optim.sgd._sgd_kernel.recording


def _kernels() -> list[tuple[str, _jit.Kernel]]:
    found = []
    for info in pkgutil.walk_packages(cr.__path__, "chainrule."):
        if info.name.split(".")[1] in ("lab", "cli", "__main__", "demo"):
            continue
        try:
            mod = importlib.import_module(info.name)
        except ImportError:  # an optional dependency
            continue
        found += [(f"{info.name}.{k}", v) for k, v in vars(mod).items()
                  if isinstance(v, _jit.Kernel) and v.fn.__module__ == info.name]
    return found


def test_every_kernel_declares_the_arguments_it_writes() -> None:
    kernels = _kernels()
    assert len(kernels) >= 10  # the LSTM's four, ReLU, max pooling's three, three optimizers
    for name, k in kernels:
        n = len(inspect.signature(k.fn).parameters)
        assert k.writes, f"{name} does not declare what it writes"
        assert all(0 <= w < n for w in k.writes), name


def test_a_split_update_replays_over_two_threads() -> None:
    """An update above the split threshold (300 x 300 floats) is one program step that a
    replay splits over the BLAS threads as eager does: the same parameters, bit for bit."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(5)
    data = [(cr.tensor(rng.standard_normal((16, 300))), cr.tensor(rng.integers(0, 3, 16)))
            for _ in range(STEPS)]

    def make() -> tuple:
        model = nn.Sequential(nn.Linear(300, 300, dtype="float64"), nn.Tanh(),
                              nn.Linear(300, 3, dtype="float64"))
        return model, optim.Adam(model.parameters(), lr=1e-2), F.cross_entropy

    with threadpool_limits(2, user_api="blas"):
        _assert_bitwise(make, data, ("_adam_kernel_split",))
