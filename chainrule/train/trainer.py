"""The Trainer: a training loop with callbacks, metrics, progress, checkpoints and exact resume.

Example::

    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), 1e-3),
                      metrics=["accuracy"], callbacks=[EarlyStopping(patience=3)])
    history = trainer.fit(train_loader, val_loader, epochs=10)
    history["val_accuracy"]          # one value per epoch
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.engine import no_grad
from chainrule.distributed.integration import distributed_context, set_sampler_epoch
from chainrule.tensor import Tensor, cat
from chainrule.train.callbacks import Callback, LRScheduler, NaNPolicy
from chainrule.train.metrics import Metric, resolve


class History:
    """Per-epoch logs: ``history["val_loss"]`` is the list of that value over epochs."""

    def __init__(self, epochs: list[dict[str, float]] | None = None) -> None:
        self.epochs: list[dict[str, float]] = list(epochs or [])

    def append(self, logs: dict[str, float]) -> None:
        self.epochs.append(dict(logs))

    def __getitem__(self, key: str) -> list[float]:
        if not any(key in e for e in self.epochs):
            raise KeyError(f"no metric {key!r} in the history (has {self.keys()})")
        return [e.get(key, math.nan) for e in self.epochs]

    def keys(self) -> list[str]:
        out: list[str] = []
        for e in self.epochs:
            out += [k for k in e if k not in out]
        return out

    def __len__(self) -> int:
        return len(self.epochs)

    def __contains__(self, key: str) -> bool:
        return any(key in e for e in self.epochs)

    def best(self, monitor: str = "val_loss", mode: str = "min") -> tuple[int, float]:
        """(epoch index, value) of the best epoch for ``monitor``, ignoring NaN epochs.

        Raises ``ValueError`` naming ``monitor`` when no epoch has a finite value (a run that
        diverged from the start).
        """
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        vals = np.asarray(self[monitor], dtype=np.float64)
        finite = np.flatnonzero(np.isfinite(vals))
        if finite.size == 0:
            raise ValueError(f"no epoch has a finite {monitor!r} (values: {vals.tolist()})")
        pick = np.argmin if mode == "min" else np.argmax
        i = int(finite[pick(vals[finite])])
        return i, float(vals[i])

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, keys={self.keys()})"


def _split_batch(batch: Any) -> tuple[Any, Any]:
    """(inputs, target) from a loader's batch: a pair, or a longer tuple (target last)."""
    if isinstance(batch, (tuple, list)):
        if len(batch) == 2:
            return batch[0], batch[1]
        if len(batch) > 2:
            return tuple(batch[:-1]), batch[-1]
    if isinstance(batch, dict) and "target" in batch:
        inputs = {k: v for k, v in batch.items() if k != "target"}
        return inputs, batch["target"]
    raise TypeError(
        f"cannot split a batch of type {type(batch).__name__} into (inputs, target): "
        "yield (x, y) pairs from the loader"
    )


def _call(model: Any, inputs: Any) -> Any:
    if isinstance(inputs, tuple):
        return model(*inputs)
    if isinstance(inputs, dict):
        return model(**inputs)
    return model(inputs)


def _batch_size(target: Any) -> int:
    shape = getattr(target, "shape", None)
    return int(shape[0]) if shape else 1


def _check_fuse(fuse: Any, compile_: bool | None) -> bool:
    """``fuse`` validated: a bool, not with ``compile=False``, and Numba importable when True
    (checked here, before any training, rather than at the first compiled step)."""
    if fuse not in (True, False):
        raise TypeError(f"Trainer: fuse must be True or False, got {fuse!r}")
    if fuse and compile_ is False:
        raise ValueError("Trainer: fuse=True fuses the compiled step's elementwise calls; it "
                         "needs compile=True or None, got compile=False")
    if fuse:
        from chainrule import _fuse

        try:
            _fuse.numba_module()
        except ImportError as e:
            raise ImportError("Trainer(fuse=True) needs Numba, the 'fast' extra: pip install "
                              f"'chainrule[fast]' ({e.__cause__ or e})") from e
    return bool(fuse)


class Trainer:
    """Train ``model`` with ``loss`` and ``optimizer``; see the module docstring.

    ``scheduler`` is stepped per epoch (``scheduler_interval="epoch"``) or per batch
    (``"step"``); a ``ReduceLROnPlateau`` gets the epoch's ``val_loss``. ``metrics`` are names
    ('accuracy', 'mse', 'mae', 'top5') or Metric objects, computed on train and val data.
    ``run_dir`` (optional) is where checkpoints and reports go. ``nan_policy`` installs a
    :class:`NaNPolicy` (``"raise"`` by default, ``"skip"``, ``"stop"``; ``None`` for none)
    unless ``callbacks`` already hold one, so a diverging run fails loudly instead of logging
    NaN. The optimizer's hyper-parameters must be finite and its learning rates positive.
    ``compile`` runs each training step as a :mod:`chainrule.compile` program (equal to the
    eager step bit for bit on the NumPy path): by default (``None``) wherever the guards allow,
    falling back to eager steps silently (``trainer.compile_reasons`` says why); ``True`` does
    the same but warns on a fallback; ``False`` runs every step eagerly. Steps stay eager
    while a callback other than a raising NaNPolicy acts between backward and the update,
    under ``DistributedDataParallel``, and with ``CHAINRULE_NO_COMPILE=1``.
    ``fuse=True`` compiles with ``chainrule.compile(fuse=True)``: each run of elementwise calls
    of the step (activations, the optimizer's update) becomes one Numba kernel, equal to the
    eager step to 1e-6 instead of bit for bit; it needs the ``fast`` extra
    (``pip install 'chainrule[fast]'``; ``ImportError`` naming it otherwise) and compiling.
    """

    def __init__(
        self,
        model: Any,
        loss: Any,
        optimizer: Any,
        scheduler: Any = None,
        callbacks: Sequence[Callback] = (),
        metrics: Sequence[Any] = (),
        scheduler_interval: str = "epoch",
        run_dir: str | None = None,
        quiet: bool = False,
        config: dict[str, Any] | None = None,
        nan_policy: str | None = "raise",
        compile: bool | None = None,  # noqa: A002 - torch-style option name
        fuse: bool = False,
    ) -> None:
        _check_hyperparameters(optimizer)
        callbacks = list(callbacks)
        if nan_policy is not None and not any(
                isinstance(getattr(cb, "callback", cb), NaNPolicy) for cb in callbacks):
            callbacks.insert(0, NaNPolicy(nan_policy))
        self.model = model
        self.loss_fn = loss
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.callbacks: list[Callback] = list(callbacks)
        if scheduler is not None:
            self.callbacks.insert(0, LRScheduler(scheduler, scheduler_interval))
        self.metrics: list[Metric] = [resolve(m) for m in metrics]
        self.run_dir = run_dir
        self.quiet = quiet
        self.config = dict(config or {})
        self.history = History()
        self.epoch = 0
        self.global_step = 0
        self.stop_training = False
        self.skip_step = False
        self.last_loss = math.nan
        self.wall_time = 0.0
        self.train_loader: Any = None
        self._epoch_loss_sum = 0.0
        self._epoch_loss_count = 0
        self._progress: Any = None
        # the step (zero_grad, forward, loss, backward, optimizer step) runs as a
        # chainrule.compile program when no callback acts between backward and step; by
        # default a step the guards refuse stays eager without a warning
        if compile not in (None, True, False):
            raise TypeError(f"Trainer: compile must be True, False or None, got {compile!r}")
        self.compile = compile is not False
        self._compile_quiet = compile is None
        self.fuse = _check_fuse(fuse, compile)
        self._compiled: Any = None
        # chainrule.distributed: under DistributedDataParallel only rank 0 prints and writes
        # files, and epoch losses and metrics are summed over the ranks (None: one process)
        self.dist = distributed_context(model)
        if self.dist is not None:
            self.quiet = self.quiet or not self.dist.is_main
            self.callbacks = self.dist.wrap_callbacks(self.callbacks)

    # ---- one step ---------------------------------------------------------------------------
    def train_step(self, batch: Any) -> tuple[float, Any, Any]:
        """Forward, loss, backward, callbacks, optimizer step; returns (loss, output, target)."""
        if self.compile and self._compilable():
            return self._compiled_step(batch)
        inputs, target = _split_batch(batch)
        self.optimizer.zero_grad()
        output = _call(self.model, inputs)
        loss = self.loss_fn(output, target)
        loss.backward()
        self.last_loss = float(loss.item())
        self.skip_step = False
        for cb in self.callbacks:
            cb.on_after_backward(self)
        if not self.skip_step:
            self.optimizer.step()
        return self.last_loss, output, target

    def _compilable(self) -> bool:
        """Whether the step may run compiled: one process, and no callback that acts between
        backward and step (a NaNPolicy('raise') is checked after the compiled step)."""
        if self.dist is not None:
            return False
        for cb in self.callbacks:
            cb = getattr(cb, "callback", cb)
            if isinstance(cb, NaNPolicy):
                if cb.mode != "raise":
                    return False
            elif type(cb).on_after_backward is not Callback.on_after_backward:
                return False
        return True

    def _compiled_step(self, batch: Any) -> tuple[float, Any, Any]:
        """``train_step`` as a chainrule.compile program; the callbacks' ``on_after_backward``
        (only a raising NaNPolicy, see ``_compilable``) run after the update."""
        inputs, target = _split_batch(batch)
        if self._compiled is None:
            from chainrule.compile import compile as capture

            def step(inputs: Any, target: Any) -> tuple[Any, Any]:
                self.optimizer.zero_grad()
                output = _call(self.model, inputs)
                loss = self.loss_fn(output, target)
                loss.backward()
                self.optimizer.step()
                return loss, output

            self._compiled = capture(step, quiet=self._compile_quiet, fuse=self.fuse)
        loss, output = self._compiled(inputs, target)
        self.last_loss = float(loss.item())
        self.skip_step = False
        for cb in self.callbacks:
            cb.on_after_backward(self)
        return self.last_loss, output, target

    @property
    def compile_reasons(self) -> list[str]:
        """Why compiled steps ran eagerly (empty when every step could be captured)."""
        return list(self._compiled.reasons) if self._compiled is not None else []

    # ---- loops ------------------------------------------------------------------------------
    def fit(self, train_loader: Iterable, val_loader: Iterable | None = None, epochs: int = 1,
            resume: str | None = None) -> History:
        """Train for ``epochs`` epochs (in total, counting those before a resume)."""
        from chainrule.train.progress import Progress

        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"Trainer.fit: epochs must be an integer >= 1, got {epochs!r}")
        _check_hyperparameters(self.optimizer)
        self.train_loader = train_loader
        if resume is not None:
            self.load_checkpoint(resume)
        self.stop_training = False
        start = time.perf_counter()
        self._progress = Progress(quiet=self.quiet)
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            while self.epoch < epochs and not self.stop_training:
                logs = self._run_epoch(train_loader, val_loader, epochs)
                self.history.append(logs)
                done = self.epoch
                self.epoch += 1  # a checkpoint written by a callback below resumes after it
                for cb in self.callbacks:
                    cb.on_epoch_end(self, done, logs)
                self._progress.epoch_end(done, epochs, logs)
        finally:
            self.wall_time += time.perf_counter() - start
            self._progress.close()
        for cb in self.callbacks:
            cb.on_train_end(self)
        if not self.quiet:
            self._progress.summary(self)
        return self.history

    def _run_epoch(self, loader: Iterable, val_loader: Iterable | None, epochs: int) -> dict:
        resumed_mid_epoch = self._epoch_loss_count > 0
        if not resumed_mid_epoch:
            self._epoch_loss_sum, self._epoch_loss_count = 0.0, 0
            for m in self.metrics:
                m.reset()
            for cb in self.callbacks:
                cb.on_epoch_begin(self, self.epoch)
        self.model.train()
        set_sampler_epoch(loader, self.epoch)  # a DistributedSampler's shard of this epoch
        total = len(loader) if hasattr(loader, "__len__") else None
        bar = self._progress.epoch_bar(self.epoch, epochs, total)
        t0 = time.perf_counter()
        for batch in loader:
            for cb in self.callbacks:
                cb.on_batch_begin(self, self.global_step)
            loss, output, target = self.train_step(batch)
            n = _batch_size(target)
            counted = not (self.skip_step and not math.isfinite(loss))  # NaNPolicy skipped it
            if counted:
                self._epoch_loss_sum += loss * n
                self._epoch_loss_count += n
            if self.metrics and counted:
                with no_grad():
                    for m in self.metrics:
                        m.update(output.detach(), target)
            self.global_step += 1
            logs = {"loss": loss, "lr": self.current_lr()}
            for cb in self.callbacks:
                cb.on_batch_end(self, self.global_step, logs)
            bar.advance(logs, time.perf_counter() - t0)
            if self.stop_training:
                break
        bar.close()
        if self.dist is not None:  # chainrule.distributed: sums over all ranks' data
            self._epoch_loss_sum, self._epoch_loss_count = self.dist.reduce_sums(
                self._epoch_loss_sum, self._epoch_loss_count, self.metrics)
        logs = {"loss": self._epoch_loss_sum / max(self._epoch_loss_count, 1)}
        for m in self.metrics:
            logs[m.name] = m.compute()
        if val_loader is not None:
            for k, v in self.evaluate(val_loader).items():
                logs[f"val_{k}"] = v
        logs["lr"] = self.current_lr()
        self._epoch_loss_sum, self._epoch_loss_count = 0.0, 0
        return logs

    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """Mean loss and metrics over ``loader`` in eval mode without recording a graph."""
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        metrics = [type(m)() if _default_constructible(m) else m for m in self.metrics]
        for m in metrics:
            m.reset()
        total, count = 0.0, 0
        with no_grad():
            for batch in loader:
                inputs, target = _split_batch(batch)
                output = _call(self.model, inputs)
                n = _batch_size(target)
                total += float(self.loss_fn(output, target).item()) * n
                count += n
                for m in metrics:
                    m.update(output, target)
        self.model.train(was_training)
        if self.dist is not None:  # chainrule.distributed: sums over all ranks' data
            total, count = self.dist.reduce_sums(total, count, metrics)
        out = {"loss": total / max(count, 1)}
        for m in metrics:
            out[m.name] = m.compute()
        return out

    def predict(self, loader: Iterable) -> Tensor:
        """The model's outputs over ``loader`` (inputs only or (inputs, target) batches)."""
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        outs = []
        with no_grad():
            for batch in loader:
                inputs = batch
                if isinstance(batch, (tuple, list)) and len(batch) >= 2:
                    inputs, _ = _split_batch(batch)
                outs.append(_call(self.model, inputs))
        self.model.train(was_training)
        return cat(outs, 0)

    def current_lr(self) -> float:
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups else math.nan

    def num_parameters(self) -> tuple[int, int]:
        """(trainable, total) parameter counts."""
        ps = list(self.model.parameters())
        return sum(p.numel() for p in ps if p.requires_grad), sum(p.numel() for p in ps)

    # ---- checkpoints ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything besides model and optimizer tensors that an exact resume needs."""
        from chainrule.train.checkpoint import generator_states

        loader_state = None
        if self.train_loader is not None and hasattr(self.train_loader, "state_dict"):
            loader_state = self.train_loader.state_dict()
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "epoch_loss": [self._epoch_loss_sum, self._epoch_loss_count],
            "metrics": [_metric_state(m) for m in self.metrics],
            "history": self.history.epochs,
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "loader": loader_state,
            "generators": generator_states(self.model),
            "config": self.config,
            "wall_time": self.wall_time,
        }

    def save_checkpoint(self, path: str) -> str:
        """Write ``model.safetensors``, ``optimizer.safetensors`` and ``trainer_state.json``
        into directory ``path`` atomically (see ``chainrule.train.checkpoint``)."""
        from chainrule.train.checkpoint import save_checkpoint

        if self.dist is not None and not self.dist.is_main:  # chainrule.distributed: rank 0
            return path
        return save_checkpoint(path, self.model, self.optimizer, self.state())

    def load_checkpoint(self, path: str) -> None:
        """Restore model, optimizer, loader position, generators, callbacks and counters."""
        from chainrule.serialization import CheckpointError
        from chainrule.train.checkpoint import (
            STATE_FILE,
            load_checkpoint,
            set_generator_states,
            validate_trainer_state,
        )

        state_file = f"{path}/{STATE_FILE}"
        state = load_checkpoint(path, self.model, self.optimizer,  # verified before it loads
                                check_state=validate_trainer_state)
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self._epoch_loss_sum, self._epoch_loss_count = state["epoch_loss"]
        for m, s in zip(self.metrics, state.get("metrics", [])):
            _set_metric_state(m, s)
        self.history = History(state.get("history", []))
        for cb, s in zip(self.callbacks, state.get("callbacks", [])):
            try:
                cb.load_state_dict(s)
            except (KeyError, TypeError, ValueError) as e:
                raise CheckpointError(state_file, f"state of callback {cb!r} does not fit "
                                                  f"({type(e).__name__}: {e})") from e
        if state.get("loader") is not None and hasattr(self.train_loader, "load_state_dict"):
            self.train_loader.load_state_dict(state["loader"])
        set_generator_states(self.model, state.get("generators", {}))
        self.wall_time = float(state.get("wall_time", 0.0))


def _check_hyperparameters(optimizer: Any) -> None:
    """Reject non-finite numbers and non-positive learning rates in the param groups: an
    ``lr=inf`` run would otherwise train on NaN and report a meaningless accuracy."""
    for i, group in enumerate(getattr(optimizer, "param_groups", None) or []):
        for key, v in group.items():
            if key == "params" or isinstance(v, bool):
                continue
            values = v if isinstance(v, (tuple, list)) else (v,)
            for x in values:
                if isinstance(x, (int, float, np.number)) and not math.isfinite(float(x)):
                    raise ValueError(f"optimizer param_groups[{i}][{key!r}] = {v!r} is not "
                                     "finite")
        lr = group.get("initial_lr", group.get("lr"))  # a scheduler's warm-up may start at 0
        if isinstance(lr, (int, float, np.number)) and not lr > 0:
            raise ValueError(f"optimizer param_groups[{i}]['lr'] = {lr!r}: the learning rate "
                             "must be positive")


def _default_constructible(m: Metric) -> bool:
    try:
        type(m)()
    except TypeError:
        return False
    return True


def _metric_state(m: Metric) -> dict[str, Any]:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in vars(m).items()}


def _set_metric_state(m: Metric, state: dict[str, Any]) -> None:
    for k, v in state.items():
        cur = getattr(m, k, None)
        setattr(m, k, np.asarray(v, dtype=cur.dtype) if isinstance(cur, np.ndarray) else v)
