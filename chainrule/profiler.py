"""``chainrule.profiler``: a small CPU profiler with ``torch.profiler``'s API.

What it records, while a :class:`profile` is active (and its schedule, if any, says "record"):

* every ``with record_function(name):`` range (also usable as a decorator), and
* every ``nn.Module`` call, named after the module's class (``Linear``, ``ReLU``), through the
  global forward hooks, so a program that only wraps its model call still gets a table.

Each event has a wall-clock start and end (``time.perf_counter_ns``); its *self* time is its
total time minus the total time of the events directly inside it:

    self(e) = total(e) - sum(total(c) for c in children(e)).

``key_averages()`` groups events by name (and by input shapes when asked) into the rows of
``table()``: count, CPU total, self CPU, their averages and their shares of the summed self
time. PyTorch's profiler also records every ATen operator; chainrule's ops are NumPy calls and
are not recorded one by one, so the table shows the ranges and modules only.

Example::

    from chainrule.profiler import profile, record_function, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("model_inference"):
            model(inputs)
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
"""

from __future__ import annotations

import enum
import functools
import gzip
import json
import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "ProfilerActivity", "ProfilerAction", "profile", "record_function", "schedule",
    "tensorboard_trace_handler", "EventList", "FunctionEvent", "FunctionEventAvg",
]


class ProfilerActivity(enum.Enum):
    """The devices a profile covers (only CPU events exist in chainrule)."""

    CPU = 0
    XPU = 1
    MTIA = 2
    CUDA = 3
    HPU = 4
    PrivateUse1 = 5


class ProfilerAction(enum.Enum):
    """What a scheduled profiler does at a step."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0,
             skip_first: int = 0, skip_first_wait: int = 0) -> Callable[[int], ProfilerAction]:
    """``step -> action``: skip ``skip_first`` steps, then cycles of ``wait`` idle, ``warmup``
    and ``active`` recorded steps (the last active step of a cycle saves), ``repeat`` cycles
    (0: forever)."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise ValueError("schedule: wait, warmup, repeat and skip_first must be >= 0 and "
                         f"active > 0 (got wait={wait}, warmup={warmup}, active={active}, "
                         f"repeat={repeat}, skip_first={skip_first})")
    del skip_first_wait  # PyTorch's refinement for the first cycle; the plain cycle is kept

    def action(step: int) -> ProfilerAction:
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        cycle = wait + warmup + active
        if repeat > 0 and step // cycle >= repeat:
            return ProfilerAction.NONE
        pos = step % cycle
        if pos < wait:
            return ProfilerAction.NONE
        if pos < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD_AND_SAVE if pos == cycle - 1 else ProfilerAction.RECORD

    return action


class FunctionEvent:
    """One recorded range: name, start/end in microseconds, nesting, input shapes."""

    def __init__(self, name: str, start_us: float, depth: int,
                 input_shapes: list[list[int]] | None = None) -> None:
        self.name = name
        self.key = name
        self.time_range_start = start_us
        self.time_range_end = start_us
        self.depth = depth
        self.input_shapes = input_shapes or []
        self.children: list[FunctionEvent] = []
        self.cpu_parent: FunctionEvent | None = None
        self.count = 1
        self.device_type = ProfilerActivity.CPU
        self.is_async = False

    @property
    def cpu_time_total(self) -> float:
        return self.time_range_end - self.time_range_start

    @property
    def self_cpu_time_total(self) -> float:
        return self.cpu_time_total - sum(c.cpu_time_total for c in self.children)

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total

    # no device work: PyTorch's device columns are zero on a CPU-only run
    device_time_total = cuda_time_total = self_device_time_total = self_cuda_time_total = 0.0
    cpu_memory_usage = self_cpu_memory_usage = 0

    def __repr__(self) -> str:
        return (f"<FunctionEvent name={self.name!r} cpu_time_total={self.cpu_time_total:.3f}us "
                f"self_cpu_time_total={self.self_cpu_time_total:.3f}us>")


class FunctionEventAvg:
    """Events of one key summed: ``count``, totals and averages (microseconds)."""

    def __init__(self, key: str, input_shapes: str = "") -> None:
        self.key = key
        self.input_shapes = input_shapes
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.device_time_total = self.cuda_time_total = 0.0
        self.self_device_time_total = self.self_cuda_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0

    def add(self, event: FunctionEvent) -> FunctionEventAvg:
        self.count += 1
        self.cpu_time_total += event.cpu_time_total
        self.self_cpu_time_total += event.self_cpu_time_total
        return self

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total / self.count if self.count else 0.0

    def __repr__(self) -> str:
        return (f"<FunctionEventAvg key={self.key!r} count={self.count} "
                f"cpu_time_total={self.cpu_time_total:.3f}us>")


def _fmt_us(us: float) -> str:
    """A duration as PyTorch's tables print it: 12.345us, 1.234ms, 1.234s."""
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


class EventList(list):
    """A list of events (or of averages) with ``table``, ``key_averages`` and
    ``self_cpu_time_total``."""

    @property
    def self_cpu_time_total(self) -> float:
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(self, group_by_input_shape: bool = False,
                     group_by_stack_n: int = 0) -> EventList:
        del group_by_stack_n  # stacks are not recorded
        groups: dict[tuple[str, str], FunctionEventAvg] = {}
        for e in self:
            shapes = str(e.input_shapes) if group_by_input_shape else ""
            key = (e.key, shapes)
            if key not in groups:
                groups[key] = FunctionEventAvg(e.key, shapes)
            groups[key].add(e)
        return EventList(groups.values())

    def table(self, sort_by: str | None = None, row_limit: int = 100,
              max_src_column_width: int = 75, max_name_column_width: int = 55,
              max_shapes_column_width: int = 80, header: str | None = None,
              top_level_events_only: bool = False) -> str:
        """The rows as a fixed-width text table, sorted (descending) by ``sort_by``, e.g.
        ``"cpu_time_total"``, ``"self_cpu_time_total"`` or ``"count"``."""
        del max_src_column_width
        rows = [e for e in self if not top_level_events_only or getattr(e, "depth", 0) == 0]
        if sort_by is not None:
            rows.sort(key=lambda e: getattr(e, sort_by.replace("cuda", "device"), 0),
                      reverse=True)
        if row_limit is not None and row_limit > 0:
            rows = rows[:row_limit]
        total_self = self.self_cpu_time_total or 1.0
        with_shapes = any(getattr(e, "input_shapes", "") for e in rows)
        name_w = min(max(len("Name"), *(len(e.key) for e in rows)) if rows else 4,
                     max_name_column_width)
        cols = ["Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg",
                "# of Calls"]
        widths = [name_w] + [12] * len(cols)
        headers = ["Name", *cols]
        if with_shapes:
            headers.append("Input Shapes")
            widths.append(max_shapes_column_width)
        line = "  ".join("-" * w for w in widths)

        def fmt(cells: list[str]) -> str:
            first = cells[0][:name_w].ljust(name_w)
            return "  ".join([first] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])

        out = [header] if header else []
        out += [line, fmt(headers), line]
        for e in rows:
            cells = [e.key, f"{100 * e.self_cpu_time_total / total_self:.2f}%",
                     _fmt_us(e.self_cpu_time_total),
                     f"{100 * e.cpu_time_total / total_self:.2f}%", _fmt_us(e.cpu_time_total),
                     _fmt_us(e.cpu_time_total / max(e.count, 1)), str(e.count)]
            if with_shapes:
                cells.append(str(getattr(e, "input_shapes", ""))[:max_shapes_column_width])
            out.append(fmt(cells))
        out += [line, f"Self CPU time total: {_fmt_us(self.self_cpu_time_total)}", ""]
        return "\n".join(out)


# The profiler that is recording now (one at a time, as PyTorch).
_ACTIVE: list[profile] = []


def _shapes(args: Iterable[Any]) -> list[list[int]]:
    return [list(a.shape) if hasattr(a, "shape") else [] for a in args]


class record_function:  # noqa: N801 - PyTorch's spelling
    """A named range in the profile: a context manager, or a decorator (the function's calls
    become ranges of that name). Costs nothing when no profiler records."""

    def __init__(self, name: str, args: str | None = None) -> None:
        self.name = name
        self.args = args
        self._event: FunctionEvent | None = None

    def __enter__(self) -> record_function:
        if _ACTIVE and _ACTIVE[-1]._recording:
            self._event = _ACTIVE[-1]._begin(self.name, None)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._event is not None and _ACTIVE:
            _ACTIVE[-1]._end(self._event)
        self._event = None

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)

        return wrapper


class profile:  # noqa: N801 - PyTorch's spelling
    """Records ``record_function`` ranges and module calls between ``start()`` and ``stop()``
    (or inside ``with``); with a ``schedule``, only in the steps it marks, each ``step()``
    advancing it and ``on_trace_ready(self)`` called at the end of every active cycle."""

    def __init__(self, *, activities: Iterable[ProfilerActivity] | None = None,
                 schedule: Callable[[int], ProfilerAction] | None = None,
                 on_trace_ready: Callable[[profile], Any] | None = None,
                 record_shapes: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_flops: bool = False, with_modules: bool = False,
                 experimental_config: Any = None, execution_trace_observer: Any = None,
                 acc_events: bool = False, use_cuda: bool | None = None,
                 enabled: bool = True, **unused: Any) -> None:
        del profile_memory, with_stack, with_flops, with_modules, experimental_config
        del execution_trace_observer, use_cuda, unused
        self.activities = set(activities) if activities else {ProfilerActivity.CPU}
        self.schedule = schedule
        self.on_trace_ready = on_trace_ready
        self.record_shapes = record_shapes
        self.acc_events = acc_events
        self.enabled = enabled
        self.step_num = 0
        self._events: list[FunctionEvent] = []
        self._stack: list[FunctionEvent] = []
        self._handles: list[Any] = []
        self._module_events: dict[int, list[FunctionEvent]] = {}
        self._recording = False
        self._t0 = time.perf_counter_ns()

    # -- recording ------------------------------------------------------------------------
    def _now_us(self) -> float:
        return (time.perf_counter_ns() - self._t0) / 1e3

    def _begin(self, name: str, args: Any) -> FunctionEvent:
        shapes = _shapes(args) if (self.record_shapes and args is not None) else None
        event = FunctionEvent(name, self._now_us(), len(self._stack), shapes)
        if self._stack:
            event.cpu_parent = self._stack[-1]
            self._stack[-1].children.append(event)
        self._stack.append(event)
        self._events.append(event)
        return event

    def _end(self, event: FunctionEvent) -> None:
        event.time_range_end = self._now_us()
        # close this range and any range left open inside it (an exception skipped its end)
        while self._stack:
            top = self._stack.pop()
            if top is event:
                break
            top.time_range_end = event.time_range_end

    def _pre_hook(self, module: Any, args: tuple) -> None:
        if self._recording:
            ev = self._begin(type(module).__name__, args)
            self._module_events.setdefault(id(module), []).append(ev)

    def _post_hook(self, module: Any, args: tuple, output: Any) -> None:
        pending = self._module_events.get(id(module))
        if pending:
            self._end(pending.pop())

    def _set_recording(self, on: bool) -> None:
        if on == self._recording:
            return
        self._recording = on
        if on:
            from chainrule.nn.modules.module import (
                register_module_forward_hook,
                register_module_forward_pre_hook,
            )

            self._handles = [register_module_forward_pre_hook(self._pre_hook),
                             register_module_forward_hook(self._post_hook, always_call=True)]
        else:
            for h in self._handles:
                h.remove()
            self._handles = []
            for ev in reversed(self._stack):
                ev.time_range_end = self._now_us()
            self._stack.clear()

    def _action(self) -> ProfilerAction:
        if not self.enabled:
            return ProfilerAction.NONE
        if self.schedule is None:
            return ProfilerAction.RECORD
        return self.schedule(self.step_num)

    def start(self) -> None:
        _ACTIVE.append(self)
        self._set_recording(self._action() in (ProfilerAction.RECORD,
                                               ProfilerAction.RECORD_AND_SAVE))

    def stop(self) -> None:
        was = self._recording
        self._set_recording(False)
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if was and self.on_trace_ready is not None:
            self.on_trace_ready(self)   # the trace of the cycle the profile ended in

    def step(self) -> None:
        """Advance the schedule by one step (call once per training iteration)."""
        before = self._action()
        self.step_num += 1
        after = self._action()
        if before == ProfilerAction.RECORD_AND_SAVE:
            self._set_recording(False)
            if self.on_trace_ready is not None:
                self.on_trace_ready(self)
        if after in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            if before not in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE) and \
                    not self.acc_events:
                self._events = []      # a new active cycle starts its own trace
            self._set_recording(True)
        else:
            self._set_recording(False)

    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- results --------------------------------------------------------------------------
    def events(self) -> EventList:
        return EventList(self._events)

    def key_averages(self, group_by_input_shape: bool = False,
                     group_by_stack_n: int = 0) -> EventList:
        return self.events().key_averages(group_by_input_shape, group_by_stack_n)

    @property
    def function_events(self) -> EventList:
        return self.events()

    def table(self, *args: Any, **kwargs: Any) -> str:
        return self.key_averages().table(*args, **kwargs)

    def export_chrome_trace(self, path: str) -> None:
        """The events as a Chrome trace (``chrome://tracing`` / Perfetto JSON)."""
        trace = {"traceEvents": [
            {"ph": "X", "cat": "cpu_op", "name": e.name, "pid": os.getpid(), "tid": 0,
             "ts": e.time_range_start, "dur": e.cpu_time_total,
             "args": {"Input Dims": e.input_shapes} if e.input_shapes else {}}
            for e in self._events]}
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "wt") as f:
            json.dump(trace, f)


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None,
                              use_gzip: bool = False) -> Callable[[profile], None]:
    """An ``on_trace_ready`` that writes each trace to ``dir_name`` as
    ``<worker>.<time>.pt.trace.json`` (TensorBoard's profiler plugin reads this layout)."""

    def handler(prof: profile) -> None:
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        name = f"{worker}.{time.time_ns() // 1_000_000}.pt.trace.json" + (
            ".gz" if use_gzip else "")
        prof.export_chrome_trace(os.path.join(dir_name, name))

    return handler
