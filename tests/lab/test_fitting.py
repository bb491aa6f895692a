"""Tiny end-to-end runs of the fitting experiments (F1, F2)."""

from __future__ import annotations

import os

import pytest

from chainrule.lab.experiment import ERROR, VERDICTS, Context, Result, registry

IDS = ("F1", "F2")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Result]:
    out = {}
    for exp_id in IDS:
        ctx = Context(quick=True, tiny=True, seeds=(0, 1, 2),
                      out_dir=str(tmp_path_factory.mktemp(exp_id)), log=lambda s: None)
        out[exp_id] = registry()[exp_id]().run(ctx)
    return out


@pytest.mark.parametrize("exp_id", IDS)
def test_tiny_run_gives_a_valid_result(results, exp_id):
    res = results[exp_id]
    assert isinstance(res, Result) and res.id == exp_id
    assert res.verdict in VERDICTS and res.verdict != ERROR, res.summary
    assert res.summary and res.numbers and res.table
    assert res.claim and res.expected and res.source
    assert res.seeds == [0, 1, 2]
    assert res.plots
    for path in res.plots:
        assert os.path.isfile(path)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    res.to_json()  # serialisable


def test_f1_degree_9_interpolates_the_ten_points(results):
    rms = results["F1"].numbers["poly_train_rms"]
    assert rms["degree 9"][0] < 1e-6 < rms["degree 3"][0]


def test_f2_ridge_iterative_matches_closed_form(results):
    assert results["F2"].numbers["ridge_max_rel_error"][0] < 1e-6
    zeros = results["F2"].numbers["exact_zero_share"]
    assert zeros["l1_subgradient"][0] == 0.0 and zeros["l2"][0] == 0.0
