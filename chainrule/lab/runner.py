"""Run lab experiments and write ``runs/lab-<timestamp>/`` (report.html, report.md,
verdicts.json, PNGs).

Each experiment runs in isolation: one that raises gets the verdict ``error`` with its
traceback in the report, and the others still run. With ``jobs > 1`` experiments run in worker
processes (``concurrent.futures.ProcessPoolExecutor``, spawned, one BLAS thread each); every
experiment seeds its own generators, so the results are the same as a serial run's.
"""

from __future__ import annotations

import concurrent.futures as _cf
import datetime as _dt
import functools
import json
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from chainrule.lab.experiment import (
    ERROR,
    QUICK_SEEDS,
    VERDICTS,
    Context,
    Experiment,
    Result,
    registry,
)

_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def select(only: Sequence[str] | None = None, quick: bool = False) -> list[type[Experiment]]:
    """Experiments to run: those named in ``only`` (ids, case-insensitive), else all
    (without the ``slow`` ones in a quick run)."""
    reg = registry()
    if only:
        by_upper = {k.upper(): k for k in reg}  # "e1b" names E1b
        unknown = [o for o in only if o.upper() not in by_upper]
        if unknown:
            raise KeyError(f"unknown experiment id(s) {unknown}; known: {list(reg)}")
        return [reg[by_upper[o.upper()]] for o in only]
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

    if any(os.environ.get(v) for v in _BLAS_VARS):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def run(
    only: Sequence[str] | None = None,
    quick: bool = True,
    seeds: Sequence[int] = QUICK_SEEDS,
    out_root: str = "runs",
    tiny: bool = False,
    quiet: bool = False,
    jobs: int | None = None,
    tune: bool = False,
) -> tuple[str, list[Result]]:
    """Run the selected experiments (``jobs`` worker processes, default one per core);
    returns the run folder and the results in registry order."""
    from chainrule.lab.report import write_reports

    if len(seeds) < 3:
        raise ValueError(f"the lab needs at least 3 seeds for a t interval, got {len(seeds)}")
    chosen = select(only, quick)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = os.path.join(out_root, f"lab-{stamp}")
    k = 1
    while os.path.exists(out_dir):
        k += 1
        out_dir = os.path.join(out_root, f"lab-{stamp}-{k}")
    os.makedirs(out_dir)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(chosen)))
    progress = _progress(quiet, len(chosen))
    start = time.perf_counter()
    try:
        if jobs == 1:
            results = [_serial(cls, quick, seeds, tiny, tune, out_dir, quiet, progress)
                       for cls in chosen]
        else:
            results = _parallel(chosen, quick, seeds, tiny, tune, out_dir, quiet, progress, jobs)
    finally:
        progress.close()
    total = round(time.perf_counter() - start, 1)
    if not quiet:
        print(f"{len(results)} experiments in {total} s ({jobs} worker"
              f"{'s' if jobs > 1 else ''})", flush=True)
    write_reports(out_dir, results, {"quick": quick, "seeds": list(seeds), "tiny": tiny,
                                     "jobs": jobs, "wall_time": total})
    return out_dir, results


def _context(exp_id: str, quick: bool, seeds: Sequence[int], tiny: bool, tune: bool,
             out_dir: str, log: Callable[[str], None]) -> Context:
    return Context(quick=quick, seeds=tuple(seeds), tiny=tiny, tune=tune,
                   out_dir=os.path.join(out_dir, exp_id), log=log)


def _serial(cls: type[Experiment], quick: bool, seeds: Sequence[int], tiny: bool, tune: bool,
            out_dir: str, quiet: bool, progress: _progress) -> Result:
    progress.step(f"{cls.id} {cls.title}")
    ctx = _context(cls.id, quick, seeds, tiny, tune, out_dir,
                   _silent if quiet else progress.log)
    res = run_one(cls, ctx)
    progress.done(res)
    return res


def _parallel(chosen: list[type[Experiment]], quick: bool, seeds: Sequence[int], tiny: bool,
              tune: bool, out_dir: str, quiet: bool, progress: _progress,
              jobs: int) -> list[Result]:
    """Experiments in ``jobs`` spawned workers (spawn, not fork: the parent may hold BLAS and
    rich threads); the BLAS variables are set before the workers import NumPy."""
    saved = {v: os.environ.get(v) for v in _BLAS_VARS}
    for v in _BLAS_VARS:
        os.environ[v] = os.environ.get(v) or "1"
    results: dict[str, Result] = {}
    last = _previous_times(os.path.dirname(out_dir), quick, tiny)
    jobs_list = _jobs(chosen)
    # longest first (by the last comparable run; unknown ones first): the run ends when the
    # last worker does, and a long experiment started last would run alone
    order = sorted(jobs_list, key=lambda job: -sum(last.get(c.id, float("inf")) for c in job))
    try:
        with _cf.ProcessPoolExecutor(max_workers=jobs,
                                     mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_watch_parent,
                                     initargs=(os.getpid(),)) as pool:
            futures = {}
            for job in order:
                ctxs = [_context(cls.id, quick, seeds, tiny, tune, out_dir,
                                 _silent if quiet else functools.partial(_prefixed, cls.id))
                        for cls in job]
                futures[pool.submit(_worker_job, [c.id for c in job], ctxs)] = job
            progress.step(f"{len(chosen)} experiments on {jobs} workers")
            for fut in _cf.as_completed(futures):
                job = futures[fut]
                try:
                    done = fut.result()
                except Exception as e:  # a worker that died (not an experiment that raised)
                    done = []
                    for cls in job:
                        ctx = _context(cls.id, quick, seeds, tiny, tune, out_dir, _silent)
                        done.append(cls().result(
                            ctx, ERROR, f"worker failed: {type(e).__name__}: {e}",
                            note=traceback.format_exc()))
                for res in done:
                    results[res.id] = res
                    progress.done(res)
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
    return [results[cls.id] for cls in chosen]


def _previous_times(out_root: str, quick: bool, tiny: bool) -> dict[str, float]:
    """Per-experiment wall times of the newest earlier run in ``out_root`` with the same
    budget level (empty when there is none or it cannot be read)."""
    import glob

    runs = sorted(glob.glob(os.path.join(out_root, "lab-*", "verdicts.json")),
                  key=os.path.getmtime, reverse=True)
    for path in runs:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        meta = data.get("meta", {})
        if bool(meta.get("quick")) == quick and bool(meta.get("tiny")) == tiny:
            return {r["id"]: float(r.get("wall_time") or 0.0) for r in data.get("results", [])}
    return {}


def _watch_parent(parent: int, every: float = 1.0) -> None:
    """Worker initializer: exit when the parent process is gone (killed, not shut down), so
    that no orphan keeps training for a run nobody will read."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(1)

    # named "chainrule-…": chainrule.compile captures only while no other thread runs, except
    # chainrule's own; this one only sleeps and compares two ints (it builds no objects a
    # capture's gc listing could catch half-made)
    threading.Thread(target=watch, name="chainrule-lab-parent-watch", daemon=True).start()


def _worker(exp_id: str, ctx: Context) -> Result:
    """Run one experiment by id in a worker process."""
    return run_one(registry()[exp_id], ctx)


def _worker_job(exp_ids: list[str], ctxs: list[Context]) -> list[Result]:
    """Run experiments one after another in one worker process (see :func:`_jobs`)."""
    return [_worker(exp_id, ctx) for exp_id, ctx in zip(exp_ids, ctxs)]


def _jobs(chosen: list[type[Experiment]]) -> list[list[type[Experiment]]]:
    """Worker jobs: one experiment each, except that an experiment whose ``same_process_as``
    names another chosen one runs right after it in that one's process, where it reuses what
    the first trained (B2 slices B1's deep nets instead of training them again)."""
    ids = {cls.id for cls in chosen}
    jobs: dict[str, list[type[Experiment]]] = {}
    for cls in chosen:
        host = getattr(cls, "same_process_as", "")
        if host and host in ids and host != cls.id:
            continue
        jobs[cls.id] = [cls]
    for cls in chosen:
        host = getattr(cls, "same_process_as", "")
        if host and host in ids and host != cls.id:
            jobs[host].append(cls)
    return list(jobs.values())


def _silent(text: str) -> None:
    """A log that drops everything (picklable, unlike a lambda)."""


def _prefixed(exp_id: str, text: str) -> None:
    print(f"[{exp_id}] {text}", flush=True)


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
        from chainrule.lab.report import verdict_line

        width = max(len(v) for v in VERDICTS)
        said = verdict_line(res) if res.parts else res.summary
        line = f"{res.id:4s} {res.verdict:{width}s} {res.wall_time:7.1f} s  {said}"
        fallbacks = [d for d in res.data.values() if "FALLBACK" in d]
        if fallbacks:
            line += "\n     data " + "; ".join(fallbacks)
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
