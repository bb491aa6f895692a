"""The benchmark suite of issue 9: every workload, chainrule against PyTorch eager, one table.

Each timed workload is built by the per-area benchmark that owns it (``bench_core``,
``bench_nn``, ``bench_rnn``), in both libraries with the same weights (torch's state_dict
copied), the same data, float32 and the same thread count; the two are timed alternately
(A B A B ... after a warm-up) and the medians compared. Every repeat is timed in wall and in
CPU seconds; the verdict uses CPU time at one thread (steady on a shared machine) and wall time
at several (where CPU time also counts the thread pools' spinning), unless ``--timer`` says.

Besides the timings: the peak resident memory (``ru_maxrss``) of a short training run of each
workload, measured in a child process that imports only one library; ``import chainrule``
against ``import torch`` in fresh interpreters; and the MLP at batch 1024 as a fraction of the
sgemm rate measured in the same run.

Run ``python -m benchmarks [--threads N] [--quick] [--json PATH] [--only TEXT]``
(or ``chainrule bench ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import bench_core, bench_nn, bench_rnn
from benchmarks._timing import Comparison, compare, environment, fmt_time, header, threads

Step = Callable[[], None]


# ---- the workloads -------------------------------------------------------------------------
def _optimizer(lib: Any, name: str | None, params: list) -> Any:
    """The optimizer of a workload, with the same hyperparameters in both libraries."""
    if name is None:
        return None
    if name == "SGD-momentum":
        return lib.optim.SGD(params, lr=0.01, momentum=0.9)
    if name == "Adadelta":
        return lib.optim.Adadelta(params, lr=1.0)
    return getattr(lib.optim, name)(params, lr=1e-3)


def _classifier_step(lib: Any, like: Step | None, build: Callable[[Any], Any],
                     shape: tuple[int, ...], loss: str, optimizer: str | None,
                     seed: int = 0) -> Step:
    """A full train step of ``build(lib.nn)`` on random data of ``shape`` with 10 classes;
    weights copied from ``like.model`` (the torch twin's step) when given."""
    lib.manual_seed(seed)
    model = build(lib.nn)
    if like is not None:
        bench_nn.copy_weights(model, like.model)  # type: ignore[attr-defined]
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal(shape).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, shape[0]))
    step = bench_nn.train_step(lib, model, x, y, loss,
                               _optimizer(lib, optimizer, list(model.parameters())))
    step.model = model  # type: ignore[attr-defined]
    return step


def mlp_train(batch: int, optimizer: str | None) -> Callable[[Any, Step | None], Step]:
    """MLP 784-512-256-10, cross-entropy, the optimizer (None: forward + backward only)."""
    return lambda lib, like: _classifier_step(lib, like, bench_nn.mlp, (batch, 784),
                                              "cross_entropy", optimizer)


def cnn_train(lib: Any, like: Step | None) -> Step:
    """The MNIST CNN of the nn issue, batch 64, NLL of its log-softmax, Adadelta."""
    return _classifier_step(lib, like, bench_nn.mnist_cnn, (64, 1, 28, 28), "nll_loss",
                            "Adadelta")


def tiny(lib: Any, like: Step | None) -> Step:
    """10 elementwise ops on 10-element tensors, forward and backward."""
    return bench_core.tiny_graph(lib, *bench_core.tiny_inputs(lib))


def lstm_train(lib: Any, like: Step | None) -> Step:
    return bench_rnn.lstm_step(lib, optimizer="Adam",
                               like=None if like is None else like.model)  # type: ignore


def gru_train(lib: Any, like: Step | None) -> Step:
    return bench_rnn.gru_step(lib, optimizer="Adam",
                              like=None if like is None else like.model)  # type: ignore


@dataclass
class Workload:
    """One row of the table: ``build(lib, like)`` returns a step (``like``: the torch twin's
    step, whose weights the chainrule step copies); ``target`` bounds chainrule / torch
    (``kind`` "ratio"), or is the minimum fraction of the sgemm rate (``kind`` "gemm")."""

    name: str
    target: float
    build: Callable[[Any, Step | None], Step]
    kind: str = "ratio"
    target_s: float = 0.2  # seconds per timed repeat
    mem_steps: int = 10  # steps of the memory run


GEMM_BATCH = 1024

WORKLOADS: list[Workload] = [
    Workload("MLP Adam b=32", 0.8, mlp_train(32, "Adam")),
    Workload("MLP Adam b=256", 0.8, mlp_train(256, "Adam")),
    Workload("MLP SGD-momentum b=32", 0.9, mlp_train(32, "SGD-momentum")),
    Workload("MLP SGD-momentum b=256", 0.9, mlp_train(256, "SGD-momentum")),
    Workload("MNIST CNN Adadelta b=64", 1.2, cnn_train, target_s=0.4),
    Workload("LSTM 32-128 T=40 B=64 Adam", 1.2, lstm_train, target_s=0.4),
    Workload("MNIST-1D biGRU h=6 B=100 Adam", 0.7, gru_train, target_s=0.3),
    Workload("tiny graph (10 ops, n=10)", 0.3, tiny, target_s=0.05, mem_steps=100),
    Workload(f"MLP fwd+bwd b={GEMM_BATCH} (of sgemm)", 0.7, mlp_train(GEMM_BATCH, None),
             kind="gemm", target_s=0.4),
]
IMPORT_TARGET_S, IMPORT_TARGET_RATIO = 0.3, 0.25


def workload(name: str) -> Workload:
    for w in WORKLOADS:
        if w.name == name:
            return w
    raise KeyError(f"no workload named {name!r}; known: {[w.name for w in WORKLOADS]}")


def mlp_flops(batch: int) -> float:
    """GEMM flops of one MLP forward + backward: x Wᵀ, gᵀ x for every layer and g W for all
    but the first (the input needs no gradient)."""
    sizes = bench_core.MLP_SIZES
    layers = [i * o for i, o in zip(sizes[:-1], sizes[1:])]
    return 2.0 * batch * (2 * sum(layers) + sum(layers[1:]))


def sgemm_gflops(lib: Any, n: int = 1024, repeats: int = 7) -> float:
    """GFLOP/s of an n×n×n float32 matrix product (median of ``repeats``)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    if lib is np:
        out = np.empty((n, n), np.float32)

        def mm() -> Any:
            return np.matmul(a, b, out=out)
    else:
        ta, tb = lib.from_numpy(a), lib.from_numpy(b)

        def mm() -> Any:
            return ta @ tb
    mm()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        mm()
        times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / statistics.median(times) / 1e9


# ---- memory and import, in child processes -------------------------------------------------
def _child_env(n_threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(n_threads)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def child_memory(name: str, lib_name: str, steps: int, n_threads: int) -> dict[str, Any]:
    """In this (child) process: build the workload in one library only, run ``steps`` steps,
    and report the peak resident set (KiB), and the resident set before the first step.

    ``ru_maxrss`` of a child started from a large parent is useless on Linux: exec carries the
    parent's high-water mark over. The peak of this process's own memory map (``VmHWM``) is
    reported instead where ``/proc`` has it; ``ru_maxrss`` comes along for the record."""
    import importlib

    lib = importlib.import_module(lib_name)
    with threads(n_threads, torch=lib_name == "torch"):
        step = workload(name).build(lib, None)
        before = _proc_status_kib("VmRSS")
        for _ in range(steps):
            step()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    if platform.system() == "Darwin":  # pragma: no cover - bytes there
        maxrss //= 1024
    hwm = _proc_status_kib("VmHWM")
    return {"peak_kib": hwm if hwm > 0 else int(maxrss), "ru_maxrss_kib": int(maxrss),
            "before_kib": before, "torch_imported": "torch" in sys.modules}


def _proc_status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (VmRSS, VmHWM), or -1 where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:  # pragma: no cover - not Linux
        pass
    return -1


def measure_memory(name: str, lib_name: str, steps: int, n_threads: int) -> dict[str, Any]:
    """Run :func:`child_memory` in a fresh interpreter; its JSON result (or an ``error``)."""
    cmd = [sys.executable, "-m", "benchmarks", "--child-memory", name, "--lib", lib_name,
           "--steps", str(steps), "--threads", str(n_threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(n_threads),
                         timeout=300)
    for line in res.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            return json.loads(line)
    return {"error": (res.stderr or res.stdout).strip().splitlines()[-1:]}


_IMPORT = ("import time; c = time.process_time(); t = time.perf_counter(); import {m}; "
           "print(time.perf_counter() - t, time.process_time() - c)")


def import_times(repeats: int, n_threads: int) -> dict[str, dict[str, Any]]:
    """Median wall and CPU seconds of ``import chainrule`` / ``import torch``, each in a fresh
    interpreter, alternating chainrule, torch, chainrule, ... after one warm-up each.

    Both import from cached bytecode, as a user's interpreter does: the warm-up writes it
    (under a cache folder in the temp directory, ``PYTHONPYCACHEPREFIX``, so the source tree
    stays clean, even where ``PYTHONDONTWRITEBYTECODE`` is set)."""
    import tempfile

    env = _child_env(n_threads)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "chainrule-bench-pycache")
    got: dict[str, dict[str, list[float]]] = {m: {"wall": [], "cpu": []}
                                             for m in ("chainrule", "torch")}
    for k in range(repeats + 1):
        for m in got:
            out = subprocess.run([sys.executable, "-c", _IMPORT.format(m=m)], env=env,
                                 capture_output=True, text=True, check=True, timeout=300)
            wall, cpu = map(float, out.stdout.split())
            if k:
                got[m]["wall"].append(wall)
                got[m]["cpu"].append(cpu)
    return {m: {"wall": statistics.median(v["wall"]), "cpu": statistics.median(v["cpu"]),
                "wall_samples": v["wall"]} for m, v in got.items()}


# ---- running and reporting ------------------------------------------------------------------
@dataclass
class Row:
    """A measured workload: the comparison, the value checked against the target, memory."""

    work: Workload
    comparison: Comparison | None = None
    value: float = float("nan")
    met: bool = False
    detail: str = ""
    memory: dict[str, Any] | None = None


def time_workload(w: Workload, repeats: int, timer: str, sgemm: float) -> Row:
    import torch

    import chainrule

    theirs = w.build(torch, None)
    ours = w.build(chainrule, theirs)
    c = compare(w.name, ours, theirs, repeats=repeats, target_s=w.target_s)
    ratio = c.cpu_ratio if timer == "cpu" else c.ratio
    row = Row(w, c)
    if w.kind == "gemm":
        flops = mlp_flops(GEMM_BATCH)
        ours_rate = flops / c.a.median / 1e9
        theirs_rate = flops / c.b.median / 1e9
        row.value = ours_rate / sgemm
        row.met = row.value >= w.target
        row.detail = (f"{ours_rate:.0f} GFLOP/s = {row.value:.0%} of sgemm {sgemm:.0f} "
                      f"(torch {theirs_rate:.0f} = {theirs_rate / sgemm:.0%}); ratio "
                      f"{ratio:.2f}x")
    else:
        row.value = ratio
        row.met = ratio <= w.target
    return row


def _mib(kib: Any) -> str:
    return f"{kib / 1024:7.0f} MiB" if isinstance(kib, (int, float)) and kib > 0 else "      n/a"


def _cell(t: Any, timer: str) -> str:
    if timer == "cpu":
        return f"{fmt_time(t.cpu_median)} ±{t.cpu_spread * 50:3.0f}%"
    return f"{fmt_time(t.median)} ±{t.spread * 50:3.0f}%"


def table(rows: list[Row], imports: dict[str, Any] | None, timer: str) -> str:
    """The results as a text table (medians, spreads as ± half the range, ratios, verdicts)."""
    head = (f"{'workload':<36} {'target':>9} {'chainrule ' + timer:>18} {'torch ' + timer:>18} "
            f"{'wall':>6} {'CPU':>6}  {'verdict':<7} {'peak RSS cr':>11} {'torch':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        c, w = r.comparison, r.work
        assert c is not None
        target = f">= {w.target:.0%}" if w.kind == "gemm" else f"<= {w.target:.2f}x"
        a, b = _cell(c.a, timer), _cell(c.b, timer)
        mem = r.memory or {}
        lines.append(
            f"{w.name:<36} {target:>9} {a:>18} {b:>18} {c.ratio:5.2f}x {c.cpu_ratio:5.2f}x  "
            f"{'met' if r.met else 'MISSED':<7} {_mib(mem.get('chainrule', {}).get('peak_kib'))}"
            f" {_mib(mem.get('torch', {}).get('peak_kib'))}"
        )
        if r.detail:
            lines.append(f"{'':<4}{r.detail}")
    if imports:
        cr, tt = imports["chainrule"], imports["torch"]
        ratio = cr["wall"] / tt["wall"]
        met = cr["wall"] <= IMPORT_TARGET_S and ratio <= IMPORT_TARGET_RATIO
        lines.append(
            f"{'import (wall; fresh interpreter)':<36} {'<=0.3s,.25x':>9} "
            f"{cr['wall']:>16.3f} s {tt['wall']:>16.3f} s {ratio:5.2f}x "
            f"{cr['cpu'] / tt['cpu']:5.2f}x  {'met' if met else 'MISSED':<7}"
        )
    lines.append(f"medians per step in {timer} time (± half the range of the repeats); ratios "
                 f"chainrule / torch in wall and in CPU time; verdicts on {timer} time")
    return "\n".join(lines)


def run_suite(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.perf_counter()
    selected = [w for w in WORKLOADS if not args.only or args.only.lower() in w.name.lower()]
    repeats = args.repeats or (3 if args.quick else 7)
    import torch

    with threads(args.threads) as n:
        timer = args.timer if args.timer != "auto" else ("cpu" if n == 1 else "wall")
        env = environment()
        print(header(env))
        print(f"threads: {n} for both libraries (torch.set_num_threads, threadpoolctl limits); "
              f"float32; {repeats} alternating repeats per workload; verdicts on {timer} time",
              flush=True)
        sgemm = sgemm_gflops(np)
        print(f"sgemm 1024³: NumPy {sgemm:.1f} GFLOP/s, torch {sgemm_gflops(torch):.1f} GFLOP/s",
              flush=True)
        rows = []
        for w in selected:
            row = time_workload(w, repeats, timer, sgemm)
            print(row.comparison.line(cpu=timer == "cpu"), flush=True)  # type: ignore
            rows.append(row)
        compiled = None
        if not args.only or args.only.lower() == "compiled":  # chainrule.compile's rows
            from benchmarks import bench_compile

            print("chainrule.compile (eager, compiled, torch and torch.compile timed in turn; "
                  "torch.compile left out with --quick):", flush=True)
            compiled = bench_compile.run(repeats, only="compiled", torch_compile=not args.quick)
    imports = None
    if not args.no_import:
        imports = import_times(3 if args.quick else 7, n)
        print(f"import: chainrule {imports['chainrule']['wall']:.3f} s, torch "
              f"{imports['torch']['wall']:.3f} s (wall, medians)", flush=True)
    if not args.no_memory:
        for row in rows:
            steps = max(2, row.work.mem_steps // (3 if args.quick else 1))
            row.memory = {lib: measure_memory(row.work.name, lib, steps, n)
                          for lib in ("chainrule", "torch")}
        print("peak RSS measured", flush=True)
    text = table(rows, imports, timer)
    print()
    print(text)
    elapsed = time.perf_counter() - t_start
    print(f"suite took {elapsed:.0f} s")
    return {
        "environment": env, "threads": n, "timer": timer, "repeats": repeats,
        "sgemm_gflops": sgemm, "elapsed_s": elapsed, "imports": imports,
        "import_targets": {"seconds": IMPORT_TARGET_S, "ratio": IMPORT_TARGET_RATIO},
        "rows": [_row_json(r) for r in rows],
        "compiled": compiled,
    }


def _row_json(r: Row) -> dict[str, Any]:
    c = r.comparison
    assert c is not None
    return {
        "name": r.work.name, "kind": r.work.kind, "target": r.work.target, "value": r.value,
        "met": r.met, "ratio_wall": c.ratio, "ratio_cpu": c.cpu_ratio, "detail": r.detail,
        "chainrule": {"wall": c.a.samples, "cpu": c.a.cpu_samples},
        "torch": {"wall": c.b.samples, "cpu": c.b.cpu_samples},
        "memory": r.memory,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks",
                                 description="chainrule vs PyTorch eager: the whole suite")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for both libraries (default: all cores)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats and memory steps")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per workload")
    ap.add_argument("--timer", choices=("auto", "wall", "cpu"), default="auto",
                    help="time the verdicts use (auto: CPU at 1 thread, else wall)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--only", metavar="TEXT", help="only workloads whose name contains TEXT "
                    "('compiled': only the chainrule.compile rows)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-RSS runs")
    ap.add_argument("--no-import", action="store_true", help="skip the import timings")
    ap.add_argument("--child-memory", metavar="WORKLOAD", help=argparse.SUPPRESS)
    ap.add_argument("--lib", default="chainrule", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=10, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_memory:
        print(json.dumps(child_memory(args.child_memory, args.lib, args.steps,
                                      args.threads or 1)))
        return 0
    result = run_suite(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.json}")
    return 0
