"""Tiny end-to-end runs of the normalisation experiments (D1-D3) and their helpers."""

from __future__ import annotations

import numpy as np
import pytest
from lab_checks import tiny_suite

import chainrule as cr
from chainrule.lab.experiment import HOLDS, INCONCLUSIVE, REFUTED, VERIFIED
from chainrule.lab.experiments.normalization import (
    SequenceClassifier,
    _invariances,
    approx,
    sigmoid_mlp,
)

IDS = ("D1", "D2", "D3")


results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)


def test_d2_eval_output_ignores_batch_companions(results):
    num = results["D2"].numbers
    assert num["eval_max_diff"] < 1e-6 < num["train_mode_max_diff"]
    part = next(p for p in results["D2"].parts if p.name.startswith("eval output"))
    assert part.kind == "verified" and part.status == VERIFIED
    assert num["padding_sigma_error"] > 0.05


def test_d3_invariance_table_matches_ba_et_al():
    inv = _invariances(0)
    assert inv["single example re-scaling (h_n → a_n·h_n)"]["LN"] < 1e-9
    assert inv["single example re-scaling (h_n → a_n·h_n)"]["BN"] > 1e-3
    assert inv["weight vector re-scaling (h_j → a_j·h_j)"]["BN"] < 1e-9
    assert inv["weight vector re-scaling (h_j → a_j·h_j)"]["LN"] > 1e-3


def test_approx_verdicts():
    assert approx([0.10, 0.11, 0.10], [0.105, 0.10, 0.11], 0.02)[0] == HOLDS
    assert approx([0.30, 0.31, 0.30], [0.10, 0.11, 0.10], 0.02)[0] == REFUTED
    assert approx([0.10, 0.20, 0.15], [0.12, 0.13, 0.14], 0.02)[0] == INCONCLUSIVE
    # paired by seed: a shared seed-to-seed swing cancels in the differences
    assert approx([0.10, 0.20, 0.15], [0.101, 0.199, 0.152], 0.01, paired=True)[0] == HOLDS
    with pytest.raises(ValueError, match="paired"):
        approx([0.1, 0.2], [0.1], 0.01, paired=True)


def test_bn_sits_before_the_sigmoid():
    net = sigmoid_mlp(5, bn=True)
    kinds = [type(m).__name__ for m in net][:3]
    assert kinds == ["Linear", "BatchNorm1d", "Sigmoid"]


def test_sequence_classifier_reads_each_sequence_end():
    net = SequenceClassifier("batch_norm", 2, 4, 3)
    net.eval()
    x = cr.randn(2, 6, 2)
    full = net(x, lengths=[6, 3]).data
    short = net(x[1:2, :3], lengths=[3]).data
    np.testing.assert_allclose(full[1], short[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="norm"):
        SequenceClassifier("group_norm", 2, 4, 3)


def test_d3_batch_sizes_see_equal_examples(results):
    steps = results["D3"].budget["steps"]
    assert steps[4] * 4 == steps[128] * 128 == results["D3"].budget["examples seen"]
