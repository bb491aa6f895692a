"""Negative and out-of-range indices of every index-taking op, against PyTorch 2.13.

Where torch raises, chainrule raises (naming the op, the dimension, the bad index and the
size); where torch wraps a negative index (plain indexing, ``take``), chainrule wraps it too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule
import chainrule.nn.functional as F

X = np.arange(6.0).reshape(2, 3)

# (name, call(lib, x)) with a bad index: torch raises for every one of these
RAISING = [
    ("gather -1", lambda lib, x: lib.gather(x, 1, lib.tensor([[-1], [0]]))),
    ("gather 3", lambda lib, x: lib.gather(x, 1, lib.tensor([[3], [0]]))),
    ("gather dim0 -1", lambda lib, x: x.gather(0, lib.tensor([[0, -1, 0]]))),
    ("scatter_ -1", lambda lib, x: x.clone().scatter_(1, lib.tensor([[-1], [0]]), 1.0)),
    ("scatter 3", lambda lib, x: lib.zeros(2, 3).scatter(1, lib.tensor([[3], [0]]),
                                                         lib.ones(2, 1))),
    ("scatter_add -1", lambda lib, x: lib.zeros(2, 3).scatter_add(1, lib.tensor([[-1], [0]]),
                                                                  lib.ones(2, 1))),
    ("scatter_add_ 3", lambda lib, x: lib.zeros(2, 3).scatter_add_(1, lib.tensor([[3], [0]]),
                                                                   lib.ones(2, 1))),
    ("index_select -1", lambda lib, x: x.index_select(1, lib.tensor([-1]))),
    ("index_select 3", lambda lib, x: x.index_select(1, lib.tensor([0, 3]))),
    ("index_select dim0 2", lambda lib, x: x.index_select(0, lib.tensor([2]))),
    ("take 6", lambda lib, x: lib.take(x, lib.tensor([6]))),
    ("take -7", lambda lib, x: lib.take(x, lib.tensor([-7]))),
    ("getitem 2", lambda lib, x: x[lib.tensor([2])]),
    ("getitem -3", lambda lib, x: x[lib.tensor([-3])]),
    ("getitem col 3", lambda lib, x: x[:, lib.tensor([3])]),
    ("getitem int 5", lambda lib, x: x[5]),
    ("setitem 2", lambda lib, x: x.clone().__setitem__(lib.tensor([2]), 1.0)),
    ("embedding -1", lambda lib, x: F.embedding(lib.tensor([-1]), x) if lib is chainrule
     else torch.nn.functional.embedding(lib.tensor([-1]), x)),
    ("embedding 2", lambda lib, x: F.embedding(lib.tensor([2]), x) if lib is chainrule
     else torch.nn.functional.embedding(lib.tensor([2]), x)),
]

# torch accepts these (negative indices wrap)
WRAPPING = [
    ("getitem -1", lambda lib, x: x[lib.tensor([-1])]),
    ("getitem col -1", lambda lib, x: x[:, lib.tensor([-1, 0])]),
    ("take -1", lambda lib, x: lib.take(x, lib.tensor([-1, -6]))),
]


def _both(fn):
    return fn(torch, torch.tensor(X)), fn(chainrule, chainrule.tensor(X))


@pytest.mark.parametrize("name,fn", RAISING, ids=[r[0] for r in RAISING])
def test_bad_index_raises_as_torch_does(name, fn):
    with pytest.raises((IndexError, RuntimeError)) as ref:
        fn(torch, torch.tensor(X))
    with pytest.raises(ref.type) as ours:  # the same exception type as torch's
        fn(chainrule, chainrule.tensor(X))
    msg = str(ours.value)
    bad = name.split()[-1]
    assert bad in msg, msg  # names the bad index
    op = name.split()[0].rstrip("_")
    if op in ("gather", "scatter", "scatter_add", "index_select"):
        assert f"{op}()" in msg and "dimension" in msg and "size" in msg, msg


@pytest.mark.parametrize("name,fn", WRAPPING, ids=[r[0] for r in WRAPPING])
def test_negative_index_wraps_where_torch_accepts_it(name, fn):
    ref, ours = _both(fn)
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def test_index_errors_are_catchable_as_both_types():
    """gather's error is torch's RuntimeError and still the IndexError chainrule raised."""
    x = chainrule.tensor(X)
    for exc in (RuntimeError, IndexError):
        with pytest.raises(exc, match=r"gather\(\): index -1 is out of bounds for dimension 1 "
                                      r"with size 3"):
            x.gather(1, chainrule.tensor([[-1], [0]]))


def test_in_range_results_still_match_torch():
    idx = [[2, 0, 1], [1, 1, 0]]
    ref, ours = _both(lambda lib, x: x.gather(1, lib.tensor(idx)))
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    ref, ours = _both(lambda lib, x: lib.zeros(2, 3, dtype=lib.float64).scatter_add(
        1, lib.tensor(idx), x))
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    ref, ours = _both(lambda lib, x: x.index_select(1, lib.tensor([2, 2, 0])))
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
