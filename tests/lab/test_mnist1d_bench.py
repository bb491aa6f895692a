"""``chainrule lab mnist1d`` at a tiny budget: the table and the report files appear, the numbers
are sane, and the paper's settings (sequential batches, eval interval) are followed."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from chainrule.lab import common
from chainrule.lab import mnist1d as bench


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("m1d")
    out_dir, results = bench.run(steps=6, every=3, seeds=(0, 1), out_root=str(root), quiet=True)
    return out_dir, results


def test_report_files_are_written(tiny_run):
    out_dir, _ = tiny_run
    assert os.path.basename(out_dir).startswith("mnist1d-")
    for name in ("report.md", "report.html", "results.json", "accuracy_vs_steps_m1d.png",
                 "accuracy_vs_steps_m1d_shuffled.png"):
        assert os.path.isfile(os.path.join(out_dir, name)), name
    with open(os.path.join(out_dir, "accuracy_vs_steps_m1d.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(out_dir, "report.html")) as f:
        html = f.read()
    assert "data:image/png;base64," in html and "short run" in html
    with open(os.path.join(out_dir, "report.md")) as f:
        md = f.read()
    assert "| shuffled | gru |" in md and "94 %" in md and "57 %" in md


def test_every_cell_is_sane(tiny_run):
    out_dir, results = tiny_run
    with open(os.path.join(out_dir, "results.json")) as f:
        saved = json.load(f)
    assert saved["meta"]["steps"] == 6 and saved["meta"]["seeds"] == [0, 1]
    for ds in bench.DATASETS:
        for name in bench.MODELS:
            c = saved["cells"][ds][name]
            assert len(c["final_test_acc"]) == 2
            assert all(0.0 <= a <= 1.0 for a in c["final_test_acc"] + c["final_train_acc"])
            assert c["curves"]["steps"] == [3, 6]
            assert c["paper"] == bench.PAPER[ds][name]
            assert c["verdict"] == bench.agreement(c["mean"], c["paper"])
            assert c["ms_per_step"] > 0 and np.isfinite(c["curves"]["train_loss"]).all()


def test_table_text_has_ours_beside_the_paper(tiny_run):
    _, results = tiny_run
    text = bench.format_table(results)
    assert "short run: 6 steps" in text
    rows = bench.table_rows(results)
    assert len(rows) == 8
    assert {r["paper"] for r in rows} == {"32 %", "68 %", "94 %", "91 %", "56 %", "57 %"}


def test_agreement_band():
    assert bench.agreement(0.92, 0.94) == "agrees"
    assert bench.agreement(0.97, 0.94) == "agrees"
    assert bench.agreement(0.90, 0.94) == "below"
    assert bench.agreement(0.60, 0.56) == "above"


def test_sequential_batches_and_seeded_init():
    data = common.dataset("m1d")
    a = bench.train_model("logistic", data, steps=41, every=41, seed=3)
    b = bench.train_model("logistic", data, steps=41, every=41, seed=3)
    assert a["test_acc"] == b["test_acc"]  # same seed, same data order: identical
    assert a["steps"] == [41] and a["parameters"] == 410
