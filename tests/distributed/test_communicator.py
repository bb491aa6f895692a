"""The single-process Communicator, the world communicator, launch helpers and the Trainer
integration (reductions, rank-0-only callbacks) without MPI."""

from __future__ import annotations

import os

import numpy as np
import pytest
from distributed_fakes import IdenticalRanks

import chainrule as cr
from chainrule import distributed as dist
from chainrule import nn, optim
from chainrule.distributed.communicator import default_timeout
from chainrule.distributed.integration import RankZeroOnly, TrainerContext, cli_context
from chainrule.train import JSONLLogger, Trainer
from chainrule.train.metrics import Accuracy, ConfusionMatrix, TopKAccuracy
from chainrule.utils.data import DataLoader, TensorDataset


def test_single_process_collectives_are_identities():
    comm = dist.Communicator()
    assert (comm.rank, comm.world_size, comm.is_main) == (0, 1, True)
    x = np.arange(3.0)
    for op in ("sum", "mean", "max", "min"):
        assert comm.allreduce_(x, op) is x
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])
    t = cr.ones(2)
    assert comm.broadcast_(t) is t
    gathered = comm.allgather(t)
    assert len(gathered) == 1 and isinstance(gathered[0], cr.Tensor)
    assert comm.broadcast_object({"a": [1, 2]}) == {"a": [1, 2]}
    assert comm.iallreduce_(x).is_completed()
    comm.barrier()


def test_collective_argument_errors():
    comm = dist.Communicator()
    with pytest.raises(ValueError, match="unknown op 'prod'"):
        comm.allreduce_(np.ones(2), "prod")
    with pytest.raises(TypeError, match="floating"):
        comm.allreduce_(np.ones(2, dtype=np.int64), "mean")
    with pytest.raises(TypeError, match="Tensor or a NumPy array"):
        comm.allreduce_([1.0, 2.0])
    ro = np.ones(2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        comm.broadcast_(ro)
    with pytest.raises(ValueError, match="root rank 1"):
        comm.broadcast_(np.ones(2), root=1)
    with pytest.raises(TypeError):
        comm.broadcast_object({1, 2})  # not JSON: never pickled


def test_world_communicator_without_mpi(monkeypatch):
    for var in dist.launch.MPI_SIZE_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    dist.destroy_process_group()
    assert not dist.is_initialized()
    assert type(dist.get_world()) is dist.Communicator
    assert dist.get_rank() == 0 and dist.get_world_size() == 1 and dist.is_initialized()
    assert type(dist.init_process_group("single")) is dist.Communicator
    with pytest.raises(ValueError, match="unknown backend 'nccl'"):
        dist.init_process_group("nccl")
    dist.destroy_process_group()


def test_timeout_from_environment(monkeypatch):
    monkeypatch.delenv("CHAINRULE_DIST_TIMEOUT", raising=False)
    assert default_timeout() == 300.0
    monkeypatch.setenv("CHAINRULE_DIST_TIMEOUT", "2.5")
    assert default_timeout() == 2.5
    monkeypatch.setenv("CHAINRULE_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="not a number"):
        default_timeout()
    monkeypatch.setenv("CHAINRULE_DIST_TIMEOUT", "-1")
    with pytest.raises(ValueError, match="positive"):
        default_timeout()


def test_mpi_world_detection_from_launcher_variables():
    assert dist.mpi_world_size_from_env({}) is None
    assert dist.mpi_world_size_from_env({"OMPI_COMM_WORLD_SIZE": "4"}) == 4   # Open MPI
    assert dist.mpi_world_size_from_env({"PMI_SIZE": "2"}) == 2               # MPICH Hydra
    assert dist.is_mpi_launched({"MV2_COMM_WORLD_SIZE": "3"})
    with pytest.raises(ValueError, match="PMI_SIZE='x'"):
        dist.mpi_world_size_from_env({"PMI_SIZE": "x"})


def test_launcher_command_and_root_environment():
    cmd = dist.mpiexec_command(2, ["python", "-m", "mpi4py", "x.py"], mpiexec="/opt/mpiexec")
    assert cmd == ["/opt/mpiexec", "-n", "2", "python", "-m", "mpi4py", "x.py"]
    env = dist.mpiexec_env({"PATH": "/bin", "OMPI_ALLOW_RUN_AS_ROOT": "0"})
    assert env["OMPI_ALLOW_RUN_AS_ROOT"] == "0"  # an explicit choice is kept
    assert env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] == "1"
    found = dist.find_mpiexec()
    assert found is None or os.access(found, os.X_OK)


def test_reduce_sums_adds_metric_state_over_ranks():
    ctx = TrainerContext(IdenticalRanks(3))
    acc, top, cm = Accuracy(), TopKAccuracy(2), ConfusionMatrix(3)
    out = cr.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    y = cr.tensor([0, 2])
    for m in (acc, top, cm):
        m.update(out, y)
    total, count = ctx.reduce_sums(1.5, 2, [acc, top, cm])
    assert (total, count) == (4.5, 6)
    assert (acc.correct, acc.total) == (3, 6) and isinstance(acc.correct, int)
    assert top.k == 2 and top.total == 6                 # configuration is not summed
    assert cm.num_classes == 3 and cm.matrix.sum() == 6 and cm.matrix.dtype == np.int64
    assert acc.compute() == 0.5


def test_rank_zero_only_callbacks_mute_events_but_keep_state(tmp_path):
    path = tmp_path / "log.jsonl"
    ctx = TrainerContext(IdenticalRanks(2, rank=1))
    (cb,) = ctx.wrap_callbacks([JSONLLogger(path)])
    assert isinstance(cb, RankZeroOnly)
    cb.on_epoch_end(None, 0, {"loss": 1.0})
    assert not path.exists()
    assert cb.state_dict() == cb.callback.state_dict()
    ctx0 = TrainerContext(IdenticalRanks(2, rank=0))
    (cb0,) = ctx0.wrap_callbacks([JSONLLogger(path)])
    cb0.on_epoch_end(type("T", (), {"global_step": 3})(), 0, {"loss": 1.0})
    assert path.exists()


def test_cli_context_and_sampler_epoch(monkeypatch):
    for var in dist.launch.MPI_SIZE_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    assert cli_context(False) is None
    ctx = cli_context(True)  # --distributed without mpirun: a world of one
    assert ctx.comm.world_size == 1 and ctx.is_main
    loader = DataLoader(range(8), batch_size=2, sampler=ctx.sampler(range(8), seed=0))
    dist.set_sampler_epoch(loader, 3)
    assert loader.sampler.epoch == 3


def test_trainer_with_single_process_ddp_resumes(tmp_path):
    rng = np.random.default_rng(0)
    x = cr.from_numpy(rng.standard_normal((20, 3)))
    y = cr.from_numpy((rng.standard_normal(20) > 0).astype(np.int64))
    ds = TensorDataset(x, y)

    def trainer() -> tuple[Trainer, DataLoader]:
        cr.manual_seed(0)
        ddp = dist.DistributedDataParallel(nn.Linear(3, 2).double())
        loader = DataLoader(ds, batch_size=5, sampler=dist.DistributedSampler(ds, seed=1))
        return Trainer(ddp, nn.CrossEntropyLoss(), optim.SGD(ddp.parameters(), lr=0.1),
                       quiet=True), loader

    t1, l1 = trainer()
    assert t1.dist is None  # one process: the Trainer's own path
    t1.fit(l1, epochs=2)
    t1.save_checkpoint(str(tmp_path / "ck"))
    t2, l2 = trainer()
    t2.fit(l2, epochs=3, resume=str(tmp_path / "ck"))
    t3, l3 = trainer()
    t3.fit(l3, epochs=3)
    assert t2.history["loss"] == t3.history["loss"]
