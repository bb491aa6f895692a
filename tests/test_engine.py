"""The autograd engine: accumulation, graph shapes, retain_graph, grad modes, hooks, in-place
rules, autograd.grad options, anomaly detection and the error messages of bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule.autograd.engine import Function  # noqa: E402
from chainrule.tensor import apply  # noqa: E402

R = np.random.default_rng(0)
A = R.uniform(0.5, 1.5, (3, 4))
B = R.uniform(0.5, 1.5, (4,))


def leaves(lib: Any, *arrays: np.ndarray) -> list[Any]:
    return [lib.tensor(a.copy(), requires_grad=True) for a in arrays]


def check_both(fn: Callable[..., Any], *arrays: np.ndarray) -> None:
    """Run ``fn(lib, *leaves)`` (which calls backward) with chainrule and torch; compare every
    leaf's .grad."""
    cx, tx = leaves(chainrule, *arrays), leaves(torch, *arrays)
    fn(chainrule, *cx)
    fn(torch, *tx)
    for k, (c, t) in enumerate(zip(cx, tx)):
        if t.grad is None:
            assert c.grad is None, f"leaf {k}: chainrule has a grad, torch has none"
            continue
        assert c.grad is not None, f"leaf {k}: no grad"
        assert c.grad.shape == c.shape and c.grad.dtype == c.dtype
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=f"leaf {k}")


def cot(lib: Any, shape: tuple[int, ...], seed: int = 1) -> Any:
    return lib.tensor(np.random.default_rng(seed).standard_normal(shape))


# ---- graph shapes and accumulation ----------------------------------------------------------
def test_reused_node_accumulates() -> None:
    def f(L: Any, x: Any, w: Any) -> None:
        y = x * w  # used three times below
        z = y * y + y.exp() - y.sum(0, keepdim=True)
        z.backward(cot(L, z.shape))

    check_both(f, A, B)


def test_leaf_used_twice_in_one_op() -> None:
    check_both(lambda L, x: (x * x + x / x).sum().backward(), A)


def test_diamond_graph() -> None:
    def f(L: Any, x: Any) -> None:
        a = x.exp()
        b, c = a * 2.0, a.sin()
        d = (b * c).tanh() + a
        (d * cot(L, d.shape)).sum().backward()

    check_both(f, A)


def test_grads_accumulate_over_backward_calls() -> None:
    def f(L: Any, x: Any, w: Any) -> None:
        (x @ w).sum().backward()
        ((x @ w) ** 2).sum().backward()

    check_both(f, A, B)


def test_deep_chain_no_recursion_limit() -> None:
    x = chainrule.tensor([1.0], dtype=chainrule.float64, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**5000])


def test_multiple_outputs_backward_together() -> None:
    def f(L: Any, x: Any) -> None:
        a, b = x.exp(), x.sin()
        L.autograd.backward([a.sum(), b], [None, cot(L, b.shape)])

    check_both(f, A)


def test_backward_on_a_leaf() -> None:
    check_both(lambda L, x: x.backward(cot(L, x.shape)), A)


# ---- retain_graph --------------------------------------------------------------------------
def test_second_backward_without_retain_graph_errors() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward() -> None:
    def f(L: Any, x: Any) -> None:
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        y.backward()

    check_both(f, A)


# ---- grad modes ----------------------------------------------------------------------------
def test_no_grad_records_nothing() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    with chainrule.no_grad():
        y = (x * 2).exp().sum()
        assert not chainrule.is_grad_enabled()
    assert chainrule.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf
    z = x * 2
    assert z.grad_fn is not None and z.requires_grad


def test_no_grad_decorator_and_enable_grad_inside() -> None:
    x = chainrule.tensor(A, requires_grad=True)

    @chainrule.no_grad()
    def f(t: Any) -> Any:
        with chainrule.enable_grad():
            inner = t * 2
        return t * 3, inner

    out, inner = f(x)
    assert out.grad_fn is None and inner.grad_fn is not None
    assert chainrule.is_grad_enabled()
    assert f.__name__ == "f"


def test_enable_grad_decorator_inside_no_grad() -> None:
    x = chainrule.tensor(A, requires_grad=True)

    @chainrule.enable_grad()
    def g(t: Any) -> Any:
        return t * 2

    with chainrule.no_grad():
        assert g(x).requires_grad
        assert not (x * 2).requires_grad


def test_set_grad_enabled_context_decorator_and_call() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    with chainrule.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

    @chainrule.set_grad_enabled(False)
    def f(t: Any) -> Any:
        return t * 2

    assert chainrule.is_grad_enabled(), "decorating must not change the mode"
    assert not f(x).requires_grad
    assert chainrule.is_grad_enabled()
    chainrule.set_grad_enabled(False)  # a plain call switches the mode (as torch)
    try:
        assert not chainrule.is_grad_enabled()
    finally:
        chainrule.set_grad_enabled(True)
    assert chainrule.is_grad_enabled()


def test_grad_mode_restored_after_exception() -> None:
    with pytest.raises(ValueError), chainrule.no_grad():
        raise ValueError("boom")
    assert chainrule.is_grad_enabled()

    @chainrule.no_grad()
    def f() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        f()
    assert chainrule.is_grad_enabled()


def test_no_grad_backward_pass_builds_no_graph() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    (x.exp() * x).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad


# ---- hooks and retain_grad -----------------------------------------------------------------
def test_leaf_hook_sees_and_replaces_grad() -> None:
    seen: dict[str, Any] = {}

    def f(L: Any, x: Any) -> None:
        def hook(g: Any) -> Any:
            seen[L.__name__] = g.detach().numpy().copy()
            return g * 3.0

        x.register_hook(hook)
        (x.sin() * x).sum().backward()

    check_both(f, A)
    np.testing.assert_allclose(seen["chainrule"], seen["torch"], rtol=1e-12)


def test_nonleaf_hook_replacement_flows_upstream_and_remove() -> None:
    def f(L: Any, x: Any) -> None:
        y = x.exp()
        h = y.register_hook(lambda g: g * -2.0)
        h2 = y.register_hook(lambda g: g + 1.0)
        (y * y).sum().backward(retain_graph=True)
        h.remove()
        h2.remove()
        (y * y).sum().backward()

    check_both(f, A)


def test_hook_returning_none_keeps_grad() -> None:
    calls = []

    def f(L: Any, x: Any) -> None:
        y = x * 2
        y.register_hook(lambda g: calls.append(L.__name__))
        y.sum().backward()

    check_both(f, A)
    assert calls == ["chainrule", "torch"]


def test_retain_grad_on_nonleaf() -> None:
    cx, tx = leaves(chainrule, A)[0], leaves(torch, A)[0]
    res = []
    for L, x in ((chainrule, cx), (torch, tx)):
        y = x.tanh()
        y.retain_grad()
        z = y * 2
        (z * cot(L, z.shape)).sum().backward()
        assert y.retains_grad
        if L is chainrule:
            assert z.grad is None
        res.append(y.grad.numpy())
    np.testing.assert_allclose(res[0], res[1], rtol=1e-12)


def test_register_hook_on_tensor_without_grad_errors() -> None:
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        chainrule.tensor(A).register_hook(lambda g: g)


# ---- in-place ------------------------------------------------------------------------------
def test_inplace_on_saved_output_raises_naming_op() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    y = x.exp()  # exp saves its output
    z = y.sum()
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="ExpBackward.*inplace|inplace.*ExpBackward"):
        z.backward()


def test_inplace_check_only_for_inputs_backward_reads() -> None:
    """x * 2.0 does not read x in backward (only the constant): changing x later is fine;
    x * w reads both."""
    for L in (chainrule, torch):
        x = L.tensor(A, requires_grad=True)
        y = x * 1.0
        z = (y * 2.0).sum()
        y.add_(1.0)
        z.backward()
        w = L.tensor(B, requires_grad=True)
        y = x * 1.0
        z = (y * w).sum()
        y.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.backward()


def test_inplace_on_einsum_operand_raises_when_another_needs_grad() -> None:
    """einsum's gradient of one operand reads the others: changing y in place breaks x's
    gradient, while changing x does not matter when y needs none (as torch)."""
    for L in (chainrule, torch):
        w = L.tensor(B, requires_grad=True)
        x = L.tensor(A, requires_grad=True) * 1.0
        z = L.einsum("ij,j->i", x, L.tensor(B)).sum()
        x.add_(1.0)
        z.backward()
        y = w * 1.0
        z = L.einsum("ij,j->i", L.tensor(A, requires_grad=True), y).sum()
        y.mul_(2.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.backward()



@pytest.mark.parametrize("changed", [0, 1, 2])
def test_inplace_on_three_operand_einsum_matches_torch(changed: int) -> None:
    """einsum("i,i,i->") with only the first operand needing a gradient reads the other two:
    changing one of them in place is refused, changing the first is not (as torch)."""
    outcome = {}
    for L in (chainrule, torch):
        ts = [L.tensor(B[:3]) for _ in range(3)]
        ts[0] = L.tensor(B[:3], requires_grad=True) * 1.0
        z = L.einsum("i,i,i->", *ts)
        ts[changed].add_(1.0)
        try:
            z.backward()
            outcome[L] = "ran"
        except RuntimeError as err:
            assert "modified by an inplace operation" in str(err)
            outcome[L] = "refused"
    assert outcome[chainrule] == outcome[torch]


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_inplace_on_recurrent_weight_refused_like_torch(mode: str) -> None:
    """The fused recurrence declares ``"*params"``: a weight changed in place between forward
    and backward is refused, as in torch."""
    for L in (chainrule, torch):
        L.manual_seed(0)
        m = getattr(L.nn, mode)(3, 4)
        y, _ = m(L.randn(5, 2, 3))
        with L.no_grad():
            m.weight_hh_l0.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def _scaled_product(saves: Any) -> type[Function]:
    """A custom op out = x * y (derivative dx = g y, dy = g x) declaring ``saves``."""

    def forward(self: Function, x: Any, y: Any) -> Any:
        return x * y

    def vjp(self: Function, g: Any, F: Any) -> tuple:
        x, y = F.inputs(self)
        return g * y, g * x

    return type("ScaledProduct", (Function,), {"saves": saves, "forward": forward, "vjp": vjp})


@pytest.mark.parametrize("y_needs_grad", [False, True])
def test_saves_declaration_for_another_inputs_gradient(y_needs_grad: bool) -> None:
    """``"x for dy"``: an in-place change to x is refused only when y needs a gradient; a plain
    ``"x"`` refuses it always."""
    for saves, refused in ((("x for dy", "y for dx"), y_needs_grad), (("x", "y"), True)):
        op = _scaled_product(saves)
        x = chainrule.tensor(B, requires_grad=True) * 1.0
        y = chainrule.tensor(B, requires_grad=y_needs_grad)
        z = op.apply(x, y).sum()
        x.add_(1.0)
        if refused:
            with pytest.raises(RuntimeError, match="input 0 of ScaledProductBackward"):
                z.backward()
        else:
            z.backward()


def test_saves_declaration_of_the_output() -> None:
    """``"out"``: changing the op's output in place is refused at backward."""
    op = _scaled_product(("out",))
    x = chainrule.tensor(B, requires_grad=True)
    out = op.apply(x, chainrule.tensor(B))
    out.add_(1.0)
    with pytest.raises(RuntimeError, match="the output of ScaledProductBackward"):
        out.sum().backward()


@pytest.mark.parametrize("saves, message", [
    (("z",), "no positional parameter 'z'"),
    (("x for dq",), "no positional parameter 'q'"),
    ((0,), "is not"),
    ("x", "must be a tuple of names"),
    (("x", "x"), "twice"),
    (("*x",), "names no \\*x parameter"),
])
def test_saves_declaration_errors_name_the_problem(saves: Any, message: str) -> None:
    """A declaration that does not match ``forward`` fails when the class is defined."""
    with pytest.raises(TypeError, match=message):
        _scaled_product(saves)


def test_op_without_saves_declaration_is_refused() -> None:
    """An op with a forward must say what its derivative reads (``saves = ()`` for nothing)."""
    with pytest.raises(TypeError, match="Undeclared: declare what the derivative reads"):
        class Undeclared(Function):
            def forward(self, x: Any) -> Any:
                return x


@pytest.mark.parametrize("mutate", [
    lambda c: c.__setitem__(0, False),
    lambda c: c.zero_(),
], ids=["setitem", "zero_"])
@pytest.mark.parametrize("build", [
    lambda L, c, x, y: L.where(c, x, y),
    lambda L, c, x, y: L.where(c, 0.5, y),  # only the other branch needs a gradient
    lambda L, c, x, y: y.masked_fill(c, 0.0),
], ids=["where", "where_scalar", "masked_fill"])
def test_inplace_on_where_condition_raises_like_torch(build: Any, mutate: Any) -> None:
    """where's derivative reads its condition: changing the condition Tensor in place before
    backward is refused (torch raises too), instead of routing the gradient by new values."""
    for L in (chainrule, torch):
        x, y = leaves(L, A[0], A[1])
        c = L.tensor(np.array([True, False, True, False]))
        z = build(L, c, x, y).sum()
        mutate(c)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.backward()


def test_where_condition_changed_after_backward_or_through_data_matches_torch() -> None:
    """No false alarm: a condition changed after backward, or through ``.data`` (which skips
    the version counter, so the gradient follows the new values) behaves as in torch."""
    def f(L: Any, x: Any, y: Any) -> None:
        c = L.tensor(np.array([True, False, True, False]))
        z = L.where(c, x, y)
        z.sum().backward(retain_graph=True)
        c.data[0] = False
        (z * 2.0).sum().backward()

    check_both(f, A[0], A[1])


def test_inplace_on_saved_input_raises_naming_op() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    y = x * 2.0
    z = (y * y).sum()  # mul saves y
    y.mul_(3.0)
    with pytest.raises(RuntimeError, match="MulBackward") as e:
        z.backward()
    assert "modified by an inplace operation" in str(e.value)


def test_inplace_through_a_view_of_saved_tensor_raises() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    y = x * 2.0
    z = y.log().sum()  # log saves y
    with chainrule.no_grad():
        y[0].zero_()  # a view shares the version counter
    with pytest.raises(RuntimeError, match="LogBackward"):
        z.backward()


def test_inplace_on_leaf_requiring_grad_raises_at_once() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    for mutate in (lambda t: t.add_(1.0), lambda t: t.mul_(2.0), lambda t: t.zero_(),
                   lambda t: t.__setitem__(0, 1.0), lambda t: t.copy_(chainrule.tensor(A)),
                   lambda t: t.clamp_(0.0, 1.0), lambda t: t.exp_()):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            mutate(x)
    np.testing.assert_array_equal(x.detach().numpy(), A)


def test_inplace_on_leaf_under_no_grad_is_allowed() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    v0 = x._version
    with chainrule.no_grad():
        x.mul_(2.0)
        x -= 0.5
        x[0] = 7.0
    np.testing.assert_allclose(x.detach().numpy()[1:], A[1:] * 2 - 0.5)
    assert x.detach().numpy()[0].tolist() == [7.0] * 4
    assert x._version > v0 and x.is_leaf and x.requires_grad


def test_inplace_on_unsaved_nonleaf_matches_torch() -> None:
    def f(L: Any, x: Any, w: Any) -> None:
        y = x + 1.0  # add saves nothing
        y.mul_(w)
        y += 2.0
        y -= x
        y.div_(w)
        y.mul_(3.0)
        y.exp_()  # saves its output: the last in-place op on y
        y = y * 2
        y.clamp_(0.1, 1.8)
        z = x * 1.0
        z.fill_(0.5)  # the old values get a zero gradient
        z.masked_fill_(L.tensor(A > 1.0), 2.0)
        z.copy_(x.sin() * w)
        (y * z * cot(L, y.shape)).sum().backward()

    check_both(f, A, B)


def test_inplace_after_inplace_that_saved_output_raises_like_torch() -> None:
    for L in (chainrule, torch):
        x = L.tensor(A, requires_grad=True)
        y = x.exp()
        y.relu_()  # saves its output
        y.add_(1.0)
        y = y * 2  # the name no longer holds the overwritten tensor
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_setitem_on_nonleaf_matches_torch() -> None:
    def f(L: Any, x: Any, w: Any) -> None:
        y = x * 1.0
        y[0] = w * 3.0
        y[:, 1] = 0.0
        y[L.tensor([2, 2])] += 1.0
        (y * cot(L, y.shape)).sum().backward()

    check_both(f, A, B)


def test_inplace_on_view_of_nonleaf_matches_torch() -> None:
    def f(L: Any, x: Any) -> None:
        y = x * 2.0
        v = y[1]
        v.mul_(10.0)  # writes through to y: y's gradient must see it
        y.t()[0].add_(y[:, 1].detach())
        y[:, 2:].exp_()
        (y * cot(L, y.shape)).sum().backward()

    check_both(f, A)


def test_view_of_nonleaf_after_base_modified_matches_torch() -> None:
    def f(L: Any, x: Any) -> None:
        y = x * 2.0
        v = y[1]
        r = y.reshape(12)
        before = v * 1.0  # used before the change: keeps the old derivative
        y.mul_(x)  # v and r now hold (x * 2) * x
        (v * cot(L, v.shape) + before).sum().backward(retain_graph=True)
        (r * r).sum().backward()

    check_both(f, A)


def test_inplace_on_view_of_leaf_raises() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x[0].mul_(2.0)


def test_inplace_into_buffer_with_grad_source_matches_torch() -> None:
    def f(L: Any, x: Any) -> None:
        buf = L.zeros(5, 4, dtype=L.float64)
        buf[1:4] = x * 3.0
        buf[0].copy_(x[0].exp())
        (buf * cot(L, buf.shape)).sum().backward()

    check_both(f, A)


def test_inplace_values_visible_through_views() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    y = x * 2.0
    v = y[0]
    y.add_(1.0)
    np.testing.assert_allclose(v.detach().numpy(), A[0] * 2 + 1)
    w = y.reshape(12)
    w.mul_(0.0)
    np.testing.assert_array_equal(y.detach().numpy(), np.zeros((3, 4)))


def test_no_reference_cycle_from_inplace() -> None:
    import gc
    import weakref

    x = chainrule.tensor(A, requires_grad=True)
    y = x * 2.0
    y.relu_()
    node = weakref.ref(y.grad_fn)
    gc.disable()
    try:
        del y
        assert node() is None, "an in-place op left a reference cycle"
    finally:
        gc.enable()


# ---- autograd.grad options -----------------------------------------------------------------
def test_allow_unused() -> None:
    x, u = leaves(chainrule, A, B)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        chainrule.autograd.grad(y, [x, u], retain_graph=True)
    gx, gu = chainrule.autograd.grad(y, [x, u], allow_unused=True)
    assert gu is None
    np.testing.assert_allclose(gx.numpy(), np.full(A.shape, 2.0))
    assert x.grad is None, "autograd.grad must not accumulate into .grad"


def test_grad_materialize_grads() -> None:
    x, u = leaves(chainrule, A, B)
    _, gu = chainrule.autograd.grad((x * 2).sum(), [x, u], materialize_grads=True)
    np.testing.assert_array_equal(gu.numpy(), np.zeros(4))


def test_grad_create_graph_higher_order_matches_torch() -> None:
    res = []
    for L in (chainrule, torch):
        x = L.tensor(np.array([0.7, -1.3, 2.0]), requires_grad=True)
        y = (x**3 * x.sin()).sum()
        (g,) = L.autograd.grad(y, x, create_graph=True)
        (h,) = L.autograd.grad(g.sum(), x, create_graph=True)
        (t,) = L.autograd.grad(h.sum(), x)
        res.append([g.detach().numpy(), h.detach().numpy(), t.numpy()])
    for c, t in zip(*res):
        np.testing.assert_allclose(c, t, rtol=1e-12)


def test_gradient_penalty_backward_matches_torch() -> None:
    def f(L: Any, x: Any, w: Any) -> None:
        out = (x @ w).tanh().sum()
        (gx,) = L.autograd.grad(out, x, create_graph=True)
        loss = (gx * gx).sum() + out
        loss.backward()

    check_both(f, A, B)


def test_grad_wrt_nonleaf() -> None:
    res = []
    for L in (chainrule, torch):
        x = L.tensor(A, requires_grad=True)
        h = x.exp()
        y = (h * h).sum()
        (gh,) = L.autograd.grad(y, h)
        res.append(gh.numpy())
    np.testing.assert_allclose(res[0], res[1])


def test_backward_inputs_restricts_accumulation() -> None:
    def f(L: Any, x: Any, w: Any) -> None:
        (x @ w).sum().backward(inputs=[w])

    check_both(f, A, B)

    def g(L: Any, x: Any, w: Any) -> None:
        (x @ w).sum().backward(inputs=x)

    check_both(g, A, B)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph")
def test_backward_create_graph_grad_is_differentiable() -> None:
    def f(L: Any, x: Any) -> None:
        (x**3).sum().backward(create_graph=True)
        g = x.grad
        x.grad = None
        (g * g).sum().backward()

    check_both(f, B)


def test_grad_outputs_and_shape_mismatch() -> None:
    x = leaves(chainrule, A)[0]
    y = x * 2
    with pytest.raises(RuntimeError, match=r"Mismatch in shape.*Size\(\[4\]\).*Size\(\[3, 4\]\)"):
        chainrule.autograd.grad(y, x, chainrule.ones(4, dtype=chainrule.float64))


def test_grad_of_output_not_requiring_grad_errors() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        chainrule.tensor(A).sum().backward()


# ---- anomaly detection ---------------------------------------------------------------------
def test_detect_anomaly_names_op_and_user_line() -> None:
    x = chainrule.tensor([0.0, 1.0], dtype=chainrule.float64, requires_grad=True)
    with chainrule.autograd.detect_anomaly(), np.errstate(all="ignore"):
        y = x.sqrt()  # d sqrt(0) = inf; times 0 -> nan
        loss = (y * 0.0).sum()
        with pytest.raises(RuntimeError, match="SqrtBackward") as e:
            loss.backward()
    assert "test_engine.py" in str(e.value) and "x.sqrt()" in str(e.value)
    assert not chainrule.autograd.anomaly.is_anomaly_enabled()


def test_without_anomaly_nan_passes_silently() -> None:
    x = chainrule.tensor([0.0, 1.0], dtype=chainrule.float64, requires_grad=True)
    with np.errstate(all="ignore"):
        (x.sqrt() * 0.0).sum().backward()
    assert np.isnan(x.grad.numpy()[0])


# ---- bad input -----------------------------------------------------------------------------
def test_nonscalar_backward_without_gradient() -> None:
    x = leaves(chainrule, A)[0]
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*Size\(\[3, 4\]\)"):
        (x * 2).backward()


def test_matmul_shape_error_names_both_shapes() -> None:
    a, b = chainrule.ones(2, 3), chainrule.ones(4, 5)
    with pytest.raises(RuntimeError, match=r"matmul: \(2, 3\) @ \(4, 5\): inner dims 3 != 4"):
        a @ b
    with pytest.raises(RuntimeError, match=r"\(3,\) @ \(4,\)"):
        chainrule.ones(3) @ chainrule.ones(4)
    with pytest.raises(RuntimeError, match=r"\(2, 2, 3\) @ \(2, 4, 5\)"):
        chainrule.ones(2, 2, 3) @ chainrule.ones(2, 4, 5)


def test_broadcast_error_names_both_shapes() -> None:
    with pytest.raises(RuntimeError, match=r"\(2, ?3\).*\(4,\)"):
        chainrule.ones(2, 3) + chainrule.ones(4)
    with pytest.raises(RuntimeError, match=r"\(2, ?3\).*\(4,\)"):
        chainrule.ones(2, 3, requires_grad=True) * chainrule.ones(4)


def test_dtype_errors_name_both_dtypes() -> None:
    with pytest.raises(RuntimeError, match="float32.*float64"):
        chainrule.ones(2, 2) @ chainrule.ones(2, 2, dtype=chainrule.float64)
    t = chainrule.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="float32.*int64"):
        t += chainrule.tensor([0.5, 0.5, 0.5])
    with pytest.raises(RuntimeError, match="float32.*int64|int64.*float32"):
        t.add_(0.5)


def test_requires_grad_on_integer_refused_with_reason() -> None:
    for make in (lambda: chainrule.tensor([1, 2], requires_grad=True),
                 lambda: chainrule.tensor([1, 2]).requires_grad_(),
                 lambda: chainrule.zeros(2, dtype=chainrule.int64, requires_grad=True),
                 lambda: chainrule.tensor([True]).requires_grad_()):
        with pytest.raises(RuntimeError, match="floating point.*int64|floating point.*bool"):
            make()


def test_index_out_of_range_names_index_and_size() -> None:
    x = chainrule.ones(3, 4)
    xg = chainrule.ones(3, 4, requires_grad=True)
    cases = [
        (lambda: x[5], r"index 5 .*dimension 0 with size 3"),
        (lambda: x[:, -5], r"index -5 .*dimension 1 with size 4"),
        (lambda: xg[chainrule.tensor([0, 7])], r"index 7 .*dimension 0 with size 3"),
        (lambda: xg[[0, 1], [1, 9]], r"index 9 .*dimension 1 with size 4"),
        (lambda: x.gather(1, chainrule.tensor([[4]])), r"index 4 .*dimension 1 with size 4"),
        (lambda: x.index_select(0, chainrule.tensor([3])), r"index 3 .*dimension 0 with size 3"),
        (lambda: x.__setitem__(3, 0.0), r"index 3 .*dimension 0 with size 3"),
        (lambda: x[0, 0, 0], r"too many indices .*\(3, 4\)"),
    ]
    for fn, pattern in cases:
        with pytest.raises(IndexError, match=pattern):
            fn()


def test_other_shape_errors_name_shapes() -> None:
    with pytest.raises(RuntimeError, match=r"\[5\].*size 12"):
        chainrule.ones(3, 4).reshape(5)
    with pytest.raises(RuntimeError, match=r"tensor 0 has shape \(2, 3\), tensor 1 has shape "
                                           r"\(2, 4\)"):
        chainrule.cat([chainrule.ones(2, 3), chainrule.ones(2, 4)])
    with pytest.raises(RuntimeError, match=r"\(3, 1\).*\(4, 5\)|\(4, 5\).*\(3, 1\)"):
        chainrule.ones(3, 1).expand(4, 5)
    with pytest.raises(RuntimeError, match=r"Size\(\[2, 3\]\).*Size\(\[3, 2\]\)"):
        chainrule.stack([chainrule.ones(2, 3), chainrule.ones(3, 2)])


def test_custom_function_wrong_gradient_shape_names_op() -> None:
    class Bad(Function):
        saves = ()

        def forward(self, x: Any) -> Any:
            return x * 2

        def backward(self, g: Any) -> tuple:
            return (g.sum(0),)

    x = chainrule.ones(3, 4, requires_grad=True)
    # (4,) can be broadcast back to (3, 4)? No: the engine only sums down, so this must fail
    y = apply(Bad, x)

    class Bad2(Bad):
        def backward(self, g: Any) -> tuple:
            return (chainrule.ones(5),)

    y2 = apply(Bad2, x)
    with pytest.raises(RuntimeError, match=r"Bad2Backward.*\(5,\).*\(3, 4\)"):
        y2.sum().backward()
    with pytest.raises(RuntimeError, match=r"BadBackward.*\(4,\).*\(3, 4\)"):
        y.sum().backward()


# ---- ties, promotion and index forms (compared with torch) ---------------------------------
TIES = [
    ("max_all", lambda L, x: x.max(), [1.0, 3.0, 3.0, 2.0]),
    ("amax", lambda L, x: x.amax(), [1.0, 3.0, 3.0, 2.0]),
    ("min_all", lambda L, x: x.min(), [1.0, 0.5, 0.5, 2.0]),
    ("max_dim_first_index", lambda L, x: x.max(0)[0], [1.0, 3.0, 3.0, 2.0]),
    ("norm_inf", lambda L, x: x.norm(float("inf")), [1.0, -3.0, 3.0, 2.0]),
    ("maximum_tie", lambda L, x: L.maximum(x, L.tensor(np.array([1.0, 0.0, 3.0, 5.0]))),
     [1.0, 3.0, 3.0, 2.0]),
    ("clamp_at_bound", lambda L, x: x.clamp(1.0, 3.0), [1.0, 3.0, 0.0, 4.0]),
    ("relu_at_zero", lambda L, x: x.relu(), [0.0, -1.0, 2.0, 0.0]),
    ("abs_at_zero", lambda L, x: x.abs(), [0.0, -1.0, 2.0, 0.0]),
]


@pytest.mark.parametrize("name,fn,values", TIES, ids=[t[0] for t in TIES])
def test_subgradients_at_ties_and_kinks_match_torch(name: str, fn: Any, values: list) -> None:
    def f(L: Any, x: Any) -> None:
        out = fn(L, x)
        (out * cot(L, tuple(out.shape))).sum().backward()

    check_both(f, np.array(values))


def test_cat_and_stack_promote_like_torch() -> None:
    for fn in (lambda L: L.cat([L.tensor([1]), L.tensor([1.5])]),
               lambda L: L.stack([L.tensor([1]), L.tensor([1.5])]),
               lambda L: L.cat([L.tensor([1.0]), L.tensor([1.5], dtype=L.float64)])):
        c, t = fn(chainrule), fn(torch)
        assert str(c.dtype) == str(t.dtype).replace("torch.", "")


def test_index_forms_match_torch() -> None:
    a = np.arange(12.0).reshape(3, 4)
    for key in (lambda L: L.tensor(1), lambda L: L.tensor([-1, 0]), lambda L: np.int64(2),
                lambda L: (slice(None), L.tensor([[0, 1], [3, 3]])), lambda L: (-1, -2),
                lambda L: (L.tensor([True, False, True]), slice(1, 3))):
        def f(L: Any, x: Any, key: Any = key) -> None:
            out = x[key(L)]
            (out * cot(L, tuple(out.shape))).sum().backward()

        check_both(f, a)


def test_backward_inputs_nonleaf_gets_grad() -> None:
    res = []
    for L in (chainrule, torch):
        x = L.tensor(B, requires_grad=True)
        y = x * 2
        (y * y).sum().backward(inputs=[y])
        res.append((y.grad.numpy(), x.grad))
    np.testing.assert_allclose(res[0][0], res[1][0])
    assert res[0][1] is None and res[1][1] is None


def test_roots_that_depend_on_each_other() -> None:
    def f(L: Any, x: Any) -> None:
        y = x.exp()
        z = (y * y).sum(0)
        L.autograd.backward([y, z], [cot(L, y.shape), cot(L, z.shape, seed=2)])

    check_both(f, A)


def test_grad_with_repeated_inputs_and_outputs() -> None:
    res = []
    for L in (chainrule, torch):
        x = L.tensor(B, requires_grad=True)
        y = (x * x).sum()
        res.append([g.numpy() for g in L.autograd.grad([y, y], [x, x])])
    for c, t in zip(*res):
        np.testing.assert_allclose(c, t)


def test_gradcheck_handles_strided_inputs() -> None:
    x = chainrule.tensor(A, requires_grad=True).detach().t().requires_grad_()
    assert not x.is_contiguous()
    assert chainrule.autograd.gradcheck(lambda t: (t.exp() * t[0]).sum(1), (x,))


def test_returned_gradients_are_writable() -> None:
    x = chainrule.tensor(A, requires_grad=True)
    (g,) = chainrule.autograd.grad(x.sum(), x)
    g.mul_(2.0)  # a broadcast view inside the engine must not leak out read-only
    np.testing.assert_array_equal(g.numpy(), np.full(A.shape, 2.0))
    x.sum().backward()
    x.grad.add_(1.0)
    np.testing.assert_array_equal(x.grad.numpy(), np.full(A.shape, 2.0))


def test_fill_buffer_in_a_loop_matches_torch() -> None:
    def f(L: Any, x: Any) -> None:
        buf = L.zeros(3, 4, dtype=L.float64)
        h = x[0]
        for t in range(3):
            h = (h * x[t] + buf[t - 1]).tanh()  # reads the rows written so far
            buf[t] = h
        buf[1:] *= 2.0
        (buf * cot(L, buf.shape)).sum().backward()

    check_both(f, A)


def test_graph_is_freed_by_reference_counting() -> None:
    """No reference cycles: intermediates die as soon as nothing refers to them (gc off)."""
    import gc
    import weakref

    gc.disable()
    try:
        x = chainrule.tensor(A, requires_grad=True)
        y = x.exp()
        refs = [weakref.ref(y), weakref.ref(y.grad_fn)]
        z = (y * 2.0).sigmoid().sum()
        refs.append(weakref.ref(z.grad_fn))
        del y
        z.backward()  # frees the saved tensors
        assert refs[0]() is None, "backward kept a saved intermediate alive"
        del z
        assert all(r() is None for r in refs), "the graph outlived its output"
        (g,) = chainrule.autograd.grad((x * x).sum(), x, create_graph=True)
        node = weakref.ref(g.grad_fn)
        del g
        assert node() is None, "a create_graph gradient's graph outlived it"
    finally:
        gc.enable()


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # (sqrt's derivative at 0)
def test_where_and_masked_fill_route_inf_gradients_like_torch() -> None:
    """The branch not taken gets exactly 0 even where the upstream gradient is inf (sqrt at 0):
    selected, not multiplied by a 0/1 mask (0 · inf would be NaN)."""
    torch = pytest.importorskip("torch")
    got = []
    for lib in (torch, chainrule):
        a = lib.tensor([-1.0, 4.0], dtype=lib.float64, requires_grad=True)
        lib.where(a > 0, a, lib.zeros(2, dtype=lib.float64)).sqrt().sum().backward()
        b = lib.tensor([-1.0, 4.0], dtype=lib.float64, requires_grad=True)
        b.masked_fill(b <= 0, 0.0).sqrt().sum().backward()
        got.append((a.grad.tolist(), b.grad.tolist()))
    assert got[0] == got[1] == ([0.0, 0.25], [0.0, 0.25])


# ---- node names, as PyTorch spells them ----------------------------------------------------
NODE_CASES: dict[str, Callable[[Any, Any, Any, Any], Any]] = {
    "mul": lambda L, a, b, m: a * b,
    "mul by a number": lambda L, a, b, m: a * 2.0,
    "add": lambda L, a, b, m: a + b,
    "sub": lambda L, a, b, m: a - b,
    "div": lambda L, a, b, m: a / b,
    "neg": lambda L, a, b, m: -a,
    "mm": lambda L, a, b, m: a @ m,
    "sum": lambda L, a, b, m: a.sum(),
    "mean": lambda L, a, b, m: a.mean(),
    "exp": lambda L, a, b, m: a.exp(),
    "log": lambda L, a, b, m: a.log(),
    "tanh": lambda L, a, b, m: a.tanh(),
    "sigmoid": lambda L, a, b, m: a.sigmoid(),
    "relu": lambda L, a, b, m: a.relu(),
    "pow by a number": lambda L, a, b, m: a**2,
    "pow by a tensor": lambda L, a, b, m: a**b,
    "sqrt": lambda L, a, b, m: a.sqrt(),
    "view": lambda L, a, b, m: a.view(6),
    "permute": lambda L, a, b, m: a.permute(1, 0),
    "cat": lambda L, a, b, m: L.cat([a, b]),
    "log_softmax": lambda L, a, b, m: a.log_softmax(-1),
    "clamp": lambda L, a, b, m: a.clamp(0.0, 3.0),
    "maximum": lambda L, a, b, m: L.maximum(a, b),
    "where": lambda L, a, b, m: L.where(a > 2.0, a, b),
}


@pytest.mark.parametrize("case", list(NODE_CASES))
def test_node_names_match_torch(case: str) -> None:
    """``type(t.grad_fn).__name__``, ``grad_fn.name()`` and the leaves' ``AccumulateGrad``
    entries of ``next_functions`` read as PyTorch's."""

    def output(lib: Any) -> Any:
        a, b = leaves(lib, np.arange(1.0, 7.0).reshape(2, 3), np.arange(2.0, 8.0).reshape(2, 3))
        m = lib.tensor(np.arange(1.0, 7.0).reshape(3, 2), requires_grad=True)
        return NODE_CASES[case](lib, a, b, m)

    out = output(chainrule)
    c, t = out.grad_fn, output(torch).grad_fn
    assert type(c).__name__ == type(t).__name__ == c.name() == t.name()
    tnext = [type(f).__name__ for f, _ in t.next_functions if f is not None]
    cnext = [type(f).__name__ for f, _ in c.next_functions if f is not None]
    assert cnext == tnext
    assert f"grad_fn=<{t.name()}>" in repr(out)


def test_renamed_op_keeps_its_own_name_in_errors() -> None:
    """The op class keeps its own name where chainrule names the op (forward errors)."""
    from chainrule.ops.elementwise import Mul

    assert Mul.__qualname__ == "Mul" and Mul.__name__ == "MulBackward0"
    with pytest.raises(RuntimeError, match=r"^mul: "):
        chainrule.ones(2, requires_grad=True) * chainrule.ones(3)


def test_inplace_change_by_a_hook_during_backward_is_caught() -> None:
    """A tensor hook that changes a saved tensor in place while backward runs: the node that
    saved it, run after the hook, refuses (as PyTorch)."""
    for lib in (chainrule, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0])
        h = x * 1.0
        y = h * w  # saves w (h needs a gradient)
        z = y.exp()

        def change_w(g: Any, lib: Any = lib, w: Any = w) -> None:
            with lib.no_grad():
                w.add_(1.0)

        y.register_hook(change_w)  # runs before y's node (y * w) uses w
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()
