"""chainrule.profiler against torch.profiler's API: ranges and module calls are recorded with
their nesting, counts and times add up, the table has PyTorch's columns, schedules record only
active steps, traces are written, nothing is recorded outside a profile."""

from __future__ import annotations

import json
import time

import pytest

import chainrule as cr
from chainrule.profiler import (
    ProfilerAction,
    ProfilerActivity,
    profile,
    record_function,
    schedule,
    tensorboard_trace_handler,
)


def _model() -> cr.nn.Module:
    return cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))


def test_ranges_modules_nesting_and_table():
    model = _model()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof, \
            record_function("model_inference"):
        model(cr.randn(5, 3))
        time.sleep(0.002)
    events = prof.events()
    names = [e.name for e in events]
    assert names == ["model_inference", "Sequential", "Linear", "ReLU", "Linear"]
    outer = events[0]
    assert outer.cpu_time_total >= 2000                     # microseconds, the sleep inside
    # self time = total minus the children's totals, and the selves add up to the outer total
    assert outer.self_cpu_time_total == pytest.approx(
        outer.cpu_time_total - events[1].cpu_time_total)
    assert events.self_cpu_time_total == pytest.approx(outer.cpu_time_total)
    assert events[2].input_shapes == [[5, 3]] and events[3].input_shapes == [[5, 4]]
    avg = {e.key: e for e in prof.key_averages()}
    assert avg["Linear"].count == 2 and avg["ReLU"].count == 1
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=2)
    header = table.splitlines()[1]
    for col in ("Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg",
                "# of Calls"):
        assert col in header
    rows = table.splitlines()[3:-2]
    assert len(rows) == 2 and rows[0].startswith("model_inference")
    assert "Self CPU time total:" in table
    shapes = prof.key_averages(group_by_input_shape=True)
    assert {e.input_shapes for e in shapes if e.key == "Linear"} == {"[[5, 3]]", "[[5, 4]]"}


def test_nothing_recorded_outside_and_decorator():
    @record_function("helper")
    def helper(x):
        return x * 2

    helper(cr.ones(2))                                      # no profiler: nothing happens
    with profile() as prof:
        helper(cr.ones(2))
        helper(cr.ones(2))
    helper(cr.ones(2))
    _model()(cr.randn(1, 3))                                # the hooks were removed
    assert [e.name for e in prof.events()] == ["helper", "helper"]


def test_schedule_actions_match_torch():
    torch = pytest.importorskip("torch")
    ours = schedule(wait=1, warmup=1, active=2, repeat=2, skip_first=1)
    theirs = torch.profiler.schedule(wait=1, warmup=1, active=2, repeat=2, skip_first=1)
    assert [ours(s).name for s in range(12)] == [theirs(s).name for s in range(12)]
    assert ours(3) is ProfilerAction.RECORD and ours(4) is ProfilerAction.RECORD_AND_SAVE


def test_schedule_records_active_steps_and_writes_traces(tmp_path):
    seen = []
    with profile(schedule=schedule(wait=1, warmup=1, active=2, repeat=1),
                 on_trace_ready=lambda p: seen.append(len(p.events()))) as prof:
        for step in range(6):
            with record_function(f"step{step}"):
                pass
            prof.step()
    assert seen == [2]                                      # steps 2 and 3 only
    assert [e.name for e in prof.events()] == ["step2", "step3"]
    with profile(on_trace_ready=tensorboard_trace_handler(str(tmp_path))) as prof:
        _model()(cr.randn(2, 3))
    (trace,) = tmp_path.glob("*.pt.trace.json")
    data = json.loads(trace.read_text())
    assert [e["name"] for e in data["traceEvents"]][:2] == ["Sequential", "Linear"]


def test_autograd_profiler_spelling():
    with cr.autograd.profiler.profile(use_cuda=False) as prof, \
            cr.autograd.profiler.record_function("block"):
        pass
    assert prof.total_average().count == 1
    assert "block" in prof.key_averages().table(sort_by="self_cpu_time_total")
