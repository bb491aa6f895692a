"""``chainrule lab``: run the methodology lab (or ``chainrule lab mnist1d``)."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chainrule lab",
        description="Measure each claim of the methodology note and write a report with "
                    "verdicts and plots (runs/lab-<timestamp>/).",
    )
    p.add_argument("target", nargs="?", choices=["mnist1d"],
                   help="'mnist1d': the MNIST-1D benchmark table instead of the claims")
    p.add_argument("--quick", action="store_true",
                   help="smaller budgets: the whole lab in 3-4 minutes on 2 cores")
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these experiments")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (>= 3 for verdicts)")
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
    from chainrule.lab.runner import run

    try:
        out_dir, results = run(only=args.only, quick=args.quick,
                               seeds=tuple(range(args.seeds)), out_root=args.out,
                               quiet=args.quiet)
    except KeyError as e:
        print(f"chainrule lab: error: {e.args[0]}", file=sys.stderr)
        return 2
    print(f"report: {out_dir}/report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
