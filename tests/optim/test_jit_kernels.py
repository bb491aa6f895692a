"""The compiled one-pass optimizer updates (chainrule._jit, the ``fast`` extra) equal the NumPy
paths they replace: same parameters and state after several steps, float64 and float32."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("numba")

import chainrule  # noqa: E402
from chainrule import _jit, optim  # noqa: E402

CASES = [
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.1}),
    ("Adam", {"lr": 1e-2, "bias_correction": False}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "dampening": 0.3}),
    ("Adadelta", {"lr": 1.0}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.05}),
]


def _run(name: str, kw: dict[str, Any], dtype: Any) -> tuple[list, list]:
    r = np.random.default_rng(0)
    params = [chainrule.nn.Parameter(chainrule.tensor(r.standard_normal(s).astype(dtype)))
              for s in [(5, 7), (7,), (3,)]]
    opt = getattr(optim, name)(params, **kw)
    for _ in range(4):
        for p in params:
            p.grad = chainrule.tensor(r.standard_normal(p.shape).astype(dtype))
        opt.step()
    state = [{k: np.copy(v) for k, v in opt.state[p].items()} for p in params]
    return [p.detach().numpy().copy() for p in params], state


KERNELS = {"Adam": "adam._adam_kernel", "AdamW": "adam._adam_kernel",
           "SGD": "sgd._sgd_kernel", "Adadelta": "adadelta._adadelta_kernel"}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{sorted(k)}" for n, k in CASES])
def test_compiled_update_equals_numpy_update(name: str, kw: dict, dtype: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    mod, attr = KERNELS[name].split(".")
    kern = getattr(importlib.import_module(f"chainrule.optim.{mod}"), attr)
    compiled, calls = kern.get(), []
    assert compiled is not None

    def spy(*args: Any) -> None:
        calls.append(1)
        compiled(*args)

    monkeypatch.setattr(kern, "compiled", spy)
    fast_p, fast_s = _run(name, kw, dtype)
    assert calls, "the compiled kernel was not used"
    with _jit.disabled():
        assert not _jit.available()
        ref_p, ref_s = _run(name, kw, dtype)
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    for a, b in zip(fast_p, ref_p):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    for sa, sb in zip(fast_s, ref_s):
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_allclose(sa[k], sb[k], rtol=rtol, atol=rtol, err_msg=k)


def test_kernel_declines_arrays_it_cannot_take() -> None:
    a = np.zeros((3, 4))
    assert _jit.flat(a, np.zeros((3, 4))) is not None
    assert _jit.flat(a, np.zeros((4, 3)).T) is None  # not C-contiguous
    assert _jit.flat(a, np.zeros((3, 4), np.float32)) is None  # mixed dtypes
    assert _jit.flat(np.zeros(3, np.int64), np.zeros(3, np.int64)) is None  # not float
    assert _jit.flat(a, np.zeros((3, 5))) is None  # sizes differ


@pytest.mark.parametrize("name,kw", [CASES[0], CASES[5], CASES[8]], ids=["Adam", "SGD", "Adadelta"])
def test_compiled_update_split_over_threads_equals_numpy(name: str, kw: dict) -> None:
    """Large parameters are updated in ranges on two threads: same result."""
    from threadpoolctl import threadpool_limits

    def run() -> np.ndarray:
        r = np.random.default_rng(5)
        p = chainrule.nn.Parameter(chainrule.tensor(r.standard_normal((300, 300))))
        opt = getattr(optim, name)([p], **kw)
        for _ in range(3):
            p.grad = chainrule.tensor(r.standard_normal((300, 300)))
            opt.step()
        return p.detach().numpy().copy()

    with threadpool_limits(2, user_api="blas"):
        fast = run()
        with _jit.disabled():
            ref = run()
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)
