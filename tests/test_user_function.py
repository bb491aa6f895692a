"""PyTorch-style custom autograd Functions (``autograd.Function`` with static forward/backward
and ``ctx``): the same class source is executed against torch and against chainrule, and
values and gradients (random upstream gradient, float64) must agree."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

import chainrule as cr

SOURCE = textwrap.dedent('''
    class LegendreP3(torch.autograd.Function):
        """P3(x) = x (5x² - 3) / 2, P3'(x) = (15x² - 3) / 2."""
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * (5 * x * x - 3) / 2

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * (15 * x * x - 3) / 2


    class MyReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input


    class ScaledMul(torch.autograd.Function):
        """Two tensors and a non-tensor argument; needs_input_grad decides what is computed."""
        @staticmethod
        def forward(ctx, x, w, k):
            ctx.save_for_backward(x, w)
            ctx.k = k
            return k * x * w

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            gx = g * ctx.k * w if ctx.needs_input_grad[0] else None
            gw = g * ctx.k * x if ctx.needs_input_grad[1] else None
            return gx, gw, None


    class SinCos(torch.autograd.Function):
        """Two outputs."""
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin(), x.cos()

        @staticmethod
        def backward(ctx, gs, gc):
            (x,) = ctx.saved_tensors
            return gs * x.cos() - gc * x.sin()


    class SortWithIndex(torch.autograd.Function):
        """A non-differentiable second output (the permutation)."""
        @staticmethod
        def forward(ctx, x):
            v, i = x.sort()
            ctx.mark_non_differentiable(i)
            ctx.save_for_backward(i)
            return v, i

        @staticmethod
        def backward(ctx, gv, gi):
            (i,) = ctx.saved_tensors
            out = torch.zeros_like(gv)
            out[i] = gv
            return out


    class Cube(torch.autograd.Function):
        """The setup_context form: forward without ctx."""
        @staticmethod
        def forward(x, a):
            return a * x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, a = inputs
            ctx.save_for_backward(x)
            ctx.a = a

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * ctx.a * g * x ** 2, None


    class NoMaterialize(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            out = torch.zeros_like(g1 if g1 is not None else g2)
            if g1 is not None:
                out = out + 2 * g1
            if g2 is not None:
                out = out + 3 * g2
            return out


    class OnceExp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y
''')


def _module(lib: object, once: object) -> dict:
    ns = {"torch": lib, "once_differentiable": once}
    exec(SOURCE, ns)
    return ns


TORCH = _module(torch, torch.autograd.function.once_differentiable)
CR = _module(cr, cr.autograd.function.once_differentiable)
RNG = np.random.default_rng(1)


def _compare(call, shapes: list[tuple[int, ...]], n_out: int = 1) -> None:
    """call(ns, *tensors) on both libraries: same outputs, same input gradients under random
    upstream gradients, and the same gradient-of-gradient (create_graph) where it exists."""
    arrs = [RNG.uniform(-1.5, 1.5, s) for s in shapes]
    xc = [cr.tensor(a, requires_grad=True) for a in arrs]
    xt = [torch.tensor(a, requires_grad=True) for a in arrs]
    oc, ot = call(CR, *xc), call(TORCH, *xt)
    oc = oc if isinstance(oc, tuple) else (oc,)
    ot = ot if isinstance(ot, tuple) else (ot,)
    loss_c, loss_t = 0, 0
    for a, b in zip(oc[:n_out], ot[:n_out]):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-12)
        g = RNG.standard_normal(tuple(b.shape))
        loss_c = loss_c + (a * cr.tensor(g)).sum()
        loss_t = loss_t + (b * torch.tensor(g)).sum()
    gc = cr.autograd.grad(loss_c, xc, allow_unused=True)
    gt = torch.autograd.grad(loss_t, xt, allow_unused=True)
    for a, b in zip(gc, gt):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)


def test_legendre_and_relu() -> None:
    _compare(lambda ns, x: ns["LegendreP3"].apply(x), [(7,)])
    _compare(lambda ns, x: ns["MyReLU"].apply(x), [(3, 4)])


def test_non_tensor_argument_and_needs_input_grad() -> None:
    _compare(lambda ns, x, w: ns["ScaledMul"].apply(x, w, 2.5), [(3, 4), (4,)])
    seen = []

    class Probe(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, k):
            seen.append(ctx.needs_input_grad)
            return x * w * k

        @staticmethod
        def backward(ctx, g):
            return g, g, None

    Probe.apply(cr.ones(2, requires_grad=True), cr.ones(2), 3)
    assert seen == [(True, False, False)]


def test_two_outputs_and_non_differentiable_output() -> None:
    _compare(lambda ns, x: ns["SinCos"].apply(x), [(5,)], n_out=2)
    _compare(lambda ns, x: ns["SinCos"].apply(x)[1], [(5,)])  # only one output used
    _compare(lambda ns, x: ns["SortWithIndex"].apply(x), [(6,)], n_out=1)
    v, i = CR["SortWithIndex"].apply(cr.tensor([3.0, 1.0, 2.0], requires_grad=True))
    assert v.requires_grad and not i.requires_grad and i.tolist() == [1, 2, 0]


def test_setup_context_and_materialize_grads() -> None:
    _compare(lambda ns, x: ns["Cube"].apply(x, 0.7), [(4,)])
    _compare(lambda ns, x: ns["NoMaterialize"].apply(x)[1], [(4,)])
    _compare(lambda ns, x: ns["NoMaterialize"].apply(x), [(4,)], n_out=2)


def test_backward_is_differentiable_with_create_graph() -> None:
    """d²/dx² of sum(P3(x)) = 15 x through the user's backward, as torch."""
    a = RNG.uniform(-1, 1, 5)
    xc, xt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (gc,) = cr.autograd.grad(CR["LegendreP3"].apply(xc).sum(), xc, create_graph=True)
    (gt,) = torch.autograd.grad(TORCH["LegendreP3"].apply(xt).sum(), xt, create_graph=True)
    (hc,) = cr.autograd.grad(gc.sum(), xc)
    (ht,) = torch.autograd.grad(gt.sum(), xt)
    np.testing.assert_allclose(hc.numpy(), ht.numpy(), atol=1e-12)
    np.testing.assert_allclose(hc.numpy(), 15 * a, atol=1e-12)


def test_once_differentiable() -> None:
    _compare(lambda ns, x: ns["OnceExp"].apply(x), [(4,)])
    for lib, ns in ((cr, CR), (torch, TORCH)):  # an upstream gradient that requires grad
        x = lib.tensor([0.1, 0.2], dtype=lib.float64, requires_grad=True)
        v = lib.ones(2, dtype=lib.float64, requires_grad=True)
        (g,) = lib.autograd.grad(ns["OnceExp"].apply(x), x, v, create_graph=True)
        assert g.requires_grad
        with pytest.raises(RuntimeError, match="once_differentiable"):
            g.sum().backward()


def test_gradcheck_and_training_step() -> None:
    x = cr.tensor(RNG.standard_normal(6), requires_grad=True)
    assert cr.autograd.gradcheck(CR["LegendreP3"].apply, (x,))
    assert cr.autograd.gradcheck(lambda t: CR["ScaledMul"].apply(t, t * 2, 1.5), (x,))
    assert cr.autograd.gradcheck(lambda t: CR["SinCos"].apply(t)[0] * 2, (x,))


def test_errors_and_graph_names() -> None:
    class Wrong(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    x = cr.ones(2, requires_grad=True)
    y = Wrong.apply(x, cr.ones(2, requires_grad=True))
    assert y.grad_fn.name() == "WrongBackward"
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        y.sum().backward()
    z = CR["LegendreP3"].apply(x)
    with cr.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    with cr.no_grad():
        assert not CR["LegendreP3"].apply(x).requires_grad


def test_two_outputs_double_backward_and_hooks() -> None:
    """Second derivatives through a two-output Function (its slot nodes record under
    create_graph), and a tensor hook on an output sees the gradient torch's does."""
    a = RNG.uniform(-1, 1, 4)
    res = []
    for lib, ns in ((cr, CR), (torch, TORCH)):
        x = lib.tensor(a, requires_grad=True)
        s, c = ns["SinCos"].apply(x)
        seen = []
        c.register_hook(lambda g, seen=seen: seen.append(g.detach().numpy().copy())
                        if g is not None else None)
        (g,) = lib.autograd.grad((s * s + 3 * c).sum(), x, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), x)
        res.append((g.detach().numpy(), h.numpy(), seen[0]))
    for u, v in zip(*res):
        np.testing.assert_allclose(u, v, atol=1e-12)


def test_mark_dirty_inplace_forward() -> None:
    """An in-place forward (ctx.mark_dirty) returns the input itself, now created by the
    function; a leaf that requires grad is refused."""
    src = textwrap.dedent('''
        class MulTwo_(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return 2 * g
    ''')
    res = []
    for lib in (cr, torch):
        ns = {"torch": lib}
        exec(src, ns)
        a = lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64, requires_grad=True)
        b = a * 1.5
        out = ns["MulTwo_"].apply(b)
        assert out is b and b.grad_fn.name() == "MulTwo_Backward"
        (b ** 2).sum().backward()
        res.append((b.detach().numpy().copy(), a.grad.numpy().copy()))
        with pytest.raises(RuntimeError, match="leaf"):
            ns["MulTwo_"].apply(lib.ones(2, requires_grad=True))
    for u, v in zip(*res):
        np.testing.assert_allclose(u, v, atol=1e-12)
