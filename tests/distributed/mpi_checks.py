"""Run under ``mpiexec -n 2 python -m mpi4py tests/distributed/mpi_checks.py OUT``.

Each check runs the distributed computation on every rank and, on rank 0, the single-process
reference on the whole batch; rank 0 writes everything to ``OUT/results.npz`` and
``OUT/results.json``, and the pytest side (test_ddp_mpi.py) asserts on them. Float64 throughout.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.distributed import (
    DistributedDataParallel,
    DistributedSampler,
    SyncBatchNorm,
    get_world,
)
from chainrule.train import JSONLLogger, ModelCheckpoint, Trainer
from chainrule.utils.data import DataLoader, TensorDataset

OUT = sys.argv[1]
comm = get_world()
R, RANK = comm.world_size, comm.rank
arrays: dict[str, np.ndarray] = {}
facts: dict[str, object] = {}


def gather(name: str, x: np.ndarray) -> None:
    """Every rank's ``x`` stacked (rank-major) into the results under ``name``."""
    arrays[name] = np.stack(comm.allgather(np.ascontiguousarray(x)))


def flat_params(model: nn.Module) -> np.ndarray:
    return np.concatenate([p._array.ravel() for p in model.parameters()])


def shard(x: np.ndarray) -> np.ndarray:
    """This rank's contiguous block of the global batch."""
    n = len(x) // R
    return x[RANK * n: (RANK + 1) * n]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 5)
        self.fc2 = nn.Linear(5, 3)
        self.unused = nn.Linear(2, 2)  # never called: its gradient must stay None

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.fc2(self.fc1(x).tanh())


def net(seed: int) -> Net:
    cr.manual_seed(seed)
    return Net().double()


def t(a: np.ndarray) -> cr.Tensor:
    return cr.from_numpy(np.ascontiguousarray(a))


# ---- collectives ------------------------------------------------------------------------------
def check_collectives() -> None:
    for op in ("sum", "mean", "max", "min"):
        x = np.arange(4.0) * (RANK + 1) - RANK
        comm.allreduce_(x, op)
        gather(f"coll_{op}", x)
    x = t(np.full(3, float(RANK + 1)))
    comm.allreduce_(x)                                   # a Tensor, in place
    gather("coll_tensor", x._array)
    b = np.full((2, 2), float(RANK + 10))[:, :1]         # non-contiguous, from rank 1
    comm.broadcast_(b, root=1)
    gather("coll_bcast", b)
    gather("coll_allgather", np.stack(comm.allgather(np.array([RANK, 2 * RANK]))))
    obj = comm.broadcast_object({"run": f"dir-{RANK}", "n": [RANK]}, root=1)
    facts[f"coll_object_rank{RANK}"] = obj
    gather("coll_object_same", np.array([obj == {"run": "dir-1", "n": [1]}]))
    comm.barrier()
    try:
        comm.allgather(np.zeros(2 + RANK))
        msg = ""
    except ValueError as e:
        msg = str(e)
    facts[f"coll_mismatch_rank{RANK}"] = msg
    buf = np.full(5, RANK + 1.0)
    work = comm.iallreduce_(buf, "mean")
    work.wait()
    gather("coll_iallreduce", buf)


# ---- DDP: one step equals one step on the whole batch -------------------------------------------
def check_one_step() -> None:
    rng = np.random.default_rng(7)
    X, C = rng.standard_normal((8, 6)), rng.standard_normal((8, 3))
    model = net(100 + RANK)  # different on each rank: DDP must broadcast rank 0's
    ddp = DistributedDataParallel(model, comm, bucket_cap_mb=64 / 2**20)
    facts["one_step_buckets"] = len(ddp.bucket_sizes)
    opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    gather("one_step_init", flat_params(model))
    for _ in range(2):
        opt.zero_grad()
        xs, cs = shard(X), shard(C)
        loss = (ddp(t(xs)) * t(cs)).sum() / len(xs)
        loss.backward()
        opt.step()
    gather("one_step_grad", model.fc1.weight.grad._array)
    gather("one_step_unused_none", np.array([model.unused.weight.grad is None]))
    gather("one_step_params", flat_params(model))
    if RANK == 0:
        ref = net(100)
        arrays["ref_one_step_init"] = flat_params(ref)
        ropt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            ropt.zero_grad()
            ((ref(t(X)) * t(C)).sum() / len(X)).backward()
            ropt.step()
        arrays["ref_one_step_grad"] = ref.fc1.weight.grad._array
        arrays["ref_one_step_params"] = flat_params(ref)


# ---- DDP: N steps of Adam on rank-dependent data, gradient accumulation with no_sync -----------
def check_n_steps() -> None:
    model = net(200 + RANK)
    ddp = DistributedDataParallel(model)
    opt = optim.Adam(ddp.parameters(), lr=0.01)
    batches = [np.random.default_rng(k).standard_normal((8, 6)) for k in range(5)]
    for X in batches:
        opt.zero_grad()
        ddp(t(shard(X))).pow(2).mean().backward()
        opt.step()
    gather("n_steps_params", flat_params(model))
    # no_sync: the local half-shards accumulate, the second backward averages the sum
    X, C = np.random.default_rng(9).standard_normal((8, 6)), np.random.default_rng(10).normal(
        size=(8, 3))
    xs, cs = shard(X), shard(C)
    opt.zero_grad()
    with ddp.no_sync():
        ((ddp(t(xs[:2])) * t(cs[:2])).sum() / len(xs)).backward()
    gather("no_sync_local", model.fc2.weight.grad._array)
    ((ddp(t(xs[2:])) * t(cs[2:])).sum() / len(xs)).backward()
    gather("no_sync_grad", model.fc2.weight.grad._array)
    if RANK == 0:
        ref = net(200)
        ropt = optim.Adam(ref.parameters(), lr=0.01)
        for X_ in batches:
            ropt.zero_grad()
            ref(t(X_)).pow(2).mean().backward()
            ropt.step()
        arrays["ref_n_steps_params"] = flat_params(ref)
        ropt.zero_grad()
        ((ref(t(X)) * t(C)).sum() / len(X)).backward()
        arrays["ref_no_sync_grad"] = ref.fc2.weight.grad._array


# ---- SyncBatchNorm equals BatchNorm on the whole batch ----------------------------------------
def check_sync_bn() -> None:
    rng = np.random.default_rng(3)
    cases = {
        "bn3d": ((8, 3, 5), {}, 0.1),
        "bn2d": ((8, 3), {}, None),
        "bnlen": ((8, 3, 5), {"lengths": np.array([5, 3, 4, 2, 5, 1, 4, 5])}, 0.1),
    }
    for name, (shape, kw, momentum) in cases.items():
        X = rng.standard_normal(shape) * 2 + 1
        G = rng.standard_normal(shape)
        w, b = rng.standard_normal(3), rng.standard_normal(3)
        bn = SyncBatchNorm(3, momentum=momentum).double()
        bn.weight._array[...] = w
        bn.bias._array[...] = b
        for step in range(2):
            x = t(shard(X) + step).requires_grad_()
            local = {k: shard(v) for k, v in kw.items()}
            y = bn(x, **local)
            (y * t(shard(G))).sum().backward()
            gather(f"{name}_y{step}", y._array)
            gather(f"{name}_xgrad{step}", x.grad._array)
        gather(f"{name}_wgrad", bn.weight.grad._array)  # summed over both steps and (below) ranks
        gather(f"{name}_bgrad", bn.bias.grad._array)
        gather(f"{name}_rm", bn.running_mean._array)
        gather(f"{name}_rv", bn.running_var._array)
        bn.eval()
        gather(f"{name}_eval", bn(t(shard(X)))._array)
        if RANK == 0:
            ref = (nn.BatchNorm1d(3, momentum=momentum)).double()
            ref.weight._array[...] = w
            ref.bias._array[...] = b
            for step in range(2):
                x = t(X + step).requires_grad_()
                y = ref(x, **kw)
                (y * t(G)).sum().backward()
                arrays[f"ref_{name}_y{step}"] = y._array
                arrays[f"ref_{name}_xgrad{step}"] = x.grad._array
            arrays[f"ref_{name}_wgrad"] = ref.weight.grad._array
            arrays[f"ref_{name}_bgrad"] = ref.bias.grad._array
            arrays[f"ref_{name}_rm"] = ref.running_mean._array
            arrays[f"ref_{name}_rv"] = ref.running_var._array
            ref.eval()
            arrays[f"ref_{name}_eval"] = ref(t(X))._array


def cnn(seed: int) -> nn.Module:
    cr.manual_seed(seed)
    return nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(24, 3)).double()


def check_ddp_sync_bn() -> None:
    rng = np.random.default_rng(11)
    X, C = rng.standard_normal((8, 2, 8)), rng.standard_normal((8, 3))
    ddp = DistributedDataParallel(cnn(400 + RANK), sync_bn=True)
    facts["sync_bn_types"] = [type(m).__name__ for m in ddp.module]
    opt = optim.SGD(ddp.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        ((ddp(t(shard(X))) * t(shard(C))).sum() / 4).backward()
        opt.step()
    gather("ddp_bn_params", flat_params(ddp))
    gather("ddp_bn_buffers", np.concatenate([b._array.ravel().astype(np.float64)
                                             for b in ddp.buffers()]))
    if RANK == 0:
        ref = cnn(400)
        ropt = optim.SGD(ref.parameters(), lr=0.1)
        for _ in range(2):
            ropt.zero_grad()
            ((ref(t(X)) * t(C)).sum() / 8).backward()
            ropt.step()
        arrays["ref_ddp_bn_params"] = flat_params(ref)
        arrays["ref_ddp_bn_buffers"] = np.concatenate([b._array.ravel().astype(np.float64)
                                                       for b in ref.buffers()])


# ---- DistributedSampler under MPI (world defaults) --------------------------------------------
def check_sampler() -> None:
    for drop_last in (False, True):
        s = DistributedSampler(range(11), shuffle=True, seed=3, drop_last=drop_last)
        for epoch in range(2):
            s.set_epoch(epoch)
            gather(f"sampler_{int(drop_last)}_e{epoch}", s.epoch_indices())


# ---- the Trainer under DDP: rank-0 output, all-reduced metrics, exact resume -------------------
def trainer_data() -> tuple[TensorDataset, TensorDataset]:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((52, 6))
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return TensorDataset(t(x[:40]), t(y[:40])), TensorDataset(t(x[40:]), t(y[40:]))


def mlp(seed: int) -> nn.Module:
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double()


def check_trainer() -> None:
    train_ds, val_ds = trainer_data()
    val = DataLoader(val_ds, batch_size=6)

    def ddp_trainer() -> tuple[Trainer, DataLoader]:
        ddp = DistributedDataParallel(mlp(300 + RANK))
        loader = DataLoader(train_ds, batch_size=5, sampler=DistributedSampler(train_ds, seed=1))
        cbs = [JSONLLogger(os.path.join(OUT, f"log{RANK}.jsonl")),
               ModelCheckpoint(os.path.join(OUT, "ckpt"), monitor="val_loss")]
        return Trainer(ddp, nn.CrossEntropyLoss(), optim.SGD(ddp.parameters(), lr=0.2,
                                                            momentum=0.9),
                       callbacks=cbs, metrics=["accuracy"]), loader

    tr, loader = ddp_trainer()
    tr.fit(loader, val, epochs=2)
    facts[f"trainer_history2_rank{RANK}"] = tr.history.epochs
    comm.barrier()  # rank 0 has written its checkpoint
    tr2, loader2 = ddp_trainer()
    tr2.fit(loader2, val, epochs=3, resume=os.path.join(OUT, "ckpt", "last"))
    facts[f"trainer_history3_rank{RANK}"] = tr2.history.epochs
    gather("trainer_params", flat_params(tr2.model))
    if RANK == 0:
        ref_model = mlp(300)
        g = cr.Generator().manual_seed(1)
        ref = Trainer(ref_model, nn.CrossEntropyLoss(),
                      optim.SGD(ref_model.parameters(), lr=0.2, momentum=0.9),
                      metrics=["accuracy"], quiet=True)
        ref_loader = DataLoader(train_ds, batch_size=10, shuffle=True, generator=g)
        ref.fit(ref_loader, val, epochs=3)
        facts["ref_trainer_history3"] = ref.history.epochs
        arrays["ref_trainer_params"] = flat_params(ref_model)


for check in (check_collectives, check_one_step, check_n_steps, check_sync_bn,
              check_ddp_sync_bn, check_sampler, check_trainer):
    check()
if RANK == 0:
    facts["world_size"] = R
    np.savez(os.path.join(OUT, "results.npz"), **arrays)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(facts, f)
else:
    # rank 1's facts travel to rank 0 through the file system (a second JSON file)
    with open(os.path.join(OUT, f"facts{RANK}.json"), "w") as f:
        json.dump(facts, f)
comm.barrier()
