"""Data-parallel training under ``mpiexec -n 2`` (the ``dist`` extra: mpi4py + mpich).

One MPI job (mpi_checks.py) runs every distributed computation next to its single-process
reference on the whole batch; these tests compare them. Further jobs check that a rank that
raises ends the whole job within seconds, that a collective nobody joins times out with a clear
message, and the ``chainrule train`` command under mpirun. Every launch is wrapped in
``timeout``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.distributed.launch import find_mpiexec, mpiexec_command, mpiexec_env

HERE = Path(__file__).resolve().parent
MPIEXEC = find_mpiexec()
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason="the 'dist' extra (mpi4py + mpich, which provides mpiexec) is not installed",
)
NP = 2


def launch(args: list[str], cwd: Path, limit: float = 60, env: dict | None = None
           ) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``timeout limit mpiexec -n 2 python args...``; returns (result, seconds)."""
    cmd = ["timeout", str(limit)] + mpiexec_command(NP, [sys.executable, *args], mpiexec=MPIEXEC)
    environment = mpiexec_env()
    environment.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                        "MKL_NUM_THREADS": "1"})
    environment.update(env or {})
    start = time.monotonic()
    res = subprocess.run(cmd, cwd=cwd, env=environment, capture_output=True, text=True,
                         timeout=limit + 30)
    return res, time.monotonic() - start


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path, str]:
    out = tmp_path_factory.mktemp("mpi_checks")
    res, _ = launch(["-m", "mpi4py", str(HERE / "mpi_checks.py"), str(out)], out)
    assert res.returncode == 0, f"mpi_checks.py failed:\n{res.stdout}\n{res.stderr}"
    arrays = dict(np.load(out / "results.npz"))
    facts = json.loads((out / "results.json").read_text())
    facts.update(json.loads((out / f"facts{NP - 1}.json").read_text()))
    return arrays, facts, out, res.stdout


def assert_close(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ---- collectives ------------------------------------------------------------------------------
def test_allreduce_ops_broadcast_allgather(results):
    a, facts, _, _ = results
    x = [np.arange(4.0) * (r + 1) - r for r in range(NP)]
    for op, fn in (("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min)):
        for r in range(NP):
            assert_close(a[f"coll_{op}"][r], fn(x, axis=0))
    assert (a["coll_tensor"] == 3.0).all()
    assert (a["coll_bcast"] == 11.0).all()            # rank 1's values, non-contiguous array
    assert a["coll_allgather"].tolist() == [[[0, 0], [1, 2]]] * NP
    assert a["coll_object_same"].all()
    assert (a["coll_iallreduce"] == 1.5).all()


def test_allgather_shape_mismatch_is_a_clear_error(results):
    _, facts, _, _ = results
    assert "rank 1 has shape (3,)" in facts["coll_mismatch_rank0"]
    assert "rank 0 has shape (2,)" in facts["coll_mismatch_rank1"]


# ---- DDP -------------------------------------------------------------------------------------
def test_parameters_broadcast_from_rank0(results):
    a, _, _, _ = results
    for r in range(NP):
        np.testing.assert_array_equal(a["one_step_init"][r], a["ref_one_step_init"])


def test_split_batch_step_equals_full_batch_step(results):
    a, facts, _, _ = results
    assert facts["one_step_buckets"] > 1  # several buckets: one all-reduce each
    for r in range(NP):
        assert_close(a["one_step_grad"][r], a["ref_one_step_grad"])
        assert_close(a["one_step_params"][r], a["ref_one_step_params"])
    assert a["one_step_unused_none"].all()  # a parameter no rank used keeps grad None


def test_ranks_identical_after_n_steps(results):
    a, _, _, _ = results
    p = a["n_steps_params"]
    for r in range(1, NP):
        np.testing.assert_array_equal(p[r], p[0])
    assert_close(p[0], a["ref_n_steps_params"])


def test_no_sync_accumulates_then_averages(results):
    a, _, _, _ = results
    assert not np.allclose(a["no_sync_local"][0], a["no_sync_local"][1])  # local under no_sync
    for r in range(NP):
        assert_close(a["no_sync_grad"][r], a["ref_no_sync_grad"])


# ---- SyncBatchNorm ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["bn3d", "bn2d", "bnlen"])
def test_sync_batchnorm_equals_batchnorm_on_full_batch(results, case):
    a, _, _, _ = results
    for step in range(2):
        assert_close(np.concatenate(a[f"{case}_y{step}"]), a[f"ref_{case}_y{step}"])
        assert_close(np.concatenate(a[f"{case}_xgrad{step}"]), a[f"ref_{case}_xgrad{step}"])
    assert_close(a[f"{case}_wgrad"].sum(0), a[f"ref_{case}_wgrad"])
    assert_close(a[f"{case}_bgrad"].sum(0), a[f"ref_{case}_bgrad"])
    for r in range(NP):
        assert_close(a[f"{case}_rm"][r], a[f"ref_{case}_rm"])
        assert_close(a[f"{case}_rv"][r], a[f"ref_{case}_rv"])
    assert_close(np.concatenate(a[f"{case}_eval"]), a[f"ref_{case}_eval"])


def test_ddp_with_sync_bn_equals_single_process(results):
    a, facts, _, _ = results
    assert "SyncBatchNorm" in facts["sync_bn_types"]
    for r in range(NP):
        assert_close(a["ddp_bn_params"][r], a["ref_ddp_bn_params"])
        assert_close(a["ddp_bn_buffers"][r], a["ref_ddp_bn_buffers"])


# ---- DistributedSampler ---------------------------------------------------------------------
def test_sampler_shards_disjoint_covering_single_process_order(results):
    import chainrule as cr
    from chainrule.utils.data import DataLoader

    a, _, _, _ = results
    loader = DataLoader(range(11), batch_size=11, shuffle=True,
                        generator=cr.Generator().manual_seed(3))
    for epoch in range(2):
        order = next(iter(loader)).data.tolist()
        shards = a[f"sampler_0_e{epoch}"]
        interleaved = shards.T.reshape(-1)
        assert interleaved[:11].tolist() == order          # the global order, padded
        assert sorted(set(shards[0]) | set(shards[1])) == list(range(11))
        dropped = a[f"sampler_1_e{epoch}"]
        assert not set(dropped[0]) & set(dropped[1])
        assert dropped.T.reshape(-1).tolist() == order[:10]


# ---- the Trainer -----------------------------------------------------------------------------
def test_trainer_metrics_all_reduced_and_equal_to_single_process(results):
    _, facts, _, _ = results
    ref = facts["ref_trainer_history3"]
    for r in range(NP):
        hist = facts[f"trainer_history3_rank{r}"]
        assert len(hist) == 3
        for got, want in zip(hist, ref):
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                np.testing.assert_allclose(got[key], want[key], rtol=1e-10, err_msg=key)
    assert facts["trainer_history2_rank0"] == facts[f"trainer_history2_rank{NP - 1}"]


def test_trainer_resume_with_same_ranks_is_exact(results):
    a, facts, _, _ = results
    # the resumed 3rd epoch continues the 2-epoch run exactly as the uninterrupted reference
    for r in range(NP):
        assert_close(a["trainer_params"][r], a["ref_trainer_params"])
        assert facts[f"trainer_history3_rank{r}"][:2] == facts[f"trainer_history2_rank{r}"]


def test_trainer_only_rank0_prints_and_writes(results):
    _, _, out, stdout = results
    assert stdout.count("epoch 1/2") == 1 and stdout.count("epoch 3/3") == 1
    assert stdout.count("training summary") == 2              # two fits, rank 0 only
    assert (out / "log0.jsonl").exists() and not (out / "log1.jsonl").exists()
    assert (out / "ckpt" / "last" / "model.safetensors").exists()
    keys = json.loads((out / "ckpt" / "last" / "trainer_state.json").read_text())
    assert keys["epoch"] == 3


# ---- failures end the job --------------------------------------------------------------------
RAISE = """
import time
from chainrule.distributed import get_world
comm = get_world()
if comm.rank == 1:
    raise RuntimeError("boom from rank 1")
comm.barrier()
time.sleep(60)
"""


@pytest.mark.parametrize("runner", [["-m", "mpi4py", "-c"], ["-c"]],
                         ids=["python-m-mpi4py", "excepthook"])
def test_raising_rank_aborts_all_within_seconds(tmp_path, runner):
    assert_aborts_with(lambda: launch([*runner, RAISE], tmp_path, limit=40),
                       ["boom from rank 1"])


def assert_aborts_with(run, messages: list[str], attempts: int = 3) -> None:
    """Every launch must end non-zero within seconds; the failing rank's message must reach
    us in at least one of ``attempts`` launches. (MPI launchers forward a rank's last output
    asynchronously and the abort can cut it off now and then on a loaded machine.)"""
    outputs = []
    for _ in range(attempts):
        res, seconds = run()
        assert res.returncode not in (0, 124), res.stdout + res.stderr
        assert seconds < 20, f"took {seconds:.1f} s"
        outputs.append(res.stdout + res.stderr)
        if all(m in outputs[-1] for m in messages):
            return
    raise AssertionError(f"none of {attempts} launches printed {messages}:\n" + outputs[-1])


MISMATCH = """
import time
import numpy as np
from chainrule.distributed import get_world
comm = get_world()
if comm.rank == 0:
    comm.allreduce_(np.ones(3))       # rank 1 never joins
time.sleep(60)
"""


def test_collective_mismatch_times_out_with_clear_message(tmp_path):
    assert_aborts_with(
        lambda: launch(["-m", "mpi4py", "-c", MISMATCH], tmp_path, limit=40,
                       env={"CHAINRULE_DIST_TIMEOUT": "1.5"}),
        ["CollectiveTimeoutError",
         "allreduce_(op='sum') of 3 x float64 on rank 0 of 2 did not complete within 1.5 s"])


# ---- the command line ------------------------------------------------------------------------
def test_cli_train_under_mpirun(tmp_path):
    res, _ = launch(["-m", "mpi4py", "-m", "chainrule", "train", "--model", "mlp", "--data",
                     "spirals", "--epochs", "1", "--max-train", "200", "--batch-size", "50",
                     "--runs-dir", str(tmp_path / "runs")], tmp_path, limit=90)
    assert res.returncode == 0, res.stdout + res.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1                                   # rank 0 made the one run directory
    assert (runs[0] / "checkpoints" / "last" / "model.safetensors").exists()
    records = [json.loads(x) for x in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["epoch", "test"]  # one epoch; test once, at the end
    assert res.stdout.count("epoch 1/1") == 1
    state = json.loads((runs[0] / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["global_step"] == 2                        # 100 examples per rank, batch 50
    assert os.path.exists(runs[0] / "report.html")
