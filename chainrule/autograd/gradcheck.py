"""Finite-difference checks of gradients (float64 central differences), as public tools."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.backend import xp


def _inputs(inputs: Any) -> tuple:
    from chainrule.tensor import Tensor

    return (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)


def numerical_jacobian(func: Callable, inputs: tuple, eps: float) -> list[xp.ndarray]:
    """d vec(func) / d vec(x) for each input that requires grad, by central differences."""
    from chainrule.tensor import Tensor

    def flat_out() -> xp.ndarray:
        # recording stays on: ``func`` may differentiate internally (gradgradcheck)
        out = func(*inputs)
        outs = (out,) if isinstance(out, Tensor) else tuple(out)
        return xp.concatenate([o._array.reshape(-1).astype(xp.float64) for o in outs])

    jacs = []
    n_out = flat_out().size
    for x in inputs:
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        cols = []
        for idx in xp.ndindex(x._array.shape):  # (a reshape of a strided array would copy)
            orig = x._array[idx]
            x._array[idx] = orig + eps
            plus = flat_out()
            x._array[idx] = orig - eps
            minus = flat_out()
            x._array[idx] = orig
            cols.append((plus - minus) / (2 * eps))
        jacs.append(xp.stack(cols, axis=1) if cols else xp.zeros((n_out, 0)))
    return jacs


def analytical_jacobian(func: Callable, inputs: tuple, create: bool = False) -> list[xp.ndarray]:
    """The same Jacobians by reverse mode, one backward pass per output element."""
    from chainrule.autograd import grad
    from chainrule.tensor import Tensor, _wrap

    out = func(*inputs)
    outs = (out,) if isinstance(out, Tensor) else tuple(out)
    wrt = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    sizes = [o.numel() for o in outs]
    rows: list[list[xp.ndarray]] = [[] for _ in wrt]
    for k in range(len(outs)):
        for i in range(sizes[k]):
            gos = []
            for kk, oo in enumerate(outs):
                e = xp.zeros(oo.shape, dtype=oo.dtype)
                if kk == k:
                    e.reshape(-1)[i] = 1
                gos.append(_wrap(e))
            live = [(oo, g) for oo, g in zip(outs, gos) if oo.requires_grad]
            if not live:
                gs = [None] * len(wrt)
            else:
                gs = grad([oo for oo, _ in live], wrt, [g for _, g in live], retain_graph=True,
                          allow_unused=True)
            for j, (x, g) in enumerate(zip(wrt, gs)):
                rows[j].append(xp.zeros(x.numel()) if g is None else
                               g._array.reshape(-1).astype(xp.float64))
    return [xp.stack(r, axis=0) if r else xp.zeros((0, x.numel())) for r, x in zip(rows, wrt)]


def gradcheck(func: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, **_: Any) -> bool:
    """Compare reverse-mode Jacobians with central finite differences (inputs in float64).

    Example::

        x = chainrule.randn(3, dtype=chainrule.float64, requires_grad=True)
        chainrule.autograd.gradcheck(lambda t: (t.sin() * t).sum(), (x,))
    """
    xs = _inputs(inputs)
    for x in xs:
        if getattr(x, "requires_grad", False) and x.dtype != xp.float64:
            raise ValueError(f"gradcheck: input of dtype {x.dtype} is not float64; the finite "
                             "differences would be too coarse")
    num = numerical_jacobian(func, xs, eps)
    ana = analytical_jacobian(func, xs)
    for k, (n, a) in enumerate(zip(num, ana)):
        if n.shape != a.shape or not xp.allclose(a, n, atol=atol, rtol=rtol):
            if raise_exception:
                err = xp.max(xp.abs(a - n)) if n.shape == a.shape else "shape"
                raise RuntimeError(
                    f"Jacobian mismatch for input {k}: max abs error {err}\n"
                    f"numerical:\n{n}\nanalytical:\n{a}"
                )
            return False
    return True


def gradgradcheck(func: Callable, inputs: Any, grad_outputs: Any = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                  seed: int = 0, **_: Any) -> bool:
    """Check second derivatives: gradcheck of (x, v) ↦ vᵀ ∂func/∂x with a random fixed v."""
    from chainrule.autograd import grad
    from chainrule.tensor import Tensor, _wrap

    xs = _inputs(inputs)
    out = func(*xs)
    outs = (out,) if isinstance(out, Tensor) else tuple(out)
    rng = xp.random.default_rng(seed)
    if grad_outputs is None:
        vs = tuple(_wrap(rng.standard_normal(o.shape)).requires_grad_(True) for o in outs)
    else:
        vs = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)
    n_x = len(xs)

    def first_grad(*args: Any) -> tuple:
        x_args, v_args = args[:n_x], args[n_x:]
        o = func(*x_args)
        os_ = (o,) if isinstance(o, Tensor) else tuple(o)
        wrt = [x for x in x_args if isinstance(x, Tensor) and x.requires_grad]
        gs = grad(list(os_), wrt, list(v_args), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_grad, xs + vs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
