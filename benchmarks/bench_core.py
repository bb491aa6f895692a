"""Core overhead benchmark: chainrule vs PyTorch eager, same dtype (float32), same threads.

Workloads (forward + backward each):

* a tiny graph: 10 elementwise ops on 10-element tensors (pure per-op overhead);
* a 784-512-256-10 MLP written with raw Tensors (matmul, add, relu, log_softmax NLL)
  at batch 32 (half overhead) and 256 (BLAS-bound).

Run: ``python -m benchmarks.bench_core [--threads N] [--repeats R]``. Targets (issue 2):
tiny graph <= 0.3x, MLP <= 1.0x (ratios chainrule / torch).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule
from benchmarks._timing import Comparison, compare, header

TARGETS = {"tiny graph (10 ops, n=10)": 0.3, "MLP 784-512-256-10 b=32": 1.0,
           "MLP 784-512-256-10 b=256": 1.0}


def tiny_graph(lib: Any, x: Any, y: Any) -> Callable[[], None]:
    """10 elementwise ops, a sum and backward; ``lib`` is chainrule or torch."""

    def step() -> None:
        x.grad = None
        y.grad = None
        t = x * y
        t = t + x
        t = t.tanh()
        t = t * 2.0
        t = t - y
        t = t.sigmoid()
        t = t * t
        t = t.exp()
        t = t / y
        t = -t
        t.sum().backward()

    return step


def mlp(lib: Any, params: list, x: Any, target: Any) -> Callable[[], None]:
    """A 784-512-256-10 MLP forward (matmul + add + relu, log_softmax NLL) and backward."""
    w1, b1, w2, b2, w3, b3 = params
    rows = lib.arange(x.shape[0])

    def step() -> None:
        for p in params:
            p.grad = None
        h = (x @ w1 + b1).relu()
        h = (h @ w2 + b2).relu()
        logits = h @ w3 + b3
        loss = -logits.log_softmax(-1)[rows, target].mean()
        loss.backward()

    return step


def _mlp_params(rng: np.random.Generator) -> list[np.ndarray]:
    sizes = [784, 512, 256, 10]
    out = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        out.append((rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32))
        out.append(np.zeros(o, np.float32))
    return out


def run(repeats: int = 7, target_s: float = 0.05,
        timer: Callable[[], float] = time.perf_counter) -> list[Comparison]:
    """All comparisons; prints each line as it is measured."""
    import torch

    rng = np.random.default_rng(0)
    results = []

    xa = rng.uniform(0.5, 1.5, 10).astype(np.float32)
    ya = rng.uniform(0.5, 1.5, 10).astype(np.float32)
    cx = chainrule.tensor(xa, requires_grad=True)
    cy = chainrule.tensor(ya, requires_grad=True)
    tx = torch.tensor(xa, requires_grad=True)
    ty = torch.tensor(ya, requires_grad=True)
    c = compare("tiny graph (10 ops, n=10)", tiny_graph(chainrule, cx, cy),
                tiny_graph(torch, tx, ty), repeats, target_s, timer=timer)
    print(c.line(), flush=True)
    results.append(c)

    params = _mlp_params(rng)
    cp = [chainrule.tensor(p, requires_grad=True) for p in params]
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    for batch in (32, 256):
        xb = rng.standard_normal((batch, 784)).astype(np.float32)
        yb = rng.integers(0, 10, batch)
        c = compare(
            f"MLP 784-512-256-10 b={batch}",
            mlp(chainrule, cp, chainrule.tensor(xb), chainrule.tensor(yb)),
            mlp(torch, tp, torch.tensor(xb), torch.tensor(yb)),
            repeats, target_s, timer=timer,
        )
        print(c.line(), flush=True)
        results.append(c)
    return results


def main(argv: list[str] | None = None) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS threads for both libraries (default: NumPy's current count)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--target-s", type=float, default=0.05, help="seconds per timed repeat")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time CPU seconds of this process (steadier on a shared machine)")
    args = ap.parse_args(argv)
    timer = time.process_time if args.cpu_time else time.perf_counter
    threads = args.threads or chainrule.get_num_threads()
    torch.set_num_threads(threads)
    with threadpool_limits(threads, user_api="blas"):
        print(header())
        print(f"threads: chainrule BLAS {chainrule.get_num_threads()}, torch "
              f"{torch.get_num_threads()}; float32; {'CPU' if args.cpu_time else 'wall'} time; "
              "ratio = chainrule / torch")
        results = run(args.repeats, args.target_s, timer)
    print("targets:", ", ".join(
        f"{c.name}: {c.ratio:.2f}x (<= {TARGETS[c.name]}x "
        f"{'ok' if c.ratio <= TARGETS[c.name] else 'MISSED'})" for c in results))


if __name__ == "__main__":
    main()
