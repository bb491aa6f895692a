"""chainrule.compile's replay of a float32 MLP with Adam's chunked update (issue 17, the "MLP
Adam" row): the views of live state it binds once, the BLAS axpy it calls directly, the
bias gradients it no longer copies and Adam's per-step scalars in one call keep every replay
bit for bit equal to eager, also when the user reads ``p.grad`` / ``opt.state`` between
calls, or replaces a parameter's or a moment's array (a guard miss and a recapture, never a
view of the old array)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import test_compile as tc

import chainrule as cr
from chainrule import nn
from chainrule.optim import adam


@pytest.fixture(autouse=True)
def _numpy_path(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Bitwise comparisons on the NumPy path (see test_compile.py), with Adam's chunks at
    1024 float32 (the MLP's 40x64 weight is two and a half chunks, as 784x512 is 6.1)."""
    from chainrule import _jit

    monkeypatch.setattr(adam, "_CHUNK_BYTES", 4096)
    with _jit.disabled():
        yield


def _build(**kw: Any) -> Callable[[], tuple[Any, Any, Callable]]:
    def build() -> tuple[Any, Callable]:
        model = nn.Sequential(nn.Linear(40, 64), nn.ReLU(), nn.Linear(64, 3))
        opt = cr.optim.Adam(model.parameters(), lr=0.01, **kw)
        model.opt = opt  # (the scenarios read its state)
        return model, tc._train_step(model, opt)

    return build


def _data(seed: int = 3) -> tuple[Any, Any]:
    return tc._data((8, 40), seed=seed, dtype=np.float32)


def _snapshot(model: Any) -> list[np.ndarray]:
    """What a user reads between calls: every p.grad and Adam moment (copies)."""
    out = []
    for p in model.parameters():
        st = model.opt.state[p]
        out += [tc._np(p.grad), np.array(st["exp_avg"]), np.array(st["exp_avg_sq"]),
                np.array(float(st["step"]))]
    return out


@pytest.mark.parametrize("kw", [{}, {"bias_correction": False}, {"weight_decay": 0.1},
                                {"l1": 1e-3}])
def test_chunked_adam_mlp_replays_bitwise_and_shows_live_state(kw: dict) -> None:
    kept: list[tuple[np.ndarray, np.ndarray]] = []  # (p.grad array handed out, its value)

    def scenario(step: Callable, model: Any) -> list:
        outs = []
        for k in range(tc.STEPS):
            outs.append(step(*_data(seed=k)))  # new argument arrays at every call
            outs += _snapshot(model)
            kept.extend((p.grad._array, p.grad._array.copy()) for p in model.parameters())
        return outs

    fn = tc._twin(_build(**kw), scenario)
    assert fn.replays == tc.STEPS - 3, fn.reasons
    prog = fn.entries[0].prog
    if not kw.get("l1"):  # (l1 takes the whole-array path)
        assert "blas_axpy(" in prog.code  # the BLAS routine called directly
    hoisted = [ln for ln in prog.replay_code.splitlines() if "= H" in ln]
    assert len(hoisted) >= 8  # the chunk slices and weight transposes, bound once
    assert "sum((0, ))" in prog.code and ".copy()" not in prog.code  # bias grads not copied
    _assert_buffers_and_constants(prog)
    for a, value in kept:  # no later replay wrote into a gradient it handed out
        np.testing.assert_array_equal(a, value)


def test_replaced_parameter_and_moment_arrays_are_recaptured_never_stale() -> None:
    """``p.data = ...`` and a new ``exp_avg`` array between replays: the replay's guards miss
    (the hoisted views belong to the old arrays) and the steps go on equal to eager; an
    in-place change of a parameter is seen through the hoisted views."""

    def scenario(step: Callable, model: Any) -> list:
        x, y = _data()
        outs = [step(x, y) for _ in range(5)]
        w = model[0].weight
        w.data = cr.tensor(np.array(w._array[::-1] * 0.5))  # a new array, as set_data
        outs += [step(x, y) for _ in range(4)]
        st = model.opt.state[model[2].weight]
        st["exp_avg"] = np.array(st["exp_avg"] * 2)
        outs += [step(x, y) for _ in range(4)]
        with cr.no_grad():
            model[0].weight.mul_(0.75)  # in place: the same array
        outs += [step(x, y) for _ in range(3)]
        return outs + _snapshot(model)

    fn = tc._twin(_build(), scenario)
    # 2 replays, then per replacement 2 captures + 2 replays, then 3 replays of the last one
    assert fn.replays == 9 and len(fn.entries) == 3, (fn.replays, fn.reasons)


def _buffer_of(code: str, value: str) -> str:
    """The buffer ``out=b<k>`` that the line computing ``value`` writes."""
    m = re.search(rf"^ +{value} = \w+\(.*out=(b\d+)\)$", code, re.M)
    assert m, value
    return m.group(1)


def _assert_buffers_and_constants(prog: Any) -> None:
    """ReLU's ``maximum`` writes over the pre-activation it alone reads (a correctly rounded
    ufunc), the softmax's ``exp`` never writes over its input (a SIMD exp may take another
    loop in place); ``np.full`` of the loss's coefficients is made once, and
    ``np.expand_dims`` runs as the array's ``reshape``."""
    code = prog.code
    relu = re.search(r"^ +v\d+ = maximum\((v\d+), v\d+, out=(b\d+)\)$", code, re.M)
    assert relu and _buffer_of(code, relu.group(1)) == relu.group(2)
    exp = re.search(r"^ +(v\d+) = exp\((v\d+), out=(b\d+)\)$", code, re.M)
    assert exp and _buffer_of(code, exp.group(2)) != exp.group(3)
    assert "full(" in code and "full(" not in prog.replay_code
    assert "expand_dims(" not in code and ".reshape((8, 1))" in code


def test_profile_lines_times_every_line_of_the_replay_body() -> None:
    """benchmarks.bench_compile.profile_lines: one entry per statement of the replay's body
    (no ``del``, no guard or write-back line), non-negative times, and it really replays (the
    step count advances by warm-up + profiled replays)."""
    from benchmarks import bench_compile

    model, step = _build()()
    fn = cr.compile(step)
    x, y = _data()
    for _ in range(4):
        fn(x, y)
    assert fn.replays == 1
    before = float(model.opt.state[model[0].weight]["step"])
    prof = bench_compile.profile_lines(fn, (x, y), replays=5)
    assert float(model.opt.state[model[0].weight]["step"]) == before + 3 + 5
    lines = [ln for _, ln in prof]
    body = [ln.strip() for ln in fn.entries[0].prog.body if not ln.strip().startswith("del ")]
    assert len(lines) == len(body)
    for ln, b in zip(lines, body):  # the same statements (a hoisted view binds ``H<k>_``)
        assert ln == b or ln.split(" = ")[0] == b.split(" = ")[0] and " = H" in ln
    assert sum("matmul(" in ln for ln in lines) == fn.code.count("matmul(")
    assert all(t >= 0 for t, _ in prof) and sum(t for t, _ in prof) > 0
    with pytest.raises(ValueError, match="no generated replay"):
        bench_compile.profile_lines(cr.compile(step))
