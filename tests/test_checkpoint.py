"""chainrule.utils.checkpoint: gradients equal the plain run (and torch's), dropout masks are
replayed, generators end where the plain run leaves them, and no activation is kept."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import chainrule
from chainrule import nn
from chainrule.utils.checkpoint import checkpoint, checkpoint_sequential


def _twins(p_drop: float = 0.0) -> tuple:
    """A chainrule MLP and torch's with the same float64 weights."""
    rng = np.random.default_rng(0)
    cm = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(p_drop), nn.Linear(8, 8),
                       nn.GELU(), nn.Linear(8, 3)).double()
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Dropout(p_drop),
                             torch.nn.Linear(8, 8), torch.nn.GELU(),
                             torch.nn.Linear(8, 3)).double()
    for cp, tp in zip(cm.parameters(), tm.parameters()):
        w = rng.normal(size=tuple(cp.shape))
        cp.data.copy_(chainrule.tensor(w))
        with torch.no_grad():
            tp.copy_(torch.tensor(w))
    return cm, tm


def _grads(lib: object, model: object, x: np.ndarray, fn: object) -> list[np.ndarray]:
    for p in model.parameters():
        p.grad = None
    xt = lib.tensor(x, requires_grad=True)
    y = fn(model, xt)
    (y ** 3).sum().backward()
    return [y.detach().numpy()] + [p.grad.numpy().copy() for p in model.parameters()] + [
        xt.grad.numpy()]


@pytest.mark.parametrize("mode", ["reentrant", "non_reentrant", "seq_reentrant", "seq"])
def test_gradients_equal_torch(mode: str) -> None:
    cm, tm = _twins()
    x = np.random.default_rng(1).normal(size=(5, 4))
    reentrant = mode in ("reentrant", "seq_reentrant")
    if mode.startswith("seq"):
        def run(lib: object, m: object, xt: object) -> object:
            mod = lib.utils.checkpoint if lib is torch else chainrule.utils.checkpoint
            return mod.checkpoint_sequential(m, 3, xt, use_reentrant=reentrant)
    else:
        def run(lib: object, m: object, xt: object) -> object:
            mod = lib.utils.checkpoint if lib is torch else chainrule.utils.checkpoint
            return mod.checkpoint(m, xt, use_reentrant=reentrant)
    import torch.utils.checkpoint  # noqa: F401

    ref = _grads(torch, tm, x, lambda m, xt: m(xt))
    got_t = _grads(torch, tm, x, lambda m, xt: run(torch, m, xt))
    got_c = _grads(chainrule, cm, x, lambda m, xt: run(chainrule, m, xt))
    for r, a, b in zip(ref, got_t, got_c):
        np.testing.assert_allclose(a, r, rtol=1e-12)
        np.testing.assert_allclose(b, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reentrant", [True, False])
def test_dropout_masks_replayed_and_generators_left_as_plain_run(reentrant: bool) -> None:
    cm, _ = _twins(p_drop=0.5)
    x = np.random.default_rng(2).normal(size=(6, 4))
    gen = cm[2].generator
    start = gen.get_state()
    chainrule.manual_seed(3)
    plain = _grads(chainrule, cm, x, lambda m, xt: m(xt))
    after_plain = gen.get_state()
    gen.set_state(start)
    ck = _grads(chainrule, cm, x, lambda m, xt: checkpoint(m, xt, use_reentrant=reentrant))
    assert gen.get_state() == after_plain  # the recompute put the generator back
    for a, b in zip(plain, ck):
        np.testing.assert_array_equal(a, b)
    assert (plain[0] != 0).any()
    gen.set_state(start)
    other = _grads(chainrule, cm, x, lambda m, xt: checkpoint(m, xt, use_reentrant=reentrant,
                                                                preserve_rng_state=False))
    assert any(not np.array_equal(a, b) for a, b in zip(plain[1:], other[1:]))  # masks differ


def test_forward_keeps_no_activation() -> None:
    cm, _ = _twins()
    x = chainrule.randn(3, 4, dtype=chainrule.float64, requires_grad=True)
    y = checkpoint(cm, x, use_reentrant=False)
    node = y.grad_fn
    kept = [a for a in node.inputs if isinstance(a, chainrule.Tensor)]
    assert kept[0] is x and all(k.grad_fn is None for k in kept)  # inputs and parameters only
    assert len(kept) == 1 + len(list(cm.parameters()))


def test_closure_tensors_kwargs_tuple_outputs_and_autograd_grad() -> None:
    rng = np.random.default_rng(4)
    w0, a0, b0 = rng.normal(size=(3, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))

    def run(lib: object, ck: object) -> list[np.ndarray]:
        w = lib.tensor(w0, requires_grad=True)
        a = lib.tensor(a0, requires_grad=True)
        b = lib.tensor(b0, requires_grad=True)
        h = a * 2.0  # a non-leaf of the outer graph, read through the closure

        def fn(u: object, scale: object = None) -> tuple:
            z = lib.tanh(u @ w + h)
            return z * scale, z.sum()

        if ck is None:
            out, s = fn(b, scale=b)
        else:
            out, s = ck(fn, b, scale=b, use_reentrant=False)
        ((out ** 2).sum() + s).backward()
        return [w.grad.numpy(), a.grad.numpy(), b.grad.numpy()]

    import torch.utils.checkpoint as tck

    ref = run(torch, None)
    for r, g in zip(ref, run(chainrule, checkpoint)):
        np.testing.assert_allclose(g, r, rtol=1e-10)
    for r, g in zip(ref, run(torch, tck.checkpoint)):
        np.testing.assert_allclose(g, r, rtol=1e-12)

    cm, tm = _twins()
    x = chainrule.randn(2, 4, dtype=chainrule.float64)  # no grad: the parameters still get it
    y = checkpoint(cm, x, use_reentrant=False)
    gs = chainrule.autograd.grad(y.sum(), list(cm.parameters()))
    gp = chainrule.autograd.grad(cm(x).sum(), list(cm.parameters()))
    for a, b in zip(gs, gp):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def test_nested_checkpoints_and_errors() -> None:
    cm, tm = _twins()
    x = np.random.default_rng(5).normal(size=(3, 4))

    def inner(m: object, xt: object) -> object:
        h = checkpoint(m[:3], xt, use_reentrant=False)
        return m[3:](h)

    ref = _grads(chainrule, cm, x, lambda m, xt: m(xt))
    got = _grads(chainrule, cm, x, lambda m, xt: checkpoint(inner, m, xt, use_reentrant=False))
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-12)
    xt = chainrule.tensor(x)
    with pytest.raises(ValueError, match="Unexpected keyword"):
        checkpoint(cm, xt, use_reentrant=True, foo=1)
    with pytest.warns(UserWarning, match="None of the inputs"):
        assert not checkpoint(cm, xt, use_reentrant=True).requires_grad  # as torch
    with pytest.warns(UserWarning, match="use_reentrant"):
        checkpoint(cm, chainrule.tensor(x, requires_grad=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with chainrule.no_grad():
            assert checkpoint(cm, xt, use_reentrant=False).grad_fn is None
    y = checkpoint(cm, chainrule.tensor(x, requires_grad=True), use_reentrant=False)
    with pytest.raises(RuntimeError, match="create_graph"):
        chainrule.autograd.grad(y.sum(), list(cm.parameters()), create_graph=True)
    with pytest.raises(ValueError, match="segments"):
        checkpoint_sequential(cm, 0, xt, use_reentrant=False)
