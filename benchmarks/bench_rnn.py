"""Recurrent-layer benchmark: chainrule vs PyTorch eager, forward + backward, float32.

Workloads (issue 5):

* LSTM: input 32, hidden 128, seq 40, batch 64, random upstream gradient on the output;
* the MNIST-1D GRU: bidirectional, hidden 6, seq 40, batch 100, batch_first, outputs flattened
  -> Linear(480, 10) -> cross-entropy.

The two libraries run alternately (``benchmarks._timing.compare``), medians of the repeats.
Targets (chainrule / torch): LSTM <= 1.5x, small GRU <= 1.0x (per-op overhead dominates there,
which the fused scan removes).

Run: ``python -m benchmarks.bench_rnn [--threads N] [--repeats R] [--cpu]``. ``--cpu`` times
CPU seconds of the process (at one thread) instead of wall time: on a machine shared with
other jobs it gives stable ratios where wall time does not.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule
from benchmarks._timing import Comparison, Timing, compare, header

TARGETS = {"LSTM 32->128, T=40, B=64": 1.5, "MNIST-1D biGRU h=6, T=40, B=100": 1.0}


def lstm_step(lib: Any, seed: int = 0) -> Callable[[], None]:
    """Forward + backward of an LSTM(32, 128) on (40, 64, 32) with a fixed random cotangent."""
    rng = np.random.default_rng(seed)
    lib.manual_seed(seed)
    model = lib.nn.LSTM(32, 128)
    x = lib.tensor(rng.standard_normal((40, 64, 32)).astype(np.float32), requires_grad=True)
    g = lib.tensor(rng.standard_normal((40, 64, 128)).astype(np.float32))

    def step() -> None:
        x.grad = None
        for p in model.parameters():
            p.grad = None
        out, _ = model(x)
        out.backward(g)

    return step


def gru_step(lib: Any, seed: int = 0) -> Callable[[], None]:
    """Forward + backward of the MNIST-1D classifier: biGRU(1, 6) -> flatten -> Linear(480, 10)."""
    rng = np.random.default_rng(seed)
    lib.manual_seed(seed)
    gru = lib.nn.GRU(1, 6, bidirectional=True, batch_first=True)
    head = lib.nn.Linear(480, 10)
    params = list(gru.parameters()) + list(head.parameters())
    x = lib.tensor(rng.standard_normal((100, 40, 1)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, 100))

    def step() -> None:
        for p in params:
            p.grad = None
        out, _ = gru(x)
        loss = lib.nn.functional.cross_entropy(head(out.reshape(100, -1)), y)
        loss.backward()

    return step


def cpu_compare(name: str, a: Callable[[], None], b: Callable[[], None],
                repeats: int = 7, calls: int = 5) -> Comparison:
    """Like ``compare`` (alternating, medians) but in CPU seconds of this process."""
    for _ in range(3):
        a()
        b()
    sa: list[float] = []
    sb: list[float] = []
    for _ in range(repeats):
        for fn, out in ((a, sa), (b, sb)):
            t0 = time.process_time()
            for _ in range(calls):
                fn()
            out.append((time.process_time() - t0) / calls)
    return Comparison(name, Timing(sa), Timing(sb))


def run(repeats: int = 7, cpu: bool = False) -> list:
    import torch

    results = []
    for name, make in (("LSTM 32->128, T=40, B=64", lstm_step),
                       ("MNIST-1D biGRU h=6, T=40, B=100", gru_step)):
        timer = cpu_compare if cpu else compare
        results.append(timer(name, make(chainrule), make(torch), repeats=repeats))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description="RNN forward+backward: chainrule vs torch")
    ap.add_argument("--threads", type=int, default=None, help="BLAS and torch threads")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cpu", action="store_true", help="CPU time at 1 thread (shared machines)")
    args = ap.parse_args()
    import torch

    limiter = None
    if args.cpu:
        args.threads = 1
    if args.threads:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        limiter = threadpool_limits(args.threads)
    print(header())
    print("timing: " + ("CPU seconds of the process" if args.cpu else "wall clock") +
          f", medians of {args.repeats} alternating repeats")
    for c in run(args.repeats, args.cpu):
        target = TARGETS[c.name]
        verdict = "ok" if c.ratio <= target else "ABOVE TARGET"
        print(f"{c.line()}  target <= {target:.1f}x  {verdict}")
    if limiter is not None:
        limiter.unregister()


if __name__ == "__main__":
    main()
