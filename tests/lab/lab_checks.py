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


def tiny_suite(ids: Sequence[str]) -> tuple[Any, Any]:
    """The module-scoped ``results`` fixture of a lab test file (one tiny run of each of
    ``ids``) and its test that every result is valid; a test file assigns both at module
    level: ``results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)``."""
    import pytest

    @pytest.fixture(scope="module")
    def results(tmp_path_factory: Any) -> dict[str, Result]:
        return run_tiny(ids, tmp_path_factory)

    @pytest.mark.parametrize("exp_id", ids)
    def test_tiny_run_gives_a_valid_result(results: dict[str, Result], exp_id: str) -> None:
        assert_valid_result(results[exp_id], exp_id)

    return results, test_tiny_run_gives_a_valid_result
