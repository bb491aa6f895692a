"""Trainer: learning, callbacks, metrics, checkpoints (atomic, verified, exact resume), reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.serialization import CheckpointError
from chainrule.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GradientClip,
    JSONLLogger,
    ModelCheckpoint,
    NaNPolicy,
    NonFiniteError,
    Trainer,
)
from chainrule.train.metrics import (
    Accuracy,
    ConfusionMatrix,
    MeanAbsoluteError,
    MeanSquaredError,
    TopKAccuracy,
    precision_recall_f1,
)
from chainrule.utils.data import DataLoader, TensorDataset


def blobs(n: int = 120, seed: int = 0) -> TensorDataset:
    """Three well-separated Gaussian blobs in 2-D."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[0, 4], [4, -2], [-4, -2]], dtype=np.float32)
    x = centers[y] + rng.normal(0, 0.5, (n, 2)).astype(np.float32)
    return TensorDataset(cr.from_numpy(x), cr.from_numpy(y.astype(np.int64)))


def make(seed: int = 0, dropout: float = 0.0) -> tuple[nn.Module, optim.Optimizer]:
    cr.manual_seed(seed)
    layers = [nn.Linear(2, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, 3))
    model = nn.Sequential(*layers)
    return model, optim.Adam(model.parameters(), lr=0.05)


def test_reaches_full_train_accuracy() -> None:
    model, opt = make()
    gen = cr.Generator().manual_seed(0)
    loader = DataLoader(blobs(), batch_size=16, shuffle=True, generator=gen)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, metrics=["accuracy"], quiet=True)
    hist = trainer.fit(loader, epochs=15)
    assert hist["accuracy"][-1] == 1.0
    assert hist["loss"][-1] < hist["loss"][0] / 5
    assert len(hist) == 15 and trainer.global_step == 15 * len(loader)
    pred = trainer.predict(DataLoader(blobs(), batch_size=50))
    assert pred.shape == (120, 3)


def test_evaluate_uses_eval_mode_and_no_graph() -> None:
    model, opt = make(dropout=0.5)
    seen = []

    class Spy(nn.Module):
        def forward(self, x: cr.Tensor) -> cr.Tensor:
            seen.append((self.training, cr.is_grad_enabled()))
            return x

    model.append(Spy())
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, metrics=["accuracy"], quiet=True)
    out = trainer.evaluate(DataLoader(blobs(), batch_size=60))
    assert seen == [(False, False), (False, False)]
    assert set(out) == {"loss", "accuracy"} and model.training


def test_early_stopping_stops_and_restores_best() -> None:
    model, opt = make()
    ds = blobs()
    loader = DataLoader(ds, batch_size=30)
    stop = EarlyStopping("val_loss", patience=2, min_delta=10.0, restore_best_weights=True)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[stop], quiet=True)
    hist = trainer.fit(loader, DataLoader(ds, batch_size=60), epochs=50)
    # min_delta is huge, so no epoch after the first counts as an improvement
    assert len(hist) == 3 and stop.stopped_epoch == 2 and stop.best_epoch == 0


def test_early_stopping_names_missing_metric() -> None:
    model, opt = make()
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[EarlyStopping()], quiet=True)
    with pytest.raises(KeyError, match="val_loss"):
        trainer.fit(DataLoader(blobs(), batch_size=60), epochs=2)


def test_scheduler_is_stepped_per_epoch_and_logged() -> None:
    model, opt = make()
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, quiet=True)
    hist = trainer.fit(DataLoader(blobs(), batch_size=60), epochs=3)
    # the lr logged for an epoch is the one its batches used
    np.testing.assert_allclose(hist["lr"], [0.05, 0.025, 0.0125])


def test_plateau_scheduler_gets_the_monitored_value() -> None:
    model, opt = make()
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.1, threshold=10.0)
    ds = blobs()
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, quiet=True)
    trainer.fit(DataLoader(ds, batch_size=60), DataLoader(ds, batch_size=60), epochs=3)
    assert trainer.current_lr() < 0.05


def test_gradient_clip_bounds_the_norm() -> None:
    model, opt = make()
    norms = []

    class After(Callback):
        def on_after_backward(self, trainer: Trainer) -> None:
            g = np.sqrt(sum(float((p.grad.data ** 2).sum()) for p in trainer.model.parameters()))
            norms.append(g)

    trainer = Trainer(model, nn.CrossEntropyLoss(), opt,
                      callbacks=[GradientClip(max_norm=0.01), After()], quiet=True)
    trainer.fit(DataLoader(blobs(), batch_size=60), epochs=2)
    assert max(norms) <= 0.01 * (1 + 1e-4)


def test_nan_policy_raise_names_step_and_skip_skips() -> None:
    model, opt = make()

    def bad_loss(out: cr.Tensor, y: cr.Tensor) -> cr.Tensor:
        return (out * float("nan")).sum()

    trainer = Trainer(model, bad_loss, opt, callbacks=[NaNPolicy("raise")], quiet=True)
    with pytest.raises(NonFiniteError, match="step 0"):
        trainer.fit(DataLoader(blobs(), batch_size=60), epochs=1)
    before = [p._array.copy() for p in model.parameters()]
    policy = NaNPolicy("skip")
    trainer = Trainer(model, bad_loss, opt, callbacks=[policy], quiet=True)
    trainer.fit(DataLoader(blobs(), batch_size=60), epochs=1)
    assert policy.skipped == 2
    for a, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(a, p.data)


def test_csv_and_jsonl_loggers(tmp_path) -> None:
    model, opt = make()
    csv_path, jl = tmp_path / "log.csv", tmp_path / "log.jsonl"
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, metrics=["accuracy"],
                      callbacks=[CSVLogger(csv_path), JSONLLogger(jl)], quiet=True)
    trainer.fit(DataLoader(blobs(), batch_size=60), epochs=2)
    rows = csv_path.read_text().strip().splitlines()
    assert rows[0].split(",")[:2] == ["epoch", "accuracy"] and len(rows) == 3
    recs = [json.loads(line) for line in jl.read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [0, 1] and "loss" in recs[0]


def test_metrics_against_hand_computed_values() -> None:
    out = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0], [3.0, 0.0, 1.0]])
    y = np.array([0, 2, 2, 1])
    acc = Accuracy()
    acc.update(out, y)
    assert acc.compute() == 0.5
    top2 = TopKAccuracy(2)
    top2.update(out, y)
    assert top2.compute() == 0.75
    cm = ConfusionMatrix(3)
    cm.update(out, y)
    np.testing.assert_array_equal(cm.compute(), [[1, 0, 0], [1, 0, 0], [0, 1, 1]])
    prf = precision_recall_f1(cm.compute())
    np.testing.assert_allclose(prf["precision"], [0.5, 0.0, 1.0])
    np.testing.assert_allclose(prf["recall"], [1.0, 0.0, 0.5])
    mse, mae = MeanSquaredError(), MeanAbsoluteError()
    mse.update(np.array([1.0, 2.0]), np.array([0.0, 4.0]))
    mae.update(np.array([1.0, 2.0]), np.array([0.0, 4.0]))
    assert mse.compute() == 2.5 and mae.compute() == 1.5


def test_checkpoint_round_trip_and_corruption(tmp_path) -> None:
    model, opt = make()
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, quiet=True)
    trainer.fit(DataLoader(blobs(), batch_size=30), epochs=1)
    ck = trainer.save_checkpoint(str(tmp_path / "ck"))
    assert sorted(os.listdir(ck)) == ["manifest.json", "model.safetensors",
                                      "optimizer.safetensors", "trainer_state.json"]
    assert os.path.islink(ck)  # the pointer; the files live in a sibling directory
    state = json.loads((tmp_path / "ck" / "trainer_state.json").read_text())
    manifest = json.loads((tmp_path / "ck" / "manifest.json").read_text())
    assert state["format_version"] == 2 and set(manifest["files"]) == {
        "model.safetensors", "optimizer.safetensors", "trainer_state.json"}
    model2, opt2 = make(seed=1)
    t2 = Trainer(model2, nn.CrossEntropyLoss(), opt2, quiet=True)
    t2.load_checkpoint(ck)
    assert t2.epoch == 1 and t2.global_step == 4
    for a, b in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    blob = tmp_path / "ck" / "model.safetensors"
    data = bytearray(blob.read_bytes())
    data[-3] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: SHA-256 does not match"):
        t2.load_checkpoint(ck)
    blob.write_bytes(bytes(data[:40]))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        t2.load_checkpoint(ck)


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch) -> None:
    import chainrule.serialization as ser

    model, opt = make()
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, quiet=True)
    trainer.fit(DataLoader(blobs(), batch_size=30), epochs=1)
    ck = str(tmp_path / "ck")
    trainer.save_checkpoint(ck)
    saved = [p._array.copy() for p in model.parameters()]
    trainer.fit(DataLoader(blobs(), batch_size=30), epochs=2)

    real = ser._write_all

    def crash(f, data):  # write half of the temp file, then die
        real(f, data[: len(data) // 2])
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(ser, "_write_all", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint(ck)
    monkeypatch.setattr(ser, "_write_all", real)
    assert not [f for f in os.listdir(ck) if f.endswith(".tmp")]
    model2, opt2 = make(seed=3)
    t2 = Trainer(model2, nn.CrossEntropyLoss(), opt2, quiet=True)
    t2.load_checkpoint(ck)
    for a, b in zip(saved, model2.parameters()):
        np.testing.assert_array_equal(a, b.data)


_RESUME_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, chainrule as cr
    from chainrule import nn, optim
    from chainrule.train import Trainer, Callback
    from chainrule.utils.data import DataLoader, TensorDataset
    mode, ck, out = sys.argv[1], sys.argv[2], sys.argv[3]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 4)).astype(np.float32); y = (x[:, 0] > 0).astype(np.int64)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, 1, 0.9)
    loader = DataLoader(TensorDataset(cr.from_numpy(x), cr.from_numpy(y)), batch_size=20,
                        shuffle=True, generator=cr.Generator().manual_seed(1))
    class StopAt(Callback):
        def on_batch_end(self, trainer, step, logs):
            if step == 7:
                trainer.save_checkpoint(ck)
                raise SystemExit(0)
    cbs = [StopAt()] if mode == "first" else []
    t = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, callbacks=cbs, quiet=True)
    t.fit(loader, epochs=4, resume=ck if mode == "resume" else None)
    np.save(out, np.concatenate([p.detach().numpy().ravel() for p in model.parameters()]))
""")


def test_bitwise_resume_mid_epoch_in_a_new_process(tmp_path) -> None:
    script = tmp_path / "run.py"
    script.write_text(_RESUME_SCRIPT)
    ck = str(tmp_path / "ck")

    def run(mode: str, out: str) -> None:
        subprocess.run([sys.executable, str(script), mode, ck, out], check=True,
                       cwd=str(tmp_path), timeout=120)

    run("straight", str(tmp_path / "a.npy"))
    run("first", str(tmp_path / "unused.npy"))
    run("resume", str(tmp_path / "b.npy"))
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.tobytes() == b.tobytes()


def test_model_checkpoint_and_run_report(tmp_path) -> None:
    from chainrule.train.report import new_run_dir, write_run_report

    run_dir = new_run_dir(str(tmp_path / "runs"), "tiny run")
    model, opt = make()
    ds = blobs()
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, metrics=["accuracy"], run_dir=run_dir,
                      callbacks=[ModelCheckpoint(monitor="val_accuracy")], quiet=True)
    trainer.fit(DataLoader(ds, batch_size=30), DataLoader(ds, batch_size=60), epochs=2)
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "best", "model.safetensors"))
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "last", "trainer_state.json"))
    report = write_run_report(run_dir, trainer)
    with open(report) as f:
        html = f.read()
    assert "data:image/png;base64," in html and "val_accuracy" in html
    for name in ("loss.png", "accuracy.png", "lr.png"):
        with open(os.path.join(run_dir, name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _read_events(path: str) -> list:
    """Parse a TFRecord event file with tensorboardX's own protobuf definitions."""
    import struct

    from tensorboardX.proto import event_pb2

    events = []
    with open(path, "rb") as f:
        while header := f.read(12):
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            f.read(4)
            ev = event_pb2.Event()
            ev.ParseFromString(data)
            events.append(ev)
    return events


def test_tensorboard_event_files_are_readable(tmp_path) -> None:
    pytest.importorskip("tensorboardX")
    from chainrule.train import TensorBoard

    model, opt = make()
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, metrics=["accuracy"],
                      callbacks=[TensorBoard(tmp_path / "tb")], quiet=True)
    trainer.fit(DataLoader(blobs(), batch_size=60), epochs=2)
    (name,) = [f for f in os.listdir(tmp_path / "tb") if "tfevents" in f]
    tags = {v.tag for ev in _read_events(str(tmp_path / "tb" / name)) for v in ev.summary.value}
    assert {"batch/loss", "epoch/loss", "epoch/accuracy", "epoch/lr"} <= tags


def test_trainer_raises_on_nan_by_default_and_reports_nan_history(tmp_path, capsys) -> None:
    from chainrule.train.report import write_run_report

    def bad_loss(out: cr.Tensor, y: cr.Tensor) -> cr.Tensor:
        return (out * float("nan")).sum()

    model, opt = make()
    with pytest.raises(NonFiniteError, match=r"step 0 \(epoch 0\): the loss is nan"):
        Trainer(model, bad_loss, opt, quiet=True).fit(DataLoader(blobs(), batch_size=60))
    # without a policy the history is NaN throughout: the summary and the report still work
    trainer = Trainer(model, bad_loss, opt, nan_policy=None, metrics=["accuracy"],
                      run_dir=str(tmp_path))
    ds = blobs()
    hist = trainer.fit(DataLoader(ds, batch_size=60), DataLoader(ds, batch_size=60), epochs=2)
    assert np.isnan(hist["val_loss"]).all()
    assert "none (no finite" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no epoch has a finite 'val_loss'"):
        hist.best("val_loss")
    assert os.path.isfile(write_run_report(str(tmp_path), trainer))


def test_nan_policy_stop_ends_training_after_the_batch() -> None:
    model, opt = make()
    calls = []

    def loss_nan_at_3(out: cr.Tensor, y: cr.Tensor) -> cr.Tensor:
        calls.append(1)
        loss = nn.CrossEntropyLoss()(out, y)
        return loss * float("nan") if len(calls) == 3 else loss

    policy = NaNPolicy("stop")
    trainer = Trainer(model, loss_nan_at_3, opt, callbacks=[policy], quiet=True)
    hist = trainer.fit(DataLoader(blobs(), batch_size=20), epochs=5)
    assert len(calls) == 3 and len(hist) == 1 and policy.reason.startswith("stopped at step 2")
    assert np.isfinite(hist["loss"][0])  # the skipped batch is not averaged in


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), 0.0, -1e-3])
def test_trainer_rejects_bad_learning_rates(lr: float) -> None:
    model, opt = make()
    opt.param_groups[0]["lr"] = lr
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['lr'\]"):
        Trainer(model, nn.CrossEntropyLoss(), opt)


def test_trainer_rejects_non_finite_hyperparameters_and_bad_epochs() -> None:
    model, opt = make()
    opt.param_groups[0]["betas"] = (0.9, float("inf"))
    with pytest.raises(ValueError, match=r"\['betas'\].*not finite"):
        Trainer(model, nn.CrossEntropyLoss(), opt)
    model, opt = make()
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, quiet=True)
    for epochs in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
            trainer.fit(DataLoader(blobs(), batch_size=60), epochs=epochs)


def test_loggers_hold_one_row_per_epoch_after_a_resume(tmp_path) -> None:
    csv_path, jl = tmp_path / "log.csv", tmp_path / "log.jsonl"

    def trainer() -> Trainer:
        model, opt = make()
        return Trainer(model, nn.CrossEntropyLoss(), opt, quiet=True,
                       callbacks=[CSVLogger(csv_path), JSONLLogger(jl, log_batches=True)])

    t = trainer()
    t.fit(DataLoader(blobs(), batch_size=60), epochs=2)
    t.save_checkpoint(str(tmp_path / "ck"))
    t.fit(DataLoader(blobs(), batch_size=60), epochs=3)  # epoch 2 logged, then "killed"
    t2 = trainer()
    t2.fit(DataLoader(blobs(), batch_size=60), epochs=4, resume=str(tmp_path / "ck"))
    rows = csv_path.read_text().strip().splitlines()
    assert rows[0].startswith("epoch,") and [r.split(",")[0] for r in rows[1:]] == [
        "0", "1", "2", "3"]
    recs = [json.loads(line) for line in jl.read_text().splitlines()]
    assert [r["epoch"] for r in recs if r["kind"] == "epoch"] == [0, 1, 2, 3]
    assert [r["step"] for r in recs if r["kind"] == "batch"] == list(range(1, 9))
    trainer().fit(DataLoader(blobs(), batch_size=60), epochs=1)  # a fresh run: a fresh log
    assert len(csv_path.read_text().strip().splitlines()) == 2
