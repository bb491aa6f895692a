"""Reverse-mode automatic differentiation over a dynamic graph.

Every differentiable primitive is a subclass of :class:`Function`: ``forward`` works on
arrays, and ``vjp(g, F)`` returns one gradient per input, written once against a namespace
``F`` (see ``autograd/function.py``). Run against the Tensor functions while recording
(``create_graph=True``) it yields a graph of the gradient, so second derivatives (Hessians,
Newton steps) come for free.

The engine (not the op) is responsible for:

* running ``backward`` without recording unless ``create_graph`` is set;
* undoing broadcasting: a gradient whose shape differs from its input is summed back (``sum_to``);
* accumulating gradients of tensors used more than once, in topological order;
* checking every gradient's shape, and the version counters of saved tensors (in-place rule);
* freeing the graph after use unless ``retain_graph`` is set.

Speed (DESIGN.md §5): without ``create_graph`` no graph of the backward pass is needed, so the
gradients travel as bare arrays: ``vjp`` runs against the array backend, or an op keeps a
hand-written ``fast_backward`` on arrays (ReLU's compiled kernel, the fused recurrences); only
an op with neither (a Tensor-only ``backward``, as custom Functions have) is called on wrapped
arrays. The registry tests check that both paths agree for every op.
"""

from __future__ import annotations

import functools
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Any

from chainrule.autograd.function import (
    ARRAYS,
    Function,
    anomaly_threads,
    last_inplace,
)
from chainrule.autograd.function import _GradMode as _GradMode  # re-exported (ops, nn)
from chainrule.autograd.function import next_seq as next_seq  # re-exported (tests, tensor.py)
from chainrule.backend import xp

if TYPE_CHECKING:
    from chainrule.tensor import Tensor


grad_mode = _GradMode


def is_grad_enabled() -> bool:
    """True when operations are being recorded for differentiation."""
    return _GradMode.enabled


class set_grad_enabled:
    """Context manager and decorator that turns recording on or off.

    Example::

        with chainrule.set_grad_enabled(False):
            y = model(x)          # no graph is built
    """

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)
        self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode

    def __enter__(self) -> set_grad_enabled:
        return self

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode
        _GradMode.enabled = self.prev  # decorating must not change the mode now
        return _run_within(fn, lambda: set_grad_enabled(mode))


def _run_within(fn: Callable, context: Callable[[], Any]) -> Callable:
    """``fn`` wrapped so that each call runs inside a fresh ``context()``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with context():
            return fn(*args, **kwargs)

    return wrapper


class _ModeContext:
    """Base of ``no_grad`` / ``enable_grad``: usable as ``with``, as a decorator ``@no_grad()``
    and, as in PyTorch, bare: ``@no_grad``."""

    mode = True

    def __new__(cls, orig_func: Callable | None = None) -> Any:
        self = super().__new__(cls)
        if orig_func is None:
            return self
        if not callable(orig_func):
            raise TypeError(f"{cls.__name__}() takes no arguments (got {orig_func!r}); as a "
                            f"decorator write @{cls.__name__} or @{cls.__name__}()")
        return self(orig_func)

    def __init__(self, orig_func: Callable | None = None) -> None:
        pass

    def __enter__(self) -> _ModeContext:
        self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode
        return self

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _GradMode.enabled
            _GradMode.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _GradMode.enabled = prev

        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = fn.__doc__
        return wrapper


class no_grad(_ModeContext):
    """Disable graph recording: no node is created, results have ``requires_grad=False``.

    Example::

        with chainrule.no_grad():
            logits = model(x)
    """

    mode = False


class enable_grad(_ModeContext):
    """Re-enable graph recording inside a ``no_grad`` block (or as a decorator)."""

    mode = True


class _InferenceFlag(threading.local):
    on = False  # per thread, like the grad mode


_inference = _InferenceFlag()


class inference_mode(_ModeContext):
    """``torch.inference_mode(mode=True)``: nothing is recorded, as under :class:`no_grad`;
    ``inference_mode(False)`` leaves the grad mode as it is. Usable as ``with``,
    ``@inference_mode`` and ``@inference_mode()``.

    PyTorch's inference mode also skips version counting and marks the tensors it creates as
    "inference tensors" that autograd later refuses; chainrule's version counters cost nothing
    worth skipping, so it makes no such mark (docs/pytorch.md).
    """

    def __new__(cls, mode: Any = True) -> Any:
        self = object.__new__(cls)
        if callable(mode) and not isinstance(mode, bool):  # bare decorator: @inference_mode
            self.__init__(True)
            return self(mode)
        return self

    def __init__(self, mode: Any = True) -> None:
        self.enter = bool(mode)

    def __enter__(self) -> inference_mode:
        self.prev, self.prev_inference = _GradMode.enabled, _inference.on
        if self.enter:
            _GradMode.enabled, _inference.on = False, True
        return self

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled, _inference.on = self.prev, self.prev_inference

    def __call__(self, fn: Callable) -> Callable:
        enter = self.enter
        return _run_within(fn, lambda: inference_mode(enter))


def is_inference_mode_enabled() -> bool:
    """Whether this thread is inside ``inference_mode()``."""
    return _inference.on


class _Switch:
    """Sets one field of this thread's modes for the length of a ``with`` block."""

    field = "enabled"

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> _Switch:
        self.prev = getattr(_GradMode, self.field)
        setattr(_GradMode, self.field, self.mode)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(_GradMode, self.field, self.prev)


class backward_creates_graph(_Switch):
    """Context manager: in this thread, ``Tensor.backward()`` and ``autograd.backward()`` act
    as if called with ``create_graph=True`` (and so ``retain_graph=True``).

    Second-order optimizers use it to accept the closure every PyTorch user writes for L-BFGS
    (``zero_grad(); loss = f(); loss.backward(); return loss``): the ``.grad`` it leaves is then
    itself differentiable, so the Hessian can be taken from it. ``autograd.grad`` keeps its
    explicit argument (it returns the gradients instead of storing them).

    Example::

        with backward_creates_graph():
            loss = closure()          # calls loss.backward()
        hvp = autograd.grad(w.grad @ v, w)
    """

    field = "create_graph"




def _check_versions(fn: Function) -> None:
    """Raise if a tensor saved for ``fn``'s backward was modified in place since; else take
    the arrays the array pass reads (``fn.arrays``, ``fn.out_array``) afresh from the tensors,
    as a tensor may have been given another array since (``p.data = t``, ``set_``): only
    nodes recorded before the latest such change come here (see ``mark_inplace``)."""
    ins = fn.inputs
    T = _Tensor
    fn.arrays = tuple([a._array if isinstance(a, T) else a for a in ins])
    for i, v in zip(fn._save_idx, fn.versions if fn._save_inputs else ()):
        if v is None:
            continue
        t = ins[i]
        b = t._base
        if (t if b is None else b)._version != v:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: input {i} of {fn.name()} (shape {tuple(t.shape)}) is at "
                f"version {t._current_version()}; expected version {v} instead."
            )
    if fn._save_out:
        out = fn.out_ref()
        if out is not None and out._current_version() != fn.out_version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: the output of {fn.name()} (shape {tuple(out.shape)}) is at "
                f"version {out._current_version()}; expected version {fn.out_version} instead."
            )
        if out is not None:
            fn.out_array = out._array


_Tensor: Any = None  # chainrule.tensor.Tensor, set once by register_tensor_type


# a gradient array wrapped as a Tensor that needs no gradient (``chainrule.tensor._wrap``)
_detached: Callable[[Any], Tensor] = None  # type: ignore[assignment]


def register_tensor_type(cls: type, wrap: Callable[[Any], Tensor]) -> None:
    """Tell the engine which class is the Tensor and how to wrap an array in one without a
    copy (``chainrule.tensor`` calls this once, when it defines them): the engine never
    imports ``tensor.py``, which imports the engine."""
    global _Tensor, _detached
    if _Tensor is not None and _Tensor is not cls:
        raise RuntimeError(f"the Tensor type is already registered ({_Tensor.__qualname__})")
    _Tensor = cls
    _detached = wrap


def _freed_error(fn: Function) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time (through {fn.name()}), or to "
        "directly access saved tensors after they have already been freed. Specify "
        "retain_graph=True if you need to backward a second time."
    )


def run_backward(
    tensors: Sequence[Tensor],
    grad_tensors: Sequence[Tensor],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
    accumulate: bool = True,
    allow_unused: bool = False,
) -> list[Tensor | None] | None:
    """Propagate ``grad_tensors`` from ``tensors`` back through the graph.

    With ``accumulate=True`` (``Tensor.backward``) gradients of leaves are added to ``.grad``
    (restricted to ``inputs`` when given). With ``accumulate=False`` (``autograd.grad``) the
    gradients with respect to ``inputs`` are returned instead and nothing is accumulated.

    One loop (:func:`_propagate`) serves every call; the strategy is whether gradients travel
    as arrays (no ``create_graph``: no graph of the backward, ops run ``vjp`` against
    ``ARRAYS`` or a hand-written ``fast_backward``) or as Tensors (``create_graph``: ``vjp``
    against ``TENSORS``, recorded).
    """
    arrays = not create_graph
    if (arrays and inputs is None and accumulate and len(tensors) == 1
            and tensors[0].grad_fn is not None):
        g, td = grad_tensors[0]._array, tensors[0]._array
        backward_scalar(tensors[0].grad_fn, g, retain_graph,
                        g.shape == td.shape and g.dtype is td.dtype)
        return None

    claimed = {id(g._array) for g in grad_tensors}  # arrays a leaf must not adopt as its own
    roots: dict[Any, Any] = {}  # root nodes and leaves -> their gradients
    leaves = []
    fits = arrays  # every root gradient has its tensor's shape and dtype (see _propagate)
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if arrays:
            g = g._array
            td = t._array
            fits = fits and g.shape == td.shape and g.dtype is td.dtype
        key = t if t.grad_fn is None else t.grad_fn  # (backward on a leaf itself: the leaf)
        prev = roots.get(key)
        if prev is None:
            roots[key] = g
            if key is t:
                leaves.append(t)
        else:
            roots[key] = prev + g

    wanted_nodes: dict[int, list[int]] = {}  # node id -> positions in ``inputs``
    wanted_leaves: dict[int, list[int]] = {}
    if inputs is not None:
        for k, t in enumerate(inputs):
            if t.grad_fn is not None:
                wanted_nodes.setdefault(id(t.grad_fn), []).append(k)
            else:
                if not t.requires_grad:
                    raise RuntimeError(f"One of the differentiated Tensors (input {k}) does not "
                                       "require grad")
                wanted_leaves.setdefault(id(t), []).append(k)
    captured: list[Any] = [None] * (len(inputs) if inputs is not None else 0)

    _propagate(roots, leaves, arrays, retain_graph, claimed, wanted_nodes, captured, fits)
    _finish_leaves(leaves, roots, arrays, create_graph, claimed,
                   wanted_leaves if inputs is not None else None, captured, accumulate)

    if accumulate:
        if inputs is not None:  # non-leaf tensors named in inputs= get their .grad too
            for t in inputs:
                if t.grad_fn is not None and id(t.grad_fn) in wanted_nodes:
                    g = captured[wanted_nodes[id(t.grad_fn)][0]]
                    if g is not None:
                        _accumulate_leaf(t, g, create_graph, claimed)
        if _post_backward_callbacks:  # queued by hooks during this pass (DDP's gradient sync)
            _run_post_backward_callbacks()
        return None
    for k, c in enumerate(captured):
        if c is None:
            if not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (input {k}) appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior."
                )
        elif arrays and not c._array.flags.writeable:  # a broadcast view: hand back an array
            captured[k] = _detached(c._array.copy())  # the caller may modify in place
    return captured


def backward_scalar(root: Function, g0: Any, retain_graph: bool, fits: bool = True) -> None:
    """The common call, ``loss.backward()``: one root node, its gradient array ``g0``, no
    graph of the gradient, every leaf accumulated (no ``inputs=`` bookkeeping to set up).
    ``fits``: ``g0`` has the root's output shape and dtype (see ``_propagate``)."""
    claimed = {id(g0)}
    leaves: list[Any] = []
    grads = {root: g0}
    _propagate(grads, leaves, True, retain_graph, claimed, None, None, fits)
    for leaf in leaves:  # (in order; a leaf with no hook to run: straight into .grad)
        if leaf._hooks or post_accumulate_grad_hooks:
            _finish_leaves([leaf], grads, True, False, claimed, None, None, None)
        else:
            _accumulate_array(leaf, grads[leaf], claimed)
    if _post_backward_callbacks:  # queued by hooks during this pass (DDP's gradient sync)
        _run_post_backward_callbacks()


def _propagate(grads: dict, leaves: list, arrays: bool, retain_graph: bool, claimed: set,
               wanted: dict | None, captured: list | None, fits: bool = False) -> None:
    """The backward loop: run every node that receives a gradient, once, with the sum of its
    gradients; gather the leaves' gradients in ``grads`` too, and the leaves in ``leaves`` in
    the order their first gradient arrived.

    ``grads`` maps the root nodes (and leaves) to their gradients (arrays when ``arrays``, else
    Tensors): a node's entry is removed when it runs (the next node to run keeps its gradient
    in a local instead), so what is left are the leaves'.
    Pending nodes wait in a heap keyed by creation number (``Function.seq``): a node's
    consumers were all created after it, so when it has the highest number among the pending
    ones every gradient it will get has arrived, and only nodes that receive a gradient are
    visited (the highest is held outside the heap, see the loop). Per node: hooks /
    retain_grad / capture for ``inputs=``, the version rule on the tensors it saved, its
    derivative, the anomaly check, and each input's gradient fitted to the input's shape and
    dtype (broadcasting undone) before it is summed. ``fits``: an array pass whose root
    gradients have their tensors' shapes and dtypes, so that every node is handed a gradient
    shaped as its output and a ``grads_fit`` op's gradients need no fitting.
    """
    Tensor = _Tensor
    anomaly = anomaly_threads[0] and _GradMode.anomaly
    fit = _fit_array if arrays else _fit_shape
    # Pending nodes wait in a heap of (-seq, node, its output tensor): the tensor keeps the
    # output alive while the node is pending (an op that reads its output holds it weakly).
    # The pending node with the highest number is held aside in ``nxt`` (its output in
    # ``nxt_out``) while it beats the heap's top: in a chain, the common shape, each node
    # hands its gradient to the next one directly and the heap stays empty (a push and a pop
    # cost ~0.3 µs a node).
    heap: list = []
    nxt = nxt_out = nxt_g = None
    for fn in grads:
        if not isinstance(fn, Tensor):
            if nxt is None:
                nxt = fn
            elif fn.seq > nxt.seq:
                heap.append((-nxt.seq, nxt, None))
                nxt = fn
            else:
                heap.append((-fn.seq, fn, None))
    if nxt is not None:
        nxt_g = grads.pop(nxt)
    heapify(heap)
    prev_mode = _GradMode.enabled
    _GradMode.enabled = not arrays  # create_graph records the backward pass
    try:
        while True:
            if nxt is not None:  # (``nxt_out`` holds fn's output until fn has run)
                fn, g = nxt, nxt_g
                nxt = None
            elif heap:
                _, fn, kept = heappop(heap)
                g = grads.pop(fn)
            else:
                break
            ins = fn.inputs
            if ins is None:
                raise _freed_error(fn)
            extras = fn.extras or (wanted and id(fn) in wanted)
            if extras:
                g = _node_extras(fn, g, arrays, captured, wanted or {}, claimed)
            # versions are compared only for nodes older than the last in-place change
            # anywhere (a node recorded after it saw every version as it still is): the common
            # step skips them. (Read per node: a hook run during this pass may change a saved
            # tensor in place.)
            if fn.seq < last_inplace[0]:
                _check_versions(fn)
            if arrays:  # (vjp, a hand-written fast_backward or the Tensor backward: the
                out = fn.array_vjp(g, ARRAYS)  # choice is made once per class)
            else:
                out = fn.backward(g)
            if out.__class__ is not tuple or len(out) != len(ins):
                out = _as_gradients(fn, out)
            if anomaly:
                _check_anomaly(fn, out)
            # an op whose gradients always come back in its inputs' shapes and dtypes
            # (``grads_fit``, the elementwise one-input ops) skips the per-edge test, unless a
            # hook may have replaced the gradient it was handed
            check = extras or not (fits and fn.grads_fit)
            for t, gi, child in zip(ins, out, fn.next):
                if child is None or gi is None:
                    continue
                if check:
                    td = t._array
                    # (an array, or a Tensor under create_graph: both have shape and
                    # dtype. dtype identity: builtin dtypes are singletons; a miss only
                    # costs a no-op cast)
                    if gi.shape != td.shape or gi.dtype is not td.dtype:
                        gi = fit(fn, t, gi)
                if child is nxt:  # (the held node's gradient is kept out of the dict)
                    nxt_g = nxt_g + gi
                    continue
                prev = grads.get(child)  # (nodes and leaves: both hash by identity)
                if prev is not None:
                    grads[child] = prev + gi
                    continue
                if isinstance(child, Tensor):
                    grads[child] = gi
                    leaves.append(child)
                    continue
                seq = child.seq
                if nxt is None:
                    if not heap or seq > -heap[0][0]:
                        nxt, nxt_out, nxt_g = child, t, gi
                        continue
                elif seq > nxt.seq:  # the new highest: the held node goes to the heap
                    grads[nxt] = nxt_g
                    heappush(heap, (-nxt.seq, nxt, nxt_out))
                    nxt, nxt_out, nxt_g = child, t, gi
                    continue
                grads[child] = gi
                heappush(heap, (-seq, child, t))
            if not retain_graph:  # (the node's arrays go with it: the graph is freed)
                fn.inputs = fn.arrays = fn.out_array = None
    finally:
        _GradMode.enabled = prev_mode


def _as_gradients(fn: Function, out: Any) -> tuple:
    """A derivative's result as a tuple of one gradient per input of ``fn`` (a list, or a
    lone gradient of a one-input op, is accepted), or an error naming the op."""
    if type(out) is not tuple:
        out = tuple(out) if isinstance(out, list) else (out,)
    if len(out) != len(fn.inputs):
        raise RuntimeError(f"{fn.name()} returned {len(out)} gradients for {len(fn.inputs)} "
                           "inputs")
    return out


def _finish_leaves(leaves: list, grads: dict, arrays: bool, create_graph: bool,
                   claimed: set, wanted: dict | None, captured: list | None,
                   accumulate: bool | None) -> None:
    """Run the leaves' hooks, capture the gradients ``inputs=`` asks for, and accumulate into
    ``.grad`` (all leaves, or only those named in ``inputs=``)."""
    for leaf in leaves:
        g = grads[leaf]
        tid = id(leaf)
        if leaf._hooks or (wanted and tid in wanted):
            t = _detached(g) if arrays else g
            if leaf._hooks:
                t = _run_hooks(leaf._hooks, t)
            if wanted:
                for k in wanted.get(tid, ()):
                    captured[k] = t  # type: ignore[index]
            g = t._array if arrays else t
        if accumulate is False or (wanted is not None and tid not in wanted):
            continue
        if arrays:
            _accumulate_array(leaf, g, claimed)
        else:
            _accumulate_leaf(leaf, g, create_graph, claimed)
        if post_accumulate_grad_hooks:
            _run_post_accumulate_hooks(leaf)


# leaf id -> (weak reference to the leaf, {handle id: hook}): the hooks of
# Tensor.register_post_accumulate_grad_hook (chainrule._tensor_extras), called with the leaf
# right after its .grad was accumulated
post_accumulate_grad_hooks: dict[int, tuple[Any, dict]] = {}


def _run_post_accumulate_hooks(leaf: Tensor) -> None:
    entry = post_accumulate_grad_hooks.get(id(leaf))
    if entry is not None and entry[0]() is leaf:
        for hook in list(entry[1].values()):
            hook(leaf)


def _run_hooks(hooks: dict, t: Tensor) -> Tensor:
    """Call each tensor hook on the gradient in turn; a hook that returns a tensor replaces
    it for the hooks after it and for the rest of the pass."""
    for hook in hooks.values():
        new = hook(t)
        if new is not None:
            t = new
    return t


def _backward_on_arrays(fn: Function, g: Any, Tensor: Any) -> tuple:
    """An op's Tensor ``backward`` run on a wrapped array gradient, its results unwrapped (the
    array pass, for ops with neither ``vjp`` nor ``fast_backward``)."""
    out = fn.backward(_detached(g))
    if type(out) is not tuple:
        out = tuple(out) if isinstance(out, list) else (out,)
    return tuple([o._array if isinstance(o, Tensor) else o for o in out])


def _node_extras(fn: Function, g: Any, arrays: bool, captured: list, wanted: dict,
                 claimed: set) -> Any:
    """Tensor hooks on a non-leaf (may replace g), retain_grad, and capture for
    ``autograd.grad``; the gradient is a Tensor there even in an array pass."""
    t = _detached(g) if arrays else g
    if fn.hooks:
        t = _run_hooks(fn.hooks, t)
    if fn.retained is not None:
        owner = fn.retained()
        if owner is not None:
            owner.grad = t if not arrays else _detached(t._array)
            claimed.add(id(t._array))
    for k in wanted.get(id(fn), ()):
        captured[k] = t
    return t._array if arrays else t


def _fit_array(fn: Function, t: Tensor, g: Any) -> Any:
    """Sum a broadcast gradient array back to its input's shape (and dtype), or raise."""
    from chainrule.ops.reduce import sum_to_array

    if g.dtype != t._array.dtype:
        if g.dtype.kind == "c" and t._array.dtype.kind != "c":
            g = g.real  # a real input of a complex op: its gradient is the real part (PyTorch)
        g = g.astype(t._array.dtype)
    try:
        return sum_to_array(g, t._array.shape)
    except ValueError:
        raise RuntimeError(
            f"{fn.name()} returned a gradient of shape {tuple(g.shape)} for an input of shape "
            f"{tuple(t.shape)}"
        ) from None


_post_backward_callbacks: list[Callable[[], None]] = []


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` once the current backward pass has accumulated every ``.grad``
    (PyTorch's ``Variable._execution_engine.queue_callback``).

    Typically called from a tensor hook; ``chainrule.distributed`` uses it to all-reduce the
    gradients after ``loss.backward()``. A pass that accumulates nothing (``autograd.grad``)
    leaves its callbacks queued for the next accumulating pass.
    """
    _post_backward_callbacks.append(callback)


def _run_post_backward_callbacks() -> None:
    callbacks = list(_post_backward_callbacks)
    _post_backward_callbacks.clear()  # a callback that runs backward queues for that pass
    for cb in callbacks:
        cb()


def _accumulate_leaf(leaf: Tensor, g: Tensor, create_graph: bool, claimed: set[int]) -> None:
    """Add ``g`` to ``leaf.grad``.

    Without ``create_graph`` a leaf's gradient is later changed in place (accumulation,
    ``zero_grad(set_to_none=False)``, ``clip_grad_norm_``), so it must own its array: an array
    that is a view, read-only, another leaf's gradient or the caller's gradient is copied first.
    """
    if create_graph:
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    _accumulate_array(leaf, g._array, claimed)


def _accumulate_array(leaf: Tensor, arr: Any, claimed: set[int]) -> None:
    """``_accumulate_leaf`` for a gradient array (the pass without create_graph)."""
    if leaf.grad is None:
        if not isinstance(arr, xp.ndarray):
            # NumPy arithmetic on 0-d arrays returns a scalar: .grad must stay an array, or an
            # optimizer's in-place update of it (a momentum buffer cloned from it, out=) would
            # silently write nowhere
            arr = xp.array(arr)
        elif arr.base is not None or id(arr) in claimed or not arr.flags.writeable:
            arr = arr.copy()
        claimed.add(id(arr))
        leaf.grad = _detached(arr)
    elif leaf.grad.requires_grad or not leaf.grad._array.flags.writeable:
        leaf.grad = _detached(xp.asarray(leaf.grad._array + arr))
    else:
        leaf.grad._array += arr


def _fit_shape(fn: Function, t: Tensor, g: Tensor) -> Tensor:
    """Sum a broadcast gradient back to its input's shape (and dtype), or raise naming the op."""
    if g._array.dtype != t._array.dtype:
        if g._array.dtype.kind == "c" and t._array.dtype.kind != "c":
            g = g.real  # a real input of a complex op: its gradient is the real part (PyTorch)
        g = g.to(t._array.dtype)
    try:
        return g.sum_to(t.shape)
    except (ValueError, RuntimeError):
        raise RuntimeError(
            f"{fn.name()} returned a gradient of shape {tuple(g.shape)} for an input of shape "
            f"{tuple(t.shape)}"
        ) from None


def _check_anomaly(fn: Function, grads: tuple) -> None:
    for k, gi in enumerate(grads):
        if gi is None:
            continue
        if not xp.all(xp.isfinite(getattr(gi, "_array", gi) if not isinstance(gi, xp.ndarray)
                                  else gi)):
            where = "".join(traceback.format_list(fn.stack)) if fn.stack else "(unknown)\n"
            raise RuntimeError(
                f"Function '{fn.name()}' returned nan or inf values in its {k}th output "
                f"(gradient of input {k}).\nThe forward call that created it:\n{where}"
            )


def iter_tensors(seq: Iterable[Any]) -> list[Any]:
    """Flatten a tensor or sequence of tensors into a list."""
    from chainrule.tensor import Tensor

    if isinstance(seq, Tensor):
        return [seq]
    return list(seq)
