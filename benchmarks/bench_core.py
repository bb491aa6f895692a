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
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._timing import MLP_SIZES, Comparison, compare, header, threads

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


def tiny_inputs(lib: Any, dtype: Any = np.float32, seed: int = 0) -> tuple[Any, Any]:
    """The two 10-element leaves of :func:`tiny_graph`, in (0.5, 1.5) (``lib`` tensors)."""
    rng = np.random.default_rng(seed)
    return tuple(lib.tensor(rng.uniform(0.5, 1.5, 10).astype(dtype), requires_grad=True)
                 for _ in range(2))


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
    out = []
    for i, o in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        out.append((rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32))
        out.append(np.zeros(o, np.float32))
    return out


def run(repeats: int = 7, target_s: float = 0.05, cpu: bool = False) -> list[Comparison]:
    """All comparisons; prints each line as it is measured."""
    import torch

    import chainrule

    rng = np.random.default_rng(0)
    results = []
    c = compare("tiny graph (10 ops, n=10)", tiny_graph(chainrule, *tiny_inputs(chainrule)),
                tiny_graph(torch, *tiny_inputs(torch)), repeats, target_s)
    print(c.line(cpu=cpu), flush=True)
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
            repeats, target_s,
        )
        print(c.line(cpu=cpu), flush=True)
        results.append(c)
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for both libraries (default: all cores)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--target-s", type=float, default=0.05, help="seconds per timed repeat")
    ap.add_argument("--cpu-time", action="store_true",
                    help="report CPU seconds of this process (steadier on a shared machine)")
    args = ap.parse_args(argv)
    with threads(args.threads) as n:
        print(header())
        print(f"threads: {n} for both; float32; {'CPU' if args.cpu_time else 'wall'} time; "
              "ratio = chainrule / torch (the whole suite: python -m benchmarks)")
        results = run(args.repeats, args.target_s, args.cpu_time)
    ratios = {c.name: c.cpu_ratio if args.cpu_time else c.ratio for c in results}
    print("targets:", ", ".join(
        f"{k}: {r:.2f}x (<= {TARGETS[k]}x {'ok' if r <= TARGETS[k] else 'MISSED'})"
        for k, r in ratios.items()))


if __name__ == "__main__":
    main()
