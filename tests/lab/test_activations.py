"""Tiny end-to-end runs of the activation experiments (A1-A3)."""

from __future__ import annotations

import os

import pytest

from chainrule.lab.experiment import ERROR, VERDICTS, Context, Result, registry

IDS = ("A1", "A2", "A3")


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


def test_a1_single_sign_rows_behind_sigmoid_not_tanh(results):
    sign = results["A1"].numbers["single_sign_fraction"]
    assert sign["sigmoid"][0] > 0.99
    assert sign["tanh"][0] < 0.01


def test_a2_xavier_evens_out_variances(results):
    ratio = results["A2"].numbers["act_var_ratio_init"]
    assert ratio["xavier"][0] < ratio["standard"][0]


def test_a3_bias_minus_3_kills_every_relu(results):
    dead = results["A3"].numbers["dead_final"]
    assert dead["bias-3 relu"][0] == 1.0
