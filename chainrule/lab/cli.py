"""``chainrule lab``: run the methodology lab (or ``chainrule lab mnist1d``)."""

from __future__ import annotations

import argparse
import sys

MIN_SEEDS = 3


def _seed_count(text: str) -> int:
    """``--seeds N``: an integer >= 3 (a t interval needs n − 1 >= 2 degrees of freedom)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds must be an integer, got {text!r}") from None
    if n < MIN_SEEDS:
        raise argparse.ArgumentTypeError(
            f"--seeds {n} is refused: the verdict rule needs at least {MIN_SEEDS} paired seeds "
            f"(5 or more recommended; --quick uses 5, the full run 10)")
    return n


def _job_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--jobs must be an integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"--jobs must be >= 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chainrule lab",
        description="Measure each claim of the methodology note and write a report with "
                    "verdicts and plots (runs/lab-<timestamp>/).",
    )
    p.add_argument("target", nargs="?", choices=["mnist1d"],
                   help="'mnist1d': the MNIST-1D benchmark table instead of the claims")
    p.add_argument("--quick", action="store_true",
                   help="smaller budgets and 5 seeds (the full run uses 10)")
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these experiments")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--seeds", type=_seed_count, default=None, metavar="N",
                   help="number of paired seeds, >= 3 (default: 5 with --quick, else 10)")
    p.add_argument("--jobs", type=_job_count, default=None, metavar="N",
                   help="worker processes (default: one per core)")
    p.add_argument("--tune", action="store_true",
                   help="search each arm's hyper-parameter grid on the validation split "
                        "(full run) instead of reading the tuned values")
    p.add_argument("--out", default="runs", help="root folder for the run (default runs/)")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from chainrule.lab.experiment import registry

    if args.list:
        for exp_id, cls in registry().items():
            flag = "  (slow: full run or --only)" if cls.slow else ""
            print(f"{exp_id:4s} {cls.title}{flag}")
        return 0
    if args.target == "mnist1d":
        from chainrule.lab.mnist1d import main as mnist1d_main

        return mnist1d_main(quick=args.quick, out_root=args.out, quiet=args.quiet)
    from chainrule.lab.experiment import FULL_SEEDS, QUICK_SEEDS
    from chainrule.lab.runner import run

    seeds = (tuple(range(args.seeds)) if args.seeds is not None
             else QUICK_SEEDS if args.quick else FULL_SEEDS)
    try:
        out_dir, results = run(only=args.only, quick=args.quick, seeds=seeds,
                               out_root=args.out, quiet=args.quiet, jobs=args.jobs,
                               tune=args.tune)
    except KeyError as e:
        print(f"chainrule lab: error: {e.args[0]}", file=sys.stderr)
        return 2
    print(f"report: {out_dir}/report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
