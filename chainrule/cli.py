"""The ``chainrule`` command: ``train``, ``lab``, ``summary``, ``export``, ``bench``, ``--version``.

``chainrule train`` with no arguments trains the MNIST-1D CNN of Greydanus & Kobak on the
locally generated MNIST-1D data set and writes ``runs/<timestamp>-<name>/`` (config,
metrics, checkpoints, plots, report.html).

Held-out discipline: a validation split (``--val-fraction`` of the training set, drawn with
the run's seed) selects the best checkpoint and drives early stopping; the test split is
evaluated once, at the end, on the best-validation checkpoint, and reported separately.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tomllib
from typing import Any

DATASETS = ("mnist1d", "mnist1d-shuffled", "digits", "spirals")


@dataclasses.dataclass
class TrainConfig:
    """Settings of ``chainrule train`` (from ``--config run.toml`` and/or flags)."""

    model: str = "cnn"
    data: str = "mnist1d"
    epochs: int = 15
    batch_size: int = 100
    optimizer: str = "adam"
    lr: float = 1e-2
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"
    early_stopping: int = 0
    seed: int = 0
    max_train: int = 0
    name: str = ""
    runs_dir: str = "runs"
    quiet: bool = False
    resume: str = ""
    distributed: bool = False  # data-parallel over MPI ranks (auto under mpirun)
    val_fraction: float = 0.1  # of the training set, held out to select the checkpoint
    nan_policy: str = "raise"  # what a non-finite loss or gradient does: raise, skip, stop
    # each step as a chainrule.compile program where its guards allow (bitwise equal to eager;
    # CHAINRULE_NO_COMPILE=1 turns it off whatever this says)
    compile: bool = True
    # runs of elementwise calls of the compiled step as Numba kernels (chainrule.compile's
    # fuse=True: equal to eager to 1e-6; needs the fast extra, chainrule[fast])
    fuse: bool = False

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad key and value."""
        from chainrule.zoo import MODELS

        def finite(x: float) -> bool:
            return math.isfinite(x)

        checks = [
            ("model", self.model in MODELS, f"one of {sorted(MODELS)}"),
            ("data", self.data in DATASETS, f"one of {list(DATASETS)}"),
            ("epochs", self.epochs >= 1, "an integer >= 1"),
            ("batch_size", self.batch_size >= 1, "an integer >= 1"),
            ("optimizer", self.optimizer in ("sgd", "adam", "adamw", "rmsprop", "adagrad"),
             "one of sgd, adam, adamw, rmsprop, adagrad"),
            ("lr", finite(self.lr) and self.lr > 0, "a finite positive number"),
            ("momentum", finite(self.momentum) and 0 <= self.momentum < 1,
             "a number in [0, 1)"),
            ("scheduler", self.scheduler in ("none", "cosine", "step", "plateau"),
             "one of none, cosine, step, plateau"),
            ("weight_decay", finite(self.weight_decay) and self.weight_decay >= 0,
             "a finite number >= 0"),
            ("early_stopping", self.early_stopping >= 0, "0 (off) or a patience >= 1"),
            ("max_train", self.max_train >= 0, "0 (all) or a positive integer"),
            ("val_fraction", finite(self.val_fraction) and 0 < self.val_fraction < 1,
             "a fraction of the training set in (0, 1)"),
            ("nan_policy", self.nan_policy in ("raise", "skip", "stop"),
             "one of raise, skip, stop"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise ValueError(
                    f"config: bad value for {key!r}: {getattr(self, key)!r} (expected {expected})"
                )


def load_config(path: str | None, overrides: dict[str, Any]) -> TrainConfig:
    """Read a TOML file (top level or a ``[train]`` table), apply flag overrides, validate."""
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"config {path}: invalid TOML ({e})") from e
        values = raw.get("train", raw)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for key in values:
        if key not in fields:
            raise ValueError(
                f"config {path}: unknown key {key!r} (known keys: {sorted(fields)})"
            )
    values.update({k: v for k, v in overrides.items() if v is not None})
    cfg = TrainConfig()
    for key, value in values.items():
        expected = type(getattr(cfg, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(
                f"config: bad value for {key!r}: {value!r} (expected {expected.__name__})"
            )
        setattr(cfg, key, value)
    cfg.validate()
    return cfg


def _val_split(n: int, fraction: float, seed: int) -> tuple[Any, Any]:
    """(train indices, validation indices): ``round(fraction * n)`` examples (at least one)
    drawn without replacement with a generator seeded by ``(seed, 1)``, both sorted."""
    import numpy as np

    n_val = max(1, int(round(fraction * n)))
    if n_val >= n:
        raise ValueError(f"config: val_fraction {fraction} leaves no training examples out of {n}")
    order = np.random.default_rng((seed, 1)).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _data(cfg: TrainConfig) -> tuple[Any, Any, Any, int]:
    """(train, validation, test datasets, number of classes) as TensorDatasets; the
    validation set is carved from the training set (after ``max_train``)."""
    import numpy as np

    from chainrule import datasets
    from chainrule.tensor import from_numpy
    from chainrule.utils.data import TensorDataset

    if cfg.data.startswith("mnist1d"):
        d = datasets.mnist1d_arrays(shuffle_seq=cfg.data.endswith("shuffled"))
        xtr, ytr, xte, yte = d["x"], d["y"], d["x_test"], d["y_test"]
    else:
        if cfg.data == "digits":
            x, y = datasets.load_digits()[:2]
        else:
            x, y = datasets.spirals(1500, n_classes=3, seed=cfg.seed)
        order = np.random.default_rng(cfg.seed).permutation(len(y))
        cut = int(0.75 * len(y))
        xtr, ytr, xte, yte = x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]
    if cfg.model in ("digits_cnn",) and xtr.ndim == 2:
        side = int(round(xtr.shape[1] ** 0.5))
        xtr, xte = xtr.reshape(-1, 1, side, side), xte.reshape(-1, 1, side, side)
    if cfg.max_train:
        xtr, ytr = xtr[: cfg.max_train], ytr[: cfg.max_train]
    xtr, xte = xtr.astype(np.float32), xte.astype(np.float32)
    ytr, yte = ytr.astype(np.int64), yte.astype(np.int64)
    n_classes = int(max(ytr.max(), yte.max()) + 1)
    tr, va = _val_split(len(ytr), cfg.val_fraction, cfg.seed)
    return (TensorDataset(from_numpy(xtr[tr]), from_numpy(ytr[tr])),
            TensorDataset(from_numpy(xtr[va]), from_numpy(ytr[va])),
            TensorDataset(from_numpy(xte), from_numpy(yte)), n_classes)


def _model(cfg: TrainConfig, input_shape: tuple[int, ...], n_classes: int) -> Any:
    from chainrule import zoo

    if cfg.model in ("logistic",):
        return zoo.logistic(input_shape[-1], n_classes)
    if cfg.model == "mlp":
        return zoo.MNIST1DMLP(input_shape[-1], 100, n_classes)
    if cfg.model == "gru":
        return zoo.MNIST1DGRU(6, input_shape[-1], n_classes)
    if cfg.model == "digits_cnn":
        return zoo.digits_cnn(n_classes)
    return zoo.build(cfg.model)


def _optimizer(cfg: TrainConfig, params: Any) -> Any:
    from chainrule import optim

    if cfg.optimizer == "sgd":
        return optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
           "adagrad": optim.Adagrad}[cfg.optimizer]
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _scheduler(cfg: TrainConfig, opt: Any) -> Any:
    from chainrule.optim import lr_scheduler

    if cfg.scheduler == "cosine":
        return lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if cfg.scheduler == "step":
        return lr_scheduler.StepLR(opt, step_size=max(cfg.epochs // 3, 1), gamma=0.1)
    if cfg.scheduler == "plateau":
        return lr_scheduler.ReduceLROnPlateau(opt, patience=2)
    return None


def _resume_run_dir(path: str) -> str:
    """The run directory of a ``--resume`` path, after verifying the checkpoint there.

    Nothing is written before this check: a mistyped path must not create or overwrite files.
    """
    from chainrule.train.checkpoint import read_state, validate_trainer_state

    state_file = os.path.join(path, "trainer_state.json")
    validate_trainer_state(read_state(path), state_file)  # CheckpointError names the problem
    checkpoints = os.path.dirname(os.path.abspath(path))
    if os.path.basename(checkpoints) != "checkpoints":
        raise ValueError(f"--resume {path}: expected a checkpoint of a run directory, "
                         "runs/<run>/checkpoints/last (or .../best)")
    return os.path.dirname(checkpoints)


def _test_once(trainer: Any, run_dir: str, test_loader: Any, dist: Any) -> dict[str, Any]:
    """Load the best-validation checkpoint and evaluate the test split on it, once.

    Returns ``{"best_epoch", "val_accuracy", "test_loss", "test_accuracy"}`` (empty when no
    epoch produced a finite validation accuracy, so there is no checkpoint to test)."""
    from chainrule.train.checkpoint import load_checkpoint

    best = os.path.join(run_dir, "checkpoints", "best")
    if dist is not None:
        dist.comm.barrier()  # rank 0 wrote the checkpoint; the others read it
    if not os.path.exists(best):
        return {}
    state = load_checkpoint(best, trainer.model)
    epoch = int(state["epoch"]) - 1  # the counter is saved after the epoch is done
    val = state["history"][epoch].get("val_accuracy", math.nan) if state["history"] else math.nan
    test = trainer.evaluate(test_loader)
    return {"best_epoch": epoch, "val_accuracy": val, "test_loss": test["loss"],
            "test_accuracy": test.get("accuracy", math.nan)}


def run_train(cfg: TrainConfig) -> dict[str, Any]:
    """Train as configured; returns final metrics, the held-out test result and the run
    directory."""
    import chainrule
    from chainrule import nn
    from chainrule.distributed.integration import cli_context
    from chainrule.train import EarlyStopping, JSONLLogger, ModelCheckpoint, NaNPolicy, Trainer
    from chainrule.train.report import new_run_dir, write_json, write_run_report
    from chainrule.utils.data import DataLoader

    resume_dir = _resume_run_dir(cfg.resume) if cfg.resume else None  # before any write
    dist = cli_context(cfg.distributed)  # chainrule.distributed: None in one process
    main_rank = dist is None or dist.is_main
    cfg.quiet = cfg.quiet or not main_rank
    chainrule.manual_seed(cfg.seed)
    train_ds, val_ds, test_ds, n_classes = _data(cfg)
    input_shape = tuple(train_ds.tensors[0].shape[1:])
    model = _model(cfg, input_shape, n_classes)
    if dist is not None:
        model = dist.wrap_model(model)
    opt = _optimizer(cfg, model.parameters())
    sched = _scheduler(cfg, opt)
    run_dir = (resume_dir if resume_dir is not None
               else new_run_dir(cfg.runs_dir, cfg.name or f"{cfg.model}-{cfg.data}")
               if main_rank else "")
    if dist is not None:  # rank 0 made the run directory; the others use it
        run_dir = dist.comm.broadcast_object(run_dir)
    if main_rank:
        write_json(os.path.join(run_dir, "config.json"), dataclasses.asdict(cfg))
    g = chainrule.Generator().manual_seed(cfg.seed)
    train_loader = (DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, generator=g)
                    if dist is None else DataLoader(train_ds, batch_size=cfg.batch_size,
                                                    sampler=dist.sampler(train_ds, cfg.seed)))
    val_loader = DataLoader(val_ds, batch_size=1000)
    test_loader = DataLoader(test_ds, batch_size=1000)
    logger = JSONLLogger(os.path.join(run_dir, "metrics.jsonl"))
    nan_policy = NaNPolicy(cfg.nan_policy)
    callbacks: list[Any] = [
        nan_policy, logger,
        ModelCheckpoint(os.path.join(run_dir, "checkpoints"), monitor="val_accuracy"),
    ]
    if cfg.early_stopping:
        callbacks.append(EarlyStopping("val_loss", patience=cfg.early_stopping,
                                       restore_best_weights=True))
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, callbacks=callbacks,
                      metrics=["accuracy"], run_dir=run_dir, quiet=cfg.quiet,
                      config=dataclasses.asdict(cfg), compile=cfg.compile,
                      fuse=cfg.fuse)
    history = trainer.fit(train_loader, val_loader, epochs=cfg.epochs,
                          resume=cfg.resume or None)
    if nan_policy.reason:
        print(f"chainrule train: warning: training {nan_policy.reason}", file=sys.stderr)
    test = _test_once(trainer, run_dir, test_loader, dist)
    if main_rank and test:
        logger.log({"kind": "test", "epoch": test["best_epoch"], "step": trainer.global_step,
                    **{k: v for k, v in test.items() if k != "best_epoch"}})
    report = write_run_report(run_dir, trainer, title=f"chainrule train: {cfg.model} on "
                                                      f"{cfg.data}", test=test or None,
                              stopped=nan_policy.reason) if main_rank else None
    final = history.epochs[-1] if len(history) else {}
    if not cfg.quiet:
        if test:
            print(f"best epoch {test['best_epoch'] + 1}: validation accuracy "
                  f"{test['val_accuracy']:.4f}; test accuracy {test['test_accuracy']:.4f} "
                  "(evaluated once, on the best-validation checkpoint)")
        else:
            print("no epoch had a finite validation accuracy: the test split was not evaluated")
        print(f"report: {report}")
    return {"run_dir": run_dir, "report": report, "final": final, "test": test}


def _cmd_train(args: argparse.Namespace) -> int:
    from chainrule.serialization import CheckpointError
    from chainrule.train import NonFiniteError

    overrides = {k: getattr(args, k) for k in ("model", "data", "epochs", "batch_size", "lr",
                                               "optimizer", "seed", "name", "resume",
                                               "max_train", "runs_dir", "distributed",
                                               "val_fraction", "nan_policy", "compile",
                                               "fuse")}
    if args.quiet:
        overrides["quiet"] = True
    cfg = load_config(args.config, overrides)
    if cfg.fuse:  # (before the data is read: a missing extra fails at once)
        from chainrule.train.trainer import _check_fuse

        try:
            _check_fuse(True, cfg.compile)
        except ImportError as e:
            print(f"chainrule train: error: --fuse: {e}", file=sys.stderr)
            return 2
    try:
        run_train(cfg)
    except CheckpointError as e:
        print(f"chainrule train: error: checkpoint {e}", file=sys.stderr)
        return 2
    except NonFiniteError as e:
        print(f"chainrule train: error: training diverged at {e}; lower --lr, or pass "
              "--nan-policy skip (skip such steps) or stop (keep the best checkpoint)",
              file=sys.stderr)
        return 1
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from chainrule import zoo
    from chainrule.nn.summary import summary

    model = zoo.build(args.model)
    shape = tuple(args.input_shape) if args.input_shape else zoo.INPUT_SHAPES[args.model]
    summary(model, input_size=(args.batch_size, *shape))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from chainrule import zoo
    from chainrule.onnx_export import export_onnx

    model = zoo.build(args.model)
    if args.checkpoint:
        import chainrule

        model.load_state_dict(chainrule.load(args.checkpoint))
    shape = zoo.INPUT_SHAPES[args.model]
    path = export_onnx(model, (1, *shape), args.output or f"{args.model}.onnx")
    print(f"wrote {path}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.__main__ import main as bench_main

    return int(bench_main(args.rest) or 0)


def _cmd_lab(args: argparse.Namespace) -> int:
    from chainrule.lab.cli import main as lab_main

    return int(lab_main(args.rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    import chainrule

    p = argparse.ArgumentParser(prog="chainrule", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"chainrule {chainrule.__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on bundled data")
    t.add_argument("--config", help="TOML file with the settings (flags override it)")
    t.add_argument("--model", help="cnn (default), mlp, logistic, gru, digits_cnn")
    t.add_argument("--data", help=f"one of {', '.join(DATASETS)}")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", dest="batch_size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--optimizer")
    t.add_argument("--seed", type=int)
    t.add_argument("--name")
    t.add_argument("--max-train", dest="max_train", type=int)
    t.add_argument("--runs-dir", dest="runs_dir")
    t.add_argument("--resume", help="a checkpoint directory (runs/.../checkpoints/last)")
    t.add_argument("--val-fraction", dest="val_fraction", type=float,
                   help="fraction of the training set held out for validation (default 0.1); "
                        "it selects the best checkpoint, the test split is evaluated once")
    t.add_argument("--nan-policy", dest="nan_policy", choices=("raise", "skip", "stop"),
                   help="on a non-finite loss or gradient: raise (default, exit 1), skip the "
                        "step, or stop training and keep the best checkpoint")
    t.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="run each training step as a chainrule.compile program where its "
                        "guards allow (default; bitwise equal to eager); --no-compile runs "
                        "eagerly. CHAINRULE_NO_COMPILE=1 turns compilation off everywhere")
    t.add_argument("--fuse", action="store_true", default=None,
                   help="fuse the compiled step's runs of elementwise calls into Numba kernels "
                        "(equal to eager to 1e-6, not bit for bit); needs the fast extra: "
                        "pip install 'chainrule[fast]'")
    t.add_argument("--quiet", action="store_true")
    t.add_argument("--distributed", action="store_true", default=None,
                   help="data-parallel over MPI ranks (automatic under mpirun; --batch-size is "
                        "per rank): mpirun -np N python -m mpi4py -m chainrule train ...")
    t.set_defaults(func=_cmd_train)

    s = sub.add_parser("summary", help="print a layer table of a zoo model")
    s.add_argument("model")
    s.add_argument("--input-shape", type=int, nargs="+")
    s.add_argument("--batch-size", type=int, default=1)
    s.set_defaults(func=_cmd_summary)

    e = sub.add_parser("export", help="export a zoo model (extra 'onnx')")
    e.add_argument("model")
    e.add_argument("--onnx", action="store_true", help="ONNX format (the only one)")
    e.add_argument("--checkpoint", help="a model.safetensors to load first")
    e.add_argument("--output", "-o")
    e.set_defaults(func=_cmd_export)

    b = sub.add_parser("bench", help="run the benchmarks against PyTorch")
    b.add_argument("rest", nargs=argparse.REMAINDER)
    b.set_defaults(func=_cmd_bench)

    lab = sub.add_parser("lab", help="run the methodology lab")
    lab.add_argument("rest", nargs=argparse.REMAINDER)
    lab.set_defaults(func=_cmd_lab)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``chainrule`` command."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    passthrough = {"lab": _cmd_lab, "bench": _cmd_bench}
    if argv and argv[0] in passthrough:
        # their own parsers read the rest: argparse's REMAINDER rejects leading options
        # ("chainrule lab --quick" failed with "unrecognized arguments")
        args = argparse.Namespace(command=argv[0], rest=argv[1:], func=passthrough[argv[0]])
    else:
        args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"chainrule {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
