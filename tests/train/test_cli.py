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
