"""The lab's report: tables with the union of columns, the forest plot, plain-language verdict
lines, verified parts apart, data provenance, verdicts.json, and a render in a real headless
browser (Debian's chromium) with every claim section and image checked."""

from __future__ import annotations

import html as html_mod
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from lab_checks import synthetic_results

from chainrule.lab import common
from chainrule.lab import report as rep
from chainrule.lab.experiment import Context, Experiment

CHROMIUM = "/usr/bin/chromium"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("report"))
    results = synthetic_results(out)
    paths = rep.write_reports(out, results, {"quick": True, "seeds": list(range(10)),
                                             "jobs": 2, "wall_time": 12.0})
    return out, results, paths


def test_tables_take_the_union_of_columns_in_html_and_markdown():
    rows = [{"arm": "a", "x": 1}, {"y": "only-y", "arm": "b"}]
    assert rep.columns(rows) == ["arm", "x", "y"]
    table = rep.html_table(rows)
    body = re.findall(r"<tr>(.*?)</tr>", table)
    header = re.findall(r"<th>(.*?)</th>", body[0])
    cells = [re.findall(r"<td>(.*?)</td>", b) for b in body[1:]]
    assert header == ["arm", "x", "y"]
    assert cells == [["a", "1", ""], ["b", "", "only-y"]]  # each value under its own header
    md = rep.md_table(rows)
    assert md[0] == "| arm | x | y |"
    assert md[2:4] == ["| a | 1 |  |", "| b |  | only-y |"]


def test_report_files_and_forest_plot(run_dir):
    out, results, paths = run_dir
    for key in ("html", "md", "json", "forest"):
        assert os.path.isfile(paths[key]), key
    with open(paths["forest"], "rb") as f:
        assert f.read(8) == PNG
    text = Path(paths["html"]).read_text()
    assert 'id="forest"' in text and rep.FOREST_CAPTION[:40] in html_mod.unescape(text)
    md = Path(paths["md"]).read_text()
    assert "![forest plot](forest.png)" in md


def test_verdict_lines_and_statuses(run_dir):
    _, results, _ = run_dir
    by = {r.id: r for r in results}
    assert [by[k].verdict for k in ("A1", "B1", "C1", "E6")] == [
        "partly holds", "refuted", "inconclusive", "verified"]
    assert rep.verdict_line(by["A1"]).startswith("2 of 3 measured parts hold")
    assert "opposite" in rep.verdict_line(by["B1"])
    assert "none of the 1 measured parts" in rep.verdict_line(by["C1"])
    assert rep.verdict_line(by["E6"]).startswith("only identities")


def test_verdict_line_names_parts_below_their_floor(tmp_path):
    from chainrule.lab import verdict as v

    class Small(Experiment):
        id, title, claim, expected, source = "Z6", "small effect", "c", "e", "s"

    big = np.linspace(2.0, 3.0, 5)
    parts = [v.paired("tiny but sure", "a > b", big * 0.01, np.zeros(5), floor=1.0, metric="m"),
             v.paired("big", "a > b", big, np.zeros(5), floor=1.0, metric="m")]
    res = Small().result(Context(seeds=tuple(range(5))), summary="s", parts=parts)
    line = rep.verdict_line(res)
    assert res.verdict == "partly holds"
    assert line.startswith("1 of 2 measured parts hold (big)")
    assert "below the practical floor: tiny but sure" in line
    assert "not shown at this budget" not in line


def test_html_sections_parts_verified_tuning_data(run_dir):
    out, results, paths = run_dir
    text = Path(paths["html"]).read_text()
    for r in results:
        section = text.split(f'<section class="claim" id="{r.id}">')[1].split("</section>")[0]
        assert "Verified (not evidence)" in section
        assert f"{r.id} identity" in section
        assert "Tuning (validation split)" in section and "0.1: 0.95 ★" in section
        if r.id != "E6":
            assert "Parts (evidence)" in section
            for p in r.parts:
                if p.kind == "empirical":
                    assert p.name in section and p.method in section
    assert "&lt;b&gt;" in text  # the note's words are escaped
    assert "Data fallback" in text and "FALLBACK instead of mnist5k" in text
    # the experiment's own table: 'extra' appears only in the second row and still gets
    # its column
    assert "<th>extra</th>" in text


def test_tuning_rows_show_grid_scores_and_choice():
    rows = rep.tuning_rows([
        {"experiment": "A1", "arm": "relu", "knob": "lr", "grid": [0.01, 0.1, 1.0],
         "scores": [0.3, 0.2, 0.4], "chosen": 0.1, "metric": "validation error"},
        {"arm": "tanh", "knob": "lr", "grid": [0.01, 0.1], "scores": [], "chosen": 0.1,
         "provenance": "tiny run"}])
    assert rows[0]["parameter"] == "lr" and rows[0]["chosen"] == "0.1"
    assert rows[0]["grid → validation score"] == "0.01: 0.3, 0.1: 0.2 ★, 1: 0.4"
    assert rows[0]["at grid edge"] == "no" and rows[0]["metric"] == "validation error"
    assert "not searched" in rows[1]["grid → validation score"]
    assert rows[1]["at grid edge"] == "—" and rows[1]["provenance"] == "tiny run"
    assert "experiment" not in rows[0]


def test_verdicts_json_has_every_part_with_its_numbers(run_dir):
    _, results, paths = run_dir
    payload = json.loads(Path(paths["json"]).read_text())
    assert payload["meta"]["seeds"] == list(range(10))
    got = {r["id"]: r for r in payload["results"]}
    assert set(got) == {"A1", "B1", "C1", "E6"}
    for r in results:
        js = got[r.id]
        assert js["verdict"] == r.verdict and js["verdict_line"]
        assert [p["name"] for p in js["parts"]] == [p.name for p in r.parts]
        for p in js["parts"]:
            assert {"effect", "ci", "floor", "n", "status", "p", "p_holm", "method"} <= set(p)
    a1 = got["A1"]["parts"][0]
    assert a1["status"] == "holds" and a1["n"] == 10 and a1["ci"][0] > 0


def test_bands_are_t_intervals_not_min_max():
    arr = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 2.0], [5.0, 2.0]])
    m, lo, hi = common.t_band(arr)
    from scipy import stats

    ref = [stats.t.interval(0.95, 3, loc=np.mean(c), scale=stats.sem(c)) for c in arr.T]
    np.testing.assert_allclose(np.c_[lo, hi], np.array(ref), rtol=1e-12)
    np.testing.assert_allclose(m, arr.mean(0))


def test_dataset_fallback_is_recorded_and_stated(monkeypatch):
    monkeypatch.setattr(common, "_mnist5k_path", lambda: None)
    common.dataset.cache_clear()
    logged: list[str] = []
    try:
        ctx = Context(seeds=(0, 1, 2), log=logged.append)
        x, y, xt, yt = ctx.dataset("mnist5k")
        assert x.shape[1] == 64  # the 8×8 digits, not 28×28 MNIST
        assert "FALLBACK instead of mnist5k" in ctx.data["mnist5k"]
        assert any("WARNING" in line and "'digits'" in line for line in logged)

        class Probe(Experiment):
            id, title, claim, expected, source = "Z8", "probe on mnist5k", "c", "e", "s"

        from chainrule.lab import verdict as v

        res = Probe().result(ctx, summary="s", parts=[
            v.verified("ok", "s", True, detail="d")])
        assert "digits instead of mnist5k" in res.title
        assert res.data == ctx.data
    finally:
        common.dataset.cache_clear()
    info = common.dataset_info("m1d")
    assert info["used"] == "m1d" and info["fallback"] == ""
    with pytest.raises(KeyError, match="unknown lab dataset"):
        common.dataset_info("imagenet")


@pytest.mark.skipif(not os.path.exists(CHROMIUM),
                    reason=f"{CHROMIUM} is absent (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    out, results, paths = run_dir
    url = "file://" + os.path.abspath(paths["html"])
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--window-size=1400,2400", "--virtual-time-budget=5000"]
    shot = str(tmp_path / "report.png")
    subprocess.run(flags + [f"--screenshot={shot}", url], check=True, capture_output=True,
                   timeout=120)
    with open(shot, "rb") as f:
        assert f.read(8) == PNG
    dom = subprocess.run(flags + ["--dump-dom", url], check=True, capture_output=True,
                         timeout=120, text=True).stdout
    for r in results:
        assert f'<section class="claim" id="{r.id}">' in dom, r.id
    n_images = 1 + sum(len(r.plots) for r in results)  # the forest plot + each claim's plots
    assert f'data-images="{n_images}/{n_images}"' in dom
    assert 'data-loaded="no"' not in dom
