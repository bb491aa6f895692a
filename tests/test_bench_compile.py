"""benchmarks/bench_compile.py runs end to end at the smallest settings, finds the GEMMs of a
compiled step for its floor, and reports a failing ``torch.compile`` in the row instead of
raising. Never timed: these check the benchmark's plumbing, not speed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from benchmarks import bench_compile  # noqa: E402


def test_tiny_row_runs_with_one_repeat(capsys: pytest.CaptureFixture) -> None:
    (row,) = bench_compile.run(repeats=1, target_s=1e-4, only="tiny", torch_compile=False)
    assert row["replays"] > 0 and row["gemms"] == 0 and row["floor"] == 0.0
    assert row["compiled"] > 0 and row["torch"] > 0
    out = capsys.readouterr().out
    assert "floor: no GEMM" in out and "torch.compile: not run" in out


def test_gemm_calls_are_the_programs_matmuls() -> None:
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(5, 7), cr.nn.ReLU(), cr.nn.Linear(7, 3)).double()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    x = cr.tensor(np.random.default_rng(0).standard_normal((4, 5)))
    y = cr.tensor(np.array([0, 1, 2, 0]))

    @cr.compile
    def step() -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(4):
        step()
    calls = bench_compile.gemm_calls(step)
    # forward: 2 GEMMs; backward: weight gradients of both layers, input gradient of the 2nd
    assert len(calls) == step.code.count("matmul(") == 5
    shapes = sorted(kw["out"].shape for _, _, kw in calls)
    assert shapes == sorted([(4, 7), (4, 3), (4, 7), (3, 7), (7, 5)])
    for fn, args, kw in calls:  # each runs on its operands and computes their product
        fn(*args, **kw)
        np.testing.assert_array_equal(kw["out"], np.matmul(*args))


def test_a_failing_torch_compile_is_reported_in_the_row(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    def broken(fn: Any, **kw: Any) -> Any:
        raise RuntimeError("InvalidCxxCompiler: no working C++ compiler found\nmore")

    monkeypatch.setattr(torch, "compile", broken)
    (row,) = bench_compile.run(repeats=1, target_s=1e-4, only="tiny", torch_compile=True)
    assert "torch.compile" not in row
    assert row["torch_compile_note"] == ("torch.compile failed: RuntimeError: "
                                         "InvalidCxxCompiler: no working C++ compiler found")
    assert "torch.compile: torch.compile failed: RuntimeError" in capsys.readouterr().out
