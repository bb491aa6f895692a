"""chainrule.compile's cache-blocked runs (chainrule._block): a run of elementwise calls over
large arrays replayed block by block equals the unblocked replay and the eager step bit for
bit, a run whose arrays alias at different positions is not blocked, guards still recapture,
small programs are untouched, and ``block=False`` / ``CHAINRULE_NO_BLOCK`` switch it off.

The thresholds are lowered here (blocks of 4 kB, no minimum working set) so that small models
run many blocks, with a last block shorter than the others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import test_compile as tc

import chainrule as cr
from chainrule import _block, nn
from chainrule.compile import _elidable_copies, _plan_buffers, _slots_in


@pytest.fixture(autouse=True)
def _numpy_path() -> Any:
    """Bitwise comparisons on the NumPy path (see test_compile.py)."""
    from chainrule import _jit

    with _jit.disabled():
        yield


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block every safe run of two or more calls, 4 kB of each array per block."""
    monkeypatch.setattr(_block, "MIN_SET_L2", 0.0)
    monkeypatch.setattr(_block, "MIN_REREAD_L2", 0.0)
    monkeypatch.setattr(_block, "MIN_CALLS", 2)
    monkeypatch.setattr(_block, "MIN_BLOCK_BYTES", 4096)
    monkeypatch.setattr(_block, "MAX_BLOCK_BYTES", 4096)


OPTIMIZERS: dict[str, Callable[[Any], Any]] = {
    "Adam": lambda ps: cr.optim.Adam(ps, lr=0.01),
    "AdamW": lambda ps: cr.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    "SGD-momentum": lambda ps: cr.optim.SGD(ps, lr=0.05, momentum=0.9),
    "RMSprop": lambda ps: cr.optim.RMSprop(ps, lr=0.01),
    "Adagrad": lambda ps: cr.optim.Adagrad(ps, lr=0.05),
}


def _mlp_run(opt: str, compiled: dict | None) -> tuple[list[np.ndarray], Any]:
    """Eight steps (warm-up, two captures, five replays) of a 40-130-3 float32 MLP: the
    losses and every parameter after each step, and the step function."""
    cr.manual_seed(0)
    # 130 rows in the hidden layer: with 4 kB blocks (24 rows of the 130x40 weight) the
    # last block of a weight is shorter than the others
    model = nn.Sequential(nn.Linear(40, 130), nn.ReLU(), nn.Linear(130, 3))
    step = tc._train_step(model, OPTIMIZERS[opt](list(model.parameters())))
    fn = cr.compile(step, **compiled) if compiled is not None else step
    outs = []
    for k in range(tc.STEPS):
        x, y = tc._data((16, 40), seed=k, dtype=np.float32)
        outs.append(tc._np(fn(x, y)))
        outs += [tc._np(p) for p in model.parameters()]
    return outs, fn


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_blocked_replay_equals_unblocked_and_eager_bitwise(opt: str, small_blocks: None) -> None:
    eager, _ = _mlp_run(opt, None)
    blocked, fb = _mlp_run(opt, {})
    plain, fp = _mlp_run(opt, {"block": False})
    assert fb.replays == fp.replays == tc.STEPS - 3, (fb.reasons, fp.reasons)
    prog = fb.entries[0].prog
    assert prog.blocked, "the optimizer's update was not blocked"
    assert "for v_r in range(" in prog.code and not fp.entries[0].prog.blocked
    assert not any("cache blocking" in r for r in fb.reasons), fb.reasons
    assert any(r.shape[0] % r.rows for r in prog.blocked)  # (a shorter last block)
    for a, b, c in zip(eager, blocked, plain, strict=True):
        np.testing.assert_array_equal(b, a)
        np.testing.assert_array_equal(c, a)


def test_default_rule_blocks_an_rmsprop_update_larger_than_l2(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With a 2 MiB L2: RMSprop's nine passes over a 784x512 float32 weight (four arrays,
    6.4 MB) are blocked, about 256 kB of each array per block; the 512-wide layer (four
    arrays of 1 kB) is not."""
    monkeypatch.setattr(_block, "_L2", 2 << 20)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
    step = cr.compile(tc._train_step(model, cr.optim.RMSprop(model.parameters(), lr=1e-3)))
    for k in range(4):
        step(*tc._data((8, 784), seed=k, dtype=np.float32))
    assert step.replays == 1, step.reasons
    (run,) = step.entries[0].prog.blocked
    assert run.shape == (512, 784) and run.end - run.start + 1 == 9
    assert run.rows * 784 * 4 <= 256 << 10 < (run.rows + 4) * 784 * 4
    assert run.rows * 784 % _block.ALIGN == 0


def test_default_rule_leaves_a_relu_backward_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ReLU backward's two calls over 8 MB arrays (mask, then gradient times mask): runs of
    two calls stay whole (they measured slower blocked), and the run re-reads only the 2 MB
    mask, below the re-read rule too; with both rules lowered, the same run is blocked."""
    monkeypatch.setattr(_block, "_L2", 2 << 20)

    def step(x: Any, g: Any) -> Any:
        mask = np.greater(x.numpy(), 0.0)
        return cr.from_numpy(np.multiply(g.numpy(), mask))

    rng = np.random.default_rng(0)
    x, g = (cr.tensor(rng.standard_normal((2048, 1024)).astype(np.float32)) for _ in range(2))
    for calls, reread, blocked in ((3, 4.0, False), (2, 4.0, False), (2, 0.5, True)):
        monkeypatch.setattr(_block, "MIN_CALLS", calls)
        monkeypatch.setattr(_block, "MIN_REREAD_L2", reread)
        fn = cr.compile(step)
        for _ in range(4):
            np.testing.assert_array_equal(tc._np(fn(x, g)), tc._np(step(x, g)))
        assert fn.replays == 1 and bool(fn.entries[0].prog.blocked) == blocked


def _tiny_step() -> tuple[Callable, Any]:
    x = cr.tensor(np.linspace(-1, 1, 10), requires_grad=True)

    def step() -> Any:
        x.grad = None
        y = (x * 2 + 1).tanh() * x - x.exp() / 3
        y.sum().backward()
        return y

    return step, x


def test_small_programs_are_untouched() -> None:
    """The default rule leaves a tiny graph's program as it is, character for character."""
    codes = []
    for block in (True, False):
        step, _ = _tiny_step()
        fn = cr.compile(step, block=block)
        for _ in range(4):
            fn()
        assert fn.replays == 1
        assert not fn.entries[0].prog.blocked
        codes.append(fn.code)
    assert codes[0] == codes[1]


def test_off_switches(small_blocks: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _mlp_run("RMSprop", {})[1].entries[0].prog.blocked
    assert not _mlp_run("RMSprop", {"block": False})[1].entries[0].prog.blocked
    monkeypatch.setenv("CHAINRULE_NO_BLOCK", "1")
    assert not _mlp_run("RMSprop", {})[1].entries[0].prog.blocked


def _shifted_step(n: int = 3000) -> tuple[Callable, Any]:
    """A step that updates a state vector in place through two overlapping views of it, as an
    optimizer writes its arrays: ``w[1:] += w[:-1]`` (NumPy reads the old values, buffering
    the overlap), then two more passes over ``w[1:]``."""
    rng = np.random.default_rng(5)
    w = cr.tensor(rng.standard_normal(n).astype(np.float32))

    def step() -> Any:
        a = w.numpy()  # (a traced view of the state during a capture)
        head, tail = a[1:], a[:-1]
        np.add(head, tail, out=head)
        np.multiply(head, 0.5, out=head)
        np.subtract(head, 0.25, out=head)
        return w.sum()

    return step, w


def _shifted_run(compiled: bool) -> tuple[list[np.ndarray], Any]:
    step, w = _shifted_step()
    fn = cr.compile(step) if compiled else step
    outs = []
    for _ in range(tc.STEPS):
        outs += [tc._np(fn()), tc._np(w)]
    return outs, fn


def test_overlapping_views_are_not_blocked(small_blocks: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Block k of ``w[1:] += w[:-1]`` would read position k·R of ``w``, which block k - 1
    already wrote: the run is refused (and forcing it is caught as a different replay)."""
    eager, _ = _shifted_run(False)
    got, fn = _shifted_run(True)
    assert fn.replays == tc.STEPS - 3, fn.reasons
    assert not fn.entries[0].prog.blocked
    for a, b in zip(eager, got, strict=True):
        np.testing.assert_array_equal(b, a)
    # the check is what keeps it out: forced, the blocked replay differs from the eager step
    # (the validation finds it and replays unblocked, saying so)
    monkeypatch.setattr(_block, "safe", lambda *a: True)
    with pytest.warns(RuntimeWarning, match="is not blocked: cache blocking"):
        got, fn = _shifted_run(True)
    assert any("cache blocking" in r for r in fn.reasons), fn.reasons
    assert not fn.entries[0].prog.blocked
    for a, b in zip(eager, got, strict=True):
        np.testing.assert_array_equal(b, a)


def test_the_check_sees_buffers_shared_at_replay(small_blocks: None) -> None:
    """Two results that the buffer planner puts in one buffer are one memory at replay
    (though apart at capture): :class:`_block._Places` places them in the same buffer."""
    x = cr.tensor(np.random.default_rng(1).standard_normal((256, 16)).astype(np.float32))

    def step(x: Any) -> Any:
        a = x * 2.0  # dead after the next line: its buffer is free for ``c``
        b = a + 1.0
        c = b * b
        return (c - x).sum()

    fn = cr.compile(step)
    for _ in range(4):
        fn(x)
    prog = fn.entries[0].prog
    assert prog.blocked and fn.replays == 1
    tr = prog.tracer
    last: dict[int, int] = {}
    for n, ins in enumerate(tr.instrs):
        for s in _slots_in((ins.args, ins.kw, ins.outs)):
            last[s.i] = n
    keep = {s.i for s in _slots_in(prog.result)}
    elide = _elidable_copies(tr, last, keep)
    plan, _ = _plan_buffers(tr, last, keep, elide)
    places = _block._Places(tr, plan, elide)
    results = [ins.outs.i for n, ins in enumerate(tr.instrs) if n in plan]
    kinds = [places.of(i) for i in results]
    assert all(k[0] == "buf" for k in kinds)
    ks = [k[1] for k in kinds]
    assert len(set(ks)) < len(ks)  # (some results share a buffer at replay)
    i, j = next((results[p], results[q]) for p in range(len(ks)) for q in range(p + 1, len(ks))
                if ks[p] == ks[q])
    assert not np.may_share_memory(np.asarray(tr.objs[i]), np.asarray(tr.objs[j]))
    assert places.overlap(i, places.of(i), j, places.of(j))
    np.testing.assert_array_equal(tc._np(fn(x)), tc._np(step(x)))


def test_guards_recapture_on_shape_change(small_blocks: None) -> None:
    """A blocked step over its argument: a new shape misses the guards and captures a new
    (blocked) program; every call equals eager, the fresh result allocated per replay."""

    def step(x: Any) -> Any:
        return ((x * 3.0 + 1.0).abs().sqrt() - x) / 2.0

    fn = cr.compile(step)
    rng = np.random.default_rng(2)
    a = cr.tensor(rng.standard_normal((300, 40)).astype(np.float32))
    b = cr.tensor(rng.standard_normal((170, 40)).astype(np.float32))
    outs = []
    for x in [a] * 4 + [b] * 4 + [a]:
        got = tc._np(fn(x))
        np.testing.assert_array_equal(got, tc._np(step(x)))
        outs.append(got)
    assert len(fn.entries) == 2 and fn.replays == 1 + 2 + 1
    assert all(e.prog.blocked for e in fn.entries)
    assert outs[-1] is not outs[0] and not np.shares_memory(outs[-1], outs[-2])


def test_profile_lines_times_a_blocked_loop_as_one_line(small_blocks: None) -> None:
    from benchmarks.bench_compile import profile_lines

    _, fn = _mlp_run("RMSprop", {})
    prof = profile_lines(fn, args=tc._data((16, 40), seed=1, dtype=np.float32), replays=3)
    loops = [ln for _, ln in prof if ln.startswith("for v_r in range(")]
    assert len(loops) == len(fn.entries[0].prog.blocked) >= 1
    assert all(t >= 0 for t, _ in prof)


def _write_arg_step(x: Any, y: Any) -> Any:
    """Writes argument ``x`` in place from argument ``y`` (two passes over ``x``)."""
    a, b = x.numpy(), y.numpy()
    np.multiply(a, 2.0, out=a)
    np.add(a, b, out=a)
    return x.sum()


def _overlapping_args_replay() -> tuple[Any, bool]:
    """Capture ``_write_arg_step`` on separate arrays, then replay it on two overlapping views
    of one array (the guards check the arguments' layouts, not their memory): (the compiled
    function, whether the replay equals the eager step)."""
    rng = np.random.default_rng(0)
    fn = cr.compile(_write_arg_step)
    for _ in range(4):
        fn(*(cr.from_numpy(rng.standard_normal(5000).astype(np.float32)) for _ in range(2)))
    base = rng.standard_normal(5001).astype(np.float32)
    twin = base.copy()
    fn(cr.from_numpy(base[1:]), cr.from_numpy(base[:-1]))
    _write_arg_step(cr.from_numpy(twin[1:]), cr.from_numpy(twin[:-1]))
    assert fn.replays == 2
    return fn, bool(np.array_equal(base, twin))


def test_a_run_writing_an_argument_is_not_blocked_where_another_may_overlap_it(
        small_blocks: None, monkeypatch: pytest.MonkeyPatch) -> None:
    fn, same = _overlapping_args_replay()
    assert same and not fn.entries[0].prog.blocked
    # without that rule the run is blocked, and the replay on overlapping views differs
    monkeypatch.setattr(_block._Places, "unknown", lambda self, i: False)
    fn, same = _overlapping_args_replay()
    assert fn.entries[0].prog.blocked and not same
