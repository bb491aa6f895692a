"""Finite-difference checks of gradients (float64 central differences), as public tools.

A complex input or output counts as two real ones, its real and imaginary parts: a complex
input element gives two columns (steps eps and i·eps), a complex output element two rows
(cotangents 1 and i, whose gradients in PyTorch's convention are ∂Re/∂x + i ∂Re/∂y and
∂Im/∂x + i ∂Im/∂y), so the check covers the complex convention as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.backend import xp


def _as_real(a: Any) -> Any:
    """A flat float64 array; a complex array as its (re, im) pairs."""
    if a.dtype.kind == "c":
        a = xp.stack([a.real, a.imag], -1)
    return a.reshape(-1).astype(xp.float64)


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
        return xp.concatenate([_as_real(o._array) for o in outs])

    jacs = []
    n_out = flat_out().size
    for x in inputs:
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        cols = []
        steps = (eps, 1j * eps) if x._array.dtype.kind == "c" else (eps,)
        for idx in xp.ndindex(x._array.shape):  # (a reshape of a strided array would copy)
            orig = x._array[idx]
            for step in steps:
                x._array[idx] = orig + step
                plus = flat_out()
                x._array[idx] = orig - step
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
        units = (1, 1j) if outs[k].dtype.kind == "c" else (1,)
        for i, unit in ((i, u) for i in range(sizes[k]) for u in units):
            gos = []
            for kk, oo in enumerate(outs):
                e = xp.zeros(oo.shape, dtype=oo.dtype)
                if kk == k:
                    e.reshape(-1)[i] = unit
                gos.append(_wrap(e))
            live = [(oo, g) for oo, g in zip(outs, gos) if oo.requires_grad]
            if not live:
                gs = [None] * len(wrt)
            else:
                gs = grad([oo for oo, _ in live], wrt, [g for _, g in live], retain_graph=True,
                          allow_unused=True)
            for j, (x, g) in enumerate(zip(wrt, gs)):
                rows[j].append(xp.zeros(_as_real(x._array).size) if g is None else
                               _as_real(g._array))
    return [xp.stack(r, axis=0) if r else xp.zeros((0, _as_real(x._array).size))
            for r, x in zip(rows, wrt)]


def gradcheck(func: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, **_: Any) -> bool:
    """Compare reverse-mode Jacobians with central finite differences (inputs in float64 or
    complex128, the latter as pairs of real coordinates).

    Example::

        x = chainrule.randn(3, dtype=chainrule.float64, requires_grad=True)
        chainrule.autograd.gradcheck(lambda t: (t.sin() * t).sum(), (x,))
    """
    xs = _inputs(inputs)
    for x in xs:
        if getattr(x, "requires_grad", False) and x.dtype not in (xp.float64, xp.complex128):
            raise ValueError(f"gradcheck: input of dtype {x.dtype} is not float64 or complex128; "
                             "the finite differences would be too coarse")
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


def _random_like(rng: Any, o: Any) -> Any:
    """A standard normal array shaped as ``o`` (complex for a complex ``o``)."""
    v = rng.standard_normal(o.shape)
    return v + 1j * rng.standard_normal(o.shape) if o.dtype.kind == "c" else v


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
        vs = tuple(_wrap(_random_like(rng, o)).requires_grad_(True) for o in outs)
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
