"""Run lab experiments and write ``runs/lab-<timestamp>/`` (report.html, report.md,
verdicts.json, PNGs).

Each experiment runs in isolation: one that raises gets the verdict ``error`` with its
traceback in the report, and the others still run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
import traceback
from collections.abc import Sequence
from typing import Any

from chainrule.lab.experiment import ERROR, Context, Experiment, Result, registry


def select(only: Sequence[str] | None = None, quick: bool = False) -> list[type[Experiment]]:
    """Experiments to run: those named in ``only`` (ids, case-insensitive), else all
    (without the ``slow`` ones in a quick run)."""
    reg = registry()
    if only:
        wanted = [o.upper() for o in only]
        unknown = [o for o in wanted if o not in reg]
        if unknown:
            raise KeyError(f"unknown experiment id(s) {unknown}; known: {list(reg)}")
        return [reg[o] for o in wanted]
    return [cls for cls in reg.values() if not (quick and cls.slow)]


def run_one(cls: type[Experiment], ctx: Context) -> Result:
    """Run one experiment, timing it and turning an exception into an ``error`` result."""
    exp = cls()
    start = time.perf_counter()
    try:
        with _blas_threads():
            res = exp.run(ctx)
    except Exception as e:  # one broken experiment must not stop the lab
        res = exp.result(ctx, ERROR, f"{type(e).__name__}: {e}",
                         note=traceback.format_exc())
    res.wall_time = round(time.perf_counter() - start, 2)
    return res


def _blas_threads() -> Any:
    """One BLAS thread unless the environment sets a count: the lab's matrices are small, where
    a second thread gains little on an idle machine and, on a busy one, its spin-waiting made
    experiments 5-10x slower (A1 134 s vs 14 s, E1 109 s vs 20 s at load 7 on 2 cores)."""
    import contextlib

    if any(os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                       "MKL_NUM_THREADS")):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def run(
    only: Sequence[str] | None = None,
    quick: bool = True,
    seeds: Sequence[int] = (0, 1, 2),
    out_root: str = "runs",
    tiny: bool = False,
    quiet: bool = False,
) -> tuple[str, list[Result]]:
    """Run the selected experiments; returns the run folder and the results."""
    from chainrule.lab.report import write_reports

    chosen = select(only, quick)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = os.path.join(out_root, f"lab-{stamp}")
    k = 1
    while os.path.exists(out_dir):
        k += 1
        out_dir = os.path.join(out_root, f"lab-{stamp}-{k}")
    os.makedirs(out_dir)
    results: list[Result] = []
    progress = _progress(quiet, len(chosen))
    try:
        for cls in chosen:
            progress.step(f"{cls.id} {cls.title}")
            ctx = Context(quick=quick, seeds=tuple(seeds), tiny=tiny,
                          out_dir=os.path.join(out_dir, cls.id),
                          log=(lambda s: None) if quiet else progress.log)
            res = run_one(cls, ctx)
            results.append(res)
            progress.done(res)
    finally:
        progress.close()
    write_reports(out_dir, results, {"quick": quick, "seeds": list(seeds), "tiny": tiny})
    return out_dir, results


class _progress:
    """A rich progress bar over experiments on a terminal; one line per experiment otherwise."""

    def __init__(self, quiet: bool, total: int) -> None:
        import sys

        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None
        if not quiet and sys.stdout.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn())
            self.bar.start()
            self.task = self.bar.add_task("lab", total=total)

    def step(self, name: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=name)
        elif not self.quiet:
            print(f"running {name} ...", flush=True)

    def log(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text)
        elif not self.quiet:
            print(text, flush=True)

    def done(self, res: Result) -> None:
        line = f"{res.id:4s} {res.verdict:12s} {res.wall_time:7.1f} s  {res.summary}"
        if self.bar is not None:
            self.bar.update(self.task, advance=1)
            self.bar.console.print(line)
        elif not self.quiet:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def load_verdicts(path: str) -> list[dict[str, Any]]:
    """Read a run's ``verdicts.json``."""
    with open(path) as f:
        return json.load(f)["results"]
