"""Optimizer step benchmark: chainrule vs torch.optim, same parameters and gradients, float32.

Workloads (one ``optimizer.step()`` each, gradients fixed):

* the parameters of the 784-512-256-10 MLP of the core benchmark (6 tensors, 535k values);
* 100 tensors of 10,000 values (per-parameter overhead dominates).

Optimizers: SGD with momentum 0.9 and Adam, against torch's default (single-tensor on CPU),
``foreach=True`` and ``fused=True`` implementations, each pair timed alternately.

Run: ``python -m benchmarks.bench_optim [--threads N] [--repeats R]``. Target (issue 4):
Adam <= 0.8x torch's default.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule
from benchmarks._timing import MLP_SIZES, Comparison, compare, header, threads
from chainrule import optim

TARGET_ADAM = 0.8
IMPLS = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def _mlp_shapes() -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    for i, o in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        out += [(i, o), (o,)]
    return out


WORKLOADS = {"MLP 784-512-256-10": _mlp_shapes(), "100 x 10k": [(10_000,)] * 100}


def _params(lib: Any, arrays: list[np.ndarray], grads: list[np.ndarray]) -> list:
    out = []
    for a, g in zip(arrays, grads):
        if lib is chainrule:
            p = chainrule.nn.Parameter(chainrule.tensor(a))
            p.grad = chainrule.tensor(g)
        else:
            p = lib.tensor(a, requires_grad=True)
            p.grad = lib.tensor(g)
        out.append(p)
    return out


def _make(lib: Any, name: str, params: list, **kw: Any) -> Callable[[], Any]:
    mod = optim if lib is chainrule else lib.optim
    if name == "SGD-momentum":
        return mod.SGD(params, lr=1e-3, momentum=0.9, **kw).step
    return mod.Adam(params, lr=1e-3, **kw).step


def run(repeats: int = 7, target_s: float = 0.05) -> list[Comparison]:
    """All comparisons; prints each line as it is measured."""
    import torch

    rng = np.random.default_rng(0)
    results = []
    for wname, shapes in WORKLOADS.items():
        arrays = [(rng.standard_normal(s) * 0.05).astype(np.float32) for s in shapes]
        grads = [(rng.standard_normal(s) * 0.01).astype(np.float32) for s in shapes]
        for oname in ("SGD-momentum", "Adam"):
            ours = _make(chainrule, oname, _params(chainrule, arrays, grads))
            for impl, kw in IMPLS.items():
                try:
                    theirs = _make(torch, oname, _params(torch, arrays, grads), **kw)
                    theirs()
                except (RuntimeError, ValueError) as e:  # an implementation torch lacks
                    print(f"{wname} {oname} torch {impl}: unavailable ({e})")
                    continue
                c = compare(f"{oname} {wname} vs {impl}", ours, theirs, repeats, target_s)
                print(c.line(), flush=True)
                results.append(c)
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for both libraries (default: all cores)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--target-s", type=float, default=0.05, help="seconds per timed repeat")
    args = ap.parse_args(argv)
    with threads(args.threads) as n:
        print(header())
        print(f"threads: torch {n} (chainrule's elementwise updates are single-threaded "
              "NumPy); float32; ratio = chainrule / torch")
        results = run(args.repeats, args.target_s)
    adam = [c for c in results if c.name.startswith("Adam") and c.name.endswith("default")]
    print("target Adam <= 0.8x torch default:", ", ".join(
        f"{c.name}: {c.ratio:.2f}x {'ok' if c.ratio <= TARGET_ADAM else 'MISSED'}"
        for c in adam))


if __name__ == "__main__":
    main()
