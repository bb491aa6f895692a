"""``chainrule.compile``: capture a training step once at the array level, replay it as a flat
NumPy program.

Lifecycle of ``step = chainrule.compile(fn)``:

1. the first call runs eagerly (warm-up: optimizer state, caches);
2. the second and third calls run eagerly *under a tracer* (a capture): every tensor's array is
   temporarily replaced by a view of class :class:`_Traced` whose ``__array_ufunc__`` /
   ``__array_function__`` and array methods record each NumPy call with its wiring (which
   earlier result, argument, live state array or constant it reads and writes), and the random
   functions of :mod:`chainrule.random` record their draws;
3. if the two captures agree call for call (same functions, same constants, same state arrays),
   the program is kept; otherwise some data flowed outside the tracer (NumPy's global RNG, a C
   extension, SciPy's BLAS ...) and the function stays eager, with one warning naming the op;
4. later calls whose guards hold replay the program: one NumPy call per line, reading the
   arguments' arrays and the live state arrays (parameters, optimizer moments, BatchNorm
   statistics), drawing fresh random numbers from the same generators as eager would. The
   steady state is one generated function per program (``_generate_replay``): the guards as
   comparisons on values bound at capture, the program's lines, the write-back; a miss
   returns before anything is written and the generic path takes over.

Guards (checked each call; a miss captures a new program, up to 8 per function): the argument
structure, each tensor argument's shape / dtype / strides / ``requires_grad``, every other
argument by ``==``, grad mode, anomaly mode, default dtype, the JIT switch, for each touched
state tensor that its array is still the same object and whether its ``.grad`` is ``None``,
every touched module's ``training``, the optimizers' hyper-parameters (``lr`` is read live), and
value guards for the Python decisions made on array values during capture (``bool(t)``).

Not capturable (the function stays eager with a one-line reason): ``float()`` / ``.item()`` /
``.tolist()`` on traced data, ``backward(create_graph=True)``, a value guard that follows an
in-place write of state, arrays made by NumPy calls the tracer does not see.

Like CUDA graphs, the gradient tensors are the same objects from replay to replay, their arrays
replaced each step; the returned tensors are fresh copies without a graph.

Buffers: a replay writes each ufunc's result (``np.matmul`` included) into a buffer allocated
once per program (``out=b<k>`` in ``.code``), with the layout the eager result had, so every
call takes the code path it took eagerly and the bits are the same; two results whose
lifetimes (up to the last use of any array viewing their memory) do not overlap share one
buffer. What a replay hands out (the gradient arrays, state it rebinds, the returned tensors)
is never a buffer: an array the user holds from one replay is not changed by the next. One
run uses a program's buffers at a time; a concurrent run (another thread) allocates its own.

Cache blocking (``block=True``, the default; :mod:`chainrule._block`): a run of consecutive
exact elementwise calls (and BLAS axpy) whose arrays exceed the L2 cache, and which reads them
again often enough to pay, replays row block by row block (a ``for v_r in range(...)`` loop
in ``.code``), so each block's arrays stay in cache across the run's passes; the same bits.
"""

from __future__ import annotations

import bisect
import functools
import gc
import itertools
import keyword
import os
import sys
import threading
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import _block, backend
from chainrule import random as _random
from chainrule.autograd.function import _GradMode
from chainrule.tensor import Tensor, tensor_of

__all__ = ["compile", "CompiledFunction"]

MAX_PROGRAMS = 8


def _arr(t: Tensor) -> np.ndarray:
    """A tensor's array (the one place that knows where it lives)."""
    return t._array


def _set_arr(t: Tensor, a: np.ndarray) -> None:
    t._array = a


_ndarray = np.ndarray
_plain_view = np.ndarray.view


class _Refused(Exception):
    """Capture is impossible; the message says why (the step still ran eagerly)."""


class _GuardMiss(Exception):
    """A value guard failed during replay (before any state was written)."""


# ---- the tracer -------------------------------------------------------------------------------
class _Slot:
    """A reference to value ``i`` of the program inside a call template."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Slot) and other.i == self.i

    def __hash__(self) -> int:
        return hash(("slot", self.i))


class _Instr:
    """One recorded call: ``outs = fn(*args, **kw)`` (``kind``: 'call', 'method', 'getattr',
    'getitem', 'setitem', 'guard'), ``writes`` the slots it writes in place."""

    __slots__ = ("kind", "fn", "name", "args", "kw", "outs", "writes", "expect")

    def __init__(self, kind: str, fn: Any, name: str, args: Any, kw: Any, outs: Any,
                 writes: tuple = (), expect: Any = None) -> None:
        self.kind, self.fn, self.name, self.args, self.kw = kind, fn, name, args, kw
        self.outs, self.writes, self.expect = outs, writes, expect


class _Tracer:
    """The state of one capture: the values (slots) and the instructions."""

    def __init__(self) -> None:
        self.instrs: list[_Instr] = []
        self.slots: list[tuple] = []  # (kind, payload): 'arg' pos, 'ext' array, 'const' array, 'op'
        self.slot_of: dict[int, int] = {}
        self.keep: list[Any] = []  # objects whose id is a key (kept alive: ids are not reused)
        self.pending_ext: dict[int, tuple[Any, np.ndarray]] = {}  # id(view) -> (view, orig)
        self.root: dict[int, int] = {}  # slot -> slot whose memory it views
        self.refused: str | None = None
        self.thread = threading.get_ident()
        self.mutable_consts: set[int] = set()
        self.objs: list[Any] = []  # slot -> the object traced under it
        self.snap: dict[int, np.ndarray] = {}  # arg/ext slot -> its value before the step
        self.gen_before: dict[int, tuple] = {}  # id(generator) -> (generator, state before)

    def refuse(self, why: str) -> None:
        if self.refused is None:
            self.refused = why

    # values -----------------------------------------------------------------------------------
    def _new_slot(self, obj: Any, kind: str, payload: Any) -> int:
        i = len(self.slots)
        self.slots.append((kind, payload))
        self.slot_of[id(obj)] = i
        self.keep.append(obj)
        self.objs.append(obj)
        self.root[i] = i
        return i

    def slot(self, x: Any) -> int:
        """The slot of array ``x`` (registering live state and constants on first sight)."""
        i = self.slot_of.get(id(x))
        if i is not None:
            return i
        ext = self.pending_ext.get(id(x))
        if ext is not None:
            i = self._new_slot(x, "ext", ext[1])
            self.snap[i] = ext[1].copy()  # its value before the step (for the validation)
            return i
        if isinstance(x, _Traced):
            self.refuse("an array was made by a NumPy call the tracer does not see")
        alias = self._alias(x)
        if alias is not None:
            return alias
        return self._new_slot(x, "const", np.array(x, copy=True))

    def _scratch(self, outs: tuple) -> None:
        """Register plain output buffers met first as ``out=`` (a ufunc overwrites them whole):
        their old contents do not matter, so a replay allocates them afresh and two captures
        need not agree on them (an optimizer's scratch holds the last step's garbage)."""
        for o in outs:
            if isinstance(o, _ndarray) and not isinstance(o, _Traced) \
                    and id(o) not in self.slot_of and id(o) not in self.pending_ext \
                    and o.flags.c_contiguous and self._alias(o) is None:
                self._new_slot(o, "scratch", (o.shape, o.dtype.str))

    def _alias(self, x: np.ndarray) -> int | None:
        """The slot of a traced array that plain ``x`` merely re-labels (``np.asarray(t)``)."""
        b = x.base
        while b is not None:
            i = self.slot_of.get(id(b))
            if i is None and id(b) in self.pending_ext:
                i = self.slot(b)
            if i is not None:
                o = self.objs[i]
                off = _ptr(x) - _ptr(o)
                if o.shape == x.shape and o.dtype == x.dtype and o.strides == x.strides \
                        and off == 0:
                    return i
                # a strided view of traced memory (as_strided, im2col windows): rebuilt from
                # its base at every replay
                r = _plain_view(_restride(_plain_view(o, _ndarray), off, x.shape, x.strides,
                                          x.dtype.str), _Traced)
                j = self._new_slot(r, "op", None)
                self.slot_of[id(x)] = j
                self.keep.append(x)
                self.root[j] = self.root.get(i, i)
                self.instrs.append(_Instr("call", _restride, "restride",
                                          (_Slot(i), off, x.shape, x.strides, x.dtype.str), {},
                                          _Slot(j)))
                return j
            b = getattr(b, "base", None)
        return None

    def wrap(self, r: Any, src: int | None = None) -> Any:
        """A result as traced value(s): a new slot per array (numpy scalars become 0-d)."""
        if isinstance(r, (_ndarray, np.generic)):
            a = np.asarray(r)
            t = _plain_view(a, _Traced)
            i = self._new_slot(t, "op", None)
            self.slot_of[id(a)] = i  # (plain re-labellings of ``t`` find it through ``a``)
            self.keep.append(a)
            if src is not None and isinstance(r, _ndarray) and self.root.get(src) is not None \
                    and _shares(r, self.objs[src]):
                self.root[i] = self.root[src]
            return t, _Slot(i)
        if isinstance(r, (tuple, list)) and r and all(isinstance(e, (_ndarray, np.generic))
                                                      for e in r):
            pairs = [self.wrap(e, src) for e in r]
            vals = [p[0] for p in pairs]
            return (tuple(vals) if isinstance(r, tuple) else vals), tuple(p[1] for p in pairs)
        return r, None  # a Python value (from shapes): a constant of the program

    def unwrap(self, obj: Any) -> tuple[Any, Any]:
        """(plain arrays, template with slots) of a nested argument structure."""
        if isinstance(obj, _ndarray):
            i = self.slot(obj)
            return _plain_view(obj, _ndarray) if isinstance(obj, _Traced) else obj, _Slot(i)
        if isinstance(obj, (tuple, list)):
            pairs = [self.unwrap(e) for e in obj]
            cls = tuple if isinstance(obj, tuple) else list
            return cls(p[0] for p in pairs), cls(p[1] for p in pairs)
        if isinstance(obj, dict):
            pairs = {k: self.unwrap(v) for k, v in obj.items()}
            return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}
        return obj, obj

    def written(self, tmpl: Any) -> None:
        """Note an in-place write to the slots in ``tmpl``: constants become per-replay copies."""
        for s in _slots_in(tmpl):
            r = self.root.get(s.i, s.i)
            if self.slots[r][0] == "const":
                self.mutable_consts.add(r)

    # recording --------------------------------------------------------------------------------
    def call(self, kind: str, fn: Any, name: str, args: tuple, kw: dict,
             writes_arg: Any = None, view_of: int | None = None) -> Any:
        """Run ``fn`` on the plain arrays of ``args``/``kw`` and record it."""
        out = kw.get("out")
        if out is not None and "where" not in kw:
            self._scratch(out if isinstance(out, tuple) else (out,))
        pa, ta = self.unwrap(args)
        pk, tk = self.unwrap(kw)
        global _TRACER
        _TRACER = None  # (what ``fn`` calls inside is part of this one call)
        try:
            r = fn(*pa, **pk)
        finally:
            _TRACER = self
        writes: tuple = ()
        if writes_arg is not None:
            writes = tuple(_slots_in(writes_arg(ta, tk)))
            self.written(writes)
        # an in-place call returns its output argument: keep the caller's object
        if writes and isinstance(r, _ndarray) and len(writes) == 1:
            obj = self.objs[writes[0].i]
            if isinstance(obj, _ndarray) and _shares(r, obj) and r.shape == obj.shape:
                self.instrs.append(_Instr(kind, fn, name, ta, tk, None, writes))
                return obj
        src = None
        if view_of is not None:
            src = _first_slot(ta)
        out, tout = self.wrap(r, src)
        self.instrs.append(_Instr(kind, fn, name, ta, tk, tout, writes))
        return out


def _ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


class _Memory:
    """Exposes memory at a pointer with a given layout, keeping its owner alive."""

    def __init__(self, base: np.ndarray, iface: dict) -> None:
        self.base = base
        self.__array_interface__ = iface


def _restride(base: np.ndarray, offset: int, shape: tuple, strides: tuple, typestr: str) -> Any:
    """The view of ``base``'s memory at byte ``offset`` with ``shape`` and ``strides``."""
    iface = {"data": (_ptr(base) + offset, False), "shape": shape, "strides": strides,
             "typestr": typestr, "version": 3}
    return np.asarray(_Memory(base, iface))


def _shares(a: np.ndarray, b: np.ndarray) -> bool:
    return np.may_share_memory(_plain_view(a, _ndarray), _plain_view(b, _ndarray))


def _slots_in(t: Any) -> list[_Slot]:
    if isinstance(t, _Slot):
        return [t]
    if isinstance(t, (tuple, list)):
        return [s for e in t for s in _slots_in(e)]
    if isinstance(t, dict):
        return [s for e in t.values() for s in _slots_in(e)]
    return []


def _first_slot(t: Any) -> int | None:
    s = _slots_in(t)
    return s[0].i if s else None


_TRACER: _Tracer | None = None


def _active() -> _Tracer | None:
    """The running capture, if it belongs to this thread (other threads run untraced: their
    writes to traced state are then caught by the validation replay)."""
    tr = _TRACER
    return tr if tr is not None and tr.thread == threading.get_ident() else None


def _plain(obj: Any) -> Any:
    if isinstance(obj, _Traced):
        return _plain_view(obj, _ndarray)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_plain(e) for e in obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _out_template(ta: Any, tk: Any) -> Any:
    return tk.get("out")


class _Traced(np.ndarray):
    """An array whose NumPy calls are recorded while a capture runs (plain otherwise)."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kw: Any) -> Any:
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        tr = _active()
        if tr is None:
            out = kw.get("out")
            r = fn(*_plain(inputs), **_plain(kw))
            if out is not None and len(out) == 1 and isinstance(out[0], _Traced):
                return out[0]
            return r
        if "out" in kw and not isinstance(kw["out"], tuple):
            kw["out"] = (kw["out"],)
        if method == "at":
            r = tr.call("call", fn, name, inputs, kw, lambda ta, tk: ta[0])
            return r
        if "out" in kw:
            r = tr.call("call", fn, name, inputs, kw, _out_template)
            return r[0] if isinstance(r, tuple) and len(r) == 1 else r
        return tr.call("call", fn, name, inputs, kw)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        tr = _active()
        if tr is None:
            return func(*_plain(args), **_plain(kwargs))
        name = func.__name__
        writes = None
        if name in _INPLACE_FUNCS:
            writes = _INPLACE_FUNCS[name]
        elif "out" in kwargs and kwargs["out"] is not None:
            writes = _out_template
        view = name in _VIEW_FUNCS
        return tr.call("call", func, f"np.{name}", args, kwargs, writes,
                       view_of=0 if view else None)

    # Python decisions on values -----------------------------------------------------------------
    def __bool__(self) -> bool:
        v = bool(_plain_view(self, _ndarray))
        tr = _active()
        if tr is not None:
            _, t = tr.unwrap(self)
            tr.instrs.append(_Instr("guard", bool, "bool", t, None, None, (), v))
        return v

    def _refuse(self, what: str) -> None:
        if _active() is not None:
            _TRACER.refuse(f"{what} on a traced array (a Python number taken from the step's "
                           "data): keep such logging outside the compiled function")

    def item(self, *args: Any) -> Any:
        self._refuse(".item()")
        return _plain_view(self, _ndarray).item(*args)

    def tolist(self) -> Any:
        self._refuse(".tolist()")
        return _plain_view(self, _ndarray).tolist()

    def __float__(self) -> float:
        self._refuse("float()")
        return float(_plain_view(self, _ndarray))

    def __int__(self) -> int:
        self._refuse("int()")
        return int(_plain_view(self, _ndarray))

    def __index__(self) -> int:
        self._refuse("an index")
        return _plain_view(self, _ndarray).__index__()

    def __getitem__(self, idx: Any) -> Any:
        tr = _active()
        if tr is None:
            return _plain_view(self, _ndarray)[_plain(idx)]
        return tr.call("getitem", _getitem, "getitem", (self, idx), {}, view_of=0)

    def __setitem__(self, idx: Any, value: Any) -> None:
        tr = _active()
        if tr is None:
            _plain_view(self, _ndarray)[_plain(idx)] = _plain(value)
            return
        tr.call("setitem", _setitem, "setitem", (self, idx, value), {}, lambda ta, tk: ta[0])

    @property
    def T(self) -> Any:  # noqa: N802 - NumPy's name
        return self.transpose()


def _getitem(a: np.ndarray, idx: Any) -> Any:
    return a[idx]


def _setitem(a: np.ndarray, idx: Any, value: Any) -> None:
    a[idx] = value


_INPLACE_FUNCS: dict[str, Callable] = {
    "copyto": lambda ta, tk: ta[0] if ta else tk.get("dst"),
    "put": lambda ta, tk: ta[0], "place": lambda ta, tk: ta[0],
    "putmask": lambda ta, tk: ta[0], "fill_diagonal": lambda ta, tk: ta[0],
    "put_along_axis": lambda ta, tk: ta[0],
}
_VIEW_FUNCS = {"reshape", "transpose", "swapaxes", "moveaxis", "squeeze", "expand_dims",
               "broadcast_to", "ravel", "diagonal", "real", "imag", "atleast_1d", "atleast_2d",
               "atleast_3d", "flip", "rollaxis"}

_VIEW_METHODS = ("reshape", "transpose", "swapaxes", "squeeze", "ravel", "view", "diagonal")
_NEW_METHODS = ("astype", "copy", "flatten", "sum", "mean", "max", "min", "prod", "any", "all",
                "argmax", "argmin", "std", "var", "clip", "dot", "cumsum", "cumprod", "round",
                "nonzero", "repeat", "take", "trace", "conj", "argsort", "searchsorted",
                "__copy__", "__deepcopy__", "compress", "choose", "partition",
                "argpartition")
_INPLACE_METHODS = ("fill", "put", "sort", "resize", "setflags")


def _method(name: str, kind: str) -> Callable:
    base = getattr(np.ndarray, name)

    def method(self: _Traced, *args: Any, **kw: Any) -> Any:
        tr = _active()
        if tr is None:
            return base(_plain_view(self, _ndarray), *_plain(args), **_plain(kw))
        if name == "view" and args and isinstance(args[0], type):
            return base(_plain_view(self, _ndarray), *args, **kw)
        writes = (lambda ta, tk: ta[0]) if kind == "inplace" else None
        return tr.call("method", base, name, (self, *args), kw, writes,
                       view_of=0 if kind == "view" else None)

    method.__name__ = name
    return method


for _n in _VIEW_METHODS:
    setattr(_Traced, _n, _method(_n, "view"))
for _n in _NEW_METHODS:
    setattr(_Traced, _n, _method(_n, "new"))
for _n in _INPLACE_METHODS:
    setattr(_Traced, _n, _method(_n, "inplace"))
del _n


def traced_call(fn: Callable, *args: Any, writes: int | tuple[int, ...] | None = None) -> Any:
    """Run ``fn(*args)`` as one recorded call when a capture runs (opaque code such as a BLAS
    routine or a compiled kernel: ``writes`` is the position, or the positions, of the
    arguments it writes in place)."""
    tr = _active()
    if tr is None:
        return fn(*_plain(args))
    w = None
    if isinstance(writes, int):
        w = lambda ta, tk: ta[writes]  # noqa: E731
    elif writes is not None:
        w = lambda ta, tk: tuple(ta[k] for k in writes)  # noqa: E731
    return tr.call("call", fn, getattr(fn, "__name__", "call"), args, {}, w)


class _Load:
    """``float(obj[key])`` read at run time (a learning rate a scheduler changes)."""

    def __init__(self, obj: Any, key: Any) -> None:
        self.obj, self.key = obj, key
        self.__name__ = f"load_{key}"

    def __call__(self) -> np.ndarray:
        return np.asarray(float(self.obj[self.key]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Load) and other.obj is self.obj and other.key == self.key

    __hash__ = object.__hash__


def live_scalar(obj: Any, key: Any) -> Any:
    """``obj[key]``; under capture a traced 0-d float64 array re-read at every replay."""
    tr = _active()
    if tr is None:
        return obj[key]
    return tr.call("call", _Load(obj, key), f"load_{key}", (), {})


class _Draw:
    """A random draw ``rng(generator).<method>(...)``, re-run at each replay (fresh numbers)."""

    def __init__(self, generator: Any, method: str) -> None:
        self.generator, self.method = generator, method
        self.__name__ = f"random_{method}"

    def __call__(self, *args: Any, **kw: Any) -> Any:
        g = self.generator
        real = g if isinstance(g, np.random.Generator) else (g or _random.default_generator).rng
        return getattr(real, self.method)(*args, **kw)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Draw) and other.generator is self.generator
                and other.method == self.method)

    __hash__ = object.__hash__


class _TracedRNG:
    """Stands for a NumPy generator during capture: each draw is recorded as a program call."""

    def __init__(self, generator: Any, real: np.random.Generator) -> None:
        self._generator = generator
        self._real = real

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not callable(attr):
            return attr
        draw = _Draw(self._generator, name)

        real = self._real

        def call(*args: Any, **kw: Any) -> Any:
            tr = _active()
            if tr is None:
                return attr(*_plain(args), **_plain(kw))
            if id(real) not in tr.gen_before:  # (reading the state makes arrays of its own)
                tr.gen_before[id(real)] = (real, _untraced(lambda: real.bit_generator.state))
            return tr.call("call", draw, draw.__name__, args, kw)

        return call


def _patched(name: str, real: Callable, view: bool) -> Callable:
    """A NumPy entry point the tracer cannot see through ``__array_function__`` (array
    constructors, ``asarray``, ``as_strided``), recorded while a capture runs."""

    def fn(*args: Any, **kw: Any) -> Any:
        tr = _active()
        if tr is None or (view and not isinstance(args[0] if args else None, _Traced)):
            return real(*_plain(args), **_plain(kw))
        return tr.call("call", real, name, args, kw, view_of=0 if view else None)

    fn.__name__ = name
    return fn


_CONSTRUCTORS = ("empty", "zeros", "ones", "full")
_RELABELS = ("asarray", "ascontiguousarray", "asanyarray")


def _patch_numpy() -> list[tuple[Any, str, Any]]:
    """Install the recorded NumPy entry points; returns what to put back."""
    saved = []
    for name in (*_CONSTRUCTORS, *_RELABELS):
        real = getattr(np, name)
        saved.append((np, name, real))
        setattr(np, name, _patched(name, real, name in _RELABELS))
    st = np.lib.stride_tricks
    saved.append((st, "as_strided", st.as_strided))
    st.as_strided = _patched("as_strided", st.as_strided, True)
    return saved


def _unpatch(saved: list[tuple[Any, str, Any]]) -> None:
    for mod, name, real in saved:
        setattr(mod, name, real)


def _untraced(fn: Callable[[], Any]) -> Any:
    """``fn()`` with the tracer paused."""
    global _TRACER
    tr, _TRACER = _TRACER, None
    try:
        return fn()
    finally:
        _TRACER = tr


def _rng_hook(generator: Any, real: np.random.Generator) -> Any:
    return _TracedRNG(generator, real) if _active() is not None else real


# ---- capture --------------------------------------------------------------------------------
def _flatten(obj: Any, out: list) -> Any:
    """The structure of ``obj`` with each Tensor replaced by its index in ``out``."""
    if isinstance(obj, Tensor):
        out.append(obj)
        return ("T",)
    if isinstance(obj, (tuple, list)):
        return (type(obj).__name__, tuple(_flatten(e, out) for e in obj))
    if isinstance(obj, dict):
        return ("dict", tuple((k, _flatten(v, out)) for k, v in obj.items()))
    return ("V", obj)


def _modes() -> tuple:
    """The switches a program depends on: grad mode, anomaly mode, create_graph default,
    default dtype, the JIT switch (its environment variable is read once, at import)."""
    return (_GradMode.enabled, _GradMode.anomaly, _GradMode.create_graph,
            backend.default_dtype(), _jit._enabled)


from chainrule import _jit  # noqa: E402


def _spec(args: tuple, kwargs: dict) -> tuple[tuple, list[Tensor]]:
    tensors: list[Tensor]
    if type(args) is tuple and not kwargs and all(a.__class__ is Tensor for a in args):
        # the common call, step(x, y) or step(): its structure is the number of tensors (the
        # general walk below costs microseconds, as much as a fused tiny step)
        tensors, structure = list(args), len(args)
    else:
        tensors = []
        structure = _flatten((args, kwargs), tensors)
    per = tuple((a.shape, a.dtype, a.strides, t.requires_grad, t.grad is None)
                for t in tensors for a in (_arr(t),))
    return (structure, per, _modes()), tensors


class _Program:
    """A captured step: the instructions, the values they read, the state they write back,
    and the guards under which replaying it equals running the step."""

    def __init__(self) -> None:
        self.tracer: _Tracer = _Tracer()
        self.ext_holders: dict[int, tuple] = {}  # slot -> ('t', tensor) | ('d', dict, key)
        self.outputs: list[tuple] = []  # state written back after a replay
        self.result: Any = None  # structure of the return value, slots for tensors
        self.grad_none: list[tuple[Tensor, bool]] = []
        self.modules: list[tuple[Any, bool]] = []
        self.hypers: list[tuple[dict, dict]] = []
        self.fn: Callable | None = None
        self.code = ""
        self.line_ins: list[int | None] = []  # per line of ``body``: its instruction
        self.ext_slots: list[int] = []
        self.arg_slots: list[int] = []
        self.const_slots: list[int] = []
        self.protect: list[int] = []  # positions in E written before the last value guard
        self.protect_rng = False  # draws before the last value guard
        self.E: list[np.ndarray] | None = None
        self.static_consts: list[np.ndarray] | None = None
        self.buffer_specs: list[tuple] = []  # per output buffer: (layout, captured result)
        self.buffers: list[np.ndarray] | None = None  # allocated at the first run
        # held by the run using ``buffers`` (a concurrent run, another thread's or a re-entrant
        # one, takes fresh buffers instead of writing into the ones being read)
        self.busy = threading.Lock()
        # the generated source's parts (``_generate``) and the whole replay as one generated
        # function (``_generate_replay``): guards, run, write-back, result
        self.body: list[str] = []
        self.rets: list[int] = []
        self.namespace: dict[str, Any] = {}
        self.replay: Callable[[tuple, dict], Any] | None = None
        # ids of the optimizers' ``_scratch`` dicts: work space whose contents no step reads
        # before writing, so a fused program, which keeps such values in registers, need not
        # leave in it what the unfused one leaves
        self.scratch_dicts: set[int] = set()
        # cache-blocked runs (chainrule._block): whether ``_generate`` may block, and the
        # runs it blocked
        self.block = False
        self.blocked: list[Any] = []

    def take_buffers(self) -> list[np.ndarray]:
        """The output buffers for one run: the program's own, or fresh ones while another
        run is writing those; give them back with :meth:`release`."""
        if not self.busy.acquire(blocking=False):
            return _alloc_buffers(self.buffer_specs)
        if self.buffers is None:
            self.buffers = _alloc_buffers(self.buffer_specs)
        return self.buffers

    def release(self, B: list[np.ndarray]) -> None:
        if B is self.buffers:
            self.busy.release()

    def run(self, A: list, E: list, C: list) -> tuple:
        """One run of the generated program."""
        assert self.fn is not None
        B = self.take_buffers()
        try:
            return self.fn(A, E, C, B)
        finally:
            self.release(B)

    # guards ---------------------------------------------------------------------------------
    def live_state(self) -> list[np.ndarray] | None:
        """The live state arrays the program reads (None when one is no longer the array the
        program was captured with): a tensor's array, an optimizer state entry, or the current
        ``.grad`` array of a parameter (gradients accumulated across steps)."""
        slots = self.tracer.slots
        out = []
        for i in self.ext_slots:
            h = self.ext_holders[i]
            orig = slots[i][1]
            if h[0] == "g":
                g = h[1].grad
                if g is None:
                    return None
                cur = _arr(g)
                if cur.shape != orig.shape or cur.dtype != orig.dtype \
                        or cur.strides != orig.strides:
                    return None
            else:
                cur = _arr(h[1]) if h[0] == "t" else h[1].get(h[2])
                if cur is not orig:
                    return None
            out.append(cur)
        return out

    def guards_hold(self) -> bool:
        self.E = self.live_state()
        if self.E is None:
            return False
        for t, none in self.grad_none:
            if (t.grad is None) != none:
                return False
        for m, training in self.modules:
            if m.training != training:
                return False
        return all(_hypers(group, "lr" not in snap) == snap for group, snap in self.hypers)

    def missed_guard(self) -> str:
        """Which guard of this program fails now, in words (for the reason a step stays
        eager once every program's guards have missed)."""
        if self.live_state() is None:
            return "a tensor or state buffer the step reads was replaced or reshaped"
        for t, none in self.grad_none:
            if (t.grad is None) != none:
                return f"a .grad became {'None' if t.grad is None else 'set'}"
        for m, training in self.modules:
            if m.training != training:
                return f"{type(m).__name__}.training became {m.training}"
        for group, snap in self.hypers:
            now = _hypers(group, "lr" not in snap)
            for k in sorted(set(now) | set(snap)):
                if now.get(k) != snap.get(k):
                    return (f"the optimizer's hyper-parameter {k!r} changed between calls "
                            "(only lr is read live, e.g. a scheduler cycling momentum)")
        return "the arguments' structure, shapes, dtypes or global modes changed"


def _hypers(group: dict, live_lr: bool = True) -> dict:
    """A param group's hyper-parameters, guarded by value; ``lr`` only when the optimizer
    does not read it live (SGD and Adam do: their replays follow a scheduler)."""
    skip = ("params", "lr") if live_lr else ("params",)
    return {k: v for k, v in group.items() if k not in skip}


# one capture at a time in the process: a capture swaps the arrays of every live tensor and
# sets the one tracer, so a second thread's capture waits (its eager work never does)
_CAPTURE_LOCK = threading.Lock()


def _capture(fn: Callable, args: tuple, kwargs: dict, tensors: list[Tensor]) -> tuple[Any, Any]:
    """Run ``fn`` eagerly under the tracer; returns (its result, the program or a reason).

    Only while no other Python thread runs: a capture lists every object gc tracks, and that
    list holds a reference to whatever another thread is building at that moment (CPython
    then fails that thread's tuple construction with a SystemError), and swaps the arrays of
    every live tensor, the other threads' included. With another thread alive the step runs
    eagerly and says why (chainrule's own worker pool is idle between ops and does not count).
    """
    others = [t.name for t in threading.enumerate()
              if t is not threading.current_thread() and not t.name.startswith("chainrule")]
    if others:
        return fn(*args, **kwargs), (f"another Python thread is running ({others[0]!r}); a "
                                     "capture is only safe while this thread runs alone")
    with _CAPTURE_LOCK:
        return _capture_now(fn, args, kwargs, tensors)


def _capture_now(fn: Callable, args: tuple, kwargs: dict, tensors: list[Tensor]
                 ) -> tuple[Any, Any]:
    global _TRACER
    from chainrule.nn.modules.module import Module
    from chainrule.optim.optimizer import Optimizer

    prog = _Program()
    tr = prog.tracer
    swapped: list[tuple[Tensor, np.ndarray, _Traced]] = []
    dict_swapped: list[tuple[dict, Any, np.ndarray, _Traced]] = []
    arg_ids = set()
    for pos, t in enumerate(tensors):
        if id(t) in arg_ids:
            continue
        arg_ids.add(id(t))
        a = _arr(t)
        v = _plain_view(a, _Traced)
        i = tr._new_slot(v, "arg", pos)
        prog.arg_slots.append(i)
        tr.snap[i] = a.copy()
        _set_arr(t, v)
        swapped.append((t, a, v))
    objects = gc.get_objects()
    tensors_alive = _of_types(objects, Tensor)
    optimizers = [o for o in _of_types(objects, Optimizer)
                  if isinstance(vars(o).get("state"), dict)]
    del objects
    grads = [(getattr(o, "grad", None), o) for o in tensors_alive]
    grad_of = {id(g): o for g, o in grads if g is not None}
    for o in tensors_alive:
        if id(o) in arg_ids:
            continue
        # gc also lists objects whose __init__ raised and that a traceback still holds
        # (e.g. a pytest.raises), so a half-built tensor or optimizer is skipped, not read.
        a = getattr(o, "_array", None)
        if type(a) is _ndarray:
            v = _plain_view(a, _Traced)
            owner = grad_of.get(id(o))
            holder = ("g", owner) if owner is not None else ("t", o)
            tr.pending_ext[id(v)] = tr.pending_ext[id(a)] = (v, a, holder)
            tr.keep.append(v)
            _set_arr(o, v)
            swapped.append((o, a, v))
    state_dicts: list[dict] = []
    py_state: list[tuple[Any, dict, Any, Any]] = []  # Python numbers in optimizer state
    for opt in optimizers:
        dicts = [*opt.state.values(), getattr(opt, "_scratch", {})]
        if isinstance(dicts[-1], dict) and dicts[-1]:
            prog.scratch_dicts.add(id(dicts[-1]))
        state_dicts += [d for d in dicts if isinstance(d, dict)]
        scalars = getattr(opt, "scalar_state", ())
        for st in dicts:
            if not isinstance(st, dict):
                continue
            for k, a in list(st.items()):
                if k in scalars and isinstance(a, float):  # capturable: a 0-d array that
                    a = st[k] = np.asarray(a, dtype=np.float64)  # the program updates in place
                elif isinstance(a, (int, float)):
                    py_state.append((opt, st, k, a))
                if type(a) is _ndarray:
                    v = _plain_view(a, _Traced)
                    tr.pending_ext[id(v)] = tr.pending_ext[id(a)] = (v, a, ("d", st, k))
                    tr.keep.append(v)
                    st[k] = v
                    dict_swapped.append((st, k, a, v))
    grads_before = [(t, t.grad) for t, _, _ in swapped]
    modules: dict[int, Any] = {}
    orig_call = Module.__call__

    def call(self: Any, *a: Any, **kw: Any) -> Any:
        modules[id(self)] = self
        return orig_call(self, *a, **kw)

    Module.__call__ = call  # type: ignore[method-assign]
    from chainrule.optim import optimizer as _optimizer

    prev_hook = _random._rng_hook
    _random._rng_hook = _rng_hook
    _optimizer._live_hook = live_scalar
    patched = _patch_numpy()
    # Numba kernels write arrays where the tracer cannot see: each call of a kernel that
    # declares what it writes is recorded as one opaque step (the replay runs the same kernel,
    # so it equals eager bit for bit); an undeclared kernel is not used (see chainrule._jit)
    jit_was = _jit.recorder
    _jit.recorder = traced_call
    # chainrule's own worker threads would record into this capture out of order: serial
    from chainrule import _threads

    workers_was = _threads.workers
    _threads.workers = lambda: 1
    _TRACER = tr
    try:
        result = fn(*args, **kwargs)
        prog.result = _result_template(result, tr)
    finally:  # the step raised or not: every patch is undone and every array given back
        _TRACER = None
        _random._rng_hook = prev_hook
        _optimizer._live_hook = None
        _unpatch(patched)
        _jit.recorder = jit_was
        _threads.workers = workers_was
        Module.__call__ = orig_call  # type: ignore[method-assign]
        _restore(prog, swapped, dict_swapped, state_dicts)
    changed = [(o, k) for o, st, k, a in py_state if st.get(k) is not a and st.get(k) != a]
    if changed:  # (a replay would not advance it: every later step would reuse this value)
        tr.refuse(f"{type(changed[0][0]).__name__} keeps {changed[0][1]!r} in its state as a "
                  "Python number that the step changes, which a replay cannot advance")
    hooked = [type(m).__name__ for m in modules.values() if m.__dict__.get("_forward_hooks")
              or m.__dict__.get("_forward_pre_hooks") or m.__dict__.get("_backward_hooks")]
    if hooked:
        tr.refuse(f"hooks on {hooked[0]} (Python side effects are not replayed)")
    if tr.refused:
        return result, tr.refused
    reason = _finish(prog, result, grads_before, modules, optimizers)
    return result, reason or prog


def _of_types(objects: list, base: type) -> list:
    """The objects whose type is ``base`` or a subclass of it, in order (the filter runs in
    C: a capture sweeps every object gc tracks, 10^5 and more in a process that imported
    SciPy, and a Python-level ``issubclass`` per object cost 50-100 ms per capture)."""
    kinds, todo = {base}, [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in kinds:
                kinds.add(sub)
                todo.append(sub)
    return list(itertools.compress(objects, map(kinds.__contains__, map(type, objects))))


def _restore(prog: _Program, swapped: list, dict_swapped: list, dicts: list) -> None:
    """Give every tensor and optimizer state its plain array back, noting the state the step
    rebound to a value of the program (new gradients, reassigned arrays)."""
    tr = prog.tracer
    slot_of = tr.slot_of
    swapped_ids = {id(t) for t, _, _ in swapped}
    for t, orig, view in swapped:
        cur = _arr(t)
        if cur is view:
            _set_arr(t, orig)
        elif isinstance(cur, _Traced):
            i = slot_of.get(id(cur))
            if i is not None and tr.slots[i][0] == "op":
                prog.outputs.append(("data", t, i))
            _set_arr(t, _plain_view(cur, _ndarray))
    for st, k, orig, view in dict_swapped:
        cur = st.get(k)
        if cur is view:
            st[k] = orig
        elif isinstance(cur, _Traced):
            i = slot_of.get(id(cur))
            if i is not None and tr.slots[i][0] == "op":
                prog.outputs.append(("dict", st, k, i))
            st[k] = _plain_view(cur, _ndarray)
    for t, _, _ in swapped:  # gradients created by the step
        g = t.grad
        if g is not None and id(g) not in swapped_ids:
            i = slot_of.get(id(_arr(g)))  # (a plain array: a constant the step wrote into)
            if i is not None:
                prog.outputs.append(("grad", t, g, i))
    for st in dicts:  # entries the step added (a new scratch buffer, a new moment)
        for k, a in list(st.items()):
            if isinstance(a, _Traced):
                i = slot_of.get(id(a))
                if i is not None and not any(o[0] == "dict" and o[1] is st and o[2] == k
                                             for o in prog.outputs):
                    prog.outputs.append(("dict", st, k, i))
                st[k] = _plain_view(a, _ndarray)
    prog.outputs.sort(key=lambda o: (o[0], o[-1]))  # (gc's order is not stable)
    for o in _of_types(gc.get_objects(), Tensor):  # no traced array outlives the capture
        if isinstance(a := getattr(o, "_array", None), _Traced):
            _set_arr(o, _plain_view(a, _ndarray))


def _hoist_guards(tr: _Tracer) -> list[_Instr]:
    """Move the value guards that depend only on the arguments and constants (a loss checking
    its targets' range) to the front, with the pure calls they read, so that a replay checks
    them before it writes any state."""
    pure = {i for i, (k, _) in enumerate(tr.slots) if k in ("arg", "const")}
    deps: dict[int, set[int]] = {}  # pure slot -> indices of the instructions computing it
    hoist: set[int] = set()
    for n, ins in enumerate(tr.instrs):
        ins_slots = [s.i for s in _slots_in((ins.args, ins.kw))]
        if ins.writes:
            for w in ins.writes:
                pure.discard(w.i)
                pure.discard(tr.root.get(w.i, w.i))
            continue
        if ins.kind == "guard":
            if all(i in pure for i in ins_slots):
                hoist.add(n)
                for i in ins_slots:
                    hoist |= deps.get(i, set())
            continue
        if (isinstance(ins.fn, np.ufunc) or ins.kind in ("method", "getitem")) \
                and all(i in pure for i in ins_slots):
            need = {n}
            for i in ins_slots:
                need |= deps.get(i, set())
            for o in _slots_in(ins.outs):
                pure.add(o.i)
                deps[o.i] = need
    if not hoist:
        return tr.instrs
    return [tr.instrs[n] for n in sorted(hoist)] + [
        ins for n, ins in enumerate(tr.instrs) if n not in hoist]


def _result_template(obj: Any, tr: _Tracer) -> Any:
    """The return value with each Tensor of the program replaced by ``_Slot`` (copied out at
    every replay); other values are returned as they were at capture."""
    if isinstance(obj, Tensor):
        a = _arr(obj)
        i = tr.slot_of.get(id(a))
        if i is None and isinstance(a, _ndarray):
            i = tr._alias(a)
        if i is not None:
            return _Slot(i)
        if isinstance(a, _Traced):
            return _Slot(tr.slot(a))
        return obj
    if isinstance(obj, (tuple, list)):
        return type(obj)(_result_template(e, tr) for e in obj)
    if isinstance(obj, dict):
        return {k: _result_template(v, tr) for k, v in obj.items()}
    return obj


def _returns_graph(obj: Any) -> bool:
    """Whether the return value holds a Tensor whose autograd graph is still live (a
    non-leaf whose node a backward has not consumed: a training step's returned loss went
    through ``loss.backward()``, which freed its graph), searched through tuples, lists and
    dicts."""
    if isinstance(obj, Tensor):
        fn = obj.grad_fn
        return fn is not None and getattr(fn, "inputs", None) is not None
    if isinstance(obj, (tuple, list)):
        return any(_returns_graph(e) for e in obj)
    if isinstance(obj, dict):
        return any(_returns_graph(v) for v in obj.values())
    return False


def _finish(prog: _Program, result: Any, grads_before: list, modules: dict,
            optimizers: list) -> str | None:
    """Collect the guards and generate the program's code; a reason when it cannot be kept."""
    tr = prog.tracer
    if _returns_graph(result):
        # a replay returns copies of arrays, without the autograd graph the caller's
        # backward() needs (a compiled forward, torch.compile(model) in a training loop):
        # replaying would drop every gradient of the step's parameters
        return ("it returns a tensor that requires grad (a forward whose backward runs "
                "outside the compiled function): a replay would return it without its graph; "
                "compile the whole training step, or call it under no_grad() for inference")
    used = set()
    for ins in tr.instrs:
        for s in _slots_in((ins.args, ins.kw)):
            used.add(s.i)
    prog.ext_slots = [i for i, (k, _) in enumerate(tr.slots) if k == "ext"]
    prog.const_slots = [i for i, (k, _) in enumerate(tr.slots) if k in ("const", "scratch")]
    for i in prog.ext_slots:
        prog.ext_holders[i] = tr.pending_ext[id(tr.objs[i])][2]
    touched = {id(h[1]) for h in prog.ext_holders.values() if h[0] in "tg"}
    touched |= {id(o[1]) for o in prog.outputs}
    prog.grad_none = [(t, g is None) for t, g in grads_before if id(t) in touched]
    # only the tensors this step read or wrote: gc also lists every other tensor alive in
    # the process, whose hooks and graphs are none of this step's business
    for t, g in grads_before:
        if id(t) not in touched:
            continue
        if t._hooks:
            return "a tensor hook (Python side effects are not replayed)"
        if t.grad is not None and t.grad is not g and t.grad.grad_fn is not None:
            return "backward(create_graph=True): the gradient's graph cannot be replayed"
    prog.modules = [(m, m.training) for m in modules.values()]
    live = {id(ins.fn.obj) for ins in tr.instrs if isinstance(ins.fn, _Load)}
    prog.hypers = [(g, _hypers(g, id(g) in live)) for o in optimizers for g in o.param_groups
                   if any(id(p) in touched for p in g["params"])]
    tr.instrs = _hoist_guards(tr)
    # the calls whose results nothing reads (the loss of a step that returns nothing, its
    # sum and the elementwise calls that only fed it): eager computes them, a replay need not
    from chainrule._fuse import drop_dead

    tr.instrs = drop_dead(tr.instrs, {o[-1] for o in prog.outputs}
                          | {s.i for s in _slots_in(prog.result)})
    # a value guard after an in-place write of state (BatchNorm's running statistics before
    # the loss checks its logits): the replay saves what it writes before that guard, and the
    # generators' states, and puts them back if the guard fails
    guards = [n for n, ins in enumerate(tr.instrs) if ins.kind == "guard"]
    if guards:
        before = tr.instrs[:guards[-1]]
        pos = {i: k for k, i in enumerate(prog.ext_slots)}
        roots = {tr.root.get(w.i, w.i) for ins in before for w in ins.writes}
        if any(tr.slots[r][0] == "arg" for r in roots):
            return "a Python decision on array values follows an in-place write of an argument"
        prog.protect = sorted(pos[r] for r in roots if r in pos)
        prog.protect_rng = any(isinstance(ins.fn, _Draw) for ins in before)
    return None


# ---- code generation --------------------------------------------------------------------------
# names the generated ``program``/``replay`` define or bind themselves: a callable whose
# ``__name__`` is one of them (a user's ``def array(...)``) must not shadow them, or be
# shadowed, silently
_GENERATED_NAMES = frozenset({
    "program", "replay", "A", "E", "C", "B", "args", "kwargs", "g", "own", "spec", "tensors",
    "MISSED", "Tensor", "tensor_of", "modes", "spec_of", "hypers", "array", "consts", "alloc",
    "PROG",
    "GuardMiss", "acquire", "release", "BUFFERS", "SPECS", "build", "len", "iter", "range",
    "slice"})


def _taken(name: str, bound: dict[str, Any]) -> bool:
    """Whether ``name`` may not name a new global of a generated program: bound already, one
    of :data:`_GENERATED_NAMES` (with the builtins they call), a Python keyword, or shaped
    like a local (``v3``, ``a0``, ``t1``, ``b2``)."""
    return (name in bound or name in _GENERATED_NAMES or keyword.iskeyword(name)
            or name.startswith("v")
            or (name[:1] in "atb" and name[1:].isdigit()))


class _Codegen:
    """Writes a program as Python source: one NumPy call per line on named values ``v<i>``."""

    def __init__(self) -> None:
        self.globals: dict[str, Any] = {"GuardMiss": _GuardMiss}
        self.names: dict[int, str] = {}

    def bind(self, obj: Any, hint: str) -> str:
        name = self.names.get(id(obj))
        if name is None:
            base = "".join(c if c.isalnum() else "_" for c in hint) or "k"
            name = base if not _taken(base, self.globals) else None
            n = 0
            while name is None or _taken(name, self.globals):
                name = f"{base}_{n}"
                n += 1
            self.names[id(obj)] = name
            self.globals[name] = obj
        return name

    def expr(self, t: Any) -> str:
        if isinstance(t, _Slot):
            return f"v{t.i}"
        if isinstance(t, (_Buffer, _Named)):
            return f"b{t.k}" if isinstance(t, _Buffer) else t.name
        if t is None or t is Ellipsis or isinstance(t, (bool, str)):
            return "..." if t is Ellipsis else repr(t)
        if type(t) is int:
            return repr(t)
        if type(t) is float and np.isfinite(t):
            return repr(t)
        if isinstance(t, tuple):
            return "(" + "".join(self.expr(e) + ", " for e in t) + ")"
        if isinstance(t, list):
            return "[" + ", ".join(self.expr(e) for e in t) + "]"
        if isinstance(t, slice):
            return f"slice({self.expr(t.start)}, {self.expr(t.stop)}, {self.expr(t.step)})"
        if isinstance(t, dict) and all(isinstance(k, str) for k in t):
            return "{" + ", ".join(f"{k!r}: {self.expr(v)}" for k, v in t.items()) + "}"
        if isinstance(t, _ndarray) and t.ndim == 0:  # a scalar operand (``f4_2_0``: 2.0)
            return self.bind(t, f"{t.dtype.str[1:]}_{t.item()!r}".replace("-", "m"))
        return self.bind(t, getattr(t, "__name__", None) or type(t).__name__.lower())

    def call_args(self, args: Any, kw: Any) -> str:
        parts = [self.expr(a) for a in args]
        parts += [f"{k}={self.expr(v)}" for k, v in (kw or {}).items()]
        return ", ".join(parts)

    def line(self, ins: _Instr, args: Any = None) -> str:
        """The source line of ``ins`` (``args``: its arguments, when they were rewritten)."""
        if args is None:
            args = ins.args
        if ins.kind == "guard":
            return (f"if bool({self.expr(ins.args)}) is not {ins.expect!r}: "
                    f"raise GuardMiss('value guard')")
        if ins.kind == "getitem":
            rhs = f"{self.expr(ins.args[0])}[{self.expr(ins.args[1])}]"
        elif ins.kind == "setitem":
            return f"{self.expr(ins.args[0])}[{self.expr(ins.args[1])}] = {self.expr(ins.args[2])}"
        elif ins.kind == "method":
            rhs = f"{self.expr(ins.args[0])}.{ins.name}({self.call_args(ins.args[1:], ins.kw)})"
        else:
            fname = self.bind(ins.fn, ins.name.replace("np.", ""))
            rhs = f"{fname}({self.call_args(args, ins.kw)})"
        if ins.outs is None:
            return rhs
        if isinstance(ins.outs, _Slot):
            return f"v{ins.outs.i} = {rhs}"
        return ", ".join(f"v{s.i}" for s in ins.outs) + (", = " if len(ins.outs) == 1 else
                                                            " = ") + rhs


def _generate(prog: _Program) -> None:
    """Compile the instructions into ``prog.fn(A, E, C, B)`` (arguments, live state,
    constants, output buffers), returning the values of the written-back state and of the
    result, in that order."""
    tr = prog.tracer
    cg = _Codegen()
    lines = ["def program(A, E, C, B):"]
    if prog.arg_slots:
        lines.append("    " + "".join(f"v{i}, " for i in prog.arg_slots) + "= A")
    if prog.ext_slots:
        lines.append("    " + "".join(f"v{i}, " for i in prog.ext_slots) + "= E")
    if prog.const_slots:
        lines.append("    " + "".join(f"v{i}, " for i in prog.const_slots) + "= C")
    rets = [o[-1] for o in prog.outputs] + [s.i for s in _slots_in(prog.result)]
    # each value is released after its last use (eager frees the graph as backward runs;
    # holding every intermediate to the end costs memory and page faults)
    last: dict[int, int] = {}
    for n, ins in enumerate(tr.instrs):
        for s in _slots_in((ins.args, ins.kw, ins.outs)):
            last[s.i] = n
    keep = set(rets)
    dead: dict[int, list[int]] = {}
    for i, n in last.items():
        if i not in keep:
            dead.setdefault(n, []).append(i)
    elide = _elidable_copies(tr, last, keep)
    plan, prog.buffer_specs = _plan_buffers(tr, last, keep, elide)
    if prog.buffer_specs:
        lines.append("    " + "".join(f"b{k}, " for k in range(len(prog.buffer_specs))) + "= B")
    body = len(lines)
    line_ins: list[int | None] = []  # per body line: the instruction it runs (None: a del)
    prog.blocked = _block_runs(prog, plan, elide) if prog.block else []
    runs = {r.start: r for r in prog.blocked}
    ends: dict[int, int] = {}  # instruction in a blocked run -> the run's last instruction
    for r in prog.blocked:
        ends.update((n, r.end) for n in range(r.start, r.end + 1))
    for n in list(dead):  # (a value whose last use is in a blocked run lives to its end)
        if n in ends and ends[n] != n:
            dead.setdefault(ends[n], []).extend(dead.pop(n))
    for n, ins in enumerate(tr.instrs):
        line_ins += [None] * (len(lines) - body - len(line_ins))
        if n in ends:  # the run's loop is written at its first call
            if n in runs:
                lines += _block.emit(runs[n], tr, plan, cg)
            if n in dead:
                lines.append("    del " + ", ".join(f"v{i}" for i in sorted(dead[n])))
            continue
        line_ins.append(n)
        blas = _direct_axpy(ins, tr)
        if blas is not None:  # BLAS axpy called directly (its checks hold for every replay)
            lines.append("    " + blas.replace("SAXPY", cg.bind(_blas_axpy(ins, tr), "blas_axpy")))
        elif n in elide:  # a copy of a fresh result nobody reads again: the result itself
            lines.append(f"    v{ins.outs.i} = v{ins.args[0].i}")
        elif (shape := _as_reshape(ins, tr)) is not None:
            lines.append(f"    v{ins.outs.i} = v{ins.args[0].i}.reshape({shape!r})")
        elif n in plan and ins.kind == "alloc":  # a fused kernel's output: the buffer itself
            lines.append(f"    v{ins.outs.i} = b{plan[n]}")
        elif n in plan:  # the result written into its preallocated buffer
            fname = cg.bind(ins.fn, ins.name)
            args = cg.call_args(_strong_scalars(ins, tr), {**ins.kw, "out": _Buffer(plan[n])})
            lines.append(f"    v{ins.outs.i} = {fname}({args})")
        elif ins.kind == "call" and isinstance(ins.fn, np.ufunc):
            lines.append("    " + cg.line(ins, _strong_scalars(ins, tr)))
        else:
            lines.append("    " + cg.line(ins))
        if n in dead:
            lines.append("    del " + ", ".join(f"v{i}" for i in sorted(dead[n])))
    prog.body = lines[body:]
    prog.line_ins = line_ins + [None] * (len(prog.body) - len(line_ins))
    prog.rets = rets
    lines.append("    return (" + "".join(f"v{i}, " for i in rets) + ")")
    prog.code = "\n".join(lines) + "\n"
    prog.namespace = dict(cg.globals)
    ns = dict(cg.globals)
    exec(builtins_compile(prog.code, "<chainrule.compile program>", "exec"), ns)  # noqa: S102
    prog.fn = ns["program"]
    prog.replay = None  # (made for the final program, by _generate_replay)


builtins_compile = compile  # (the module defines its own ``compile`` below)


def _block_runs(prog: _Program, plan: dict[int, int], elide: set[int]) -> list[Any]:
    """The runs of ``prog`` that its replay runs block by block (:mod:`chainrule._block`)."""
    tr = prog.tracer
    unknown = {i for i, (k, _) in enumerate(tr.slots) if k == "arg"}
    unknown |= {i for i, h in prog.ext_holders.items() if h[0] == "g"}
    return _block.find_runs(tr.instrs, tr, plan, backend.axpy, elide, unknown)


def _blas_axpy(ins: _Instr, tr: _Tracer) -> Any:
    """The BLAS routine that :func:`chainrule.backend.axpy` runs for call ``ins``."""
    if backend._AXPY is None:
        backend._AXPY = backend._load_axpy()
    return backend._AXPY.get(tr.objs[ins.args[2].i].dtype)


def _as_reshape(ins: _Instr, tr: _Tracer) -> tuple | None:
    """The shape for which ``x.reshape(shape)`` is the view that call ``ins`` (``np.expand_dims``,
    ``np.squeeze``, ``np.reshape`` of ``x``) made at capture, with the same strides; else None.

    # NOTE (speed): NumPy's ``expand_dims`` normalizes its axes in Python (~2-3 µs a call, a
    # cross-entropy backward makes one per step); the array method is ~0.3 µs. The shapes are
    # fixed by the guards, so the view is the same at every replay.
    """
    if ins.kind != "call" or ins.name.replace("np.", "") not in ("expand_dims", "squeeze",
                                                                 "reshape") \
            or not ins.args or not isinstance(ins.args[0], _Slot) \
            or not isinstance(ins.outs, _Slot):
        return None
    x, r = tr.objs[ins.args[0].i], tr.objs[ins.outs.i]
    if not (isinstance(x, _ndarray) and isinstance(r, _ndarray)):
        return None
    x, r = _plain_view(x, _ndarray), _plain_view(r, _ndarray)
    try:
        alt = x.reshape(r.shape)
    except ValueError:
        return None
    if _ptr(alt) != _ptr(r) or alt.strides != r.strides or not np.may_share_memory(alt, x):
        return None
    return tuple(int(d) for d in r.shape)


def _direct_axpy(ins: _Instr, tr: _Tracer) -> str | None:
    """``SAXPY(x, y, a=a)`` for a recorded :func:`chainrule.backend.axpy` call that took the
    BLAS path at capture, else None.

    # NOTE (speed): ``backend.axpy`` checks class, dtype, shape, contiguity and reshapes at
    # every call (~0.8 µs of a 1-2 µs call; Adam's chunked update makes ~40 per MLP step).
    # Those facts are fixed for a program: its live state is the same arrays (guarded by
    # identity), gradients and arguments keep the layout the guards check, and every other
    # value is a result whose layout follows from those. So the replay calls the BLAS
    # routine itself, on the same flat arrays with the same ``a``: the same bits.
    """
    if ins.kind != "call" or ins.fn is not backend.axpy or ins.kw or len(ins.args) != 3 \
            or not all(isinstance(a, _Slot) for a in ins.args[1:]):
        return None
    x, y = tr.objs[ins.args[1].i], tr.objs[ins.args[2].i]
    if not (isinstance(x, _ndarray) and isinstance(y, _ndarray)) or not y.size \
            or x.dtype != y.dtype or x.shape != y.shape or y.dtype.str not in ("<f4", "<f8") \
            or not (x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable) \
            or _blas_axpy(ins, tr) is None:
        return None
    a = ins.args[0]
    if not (isinstance(a, _Slot) or type(a) is float):
        return None
    flat = "" if y.ndim == 1 else ".reshape(-1)"
    xs, ys = f"v{ins.args[1].i}{flat}", f"v{ins.args[2].i}{flat}"
    return f"SAXPY({xs}, {ys}, a={f'v{a.i}' if isinstance(a, _Slot) else repr(a)})"


def _generate_replay(prog: _Program, spec: tuple) -> None:
    """Generate ``prog.replay(args, kwargs)``: one Python function that checks every guard of
    the program (``spec`` and :meth:`_Program.guards_hold`, each as one comparison on
    values bound at capture), runs the program's body, writes the state back and builds the
    result; it returns ``_MISSED`` when a guard fails, before anything was written.

    This is the steady-state path of a replay: a tiny step's NumPy calls take ~10 µs, and
    the generic path (walking the argument structure, the holders of the live state, lists
    of arguments and buffers handed to the program, the write-back loop) cost as much again.
    Programs that must undo writes when a value guard fails (``protect``) keep the generic
    path."""
    if prog.protect or prog.protect_rng:
        return
    tr = prog.tracer
    ns: dict[str, Any] = dict(prog.namespace)
    names: dict[int, str] = {}

    def bind(obj: Any, hint: str) -> str:
        name = names.get(id(obj))
        if name is None:
            name = names[id(obj)] = f"{hint}{len(names)}_"
            ns[name] = obj
        return name

    ns.update(MISSED=_MISSED, Tensor=Tensor, tensor_of=tensor_of, modes=_modes, spec_of=_spec,
              hypers=_hypers,
              array=np.array, consts=_consts, alloc=_alloc_buffers, PROG=prog)
    lines = ["def replay(args, kwargs):"]
    add = lines.append
    structure, per, modes = spec
    if type(structure) is int:  # ``step(x, y)``: the tensors themselves
        add(f"    if kwargs or len(args) != {structure}: return MISSED")
        if structure:
            ts = [f"t{k}" for k in range(structure)]
            add("    " + "".join(f"{t}, " for t in ts) + "= args")
            add("    if " + " or ".join(f"{t}.__class__ is not Tensor" for t in ts)
                + ": return MISSED")
            add("    " + "".join(f"a{k}, " for k in range(structure)) + "= "
                + "".join(f"{t}._array, " for t in ts))
            now = "".join(f"(a{k}.shape, a{k}.dtype, a{k}.strides, t{k}.requires_grad, "
                          f"t{k}.grad is None), " for k in range(structure))
            add(f"    if ({now}) != {bind(per, 'PER')}: return MISSED")
        add(f"    if modes() != {bind(modes, 'MODES')}: return MISSED")
    else:
        add("    spec, tensors = spec_of(args, kwargs)")
        add(f"    if spec != {bind(spec, 'SPEC')}: return MISSED")
        positions = {tr.slots[i][1] for i in prog.arg_slots}
        for k in sorted(positions):
            add(f"    a{k} = tensors[{k}]._array")
    for i in prog.arg_slots:
        add(f"    v{i} = a{tr.slots[i][1]}")
    # the live state: still the arrays the program was captured with (a gradient: its layout)
    for i in prog.ext_slots:
        h, orig = prog.ext_holders[i], tr.slots[i][1]
        if h[0] == "g":
            add(f"    g = {bind(h[1], 'P')}.grad")
            add("    if g is None: return MISSED")
            add(f"    v{i} = g._array")
            add(f"    if (v{i}.shape, v{i}.dtype, v{i}.strides) != "
                f"{bind((orig.shape, orig.dtype, orig.strides), 'L')}: return MISSED")
        else:
            src = (f"{bind(h[1], 'T')}._array" if h[0] == "t"
                   else f"{bind(h[1], 'D')}.get({bind(h[2], 'K')})")
            add(f"    v{i} = {src}")
            add(f"    if v{i} is not {bind(orig, 'O')}: return MISSED")
    for t, none in prog.grad_none:
        add(f"    if {bind(t, 'P')}.grad is {'not ' if none else ''}None: return MISSED")
    for m, training in prog.modules:
        add(f"    if {bind(m, 'M')}.training != {training!r}: return MISSED")
    for group, snap in prog.hypers:
        add(f"    if hypers({bind(group, 'G')}, {'lr' not in snap!r}) != {bind(snap, 'S')}: "
            "return MISSED")
    if prog.const_slots and _consts(prog) is prog.static_consts:  # read-only: bound once
        for i, c in zip(prog.const_slots, prog.static_consts):
            add(f"    v{i} = {bind(c, 'C')}")
    elif prog.const_slots:  # (copies of the constants the program writes, fresh scratch)
        add("    " + "".join(f"v{i}, " for i in prog.const_slots) + "= consts(PROG)")
    # the buffers: the program's own unless another run (a thread, a re-entrant call) holds
    # them, as :meth:`_Program.take_buffers`
    ind = "    "
    if prog.buffer_specs:
        if prog.buffers is None:
            prog.buffers = _alloc_buffers(prog.buffer_specs)
        ns.update(acquire=prog.busy.acquire, release=prog.busy.release, BUFFERS=prog.buffers,
                  SPECS=prog.buffer_specs)
        add("    own = acquire(False)")
        add("    B = BUFFERS if own else alloc(SPECS)")
        add("    " + "".join(f"b{k}, " for k in range(len(prog.buffer_specs))) + "= B")
        add("    try:")
        ind = "        "
    guards = any(ins.kind == "guard" for ins in tr.instrs)
    hoisted = _hoisted_views(prog)
    body = [f"    v{tr.instrs[n].outs.i} = {bind(hoisted[n], 'H')}" if n in hoisted else ln
            for ln, n in zip(prog.body, prog.line_ins)]
    if guards:  # a value guard failed: nothing was written (no ``protect``)
        add(ind + "try:")
        lines.extend(ind + "    " + ln[4:] for ln in body)
        add(ind + "except GuardMiss:")
        add(ind + "    return MISSED")
    else:
        lines.extend(ind + ln[4:] for ln in body)
    for o in prog.outputs:
        v = f"v{o[-1]}"
        if o[0] == "grad":
            t, g = bind(o[1], "P"), bind(o[2], "GR")
            add(f"{ind}if {t}.grad is not {g}: {t}.grad = {g}")
            add(f"{ind}{g}._array = {v}")
        elif o[0] == "data":
            add(f"{ind}{bind(o[1], 'T')}._array = {v}")
        else:
            add(f"{ind}{bind(o[1], 'D')}[{bind(o[2], 'K')}] = {v}")
    if _plain_template(prog.result):
        add(f"{ind}return {_result_expr(prog.result, bind)}")
    else:  # (a tuple subclass, a custom container: as the generic path builds it)
        vals = "".join(f"v{s.i}, " for s in _slots_in(prog.result))
        ns["build"] = _build
        add(f"{ind}return build({bind(prog.result, 'RES')}, iter(({vals})))")
    if prog.buffer_specs:
        add("    finally:")
        add("        if own: release()")
    source = "\n".join(lines) + "\n"
    exec(builtins_compile(source, "<chainrule.compile replay>", "exec"), ns)  # noqa: S102
    prog.replay = ns["replay"]
    prog.replay_code = source


def _hoisted_views(prog: _Program) -> dict[int, np.ndarray]:
    """``{instruction: array}`` for the views (reshape, basic slicing, transpose ...) of live
    state, and the arrays made from constants alone, that the generated replay binds once
    instead of making at every replay.

    # NOTE (speed): Adam's chunked update slices each parameter, gradient and moment into
    # 256 kB chunks, and every layer transposes its weight: ~80 views per MLP step at ~0.6 µs
    # each. The live state a replay reads is guarded by identity (the same array objects as
    # at capture, or the replay misses before running), so a view of it is the same view at
    # every replay. Only state held by identity counts: a gradient (guarded by layout only),
    # an argument or a buffer is not the same array from call to call.
    """
    tr = prog.tracer
    fixed: dict[int, np.ndarray] = {}  # slot -> the array it is at every replay
    for i in prog.ext_slots:
        if prog.ext_holders[i][0] in "td":
            fixed[i] = tr.slots[i][1]
    out: dict[int, np.ndarray] = {}
    written = {tr.root.get(w.i, w.i) for ins in tr.instrs for w in ins.writes}
    handed = {tr.root.get(i, i) for i in prog.rets}
    for n, ins in enumerate(tr.instrs):
        if _constant_array(ins) and tr.root.get(ins.outs.i, ins.outs.i) not in written | handed:
            # ``np.full((256,), -1/256)`` of a loss: the same values at every replay, and
            # nothing writes or returns them (read-only, so a write would raise, not leak)
            val = ins.fn(*ins.args, **ins.kw)
            val.flags.writeable = False
            out[n] = val
            continue
        if not _is_view(ins):
            continue
        ins_slots = _slots_in((ins.args, ins.kw))
        if not ins_slots or any(s.i not in fixed for s in ins_slots):
            continue
        args, kw = _bind_slots(ins.args, fixed), _bind_slots(ins.kw, fixed)
        try:
            if ins.kind == "getitem":
                val = args[0][args[1]]
            else:
                val = ins.fn(*args, **kw)
        except Exception:  # noqa: BLE001 - not hoisted: the replay makes it as before
            continue
        cap = _plain_view(tr.objs[ins.outs.i], _ndarray)
        # the very view the capture made: same memory (still alive, so a copy cannot sit at
        # the same address), shape, strides and dtype
        if isinstance(val, _ndarray) and _ptr(val) == _ptr(cap) and val.shape == cap.shape \
                and val.strides == cap.strides and val.dtype == cap.dtype:
            out[n] = fixed[ins.outs.i] = val
    return out


def _constant_array(ins: _Instr) -> bool:
    """Whether ``ins`` makes an array from constants alone (``np.zeros/ones/full``)."""
    return ins.kind == "call" and ins.name in ("zeros", "ones", "full") \
        and isinstance(ins.outs, _Slot) and not _slots_in((ins.args, ins.kw))


def _is_view(ins: _Instr) -> bool:
    """Whether ``ins`` makes a view of its operand (no data read, nothing written)."""
    if not isinstance(ins.outs, _Slot) or ins.writes:
        return False
    if ins.kind == "method":
        return ins.name in _VIEW_METHODS
    if ins.kind == "getitem":
        return _basic_index(ins.args[1])
    return ins.kind == "call" and (ins.fn is _restride
                                   or ins.name.replace("np.", "") in _VIEW_FUNCS)


def _basic_index(idx: Any) -> bool:
    """Whether ``idx`` is a basic index (ints, slices, None, ...): its result is a view."""
    if isinstance(idx, tuple):
        return all(_basic_index(e) for e in idx)
    if isinstance(idx, slice):
        return all(e is None or type(e) is int for e in (idx.start, idx.stop, idx.step))
    return idx is None or idx is Ellipsis or type(idx) is int


def _bind_slots(t: Any, vals: dict[int, Any]) -> Any:
    """Template ``t`` with each slot replaced by its value in ``vals``."""
    if isinstance(t, _Slot):
        return vals[t.i]
    if isinstance(t, (tuple, list)):
        return type(t)(_bind_slots(e, vals) for e in t)
    if isinstance(t, dict):
        return {k: _bind_slots(v, vals) for k, v in t.items()}
    return t


def _plain_template(t: Any) -> bool:
    """Whether a result template holds only slots, values and plain tuples, lists, dicts."""
    if type(t) in (tuple, list):
        return all(_plain_template(e) for e in t)
    if type(t) is dict:
        return all(_plain_template(e) for e in t.values())
    return not isinstance(t, (tuple, list, dict))


def _result_expr(t: Any, bind: Callable[[Any, str], str]) -> str:
    """The expression building a replay's return value from template ``t`` (as ``_build``:
    a fresh copy per tensor, every other value as it was at capture)."""
    if isinstance(t, _Slot):
        return f"tensor_of(array(v{t.i}, copy=True))"
    if isinstance(t, tuple):
        return "(" + "".join(_result_expr(e, bind) + ", " for e in t) + ")"
    if isinstance(t, list):
        return "[" + ", ".join(_result_expr(e, bind) for e in t) + "]"
    if isinstance(t, dict):
        return "{" + ", ".join(f"{bind(k, 'K')}: {_result_expr(v, bind)}"
                               for k, v in t.items()) + "}"
    if t is None:
        return "None"
    return bind(t, "R")


class _Buffer:
    """Buffer ``k`` of a program in a call template (printed as ``b<k>``)."""

    __slots__ = ("k",)

    def __init__(self, k: int) -> None:
        self.k = k


class _Named:
    """A local of the generated code in a call template (a blocked run's block view)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


# a Python int converts to a float loop exactly below 2**24 (the integers float32 holds)
_EXACT_INT = 1 << 24
_SCALAR_CONSTS: dict[tuple, np.ndarray] = {}  # (dtype, type, value) -> its 0-d array


def _strong_scalars(ins: _Instr, tr: _Tracer) -> tuple:
    """The arguments of ufunc call ``ins`` with each Python or NumPy scalar operand replaced
    by a 0-d array of the dtype the ufunc's loop casts it to.

    A ufunc converts a Python scalar operand at every call, ~0.5-0.8 µs of a 10-element
    ``multiply(x, 2.0, out=b)`` whose loop costs less. A 0-d array holding the value cast to
    the loop's dtype (what the ufunc computes with: NEP 50's weak scalars take the dtype of
    the array operand) selects the same loop, checked with ``ufunc.resolve_dtypes`` on both
    sets of operands, and gives it the same value at stride 0: the same bits."""
    fn, args = ins.fn, ins.args
    if "." in ins.name or fn.nin < 2 or len(args) != fn.nin or set(ins.kw) - {"out"}:
        return args
    types: list[Any] = []
    scalars = []
    for k, a in enumerate(args):
        if isinstance(a, _Slot):
            obj = tr.objs[a.i]
            if not isinstance(obj, _ndarray):
                return args
            types.append(obj.dtype)
        elif type(a) in (bool, float) or type(a) is int and -_EXACT_INT < a < _EXACT_INT:
            types.append(type(a))
            scalars.append(k)
        elif isinstance(a, (np.number, np.bool_)):
            types.append(a.dtype)
            scalars.append(k)
        else:
            return args
    if not scalars or len(scalars) == len(args):
        return args
    try:
        loop = fn.resolve_dtypes((*types, *(None,) * fn.nout))
        strong = [loop[k] if k in scalars else t for k, t in enumerate(types)]
        if fn.resolve_dtypes((*strong, *(None,) * fn.nout)) != loop:
            return args
    except (TypeError, ValueError, np.exceptions.DTypePromotionError):
        return args
    out = list(args)
    for k in scalars:
        key = (loop[k].str, type(args[k]), repr(args[k]))  # (repr: -0.0 is not 0.0)
        z = _SCALAR_CONSTS.get(key)
        if z is None:
            with np.errstate(all="ignore"):
                z = np.asarray(args[k], dtype=loop[k])
            if np.isfinite(args[k]) and not np.isfinite(z):
                return args  # (an overflowing cast: left to NumPy's own rules)
            z.flags.writeable = False
            if len(_SCALAR_CONSTS) < 4096:
                _SCALAR_CONSTS[key] = z
        out[k] = z
    return tuple(out)


def _bufferable(ins: _Instr, obj: Any) -> bool:
    """Whether instruction ``ins`` (result ``obj`` at capture) may write into a preallocated
    buffer: a one-output ufunc call (``np.matmul`` included) without ``out=``/``where=``,
    whose result is an array of at least one dimension and dense (``np.empty_like`` gives
    the same strides, so the consumers see the layout they saw at capture and take the same
    code paths: the same bits)."""
    if ins.kind == "alloc":  # the C-contiguous output of a fused kernel (chainrule._fuse)
        return True
    if ins.kind != "call" or not isinstance(ins.fn, np.ufunc) or ins.fn.nout != 1 \
            or not isinstance(ins.outs, _Slot) or "out" in ins.kw or "where" in ins.kw \
            or len(ins.args) != ins.fn.nin:
        return False
    a = _plain_view(obj, _ndarray)
    return a.ndim > 0 and a.size > 0 and np.empty_like(a).strides == a.strides


def _plan_buffers(tr: _Tracer, last: dict[int, int], keep: set[int],
                  elide: set[int]) -> tuple[dict[int, int], list[tuple]]:
    """Which instructions write into which preallocated buffer: ``{instruction: buffer}`` and
    per buffer ``((shape, dtype, strides), captured result)``.

    A buffer is written once per replay, by its instruction, and overwritten by the next
    replay, so a result may use one only while no value outside the program can hold it:
    results that the program returns (gradients, reassigned state, the return value: eager
    hands out fresh arrays there) and everything that shares their memory keep allocating.
    Inside a replay, two results share a buffer when the first one's lifetime (up to the last
    use of any array that views its memory, found from the captured arrays' addresses) ends
    before the second is computed."""
    byte_bounds = np.lib.array_utils.byte_bounds
    cands = {n: ins.outs.i for n, ins in enumerate(tr.instrs)
             if n not in elide and isinstance(ins.outs, _Slot)
             and _bufferable(ins, tr.objs[ins.outs.i])}
    if not cands:
        return {}, []
    # the memory of each candidate's result, and which values view it
    regions = sorted((byte_bounds(_plain_view(tr.objs[i], _ndarray)), i) for i in cands.values())
    starts = [r[0][0] for r in regions]
    owner: dict[int, int] = {}  # slot -> the candidate whose memory it views
    for j, obj in enumerate(tr.objs):
        if not isinstance(obj, _ndarray) or obj.size == 0:
            continue
        lo, hi = byte_bounds(_plain_view(obj, _ndarray))
        k = bisect.bisect_right(starts, lo) - 1
        if k >= 0 and lo < regions[k][0][1]:
            owner[j] = regions[k][1]
    for n in elide:  # ``v_out = v_src``: the same array under a second name
        ins = tr.instrs[n]
        if ins.args[0].i in owner:
            owner[ins.outs.i] = owner[ins.args[0].i]
    end: dict[int, int] = {}  # candidate -> last instruction reading its memory
    escaped: set[int] = set()
    for j, c in owner.items():
        end[c] = max(end.get(c, -1), last.get(j, -1))
        if j in keep:
            escaped.add(c)
    plan: dict[int, int] = {}
    specs: list[tuple] = []
    free: dict[tuple, list[int]] = {}  # layout -> buffers free for the next instruction
    release: dict[int, list[tuple]] = {}  # instruction -> buffers free after it
    buffer_of: dict[int, int] = {}  # planned result slot -> its buffer
    for n in range(len(tr.instrs)):
        i = cands.get(n)
        if i is not None and i not in escaped:
            a = _plain_view(tr.objs[i], _ndarray)
            key = (a.shape, a.dtype.str, a.strides)
            pool = free.get(key)
            k = _in_place_buffer(tr.instrs[n], key, n, buffer_of, end, owner, release)
            if k is None and pool:
                k = pool.pop()
            elif k is None:
                k = len(specs)
                specs.append((key, a))
            plan[n] = buffer_of[i] = k
            release.setdefault(max(end.get(i, n), n), []).append((key, k))
        for key, k in release.pop(n, ()):
            free.setdefault(key, []).append(k)
    return plan, specs


# elementwise ufuncs whose every output element is the correctly rounded function of its input
# elements: written over an input, the result has the same bits (a SIMD exp or log might
# take another loop when its output is its input, so they are left out)
_IN_PLACE_UFUNCS = frozenset(getattr(np, n) for n in (
    "add", "subtract", "multiply", "divide", "maximum", "minimum", "fmax", "fmin",
    "negative", "positive", "absolute", "sqrt", "square", "copysign"))


def _in_place_buffer(ins: _Instr, key: tuple, n: int, buffer_of: dict[int, int],
                     end: dict[int, int], owner: dict[int, int],
                     release: dict[int, list[tuple]]) -> int | None:
    """The buffer of an input of elementwise call ``ins`` (instruction ``n``) that ``ins``
    may write its result over, taking it from the buffers freed after ``n``; else None.

    # NOTE (speed): the input must be a buffered result whose memory nothing reads after this
    # call, with the result's layout, and no other operand may view it. Then ``maximum(x, 0)``
    # of a ReLU, or the ReLU backward's ``g * mask``, runs in place: one 512 kB buffer
    # touched instead of two, which the next GEMM finds still in cache.
    """
    if ins.fn not in _IN_PLACE_UFUNCS:
        return None
    ops = [a for a in ins.args if isinstance(a, _Slot)]
    for a in ops:
        k = buffer_of.get(a.i)
        if k is None or end.get(a.i) != n:
            continue
        if any(owner.get(b.i) == a.i for b in ops if b.i != a.i):
            continue
        freed = release.get(n, [])
        if (key, k) in freed:
            freed.remove((key, k))
            return k
    return None


def _alloc_buffers(specs: list[tuple]) -> list[np.ndarray]:
    """Fresh buffers with the layouts of ``specs`` (``np.empty_like`` of the captured result:
    the same strides, checked by :func:`_bufferable`)."""
    return [np.empty_like(template) for _, template in specs]


def _elidable_copies(tr: _Tracer, last: dict[int, int], keep: set[int]) -> set[int]:
    """Indices of ``x.copy()`` calls whose ``x`` is a fresh ufunc result (its own memory)
    that no later call reads, writes or views, and that the program does not return: the
    copy can hand over ``x`` itself (the engine copies gradients it cannot prove unshared)."""
    fresh: dict[int, int] = {}
    for n, ins in enumerate(tr.instrs):
        if (ins.kind == "call" and isinstance(ins.fn, np.ufunc) or ins.kind == "alloc"
                or _fresh_reduction(ins, tr)) and isinstance(ins.outs, _Slot):
            fresh[ins.outs.i] = n
    viewed: dict[int, int] = {}  # slot -> last use of any view of it
    for j, r in tr.root.items():
        if r != j and j in last:
            viewed[r] = max(viewed.get(r, -1), last[j])
    out = set()
    for n, ins in enumerate(tr.instrs):
        if ins.kind == "method" and ins.name == "copy" and not ins.kw and len(ins.args) == 1 \
                and isinstance(ins.args[0], _Slot) and isinstance(ins.outs, _Slot):
            src = ins.args[0].i
            if src in fresh and last.get(src) == n and src not in keep \
                    and viewed.get(src, -1) <= n:
                out.add(n)
    return out


_REDUCTIONS = ("sum", "mean", "prod", "max", "min")


def _fresh_reduction(ins: _Instr, tr: _Tracer) -> bool:
    """Whether ``ins`` is an array method reduction without ``out=`` (a bias gradient's
    ``g.sum(0)``): NumPy returns a new array of its own at every call, never a view."""
    if ins.kind != "method" or ins.name not in _REDUCTIONS or "out" in ins.kw \
            or not isinstance(ins.outs, _Slot):
        return False
    r = _plain_view(tr.objs[ins.outs.i], _ndarray).base  # (the array NumPy returned)
    return isinstance(r, _ndarray) and r.ndim > 0 and r.flags.owndata


def _same(a: Any, b: Any) -> bool:
    """Equality of two capture templates / constants (arrays: same dtype, shape and bits)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if type(a) is not type(b):
        return False
    if isinstance(a, Tensor):
        return a is b
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return b != b
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - objects without a usable ==
        return a is b


def _compare(p: _Program, q: _Program) -> str | None:
    """None when two captures are the same program; else the name of the first op that
    differs (its data came from outside the tracer)."""
    a, b = p.tracer, q.tracer
    for n, (x, y) in enumerate(zip(a.instrs, b.instrs)):
        if x.kind != y.kind or x.name != y.name or not _same(x.fn, y.fn) \
                or not _same(x.args, y.args) or not _same(x.kw, y.kw) or x.expect != y.expect \
                or not _same(x.outs, y.outs):
            return f"{x.name} (call {n})"
        for s in _slots_in((x.args, x.kw)):
            if not _same_slot(a.slots[s.i], b.slots[s.i]):
                return f"{x.name} (call {n}, an input that changed between captures)"
    if len(a.instrs) != len(b.instrs):
        n = min(len(a.instrs), len(b.instrs))
        longer = a.instrs if len(a.instrs) > n else b.instrs
        return f"{longer[n].name} (call {n}: the captures have different lengths)"
    if [_ident(o) for o in p.outputs] != [_ident(o) for o in q.outputs]:
        return "the state written back (gradients, reassigned arrays)"
    if not _same(p.result, q.result):
        return "the return value"
    return None


def _ident(o: tuple) -> tuple:
    """A written-back output without the gradient tensor (new in every eager step)."""
    o = (o[0], o[1], o[3]) if o[0] == "grad" else o
    return tuple(e if isinstance(e, (str, int)) else id(e) for e in o)


def _same_slot(x: tuple, y: tuple) -> bool:
    if x[0] != y[0]:
        return False
    if x[0] == "ext":
        return x[1] is y[1]
    if x[0] == "const":
        return _same(x[1], y[1])
    return x[1] == y[1]


# ---- the compiled function -----------------------------------------------------------------------
_MISSED = object()  # what ``_replay`` returns when a value guard failed


class _Entry:
    """One guarded program of a compiled function: 'pending' (captured once), 'ready' or
    'eager' (with the reason)."""

    def __init__(self, spec: tuple, prog: _Program | None, reason: str | None) -> None:
        self.spec = spec
        self.prog = prog
        self.reason = reason
        self.state = "eager" if reason else "pending"
        self.retried = False


def _no_compile() -> bool:
    return bool(os.environ.get("CHAINRULE_NO_COMPILE"))


class CompiledFunction:
    """A step function captured once and replayed (see the module docstring).

    Example::

        @chainrule.compile
        def train_step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        print(train_step.code)   # after the third call: the generated program
    """

    def __init__(self, fn: Callable, check: bool = False, fuse: bool = False,
                 quiet: bool = False, block: bool = True) -> None:
        self.fn = fn
        self.check = check
        self.fuse = _fuse_available() if fuse else False
        # cache-blocked runs (chainrule._block): not with fusion, whose kernels keep a run's
        # values in registers; CHAINRULE_NO_BLOCK=1 switches them off process-wide
        self.block = bool(block) and not os.environ.get("CHAINRULE_NO_BLOCK")
        self.quiet = quiet  # no warning when the step stays eager (the reasons are kept)
        self.entries: list[_Entry] = []
        self.calls = 0
        self.replays = 0
        self._off = _no_compile()  # CHAINRULE_NO_COMPILE=1, read when the step is compiled
        self.reasons: list[str] = []
        self._exhausted = False  # every program's guards missed: the step runs eagerly
        self._warned: set[str] = set()
        # the generated replay of the first entry when it is ready (see ``__call__``)
        self._fast: Callable[[tuple, dict], Any] | None = None
        self.__wrapped__ = fn
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)  # (a Module: its class)
        self.__doc__ = getattr(fn, "__doc__", None)

    @property
    def code(self) -> str:
        """The generated source of the programs captured so far."""
        return "\n".join(e.prog.code for e in self.entries if e.state == "ready" and e.prog)

    def _warn(self, reason: str, what: str = "stays eager") -> None:
        self.reasons.append(reason)
        if reason not in self._warned and not self.quiet:
            self._warned.add(reason)
            warnings.warn(f"chainrule.compile: {self.__name__} {what}: {reason}",
                          RuntimeWarning, stacklevel=3)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fast = self._fast
        if fast is not None:  # the steady state: the program replayed last, guards and all
            out = fast(args, kwargs)
            if out is not _MISSED:
                self.calls += 1
                self.replays += 1
                return out
        out = self._call(args, kwargs)
        self._refresh_fast()
        return out

    def _refresh_fast(self) -> None:
        """Point the fast path at the first entry's generated replay, when it has one: the
        generic path also tries that entry first, so both pick the same program."""
        e = self.entries[0] if self.entries else None
        self._fast = (e.prog.replay if e is not None and e.state == "ready"
                      and e.prog is not None and not self.check else None)

    def _call(self, args: tuple, kwargs: dict) -> Any:
        """A call through the generic path: warm-up, captures, guards tried entry by entry,
        replays of programs without a generated replay."""
        if self._off:
            return self.fn(*args, **kwargs)
        self.calls += 1
        if self.calls == 1:  # warm-up: optimizer state, caches
            return self.fn(*args, **kwargs)
        spec, tensors = _spec(args, kwargs)
        for e in self.entries:
            if e.spec != spec or (e.prog is not None and not e.prog.guards_hold()):
                continue
            if e.state == "ready":
                out = self._replay(e, args, kwargs, tensors)
                if out is _MISSED:  # a value guard failed (nothing changed): another program
                    continue  # of this spec may hold, else one is captured below
                if e is not self.entries[0]:  # most recently replayed first: a flipped value
                    self.entries.remove(e)  # guard (RAdam's ρ_t > 5) is not retried each call
                    self.entries.insert(0, e)
                return out
            if e.state == "eager":
                return self.fn(*args, **kwargs)
            result, got = _capture(self.fn, args, kwargs, tensors)
            if isinstance(got, str):
                e.state, e.reason = "eager", got
                self._warn(got)
                return result
            diff = _compare(e.prog, got)
            if diff is not None and not e.retried:  # (state made lazily by the first
                e.prog, e.retried = got, True  # capture: compare the next two)
                return result
            if diff is not None:
                e.state, e.reason = "eager", f"the two captures differ at {diff}: data flows " \
                    "outside chainrule (NumPy's global RNG, a C extension, a Python number " \
                    "that changes every step)"
                self._warn(e.reason)
                return result
            got.block = self.block and not self.fuse
            _generate(got)
            bad = _validate(got, result)
            if bad is not None and got.blocked:  # (blocking changed a bit: replay unblocked)
                self._warn(f"cache blocking: the blocked replay of {len(got.blocked)} run(s) "
                           "does not reproduce the eager step; the program runs unblocked",
                           "is not blocked")
                got.block = False
                _generate(got)
                bad = _validate(got, result)
            if bad is not None:
                e.state, e.reason = "eager", bad
                self._warn(bad)
                return result
            if self.fuse:
                from chainrule import _fuse

                unfused = _fuse.apply(got, result)
                if unfused is not None:  # (the program replays, unfused: only a warning)
                    self._warn(unfused, "is not fused")
            _generate_replay(got, spec)
            e.prog, e.state = got, "ready"
            return result
        if len(self.entries) >= MAX_PROGRAMS:
            if not self._exhausted:  # said once: the calls from here on run eagerly
                self._exhausted = True
                last = self.entries[-1].prog
                why = last.missed_guard() if last is not None else "no program was captured"
                self._warn(f"{MAX_PROGRAMS} programs were captured and the guards of each "
                           f"missed on later calls (the last one's: {why})")
            return self.fn(*args, **kwargs)
        result, got = _capture(self.fn, args, kwargs, tensors)
        if isinstance(got, str):
            self._warn(got)
            self.entries.append(_Entry(spec, None, got))
        else:
            self.entries.append(_Entry(spec, got, None))
        return result

    def _replay(self, e: _Entry, args: tuple, kwargs: dict, tensors: list[Tensor]) -> Any:
        prog = e.prog
        assert prog is not None and prog.fn is not None
        slots = prog.tracer.slots
        A = [_arr(tensors[slots[i][1]]) for i in prog.arg_slots]
        E = prog.E  # (read by guards_hold just before)
        C = _consts(prog)
        if self.check:
            return self._checked(e, args, kwargs, A, E, C)
        if not prog.protect and not prog.protect_rng:  # (a guard miss has nothing to undo)
            try:
                vals = prog.run(A, E, C)
            except _GuardMiss:
                return _MISSED
            self.replays += 1
            return self._write_back(prog, vals)
        saved = [E[k].copy() for k in prog.protect]
        gens = _generators(prog) if prog.protect_rng else []
        gen_states = [g.bit_generator.state for g in gens]
        try:
            vals = prog.run(A, E, C)
        except _GuardMiss:  # undo what ran before the guard; the caller tries another program
            for k, a in zip(prog.protect, saved):
                np.copyto(E[k], a)
            for g, st in zip(gens, gen_states):
                g.bit_generator.state = st
            return _MISSED
        self.replays += 1
        return self._write_back(prog, vals)

    @staticmethod
    def _write_back(prog: _Program, vals: tuple) -> Any:
        n = len(prog.outputs)
        for o, v in zip(prog.outputs, vals):
            if o[0] == "grad":
                t, g = o[1], o[2]
                if t.grad is not g:
                    t.grad = g
                _set_arr(g, v)
            elif o[0] == "data":
                _set_arr(o[1], v)
            else:
                o[1][o[2]] = v
        res = iter(vals[n:])
        return _build(prog.result, res)

    def _checked(self, e: _Entry, args: tuple, kwargs: dict, A: list, E: list, C: list) -> Any:
        """Replay, then restore the state and run eagerly; raise if the two differ."""
        prog = e.prog
        assert prog is not None and prog.fn is not None
        gens = _generators(prog)
        saved_gens = [g.bit_generator.state for g in gens]
        saved = [a.copy() for a in E]
        grads = [(o[1], o[1].grad) for o in prog.outputs if o[0] == "grad"]
        try:
            vals = prog.run(A, E, C)
        except _GuardMiss:
            return self.fn(*args, **kwargs)
        after = [a.copy() for a in E]
        out_vals = [np.array(v, copy=True) for v in vals]
        for a, s in zip(E, saved):
            if a.flags.writeable:  # a read-only input (a cached zeros view) was not written
                np.copyto(a, s)
        for g, st in zip(gens, saved_gens):
            g.bit_generator.state = st
        for t, g in grads:
            t.grad = g
        result = self.fn(*args, **kwargs)
        same = _same
        if self.fuse:
            from chainrule._fuse import close as same
        for i, (a, b) in enumerate(zip(after, E)):
            if self.fuse and _is_scratch(prog, prog.ext_slots[i]):
                continue
            if not same(a, b):
                raise RuntimeError(f"chainrule.compile(check=True): the replayed state "
                                   f"v{prog.ext_slots[i]} differs from the eager step's")
        _, tensors = _spec(result, {})
        n = len(prog.outputs)
        for t, v in zip(tensors, out_vals[n:]):
            if not same(v, _arr(t)):
                raise RuntimeError("chainrule.compile(check=True): the replayed result differs "
                                   "from the eager step's")
        return result


def _fuse_available() -> bool:
    """Whether ``fuse=True`` can fuse: ImportError naming the ``fast`` extra when Numba cannot
    be imported; False, with a warning, when ``CHAINRULE_NO_JIT=1`` switches compiled
    kernels off."""
    from chainrule import _fuse

    _fuse.numba_module()
    if not _jit.available():
        warnings.warn("chainrule.compile(fuse=True): compiled kernels are switched off "
                      "(CHAINRULE_NO_JIT); the step replays unfused", RuntimeWarning,
                      stacklevel=4)
        return False
    return True


def _consts(prog: _Program) -> list[np.ndarray]:
    """The constants of a run: shared when read-only, copied when the program writes them,
    fresh buffers for scratch."""
    slots, mut = prog.tracer.slots, prog.tracer.mutable_consts
    if prog.static_consts is not None:
        return prog.static_consts
    if not mut and all(slots[i][0] == "const" for i in prog.const_slots):
        prog.static_consts = [slots[i][1] for i in prog.const_slots]
        return prog.static_consts
    out = []
    for i in prog.const_slots:
        kind, payload = slots[i]
        if kind == "scratch":
            out.append(np.empty(payload[0], dtype=payload[1]))
        else:
            out.append(payload.copy() if i in mut else payload)
    return out


def _is_scratch(prog: _Program, i: int) -> bool:
    """Whether live state slot ``i`` is an entry of an optimizer's scratch dict."""
    h = prog.ext_holders.get(i)
    return h is not None and h[0] == "d" and id(h[1]) in prog.scratch_dicts


def _validate(prog: _Program, result: Any,
              same: Callable[[Any, Any], bool] = _same) -> str | None:
    """Replay the new program once on copies of the state the capture started from, with the
    generators rewound, and compare with what the eager run produced (``same``: bit for bit
    unless fused); a reason if they differ (a C extension writing into a traced buffer, any
    other untraced data flow)."""
    tr = prog.tracer
    assert prog.fn is not None
    A = [tr.snap[i].copy() for i in prog.arg_slots]
    E = [tr.snap[i].copy() for i in prog.ext_slots]
    C = _consts(prog)
    after = [(g, g.bit_generator.state) for g, _ in tr.gen_before.values()]
    for g, st in tr.gen_before.values():
        g.bit_generator.state = st
    try:
        vals = prog.run(A, E, C)
    except _GuardMiss:
        return "a value guard fails when the captured program is replayed"
    finally:
        for g, st in after:
            g.bit_generator.state = st
    for i, a in zip(prog.ext_slots, E):
        if same is not _same and _is_scratch(prog, i):
            continue
        if not same(a, np.asarray(tr.slots[i][1])):
            return "replaying the captured program does not reproduce the eager step's state " \
                f"(v{i}): data flows outside the tracer"
    n = len(prog.outputs)
    for o, v in zip(prog.outputs, vals):
        cur = _arr(o[2]) if o[0] == "grad" else _arr(o[1]) if o[0] == "data" else o[1][o[2]]
        if not same(np.asarray(v), np.asarray(cur)):
            return "replaying the captured program does not reproduce the eager step's " \
                "gradients: data flows outside the tracer"
    got: list[Tensor] = []
    _flatten(result, got)
    for t, v in zip(got, vals[n:]):
        if not same(np.asarray(v), np.asarray(_arr(t))):
            return "replaying the captured program does not reproduce the eager step's " \
                "result: data flows outside the tracer"
    return None


def _generators(prog: _Program) -> list[np.random.Generator]:
    out = []
    for ins in prog.tracer.instrs:
        if isinstance(ins.fn, _Draw):
            g = ins.fn.generator
            r = g if isinstance(g, np.random.Generator) else (g or _random.default_generator).rng
            if all(r is not o for o in out):
                out.append(r)
    return out


def _build(t: Any, vals: Any) -> Any:
    if isinstance(t, _Slot):
        return tensor_of(np.array(next(vals), copy=True))
    if isinstance(t, (tuple, list)):
        return type(t)(_build(e, vals) for e in t)
    if isinstance(t, dict):
        return {k: _build(v, vals) for k, v in t.items()}
    return t


_TORCH_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile(fn: Callable | None = None, *, check: bool = False,  # noqa: A001 - torch's name
            fuse: bool = False, quiet: bool = False, block: bool = True,
            fullgraph: bool = False,
            dynamic: bool | None = None, backend: Any = "inductor", mode: str | None = None,
            options: dict | None = None, disable: bool = False) -> Any:
    """Capture ``fn`` (a training step) once and replay it as straight NumPy
    (``torch.compile``'s role; see the module docstring for the lifecycle and guards).

    ``check=True`` replays, restores the state, runs eagerly and raises if the two differ.
    ``fuse=True`` (needs Numba, the ``fast`` extra; ImportError naming it otherwise) turns
    each run of elementwise calls into one generated loop (:mod:`chainrule._fuse`): equal to
    eager to 1e-6 instead of bit for bit. ``quiet=True``: no warning when the step stays
    eager (``.reasons`` still says why). ``block=False`` (or ``CHAINRULE_NO_BLOCK=1``)
    replays each elementwise call over whole arrays: by default a run of elementwise calls
    whose arrays together exceed twice the L2 cache runs block by block
    (:mod:`chainrule._block`; the same bits, each block's arrays kept in cache).

    ``fn`` may be an ``nn.Module``: as ``torch.compile(model)``, the result is an
    ``OptimizedModule`` (a Module whose ``_orig_mod`` is ``model``; its state_dict keys
    carry the ``_orig_mod.`` prefix, as torch's do). torch's other arguments are accepted:
    ``disable=True`` returns ``fn`` itself; ``fullgraph``, ``dynamic``, ``backend``, ``mode``
    and ``options`` choose among torch's code generators and have no counterpart here (one
    capture-and-replay for all), so they are checked and otherwise ignored. A compiled
    forward whose output is used by a backward outside it runs eagerly (it says why once):
    compile the whole training step to replay it.
    """
    if mode not in _TORCH_MODES:
        raise ValueError(f"chainrule.compile: unknown mode {mode!r}; torch's modes are "
                         f"{', '.join(repr(m) for m in _TORCH_MODES[1:])}")
    if mode is not None and options is not None:
        raise RuntimeError("chainrule.compile: either mode or options can be specified, but "
                           "both can't be specified at the same time (as torch.compile)")
    if not (isinstance(backend, str) or callable(backend)):
        raise TypeError(f"chainrule.compile: backend must be a name or a callable, got "
                        f"{type(backend).__name__}")

    def build(f: Callable) -> Any:
        if disable:
            return f
        from chainrule.nn.modules.module import Module

        compiled = CompiledFunction(f, check=check, fuse=fuse, quiet=quiet, block=block)
        return _optimized_module_class()(f, compiled) if isinstance(f, Module) else compiled

    if fn is None:
        return build
    return build(fn)


@functools.cache
def _optimized_module_class() -> type:
    """The ``OptimizedModule`` class, made on first use (``nn`` imports after this module)."""
    from chainrule.nn.modules.module import Module

    class OptimizedModule(Module):
        """What ``torch.compile(model)`` returns: a Module wrapping ``_orig_mod`` whose calls
        go through the compiled function (replayed where the guards allow, eager otherwise).
        Attributes the wrapper lacks are read from ``_orig_mod`` (``model.config``), and
        ``parameters()``, ``train()``/``eval()`` and ``state_dict()`` reach it as a
        submodule (keys prefixed ``_orig_mod.``, as torch)."""

        def __init__(self, mod: Module, compiled: CompiledFunction) -> None:
            super().__init__()
            self._orig_mod = mod
            object.__setattr__(self, "_compiled", compiled)

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return self._compiled(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.__dict__["_modules"]["_orig_mod"], name)

    OptimizedModule.__module__ = __name__
    return OptimizedModule


backend.traced_call = traced_call


class _CallableModule(types.ModuleType):
    """``chainrule.compile`` is this module and the decorator at once."""

    def __call__(self, fn: Callable | None = None, **kw: Any) -> Any:
        return compile(fn, **kw)


sys.modules[__name__].__class__ = _CallableModule
