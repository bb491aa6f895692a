"""chainrule.compile against eager chainrule, PyTorch eager and ``torch.compile`` (issue 17), in
one process.

For each workload the steps are built with the same weights and data (the chainrule ones copy
the torch twin's weights), the compiled ones are warmed up until they replay (``torch.compile``
compiles during its first calls; its compile time is reported), and all are timed in turn
(eager, compiled, torch, torch.compile, eager, ...): the ratios to torch come from the same
minutes of the same machine, so they stay meaningful on a loaded machine where the absolute
times do not. Targets: tiny graph <= 0.12x torch eager (<= 0.03x fused), MLP <= 0.80x.

With Numba installed (the ``fast`` extra) each row also times the step compiled with
``fuse=True`` (runs of elementwise calls as one generated kernel, :mod:`chainrule._fuse`);
without it the row says there is no fused column.

Each row also gives the *floor*: the time of the step's GEMMs alone (the ``matmul`` calls of
the compiled program, run on their captured operands into preallocated outputs), the least a
step can take with BLAS as it is; ``floor/torch`` bounds what any removal of the other work
could reach.

``torch.compile`` (inductor) needs a C++ compiler and minutes of compiling on a small machine;
where it fails, the row says why instead of a time.

Run ``python -m benchmarks.bench_compile [--threads N] [--repeats R] [--no-torch-compile]``;
``chainrule bench`` runs it after the main table (``--only compiled`` for these rows alone).
``--profile "MLP Adam b=256"`` prints instead the CPU time of each line of that row's replay
(:func:`profile_lines`), the most expensive first.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._timing import calibrate, fmt_time, threads, time_calls


# (name, build(lib, like) of benchmarks.suite, target ratio compiled / torch or None, the same
# for the fused step)
def _rows() -> list[tuple[str, Callable, float | None, float | None]]:
    from benchmarks import suite

    return [
        ("tiny graph (10 ops, n=10)", suite.tiny, 0.12, 0.03),
        ("MLP Adam b=256", suite.mlp_train(256, "Adam"), 0.80, None),
        ("LSTM 32-128 T=40 B=64 Adam", suite.lstm_train, None, None),
        ("MNIST CNN Adadelta b=64", suite.cnn_train, None, None),
    ]


# the recorded calls that are GEMMs (NumPy hands them to BLAS)
_GEMMS = ("matmul", "np.matmul", "np.dot", "np.tensordot")
# conv kernels that call BLAS through ctypes (chainrule.ops.conv, one recorded call each): their
# GEMMs are invisible to the tracer, so the floor times the whole kernel, which also copies its
# shifted planes (an upper bound on their GEMM time by a few per cent)
_OPAQUE_GEMMS = ("row_fold_forward", "accumulated_weight_grad", "shifted_col2im")


def gemm_calls(compiled: Any) -> list[tuple[Callable, tuple, dict]]:
    """The GEMMs of ``compiled``'s replayed program as ``(fn, args, kwargs)`` on copies of
    the operands the capture saw, writing into preallocated outputs. Each captured value has
    one copy, shared by every GEMM that reads or writes it, as the program shares it (an LSTM's
    80 recurrent GEMMs read one W_hh, which stays in cache; a copy per call did not and made
    the floor ~20 % too high)."""
    from chainrule.compile import _Slot

    ready = [e.prog for e in compiled.entries if e.state == "ready" and e.prog is not None]
    if not ready:
        return []
    tr = ready[0].tracer
    copies: dict[int, Any] = {}

    def value(t: Any) -> Any:
        """The copy of a captured operand in its layout (``empty_like`` keeps a transpose)."""
        if isinstance(t, tuple):
            return tuple(value(e) for e in t)
        if not isinstance(t, _Slot):
            return t
        if t.i not in copies:
            a = np.empty_like(np.asarray(tr.objs[t.i]))
            a[...] = tr.objs[t.i]
            copies[t.i] = a
        return copies[t.i]

    calls = []
    for ins in tr.instrs:
        opaque = ins.kind == "call" and ins.name.rsplit(".", 1)[-1] in _OPAQUE_GEMMS
        if ins.kind != "call" or not (ins.name in _GEMMS or opaque):
            continue
        args = tuple(value(a) for a in ins.args)
        kw = {k: value(v) for k, v in ins.kw.items()}
        if isinstance(ins.outs, _Slot) and not opaque:  # (an in-place GEMM keeps its ``out``)
            kw["out"] = value(ins.outs)
        calls.append((ins.fn, args, kw))
    return calls


def profile_lines(compiled: Any, args: tuple = (), replays: int = 200,
                  clock: Callable[[], int] = time.thread_time_ns) -> list[tuple[float, str]]:
    """Seconds per replay spent on each line of ``compiled``'s generated replay (the program's
    body, guards and write-back left out), in program order: ``[(seconds, line), ...]``.

    The replay's source is re-generated with a clock read after every line and run
    ``replays`` times on ``args`` (it steps the real state: the step trains). The default
    clock is the thread's CPU time, steady on a loaded machine (a read costs ~0.3 µs, which
    every line carries). A blocked run's loop (:mod:`chainrule._block`) counts as one line,
    its ``for`` line."""
    fast = getattr(compiled, "_fast", None)
    prog = compiled.entries[0].prog if compiled.entries else None
    if fast is None or prog is None or not getattr(prog, "replay_code", ""):
        raise ValueError("profile_lines: the step has no generated replay yet (call it until "
                         "it replays)")
    src = prog.replay_code.splitlines()
    stop = next((k for k, ln in enumerate(src) if ln.strip() == "except GuardMiss:"), None)
    if stop is None:  # (no value guard: the body runs up to the write-back)
        stop = next(k for k, ln in enumerate(src) if "._array = v" in ln or ln.strip()
                    .startswith("return "))
    start = max((k for k in range(stop) if src[k].strip() == "try:"), default=None)
    if start is None:
        start = next(k for k, ln in enumerate(src) if ln.strip().startswith("v")
                     and "=" in ln and "._array" not in ln and ".get(" not in ln)
    else:
        start += 1
    ind = src[start][:len(src[start]) - len(src[start].lstrip())]
    out, lines = src[:start] + [ind + "t0_ = clock_()"], []
    loop = None  # a blocked run's ``for`` line (chainrule._block): timed as one line
    for ln in src[start:stop]:
        top = ln.startswith(ind) and ln[len(ind)] != " "
        if top and loop is not None:  # (the first line after the loop's body)
            out.append(f"{ind}t1_ = clock_(); T_[{loop}] += t1_ - t0_; t0_ = t1_")
            loop = None
        out.append(ln)
        if ln.strip().startswith(("del ", "#")) or not top:
            continue
        lines.append(ln.strip())
        if ln.rstrip().endswith(":"):
            loop = len(lines) - 1
            continue
        out.append(f"{ind}t1_ = clock_(); T_[{len(lines) - 1}] += t1_ - t0_; t0_ = t1_")
    if loop is not None:
        out.append(f"{ind}t1_ = clock_(); T_[{loop}] += t1_ - t0_; t0_ = t1_")
    out += src[stop:]
    totals = [0] * len(lines)
    ns = dict(fast.__globals__, clock_=clock, T_=totals)
    exec(compile("\n".join(out) + "\n", "<profiled replay>", "exec"), ns)  # noqa: S102
    replay = ns["replay"]
    for _ in range(3):  # warm
        replay(args, {})
    totals[:] = [0] * len(lines)
    for _ in range(replays):
        replay(args, {})
    return [(t / replays * 1e-9, ln) for t, ln in zip(totals, lines)]


def _gemms_step(calls: list[tuple[Callable, tuple, dict]]) -> Callable[[], None]:
    def step() -> None:
        for fn, args, kw in calls:
            fn(*args, **kw)

    return step


def torch_compiled(build: Callable) -> tuple[Callable | None, str]:
    """``torch.compile`` of a torch step built like the eager one (the builds are seeded:
    the same weights and data), compiled by three calls; (the step, its compile time) or
    (None, why it failed)."""
    import torch

    step = build(torch, None)
    t0 = time.perf_counter()
    try:
        fn = torch.compile(step)
        for _ in range(3):
            fn()
    except Exception as e:  # noqa: BLE001 - any failure of inductor is reported, not raised
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return None, f"torch.compile failed: {type(e).__name__}: {first[:160]}"
    return fn, f"compiled in {time.perf_counter() - t0:.0f} s"


def measure(build: Callable, repeats: int, target_s: float,
            torch_compile: bool = True) -> dict[str, Any]:
    """Median seconds per step of eager chainrule, compiled chainrule, torch eager,
    ``torch.compile`` (when it works) and the GEMM floor."""
    import torch

    import chainrule

    t_step = build(torch, None)
    eager = build(chainrule, t_step)
    compiled = chainrule.compile(build(chainrule, t_step))
    _warm(compiled)
    steps = {"eager": eager, "compiled": compiled, "torch": t_step}
    fused_note = _add_fused(steps, build, t_step)
    calls = gemm_calls(compiled)
    if calls:
        steps["floor"] = _gemms_step(calls)
    tc_note = "not run"
    if torch_compile:
        tc, tc_note = torch_compiled(build)
        if tc is not None:
            steps["torch.compile"] = tc
    counts = {k: calibrate(f, target_s) for k, f in steps.items()}
    samples: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for k, f in steps.items():
            samples[k].append(time_calls(f, counts[k])[0])
    out: dict[str, Any] = {k: statistics.median(v) for k, v in samples.items()}
    out.setdefault("floor", 0.0)  # no GEMM in the step
    out["gemms"] = len(calls)
    out["torch_compile_note"] = tc_note
    out["fused_note"] = fused_note
    out["replays"] = compiled.replays
    out["reasons"] = compiled.reasons
    return out


def _warm(compiled: Any, most: int = 8) -> None:
    """Call ``compiled`` until it has replayed once (a warm-up, two captures, a first replay;
    a third capture when the first one met state made lazily), at most ``most`` times."""
    for _ in range(most):
        compiled()
        if compiled.replays:
            return


def _add_fused(steps: dict[str, Callable], build: Callable, t_step: Any) -> str:
    """Add the fused compiled step (``fuse=True``, the ``fast`` extra) to ``steps``, warmed up
    until it replays; returns '' or why there is no fused column."""
    import chainrule

    try:
        fused = chainrule.compile(build(chainrule, t_step), fuse=True)
    except ImportError as e:
        return f"no fused column: {str(e).split(',')[0]}"
    _warm(fused)
    if not fused.replays:
        return f"fused step stayed eager: {fused.reasons[:1]}"
    steps["fused"] = fused
    return ""


def _line(name: str, m: dict[str, Any], target: float | None,
          fused_target: float | None = None) -> str:
    ratio_c, ratio_e = m["compiled"] / m["torch"], m["eager"] / m["torch"]
    verdict = "" if target is None else ("  met" if ratio_c <= target else "  MISSED")
    note = "" if m["replays"] else f"  (stayed eager: {m['reasons'][:1]})"
    tc = m.get("torch.compile")
    tc_text = (f"torch.compile {fmt_time(tc)} ({tc / m['torch']:.2f}x torch, "
               f"{m['torch_compile_note']})" if tc is not None
               else f"torch.compile: {m['torch_compile_note']}")
    floor = (f"floor {fmt_time(m['floor'])} ({m['gemms']} GEMMs, {m['floor'] / m['torch']:.2f}x "
             "torch)" if m["gemms"] else "floor: no GEMM")
    fu = m.get("fused")
    if fu is not None:
        fverdict = "" if fused_target is None else (
            "  met" if fu / m["torch"] <= fused_target else "  MISSED")
        fused = (f"fused {fmt_time(fu)} ({fu / m['torch']:.3f}x torch"
                 + (f", target <= {fused_target:.2f}x" if fused_target else "") + ")" + fverdict)
    else:
        fused = m.get("fused_note", "")
    return (f"{name:32s} eager {fmt_time(m['eager'])}  compiled {fmt_time(m['compiled'])}  "
            f"torch {fmt_time(m['torch'])}  |  eager/torch {ratio_e:.2f}x  compiled/torch "
            f"{ratio_c:.2f}x" + (f" (target <= {target:.2f}x)" if target else "") + verdict
            + note + f"  |  {fused}  |  {floor}  |  {tc_text}")


def run(repeats: int = 5, target_s: float = 0.1, only: str | None = None,
        torch_compile: bool = True) -> list[dict]:
    results = []
    for name, build, target, fused_target in _rows():
        if only and only.lower() not in name.lower() and only.lower() != "compiled":
            continue
        m = measure(build, repeats, target_s, torch_compile)
        print(_line(name, m, target, fused_target), flush=True)
        results.append({"name": name, "target": target, "fused_target": fused_target,
                        "ratio_fused": m["fused"] / m["torch"] if "fused" in m else None,
                        "ratio_compiled": m["compiled"] / m["torch"],
                        "ratio_eager": m["eager"] / m["torch"], **m})
    return results


def print_profile(name: str = "MLP Adam b=256", replays: int = 200, top: int = 25) -> None:
    """The per-line profile of one row's compiled step: totals (GEMMs and the rest) and the
    ``top`` most expensive lines, in µs of thread CPU time per replay."""
    import torch

    import chainrule

    build = next(b for n, b, _, _ in _rows() if n == name)
    compiled = chainrule.compile(build(chainrule, build(torch, None)))
    _warm(compiled)
    prof = profile_lines(compiled, replays=replays)
    gemm = sum(t for t, ln in prof if any(f"{g}(" in ln for g in _GEMMS))
    total = sum(t for t, _ in prof)
    print(f"{name}: {len(prof)} lines, {total * 1e3:.3f} ms per replay (CPU), GEMMs "
          f"{gemm * 1e3:.3f} ms, the rest {(total - gemm) * 1e3:.3f} ms")
    for t, ln in sorted(prof, key=lambda e: -e[0])[:top]:
        print(f"{t * 1e6:9.1f} us  {ln[:110]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_compile")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--target-s", type=float, default=0.1)
    ap.add_argument("--only", default=None)
    ap.add_argument("--no-torch-compile", dest="torch_compile", action="store_false",
                    help="leave out the torch.compile column (it compiles for minutes)")
    ap.add_argument("--profile", metavar="ROW", default=None,
                    help="instead of timing: CPU time per line of ROW's replay (e.g. 'MLP "
                         "Adam b=256')")
    args = ap.parse_args(argv)
    with threads(args.threads):
        if args.profile:
            print_profile(args.profile)
        else:
            run(args.repeats, args.target_s, args.only, args.torch_compile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
