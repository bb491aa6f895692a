"""Run PyTorch programs unchanged on real PyTorch or on chainrule.

The programs in this folder are written as a PyTorch user writes them (``import torch``,
``import torch.nn as nn``, ``from torch.utils.data import DataLoader`` ...). With
``--backend chainrule`` nothing in a program changes: an import hook answers every import of
``torch`` / ``torch.<sub>`` with chainrule's module of the same path (``torch.nn.functional``
-> ``chainrule.nn.functional``), and ``torchvision.<sub>`` with ``chainrule.vision.<sub>``.
With ``--backend torch`` the imports go to PyTorch as usual.

Each program runs in a fresh ``__main__`` namespace (``runpy``), its stdout is captured, and the
last ``METRIC <name> <value>`` line it printed is reported. One line per program goes to
stdout, prefixed ``RESULT `` and followed by JSON::

    RESULT {"program": "bigram_counts.py", "ok": true, "metric": "nll", "value": 2.41,
            "seconds": 0.8, "error": null}

Usage::

    python examples/pytorch_idioms/run.py --backend chainrule            # every program
    python examples/pytorch_idioms/run.py --backend torch tiny_gpt.py    # some of them
    python examples/pytorch_idioms/run.py --compare                      # a table of both
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import io
import json
import os
import re
import runpy
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
METRIC_LINE = re.compile(r"^METRIC (\S+) (\S+)\s*$")

# The top-level names a program may import and the chainrule package that answers for each.
ALIASES: dict[str, str] = {"torch": "chainrule", "torchvision": "chainrule.vision"}


def _target(fullname: str) -> str | None:
    """The chainrule module that stands for ``fullname``, or None if it is not a torch name."""
    top, _, rest = fullname.partition(".")
    if top not in ALIASES:
        return None
    return ALIASES[top] + ("." + rest if rest else "")


class _ExistingModuleLoader(importlib.abc.Loader):
    """Hands an already-imported module to the import system under another name."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self.module

    def exec_module(self, module: ModuleType) -> None:
        # The module ran when it was imported under its own name; running it twice would
        # create a second copy of every class.
        return None


class TorchToChainrule(importlib.abc.MetaPathFinder):
    """Answers ``import torch...`` / ``import torchvision...`` with chainrule's modules.

    Only the import changes: the program sees chainrule's module objects themselves, so
    ``torch.nn.Linear is chainrule.nn.Linear``.
    """

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        name = _target(fullname)
        if name is None:
            return None
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name is not None and (name == err.name or name.startswith(err.name + ".")):
                # Say which torch module is missing, not which chainrule file.
                raise ModuleNotFoundError(
                    f"chainrule has no counterpart of module {fullname!r} ({name!r})",
                    name=fullname) from None
            raise
        return importlib.machinery.ModuleSpec(fullname, _ExistingModuleLoader(module))


def install_chainrule_imports() -> None:
    """Make ``torch`` and ``torchvision`` imports resolve to chainrule from now on."""
    for name in list(sys.modules):
        if _target(name) is not None:
            del sys.modules[name]
    sys.meta_path.insert(0, TorchToChainrule())


WARM_UP = """
import torch
import torch.nn.functional as F
model = torch.nn.Linear(3, 1)
opt = torch.optim.Adam(model.parameters())
loss = F.mse_loss(model(torch.randn(4, 3)), torch.zeros(4, 1))
loss.backward()
opt.step()
"""


def warm_up() -> None:
    """Import what every program uses before the clock starts, so that a library's one-off
    lazy imports (PyTorch loads its compiler stack on the first optimizer step) are not
    charged to whichever program happens to run first."""
    exec(compile(WARM_UP, "<warm-up>", "exec"), {"__name__": "__warm_up__"})


def run_program(path: Path) -> dict[str, object]:
    """Run one program in a fresh ``__main__`` namespace; return its RESULT record."""
    out = io.StringIO()
    start = time.perf_counter()
    error: str | None = None
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)          # files a program writes (checkpoints) land in a scratch dir
        try:
            with contextlib.redirect_stdout(out):
                runpy.run_path(str(path), run_name="__main__")
        except BaseException as err:  # noqa: BLE001 - a failing program is a result, not a crash
            if isinstance(err, KeyboardInterrupt):
                raise
            tb = traceback.extract_tb(err.__traceback__)
            where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                          if Path(f.filename) == path), "?")
            error = f"{type(err).__name__} at {where}: {err}"
        finally:
            os.chdir(cwd)
    seconds = time.perf_counter() - start
    metric, value = None, None
    for line in out.getvalue().splitlines():
        match = METRIC_LINE.match(line)
        if match:
            metric, value = match.group(1), float(match.group(2))
    if error is None and metric is None:
        error = "the program printed no 'METRIC <name> <value>' line"
    return {"program": path.name, "ok": error is None, "metric": metric, "value": value,
            "seconds": round(seconds, 3), "error": error}


def programs(names: list[str]) -> list[Path]:
    """The programs named (a path, or a file name here; default: every ``*.py`` here except
    this runner)."""
    if names:
        return [Path(n).resolve() if Path(n).is_file() else HERE / Path(n).name for n in names]
    return sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)


def run_backend(backend: str, names: list[str]) -> dict[str, dict[str, object]]:
    """Every program's RESULT record from a fresh subprocess on ``backend``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parents[1]),
                                                      env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--backend", backend,
                           *names], env=env, capture_output=True, text=True, check=True)
    records = [json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines()
               if line.startswith("RESULT ")]
    return {r["program"]: r for r in records}


def compare(names: list[str]) -> None:
    """Run both backends one after the other (one BLAS thread each) and print a Markdown
    table: metric on each, seconds on each and their ratio (chainrule / torch)."""
    ref, got = run_backend("torch", names), run_backend("chainrule", names)
    print("| program | metric | torch | chainrule | torch s | chainrule s | ratio | chainrule |")
    print("|---|---|---|---|---|---|---|---|")
    for program in ref:
        r, g = ref[program], got[program]
        ratio = f"{g['seconds'] / r['seconds']:.1f}" if r["ok"] and g["ok"] else "-"
        status = "runs" if g["ok"] else f"fails: {g['error']}"[:120]
        print(f"| {program} | {r['metric'] or g['metric']} | {r['value']} | {g['value']} | "
              f"{r['seconds']:.2f} | {g['seconds']:.2f} | {ratio} | {status} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--backend", choices=("torch", "chainrule"))
    group.add_argument("--compare", action="store_true",
                       help="run both backends and print a table of metrics and times")
    parser.add_argument("programs", nargs="*",
                        help="paths, or file names in examples/pytorch_idioms")
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.programs)
        return 0
    if args.backend == "chainrule":
        install_chainrule_imports()
    warm_up()
    for path in programs(args.programs):
        print("RESULT " + json.dumps(run_program(path)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
