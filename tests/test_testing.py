"""chainrule.testing.assert_close: same verdict, error type and message as
torch.testing.assert_close on the same inputs (``torch`` read as ``chainrule``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import chainrule
from chainrule.testing import assert_close, make_tensor

nan, inf = float("nan"), float("inf")

# (actual, expected, kwargs) as nested Python data; "t:"/"n:" mark tensors / NumPy arrays
CASES: list[tuple[Any, Any, dict]] = [
    (("t", [1.0, 2.0, 3.0]), ("t", [1.0, 2.5, 3.0]), {}),
    (("t", [1.0, 2.0, 3.0]), ("t", [1.0, 2.0 + 1e-6, 3.0]), {}),  # within float32 defaults
    (("t", [1.0, 2.0, 3.0], "float64"), ("t", [1.0, 2.0, 3.0]), {}),
    (("t", [1.0, 2.0, 3.0], "float64"), ("t", [1.0, 2.0, 3.0]), {"check_dtype": False}),
    (("t", [1.0, 2.0]), ("t", [1.0, 2.0, 3.0]), {}),
    (("t", [1, 2]), ("t", [1, 3]), {}),
    (("t", [[0.0, 1.0], [2.0, 3.0]]), ("t", [[0.0, 1.0], [2.0, -3.0]]), {}),
    (("t", 1.0), ("t", 1.5), {}),
    (("t", [1.0]), ("t", [1.5]), {}),
    (("t", [1.0, nan]), ("t", [1.0, nan]), {}),
    (("t", [1.0, nan]), ("t", [1.0, nan]), {"equal_nan": True}),
    (("t", [1.0, nan]), ("t", [1.0, 2.0]), {}),
    (("t", [inf, -inf]), ("t", [inf, -inf]), {}),
    (("t", [1.0, 2.0]), ("t", [1.0, 3.0]), {"msg": "custom"}),
    (("t", [1.0, 2.0, 3.0, 4.0]), ("t", [1.1, 2.0, 3.3, 4.0]), {}),
    (("t", [True, False]), ("t", [True, True]), {}),
    (("t", [1.0, 2.0]), ("t", [1, 3]), {"check_dtype": False}),
    (("t", [1.0, 2.0], "float16"), ("t", [1.0, 2.001], "float16"), {}),
    (("t", [1.0, 2.0], "float64"), ("t", [1.0, 2.0 + 1e-6], "float64"), {}),
    (("t", [1.0, 2.0]), ("t", [1.1, 2.0]), {"rtol": 0.2, "atol": 0.0}),
    (("t", [1.0, 2.0]), ("t", [1.1, 2.0]), {"rtol": 0.0, "atol": 0.0}),
    (("t", [0.0]), ("t", [1e-6]), {}),
    (("n", [1.0, 2.0]), ("n", [0.0, 2.0]), {}),
    (1.0, 1.0000001, {}), (1.0, 1.1, {}), (1, 2, {}), (1, 1.0, {}), (True, False, {}),
    (None, None, {}),
    ([("t", [1.0])], [("t", [1.0])] * 2, {}),
    ({"a": 1.0, "b": 2.0}, {"a": 1.0, "c": 2.0}, {}),
    ({"a": [("t", [1.0]), ("t", [2.0])]}, {"a": [("t", [1.0]), ("t", [3.0])]}, {}),
    (("t", [1.0]), [1.0], {}), (("t", [1.0]), ("n", [1.0]), {}),
]


def _build(lib: Any, x: Any) -> Any:
    if isinstance(x, tuple) and x and x[0] in ("t", "n"):
        dtype = getattr(lib, x[2]) if len(x) > 2 else None
        if x[0] == "n":
            return np.array(x[1])
        return lib.tensor(x[1], dtype=dtype)
    if isinstance(x, list):
        return [_build(lib, v) for v in x]
    if isinstance(x, dict):
        return {k: _build(lib, v) for k, v in x.items()}
    return x


def _outcome(fn: Any, lib: Any, case: tuple) -> tuple[str, str]:
    a, e, kw = case
    try:
        fn(_build(lib, a), _build(lib, e), **kw)
    except Exception as err:  # the outcome compared is (type, message)
        return type(err).__name__, str(err)
    return "ok", ""


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_assert_close_matches_torch(case: tuple) -> None:
    kind_t, text_t = _outcome(torch.testing.assert_close, torch, case)
    kind_c, text_c = _outcome(assert_close, chainrule, case)
    text_t = text_t.replace("torch.Tensor", "chainrule.tensor.Tensor").replace("torch.",
                                                                               "chainrule.")
    assert (kind_c, text_c) == (kind_t, text_t)


def test_tolerance_arguments_and_callable_msg() -> None:
    with pytest.raises(ValueError, match="no atol"):
        assert_close(chainrule.ones(1), chainrule.ones(1), rtol=1e-3)
    with pytest.raises(AssertionError, match="^Xtensor-lik"):
        assert_close(chainrule.ones(2), chainrule.zeros(2), msg=lambda m: "X" + m[:10].lower())


def test_make_tensor_ranges_dtypes_and_seed() -> None:
    chainrule.manual_seed(0)
    a = make_tensor(200, 3, dtype=chainrule.float64)
    assert a.shape == (200, 3) and a.dtype == chainrule.float64
    assert a.min().item() >= -9 and a.max().item() < 9
    b = make_tensor((500,), dtype=chainrule.int64, low=-2, high=3, exclude_zero=True)
    assert set(np.unique(b.numpy())) <= {-2, -1, 1, 2}
    assert make_tensor(4, dtype=chainrule.uint8).numpy().min() >= 0
    assert make_tensor(3, dtype=chainrule.bool).dtype == chainrule.bool
    assert make_tensor(3, dtype=chainrule.float32, requires_grad=True).requires_grad
    chainrule.manual_seed(0)
    np.testing.assert_array_equal(make_tensor(200, 3, dtype=chainrule.float64).numpy(),
                                  a.numpy())
