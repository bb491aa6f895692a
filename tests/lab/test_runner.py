"""The lab runner and CLI: seeds (5 quick / 10 full, fewer than 3 refused), worker processes
giving the same results as a serial run, an experiment that raises becoming an ``error``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule.lab import cli, runner
from chainrule.lab.experiment import ERROR, FULL_SEEDS, QUICK_SEEDS, Context, Experiment

CHEAP = ["E6", "F2"]  # deterministic given the seed, about a second each at the tiny budget


def _strip_times(obj):
    """verdicts.json without wall-clock fields (the only thing allowed to differ)."""
    if isinstance(obj, dict):
        return {k: _strip_times(v) for k, v in obj.items()
                if k not in ("wall_time", "jobs") and "time" not in k}
    if isinstance(obj, list):
        return [_strip_times(v) for v in obj]
    return obj


def _serial_run_in_a_fresh_process(out_root: Path) -> Path:
    """The serial run in its own interpreter, as the workers are: a run inside pytest's process
    would see state earlier tests left behind (caches, modes) that a spawned worker never has."""
    code = ("from chainrule.lab import runner\n"
            f"print(runner.run(only={CHEAP!r}, tiny=True, seeds=(0, 1, 2), "
            f"out_root={str(out_root)!r}, quiet=True, jobs=1)[0])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


def test_parallel_run_equals_serial_run(tmp_path):
    out1 = _serial_run_in_a_fresh_process(tmp_path / "s")
    out2, res2 = runner.run(only=CHEAP, tiny=True, seeds=(0, 1, 2), out_root=str(tmp_path / "p"),
                            quiet=True, jobs=2)
    assert [r.id for r in res2] == CHEAP
    assert all(r.verdict != ERROR for r in res2), [r.summary for r in res2]
    j1 = json.loads((out1 / "verdicts.json").read_text())
    j2 = json.loads(Path(f"{out2}/verdicts.json").read_text())
    assert [r["id"] for r in j1["results"]] == CHEAP
    assert all(r["verdict"] != ERROR for r in j1["results"])
    assert j2["meta"]["jobs"] == 2 and j1["meta"]["jobs"] == 1
    assert _strip_times(j1["results"]) == _strip_times(j2["results"])


class _Broken(Experiment):
    id, title, claim, expected, source = "Z7", "raises", "c", "e", "s"

    def run(self, ctx: Context):
        raise RuntimeError("boom")


def test_an_experiment_that_raises_is_an_error_result(tmp_path):
    res = runner.run_one(_Broken, Context(seeds=(0, 1, 2), out_dir=str(tmp_path)))
    assert res.verdict == ERROR and "boom" in res.summary and "Traceback" in res.note


def test_run_refuses_fewer_than_three_seeds(tmp_path):
    with pytest.raises(ValueError, match="at least 3 seeds"):
        runner.run(only=["E6"], seeds=(0, 1), out_root=str(tmp_path), quiet=True)


def test_cli_refuses_too_few_seeds(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--seeds", "1", "--only", "E6"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--seeds 1 is refused" in err and "at least 3" in err
    with pytest.raises(SystemExit):
        cli.main(["--seeds", "two"])
    with pytest.raises(SystemExit):
        cli.main(["--jobs", "0"])


@pytest.mark.parametrize("argv, seeds", [(["--quick"], QUICK_SEEDS), ([], FULL_SEEDS),
                                         (["--quick", "--seeds", "7"], tuple(range(7)))])
def test_cli_default_seeds(monkeypatch, argv, seeds):
    seen = {}

    def fake_run(**kw):
        seen.update(kw)
        return "out", []

    monkeypatch.setattr(runner, "run", fake_run)
    assert cli.main(argv + ["--only", "E6", "--jobs", "3"]) == 0
    assert seen["seeds"] == seeds and seen["jobs"] == 3
    assert len(QUICK_SEEDS) == 5 and len(FULL_SEEDS) == 10


def test_cli_list(capsys):
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "A1" in out and "F2" in out


def test_previous_times_come_from_the_newest_run_of_the_same_level(tmp_path):
    import os
    import time

    def write(name, quick, times):
        d = tmp_path / name
        d.mkdir()
        (d / "verdicts.json").write_text(json.dumps(
            {"meta": {"quick": quick, "tiny": False},
             "results": [{"id": k, "wall_time": v} for k, v in times.items()]}))
        return d / "verdicts.json"

    old = write("lab-1", True, {"A1": 5.0})
    new = write("lab-2", True, {"A1": 9.0, "B1": 2.0})
    full = write("lab-3", False, {"A1": 99.0})
    now = time.time()
    for i, p in enumerate((old, new, full)):
        os.utime(p, (now + i, now + i))
    assert runner._previous_times(str(tmp_path), quick=True, tiny=False) == {"A1": 9.0,
                                                                             "B1": 2.0}
    assert runner._previous_times(str(tmp_path), quick=False, tiny=False) == {"A1": 99.0}
    assert runner._previous_times(str(tmp_path / "none"), quick=True, tiny=True) == {}


_ORPHAN_SCRIPT = """
import concurrent.futures as cf, multiprocessing as mp, os, sys, time
from chainrule.lab.runner import _watch_parent
if __name__ == "__main__":
    pool = cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"),
                                  initializer=_watch_parent, initargs=(os.getpid(), 0.1))
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 60)
    time.sleep(60)
"""


def test_workers_exit_when_the_parent_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ))
    try:
        worker = int(parent.stdout.readline())
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
    deadline = time.time() + 20
    alive = True
    while alive and time.time() < deadline:
        try:
            os.kill(worker, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            alive = False
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the worker outlived its killed parent"


def test_b2_runs_in_b1s_worker_and_alone_when_b1_is_not_chosen():
    reg = runner.registry()
    jobs = runner._jobs([reg[i] for i in ("A1", "B2", "B1", "C2")])
    assert [[c.id for c in job] for job in jobs] == [["A1"], ["B1", "B2"], ["C2"]]
    assert [[c.id for c in job] for job in runner._jobs([reg["B2"], reg["C2"]])] == [
        ["B2"], ["C2"]]
