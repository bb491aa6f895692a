"""chainrule.compile against eager chainrule and PyTorch eager (issue 17), in one process.

For each workload the three steps are built with the same weights and data (the chainrule ones
copy the torch twin's weights), the compiled one is warmed up until it replays, and the three
are timed in turn (eager, compiled, torch, eager, compiled, torch, ...): the ratios to torch
come from the same minutes of the same machine, so they stay meaningful on a loaded machine
where the absolute times do not. Targets: tiny graph <= 0.12x torch eager, MLP <= 0.80x.

Run ``python -m benchmarks.bench_compile [--threads N] [--repeats R]``; ``chainrule bench``
runs it after the main table (``--only compiled`` for these rows alone).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

from benchmarks._timing import calibrate, fmt_time, threads, time_calls


# (name, build(lib, like) of benchmarks.suite, target ratio compiled / torch or None)
def _rows() -> list[tuple[str, Callable, float | None]]:
    from benchmarks import suite

    return [
        ("tiny graph (10 ops, n=10)", suite.tiny, 0.12),
        ("MLP Adam b=256", suite.mlp_train(256, "Adam"), 0.80),
        ("LSTM 32-128 T=40 B=64 Adam", suite.lstm_train, None),
        ("MNIST CNN Adadelta b=64", suite.cnn_train, None),
    ]


def measure(build: Callable, repeats: int, target_s: float) -> dict[str, Any]:
    """Median seconds per step of eager chainrule, compiled chainrule and torch eager."""
    import torch

    import chainrule

    t_step = build(torch, None)
    eager = build(chainrule, t_step)
    compiled = chainrule.compile(build(chainrule, t_step))
    for _ in range(4):  # warm-up, two captures, a first replay
        compiled()
    steps = {"eager": eager, "compiled": compiled, "torch": t_step}
    counts = {k: calibrate(f, target_s) for k, f in steps.items()}
    samples: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for k, f in steps.items():
            samples[k].append(time_calls(f, counts[k])[0])
    out: dict[str, Any] = {k: statistics.median(v) for k, v in samples.items()}
    out["replays"] = compiled.replays
    out["reasons"] = compiled.reasons
    return out


def run(repeats: int = 5, target_s: float = 0.1, only: str | None = None) -> list[dict]:
    results = []
    for name, build, target in _rows():
        if only and only.lower() not in name.lower() and only.lower() != "compiled":
            continue
        m = measure(build, repeats, target_s)
        ratio_c, ratio_e = m["compiled"] / m["torch"], m["eager"] / m["torch"]
        verdict = "" if target is None else ("  met" if ratio_c <= target else "  MISSED")
        note = "" if m["replays"] else f"  (stayed eager: {m['reasons'][:1]})"
        print(f"{name:32s} eager {fmt_time(m['eager'])}  compiled {fmt_time(m['compiled'])}  "
              f"torch {fmt_time(m['torch'])}  |  eager/torch {ratio_e:.2f}x  compiled/torch "
              f"{ratio_c:.2f}x" + (f" (target <= {target:.2f}x)" if target else "")
              + verdict + note, flush=True)
        results.append({"name": name, "target": target, "ratio_compiled": ratio_c,
                        "ratio_eager": ratio_e, **m})
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_compile")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--target-s", type=float, default=0.1)
    ap.add_argument("--only", default=None)
    args = ap.parse_args(argv)
    with threads(args.threads):
        run(args.repeats, args.target_s, args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
