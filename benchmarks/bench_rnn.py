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
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._timing import Comparison, compare, header, threads
from benchmarks.bench_nn import copy_weights

TARGETS = {"LSTM 32->128, T=40, B=64": 1.5, "MNIST-1D biGRU h=6, T=40, B=100": 1.0}


def _optimizer(lib: Any, params: list, optimizer: str | None) -> Any:
    """``lib.optim.<optimizer>(params, lr=1e-3)``, or None."""
    return getattr(lib.optim, optimizer)(params, lr=1e-3) if optimizer else None


def lstm_step(lib: Any, seed: int = 0, optimizer: str | None = None,
              like: Any = None) -> Callable[[], None]:
    """Forward + backward of an LSTM(32, 128) on (40, 64, 32) with a fixed random cotangent,
    and ``lib.optim.<optimizer>`` step when named. ``like``: a torch model to copy weights from
    (the step's ``model`` attribute holds this one)."""
    rng = np.random.default_rng(seed)
    lib.manual_seed(seed)
    model = lib.nn.LSTM(32, 128)
    if like is not None:
        copy_weights(model, like)
    params = list(model.parameters())
    opt = _optimizer(lib, params, optimizer)
    x = lib.tensor(rng.standard_normal((40, 64, 32)).astype(np.float32), requires_grad=True)
    g = lib.tensor(rng.standard_normal((40, 64, 128)).astype(np.float32))

    def step() -> None:
        x.grad = None
        for p in params:
            p.grad = None
        out, _ = model(x)
        out.backward(g)
        if opt is not None:
            opt.step()

    step.model = model  # type: ignore[attr-defined]
    return step


def gru_step(lib: Any, seed: int = 0, optimizer: str | None = None,
             like: Any = None) -> Callable[[], None]:
    """Forward + backward of the MNIST-1D classifier: biGRU(1, 6) -> flatten -> Linear(480, 10)
    -> cross-entropy, and a ``lib.optim.<optimizer>`` step when named. ``like``: a torch model
    (``step.model`` of the torch twin) to copy weights from."""
    rng = np.random.default_rng(seed)
    lib.manual_seed(seed)
    model = lib.nn.ModuleDict({"gru": lib.nn.GRU(1, 6, bidirectional=True, batch_first=True),
                               "head": lib.nn.Linear(480, 10)})
    if like is not None:
        copy_weights(model, like)
    gru, head = model["gru"], model["head"]
    params = list(model.parameters())
    opt = _optimizer(lib, params, optimizer)
    x = lib.tensor(rng.standard_normal((100, 40, 1)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, 100))
    cross_entropy = lib.nn.functional.cross_entropy

    def step() -> None:
        for p in params:
            p.grad = None
        out, _ = gru(x)
        cross_entropy(head(out.reshape(100, -1)), y).backward()
        if opt is not None:
            opt.step()

    step.model = model  # type: ignore[attr-defined]
    return step


def run(repeats: int = 7, cpu: bool = False) -> list[Comparison]:
    import torch

    import chainrule

    results = []
    for name, make in (("LSTM 32->128, T=40, B=64", lstm_step),
                       ("MNIST-1D biGRU h=6, T=40, B=100", gru_step)):
        theirs = make(torch)
        c = compare(name, make(chainrule, like=theirs.model), theirs, repeats=repeats,
                    target_s=0.1)
        print(c.line(cpu=cpu), flush=True)
        results.append(c)
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="RNN forward+backward: chainrule vs torch")
    ap.add_argument("--threads", type=int, default=None, help="threads for both libraries")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cpu", action="store_true", help="CPU time at 1 thread (shared machines)")
    args = ap.parse_args(argv)
    if args.cpu:
        args.threads = 1
    with threads(args.threads):
        print(header())
        print("timing: " + ("CPU seconds of the process" if args.cpu else "wall clock") +
              f", medians of {args.repeats} alternating repeats")
        for c in run(args.repeats, args.cpu):
            target = TARGETS[c.name]
            r = c.cpu_ratio if args.cpu else c.ratio
            print(f"{c.name}: {r:.2f}x  target <= {target:.1f}x  "
                  f"{'ok' if r <= target else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
