"""Helpers for comparing a chainrule module with its torch.nn twin (float64, random cotangents)."""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr

RTOL, ATOL = 1e-9, 1e-11


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def as_torch(a: np.ndarray, grad: bool = False) -> Any:
    import torch

    t = torch.tensor(a)
    return t.requires_grad_(grad) if grad and t.is_floating_point() else t


def as_cr(a: np.ndarray, grad: bool = False) -> cr.Tensor:
    t = cr.tensor(a)
    return t.requires_grad_(grad) if grad and t.is_floating_point() else t


def assert_close(a: Any, b: Any, rtol: float = RTOL, atol: float = ATOL, what: str = "") -> None:
    a = a.detach().numpy() if hasattr(a, "detach") and not isinstance(a, cr.Tensor) else a
    b = b.detach().numpy() if hasattr(b, "detach") and not isinstance(b, cr.Tensor) else b
    a = a.data if isinstance(a, cr.Tensor) else np.asarray(a)
    b = b.data if isinstance(b, cr.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def check_twin(mine: Any, theirs: Any, inputs: list[np.ndarray], seed: int = 1,
               rtol: float = RTOL, atol: float = ATOL, copy_state: bool = True) -> None:
    """Copy theirs' state_dict into mine (same keys), run both on ``inputs`` in float64, compare
    the outputs, then backward a random cotangent and compare every parameter and input
    gradient."""
    theirs.double()
    mine.double()
    if copy_state:
        sd_t = theirs.state_dict()
        assert list(mine.state_dict().keys()) == list(sd_t.keys())
        mine.load_state_dict(sd_t)
    xs_c = [as_cr(a, True) for a in inputs]
    xs_t = [as_torch(a, True) for a in inputs]
    out_c, out_t = mine(*xs_c), theirs(*xs_t)
    assert_close(out_c, out_t, rtol, atol, "output")
    g = rng(seed).standard_normal(out_t.shape)
    out_c.backward(cr.tensor(g))
    out_t.backward(as_torch(g))
    names_c = [n for n, _ in mine.named_parameters()]
    names_t = [n for n, _ in theirs.named_parameters()]
    assert names_c == names_t
    for (n, pc), (_, pt) in zip(mine.named_parameters(), theirs.named_parameters()):
        if pt.grad is None:
            assert pc.grad is None or not np.any(pc.grad.data), n
            continue
        assert_close(pc.grad, pt.grad, rtol, atol, f"grad of {n}")
    for k, (xc, xt) in enumerate(zip(xs_c, xs_t)):
        if xt.requires_grad:
            assert_close(xc.grad, xt.grad, rtol, atol, f"grad of input {k}")
