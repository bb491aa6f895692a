"""The benchmark suite's workloads build and run one step in both libraries, the chainrule twin
starts from torch's weights, and the memory child imports only its library. Never timed: these
check the suite's plumbing, not speed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from benchmarks import suite  # noqa: E402
from benchmarks._timing import compare  # noqa: E402


@pytest.mark.parametrize("w", suite.WORKLOADS, ids=lambda w: w.name)
def test_workload_runs_one_step_in_both_libraries(w: suite.Workload) -> None:
    theirs = w.build(torch, None)
    ours = w.build(chainrule, theirs)
    if hasattr(theirs, "model"):  # same starting weights
        t_state = theirs.model.state_dict()
        for k, v in ours.model.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), t_state[k].detach().numpy(), err_msg=k)
    ours()
    theirs()
    if hasattr(ours, "model"):  # the step produced gradients
        assert any(p.grad is not None for p in ours.model.parameters())


def test_mlp_flops_counts_every_gemm() -> None:
    # forward x·Wᵀ and dW per layer, dX for layers 2 and 3: 2·B·(2·535040 + 133632)
    assert suite.mlp_flops(1) == 2 * (2 * (784 * 512 + 512 * 256 + 256 * 10)
                                      + 512 * 256 + 256 * 10)


def test_memory_child_imports_only_its_library() -> None:
    res = suite.measure_memory("tiny graph (10 ops, n=10)", "chainrule", steps=2, n_threads=1)
    assert "error" not in res, res
    assert res["torch_imported"] is False
    assert res["peak_kib"] >= res["before_kib"] > 0


def test_table_reports_every_row_and_verdict() -> None:
    w = suite.workload("tiny graph (10 ops, n=10)")
    c = compare(w.name, lambda: None, lambda: None, repeats=2, target_s=0.001, warmup=1)
    row = suite.Row(w, c, value=0.5, met=False,
                    memory={"chainrule": {"peak_kib": 2048}, "torch": {"peak_kib": 4096}})
    imports = {"chainrule": {"wall": 0.2, "cpu": 0.2}, "torch": {"wall": 1.0, "cpu": 1.0}}
    text = suite.table([row], imports, "cpu")
    assert "tiny graph" in text and "MISSED" in text and "import" in text
    assert "2 MiB" in text and "4 MiB" in text
    with pytest.raises(KeyError, match="no workload"):
        suite.workload("nope")
