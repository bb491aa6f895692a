"""The ``chainrule`` command: ``train``, ``lab``, ``summary``, ``export``, ``bench``, ``--version``.

``chainrule train`` with no arguments trains the MNIST-1D CNN of Greydanus & Kobak on the
locally generated MNIST-1D data set and writes ``runs/<timestamp>-<name>/`` (config,
metrics, checkpoints, plots, report.html).
"""

from __future__ import annotations

import argparse
import dataclasses
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

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad key and value."""
        from chainrule.zoo import MODELS

        checks = [
            ("model", self.model in MODELS, f"one of {sorted(MODELS)}"),
            ("data", self.data in DATASETS, f"one of {list(DATASETS)}"),
            ("epochs", self.epochs >= 1, "an integer >= 1"),
            ("batch_size", self.batch_size >= 1, "an integer >= 1"),
            ("optimizer", self.optimizer in ("sgd", "adam", "adamw", "rmsprop", "adagrad"),
             "one of sgd, adam, adamw, rmsprop, adagrad"),
            ("lr", self.lr > 0, "a positive number"),
            ("scheduler", self.scheduler in ("none", "cosine", "step", "plateau"),
             "one of none, cosine, step, plateau"),
            ("weight_decay", self.weight_decay >= 0, "a number >= 0"),
            ("max_train", self.max_train >= 0, "0 (all) or a positive integer"),
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


def _data(cfg: TrainConfig) -> tuple[Any, Any, int]:
    """(train dataset, test dataset, number of classes) as TensorDatasets."""
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
    return (TensorDataset(from_numpy(xtr), from_numpy(ytr)),
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


def run_train(cfg: TrainConfig) -> dict[str, Any]:
    """Train as configured; returns final metrics and the run directory."""
    import chainrule
    from chainrule import nn
    from chainrule.distributed.integration import cli_context
    from chainrule.train import EarlyStopping, JSONLLogger, ModelCheckpoint, Trainer
    from chainrule.train.report import new_run_dir, write_json, write_run_report
    from chainrule.utils.data import DataLoader

    dist = cli_context(cfg.distributed)  # chainrule.distributed: None in one process
    main_rank = dist is None or dist.is_main
    cfg.quiet = cfg.quiet or not main_rank
    chainrule.manual_seed(cfg.seed)
    train_ds, test_ds, n_classes = _data(cfg)
    input_shape = tuple(train_ds.tensors[0].shape[1:])
    model = _model(cfg, input_shape, n_classes)
    if dist is not None:
        model = dist.wrap_model(model)
    opt = _optimizer(cfg, model.parameters())
    sched = _scheduler(cfg, opt)
    run_dir = (os.path.dirname(os.path.dirname(os.path.abspath(cfg.resume))) if cfg.resume
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
    test_loader = DataLoader(test_ds, batch_size=1000)
    callbacks: list[Any] = [
        JSONLLogger(os.path.join(run_dir, "metrics.jsonl")),
        ModelCheckpoint(os.path.join(run_dir, "checkpoints"), monitor="val_accuracy"),
    ]
    if cfg.early_stopping:
        callbacks.append(EarlyStopping("val_loss", patience=cfg.early_stopping,
                                       restore_best_weights=True))
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, callbacks=callbacks,
                      metrics=["accuracy"], run_dir=run_dir, quiet=cfg.quiet,
                      config=dataclasses.asdict(cfg))
    history = trainer.fit(train_loader, test_loader, epochs=cfg.epochs,
                          resume=cfg.resume or None)
    report = write_run_report(run_dir, trainer, title=f"chainrule train: {cfg.model} on "
                                                      f"{cfg.data}") if main_rank else None
    final = history.epochs[-1] if len(history) else {}
    if not cfg.quiet:
        print(f"test accuracy {final.get('val_accuracy', float('nan')):.4f}; report: {report}")
    return {"run_dir": run_dir, "report": report, "final": final}


def _cmd_train(args: argparse.Namespace) -> int:
    overrides = {k: getattr(args, k) for k in ("model", "data", "epochs", "batch_size", "lr",
                                               "optimizer", "seed", "name", "resume",
                                               "max_train", "runs_dir", "distributed")}
    if args.quiet:
        overrides["quiet"] = True
    cfg = load_config(args.config, overrides)
    run_train(cfg)
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
