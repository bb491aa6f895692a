"""Shared checks for the lab's tiny-budget end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from chainrule.lab.experiment import ERROR, VERDICTS, Context, Result, registry

SEEDS = (0, 1, 2)


def run_tiny(ids: Sequence[str], tmp_path_factory: Any) -> dict[str, Result]:
    """Run each experiment once at the tiny budget with three seeds, in its own folder."""
    out = {}
    for exp_id in ids:
        ctx = Context(quick=True, tiny=True, seeds=SEEDS,
                      out_dir=str(tmp_path_factory.mktemp(exp_id)), log=lambda s: None)
        out[exp_id] = registry()[exp_id]().run(ctx)
    return out


def assert_valid_result(res: Result, exp_id: str) -> None:
    """A declared, verdict-bearing, serialisable result whose plots are real PNG files."""
    assert isinstance(res, Result) and res.id == exp_id
    assert res.verdict in VERDICTS and res.verdict != ERROR, res.summary
    assert res.summary and res.numbers and res.table
    assert res.claim and res.expected and res.source
    assert res.seeds == list(SEEDS)
    assert res.plots
    for path in res.plots:
        assert os.path.isfile(path)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    res.to_json()  # serialisable
