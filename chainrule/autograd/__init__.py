"""Automatic differentiation: ``grad``, ``backward``, functional transforms, checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.autograd.engine import (
    Function,
    _GradMode,
    backward_creates_graph,
    enable_grad,
    is_grad_enabled,
    no_grad,
    run_backward,
    set_grad_enabled,
)


def _as_list(x: Any) -> list:
    from chainrule.tensor import Tensor

    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _default_grads(outputs: list, grad_outputs: Any) -> list:
    from chainrule.backend import xp
    from chainrule.creation import tensor
    from chainrule.tensor import Tensor, _wrap

    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    else:
        grad_outputs = _as_list(grad_outputs)
    out = []
    for o, g in zip(outputs, grad_outputs):
        if g is None:
            if o._array.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (output of shape "
                    f"{o.shape}); pass grad_outputs"
                )
            if o._array.dtype.kind == "c":
                raise RuntimeError("grad can be implicitly created only for real scalar outputs "
                                   f"but got torch.{o.dtype}")
            g = _wrap(xp.ones(o.shape, dtype=o.dtype))
        elif not isinstance(g, Tensor):
            g = tensor(g, dtype=o.dtype)
        elif o._array.dtype.kind == "c" and g._array.dtype.kind != "c":
            g = g.to(o.dtype)  # (a real gradient of a complex output, as PyTorch casts)
        if g.shape != o.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output has a shape of {g.shape} and output has a "
                f"shape of {o.shape}"
            )
        out.append(g)
    return out


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs`` (nothing accumulated into ``.grad``).

    With ``create_graph=True`` the returned gradients are themselves differentiable.

    Example::

        x = chainrule.tensor(2.0, requires_grad=True)
        (dy,) = chainrule.autograd.grad(x ** 3, x, create_graph=True)   # 3x² = 12
        (d2y,) = chainrule.autograd.grad(dy, x)                          # 6x = 12
    """
    from chainrule.creation import zeros_like

    outputs = _as_list(outputs)
    single = not isinstance(inputs, (list, tuple))
    inputs = _as_list(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    grads = _default_grads(outputs, grad_outputs)
    res = run_backward(
        outputs, grads, retain_graph, create_graph, inputs=inputs, accumulate=False,
        allow_unused=bool(allow_unused) or materialize_grads,
    )
    if materialize_grads:
        res = [zeros_like(i) if r is None else r for i, r in zip(inputs, res)]
    del single
    return tuple(res)


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Sequence | None = None,
) -> None:
    """Accumulate gradients of several outputs at once into the leaves' ``.grad``."""
    tensors = _as_list(tensors)
    grads = _default_grads(tensors, grad_tensors)
    create_graph = create_graph or _GradMode.create_graph  # backward_creates_graph()
    if retain_graph is None:
        retain_graph = create_graph
    run_backward(tensors, grads, retain_graph, create_graph,
                 inputs=_as_list(inputs) if inputs is not None else None)


from chainrule.autograd import (  # noqa: E402  (profiler: the old spelling)
    forward_ad,
    functional,
    profiler,
)
from chainrule.autograd.anomaly import detect_anomaly, set_detect_anomaly  # noqa: E402
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck  # noqa: E402
from chainrule.autograd.variable import Variable  # noqa: E402

__all__ = [
    "Function", "backward", "backward_creates_graph", "detect_anomaly", "enable_grad",
    "forward_ad", "functional", "grad", "profiler",
    "gradcheck", "gradgradcheck", "is_grad_enabled", "no_grad", "set_detect_anomaly",
    "set_grad_enabled", "Variable",
]
