"""Padding layers and ``F.pad`` against torch (float64, random upstream gradients): the four
modes on 1-, 2- and 3-D padding, negative widths, unbatched inputs, reprs, and torch's errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402


def check_vs(mine, theirs, x, seed=1):
    """Outputs equal, then input gradients for a random cotangent."""
    xc, xt = as_cr(x, True), as_torch(x, True)
    yc, yt = mine(xc), theirs(xt)
    assert_close(yc, yt, what="output")
    g = rng(seed).standard_normal(tuple(yt.shape))
    yc.backward(cr.tensor(g))
    yt.backward(as_torch(g))
    assert_close(xc.grad, xt.grad, what="input grad")


SHAPES = {1: (2, 3, 5), 2: (2, 3, 4, 5), 3: (1, 2, 4, 3, 5)}
PADS = {1: (2, 3), 2: (1, 3, 2, 0), 3: (1, 2, 0, 2, 3, 1)}
KINDS = ["Reflection", "Replication", "Circular", "Zero", "Constant"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_pad_modules_equal_torch(kind, n):
    args = (PADS[n], 0.5) if kind == "Constant" else (PADS[n],)
    mine = getattr(nn, f"{kind}Pad{n}d")(*args)
    theirs = getattr(torch.nn, f"{kind}Pad{n}d")(*args)
    assert repr(mine) == repr(theirs)
    check_vs(mine, theirs, rng(n).standard_normal(SHAPES[n]))
    # unbatched input and an int padding
    args = (2, -1.0) if kind == "Constant" else (2,)
    mine = getattr(nn, f"{kind}Pad{n}d")(*args)
    theirs = getattr(torch.nn, f"{kind}Pad{n}d")(*args)
    assert repr(mine) == repr(theirs) and mine.padding == theirs.padding
    check_vs(mine, theirs, rng(n + 3).standard_normal(SHAPES[n][1:]))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant"])
def test_functional_pad_negative_widths(mode):
    x = rng(7).standard_normal((2, 3, 6, 5))
    check_vs(lambda t: F.pad(t, (-1, 2, 3, -2), mode),
             lambda t: torch.nn.functional.pad(t, (-1, 2, 3, -2), mode), x)


def assert_same_error(fn_c, fn_t):
    with pytest.raises(Exception) as ec:
        fn_c()
    with pytest.raises(Exception) as et:
        fn_t()
    assert type(ec.value) is type(et.value)
    assert str(ec.value) == str(et.value)


@pytest.mark.parametrize("shape,pad,mode", [
    ((1, 1, 3), (3, 3), "reflect"),
    ((1, 1, 3), (1, 1, 1, 1), "reflect"),
    ((1, 2, 2, 3), (1, 1, 2, 2), "reflect"),
    ((1, 1, 3), (4, 0), "circular"),
    ((1, 1, 3), (1,), "reflect"),
    ((1, 1, 3), (1,), "constant"),
    ((1, 1, 3), (1, 1, 1, 1, 1, 1, 1, 1), "constant"),
    ((1, 1, 3), (1, 1), "foo"),
    ((3,), (1, 1), "reflect"),
    ((2, 3, 4), (1, 1, 1, 1, 1, 1), "replicate"),
    ((1, 1, 1, 3, 3, 3), (1, 1), "circular"),
])
def test_pad_errors_like_torch(shape, pad, mode):
    x = rng(0).standard_normal(shape)
    assert_same_error(lambda: F.pad(as_cr(x), pad, mode),
            lambda: torch.nn.functional.pad(as_torch(x), pad, mode))


def test_pad_value_and_module_errors_like_torch():
    x = rng(0).standard_normal((1, 1, 3, 3))
    assert_same_error(lambda: F.pad(as_cr(x), (1, 1), "reflect", value=1.0),
            lambda: torch.nn.functional.pad(as_torch(x), (1, 1), "reflect", value=1.0))
    assert_same_error(lambda: nn.CircularPad1d(1)(as_cr(x)),
                      lambda: torch.nn.CircularPad1d(1)(as_torch(x)))
    assert_same_error(lambda: nn.CircularPad3d(1)(as_cr(x[0])),
            lambda: torch.nn.CircularPad3d(1)(as_torch(x[0])))
    # value 0 is accepted by the non-constant modes, as in torch
    assert_close(F.pad(as_cr(x), (1, 1, 1, 1), "reflect", value=0.0),
                 torch.nn.functional.pad(as_torch(x), (1, 1, 1, 1), "reflect", value=0.0))
