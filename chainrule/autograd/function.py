"""``Function``: a differentiable primitive, and the two namespaces its derivative is written
against.

An op writes its derivative once, as ``vjp(self, g, F)``: ``F.inputs(self)`` / ``F.output(self)``
give what the op saved and ``F.<fn>`` the elementary functions, where ``F`` is either

* :data:`ARRAYS`: the array backend, the inputs' arrays (the engine's pass without
  ``create_graph``: no graph, no Tensor wrapping), or
* :data:`TENSORS`: the Tensor functions and the input Tensors themselves (``create_graph=True``:
  the formula is then recorded, so the gradient is differentiable again).

Python operators (``g * y``, ``-g``, ``g / (2 * out)``) mean the same on both. A derivative
that is another op is ``F.apply(Op, *args, **kw)`` (its forward on arrays, or recorded on
Tensors), and ``F.array(v)`` is the array behind a value, for data-dependent choices. The Tensor
class and its functions are registered once by ``chainrule.tensor`` (ops never import it).

Example (the ``atan2`` op of docs/ops.md)::

    class Atan2(Function):
        saves = ("y", "x")  # what vjp reads (see ``_declare_saves``)

        def forward(self, y, x):  # out = atan2(y, x)
            return xp.arctan2(y, x)

        def vjp(self, g, F):  # dy = g x / (x² + y²),  dx = -g y / (x² + y²)
            y, x = F.inputs(self)
            r = x * x + y * y
            return g * x / r, -(g * y) / r
"""

from __future__ import annotations

import inspect
import itertools
import re
import threading
import traceback
import weakref
from collections.abc import Callable
from operator import attrgetter
from types import FunctionType
from typing import TYPE_CHECKING, Any

from chainrule.backend import broadcast_to, float64, xp

_complex128 = xp.dtype(xp.complex128)

_ndarray = xp.ndarray

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

class _ThreadModes(threading.local):
    """Per-thread switches, as in PyTorch: graph recording (``no_grad`` turns it off), anomaly
    detection, and whether ``backward()`` builds the graph of the gradient by default.

    ``__init__`` runs once in every thread, at its first use: a new thread records, as in
    PyTorch. The values live in each thread's own attribute dict (a read of a class-level
    default would cost twice as much: the thread's dict is searched first). An assignment
    changes only the assigning thread's value, so one thread evaluating under ``no_grad()``
    never stops another from recording its training step.
    """

    def __init__(self) -> None:
        self._enabled = True
        self._anomaly = False
        self.create_graph = False  # see ``backward_creates_graph``

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, on: bool) -> None:
        # counted across threads, so that a recorder tests a global (``_grad_off``) before
        # this thread's flag: a thread-local read costs ~500-1000 instructions an op
        global _grad_off
        on = bool(on)
        if on != self._enabled:
            with _mode_lock:
                _grad_off += -1 if on else 1
                self._enabled = on

    @property
    def anomaly(self) -> bool:
        return self._anomaly

    @anomaly.setter
    def anomaly(self, on: bool) -> None:
        # counted across threads too (``anomaly_threads[0]``)
        on = bool(on)
        with _mode_lock:
            if on != self._anomaly:
                anomaly_threads[0] += 1 if on else -1
                self._anomaly = on


# how many threads have recording off (``no_grad``, the engine's own pass) and how many have
# anomaly detection on: while a count is 0 no thread needs its flag read. (A thread that ends
# with recording off or anomaly mode on leaves its count above 0: recorders then read their
# own thread's flag, as before.)
_grad_off = 0
anomaly_threads = [0]
_mode_lock = threading.Lock()
_GradMode = _ThreadModes()

# numbers recorded nodes in creation order (``Function.seq``)
next_seq = itertools.count(1).__next__

# the number (from ``next_seq``) of the latest in-place change to any tensor: a node with a
# higher ``seq`` was recorded after it, so its saved tensors are all at their saved versions
last_inplace = [0]


def mark_inplace() -> None:
    """Note that some tensor's version changes now (``Tensor._bump_version``), or that it is
    given another array (``p.data = t``): the engine then checks (and re-reads) what the nodes
    recorded before saved."""
    last_inplace[0] = next_seq()

_new = object.__new__
_weakref = weakref.ref
# bound by register_tensor_functions: the Tensor class, and ``chainrule.tensor._const`` (how an
# operator's right operand is normalised)
Tensor: Any = None
_const: Any = None
_wrap: Any = None  # tensor._wrap, registered with the Tensor class


def _anomaly_stack() -> list:
    """The creation stack kept under anomaly mode (without the recorder and this frame)."""
    return traceback.extract_stack()[:-2]


def _link(fn: Function, t: Tensor) -> None:
    """Make ``t`` the output of node ``fn`` (its inputs, needs, edges and saved versions set):
    its sequence number (the engine's order), the creation stack under anomaly mode, and a
    weak reference to ``t`` when the derivative reads the output. (``record_unary`` and
    ``record_binary``, the hottest paths, write this out: a call costs ~0.1 µs an op.)"""
    fn.seq = next_seq()
    if anomaly_threads[0] and _GradMode.anomaly:
        fn.stack = traceback.extract_stack()[:-2]  # (without the recorder and this frame)
    t.grad_fn = fn
    t.requires_grad = True
    if fn._save_out:
        fn.out_ref = _weakref(t)
        fn.out_array = t._array


def record(cls: type[Function], *args: Any, **kw: Any) -> Tensor:
    """Run primitive ``cls`` on ``args`` (Tensors or constants) and record it if needed.

    Recording stores on the node its inputs, which of them need a gradient, the edges to their
    creators (taken now, so a later in-place change of an input does not reroute this node) and
    the versions of the inputs its backward reads. This is the hot path of every op: besides
    ``forward`` it makes the output Tensor (``tensor._wrap`` written out) and, when recording,
    links it (``_link``); the two specialised recorders below write both out (a helper call
    costs ~0.1 µs an op, a tenth of its recording overhead). NumPy makes a scalar of a 0-d
    result: it is kept an array, so the tensor is writable (s += 1, s.fill_).
    """
    fn = _new(cls)
    arrays = []
    rg = False
    for a in args:
        if isinstance(a, Tensor):
            arrays.append(a._array)
            if a.requires_grad:
                rg = True
        else:
            arrays.append(a)
    try:
        out = fn.forward(*arrays, **kw)
    except ValueError as e:  # NumPy's broadcasting/shape errors, told with the op's name
        raise _forward_error(cls, arrays, e) from None
    t = _new(Tensor)  # (tensor._wrap written out, as in the recorders below)
    t._array = out if isinstance(out, _ndarray) else xp.asarray(out)  # (0-d: kept an array)
    t.grad = t._base = t._hooks = None
    t._version = 0
    if rg and (not _grad_off or _GradMode.enabled):
        needs = []
        edges = []
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad:
                needs.append(True)
                edges.append(a if a.grad_fn is None else a.grad_fn)
            else:
                needs.append(False)
                edges.append(None)
        fn.inputs = args
        fn.arrays = tuple(arrays)
        fn.needs = needs
        fn.next = edges
        if fn._save_inputs:
            if fn._save_var >= 0:  # a ``*name`` declaration: the indices depend on this call
                fn._save_idx = _var_indices(fn, len(args), needs)
            fn.versions = _saved_versions(fn, args, needs)
        _link(fn, t)
    else:
        t.grad_fn = None
        t.requires_grad = False
    return t


def record_unary(x: Tensor, cls: type[Function], ufunc: Any = None, fix: Any = None) -> Tensor:
    """``record`` specialised to one Tensor input and no options (the unary math methods).
    The op comes last so that :func:`as_method` can bind it (``Tensor.exp`` is this function
    with ``cls=Exp``: one Python frame an op, not a method calling the recorder), with the
    op's ``forward_ufunc`` and ``forward_fix`` (called here: no ``forward`` frame)."""
    fn = _new(cls)
    xa = x._array
    if ufunc is None:
        out = fn.forward(xa)
    else:
        out = ufunc(xa)
        if fix is not None and out.dtype is float64:
            out = fix(out, xa)
    t = _new(Tensor)
    t._array = out if isinstance(out, _ndarray) else xp.asarray(out)  # (0-d: kept an array)
    t.grad = t._base = t._hooks = None
    t._version = 0
    if x.requires_grad and (not _grad_off or _GradMode.enabled):
        fn.inputs = (x,)
        fn.arrays = (xa,)
        fn.needs = (True,)
        fn.next = (x.grad_fn or x,)
        fn.seq = next_seq()
        t.grad_fn = fn
        t.requires_grad = True
        if fn._save_inputs:
            b = x._base
            fn.versions = ((x if b is None else b)._version,)
        if fn._save_out:
            fn.out_ref = _weakref(t)
            fn.out_array = t._array
        if anomaly_threads[0] and _GradMode.anomaly:
            fn.stack = _anomaly_stack()
        return t
    t.grad_fn = None
    t.requires_grad = False
    return t


_SCALARS = frozenset((float, int, bool))


def record_binary(x: Tensor, y: Any, cls: type[Function], ufunc: Any = None,
                  fix: Any = None) -> Tensor:
    """``record`` specialised to (Tensor, operand) (the arithmetic operators): the hottest path
    of the library, so it is written out flat. The op comes last, for :func:`as_method`, with
    its ``forward_ufunc`` and ``forward_fix`` (as in ``record_unary``)."""
    yc = y.__class__
    if yc is Tensor:  # (the common operand first: a class test is cheaper than a set's)
        yt = True
        yd = y._array
    elif yc in _SCALARS:
        yt = False
        yd = y
    elif isinstance(y, Tensor):
        yt = True
        yd = y._array
    else:
        y = yd = _const(y)
        yt = isinstance(y, Tensor)
        if yt:
            yd = y._array
    fn = _new(cls)
    xa = x._array
    try:
        if ufunc is None:
            out = fn.forward(xa, yd)
        else:
            out = ufunc(xa, yd)
            if fix is not None and (out.dtype is float64 or out.dtype is _complex128):
                out = fix(out, xa, yd)  # (NumPy's widening, e.g. int * 0.5, int * 1j)
    except ValueError as e:  # NumPy's broadcasting errors, told with the op's name
        raise _forward_error(cls, [xa, yd], e) from None
    t = _new(Tensor)
    t._array = out if isinstance(out, _ndarray) else xp.asarray(out)  # (0-d: kept an array)
    t.grad = t._base = t._hooks = None
    t._version = 0
    xr = x.requires_grad
    yr = yt and y.requires_grad
    if (xr or yr) and (not _grad_off or _GradMode.enabled):
        fn.inputs = (x, y)
        fn.arrays = (xa, yd)
        fn.needs = (xr, yr)
        fn.next = ((x.grad_fn or x) if xr else None, (y.grad_fn or y) if yr else None)
        pair = fn._save_pair
        if pair is not None:  # both inputs declared (x * y, x / y): written out flat
            mx, my = pair  # 1: always read; 2: read only for the other input's gradient
            vx = vy = None
            if mx == 1 or yr:
                b = x._base
                vx = (x if b is None else b)._version
            if yt and (my == 1 or xr):
                b = y._base
                vy = (y if b is None else b)._version
            fn.versions = (vx, vy)
        elif fn._save_inputs:
            fn.versions = _saved_versions(fn, (x, y), (xr, yr))
        fn.seq = next_seq()
        if anomaly_threads[0] and _GradMode.anomaly:
            fn.stack = _anomaly_stack()
        t.grad_fn = fn
        t.requires_grad = True
        if fn._save_out:
            fn.out_ref = _weakref(t)
            fn.out_array = t._array
    else:
        t.grad_fn = None
        t.requires_grad = False
    return t


def as_method(recorder: Callable, cls: type[Function], name: str) -> Callable:
    """``recorder`` (``record_unary`` or ``record_binary``) with its last parameter, the op,
    bound to ``cls`` (and its ``forward_ufunc``, ``forward_fix``): a Tensor method (``x.exp()``,
    ``x * y``) that is the recorder itself. A method that called the recorder would cost a
    second Python frame, ~5 % of an op."""
    # a code object of its own: CPython specialises attribute accesses per code object, and a
    # recorder shared by every op sees a different node class each call (so every
    # ``fn.<slot> = ...`` took the generic path); one copy per op sees one class only
    code = recorder.__code__.replace(co_name=name)
    f = FunctionType(code, recorder.__globals__, name,
                     (cls, cls.forward_ufunc, cls.forward_fix), recorder.__closure__)
    f.__doc__ = None  # (the recorder's would describe the recorder; _set adds the op's)
    return f


def _saved_versions(fn: Function, args: tuple, needs: Any) -> list:
    """The version of each input in ``fn._save_idx`` (None where nothing is to check: a
    constant, or an input read only for another input's gradient that is not needed)."""
    when = fn._save_when
    n = len(args)
    out = []
    for i in fn._save_idx:
        a = args[i] if i < n else None
        if not isinstance(a, Tensor) or (when is not None and i in when and not needs[when[i]]):
            out.append(None)
        else:
            b = a._base
            out.append((a if b is None else b)._version)
    return out


def _var_indices(fn: Function, n: int, needs: Any) -> tuple[int, ...]:
    """The inputs saved by a ``"*name"`` (every extra positional input) or ``"*name for
    d*name"`` (each one only when another of them needs a gradient) declaration, with the
    fixed inputs ``fn`` declares."""
    start = fn._save_var
    fixed = type(fn)._save_idx
    if not fn._save_var_cross:
        return fixed + tuple(range(start, n))
    wanted = [i for i in range(start, n) if needs[i]]
    return fixed + tuple(i for i in range(start, n) if any(j != i for j in wanted))


def _forward_error(cls: type[Function], arrays: list, err: Exception) -> RuntimeError:
    """A RuntimeError naming the op and its operands' shapes and dtypes."""
    ops = ", ".join(
        f"{tuple(a.shape)} {a.dtype}" if isinstance(a, xp.ndarray) else repr(a) for a in arrays
    )
    return RuntimeError(f"{cls.__qualname__.lower()}: {err} (operands: {ops})")



# the read-only ones that ``backward()`` starts from, per (shape, dtype) (``backward_one``), the
# ids of those arrays (they live for good, so an id is never reused) and their broadcast views
# per (id, shape) (``_Arrays.expand``)
_ONES: dict[Any, Any] = {}
_ONE_IDS: set[int] = set()
_EXPANDED_ONES: dict[Any, Any] = {}


def backward_one(like: Any) -> Any:
    """A read-only array of ones shaped like the scalar ``like`` (the implicit gradient of
    ``backward()``), cached per shape and dtype: it is made once, not at every step."""
    key = (like.shape, like.dtype)
    one = _ONES.get(key)
    if one is None:
        one = xp.ones(like.shape, dtype=like.dtype)
        one.flags.writeable = False
        _ONES[key] = one
        _ONE_IDS.add(id(one))
    return one


class _Arrays:
    """``F`` of the array pass: NumPy-shaped functions on the inputs' arrays."""

    Tensor: Any = None  # unused here; TENSORS.Tensor is the registered class

    # ``F.inputs(self)`` / ``F.output(self)``: the arrays the recorder kept on the node (a C
    # attribute getter: a Python function mapping the inputs to their arrays cost a frame and
    # ~2000 instructions a node)
    inputs = staticmethod(attrgetter("arrays"))
    output = staticmethod(attrgetter("out_array"))

    @staticmethod
    def cast(g: Any, dtype: Any) -> Any:
        return g.astype(dtype)

    @staticmethod
    def expand(g: Any, shape: tuple[int, ...]) -> Any:
        """A read-only broadcast view of ``g``; the implicit ``ones`` gradient of a scalar's
        ``backward()`` (every loss reduced with ``sum()``) expanded once per shape: building
        the strided view costs ~2 µs, a tenth of a small graph's backward."""
        if id(g) in _ONE_IDS and type(shape) is tuple:
            key = (id(g), shape)
            view = _EXPANDED_ONES.get(key)
            if view is None:
                if len(_EXPANDED_ONES) >= 256:  # (many shapes: start again, views are free)
                    _EXPANDED_ONES.clear()
                view = _EXPANDED_ONES[key] = broadcast_to(g, shape)
            return view
        return broadcast_to(g, shape)

    @staticmethod
    def sum_to(g: Any, shape: tuple[int, ...]) -> Any:
        from chainrule.ops.reduce import sum_to_array

        return sum_to_array(g, tuple(shape))

    @staticmethod
    def sum_keepdim(g: Any, dim: Any) -> Any:
        return g.sum(axis=dim, keepdims=True)

    @staticmethod
    def mT(x: Any) -> Any:
        return x.swapaxes(-1, -2)

    @staticmethod
    def permute(g: Any, dims: Any) -> Any:
        return g.transpose(tuple(dims))

    @staticmethod
    def index_add(g: Any, shape: tuple[int, ...], key: Any) -> Any:
        from chainrule.ops.index import _index_add  # (the ops import this module)

        return _index_add(g, tuple(shape), key)

    @staticmethod
    def apply(cls: type[Function], *args: Any, **kw: Any) -> Any:
        # another op's forward on arrays, nothing recorded (a 0-d result kept an array, as
        # ``record`` keeps it)
        out = _new(cls).forward(*args, **kw)
        return out if isinstance(out, _ndarray) else xp.asarray(out)

    @staticmethod
    def array(v: Any) -> Any:
        return v

    exp, log, sin, cos, tanh, sign = xp.exp, xp.log, xp.sin, xp.cos, xp.tanh, xp.sign
    where = staticmethod(xp.where)


class _Tensors:
    """``F`` of the create_graph pass: the Tensor functions, on the input Tensors (filled in by
    ``register_tensor_functions``)."""

    Tensor: Any = None

    @staticmethod
    def inputs(fn: Function) -> tuple:
        return fn.inputs

    @staticmethod
    def output(fn: Function) -> Any:
        return fn.output()

    @staticmethod
    def cast(g: Any, dtype: Any) -> Any:
        return g.to(dtype)

    @staticmethod
    def expand(g: Any, shape: tuple[int, ...]) -> Any:
        return g.expand(tuple(shape))

    @staticmethod
    def sum_to(g: Any, shape: tuple[int, ...]) -> Any:
        return g.sum_to(tuple(shape))

    @staticmethod
    def sum_keepdim(g: Any, dim: Any) -> Any:
        return g.sum(dim, keepdim=True)

    @staticmethod
    def mT(x: Any) -> Any:
        return x.mT

    @staticmethod
    def permute(g: Any, dims: Any) -> Any:
        return g.permute(*dims)

    @staticmethod
    def apply(cls: type[Function], *args: Any, **kw: Any) -> Any:
        return cls.apply(*args, **kw)

    @staticmethod
    def array(v: Any) -> Any:
        return v._array


ARRAYS = _Arrays()
TENSORS = _Tensors()


def register_tensor_functions(tensor_cls: type, functions: dict[str, Any],
                              const: Any) -> None:
    """Called once by ``chainrule.tensor``: the Tensor class, the functions ``vjp`` may call
    on Tensors (``exp``, ``log``, ``sin``, ``cos``, ``tanh``, ``sign``, ``index_add``,
    ``where``; and ``wrap`` for the recurrent scans' Tensor backwards) and ``const``, which
    normalises an operator's right operand (Python numbers, NumPy scalars, sequences)."""
    global Tensor, _const, _wrap
    _Tensors.Tensor = Tensor = tensor_cls
    _const = const
    _wrap = functions["wrap"]  # the one place a Tensor's fields are filled (tensor._wrap)
    for name, fn in functions.items():
        setattr(_Tensors, name, staticmethod(fn))




class Function:
    """A differentiable primitive: a forward on arrays and its derivative.

    Subclasses implement ``forward(*arrays) -> array`` and ``vjp(g, F) -> tuple`` (one entry
    per input, ``None`` where an input needs no gradient), written once against ``F`` (a
    derivative made of other ops calls them with ``F.apply``); an op whose Tensor-path
    derivative differs in form defines ``backward(g)`` on Tensors instead.
    ``self.inputs`` holds the inputs (Tensors or Python constants) and ``self.needs`` tells
    which inputs need a gradient. What the derivative reads is declared once, in ``saves``
    (see :func:`_declare_saves`): ``forward``'s parameter names, ``"out"`` for the op's own
    output (read with ``F.output(self)``, ``self.output()`` in a Tensor ``backward``), and
    ``"x for dy"`` for an input read only for another input's gradient; in-place changes to
    what an op saved are then refused at backward, as in PyTorch. A hot op may add a
    hand-written ``fast_backward(g) -> tuple`` on arrays, used when no graph of the gradient
    is recorded.
    Recording numbers each node (``seq``, increasing): a node's inputs were made before it, so
    running pending nodes from the highest number down is a topological order.
    """

    # ``arrays``: the inputs' arrays (constants as they are) and ``out_array`` the output's,
    # what ``F.inputs`` / ``F.output`` hand the array pass; set by the recorders (with
    # ``out_ref`` only when the derivative reads the output) and dropped with ``inputs`` when
    # a backward frees the graph
    __slots__ = ("inputs", "arrays", "needs", "next", "versions", "out_ref", "out_array", "seq",
                 "__dict__", "__weakref__")
    # rarely set per node, so class-level defaults spare every op three stores
    hooks: dict | None = None
    retained: Any = None
    extras = False  # set when hooks or retain_grad are attached (one test in the engine loop)
    stack: Any = None
    out_version = 0
    # ``vjp(g, F) -> tuple``: the derivative written once against a namespace F, ARRAYS (the
    # array pass) or TENSORS (create_graph); see the module docstring
    vjp: Any = None
    # a NumPy ufunc that computes ``forward`` exactly, except that a float64 result is then
    # passed through ``forward_fix(out, *arrays)`` (PyTorch's dtype rules): the Tensor
    # operators and methods call it with no ``forward`` frame (~7 % of an op). A subclass
    # that defines its own ``forward`` does not inherit it.
    forward_ufunc: Any = None
    forward_fix: Any = None
    # optional hand-written array twin of ``backward`` (arrays in, arrays out), kept only where
    # it measurably beats ``vjp`` on arrays (a speed NOTE at the op; the registry checks that it
    # equals the Tensor path)
    fast_backward: Any = None
    # True for an op whose derivative, handed a gradient of its output's shape and dtype,
    # returns each input's gradient in that input's shape and dtype (the elementwise one-input
    # ops): the array pass then skips fitting them (tests/test_engine_fast_paths.py checks the
    # claim on every registry op that makes it)
    grads_fit = False
    # what the derivative reads: the declaration each op makes (``saves = ("x", "out")``), and
    # the flags ``_declare_saves`` derives from it once per class for the recorder and engine
    saves: tuple[str, ...]
    _save_idx: tuple[int, ...] = ()  # the saved inputs' positions
    _save_when: dict[int, int] | None = None  # input i read only if input when[i] needs a grad
    # both inputs of a binary op declared, (x's, y's) mode: 1 always read, 2 read only for the
    # other's gradient ("x for dy"): record_binary's flat branch
    _save_pair: tuple[int, int] | None = None
    _save_inputs = False  # any input saved (then ``versions`` is set at record)
    _save_out = False  # the output saved (then ``out_ref`` is set at record)
    _save_var = -1  # ``"*name"``: where the extra positional inputs start
    _save_var_cross = False  # ``"*name for d*name"``
    # the backward node's name as PyTorch spells it (``MulBackward0``): an op that sets it is
    # renamed to it, so ``type(t.grad_fn).__name__`` and ``t.grad_fn.name()`` read as in
    # PyTorch (its ``__qualname__`` keeps the op's own name); otherwise the op's name +
    # "Backward". Set per class, once, so a node costs nothing more.
    node_name = "FunctionBackward"

    # True for a PyTorch-style user Function (static ``forward(ctx, ...)`` / ``backward(ctx,
    # ...)``, or ``setup_context``): ``apply`` then runs it through autograd.user_function
    _user_style = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        torch_name = cls.__dict__.get("node_name")
        if torch_name is not None:
            cls.__name__ = torch_name
        else:
            cls.node_name = cls.__name__ + "Backward"
        if "forward" in cls.__dict__ and "forward_ufunc" not in cls.__dict__:
            cls.forward_ufunc = cls.forward_fix = None
        if isinstance(cls.__dict__.get("forward"), staticmethod) or "setup_context" in \
                cls.__dict__:
            cls._user_style = True
        if not cls._user_style and ("saves" in cls.__dict__ or "forward" in cls.__dict__):
            _declare_saves(cls)
        if cls.vjp is not None and cls.fast_backward is not None:
            # the array pass runs vjp when there is one: a hand-written twin would be ignored
            raise TypeError(f"{cls.__name__}: define vjp(g, F), or backward(g) with a "
                            "hand-written fast_backward(g), not vjp with fast_backward")
        _choose_array_derivative(cls)

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run the op on Tensors (or constants) and, when recording, link the result into the
        graph: ``Atan2.apply(y, x)``. Keyword arguments go to ``forward`` as constants.
        A PyTorch-style subclass (static ``forward(ctx, ...)``) runs its own way."""
        if cls._user_style:
            from chainrule.autograd.user_function import apply_user_function

            return apply_user_function(cls, *args, **kwargs)
        return record(cls, *args, **kwargs)

    def forward(self, *args: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is abstract")

    def _fast_backward_vjp(self, g: Any, F: Any) -> tuple:
        """``array_vjp`` of an op with a hand-written ``fast_backward`` (no ``vjp``)."""
        return self.fast_backward(g)

    def _tensor_backward_vjp(self, g: Any, F: Any) -> tuple:
        """``array_vjp`` of an op with only a Tensor ``backward`` (custom Functions): run on
        the gradient wrapped as a Tensor, its results unwrapped."""
        out = self.backward(_wrap(g))
        if type(out) is not tuple:
            out = tuple(out) if isinstance(out, list) else (out,)
        T = Tensor
        return tuple([o._array if isinstance(o, T) else o for o in out])

    # the array pass's derivative, ``array_vjp(g, ARRAYS)``: ``vjp`` itself, or one of the two
    # adapters above, chosen once per class (``_choose_array_derivative``) so that the engine
    # makes one method call per node with no test
    array_vjp = _tensor_backward_vjp

    def backward(self, g: Tensor) -> tuple[Any, ...]:
        """The gradients as Tensors (recorded under ``create_graph``): ``vjp`` against the
        Tensor functions, for an op that writes its derivative once."""
        if self.vjp is None:  # pragma: no cover - abstract
            raise NotImplementedError(f"{type(self).__name__}: define vjp (or backward)")
        return self.vjp(g, TENSORS)

    # -- graph inspection, torch-style -------------------------------------------------------
    def name(self) -> str:
        return self.node_name

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        Tensor = TENSORS.Tensor
        out = []
        for t in self.inputs or ():
            if isinstance(t, Tensor) and t.requires_grad:
                out.append((t.grad_fn if t.grad_fn is not None else AccumulateGrad(t), 0))
            else:
                out.append((None, 0))
        return tuple(out)

    def output(self) -> Tensor:
        """The tensor this node produced (available to ops whose ``saves`` names ``"out"``)."""
        t = self.out_ref()
        if t is None:  # pragma: no cover - the engine only reaches live outputs
            raise RuntimeError(f"{self.name()}: its output was freed before backward")
        return t

    def __repr__(self) -> str:
        return f"<{self.name()}>"


def _choose_array_derivative(cls: type[Function]) -> None:
    """Set ``cls.array_vjp``, what the engine's array pass calls: ``vjp`` when the class has
    one, else its hand-written ``fast_backward``, else its Tensor ``backward`` on a wrapped
    gradient (the same order of preference as before the choice was cached)."""
    if cls.vjp is not None:
        cls.array_vjp = cls.vjp
    elif cls.fast_backward is not None:
        cls.array_vjp = Function._fast_backward_vjp
    else:
        cls.array_vjp = Function._tensor_backward_vjp


_SAVE_TOKEN = re.compile(r"(\*?)(\w+)(?: for d(\*?)(\w+))?")


def _declare_saves(cls: type[Function]) -> None:
    """Translate ``cls.saves`` into the recorder's and engine's flags, once per class.

    ``saves`` is a tuple of what ``vjp``/``backward`` reads (PyTorch's ``save_for_backward``,
    declared on the class):

    * ``"x"``: the input that ``forward`` calls ``x``;
    * ``"out"``: the op's own output;
    * ``"x for dy"``: input ``x``, read only to compute the gradient of input ``y`` (x in
      x * y): an in-place change to x matters only when y needs a gradient, as in PyTorch;
    * ``"*xs"``: every extra positional input of ``forward(self, ..., *xs)``, and
      ``"*xs for d*xs"``: each of them only when another of them needs a gradient.

    ``saves = ()`` says the derivative reads nothing that could change. A class with a
    ``forward`` must declare it (or inherit one): reading an input without declaring it would
    let an in-place change silently corrupt its gradient.
    """
    decl = getattr(cls, "saves", None)
    own_forward = cls.forward is not Function.forward
    if decl is None:
        if own_forward:
            raise TypeError(f"{cls.__qualname__}: declare what the derivative reads, e.g. "
                            "saves = (\"x\", \"out\"), or saves = () for nothing")
        return
    if isinstance(decl, str) or not isinstance(decl, tuple):
        raise TypeError(f"{cls.__qualname__}.saves must be a tuple of names, got {decl!r}")
    params = inspect.signature(cls.forward).parameters.values() if own_forward else ()
    pos = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    pos = pos[1:]  # (self)
    var = next((p.name for p in params if p.kind == p.VAR_POSITIONAL), None)
    idx: list[int] = []
    when: dict[int, int] = {}
    out = var_cross = False
    var_start = -1

    def where(name: str, star: str, token: str) -> int:
        if star:
            if name != var:
                raise TypeError(f"{cls.__qualname__}.saves: {token!r} names no *{name} "
                                f"parameter of forward")
            return len(pos)
        if name not in pos:
            raise TypeError(f"{cls.__qualname__}.saves: {token!r}: forward has no positional "
                            f"parameter {name!r} (it has {pos})")
        return pos.index(name)

    for token in decl:
        m = _SAVE_TOKEN.fullmatch(token) if isinstance(token, str) else None
        if m is None:
            raise TypeError(f"{cls.__qualname__}.saves: {token!r} is not \"x\", \"out\", "
                            "\"x for dy\", \"*xs\" or \"*xs for d*xs\"")
        star, name, star2, other = m.groups()
        if name == "out" and not star and other is None and "out" not in pos:
            out = True
            continue
        i = where(name, star, token)
        if star:
            if other is not None and (star2 != "*" or other != name):
                raise TypeError(f"{cls.__qualname__}.saves: {token!r}: a *{name} input can "
                                f"only be read for the others' gradients, \"*{name} for "
                                f"d*{name}\"")
            var_start, var_cross = i, other is not None
            continue
        if i in idx:
            raise TypeError(f"{cls.__qualname__}.saves names input {name!r} twice")
        idx.append(i)
        if other is not None:
            if star2:
                raise TypeError(f"{cls.__qualname__}.saves: {token!r}: condition on a *input "
                                "is not supported")
            when[i] = where(other, "", token)
    cls._save_idx = tuple(idx)
    cls._save_when = when or None
    cls._save_pair = None
    if cls._save_idx == (0, 1) and var_start < 0 and set(when.items()) <= {(0, 1), (1, 0)}:
        cls._save_pair = (2 if 0 in when else 1, 2 if 1 in when else 1)
    cls._save_var, cls._save_var_cross = var_start, var_cross
    cls._save_inputs = bool(idx) or var_start >= 0
    cls._save_out = out


class AccumulateGrad:
    """Stand-in node for a leaf in ``next_functions`` (as PyTorch shows it)."""

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    next_functions: tuple = ()

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


def __getattr__(name: str) -> Any:
    """PyTorch's ``autograd.function.once_differentiable`` / ``FunctionCtx`` (defined with the
    custom-Function machinery, which imports this module)."""
    if name in ("once_differentiable", "FunctionCtx"):
        from chainrule.autograd import user_function

        return getattr(user_function, name)
    raise AttributeError(f"module 'chainrule.autograd.function' has no attribute {name!r}")
