"""PyTorch-style custom autograd functions: ``class F(autograd.Function)`` with static
``forward(ctx, *args)`` and ``backward(ctx, *grads)`` (or ``forward(*args)`` plus
``setup_context(ctx, inputs, output)``), used as ``F.apply(*args)``.

``Function.apply`` sends a class written this way here (see ``Function.__init_subclass__``).
The user's forward runs with recording off; its outputs are then linked into the graph through
one :class:`_UserFunctionNode`, whose ``backward`` calls the user's ``backward`` on Tensors, so
under ``create_graph=True`` it is recorded (differentiable again) exactly when the user's
formula is built from differentiable ops, as in PyTorch.

The engine gives a node one gradient (the sum of what its output received). A function with
several differentiable outputs therefore gets one small :class:`_OutputSlot` node per output:
slot i places its output's gradient at its offset in a flat vector, the engine sums those
vectors into the function's node, and the node cuts the sum back into one gradient per output
(an output that received nothing is zeros, or None after ``ctx.set_materialize_grads(False)``).

Example (PyTorch's tutorial function)::

    class LegendreP3(autograd.Function):
        @staticmethod
        def forward(ctx, x):                  # P3(x) = (5x³ - 3x) / 2
            ctx.save_for_backward(x)
            return 0.5 * (5 * x ** 3 - 3 * x)

        @staticmethod
        def backward(ctx, g):                 # dP3/dx = 1.5 (5x² - 1)
            (x,) = ctx.saved_tensors
            return g * 1.5 * (5 * x ** 2 - 1)

    y = LegendreP3.apply(x)
"""

from __future__ import annotations

import functools
import inspect
import traceback
from collections.abc import Callable
from typing import Any

from chainrule.autograd.function import Function, _GradMode, next_seq
from chainrule.backend import is_floating, xp


def _tensor_cls() -> type:
    from chainrule.tensor import Tensor

    return Tensor


def _as_tensor(a: Any) -> Any:
    """Array ``a`` as a Tensor, dtype kept (the public ``Tensor(data)`` converts to the
    default dtype, as PyTorch's legacy constructor)."""
    from chainrule.tensor import tensor_of

    return tensor_of(a)


class FunctionCtx:
    """The ``ctx`` a custom Function's forward / setup_context fills and its backward reads.

    Attributes set by the user (``ctx.k = 3``) are kept as they are. ``needs_input_grad[i]``
    says whether forward argument i is a Tensor that requires grad (while recording).
    """

    def __init__(self) -> None:
        self.needs_input_grad: tuple[bool, ...] = ()
        self.materialize_grads = True
        self._saved: tuple = ()
        self._saved_versions: tuple = ()
        self._non_differentiable: set[int] = set()
        self._dirty: tuple = ()

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (or None) for backward; an in-place change to one of them before
        backward makes ``saved_tensors`` raise (PyTorch's version rule)."""
        T = _tensor_cls()
        for t in tensors:
            if t is not None and not isinstance(t, T):
                raise TypeError(f"save_for_backward can only save variables, but argument "
                                f"{len(self._saved)} is of type {type(t).__name__}")
        self._saved = tensors
        self._saved_versions = tuple(None if t is None else t._current_version()
                                     for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        for i, (t, v) in enumerate(zip(self._saved, self._saved_versions)):
            if t is not None and t._current_version() != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: saved tensor {i} of shape {tuple(t.shape)} is at "
                    f"version {t._current_version()}; expected version {v} instead."
                )
        return tuple(self._saved)

    saved_variables = saved_tensors

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """These outputs get no gradient (backward receives zeros for them)."""
        self._non_differentiable.update(id(o) for o in outputs)

    def mark_dirty(self, *tensors: Any) -> None:
        """Inputs forward changed in place and returns: they become the outputs themselves
        (their creator is this function's node; a leaf that requires grad is refused)."""
        self._dirty = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """With False, the gradient of an output that received none is None, not zeros."""
        self.materialize_grads = bool(value)


class _UserFunctionNode(Function):
    """The graph node of one ``F.apply`` call: runs ``F.backward(ctx, *grads)`` on Tensors."""

    saves = ()

    def name(self) -> str:
        return self.user_cls.__name__ + "Backward"

    def backward(self, g: Any) -> tuple:
        T = _tensor_cls()
        layout = self.layout  # per output: (offset, shape, dtype, differentiable) or None
        if layout is None:  # a single differentiable output: g is its gradient
            grads: list = [g]
        else:
            flat = g.reshape(-1)
            received = self.received
            grads = []
            for k, (off, shape, dtype, diff) in enumerate(layout):
                if diff and k in received:
                    n = int(xp.prod(shape)) if shape else 1
                    gk = flat[off:off + n].reshape(shape)
                    grads.append(gk if gk.dtype == dtype else gk.to(dtype))
                elif self.ctx.materialize_grads and shape is not None:
                    grads.append(_as_tensor(xp.zeros(shape, dtype=dtype)))
                else:
                    grads.append(None)
            received.clear()
        out = self.user_cls.backward(self.ctx, *grads)
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        n = len(self.inputs)
        if len(out) < n or any(o is not None for o in out[n:]):
            raise RuntimeError(f"function {self.name()} returned an incorrect number of "
                               f"gradients (expected {n}, got {len(out)})")
        res = []
        for i, (a, gi) in enumerate(zip(self.inputs, out[:n])):
            if gi is not None and not isinstance(a, T):
                raise RuntimeError(f"function {self.name()} returned a gradient different than "
                                   f"None at position {i + 1}, but the corresponding forward "
                                   "input was not a Variable")
            if gi is not None and not isinstance(gi, T):
                gi = _as_tensor(xp.asarray(gi, dtype=a.dtype))
            res.append(gi if self.needs[i] else None)
        return tuple(res)


class _OutputSlot(Function):
    """Output k of a multi-output custom Function: dpacked = zeros with g at k's offset."""

    saves = ()

    def vjp(self, g: Any, F: Any) -> tuple:
        self.owner.received.add(self.k)
        return (F.index_add(g.reshape(-1), (self.total,), slice(self.off, self.off + self.n)),)

    def name(self) -> str:
        return self.owner.name()


def _link(fn: Function, inputs: tuple, needs: tuple, T: type) -> None:
    """Fill the bookkeeping ``record`` fills for a recorded node."""
    fn.inputs = inputs
    fn.arrays = tuple(a._array if isinstance(a, T) else a for a in inputs)
    fn.needs = needs
    fn.next = tuple((a.grad_fn or a) if n else None for a, n in zip(inputs, needs))
    fn.seq = next_seq()
    if _GradMode.anomaly:
        fn.stack = traceback.extract_stack()[:-2]


_SIGNATURES: dict[Any, inspect.Signature] = {}


def _bind_default_args(forward: Callable[..., Any], args: tuple, kwargs: dict) -> tuple:
    """``forward``'s arguments as one positional tuple, its defaults filled in: what PyTorch
    hands ``setup_context`` as ``inputs`` (``forward(input, weight, bias=None)`` called with
    two arguments gives three inputs) and what ``needs_input_grad`` and ``backward``'s
    gradients line up with."""
    sig = _SIGNATURES.get(forward)
    if sig is None:
        sig = _SIGNATURES[forward] = inspect.signature(forward)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.args


def apply_user_function(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``cls.apply(*args)`` for a PyTorch-style Function subclass (see the module docstring)."""
    separate = getattr(cls, "setup_context", None) is not None
    if separate:
        args, kwargs = _bind_default_args(cls.forward, args, kwargs), {}
    T = _tensor_cls()
    needs = tuple(isinstance(a, T) and a.requires_grad for a in args)
    ctx = FunctionCtx()
    ctx.needs_input_grad = needs
    recording = _GradMode.enabled and any(needs)
    prev = _GradMode.enabled
    _GradMode.enabled = False  # forward runs without recording, as in PyTorch
    try:
        if separate:
            output = cls.forward(*args)
            cls.setup_context(ctx, args, output)
        else:
            output = cls.forward(ctx, *args, **kwargs)
    finally:
        _GradMode.enabled = prev
    if not recording:
        return output
    single = not isinstance(output, tuple)
    outs = [output] if single else list(output)
    arg_ids = {id(a) for a in args if isinstance(a, T)}
    dirty = {id(t) for t in ctx._dirty}
    diff = []
    for k, o in enumerate(outs):
        if not isinstance(o, T):
            diff.append(False)
            continue
        d = is_floating(o.dtype) and id(o) not in ctx._non_differentiable
        if id(o) in dirty:  # changed in place (mark_dirty): the input itself is rewired
            o._check_inplace(cls.__name__)
        elif id(o) in arg_ids or o.grad_fn is not None or o.requires_grad:
            o = outs[k] = o.detach()  # an input returned as is: a new tensor on its storage
        diff.append(d)
    node = _UserFunctionNode()
    node.user_cls = cls
    node.ctx = ctx
    _link(node, args, needs, T)
    idx = [k for k, d in enumerate(diff) if d]
    if len(outs) == 1 and idx:
        node.layout = None
        outs[0].grad_fn = node
        outs[0].requires_grad = True
    elif idx:
        _link_slots(node, outs, diff, T)
    return outs[0] if single else tuple(outs)


def _link_slots(node: _UserFunctionNode, outs: list, diff: list, T: type) -> None:
    """Several outputs: one slot node each, feeding a flat vector whose creator is ``node``."""
    ftype = xp.result_type(*[outs[k].dtype for k, d in enumerate(diff) if d])
    layout, off = [], 0
    for o, d in zip(outs, diff):
        if isinstance(o, T):
            layout.append((off, tuple(o.shape), o.dtype, d))
            off += o.numel() if d else 0
        else:
            layout.append((0, None, None, False))
    node.layout = layout
    node.received = set()
    packed = _as_tensor(xp.zeros(off, dtype=ftype))
    packed.grad_fn = node
    packed.requires_grad = True
    for k, (o, d) in enumerate(zip(outs, diff)):
        if not d:
            continue
        slot = _OutputSlot()
        slot.owner, slot.k, slot.off, slot.total = node, k, layout[k][0], off
        slot.n = o.numel()
        _link(slot, (packed,), (True,), T)
        o.grad_fn = slot
        o.requires_grad = True


class _DelayedError(Function):
    """Marks a gradient computed by a ``once_differentiable`` backward: differentiating it
    again raises (PyTorch's DelayedError)."""

    saves = ()

    def forward(self, x: Any, *rest: Any) -> Any:
        return x

    def backward(self, g: Any) -> tuple:
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")


def once_differentiable(fn: Callable) -> Callable:
    """Decorate a custom Function's ``backward`` that is not itself differentiable: it runs
    without recording, and a double backward through its result raises."""

    @functools.wraps(fn)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        prev = _GradMode.enabled
        _GradMode.enabled = False
        try:
            out = fn(ctx, *grads)
        finally:
            _GradMode.enabled = prev
        T = _tensor_cls()
        linked = [g for g in grads if isinstance(g, T) and g.requires_grad]
        if not (prev and linked):
            return out
        many = isinstance(out, tuple)
        res = tuple(_DelayedError.apply(o, *linked) if isinstance(o, T) and
                    is_floating(o.dtype) else o for o in (out if many else (out,)))
        return res if many else res[0]

    return wrapper
