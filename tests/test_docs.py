"""The user documentation runs: every ```python block of docs/index.md, methodology.md,
pytorch.md, diagnostics.md and ops.md is executed, so the docs cannot drift from the code.

How: each page's blocks run top to bottom in ONE namespace per page (a page reads as one
session: later snippets use names defined earlier, as in docs/optim.md), in a temporary working
directory (snippets that save files write there), with BLAS limited to one thread (the snippets
multiply small matrices, which several BLAS threads on a busy machine slow down a hundredfold).
Every block must print something (the docs promise output to look at), except pure set-up
blocks (imports and assignments only), and after a page has run
its own claims are checked against the namespace it left: the numbers the prose quotes.
Other pages are tested elsewhere: docs/optim.md in tests/optim/test_docs_optim.py,
docs/constrained.md in tests/constrained/test_problems.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = ("index.md", "methodology.md", "pytorch.md", "diagnostics.md", "ops.md")
MIN_BLOCKS = {"index.md": 1, "methodology.md": 25, "pytorch.md": 6, "diagnostics.md": 8,
              "ops.md": 3}


def _blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _setup_only(block: str) -> bool:
    """True for a block of imports and plain assignments (set-up that need not print)."""
    return all(isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign))
               for n in ast.parse(block).body)


def _run_page(name: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
              tmp_path: Path) -> dict:
    from threadpoolctl import threadpool_limits

    path = DOCS / name
    blocks = _blocks(path.read_text(encoding="utf-8"))
    assert len(blocks) >= MIN_BLOCKS[name], f"{name}: only {len(blocks)} python blocks"
    monkeypatch.chdir(tmp_path)
    env: dict = {"__name__": f"docs_{path.stem}"}
    with threadpool_limits(limits=1):
        for i, block in enumerate(blocks):
            exec(compile(block, f"{path}:block{i}", "exec"), env)
            out = capsys.readouterr().out
            first = block.strip().splitlines()[0]
            assert out.strip() or _setup_only(block), \
                f"{name}, block {i} ({first!r}) printed nothing"
    return env


def test_index(capsys, monkeypatch, tmp_path):
    env = _run_page("index.md", capsys, monkeypatch, tmp_path)
    assert env["loss"].item() < 0.1


def test_methodology(capsys, monkeypatch, tmp_path):
    env = _run_page("methodology.md", capsys, monkeypatch, tmp_path)
    # a bare perceptron is linear: the stack equals one layer, and cannot fit XOR
    assert env["linear_acc"] <= 0.75 and env["relu_acc"] == 1.0
    # steepest descent: the best sampled direction is -∇f/‖∇f‖
    assert env["angle"] < 2.0
    assert env["slopes"].min() == pytest.approx(-np.linalg.norm(env["grad_f"]), rel=1e-3)
    # Newton is second order: ‖g‖ roughly squares; GD far behind after 100 steps
    norms = env["newton_norms"]
    assert norms[-1] < 1e-9 and norms[-1] < norms[-2] ** 1.5
    assert env["w_gd"].grad.norm().item() > 1e3 * norms[-1]
    # AdaGrad sums (step γ/√t), RMSProp averages (step → γ); Adam equations and bias correction
    ada, rms = env["ada"], env["rms"]
    np.testing.assert_allclose(ada[[0, 99, 999]], 0.1 / np.sqrt([1, 100, 1000]), rtol=1e-6)
    assert rms[0] == pytest.approx(1.0, rel=1e-5) and rms[-1] == pytest.approx(0.1, rel=1e-3)
    assert np.abs(env["theta_hand"] - env["w_adam"].detach().numpy()).max() < 1e-12
    np.testing.assert_allclose(env["step_sizes"](env["optim"].Adam, n=2, lr=0.1), 0.1)
    # backprop equals the chain rule by hand
    assert env["dw"] == pytest.approx(env["by_hand"], rel=1e-12)
    # skip connections: deep plain does not train, deep residual does
    assert env["train_loss"].item() < 0.1  # the last configuration run is residual-20
    # overfitting is detected; ridge closed form equals GD on the penalised loss
    assert env["verdict"].verdict == "overfitting"
    np.testing.assert_allclose(env["theta_gd"].detach().numpy(), env["ridge"], atol=1e-6)
    # masked BN takes its statistics over the real steps only
    np.testing.assert_allclose(env["masked"].running_mean.numpy(), env["real"].mean(1),
                               rtol=1e-5, atol=1e-6)


def test_pytorch(capsys, monkeypatch, tmp_path):
    env = _run_page("pytorch.md", capsys, monkeypatch, tmp_path)
    assert env["acc"] > 0.8
    np.testing.assert_array_equal(env["x"].grad.numpy(), [0.0, 2.0, 2.0, 0.0])
    assert isinstance(env["adam"].state[env["w"]]["step"], float)
    assert (tmp_path / "checkpoint.safetensors").exists()
    assert tuple(env["per_example"]["0.weight"].shape) == (8, 32, 2)
    assert type(env["lazy"][3]) is env["torch"].nn.Linear and env["lazy"][3].in_features == 32
    assert env["scale_after"] == 128.0  # GradScaler backed off after the inf step


def test_diagnostics(capsys, monkeypatch, tmp_path):
    env = _run_page("diagnostics.md", capsys, monkeypatch, tmp_path)
    assert env["report"].verdict("gradient_flow") == "vanishing"
    assert env["tracker"].dead_fraction > 0.5
    np.testing.assert_allclose(env["top"], env["exact"], rtol=1e-6)
    assert env["D"].grid_local_minima(env["grid"].losses) == 1
    assert env["section"]["numbers"]["curvature"]["lambda_max"] > 0


def test_methodology_sections_have_snippets_and_lab_ids():
    """Every top-level section of the methodology page shows its claim with a snippet, and
    every experiment the lab registers is listed in the page's table of claims."""
    text = (DOCS / "methodology.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    without = [s.splitlines()[0] for s in sections if "```python" not in s]
    assert without == ["What deep learning studies", "Where each claim is measured"], without
    table = text[text.index("## Where each claim is measured"):]
    listed = set(re.findall(r"^\| ([A-F][0-9][a-z]?)(?:–[A-F]([0-9]))? \|", table, flags=re.M))
    ids = set()
    for first, last in listed:
        ids.add(first)
        if last:  # a range such as C4–C7
            ids.update(f"{first[0]}{k}" for k in range(int(first[1]), int(last) + 1))
    from chainrule.lab.experiment import registry

    missing = sorted(set(registry()) - ids)
    assert not missing, f"lab experiments not described in docs/methodology.md: {missing}"


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_resolve(page):
    text = re.sub(r"^```.*?^```", "", (DOCS / page).read_text(encoding="utf-8"),
                  flags=re.S | re.M)
    targets = re.findall(r"\]\(([\w./-]+?)(?:#[^)]*)?\)", text)
    broken = [t for t in targets if not (DOCS / t).exists()]
    assert not broken, f"{page}: broken links {broken}"


def test_quick_start_commands(capsys):
    """The shell commands of the quick start (docs/index.md) exist and parse."""
    from chainrule.cli import build_parser, main

    assert main(["lab", "--list"]) == 0
    assert re.search(r"^A1 ", capsys.readouterr().out, flags=re.M)
    parser = build_parser()
    for argv in (["train"], ["train", "--model", "mlp", "--epochs", "3", "--lr", "0.01"],
                 ["train", "--resume", "runs/x/checkpoints/last"], ["summary", "cnn"]):
        assert parser.parse_args(argv).command == argv[0]
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    for command in ("chainrule lab --quick", "chainrule lab --list", "chainrule train"):
        assert command in text


def test_ops(capsys, monkeypatch, tmp_path):
    """The worked example of a new op: exact first derivatives, both checks pass."""
    env = _run_page("ops.md", capsys, monkeypatch, tmp_path)
    assert env["first_err"] < 1e-15
    assert env["ok1"] and env["ok2"]
    assert abs(env["atan2"](env["y"], env["x"])[0].item() - np.pi / 4) < 1e-15
