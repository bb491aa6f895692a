"""Functional transforms built on reverse mode: vjp, jvp, jacobian, hessian, hvp, vhp.

``func`` takes tensors and returns a tensor (or tuple); ``inputs`` is a tensor or a tuple of
tensors. Results mirror ``torch.autograd.functional``: a tensor for a single input and output,
tuples otherwise. With ``create_graph=True`` the results are differentiable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.autograd.engine import enable_grad
from chainrule.backend import xp


def _tuple(x: Any) -> tuple[bool, tuple]:
    from chainrule.tensor import Tensor

    if isinstance(x, Tensor):
        return True, (x,)
    return False, tuple(x)


def _prepare(inputs: tuple, create_graph: bool) -> tuple:
    out = []
    for x in inputs:
        y = x if (create_graph and x.requires_grad) else x.detach()
        if not y.requires_grad:
            y = y.detach().requires_grad_(True)
        out.append(y)
    return tuple(out)


def _evaluate(func: Callable, inputs: Any, create_graph: bool) -> tuple[bool, tuple, bool, tuple]:
    """func at fresh leaves made from ``inputs`` (recording): (single input?, the leaves,
    single output?, the outputs)."""
    single_in, xs = _tuple(inputs)
    with enable_grad():
        xs = _prepare(xs, create_graph)
        single_out, outs = _tuple(func(*xs))
    return single_in, xs, single_out, outs


def _grad(outputs: Any, inputs: tuple, grad_outputs: Any, create_graph: bool) -> tuple:
    from chainrule.autograd import grad
    from chainrule.creation import zeros_like

    outs = [o for o in outputs]
    gos = list(grad_outputs)
    keep = [(o, g) for o, g in zip(outs, gos) if o.requires_grad]
    if not keep:
        return tuple(zeros_like(x) for x in inputs)
    res = grad([o for o, _ in keep], list(inputs), [g for _, g in keep], retain_graph=True,
               create_graph=create_graph, allow_unused=True)
    return tuple(zeros_like(x) if r is None else r for x, r in zip(inputs, res))


def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), vᵀ J): the vector-Jacobian product."""
    from chainrule.creation import ones_like

    single_in, xs, single_out, outs = _evaluate(func, inputs, create_graph)
    with enable_grad():
        if v is None:
            if any(o.numel() != 1 for o in outs):
                raise RuntimeError("vjp: v can only be None if the output has a single element")
            vs = tuple(ones_like(o) for o in outs)
        else:
            vs = _tuple(v)[1]
        g = _grad(outs, xs, vs, create_graph)
    o = outs[0] if single_out else outs
    o = o.detach() if not create_graph and single_out else o
    return o, (g[0] if single_in else g)


def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), J v) by the double-vjp trick: J v = d/du (uᵀ J) · v."""
    from chainrule.creation import ones_like, zeros_like

    single_in, xs, single_out, outs = _evaluate(func, inputs, create_graph)
    with enable_grad():
        us = tuple(zeros_like(o).requires_grad_(True) for o in outs)
        gs = _grad(outs, xs, us, create_graph=True)
        vs = _tuple(v)[1] if v is not None else tuple(ones_like(x) for x in xs)
        pairs = [(g, vv) for g, vv in zip(gs, vs) if g.requires_grad]
        if pairs:
            jv = _grad([g for g, _ in pairs], us, [vv for _, vv in pairs], create_graph)
        else:
            jv = tuple(zeros_like(o) for o in outs)
    return (outs[0] if single_out else outs), (jv[0] if single_out else jv)


def jacobian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False) -> Any:
    """The Jacobian, of shape ``out.shape + in.shape`` for each (output, input) pair.

    One reverse pass per output element.
    """
    from chainrule.tensor import _wrap, stack

    single_in, xs = _tuple(inputs)
    with enable_grad():
        xs = _prepare(xs, create_graph)
        out = func(*xs)
        single_out, outs = _tuple(out)
        table = []
        for o in outs:
            flat = o.reshape(-1)
            rows: list[list] = [[] for _ in xs]
            for i in range(flat.shape[0]):
                e = xp.zeros(flat.shape, dtype=o.dtype)
                e[i] = 1
                gi = _grad([flat], xs, [_wrap(e)], create_graph)
                for k, g in enumerate(gi):
                    rows[k].append(g)
            per_input = []
            for k, x in enumerate(xs):
                if rows[k]:
                    j = stack(rows[k]).reshape(tuple(o.shape) + tuple(x.shape))
                else:
                    j = _wrap(xp.zeros(tuple(o.shape) + tuple(x.shape), dtype=x.dtype))
                per_input.append(j if create_graph else j.detach())
            table.append(per_input[0] if single_in else tuple(per_input))
    return table[0] if single_out else tuple(table)


def hessian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False) -> Any:
    """The Hessian of a scalar function: the Jacobian of its gradient.

    Shape ``x.shape + x.shape`` for one input; a tuple of tuples for several.
    """
    single_in, xs = _tuple(inputs)

    def gradient(*ys: Any) -> Any:
        from chainrule.autograd import grad

        out = func(*ys)
        if out.numel() != 1:
            raise RuntimeError(f"hessian: the function must return a scalar, got shape "
                               f"{out.shape}")
        g = grad(out, list(ys), create_graph=True, allow_unused=True)
        from chainrule.creation import zeros_like

        g = tuple(zeros_like(y) if gi is None else gi for y, gi in zip(ys, g))
        return g[0] if single_in else g

    return jacobian(gradient, xs[0] if single_in else xs, create_graph=create_graph)


def hvp(func: Callable, inputs: Any, v: Any, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), H v) with one double-backward pass (no Hessian is formed)."""
    from chainrule.autograd import grad

    single_in, xs = _tuple(inputs)
    _, vs = _tuple(v)
    with enable_grad():
        xs = _prepare(xs, create_graph)
        out = func(*xs)
        gs = grad(out, list(xs), create_graph=True, allow_unused=True)
        pairs = [(g, vv) for g, vv in zip(gs, vs) if g is not None and g.requires_grad]
        hv = _grad([g for g, _ in pairs], xs, [vv for _, vv in pairs], create_graph)
    value = out if create_graph else out.detach()
    return value, (hv[0] if single_in else hv)


def vhp(func: Callable, inputs: Any, v: Any, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), vᵀ H); equal to ``hvp`` since the Hessian is symmetric."""
    return hvp(func, inputs, v, create_graph, strict)
