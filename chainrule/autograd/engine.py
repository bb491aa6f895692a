"""Reverse-mode automatic differentiation over a dynamic graph.

Every differentiable primitive is a subclass of :class:`Function`: ``forward`` works on
arrays, ``backward`` receives the upstream gradient ``g`` as a Tensor and returns one gradient
per input, written with Tensor operations. Because the backward pass is itself made of Tensor
operations, running it while recording (``create_graph=True``) yields a graph of the gradient,
so second derivatives (Hessians, Newton steps) come for free.

The engine (not the op) is responsible for:

* running ``backward`` without recording unless ``create_graph`` is set;
* undoing broadcasting: a gradient whose shape differs from its input is summed back (``sum_to``);
* accumulating gradients of tensors used more than once, in topological order;
* checking every gradient's shape, and the version counters of saved tensors (in-place rule);
* freeing the graph after use unless ``retain_graph`` is set.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chainrule.tensor import Tensor


class _GradMode:
    """Global switch for graph recording (``no_grad`` turns it off)."""

    enabled = True
    anomaly = False


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

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = fn.__doc__
        return wrapper


class _ModeContext:
    """Base of ``no_grad`` / ``enable_grad``: usable as ``with`` and as a decorator."""

    mode = True

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


class Function:
    """A differentiable primitive: a forward on arrays and a backward on Tensors.

    Subclasses implement ``forward(*arrays) -> array`` and ``backward(g) -> tuple`` (one entry
    per input, ``None`` where an input needs no gradient). ``self.inputs`` holds the inputs (Tensors
    or Python constants) and ``self.needs`` tells which inputs need a gradient. Inputs the backward
    reads must be listed in ``saves`` (indices) so in-place changes to them are detected; an op
    that reads its own output calls ``self.save_output()`` in ``forward``.
    """

    __slots__ = ("inputs", "needs", "next", "versions", "out_ref", "__dict__", "__weakref__")
    # rarely set per node, so class-level defaults spare every op three stores
    hooks: list | None = None
    retained: Any = None
    stack: Any = None
    out_version = 0
    saves: tuple[int, ...] = (0, 1)
    # input i in ``save_when`` is read in backward only if input save_when[i] needs a gradient
    # (x in x * y serves only dy): its in-place changes matter only then (as in PyTorch)
    save_when: dict[int, int] | None = None
    save_out = False

    def forward(self, *args: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is abstract")

    def backward(self, g: Tensor) -> tuple[Any, ...]:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.backward is abstract")

    # -- graph inspection, torch-style -------------------------------------------------------
    def name(self) -> str:
        return type(self).__name__ + "Backward"

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        from chainrule.tensor import Tensor

        out = []
        for t in self.inputs or ():
            if isinstance(t, Tensor) and t.requires_grad:
                out.append((t.grad_fn if t.grad_fn is not None else _AccumulateGrad(t), 0))
            else:
                out.append((None, 0))
        return tuple(out)

    def output(self) -> Tensor:
        """The tensor this node produced (available to ops that set ``save_out``)."""
        t = self.out_ref()
        if t is None:  # pragma: no cover - the engine only reaches live outputs
            raise RuntimeError(f"{self.name()}: its output was freed before backward")
        return t

    def __repr__(self) -> str:
        return f"<{self.name()}>"


class _AccumulateGrad:
    """Stand-in node for a leaf in ``next_functions`` (as PyTorch shows it)."""

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    next_functions: tuple = ()

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


def _unpack_grad(fn: Function, grads: Any) -> tuple:
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(fn.inputs):
        raise RuntimeError(
            f"{fn.name()} returned {len(grads)} gradients for {len(fn.inputs)} inputs"
        )
    return grads


def _check_versions(fn: Function) -> None:
    """Raise if a tensor saved for ``fn``'s backward was modified in place since."""
    for i, v in zip(fn.saves, fn.versions):
        t = fn.inputs[i] if i < len(fn.inputs) else None
        if v is None or t is None or not hasattr(t, "_version"):
            continue
        if t._current_version() != v:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: input {i} of {fn.name()} (shape {tuple(t.shape)}) is at "
                f"version {t._current_version()}; expected version {v} instead."
            )
    if fn.save_out:
        out = fn.out_ref()
        if out is not None and out._current_version() != fn.out_version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: the output of {fn.name()} (shape {tuple(out.shape)}) is at "
                f"version {out._current_version()}; expected version {fn.out_version} instead."
            )


_Tensor: Any = None  # chainrule.tensor.Tensor, bound on first use (import cycle)


def _tensor_class() -> Any:
    global _Tensor
    if _Tensor is None:
        from chainrule.tensor import Tensor

        _Tensor = Tensor
    return _Tensor


def _freed_error(fn: Function) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time (through {fn.name()}), or to "
        "directly access saved tensors after they have already been freed. Specify "
        "retain_graph=True if you need to backward a second time."
    )


def _dependencies(roots: Sequence[Function], Tensor: Any) -> dict[int, int]:
    """For every node reachable from ``roots``: how many edges of the graph point to it."""
    deps: dict[int, int] = {}
    seen = {id(r) for r in roots}
    stack = list({id(r): r for r in roots}.values())
    while stack:
        fn = stack.pop()
        if fn.inputs is None:
            raise _freed_error(fn)
        for child in fn.next:
            if child is None or isinstance(child, Tensor):
                continue
            cid = id(child)
            deps[cid] = deps.get(cid, 0) + 1
            if cid not in seen:
                seen.add(cid)
                stack.append(child)
    return deps


def _toposort(roots: Sequence[Function]) -> tuple[list[Function], dict[int, int]]:
    """Nodes reachable from ``roots`` in an order where each node comes before the nodes it
    depends on (the order backward runs them), and the consumer counts."""
    Tensor = _tensor_class()
    deps = _dependencies(roots, Tensor)
    left = dict(deps)
    ready = [r for r in {id(r): r for r in roots}.values() if id(r) not in left]
    order = []
    while ready:
        fn = ready.pop()
        order.append(fn)
        for child in fn.next:
            if child is None or isinstance(child, Tensor):
                continue
            cid = id(child)
            left[cid] -= 1
            if not left[cid]:
                ready.append(child)
    return order, deps


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

    Nodes run in dependency order (Kahn's algorithm): a node runs once every consumer of its
    output has handed it a gradient, so each node runs once with the sum of its gradients.
    """
    Tensor = _tensor_class()
    grads: dict[int, Tensor] = {}  # pending gradient per node or leaf (by id)
    claimed = {id(g.data) for g in grad_tensors}  # arrays a leaf must not adopt as its own
    leaves: dict[int, Tensor] = {}
    roots: list[Function] = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        key = id(t) if t.grad_fn is None else id(t.grad_fn)
        prev = grads.get(key)
        grads[key] = g if prev is None else prev + g
        if t.grad_fn is None:  # backward on a leaf itself
            leaves[key] = t
        else:
            roots.append(t.grad_fn)

    wanted_nodes: dict[int, int] = {}
    wanted_leaves: dict[int, int] = {}
    if inputs is not None:
        for k, t in enumerate(inputs):
            if t.grad_fn is not None:
                wanted_nodes[id(t.grad_fn)] = k
            else:
                if not t.requires_grad:
                    raise RuntimeError(f"One of the differentiated Tensors (input {k}) does not "
                                       "require grad")
                wanted_leaves[id(t)] = k
    captured: list[Tensor | None] = [None] * (len(inputs) if inputs is not None else 0)

    left = _dependencies(roots, Tensor)
    ready = [r for r in {id(r): r for r in roots}.values() if id(r) not in left]
    alive: dict[int, Tensor] = {}
    anomaly = _GradMode.anomaly
    prev_mode = _GradMode.enabled
    _GradMode.enabled = create_graph
    try:
        while ready:
            fn = ready.pop()
            fid = id(fn)
            g = grads.pop(fid, None)
            nxt = fn.next
            if g is not None:
                if fn.hooks:
                    for hook in fn.hooks:
                        new = hook(g)
                        if new is not None:
                            g = new
                if fn.retained is not None:
                    owner = fn.retained()
                    if owner is not None:
                        owner.grad = g if create_graph else g.detach()
                        claimed.add(id(g.data))
                if wanted_nodes and fid in wanted_nodes:
                    captured[wanted_nodes[fid]] = g
                if fn.saves or fn.save_out:
                    _check_versions(fn)
                out = fn.backward(g)
                if type(out) is not tuple:
                    out = (out,)
                ins = fn.inputs
                if len(out) != len(ins):
                    raise RuntimeError(
                        f"{fn.name()} returned {len(out)} gradients for {len(ins)} inputs"
                    )
                if anomaly:
                    _check_anomaly(fn, out)
                for t, gi, child in zip(ins, out, nxt):
                    if child is None or gi is None:
                        continue
                    td, gd = t.data, gi.data
                    if gd.shape != td.shape or gd.dtype != td.dtype:
                        gi = _fit_shape(fn, t, gi)
                    cid = id(child)
                    prev = grads.get(cid)
                    if prev is None:
                        grads[cid] = gi
                    elif create_graph:
                        grads[cid] = prev + gi
                    else:
                        grads[cid] = _detached(prev.data + gi.data)
                    if isinstance(child, Tensor):
                        leaves[cid] = child
                    elif child.save_out:
                        # ops that saved their output hold it weakly: keep it alive until
                        # the op has run
                        alive[cid] = t
                alive.pop(fid, None)
                if not retain_graph:
                    fn.inputs = None
            for child in nxt:
                if child is None or isinstance(child, Tensor):
                    continue
                cid = id(child)
                n = left[cid] - 1
                left[cid] = n
                if not n:
                    ready.append(child)
    finally:
        _GradMode.enabled = prev_mode

    for tid, leaf in leaves.items():
        g = grads[tid]
        if leaf._hooks:
            for hook in leaf._hooks:
                new = hook(g)
                if new is not None:
                    g = new
        if tid in wanted_leaves:
            captured[wanted_leaves[tid]] = g
        if accumulate and (inputs is None or tid in wanted_leaves):
            _accumulate_leaf(leaf, g, create_graph, claimed)

    if accumulate:
        if inputs is not None:  # non-leaf tensors named in inputs= get their .grad too
            for t in inputs:
                if t.grad_fn is not None and id(t.grad_fn) in wanted_nodes:
                    g = captured[wanted_nodes[id(t.grad_fn)]]
                    if g is not None:
                        _accumulate_leaf(t, g, create_graph, claimed)
        return None
    for k, c in enumerate(captured):
        if c is None and not allow_unused:
            raise RuntimeError(
                f"One of the differentiated Tensors (input {k}) appears to not have been used in "
                "the graph. Set allow_unused=True if this is the desired behavior."
            )
    return captured


def _accumulate_leaf(leaf: Tensor, g: Tensor, create_graph: bool, claimed: set[int]) -> None:
    """Add ``g`` to ``leaf.grad``.

    Without ``create_graph`` a leaf's gradient is later changed in place (accumulation,
    ``zero_grad(set_to_none=False)``, ``clip_grad_norm_``), so it must own its array: an array
    that is a view, read-only, another leaf's gradient or the caller's gradient is copied first.
    """
    if create_graph:
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    arr = g.data
    if leaf.grad is None:
        if id(arr) in claimed or arr.base is not None or not arr.flags.writeable:
            arr = arr.copy()
        claimed.add(id(arr))
        leaf.grad = _detached(arr)
    elif leaf.grad.requires_grad or not leaf.grad.data.flags.writeable:
        leaf.grad = _detached(leaf.grad.data + arr)
    else:
        leaf.grad.data += arr


def _detached(arr: Any) -> Tensor:
    t = _tensor_class().__new__(_Tensor)
    t.data = arr
    t.grad = None
    t.grad_fn = None
    t.requires_grad = False
    t._version = 0
    t._base = None
    t._hooks = None
    return t


def _fit_shape(fn: Function, t: Tensor, g: Tensor) -> Tensor:
    """Sum a broadcast gradient back to its input's shape (and dtype), or raise naming the op."""
    if g.data.dtype != t.data.dtype:
        g = g.to(t.data.dtype)
    try:
        return g.sum_to(t.shape)
    except (ValueError, RuntimeError):
        raise RuntimeError(
            f"{fn.name()} returned a gradient of shape {tuple(g.shape)} for an input of shape "
            f"{tuple(t.shape)}"
        ) from None


def _check_anomaly(fn: Function, grads: tuple) -> None:
    from chainrule.backend import xp

    for k, gi in enumerate(grads):
        if gi is None:
            continue
        if not xp.all(xp.isfinite(gi.data)):
            where = "".join(traceback.format_list(fn.stack)) if fn.stack else "(unknown)\n"
            raise RuntimeError(
                f"Function '{fn.name()}' returned nan or inf values in its {k}th output "
                f"(gradient of input {k}).\nThe forward call that created it:\n{where}"
            )


def attach(fn: Function, inputs: tuple, needs: tuple) -> None:
    """Record ``inputs`` on ``fn``: the edges to their nodes (taken now, so a later in-place
    change of an input does not reroute this node), and their versions (called by ``apply``)."""
    fn.inputs = inputs
    fn.needs = needs
    fn.next = tuple(
        (a.grad_fn if a.grad_fn is not None else a) if n else None for a, n in zip(inputs, needs)
    )
    fn.hooks = None
    fn.retained = None
    if fn.saves:
        when = fn.save_when
        fn.versions = tuple(
            None if when is not None and i in when and not needs[when[i]]
            else inputs[i]._current_version()
            if i < len(inputs) and hasattr(inputs[i], "_version")
            else 0
            for i in fn.saves
        )
    else:
        fn.versions = ()
    if _GradMode.anomaly:
        fn.stack = traceback.extract_stack()[:-3]
    else:
        fn.stack = None


def iter_tensors(seq: Iterable[Any]) -> list[Any]:
    """Flatten a tensor or sequence of tensors into a list."""
    from chainrule.tensor import Tensor

    if isinstance(seq, Tensor):
        return [seq]
    return list(seq)
