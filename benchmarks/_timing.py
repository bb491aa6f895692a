"""Shared timing helpers for the benchmarks: A/B alternation, medians, spreads, ratios, threads
and the environment.

Timing two implementations one after the other is biased by drift (CPU frequency, other
processes on a shared machine); alternating A B A B after a warm-up and reporting medians
makes the ratio robust. Every repeat is measured both in wall seconds and in CPU seconds of
this process (all its threads): CPU time is steadier when other jobs share the machine but
blind to idle waits, and at several threads it also counts the thread pools' spinning. Use
:func:`compare` for a pair, :func:`threads` to pin both libraries to the same thread count,
and :func:`header` / :func:`environment` for the environment.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# the layer sizes of the MLP every benchmark uses (784-512-256-10)
MLP_SIZES = (784, 512, 256, 10)


@dataclass
class Timing:
    """Per-call seconds of one implementation over several repeats (wall and CPU)."""

    samples: list[float]
    cpu_samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Relative spread: (max - min) / median of the repeats."""
        return (max(self.samples) - min(self.samples)) / self.median

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_samples) if self.cpu_samples else float("nan")

    @property
    def cpu_spread(self) -> float:
        s = self.cpu_samples
        return (max(s) - min(s)) / self.cpu_median if s and self.cpu_median else float("nan")


@dataclass
class Comparison:
    """Two timings measured alternately; ``ratio`` is a / b (chainrule / torch) in wall time,
    ``cpu_ratio`` the same in CPU time."""

    name: str
    a: Timing
    b: Timing

    @property
    def ratio(self) -> float:
        return self.a.median / self.b.median

    @property
    def cpu_ratio(self) -> float:
        return self.a.cpu_median / self.b.cpu_median

    def line(self, a_label: str = "chainrule", b_label: str = "torch", cpu: bool = False) -> str:
        """One printable line; ``cpu=True`` shows the CPU-time medians and ratio."""
        if cpu:
            ma, sa, mb, sb, r = (self.a.cpu_median, self.a.cpu_spread, self.b.cpu_median,
                                 self.b.cpu_spread, self.cpu_ratio)
        else:
            ma, sa, mb, sb, r = (self.a.median, self.a.spread, self.b.median, self.b.spread,
                                 self.ratio)
        return (
            f"{self.name:<34} {a_label} {fmt_time(ma):>9} (±{sa * 50:4.1f}%)  {b_label} "
            f"{fmt_time(mb):>9} (±{sb * 50:4.1f}%)  ratio {r:5.2f}x"
            + (" (CPU time)" if cpu else "")
        )


def fmt_time(s: float) -> str:
    """Seconds in a readable unit (ns, µs, ms, s)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.2f} {unit}"
    return f"{s / 1e-9:.0f} ns"


def calibrate(fn: Callable[[], Any], target_s: float = 0.05) -> int:
    """How many calls of ``fn`` take about ``target_s`` wall seconds (at least 1)."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target_s / 4 or n >= 1 << 20:
            return max(1, int(n * target_s / max(dt, 1e-9)))
        n *= 4


def time_calls(fn: Callable[[], Any], number: int) -> tuple[float, float]:
    """(wall, CPU) seconds per call of ``fn`` over ``number`` back-to-back calls."""
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number, (time.process_time() - c0) / number


def compare(name: str, a: Callable[[], Any], b: Callable[[], Any], repeats: int = 7,
            target_s: float = 0.05, warmup: int = 3) -> Comparison:
    """Time ``a`` and ``b`` alternately (A B A B ...) after a warm-up; both wall and CPU
    seconds are recorded for every repeat, medians of ``repeats``."""
    for _ in range(warmup):
        a()
        b()
    na, nb = calibrate(a, target_s), calibrate(b, target_s)
    ta, tb = Timing([], []), Timing([], [])
    settle = SETTLE_S if pool_threads() > 1 else 0.0
    for _ in range(repeats):
        for fn, n, t in ((a, na, ta), (b, nb, tb)):
            if settle:
                time.sleep(settle)
            wall, cpu = time_calls(fn, n)
            t.samples.append(wall)
            t.cpu_samples.append(cpu)
    return Comparison(name, ta, tb)


# Idle worker threads busy-wait before they sleep: OpenBLAS's for up to 2^28 cycles (~0.1 s),
# OpenMP's (torch) for its spin count. Timed right after the other library ran, a multi-
# threaded step would share its cores with those spinning threads (measured: the MNIST CNN at
# 2 threads took 60 or 85 ms depending on which library ran before it), so each timed block
# starts after a pause longer than any spin.
SETTLE_S = 0.25


def pool_threads() -> int:
    """The largest thread count of this process's thread pools (BLAS, OpenMP, torch)."""
    import sys

    n = 1
    try:
        from threadpoolctl import threadpool_info

        n = max([n] + [int(d.get("num_threads") or 1) for d in threadpool_info()])
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        n = max(n, torch.get_num_threads())
    return n


def cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def threads(n: int | None, torch: bool = True) -> Iterator[int]:
    """Run both libraries with ``n`` threads (default: all cores): threadpoolctl limits on every
    thread pool (NumPy's BLAS, torch's OpenMP/MKL) and, unless ``torch=False`` (a process that
    must not import it), ``torch.set_num_threads``."""
    from threadpoolctl import threadpool_limits

    n = n or cores()
    mod = None
    if torch:
        try:
            import torch as mod

            prev = mod.get_num_threads()
            mod.set_num_threads(n)
        except ImportError:  # pragma: no cover - torch is a test extra
            mod = None
    try:
        with threadpool_limits(n):
            yield n
    finally:
        if mod is not None:
            mod.set_num_threads(prev)


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Versions, CPU, and the thread pools (threadpoolctl) with their current thread counts."""
    import numpy as np

    env: dict[str, Any] = {
        "python": platform.python_version(), "numpy": np.__version__, "cpu": cpu_model(),
        "cores": cores(), "platform": platform.platform(),
    }
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a test extra
        env["torch"] = None
    try:
        from threadpoolctl import threadpool_info

        env["threadpools"] = [
            {k: d.get(k) for k in ("user_api", "internal_api", "version", "num_threads")}
            | {"library": os.path.basename(d.get("filepath", ""))}
            for d in threadpool_info()
        ]
    except ImportError:  # pragma: no cover
        env["threadpools"] = []
    env["compiled_kernels"] = _compiled_kernels()
    return env


def _compiled_kernels() -> str | None:
    """The Numba version when chainrule's compiled kernels are on (the ``fast`` extra), else
    None: ratios differ between the two (the NumPy paths are what a plain install runs)."""
    from chainrule import _jit

    if not _jit.available():
        return None
    import numba

    return str(numba.__version__)


def header(env: dict[str, Any] | None = None) -> str:
    """The environment as printable lines: CPU, versions, BLAS libraries and their threads."""
    env = env or environment()
    lines = [f"CPU {env['cpu']} ({env['cores']} cores available)",
             f"python {env['python']}  numpy {env['numpy']}  torch {env.get('torch')} "
             f"(threads {env.get('torch_threads')})"]
    kernels = env.get("compiled_kernels")
    lines.append(f"chainrule compiled kernels: numba {kernels} (the 'fast' extra)" if kernels
                 else "chainrule compiled kernels: off (NumPy paths; install the 'fast' extra "
                      "for Numba kernels)")
    for d in env.get("threadpools", []):
        lines.append(f"{d['user_api']:<7} {d['internal_api']} {d['version']} "
                     f"threads={d['num_threads']} ({d['library']})")
    return "\n".join(lines)
