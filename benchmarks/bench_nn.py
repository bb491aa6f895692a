"""nn benchmark: a training step (forward, loss, backward; no optimizer) of real models built
from ``chainrule.nn`` modules, against the same models in PyTorch eager, float32.

Workloads:

* MLP 784-512-256-10 (Linear/ReLU, cross-entropy) at batch 32 and 256;
* the classic MNIST CNN (Conv2d(1,32,3) ReLU Conv2d(32,64,3) ReLU MaxPool2d(2) Dropout Flatten
  Linear(9216,128) ReLU Dropout Linear(128,10) LogSoftmax, NLL loss) at batch 64 on 28x28.

Both libraries get the same weights (PyTorch's state_dict copied) and the same thread count;
steps are timed alternately (A B A B) and medians compared. Run
``python -m benchmarks.bench_nn [--threads N] [--repeats R] [--profile]``; ``--profile`` also
prints where the chainrule CNN step spends its time, per primitive (forward / backward).
Targets (issue 3): MLP <= 1.0x, CNN <= 1.3x (ratios chainrule / torch).
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from benchmarks._timing import MLP_SIZES, Comparison, compare, header, threads

TARGETS = {"MLP 784-512-256-10 b=32": 1.0, "MLP 784-512-256-10 b=256": 1.0,
           "MNIST CNN b=64": 1.3}


def mlp(nn: Any) -> Any:
    """The 784-512-256-10 MLP (Linear/ReLU) in ``nn`` (``torch.nn`` or ``chainrule.nn``)."""
    layers: list[Any] = []
    for i, o in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        layers += [nn.Linear(i, o), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def mnist_cnn(nn: Any) -> Any:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10), nn.LogSoftmax(dim=1),
    )


def copy_weights(dst: Any, src: Any) -> Any:
    """Load torch module ``src``'s state_dict into chainrule module ``dst``; returns ``dst``."""
    dst.load_state_dict({k: v.detach().numpy().copy() for k, v in src.state_dict().items()})
    return dst


def twins(build: Callable[[Any], Any]) -> tuple[Any, Any]:
    """The model in torch and in chainrule, with torch's weights copied into chainrule."""
    import torch

    import chainrule

    torch.manual_seed(0)
    tm = build(torch.nn)
    return copy_weights(build(chainrule.nn), tm), tm


def train_step(lib: Any, model: Any, x: Any, y: Any, loss: str,
               optimizer: Any = None) -> Callable[[], None]:
    """zero_grad, forward, loss, backward, and ``optimizer.step()`` when one is given."""
    fn = getattr(lib.nn.functional, loss)

    if optimizer is None:
        def step() -> None:
            model.zero_grad()
            fn(model(x), y).backward()
    else:
        def step() -> None:
            optimizer.zero_grad()
            fn(model(x), y).backward()
            optimizer.step()

    return step


def run(repeats: int = 7, target_s: float = 0.2) -> list[Comparison]:
    """All comparisons; prints each line as it is measured."""
    import torch

    import chainrule

    rng = np.random.default_rng(0)
    results = []
    cm, tm = twins(mlp)
    for batch in (32, 256):
        xb = rng.standard_normal((batch, 784)).astype(np.float32)
        yb = rng.integers(0, 10, batch)
        c = compare(f"MLP 784-512-256-10 b={batch}",
                    train_step(chainrule, cm, chainrule.tensor(xb), chainrule.tensor(yb),
                               "cross_entropy"),
                    train_step(torch, tm, torch.tensor(xb), torch.tensor(yb), "cross_entropy"),
                    repeats, target_s)
        print(c.line(), flush=True)
        results.append(c)
    cm, tm = twins(mnist_cnn)
    xb = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    yb = rng.integers(0, 10, 64)
    c = compare("MNIST CNN b=64",
                train_step(chainrule, cm, chainrule.tensor(xb), chainrule.tensor(yb),
                           "nll_loss"),
                train_step(torch, tm, torch.tensor(xb), torch.tensor(yb), "nll_loss"),
                repeats, target_s)
    print(c.line(), flush=True)
    results.append(c)
    return results


def _functions() -> Iterator[type]:
    from chainrule.autograd.engine import Function

    stack = [Function]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            yield sub


def profile_cnn(steps: int = 12, optimizer: Any = None) -> None:
    """Median CPU milliseconds per step spent in each primitive's forward and backward, and in
    ``optimizer``'s step when given (a backward includes the forwards of the primitives it
    applies, e.g. Conv.backward ⊃ ConvTranspose). CPU time of this process: steady on a
    shared machine, at the price of counting idle BLAS threads' spinning at 2+ threads."""
    import chainrule

    cm, _ = twins(mnist_cnn)
    rng = np.random.default_rng(0)
    x = chainrule.tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32))
    y = chainrule.tensor(rng.integers(0, 10, 64))
    spent: dict[tuple[str, str], float] = collections.defaultdict(float)
    opt = optimizer(cm.parameters()) if optimizer is not None else None
    if opt is not None:  # the instance's step, timed
        opt.step = _timed(opt.step, (type(opt).__name__, "step"), spent)
    step = train_step(chainrule, cm, x, y, "nll_loss", opt)
    targets = [(cls, name) for cls in set(_functions()) for name in ("forward", "backward")
               if name in cls.__dict__]
    saved = []
    for cls, name in targets:
        orig = cls.__dict__[name]
        saved.append((cls, name, orig))
        setattr(cls, name, _timed(orig, (cls.__name__, name), spent))
    per: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    totals = []
    try:
        for i in range(steps + 2):
            spent.clear()
            t0 = time.process_time()
            step()
            totals.append(time.process_time() - t0)
            if i >= 2:
                for k, v in spent.items():
                    per[k].append(v)
    finally:
        for cls, name, orig in saved:
            setattr(cls, name, orig)
    print(f"chainrule CNN step: median {np.median(totals[2:]) * 1e3:.1f} CPU ms; per primitive "
          "(median CPU ms per step):")
    for (cls, name), v in sorted(per.items(), key=lambda kv: -float(np.median(kv[1])))[:16]:
        print(f"  {cls + '.' + name:<28} {np.median(v) * 1e3:7.2f}")


def _timed(fn: Callable, key: tuple[str, str], spent: dict) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[key] += time.process_time() - t0

    return wrapper


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for both libraries (default: all cores)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--target-s", type=float, default=0.2, help="seconds per timed repeat")
    ap.add_argument("--profile", action="store_true", help="per-primitive CNN profile")
    args = ap.parse_args(argv)
    with threads(args.threads) as n:
        print(header())
        print(f"threads: {n} for both; float32; train step = forward + loss + backward; "
              "ratio = chainrule / torch (the whole suite: python -m benchmarks)")
        results = run(args.repeats, args.target_s)
        if args.profile:
            profile_cnn()
    print("targets:", ", ".join(
        f"{c.name}: {c.ratio:.2f}x (<= {TARGETS[c.name]}x "
        f"{'ok' if c.ratio <= TARGETS[c.name] else 'MISSED'})" for c in results))


if __name__ == "__main__":
    main()
