"""Trainer callbacks: early stopping, checkpoints, LR scheduling, gradient clipping, NaN policy,
CSV / JSON-lines / TensorBoard logging.

A callback overrides any of the hooks below; each receives the Trainer. Callbacks with state
that must survive a resume (EarlyStopping's best value and patience counter, ...) implement
``state_dict`` / ``load_state_dict``; the Trainer stores them in ``trainer_state.json``.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from chainrule.train.trainer import Trainer


class Callback:
    """Base class: every hook is a no-op."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Before the first epoch (after a resume has restored the state)."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """At the start of each epoch."""

    def on_batch_begin(self, trainer: Trainer, step: int) -> None:
        """Before each training batch."""

    def on_after_backward(self, trainer: Trainer) -> None:
        """After ``loss.backward()`` and before ``optimizer.step()``: inspect or change grads;
        set ``trainer.skip_step = True`` to skip this update."""

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        """After each training batch; ``logs`` has the batch loss and lr."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """After validation; ``logs`` has the epoch's train and val metrics."""

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last epoch (or an early stop)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()`` (stateless callbacks ignore it)."""


def _better(mode: str, value: float, best: float, min_delta: float) -> bool:
    if mode == "min":
        return value < best - min_delta
    return value > best + min_delta


def _mode_for(monitor: str, mode: str) -> str:
    if mode != "auto":
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        return mode
    return "max" if any(k in monitor for k in ("acc", "f1", "precision", "recall")) else "min"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model ends with the weights of its best epoch — the
    note's remedy for overfitting ("stop before the validation loss turns up").

    Example::

        Trainer(model, loss, opt, callbacks=[EarlyStopping("val_loss", patience=3)])
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = _mode_for(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._best_state: dict | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise KeyError(
                f"EarlyStopping monitors {self.monitor!r}, which is not among the epoch's logs "
                f"{sorted(logs)} (pass a val_loader for val_* metrics)"
            )
        value = logs[self.monitor]
        if _better(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_state = copy.deepcopy(
                    {k: v._array.copy() for k, v in trainer.model.state_dict().items()})
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def on_train_end(self, trainer: Trainer) -> None:
        if self.restore_best_weights and self._best_state is not None:
            trainer.model.load_state_dict(self._best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.wait = state["wait"]


class ModelCheckpoint(Callback):
    """Save a full trainer checkpoint (model, optimizer, trainer state) each epoch to
    ``dirpath/last`` and, when ``monitor`` improves, to ``dirpath/best``.

    Each is committed by switching one pointer (see :mod:`chainrule.train.checkpoint`); what
    an interrupted save left behind is removed when training starts."""

    def __init__(self, dirpath: str | os.PathLike | None = None, monitor: str = "val_loss",
                 mode: str = "auto", save_last: bool = True, save_best: bool = True,
                 every_n_epochs: int = 1) -> None:
        self.dirpath = dirpath
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.save_last = save_last
        self.save_best = save_best
        self.every_n_epochs = every_n_epochs
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_path: str | None = None

    def _dir(self, trainer: Trainer) -> str:
        if self.dirpath is not None:
            return os.fspath(self.dirpath)
        if trainer.run_dir is None:
            raise ValueError("ModelCheckpoint needs dirpath= or a Trainer with run_dir=")
        return os.path.join(trainer.run_dir, "checkpoints")

    def on_train_begin(self, trainer: Trainer) -> None:
        from chainrule.train.checkpoint import clean_stale

        if trainer.dist is None or trainer.dist.is_main:  # rank 0 owns the files
            clean_stale(self._dir(trainer))

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if (epoch + 1) % self.every_n_epochs:
            return
        root = self._dir(trainer)
        if self.save_best and self.monitor in logs and _better(
            self.mode, logs[self.monitor], self.best, 0.0
        ):
            self.best = logs[self.monitor]
            self.best_path = os.path.join(root, "best")
            trainer.save_checkpoint(self.best_path)
        if self.save_last:
            trainer.save_checkpoint(os.path.join(root, "last"))

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_path": self.best_path}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.best_path = state.get("best_path")


class LRScheduler(Callback):
    """Step a learning-rate scheduler every batch (``interval="step"``) or epoch; a
    ``ReduceLROnPlateau`` is stepped with the epoch's ``monitor`` value."""

    def __init__(self, scheduler: Any, interval: str = "epoch", monitor: str = "val_loss") -> None:
        if interval not in ("epoch", "step"):
            raise ValueError(f"interval must be 'epoch' or 'step', got {interval!r}")
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor

    def _is_plateau(self) -> bool:
        return type(self.scheduler).__name__ == "ReduceLROnPlateau"

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        if self.interval == "step" and not self._is_plateau():
            self.scheduler.step()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.interval != "epoch":
            return
        if self._is_plateau():
            metric = logs.get(self.monitor, logs.get("loss"))
            self.scheduler.step(metric)
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": _jsonable(self.scheduler.state_dict())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])


def _jsonable(obj: Any) -> Any:
    """Drop what JSON cannot hold (lambdas in LambdaLR's state) and convert NumPy scalars."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not callable(v)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return obj
    return obj


class GradientClip(Callback):
    """Clip gradients before each step: by total norm (``max_norm``) or by value."""

    def __init__(self, max_norm: float | None = None, norm_type: float = 2.0,
                 clip_value: float | None = None) -> None:
        if max_norm is None and clip_value is None:
            raise ValueError("GradientClip needs max_norm= or clip_value=")
        self.max_norm, self.norm_type, self.clip_value = max_norm, norm_type, clip_value
        self.last_norm: float | None = None

    def on_after_backward(self, trainer: Trainer) -> None:
        from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_

        params = [p for p in trainer.model.parameters() if p.grad is not None]
        if self.max_norm is not None:
            self.last_norm = float(clip_grad_norm_(params, self.max_norm, self.norm_type))
        if self.clip_value is not None:
            clip_grad_value_(params, self.clip_value)


class NonFiniteError(FloatingPointError):
    """A loss or a gradient became NaN/Inf during training."""


class NaNPolicy(Callback):
    """What to do when the loss or a gradient is not finite: ``"raise"`` :class:`NonFiniteError`
    (naming the step and the first non-finite parameter or the loss), ``"skip"`` the update,
    or ``"stop"``: skip the update and end training after this batch (``reason`` says why).
    The Trainer installs ``NaNPolicy("raise")`` unless told otherwise."""

    MODES = ("raise", "skip", "stop")

    def __init__(self, mode: str = "raise") -> None:
        if mode not in self.MODES:
            raise ValueError(f"NaNPolicy mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.skipped = 0
        self.reason: str | None = None

    def on_after_backward(self, trainer: Trainer) -> None:
        problem = None
        if not math.isfinite(trainer.last_loss):
            problem = f"the loss is {trainer.last_loss}"
        else:
            for name, p in trainer.model.named_parameters():
                if p.grad is not None and not np.all(np.isfinite(p.grad._array)):
                    problem = f"the gradient of parameter {name!r} {tuple(p.shape)} is not finite"
                    break
        if problem is None:
            return
        where = f"step {trainer.global_step} (epoch {trainer.epoch}): {problem}"
        if self.mode == "raise":
            raise NonFiniteError(where)
        self.skipped += 1
        trainer.skip_step = True
        if self.mode == "stop":
            self.reason = f"stopped at {where}"
            trainer.stop_training = True


def _truncate_log(path: str, keep: Any) -> None:
    """Rewrite ``path`` (atomically) with only the lines for which ``keep(line)`` is true."""
    from chainrule.serialization import atomic_write

    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        lines = f.readlines()
    kept = [line for line in lines if keep(line)]
    if len(kept) != len(lines):
        atomic_write(path, "".join(kept).encode())


class CSVLogger(Callback):
    """Append one row per epoch (epoch, then every logged value) to a CSV file.

    At the start of training, rows of epochs the trainer has not completed yet (those written
    after the checkpoint it resumed from; all of them for a fresh trainer) are dropped, so the
    file never holds two rows for one epoch.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._keys: list[str] | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        done = trainer.epoch
        if not os.path.exists(self.path):
            return
        with open(self.path, newline="") as f:
            header = next(csv.reader(f), None)
        if not header or header[0] != "epoch":
            return
        if done == 0:  # a fresh run starts a fresh file (and header)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return

        def keep(line: str) -> bool:
            first = line.split(",", 1)[0].strip()
            return first == "epoch" or (first.isdigit() and int(first) < done)

        _truncate_log(self.path, keep)
        self._keys = header[1:]

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        new = not os.path.exists(self.path)
        if self._keys is None:
            self._keys = sorted(logs)
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["epoch", *self._keys])
            w.writerow([epoch, *(logs.get(k, "") for k in self._keys)])


class JSONLLogger(Callback):
    """Append one JSON object per epoch (and optionally per batch) to a ``.jsonl`` file.

    At the start of training, records past the trainer's position (written after the
    checkpoint it resumed from; all of them for a fresh trainer) are dropped, so the file never
    holds two records for one epoch or step.
    """

    def __init__(self, path: str | os.PathLike, log_batches: bool = False) -> None:
        self.path = os.fspath(path)
        self.log_batches = log_batches

    def on_train_begin(self, trainer: Trainer) -> None:
        epoch, step = trainer.epoch, trainer.global_step

        def keep(line: str) -> bool:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                return False  # a line cut by a kill: not a record
            if not isinstance(rec, dict):
                return False
            if rec.get("kind") == "batch":
                return isinstance(rec.get("step"), int) and rec["step"] <= step
            if rec.get("kind") == "epoch":
                return isinstance(rec.get("epoch"), int) and rec["epoch"] < epoch
            return False  # other records (a test result) are rewritten at the end of the run

        _truncate_log(self.path, keep)

    def log(self, record: dict[str, Any]) -> None:
        """Append one record (e.g. ``{"kind": "test", ...}`` at the end of a run)."""
        self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(_jsonable(record)) + "\n")

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        if self.log_batches:
            self._write({"kind": "batch", "step": step, **logs})

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self._write({"kind": "epoch", "epoch": epoch, "step": trainer.global_step, **logs})


class TensorBoard(Callback):
    """Write scalars (batch loss, lr, epoch metrics) as TensorBoard event files (extra ``tb``:
    tensorboardX), readable by ``tensorboard --logdir``."""

    def __init__(self, logdir: str | os.PathLike) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise ImportError(
                "TensorBoard logging needs the 'tb' extra: pip install 'chainrule[tb]'"
            ) from e
        self.writer = SummaryWriter(os.fspath(logdir))

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        for k, v in logs.items():
            self.writer.add_scalar(f"batch/{k}", v, step)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        for k, v in logs.items():
            self.writer.add_scalar(f"epoch/{k}", v, epoch)
        self.writer.flush()

    def on_train_end(self, trainer: Trainer) -> None:
        self.writer.close()
