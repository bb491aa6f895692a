"""``unique`` with ``return_inverse``/``dim`` and ``scatter(..., reduce=)`` side by side with
torch; the layout queries (``is_sparse`` ...) are False as on a dense CPU torch tensor."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

import chainrule

VALUES = [[3, 1, 3, 2], [[1, 2], [1, 2], [0, 5]], [[2.5, -1.0], [2.5, 7.0]]]


def _same(a: Any, b: Any) -> None:
    if isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
        return
    assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("values", VALUES)
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("counts", [False, True])
@pytest.mark.parametrize("dim", [None, 0, -1])
def test_unique_as_torch(values: list, inverse: bool, counts: bool, dim: Any) -> None:
    kw = {"return_inverse": inverse, "return_counts": counts, "dim": dim}
    _same(chainrule.tensor(values).unique(**kw), torch.tensor(values).unique(**kw))
    _same(chainrule.unique(chainrule.tensor(values), sorted=False, **kw),
          torch.unique(torch.tensor(values), sorted=False, **kw))


def test_unique_names_a_bad_dim() -> None:
    with pytest.raises(IndexError, match="Dimension out of range"):
        chainrule.tensor([1, 2]).unique(dim=3)


@pytest.mark.parametrize("reduce", ["add", "multiply"])
@pytest.mark.parametrize("scalar", [False, True])
def test_scatter_with_reduce_as_torch(reduce: str, scalar: bool) -> None:
    out = {}
    for lib in (chainrule, torch):
        x = lib.arange(12, dtype=lib.float64).reshape(3, 4) + 1
        idx = lib.tensor([[0, 1, 0, 2], [2, 2, 1, 0]])
        src = 2.5 if scalar else lib.arange(8, dtype=lib.float64).reshape(2, 4) - 3
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch: reduce= with a Tensor src is deprecated
            a = x.scatter(0, idx, src, reduce=reduce)
            b = x.clone()
            r = b.scatter_(0, idx, src, reduce=reduce)
        assert r is b
        out[lib.__name__] = (a.numpy(), b.numpy())
    for got, want in zip(out["chainrule"], out["torch"], strict=True):
        np.testing.assert_array_equal(got, want)


def test_scatter_with_an_unknown_reduce_says_so_as_torch() -> None:
    for lib in (chainrule, torch):
        with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply"):
            lib.ones(3).scatter(0, lib.tensor([0]), 1.0, reduce="mean")


@pytest.mark.parametrize("name", ["is_sparse", "is_sparse_csr", "is_quantized", "is_meta",
                                  "is_mkldnn", "is_nested", "is_cuda", "is_cpu"])
def test_layout_queries_as_a_dense_cpu_tensor(name: str) -> None:
    assert getattr(chainrule.zeros(2), name) == getattr(torch.zeros(2), name)
