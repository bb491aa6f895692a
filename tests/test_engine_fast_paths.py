"""The engine's per-node shortcuts (issue 16) change no result.

* ``Function.array_vjp``: the array pass's derivative is chosen once per class (``vjp``, else a
  hand-written ``fast_backward``, else the Tensor ``backward`` on wrapped arrays);
* ``Function.grads_fit``: an op that declares it skips fitting (summing back broadcast
  dimensions, casting) the gradients it returns, so the claim is checked on every registry op
  that makes it, in float32 and float64; and the skip is off where a node may be handed a
  gradient not shaped as its output (a root gradient of another dtype, a hook's result);
* the Tensor operators are the recorders themselves (``as_method``), one Python frame an op.

References are PyTorch's gradients in float64 (and float32 where the dtype is the point).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from op_registry import OPS, OpSpec, make_inputs
from test_function_saves import _nodes

import chainrule
from chainrule.autograd import engine
from chainrule.autograd.function import ARRAYS, Function, record_binary, record_unary
from chainrule.ops import elementwise as E
from chainrule.tensor import Tensor

FIT_OPS = [s for s in OPS if s.grad]


def _handed_gradients(spec: OpSpec, dtype: Any,
                      monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    """Run ``spec`` in ``dtype`` and its backward; return each node with the gradient array
    the engine handed it (and what keeps the graph alive)."""
    xs = [chainrule.tensor(a.astype(dtype), requires_grad=True) for a in make_inputs(spec)]
    out = spec.fn(chainrule, *xs)
    outs = [o for o in (out if isinstance(out, (tuple, list)) else [out])
            if isinstance(o, Tensor) and o.requires_grad]
    nodes = _nodes(outs)
    for fn in nodes:
        fn.extras = True  # (each node's gradient then goes through _node_extras)
    got: list[tuple[Function, np.ndarray]] = []
    real = engine._node_extras

    def spy(fn: Function, g: Any, *rest: Any) -> Any:
        got.append((fn, np.array(g, copy=True)))
        return real(fn, g, *rest)

    monkeypatch.setattr(engine, "_node_extras", spy)
    r = np.random.default_rng(0)
    cots = [chainrule.tensor(r.standard_normal(tuple(o.shape)).astype(o.dtype)) for o in outs]
    chainrule.autograd.backward(outs, cots, retain_graph=True)
    for fn in nodes:
        fn.extras = False
    return got, [xs, outs, out]


@pytest.mark.parametrize("spec", FIT_OPS, ids=repr)
def test_grads_fit_ops_return_their_inputs_shapes_and_dtypes(
        spec: OpSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    """For every node of a ``grads_fit`` class, handed a gradient of its output's shape and
    dtype, each returned gradient already has its input's shape and dtype (in float32, where
    a Python-float constant or a float64 helper array in a derivative would promote)."""
    got, _alive = _handed_gradients(spec, np.float32, monkeypatch)
    for fn, g in got:
        if not type(fn).grads_fit:
            continue
        out = fn.array_vjp(g, ARRAYS)
        out = out if isinstance(out, tuple) else (out,)
        for t, gi in zip(fn.inputs, out):
            if gi is None or not isinstance(t, Tensor):
                continue
            assert (np.shape(gi), np.asarray(gi).dtype) == (t.shape, t.dtype), (
                f"{spec.name}: {type(fn).__name__} returned {np.shape(gi)} "
                f"{np.asarray(gi).dtype} for an input {tuple(t.shape)} {t.dtype}")


def test_some_registry_ops_claim_grads_fit() -> None:
    """(The check above is not vacuous: the elementwise one-input ops make the claim.)"""
    assert {c.__name__ for c in (E.Exp, E.Tanh, E.Sigmoid, E.Neg, E.Relu)
            if c.grads_fit} == {"ExpBackward0", "TanhBackward0", "SigmoidBackward0",
                                "NegBackward0", "ReluBackward0"}
    assert not E.Mul.grads_fit and not E.Add.grads_fit  # (binary ops broadcast)


def _torch_grad(f: Any, x: np.ndarray, gradient: np.ndarray | None = None) -> np.ndarray:
    xt = torch.tensor(x, requires_grad=True)
    y = f(torch, xt)
    (y if gradient is None else y * torch.tensor(gradient)).sum().backward()
    return xt.grad.numpy()


def test_root_gradient_of_another_dtype_is_still_cast() -> None:
    """A float64 gradient handed to a float32 tanh: the skip is off for that pass, so x.grad
    is float32 (the engine casts it at the edge, as PyTorch does)."""
    x = np.array([0.5, -1.0, 0.2], np.float32)
    g = np.array([1.0, 2.0, -3.0])
    xc = chainrule.tensor(x, requires_grad=True)
    xc.tanh().exp().backward(chainrule.tensor(g))
    assert xc.grad.dtype == chainrule.float32
    ref = _torch_grad(lambda L, t: t.double().tanh().exp(), x.astype(np.float64), g)
    np.testing.assert_allclose(xc.grad.numpy(), ref, rtol=1e-6)


def test_hook_that_changes_the_dtype_is_fitted_after_a_grads_fit_node() -> None:
    """A hook on a tanh output returning a float64 gradient: the node runs with it and its
    input's gradient is still cast back to float32 (the extras turn the skip off)."""
    x = chainrule.tensor(np.array([0.5, -1.0, 0.2], np.float32), requires_grad=True)
    t = x.exp()
    u = t.tanh()
    u.register_hook(lambda g: g.double() * 2.0)
    u.sum().backward()
    assert x.grad.dtype == chainrule.float32
    ref = _torch_grad(lambda L, v: 2.0 * v.exp().tanh(), np.array([0.5, -1.0, 0.2]))
    np.testing.assert_allclose(x.grad.numpy(), ref, rtol=1e-6)


def test_broadcast_gradients_are_still_summed_back() -> None:
    """A (3, 1) tensor times a (1, 4) one, then grads_fit ops: the binary node's gradients
    are summed back to each input's shape (its check is never skipped)."""
    r = np.random.default_rng(1)
    a, b = r.standard_normal((3, 1)), r.standard_normal((1, 4))
    ac, bc = (chainrule.tensor(v, requires_grad=True) for v in (a, b))
    (ac * bc).sigmoid().neg().exp().sum().backward()
    at, bt = (torch.tensor(v, requires_grad=True) for v in (a, b))
    (at * bt).sigmoid().neg().exp().sum().backward()
    np.testing.assert_allclose(ac.grad.numpy(), at.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bc.grad.numpy(), bt.grad.numpy(), rtol=1e-12)


# ---- array_vjp: chosen once per class -----------------------------------------------------------
class _Double(Function):
    """out = 2x;  dx = 2g, three ways."""

    saves = ()

    def forward(self, x: Any) -> Any:
        return 2.0 * x


class _DoubleVjp(_Double):
    def vjp(self, g: Any, F: Any) -> tuple:
        return (2.0 * g,)


class _DoubleFast(_Double):
    calls = 0

    def backward(self, g: Tensor) -> tuple:
        return (g * 2.0,)

    def fast_backward(self, g: Any) -> tuple:
        type(self).calls += 1
        return (2.0 * g,)


class _DoubleTensorOnly(_Double):
    def backward(self, g: Tensor) -> tuple:
        assert isinstance(g, Tensor)  # (the array pass wraps the gradient)
        return [g * 2.0]  # (a list: unwrapped to a tuple of arrays)


@pytest.mark.parametrize("op", [_DoubleVjp, _DoubleFast, _DoubleTensorOnly])
def test_array_vjp_runs_the_classes_own_derivative(op: type[Function]) -> None:
    x = chainrule.tensor([1.0, -2.0], requires_grad=True)
    before = _DoubleFast.calls
    (op.apply(x) * x).sum().backward()  # d(2x·x)/dx = 4x
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, -8.0])
    assert _DoubleFast.calls == before + (op is _DoubleFast)
    expected = {_DoubleVjp: _DoubleVjp.vjp, _DoubleFast: Function._fast_backward_vjp,
                _DoubleTensorOnly: Function._tensor_backward_vjp}[op]
    assert op.array_vjp is expected


def test_a_derivative_with_the_wrong_number_of_gradients_is_named() -> None:
    class Bad(_Double):
        def vjp(self, g: Any, F: Any) -> tuple:
            return (g, g)

    x = chainrule.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 2 gradients for 1 inputs"):
        Bad.apply(x).sum().backward()


# ---- the operators are the recorders -----------------------------------------------------------
def test_operators_and_unary_methods_are_the_recorders_themselves() -> None:
    # each op a copy of the recorder's code (CPython specialises attribute access per code
    # object: a copy sees one node class only)
    assert Tensor.__mul__.__code__.co_code == record_binary.__code__.co_code
    assert Tensor.__neg__.__code__.co_code == record_unary.__code__.co_code
    assert Tensor.tanh.__code__.co_code == record_unary.__code__.co_code
    assert Tensor.__mul__.__code__ is not Tensor.__add__.__code__
    assert Tensor.tanh.__code__ is not Tensor.exp.__code__
    assert Tensor.__mul__.__defaults__[0] is E.Mul and Tensor.exp.__defaults__[0] is E.Exp
    # the forward's ufunc is bound too (called with no ``forward`` frame)
    assert Tensor.__mul__.__defaults__[1:] == (np.multiply, E._fix_dtype)
    assert Tensor.sigmoid.__defaults__[1:] == (None, None)  # (its own forward)
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3.0 - x).exp().tanh()
    assert type(y.grad_fn).__name__ == "TanhBackward0"
    assert type(y.grad_fn.next[0]).__name__ == "ExpBackward0"


# ---- anomaly mode: a global count of the threads that turned it on ------------------------------
def test_anomaly_mode_stays_per_thread_with_the_global_count() -> None:
    """The recorders test ``anomaly_threads[0]`` before this thread's flag: a node keeps its
    creation stack only in the thread that turned anomaly mode on, and the count returns to
    0 when every thread turned it off."""
    import threading

    from chainrule.autograd import function as fmod

    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    start = fmod.anomaly_threads[0]
    seen: dict[str, Any] = {}
    on, done = threading.Event(), threading.Event()

    def other() -> None:
        on.wait()
        seen["other"] = (x * 2.0).exp().grad_fn.stack  # (recorded while the main thread is on)
        done.set()

    th = threading.Thread(target=other)
    th.start()
    with chainrule.autograd.detect_anomaly():
        assert fmod.anomaly_threads[0] == start + 1
        on.set()
        done.wait()
        mine = (x * 2.0).exp().grad_fn.stack
    th.join()
    assert fmod.anomaly_threads[0] == start
    assert mine is not None and seen["other"] is None
    assert (x * 2.0).grad_fn.stack is None
    chainrule.autograd.set_detect_anomaly(True)
    chainrule.autograd.set_detect_anomaly(True)  # (turning it on twice counts once)
    assert fmod.anomaly_threads[0] == start + 1
    chainrule.autograd.set_detect_anomaly(False)
    assert fmod.anomaly_threads[0] == start and not fmod._GradMode.anomaly


# ---- the array pass reads the arrays kept at record time ---------------------------------------
def test_a_node_reads_the_new_array_after_data_is_reassigned_as_torch() -> None:
    """``F.inputs`` hands the arrays the recorder kept; ``p.data = t`` after the forward must
    still be seen by the backward, as in PyTorch (the engine re-reads them for such nodes)."""
    grads = []
    for lib in (chainrule, torch):
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        y = (x * w).exp().sum()
        x.data = lib.tensor([4.0, 5.0, 6.0], dtype=lib.float64)
        y.backward()
        grads.append((x.grad.numpy().copy(), w.grad.numpy().copy()))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-12)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-12)


def test_a_freed_graph_drops_the_arrays_it_kept() -> None:
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).exp()
    mul, exp = y.grad_fn.next[0], y.grad_fn
    assert mul.arrays[0] is x._array and exp.out_array is y._array
    y.sum().backward()
    assert mul.arrays is None and exp.out_array is None and exp.arrays is None


# ---- grad mode: a global count of the threads that turned recording off ------------------------
def test_no_grad_in_another_thread_leaves_this_one_recording() -> None:
    import threading

    from chainrule.autograd import function as fmod

    inside, leave = threading.Event(), threading.Event()

    def worker() -> None:
        with chainrule.no_grad():
            inside.set()
            leave.wait(5)

    th = threading.Thread(target=worker)
    th.start()
    inside.wait(5)
    assert fmod._grad_off == 1
    x = chainrule.tensor([1.0], requires_grad=True)
    assert (x * 2.0).requires_grad  # this thread still records
    with chainrule.no_grad():
        assert fmod._grad_off == 2 and not (x * 2.0).requires_grad
    leave.set()
    th.join()
    assert fmod._grad_off == 0 and (x * 2.0).grad_fn is not None


def test_a_direct_ufunc_forward_keeps_the_ops_dtype_rules() -> None:
    """The operators call the op's ufunc directly; the result equals ``forward``'s, dtype
    included (int / int and int * float32 give float32, float64 stays float64)."""
    cases = [(np.arange(1, 5, dtype=np.int64), np.arange(2, 6, dtype=np.int64)),
             (np.arange(1, 5, dtype=np.int64), np.full(4, 0.5, np.float32)),
             (np.linspace(0.5, 2, 4), np.linspace(1, 3, 4)),
             (np.linspace(0.5, 2, 4).astype(np.float32), 2.5)]
    for a, b in cases:
        x = chainrule.tensor(a)
        y = chainrule.tensor(b) if isinstance(b, np.ndarray) else b
        tx = torch.tensor(a)
        ty = torch.tensor(b) if isinstance(b, np.ndarray) else b
        for ours, theirs in [(x + y, tx + ty), (x - y, tx - ty), (x * y, tx * ty),
                             (x / y, tx / ty), (-x, -tx), (x.exp(), tx.exp())]:
            assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_an_op_that_overrides_forward_does_not_inherit_the_direct_ufunc() -> None:
    class Twice(E.Mul):
        def forward(self, x: Any, y: Any) -> Any:
            return 2 * x * y

    assert Twice.forward_ufunc is None and E.Mul.forward_ufunc is np.multiply
    assert E.Exp.forward_ufunc is np.exp and E.Tanh.forward_ufunc is np.tanh
