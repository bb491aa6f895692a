"""chainrule._printing: tensor text and set_printoptions equal to torch's repr."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

import chainrule
from chainrule._printing import get_printoptions, set_printoptions, tensor_repr

rng = np.random.default_rng(0)
ARRAYS: list[Any] = [
    np.array(1.5), np.array(3.0), np.array(7), np.array(True), np.array(1e-7),
    np.array([1.0, 2.5, -3.25]), np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0]),
    np.array([1e-5, 1.0]), np.array([1.0, 1e9]), np.array([1.0, 2000.0]),
    np.array([np.nan, np.inf, -np.inf, 1.5]), np.array([np.nan, 2.0]), np.array([np.inf]),
    np.array([1, -22, 333]), np.array([True, False]), rng.normal(size=(3, 4)),
    rng.normal(size=(2, 3, 4)) * 100, rng.normal(size=(40,)), rng.normal(size=(2000,)),
    rng.normal(size=(50, 40)), rng.integers(-5, 5, size=(1200,)), np.zeros((0,)),
    np.zeros((2, 0)), np.zeros((0,), dtype=np.int64), rng.normal(size=(4, 30)) * 1e-5,
    rng.normal(size=(3, 3, 3, 3)), np.arange(12.0).reshape(3, 4) * 1e6,
]
DTYPES = ["float32", "float64", "float16", "int32", "uint8", "int8", "int16"]


def _pair(a: np.ndarray, dtype: str | None = None, requires_grad: bool = False) -> tuple:
    a = np.asarray(a)
    if dtype is not None:
        a = np.asarray(a.astype(dtype))
    elif a.dtype == np.float64:
        a = a.astype(np.float32)
    t = torch.from_numpy(a.copy()).requires_grad_(requires_grad)
    c = chainrule.tensor(a.copy(), dtype=getattr(chainrule, str(a.dtype)),
                         requires_grad=requires_grad)
    return t, c


def assert_same_text(t: torch.Tensor, c: Any) -> None:
    """Equal text; where a suffix follows, up to where the lines wrap ("dtype=chainrule."
    is 4 characters longer than "dtype=torch.", so it may wrap where torch's does not)."""
    mine, ref = tensor_repr(c), repr(t).replace("torch.", "chainrule.")
    if mine != ref and "=" in ref:
        def unwrap(s: str) -> str:
            return s.replace(",\n       dtype=", ", dtype=").replace(
                ",\n       requires_grad=", ", requires_grad=")

        mine, ref = unwrap(mine), unwrap(ref)
    assert mine == ref


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    old = get_printoptions()
    told = torch._tensor_str.PRINT_OPTS.__dict__.copy()
    yield
    set_printoptions(**old)
    torch.set_printoptions(**{k: told[k] for k in ("precision", "threshold", "edgeitems",
                                                   "linewidth", "sci_mode")})


@pytest.mark.parametrize("k", range(len(ARRAYS)))
def test_repr_matches_torch(k: int) -> None:
    a = ARRAYS[k]
    assert_same_text(*_pair(a))
    if a.dtype.kind == "f" and a.size:
        assert_same_text(*_pair(a, "float64", requires_grad=True))
        finite = np.clip(np.nan_to_num(a, posinf=9, neginf=-9), -6e4, 6e4)
        assert_same_text(*_pair(finite, "float16"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_match_torch(dtype: str) -> None:
    assert_same_text(*_pair(np.array([[1, 2, 3], [4, 5, 120]]), dtype))


OPTIONS = [
    {"precision": 2}, {"precision": 8}, {"sci_mode": True}, {"sci_mode": False},
    {"threshold": 10}, {"edgeitems": 1, "threshold": 5}, {"linewidth": 30},
    {"profile": "short"}, {"profile": "full"}, {"profile": "default", "precision": 6},
    {"edgeitems": 0, "threshold": 5},
]


@pytest.mark.parametrize("opts", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_printoptions_match_torch(opts: dict) -> None:
    torch.set_printoptions(**opts)
    set_printoptions(**opts)
    assert get_printoptions() == {k: v for k, v in torch._tensor_str.PRINT_OPTS.__dict__.items()
                                  if k in get_printoptions()}
    for a in (rng.normal(size=(30,)), rng.normal(size=(20, 20)) * 1e-3, np.array([1.0, 2e6]),
              np.arange(15)):
        assert_same_text(*_pair(a))


def test_lazy_names_and_bad_profile() -> None:
    assert chainrule.set_printoptions is set_printoptions
    assert chainrule.get_printoptions is get_printoptions
    with pytest.raises(ValueError, match="profile"):
        set_printoptions(profile="long")


def test_tensor_repr_uses_print_options() -> None:
    assert repr(chainrule.tensor([1.0, 2.5])) == "tensor([1.0000, 2.5000])"
