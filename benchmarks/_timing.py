"""Shared timing helpers for the benchmarks: A/B alternation, medians, spreads, ratios.

Timing two implementations one after the other is biased by drift (CPU frequency, other
processes on a shared machine); alternating A B A B after a warm-up and reporting medians
makes the ratio robust. Use :func:`compare` for a pair and :func:`header` for the environment.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Timing:
    """Per-call seconds of one implementation over several repeats."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Relative spread: (max - min) / median of the repeats."""
        return (max(self.samples) - min(self.samples)) / self.median


@dataclass
class Comparison:
    """Two timings measured alternately; ``ratio`` is a / b (chainrule / torch)."""

    name: str
    a: Timing
    b: Timing

    @property
    def ratio(self) -> float:
        return self.a.median / self.b.median

    def line(self, a_label: str = "chainrule", b_label: str = "torch") -> str:
        return (
            f"{self.name:<34} {a_label} {fmt_time(self.a.median):>9} "
            f"(±{self.a.spread * 50:4.1f}%)  {b_label} {fmt_time(self.b.median):>9} "
            f"(±{self.b.spread * 50:4.1f}%)  ratio {self.ratio:5.2f}x"
        )


def fmt_time(s: float) -> str:
    """Seconds in a readable unit (ns, µs, ms, s)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.2f} {unit}"
    return f"{s / 1e-9:.0f} ns"


def calibrate(fn: Callable[[], Any], target_s: float = 0.05,
              timer: Callable[[], float] = time.perf_counter) -> int:
    """How many calls of ``fn`` take about ``target_s`` seconds (at least 1)."""
    fn()
    n = 1
    while True:
        t0 = timer()
        for _ in range(n):
            fn()
        dt = timer() - t0
        if dt >= target_s / 4 or n >= 1 << 20:
            return max(1, int(n * target_s / max(dt, 1e-9)))
        n *= 4


def time_calls(fn: Callable[[], Any], number: int,
               timer: Callable[[], float] = time.perf_counter) -> float:
    """Seconds per call of ``fn`` over ``number`` back-to-back calls."""
    t0 = timer()
    for _ in range(number):
        fn()
    return (timer() - t0) / number


def compare(name: str, a: Callable[[], Any], b: Callable[[], Any], repeats: int = 7,
            target_s: float = 0.05, warmup: int = 3,
            timer: Callable[[], float] = time.perf_counter) -> Comparison:
    """Time ``a`` and ``b`` alternately (A B A B ...) after a warm-up; medians of ``repeats``.

    ``timer=time.process_time`` counts CPU time of this process (all its threads) instead of
    wall time: steadier when other jobs share the machine, but blind to idle waits.
    """
    for _ in range(warmup):
        a()
        b()
    na, nb = calibrate(a, target_s, timer), calibrate(b, target_s, timer)
    sa: list[float] = []
    sb: list[float] = []
    for _ in range(repeats):
        sa.append(time_calls(a, na, timer))
        sb.append(time_calls(b, nb, timer))
    return Comparison(name, Timing(sa), Timing(sb))


def header() -> str:
    """Python, NumPy, torch versions and the BLAS libraries with their thread counts."""
    import numpy as np

    lines = [f"python {platform.python_version()}  numpy {np.__version__}"]
    try:
        import torch

        lines[0] += f"  torch {torch.__version__} (threads {torch.get_num_threads()})"
    except ImportError:  # pragma: no cover - torch is a test extra
        lines[0] += "  torch not installed"
    try:
        from threadpoolctl import threadpool_info

        for d in threadpool_info():
            if d.get("user_api") == "blas":
                lines.append(
                    f"BLAS {d.get('internal_api')} {d.get('version')} "
                    f"threads={d.get('num_threads')} ({d.get('filepath', '').split('/')[-1]})"
                )
    except ImportError:  # pragma: no cover
        lines.append("threadpoolctl not installed")
    return "\n".join(lines)
