"""Data-parallel scaling over MPI: training steps at np = 1, 2 and 4 ranks, and the all-reduce
of the gradients.

Workloads (float32, SGD, cross-entropy), each a full step (zero_grad, forward, loss, backward
with the DDP gradient all-reduce, optimizer step):

* MLP 784-512-256-10, global batch 256 (535,818 parameters, 2.1 MB of gradients);
* the MNIST-1D CNN of the zoo, global batch 128 (5,210 parameters).

Strong scaling: the global batch is split over the ranks (256/np examples each), so a perfect
speed-up is np; weak scaling keeps the per-rank batch (256 or 128 each). Every rank runs with
one BLAS thread; ``np=1 x 2 threads`` is the other way to use two cores, for comparison. With
more ranks than cores (np=4 on a 2-core machine) the run is oversubscribed and reported as
such. The all-reduce rows time one in-place ``Allreduce`` of a float32 buffer of the model's
gradient size, and DDP's whole ``sync_gradients`` (pack, reduce, unpack).

Run ``python -m benchmarks.bench_distributed [--nps 1,2,4] [--steps 20] [--repeats 5]``; it
launches ``mpiexec -n N python -m mpi4py -m benchmarks.bench_distributed --worker`` per
setting (needs the ``dist`` extra).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

from benchmarks._timing import cores

RESULT = "BENCH_RESULT "


# ---- inside one MPI job ---------------------------------------------------------------------
def _models() -> dict[str, tuple[Any, tuple[int, ...], int]]:
    """name -> (builder, input shape of one example, global batch)."""
    from benchmarks.bench_nn import mlp
    from chainrule import nn, zoo

    return {"MLP 784-512-256-10": (lambda: mlp(nn), (784,), 256),
            "MNIST-1D CNN": (zoo.MNIST1DCNN, (1, 40), 128)}


def _timed(comm: Any, fn: Any, steps: int, repeats: int) -> list[float]:
    """Seconds per call of ``fn``, between barriers (the slowest rank sets the pace)."""
    for _ in range(3):
        fn()
    out = []
    for _ in range(repeats):
        comm.barrier()
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        comm.barrier()
        out.append((time.perf_counter() - t0) / steps)
    return out


def worker(steps: int, repeats: int, weak: bool) -> dict[str, Any]:
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.distributed import DistributedDataParallel, get_world

    comm = get_world()
    world = comm.world_size
    res: dict[str, Any] = {"world": world}
    for name, (build, shape, global_batch) in _models().items():
        cr.manual_seed(0)
        model = DistributedDataParallel(build(), comm)
        opt = optim.SGD(model.parameters(), lr=0.01)
        local = global_batch if weak else global_batch // world
        rng = np.random.default_rng(comm.rank)
        x = cr.from_numpy(rng.standard_normal((local, *shape)).astype(np.float32))
        y = cr.from_numpy(rng.integers(0, 10, local))
        loss_fn = nn.CrossEntropyLoss()

        def step(model: Any = model, opt: Any = opt, x: Any = x, y: Any = y,
                 loss_fn: Any = loss_fn) -> None:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()

        n_params = sum(p.numel() for p in model.parameters())
        buf = np.ones(n_params, dtype=np.float32)
        res[name] = {
            "step": _timed(comm, step, steps, repeats),
            "allreduce": _timed(comm, lambda buf=buf: comm.allreduce_(buf), steps, repeats),
            "sync_gradients": _timed(comm, model.sync_gradients, steps, repeats),
            "params": n_params, "local_batch": local, "global_batch": local * world,
        }
    return res


# ---- the launcher ---------------------------------------------------------------------------
def _run(np_: int, threads: int, steps: int, repeats: int, weak: bool) -> dict[str, Any]:
    from chainrule.distributed.launch import mpiexec_command, mpiexec_env

    env = mpiexec_env()
    env.update({"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
                "MKL_NUM_THREADS": str(threads)})
    args = [sys.executable, "-m", "mpi4py", "-m", "benchmarks.bench_distributed", "--worker",
            "--steps", str(steps), "--repeats", str(repeats)] + (["--weak"] if weak else [])
    cmd = ["timeout", "900"] + mpiexec_command(np_, args, oversubscribe=np_ > cores())
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in res.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    raise RuntimeError(f"np={np_} failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}")


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e3:8.2f} ms"


def report(runs: list[tuple[str, dict[str, Any]]], weak: bool) -> None:
    kind = "weak scaling (per-rank batch fixed)" if weak else \
        "strong scaling (global batch split over the ranks)"
    print(f"\n{kind}; one step = zero_grad, forward, loss, backward + all-reduce, SGD step")
    base: dict[str, float] = {}
    for label, r in runs:
        for name in _models():
            d = r[name]
            step = statistics.median(d["step"])
            base.setdefault(name, step)
            rate = d["global_batch"] / step
            speedup = base[name] / step
            if weak:
                speedup *= r["world"]  # the work grows with the ranks
            print(f"{name:<20} {label:<24} batch {d['local_batch']:>3}/rank  step "
                  f"{_ms(d['step'])}  {rate:9.0f} ex/s  speed-up {speedup:4.2f}x  "
                  f"allreduce {_ms(d['allreduce'])}  sync_gradients {_ms(d['sync_gradients'])}"
                  f"  ({d['params']:,} params)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nps", default="1,2,4", help="rank counts to run (comma-separated)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--weak", action="store_true", help="also weak scaling")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        res = worker(args.steps, args.repeats, args.weak)
        from chainrule.distributed import get_world

        if get_world().rank == 0:
            print(RESULT + json.dumps(res), flush=True)
        return
    from benchmarks._timing import header

    n_cores = cores()
    print(header())
    print(f"{n_cores} cores available; every rank uses 1 BLAS thread unless noted")
    for weak in ([False, True] if args.weak else [False]):
        runs = []
        for np_ in [int(v) for v in args.nps.split(",")]:
            label = f"np={np_}" + (" OVERSUBSCRIBED" if np_ > n_cores else "")
            runs.append((label, _run(np_, 1, args.steps, args.repeats, weak)))
            if np_ == 1 and n_cores >= 2 and not weak:
                runs.append(("np=1 x 2 threads", _run(1, 2, args.steps, args.repeats, weak)))
        report(runs, weak)


if __name__ == "__main__":
    main()
