"""Timing snippets (PyTorch's ``torch.utils.benchmark``): ``Timer``, ``Measurement``, ``Compare``.

``Timer(stmt, setup, globals=...)`` wraps :class:`timeit.Timer`: ``timeit(number)`` times one
block of ``number`` runs; ``blocked_autorange(min_run_time)`` first grows the block size by
factors of ten until one block is long against the timer's overhead (or takes
``min_run_time / 1000``), then times blocks until ``min_run_time`` seconds are spent;
``adaptive_autorange`` keeps timing blocks until the interquartile range is within
``threshold`` of the median. A :class:`Measurement` holds the per-block totals (``raw_times``)
and reports per-run ``times``, ``mean``, ``median`` and ``iqr``. ``num_threads`` sets chainrule's
thread count while timing. ``Compare(measurements).print()`` tabulates medians by label, with a
row per sub-label and a column per description.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Timer", "Measurement", "Compare", "TaskSpec", "select_unit"]

_UNITS = ((1e-9, "ns", "nanoseconds"), (1e-6, "us", "microseconds"),
          (1e-3, "ms", "milliseconds"), (1.0, "s", "seconds"))


def select_unit(t: float) -> tuple[str, float]:
    """The unit to print ``t`` seconds in, and its size in seconds (as PyTorch's)."""
    size, unit = 1e-9, "ns"
    for s, u, _ in _UNITS:
        if t >= s:
            size, unit = s, u
    return unit, size


@dataclass(frozen=True)
class TaskSpec:
    """What was timed: the statement, its setup and the labels."""

    stmt: str
    setup: str
    global_setup: str = ""
    label: str | None = None
    sub_label: str | None = None
    description: str | None = None
    env: str | None = None
    num_threads: int = 1

    @property
    def title(self) -> str:
        if self.label is not None:
            return self.label + (f": {self.sub_label}" if self.sub_label else "")
        return f"{self.stmt}"


@dataclass
class Measurement:
    """Block totals ``raw_times`` of ``number_per_run`` runs each, for ``task_spec``."""

    number_per_run: int
    raw_times: list[float]
    task_spec: TaskSpec
    metadata: dict | None = None
    _times: list[float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._times = [t / self.number_per_run for t in self.raw_times]

    def __getattr__(self, name: str) -> Any:
        # label, sub_label, description, env, num_threads, stmt, setup, title: the task's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.task_spec, name)

    @property
    def times(self) -> list[float]:
        """Seconds per run, one entry per block."""
        return list(self._times)

    @property
    def mean(self) -> float:
        return statistics.fmean(self._times)

    @property
    def median(self) -> float:
        return statistics.median(self._times)

    @property
    def iqr(self) -> float:
        if len(self._times) < 2:
            return 0.0
        q = statistics.quantiles(self._times, n=4, method="inclusive")
        return q[2] - q[0]

    @property
    def has_warnings(self) -> bool:
        return self.median > 0 and self.iqr / self.median > 0.1 and len(self._times) >= 4

    @property
    def significant_figures(self) -> int:
        """How many digits of the median the spread leaves meaningful (1 to 4)."""
        if len(self._times) < 2 or self.iqr == 0:
            return 4
        import math

        rel = self.iqr / (2 * self.median)
        return max(1, min(4, int(-math.log10(rel)) + 1)) if rel > 0 else 4

    def __repr__(self) -> str:
        unit, size = select_unit(self.median)
        lines = [f"<{type(self).__module__}.{type(self).__name__} object at {id(self):#x}>",
                 self.task_spec.title]
        if self.task_spec.description:
            lines.append(self.task_spec.description)
        threads = f"{self.task_spec.num_threads} thread" + (
            "s" if self.task_spec.num_threads > 1 else "")
        n = len(self._times)
        if n == 1:
            lines += [f"  {self.median / size:.2f} {unit}",
                      f"  1 measurement, {self.number_per_run} runs , {threads}"]
        else:
            lines += [f"  Median: {self.median / size:.2f} {unit}",
                      f"  IQR:    {self.iqr / size:.2f} {unit} ({n} measurements, "
                      f"{self.number_per_run} runs per measurement, {threads})"]
        if self.has_warnings:
            lines.append(f"  WARNING: Interquartile range is {100 * self.iqr / self.median:.1f}% "
                         "of the median measurement.")
        return "\n".join(lines)

    @staticmethod
    def merge(measurements: Sequence[Measurement]) -> list[Measurement]:
        """One Measurement per task, pooling the per-run times of equal tasks."""
        groups: dict[TaskSpec, list[Measurement]] = {}
        for m in measurements:
            groups.setdefault(m.task_spec, []).append(m)
        return [Measurement(1, [t for m in ms for t in m.times], spec)
                for spec, ms in groups.items()]


class Timer:
    """Times ``stmt`` (a string run in ``globals`` after ``setup``; a callable is accepted too,
    as by :mod:`timeit`)."""

    def __init__(self, stmt: str | Callable[[], Any] = "pass",
                 setup: str | Callable[[], Any] = "pass", global_setup: str = "",
                 timer: Callable[[], float] = timeit.default_timer,
                 globals: dict[str, Any] | None = None, label: str | None = None,
                 sub_label: str | None = None, description: str | None = None,
                 env: str | None = None, num_threads: int = 1, language: Any = None) -> None:
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")
        namespace = dict(globals or {})
        self._timer = timeit.Timer(stmt=stmt, setup=setup, timer=timer, globals=namespace)
        self._task_spec = TaskSpec(stmt=stmt if isinstance(stmt, str) else repr(stmt),
                                   setup=setup if isinstance(setup, str) else repr(setup),
                                   global_setup=global_setup, label=label,
                                   sub_label=sub_label, description=description, env=env,
                                   num_threads=num_threads)

    def _timeit(self, number: int) -> float:
        from chainrule import get_num_threads, set_num_threads

        before = get_num_threads()
        set_num_threads(self._task_spec.num_threads)
        try:
            return max(self._timer.timeit(number), 1e-9)
        finally:
            set_num_threads(before)

    def timeit(self, number: int = 1000000) -> Measurement:
        """One block of ``number`` runs (after one warm-up run)."""
        self._timeit(1)
        return Measurement(number, [self._timeit(number)], self._task_spec)

    def _block_size(self, min_run_time: float) -> int:
        overhead = statistics.median(self._timeit(0) for _ in range(5))
        number = 1
        while True:
            taken = self._timeit(number)
            if (overhead / taken <= 1e-4 and taken >= min_run_time / 1000) \
                    or taken > min_run_time or number * 10 > 2 ** 31 - 1:
                return number
            number *= 10

    def blocked_autorange(self, callback: Callable[[int, float], Any] | None = None,
                          min_run_time: float = 0.2) -> Measurement:
        """Blocks of an estimated size, timed until ``min_run_time`` seconds are spent."""
        number = self._block_size(min_run_time)
        times: list[float] = []
        while not times or sum(times) < min_run_time:
            times.append(self._timeit(number))
            if callback is not None:
                callback(number, times[-1])
        return Measurement(number, times, self._task_spec)

    def adaptive_autorange(self, threshold: float = 0.1, *, min_run_time: float = 0.01,
                           max_run_time: float = 10.0,
                           callback: Callable[[int, float], Any] | None = None
                           ) -> Measurement:
        """Blocks timed until IQR/median <= ``threshold`` (after at least ``min_run_time``
        seconds and three blocks) or ``max_run_time`` seconds."""
        number = self._block_size(min_run_time=0.05)
        times: list[float] = []
        while True:
            times.append(self._timeit(number))
            if callback is not None:
                callback(number, times[-1])
            m = Measurement(number, times, self._task_spec)
            spent = sum(times)
            if (len(times) > 3 and spent >= min_run_time and m.iqr / m.median <= threshold) \
                    or spent >= max_run_time:
                return m


class Compare:
    """A table of medians: one block per label, a row per (threads, sub-label), a column per
    description, all in one unit."""

    def __init__(self, results: Sequence[Measurement]) -> None:
        self._results = list(results)
        self._digits: int | None = None

    def trim_significant_figures(self) -> None:
        self._digits = 2

    def colorize(self, rowwise: bool = False) -> None:
        """Accepted for compatibility; the table is printed without colour."""

    def extend_results(self, results: Sequence[Measurement]) -> None:
        self._results.extend(results)

    def __str__(self) -> str:
        merged = Measurement.merge(self._results)
        if not merged:
            return ""
        unit, size = select_unit(min(m.median for m in merged))
        english = next(e for _, u, e in _UNITS if u == unit)
        out = []
        for label in dict.fromkeys(m.task_spec.label for m in merged):
            ms = [m for m in merged if m.task_spec.label == label]
            cols = list(dict.fromkeys(m.task_spec.description or "" for m in ms))
            cells = {(m.task_spec.num_threads, m.task_spec.sub_label or "",
                      m.task_spec.description or ""): m.median / size for m in ms}
            width = max(8, *(len(c) + 2 for c in cols))
            row_w = max(6, *(len(k[1]) + 2 for k in cells))
            out.append(f"[{f' {label} ' if label else ''}]".center(row_w + (width + 3)
                                                                   * len(cols), "-"))
            out.append(" " * row_w + "".join(f" | {c:^{width}}" for c in cols))
            for threads in dict.fromkeys(k[0] for k in cells):
                out.append(f"{threads} threads: " + "-" * 10)
                for sub in dict.fromkeys(k[1] for k in cells if k[0] == threads):
                    vals = [cells.get((threads, sub, c)) for c in cols]
                    fmt = (lambda v: f"{v:.{self._digits or 1}f}") if self._digits else \
                        (lambda v: f"{v:.1f}")
                    out.append(f"{sub:>{row_w}}" + "".join(
                        f" | {fmt(v) if v is not None else '':^{width}}" for v in vals))
            out.append("")
        out.append(f"Times are in {english} ({unit}).")
        return "\n".join(out) + "\n"

    def print(self) -> None:
        print(str(self))
