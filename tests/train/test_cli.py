"""The ``chainrule`` command: train end to end on a tiny config, config errors, summary, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from chainrule.cli import load_config, main


def test_train_end_to_end_on_a_tiny_config(tmp_path, capsys) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('[train]\nmodel = "mlp"\ndata = "digits"\nepochs = 2\nbatch_size = 64\n'
                   f'lr = 0.01\nname = "tiny"\nruns_dir = "{tmp_path / "runs"}"\n')
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    (run,) = os.listdir(tmp_path / "runs")
    run_dir = tmp_path / "runs" / run
    assert run.endswith("-tiny")
    for name in ("config.json", "metrics.jsonl", "report.html", "loss.png", "accuracy.png",
                 "lr.png"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "config.json").read_text())["epochs"] == 2
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["epoch", "epoch", "test"]
    assert records[1]["val_accuracy"] > 0.5 and records[2]["test_accuracy"] > 0.5
    last = run_dir / "checkpoints" / "last"
    assert (last / "trainer_state.json").is_file()
    # resume continues to a third epoch from the saved state
    assert main(["train", "--config", str(cfg), "--epochs", "3", "--resume", str(last),
                 "--quiet"]) == 0
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["epoch"]) for r in records][:3] == [("epoch", 0), ("epoch", 1),
                                                            ("epoch", 2)]
    assert [r["kind"] for r in records[3:]] == ["test"]  # one test record, re-evaluated


def test_config_errors_name_key_and_value(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = 3\nlearning_rate = 0.1\n")
    with pytest.raises(ValueError, match="unknown key 'learning_rate'"):
        load_config(str(bad), {})
    with pytest.raises(ValueError, match="'optimizer': 'adamx'"):
        load_config(None, {"optimizer": "adamx"})
    with pytest.raises(ValueError, match="'epochs': 'ten'"):
        load_config(None, {"epochs": "ten"})


def test_cli_reports_config_errors_without_traceback(capsys) -> None:
    assert main(["train", "--model", "resnet152"]) == 2
    assert "bad value for 'model'" in capsys.readouterr().err


def test_version_and_module_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "chainrule", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("chainrule ")


def test_summary_command(capsys) -> None:
    assert main(["summary", "cnn"]) == 0
    out = capsys.readouterr().out
    assert "Conv1d" in out and "5,210" in out


def test_export_command(tmp_path, capsys) -> None:
    pytest.importorskip("onnx")
    path = tmp_path / "mlp.onnx"
    assert main(["export", "mlp", "--onnx", "-o", str(path)]) == 0
    assert path.stat().st_size > 1000


# ---- held-out discipline, divergence, resume safety ---------------------------------------
def _tiny(tmp_path, *extra: str) -> list[str]:
    return ["train", "--model", "mlp", "--data", "spirals", "--epochs", "3", "--batch-size",
            "64", "--runs-dir", str(tmp_path / "runs"), "--quiet", *extra]


def _tree(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_validation_split_is_disjoint_seeded_and_sized() -> None:
    from chainrule.cli import _val_split

    tr, va = _val_split(1125, 0.1, seed=3)
    assert len(va) == 112 and len(tr) == 1125 - 112
    assert not set(tr) & set(va) and set(tr) | set(va) == set(range(1125))
    again, other = _val_split(1125, 0.1, seed=3)[1], _val_split(1125, 0.1, seed=4)[1]
    assert list(again) == list(va) and list(other) != list(va)


def test_test_split_is_evaluated_once_on_the_best_validation_checkpoint(tmp_path) -> None:
    import numpy as np

    import chainrule as cr
    from chainrule.cli import TrainConfig, _data, _model
    from chainrule.train import load_checkpoint

    assert main(_tiny(tmp_path, "--lr", "0.003")) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    (test,) = [r for r in records if r["kind"] == "test"]
    assert len(epochs) == 3 and not any(k.startswith("test") for r in epochs for k in r)
    vals = [r["val_accuracy"] for r in epochs]
    assert test["epoch"] == int(np.argmax(vals)) and test["val_accuracy"] == max(vals)
    # the reported test accuracy is that of the best checkpoint on the test split, recomputed
    cfg = TrainConfig(model="mlp", data="spirals")
    _, val_ds, test_ds, n_classes = _data(cfg)
    model = _model(cfg, (2,), n_classes)
    load_checkpoint(str(run_dir / "checkpoints" / "best"), model)
    with cr.no_grad():
        pred = model(test_ds.tensors[0]).numpy().argmax(1)
        val_pred = model(val_ds.tensors[0]).numpy().argmax(1)
    assert test["test_accuracy"] == np.mean(pred == test_ds.tensors[1].numpy())
    assert test["val_accuracy"] == np.mean(val_pred == val_ds.tensors[1].numpy())
    html = (run_dir / "report.html").read_text()
    assert "Held-out test (evaluated once)" in html


@pytest.mark.parametrize("flag, value, message", [
    ("--lr", "inf", "'lr': inf"), ("--lr", "nan", "'lr': nan"), ("--lr", "0", "'lr': 0.0"),
    ("--epochs", "0", "'epochs': 0"), ("--batch-size", "0", "'batch_size': 0"),
    ("--val-fraction", "1.0", "'val_fraction': 1.0"),
])
def test_bad_hyperparameters_exit_nonzero_with_the_key(tmp_path, capsys, flag: str,
                                                       value: str, message: str) -> None:
    assert main(_tiny(tmp_path, flag, value)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow on the way to NaN
def test_divergence_fails_loudly_unless_a_policy_says_otherwise(tmp_path, capsys) -> None:
    diverge = ("--optimizer", "sgd", "--lr", "1e7", "--epochs", "2")
    assert main(_tiny(tmp_path / "a", *diverge)) == 1  # --quiet does not hide it
    assert "training diverged at step" in capsys.readouterr().err
    assert main(_tiny(tmp_path / "b", *diverge, "--nan-policy", "stop")) == 0
    assert "warning: training stopped at step" in capsys.readouterr().err
    (run_dir,) = (tmp_path / "b" / "runs").iterdir()
    assert "stopped at step" in (run_dir / "report.html").read_text()


def test_mistyped_resume_path_writes_nothing(tmp_path, capsys) -> None:
    run = tmp_path / "runs" / "mine"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("my own file")
    before = _tree(tmp_path)
    for bad in (run / "checkpoints" / "lst", run / "checkpoint" / "last", run / "config.json"):
        assert main(_tiny(tmp_path, "--resume", str(bad))) == 2
        err = capsys.readouterr().err
        assert str(bad) in err and "checkpoint" in err
    assert _tree(tmp_path) == before


def test_sigkilled_train_resumes_without_duplicate_rows(tmp_path) -> None:
    import signal
    import time

    import numpy as np

    args = [sys.executable, "-m", "chainrule", *_tiny(tmp_path, "--epochs", "8",
                                                     "--batch-size", "16", "--name", "k")]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    delay = np.random.default_rng(2024).uniform(0.0, 0.3)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "runs").glob("*/checkpoints/last")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL  # killed mid-run, not finished
    (run_dir,) = (tmp_path / "runs").iterdir()
    last = run_dir / "checkpoints" / "last"
    assert main([*_tiny(tmp_path, "--epochs", "8", "--batch-size", "16"),
                 "--resume", str(last)]) == 0
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == list(range(8))
    assert [r["kind"] for r in records].count("test") == 1


def _record_trainers(monkeypatch) -> list:
    """The Trainers the CLI makes from now on (compiling allowed by the environment)."""
    import chainrule.train as train

    made: list = []

    class Recording(train.Trainer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(train, "Trainer", Recording)
    monkeypatch.delenv("CHAINRULE_NO_COMPILE", raising=False)
    return made


def test_compile_flag_replays_or_runs_eagerly_with_identical_results(tmp_path,
                                                                      monkeypatch) -> None:
    """``--compile`` (the default) runs the steps as a chainrule.compile program, ``--no-compile``
    eagerly; both write the same losses and accuracies bit for bit."""
    made = _record_trainers(monkeypatch)
    records = {}
    for flag in ("--no-compile", "--compile", None):
        extra = [flag] if flag else []
        assert main(_tiny(tmp_path / str(flag), "--epochs", "2", *extra)) == 0
        (run_dir,) = (tmp_path / str(flag) / "runs").iterdir()
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        records[flag] = [{k: v for k, v in json.loads(x).items() if "time" not in k}
                         for x in lines]
        config = json.loads((run_dir / "config.json").read_text())
        assert config["compile"] is (flag != "--no-compile")
    eager, compiled, default = made
    assert not eager.compile and eager._compiled is None
    assert compiled.compile and compiled._compiled.replays > 0, compiled._compiled.reasons
    assert default.compile and default._compiled.replays > 0
    assert records["--compile"] == records["--no-compile"] == records[None]
    # CHAINRULE_NO_COMPILE=1 wins over --compile
    monkeypatch.setenv("CHAINRULE_NO_COMPILE", "1")
    assert main(_tiny(tmp_path / "env", "--epochs", "1", "--compile")) == 0
    assert made[-1]._compiled is None or made[-1]._compiled.replays == 0


def test_fuse_flag_needs_the_fast_extra_and_compile(tmp_path, monkeypatch, capsys) -> None:
    """``--fuse`` without Numba (simulated) fails before any data is read, naming the extra;
    with ``--no-compile`` it is refused (there is no compiled step to fuse)."""
    from chainrule import _fuse

    monkeypatch.setattr(_fuse, "_numba", None)
    monkeypatch.setitem(sys.modules, "numba", None)  # ``import numba`` raises ImportError
    assert main(_tiny(tmp_path / "a", "--fuse")) == 2
    err = capsys.readouterr().err
    assert "--fuse" in err and "chainrule[fast]" in err
    assert not (tmp_path / "a" / "runs").exists()
    monkeypatch.undo()
    assert main(_tiny(tmp_path / "b", "--fuse", "--no-compile")) == 2
    assert "compile=False" in capsys.readouterr().err


def test_fuse_flag_trains_with_a_fused_step(tmp_path, monkeypatch) -> None:
    pytest.importorskip("numba", reason="needs Numba (the 'fast' extra)")
    made = _record_trainers(monkeypatch)
    assert main(_tiny(tmp_path, "--epochs", "1", "--fuse")) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "config.json").read_text())["fuse"] is True
    (trainer,) = made
    assert trainer.fuse and trainer._compiled.replays > 0, trainer.compile_reasons
    assert "@njit" in trainer._compiled.code
