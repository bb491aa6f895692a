"""Fusion of a captured program's elementwise runs into Numba kernels
(``chainrule.compile(fn, fuse=True)``, the ``fast`` extra).

A replayed program (see :mod:`chainrule.compile`) is one NumPy call per line. Each ufunc call
is a full pass over memory plus ~0.3-0.5 µs of call overhead, so a chain of small elementwise
calls (an activation's forward and backward, an optimizer's update) costs far more than its
arithmetic. Fusion rewrites each *run* of consecutive elementwise calls into one generated
loop::

    v2 = multiply(v0, v1, out=b0)          @njit
    v3 = add(v2, v0, out=b1)       ==>     def fused_0(v0, v1, v4):
    v4 = tanh(v3, out=b0)                      for i in range(n):
                                                   v2 = v0_[i] * v1_[i]
                                                   v3 = v2 + v0_[i]
                                                   v4_[i] = np.tanh(v3)

Only the values that a later call reads (or that the program hands out) are written to
memory; the others live in registers. GEMMs, reductions, views, random draws and every other
call stay as they were, and they end a run.

A call joins a run when it is a one-output ufunc (or ``backend.axpy``, ``y += a·x``) that Numba
implements, on float / integer / bool arrays and Python scalars, whose result has the run's
shape and is C-contiguous, and whose array inputs either have that shape and are C-contiguous
or broadcast in one of three simple ways: a single element, a trailing block (a bias row:
index ``i mod C``) or a leading block (a per-row statistic: index ``i div C``), one split
``(R, C)`` of the shape for the whole run. In-place writes (``out=`` an input, as optimizer
updates do) join when no other array of the run overlaps the written one except the very same
view. Each operation computes in the dtypes NumPy's loop would use (``ufunc.resolve_dtypes``:
float32 stays float32, Python scalars are weak), so a fused program agrees with the unfused
one to rounding (transcendental functions come from a different libm; ``axpy`` is no longer
one FMA), not bit for bit; a program whose fused replay differs from the eager step by more
than 1e-6 (relative to each array's largest value) keeps its unfused code, with a warning.

Kernels are compiled when the program is generated (~0.1-0.3 s each; cached in-process by
their source with the values renamed and by argument types, so steps and time steps of the
same structure share them) and called through
their compiled entry point with the argument types fixed at capture (the guards keep the
layouts fixed). Calls whose result nothing reads (the loss sum of a step that returns
nothing) are dropped first, so they do not split a run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_numba: Any = None

# operators written infix (the rest as ``np.<name>(...)``, which Numba implements for scalars)
_INFIX = {"add": "{0} + {1}", "subtract": "{0} - {1}", "multiply": "{0} * {1}",
          "divide": "{0} / {1}", "true_divide": "{0} / {1}", "negative": "-{0}",
          "positive": "+{0}", "greater": "{0} > {1}", "greater_equal": "{0} >= {1}",
          "less": "{0} < {1}", "less_equal": "{0} <= {1}", "equal": "{0} == {1}",
          "not_equal": "{0} != {1}"}
# SciPy's ufuncs that the step's layers use: σ(x) = 1 / (1 + e^{-x}), erf, erfc
_SCIPY = {"expit": "{one} / ({one} + np.exp(-{0}))", "erf": "math.erf({0})",
          "erfc": "math.erfc({0})"}
_BOOL_OK = {"logical_and", "logical_or", "logical_xor", "logical_not", "equal", "not_equal"}
_CASTS = {"f8": "f8", "f4": "f4", "i8": "i8", "i4": "i4", "b1": "b1", "u1": "u1"}
_MAX_CACHE = 512


def numba_module() -> Any:
    """The numba module; ImportError naming the ``fast`` extra when it cannot be imported."""
    global _numba
    if _numba is None:
        try:
            import numba
        except Exception as e:  # not installed, or a build that refuses this NumPy
            raise ImportError(
                "chainrule.compile(fuse=True) needs Numba (the 'fast' extra: pip install "
                f"'chainrule[fast]'), which could not be imported: {type(e).__name__}: {e}"
            ) from e
        _numba = numba
    return _numba


def _dtype_name(dt: np.dtype) -> str | None:
    """The kernel's cast helper for ``dt`` ('f8', 'f4', ...), None when not supported."""
    name = f"{dt.kind}{dt.itemsize}"
    return _CASTS.get(name) if dt.byteorder in "=|" or dt.isnative else None


def _supported(fn: Any) -> str | None:
    """The scalar expression template of ufunc ``fn``, None when a kernel cannot compute it."""
    name = fn.__name__
    if name in _INFIX:
        return _INFIX[name]
    if name in _SCIPY and fn is _scipy_ufunc(name):
        return _SCIPY[name]
    if fn in _numba_ufuncs() and getattr(np, name, None) is fn:
        return f"np.{name}(" + ", ".join(f"{{{k}}}" for k in range(fn.nin)) + ")"
    return None


_NUMBA_UFUNCS: set | None = None


def _numba_ufuncs() -> set:
    """The NumPy ufuncs Numba compiles."""
    global _NUMBA_UFUNCS
    if _NUMBA_UFUNCS is None:
        numba_module()
        from numba.np import ufunc_db

        _NUMBA_UFUNCS = set(ufunc_db.get_ufuncs())
    return _NUMBA_UFUNCS


def _scipy_ufunc(name: str) -> Any:
    import scipy.special

    return getattr(scipy.special, name, None)


# ---- one elementwise call -----------------------------------------------------------------------
@dataclass
class _Op:
    """An elementwise call of the program, ready to join a run."""

    n: int  # its index in the program
    template: str  # the scalar expression, ``{0}``, ``{1}``: inputs
    inputs: list[Any]  # per input: ('slot', i) or ('lit', value, dtype name)
    loop: list[str]  # the dtypes the inputs are cast to (NumPy's loop)
    loop_out: str  # the dtype the loop computes
    out_dt: str  # the result array's dtype
    result: int | None  # the slot of a fresh result
    target: int | None  # the slot written in place (``out=``)
    shape: tuple


def _elementwise(ins: Any, tr: Any, axpy: Any) -> _Op | None:
    """``ins`` as an :class:`_Op`, or None when it cannot join a run."""
    from chainrule.compile import _Slot

    if ins.kind != "call":
        return None
    if ins.fn is axpy and axpy is not None:
        return _axpy_op(ins, tr)
    fn = ins.fn
    if not isinstance(fn, np.ufunc) or "." in ins.name or fn.nout != 1 \
            or len(ins.args) != fn.nin or set(ins.kw) - {"out"}:
        return None
    target = None
    if "out" in ins.kw:
        out = ins.kw["out"]
        if not (isinstance(out, tuple) and len(out) == 1 and isinstance(out[0], _Slot)) \
                or ins.outs is not None or len(ins.writes) != 1:
            return None
        target = out[0].i
    elif not isinstance(ins.outs, _Slot):
        return None
    template = _supported(fn)
    if template is None:
        return None
    inputs, dtypes, shapes = _inputs(ins.args, tr)
    if inputs is None:
        return None
    try:
        loop = fn.resolve_dtypes((*dtypes, None))
    except Exception:  # noqa: BLE001 - no loop for these types: NumPy's call stays
        return None
    res = tr.objs[target if target is not None else ins.outs.i]
    if not _dense(res) or res.size == 0:
        return None
    names = [_dtype_name(d) for d in (*loop[:-1], res.dtype)]
    if None in names:
        return None
    try:
        if np.broadcast_shapes(*shapes) != res.shape:
            return None
    except ValueError:
        return None
    if "b1" in names[:-1] and fn.__name__ not in _BOOL_OK:  # (Numba's bool + bool is an int)
        return None
    return _Op(-1, template, inputs, names[:-1], _dtype_name(loop[-1]) or "", names[-1],
               None if target is not None else ins.outs.i, target, res.shape)


def _dense(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.flags.c_contiguous and a.dtype.kind in "fbiu" \
        and _dtype_name(a.dtype) is not None


def _inputs(args: tuple, tr: Any) -> tuple[Any, Any, Any]:
    """Per argument: its input record, its dtype for ``resolve_dtypes`` (Python scalars as
    their type: weak, as NumPy treats them) and its shape."""
    from chainrule.compile import _Slot

    inputs, dtypes, shapes = [], [], []
    for a in args:
        if isinstance(a, _Slot):
            o = tr.objs[a.i]
            if not isinstance(o, np.ndarray) or _dtype_name(o.dtype) is None \
                    or o.size > 1 and not o.flags.c_contiguous:  # (a broadcast_to view ...)
                return None, None, None
            inputs.append(("slot", a.i))
            dtypes.append(o.dtype)
            shapes.append(o.shape)
        elif type(a) in (float, int, bool):
            if type(a) is float and not math.isfinite(a) or type(a) is int and abs(a) > 2**62:
                return None, None, None
            inputs.append(("lit", a))
            dtypes.append(type(a))
            shapes.append(())
        elif isinstance(a, np.generic) and a.dtype.kind in "fbiu" \
                and _dtype_name(a.dtype) is not None and np.isfinite(a):
            inputs.append(("lit", a.item()))
            dtypes.append(a.dtype)
            shapes.append(())
        else:
            return None, None, None
    return inputs, dtypes, shapes


def _axpy_op(ins: Any, tr: Any) -> _Op | None:
    """``axpy(a, x, y)``: ``y ← a·x + y`` (a float or a 0-d array, cast to y's dtype as BLAS's
    ``alpha`` is)."""
    from chainrule.compile import _Slot

    if len(ins.args) != 3 or ins.kw or len(ins.writes) != 1:
        return None
    a, x, y = ins.args
    if not (isinstance(x, _Slot) and isinstance(y, _Slot)):
        return None
    xo, yo = tr.objs[x.i], tr.objs[y.i]
    if not (_dense(xo) and _dense(yo)) or xo.dtype != yo.dtype or xo.shape != yo.shape \
            or yo.dtype.kind != "f":
        return None
    inputs, _, shapes = _inputs((a,), tr)
    if inputs is None or shapes[0] != ():
        return None
    dt = _dtype_name(yo.dtype)
    return _Op(-1, "{0} * {1} + {2}", [inputs[0], ("slot", x.i), ("slot", y.i)], [dt] * 3, dt,
               dt, None, y.i, yo.shape)


# ---- runs ---------------------------------------------------------------------------------------
def _key(a: np.ndarray) -> tuple:
    """The identity of a view's memory and layout (two slots with one key are one array)."""
    return (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


def _splits(shape: tuple, full: tuple) -> set[int]:
    """The splits ``k`` of ``full`` at which ``shape`` broadcasts simply: all of it (full),
    one element, ``full[k:]`` (a trailing block) or ``full[:k]`` (a leading block)."""
    nd = len(full)
    s = (1,) * (nd - len(shape)) + tuple(shape)
    if s == tuple(full) or all(d == 1 for d in s):
        return set(range(nd + 1))
    out = set()
    for k in range(nd + 1):
        trailing = all(d == 1 for d in s[:k]) and s[k:] == tuple(full[k:])
        leading = s[:k] == tuple(full[:k]) and all(d == 1 for d in s[k:])
        if trailing or leading:
            out.add(k)
    return out


@dataclass
class _Run:
    """Consecutive elementwise calls over one shape."""

    shape: tuple
    ops: list[_Op] = field(default_factory=list)
    produced: set[int] = field(default_factory=set)  # slots of the fresh results
    splits: set[int] = field(default_factory=set)
    written: dict[tuple, int] = field(default_factory=dict)  # key -> slot of external writes
    read: dict[tuple, int] = field(default_factory=dict)  # key -> slot of external reads

    def accepts(self, op: _Op, tr: Any) -> bool:
        if op.shape != self.shape or not op.shape:  # (0-d results replay as NumPy scalars)
            return False
        splits = set(self.splits)
        read, written = dict(self.read), dict(self.written)
        for inp in op.inputs:
            if inp[0] != "slot" or inp[1] in self.produced:
                continue
            o = tr.objs[inp[1]]
            splits &= _splits(o.shape, self.shape)
            read.setdefault(_key(o), inp[1])
        if op.target is not None and op.target not in self.produced:
            written.setdefault(_key(tr.objs[op.target]), op.target)
        if not splits or not _no_overlap(read, written, tr):
            return False
        self.splits, self.read, self.written = splits, read, written
        return True

    def add(self, op: _Op) -> None:
        self.ops.append(op)
        if op.result is not None:
            self.produced.add(op.result)


def _no_overlap(read: dict, written: dict, tr: Any) -> bool:
    """No array of the run overlaps a written one unless it is the very same view."""
    for wk, w in written.items():
        wo = tr.objs[w]
        for k, s in (*read.items(), *written.items()):
            if k != wk and np.may_share_memory(tr.objs[s], wo):
                return False
    return True


def find_runs(instrs: list, tr: Any, axpy: Any) -> list[_Run]:
    """The runs of two or more fusable calls (each op's ``n``: its index in ``instrs``)."""
    runs: list[_Run] = []
    cur: _Run | None = None
    for n, ins in enumerate(instrs):
        op = _elementwise(ins, tr, axpy)
        if op is not None:
            op.n = n
        if op is not None and cur is not None and cur.accepts(op, tr):
            cur.add(op)
            continue
        if cur is not None and len(cur.ops) > 1:
            runs.append(cur)
        cur = None
        if op is not None:
            cur = _Run(op.shape, splits=set(range(len(op.shape) + 1)))
            if cur.accepts(op, tr):
                cur.add(op)
            else:
                cur = None
    if cur is not None and len(cur.ops) > 1:
        runs.append(cur)
    return runs


# ---- dead calls ---------------------------------------------------------------------------------
_PURE_METHODS = {"sum", "mean", "max", "min", "prod", "copy", "astype", "reshape", "transpose",
                 "swapaxes", "squeeze", "ravel", "any", "all"}


# recorded NumPy functions without side effects (constructors, re-labellings, views, joins;
# the names ``chainrule.compile`` records them under)
_PURE_CALLS = {"asarray", "ascontiguousarray", "asanyarray", "empty", "zeros", "ones", "full",
               "np.expand_dims", "np.reshape", "np.transpose", "np.swapaxes", "np.moveaxis",
               "np.squeeze", "np.ravel", "np.broadcast_to", "np.atleast_1d", "np.atleast_2d",
               "np.concatenate", "np.stack", "np.where", "np.zeros_like", "np.ones_like",
               "np.empty_like", "np.full_like", "np.sum", "np.mean", "np.max", "np.min"}


def _pure_ufunc_method(fn: Any) -> bool:
    """``np.add.reduce`` and the like (a ufunc's reduce/accumulate/outer/reduceat, which
    return a new array when no ``out=`` is given); ``ufunc.at`` writes in place."""
    return isinstance(getattr(fn, "__self__", None), np.ufunc) and getattr(
        fn, "__name__", "") in ("reduce", "accumulate", "outer", "reduceat")


def drop_dead(instrs: list, keep: set[int]) -> list:
    """``instrs`` without the side-effect-free calls whose results nothing reads (walking
    backwards, so a chain that only fed a dropped call goes too)."""
    from chainrule.compile import _slots_in

    used = set(keep)
    out = []
    for ins in reversed(instrs):
        outs = [s.i for s in _slots_in(ins.outs)]
        pure = not ins.writes and outs and (
            ins.kind == "call" and "out" not in ins.kw
            and (isinstance(ins.fn, np.ufunc) or _pure_ufunc_method(ins.fn)
                 or ins.name in _PURE_CALLS
                 and getattr(np, ins.name.removeprefix("np."), None) is ins.fn)
            or ins.kind == "method" and ins.name in _PURE_METHODS
            or ins.kind == "getitem")
        if pure and not any(i in used for i in outs):
            continue
        used.update(s.i for s in _slots_in((ins.args, ins.kw)))
        used.update(s.i for s in _slots_in(ins.writes))
        out.append(ins)
    out.reverse()
    return out


# ---- kernels ------------------------------------------------------------------------------------
@dataclass
class Kernel:
    """A generated kernel: its source, the program slots it takes (in order), the slots it
    writes, and the compiled callable."""

    name: str
    source: str
    params: list[int]
    writes: list[int]
    outputs: list[int]  # fresh results written to memory (allocated before the call)
    scalars: set[int] = field(default_factory=set)  # params passed as scalars (0-d)
    any_layout: set[int] = field(default_factory=set)  # read-only params: any strides
    fn: Any = None


def _lit(value: Any, dt: str) -> str:
    if dt == "b1":
        return repr(bool(value))
    if dt[0] in "iu":
        return f"{dt}({int(value)})"
    return f"{dt}({float(value)!r})"


def _uniform(tr: Any, i: int) -> Any:
    """The single value of a read-only constant array whose elements are all equal, else
    None (it becomes a literal of the kernel, one argument fewer)."""
    kind, payload = tr.slots[i]
    if kind != "const" or i in tr.mutable_consts or not isinstance(payload, np.ndarray) \
            or payload.size == 0 or payload.dtype.kind not in "fbiu":
        return None
    flat = payload.reshape(-1)
    v = flat[0]
    if not np.all(flat == v) or not np.isfinite(v):
        return None
    return v.item()


def build_kernel(run: _Run, k: int, tr: Any, needed: Callable[[int], bool]) -> Kernel | None:
    """The kernel of ``run`` (``needed(slot)``: whether a fresh result is read after the run
    or handed out), or None when it would write nothing."""
    shape = run.shape
    split = max(run.splits)  # (the largest trailing split: full inputs need no division)
    full_n = len(shape)
    params: list[int] = []  # slots passed, in order
    pnames: dict[int, str] = {}
    key_var: dict[tuple, str] = {}  # external array -> the scalar holding its current value
    key_slot: dict[tuple, int] = {}
    pre: list[str] = []  # before the loop: flat views, scalars
    body: list[str] = []
    loads: list[str] = []
    var: dict[int, str] = {}  # produced slot -> scalar
    dtype_of: dict[str, str] = {}
    stores: dict[tuple, str] = {}
    outputs = [op.result for op in run.ops if op.result is not None and needed(op.result)]
    anchor: str | None = None
    row = col = None
    scalars: set[int] = set()
    any_layout: set[int] = set()
    counter = [0]

    def fresh(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def param(i: int) -> str:
        if i not in pnames:
            pnames[i] = f"v{i}"
            params.append(i)
        return pnames[i]

    def flat_view(i: int, o: np.ndarray) -> tuple[str, str]:
        """(flat name, index expression) of external or output array slot ``i``."""
        nonlocal anchor, row, col
        p = param(i)
        s = (1,) * (full_n - o.ndim) + o.shape
        # an array only read may replay in another layout than at capture (a fresh ufunc
        # result follows its inputs' strides): typed with any layout, read through a C view
        # (a copy only if it is not C-contiguous); written arrays are C-contiguous
        src = p if i in outputs or _key(o) in run.written else f"np.ascontiguousarray({p})"
        if i not in outputs and _key(o) not in run.written:
            any_layout.add(i)
        if s == tuple(shape):
            pre.append(f"{p}_ = {src}.reshape({p}.size)")
            anchor = anchor or p
            return f"{p}_", "i"
        if all(d == 1 for d in s):
            pre.append(f"{p}_ = {src}.reshape(1)")
            return f"{p}_", "0"
        pre.append(f"{p}_ = {src}.reshape({p}.size)")
        if s[split:] == tuple(shape[split:]):
            row = row or p
            return f"{p}_", "j"
        col = col or p
        return f"{p}_", "r"

    def read(inp: Any, dt: str) -> str:
        if inp[0] == "lit":
            return _lit(inp[1], dt)
        i = inp[1]
        if i in var:
            v = var[i]
        else:
            o = tr.objs[i]
            key = _key(o)
            if key in key_var:
                v = key_var[key]
            else:
                u = _uniform(tr, i)
                if u is not None:
                    v = _lit(u, _dtype_name(o.dtype))
                elif o.ndim == 0:  # a scalar argument (a 0-d result replays as a NumPy scalar)
                    v = param(i)
                    scalars.add(i)
                else:
                    name, idx = flat_view(i, o)
                    v = fresh("x")
                    (pre if idx == "0" else loads).append(f"{v} = {name}[{idx}]")
                    key_slot[key] = i
                dtype_of[v] = _dtype_name(o.dtype)
                key_var[key] = v
        return v if dtype_of.get(v) == dt else f"{dt}({v})"

    for op in run.ops:
        one = _lit(1, op.loop[0])
        args = [read(inp, dt) for inp, dt in zip(op.inputs, op.loop)]
        expr = op.template.format(*args, one=one)
        cast = op.out_dt
        if op.template.startswith("math.") or op.loop_out != cast:  # (math.* gives float64)
            expr = f"{cast}({expr})"
        if op.result is not None:
            v = f"v{op.result}"
            var[op.result] = v
        else:
            assert op.target is not None
            if op.target in var:  # (an in-place write of a value of this run)
                v = fresh("w")
                var[op.target] = v
            else:
                key = _key(tr.objs[op.target])
                v = fresh("w")
                key_var[key] = v
                key_slot.setdefault(key, op.target)
                stores[key] = v
        dtype_of[v] = cast
        body.append(f"{v} = {expr}")
    for i in outputs:
        o = tr.objs[i]
        name, _ = flat_view(i, o)
        body.append(f"{name}[i] = {var[i]}")
    for key, v in stores.items():
        i = key_slot[key]
        name, _ = flat_view(i, tr.objs[i]) if i not in pnames else (f"{pnames[i]}_", "i")
        body.append(f"{name}[i] = {v}")
    if anchor is None or not (outputs or stores):
        return None
    loop = [f"n = {anchor}.size"]
    if row is not None or col is not None:  # i = r·C + j over an (R, C) split of the shape
        loop.append(f"c = {row}.size" if row is not None else f"c = n // {col}.size")
        loop += ["for r in range(n // c):", "    for j in range(c):", "        i = r * c + j"]
        ind = "        "
    else:
        loop.append("for i in range(n):")
        ind = "    "
    name = f"fused_{k}"
    written = sorted({key_slot[key] for key in stores} | set(outputs))
    summary = "; ".join(_describe(op) for op in run.ops)
    lines = [f"def {name}(" + ", ".join(pnames[i] for i in params) + "):",
             f"    # {summary}"]
    lines += ["    " + ln for ln in dict.fromkeys(pre)] + ["    " + ln for ln in loop]
    lines += [ind + "    " + ln for ln in loads + body]
    return Kernel(name, "\n".join(lines) + "\n", params, written, outputs, scalars, any_layout)


def _describe(op: _Op) -> str:
    ins = [f"v{i[1]}" if i[0] == "slot" else repr(i[1]) for i in op.inputs]
    lhs = f"v{op.result}" if op.result is not None else f"v{op.target}(in place)"
    return f"{lhs} = " + op.template.format(*ins, one="1")


_CACHE: dict[tuple, Any] = {}
_VALUE = re.compile(r"\b([vxw])(\d+)(_?)\b")


def _canonical(source: str) -> str:
    """``source`` with its name ``kernel``, no comment, and its values renamed in order of
    appearance: kernels of the same structure in different programs (or time steps of a
    recurrent layer) then share one compilation."""
    lines = source.split("\n")
    head = lines[0].split("(", 1)
    text = "def kernel(" + head[1] + "\n" + "\n".join(
        ln for ln in lines[1:] if not ln.lstrip().startswith("#"))
    names: dict[str, str] = {}

    def rename(m: re.Match) -> str:
        base = m.group(1) + m.group(2)
        if base not in names:
            names[base] = f"{m.group(1)}{len(names)}"
        return names[base] + m.group(3)

    return _VALUE.sub(rename, text)


def compile_kernel(kern: Kernel, arrays: list[np.ndarray]) -> Any:
    """The compiled entry point of ``kern`` for arguments typed like ``arrays`` (cached by
    source and types: steps of the same structure share their kernels)."""
    numba = numba_module()
    canonical = _canonical(kern.source)
    types = tuple(numba.from_dtype(a.dtype) if i in kern.scalars
                  else numba.typeof(a).copy(layout="A") if i in kern.any_layout
                  else numba.typeof(a) for i, a in zip(kern.params, arrays))
    key = (canonical, types)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    ns: dict[str, Any] = {"np": np, "math": math, "f8": np.float64, "f4": np.float32,
                          "i8": np.int64, "i4": np.int32, "b1": np.bool_, "u1": np.uint8}
    exec(compile(canonical, f"<chainrule fused kernel {kern.name}>", "exec"), ns)  # noqa: S102
    disp = numba.njit(ns["kernel"], nogil=True, error_model="numpy")
    disp.compile(types)
    try:  # the entry point skips the dispatcher's type resolution (the guards fix the types)
        fn = disp.overloads[types].entry_point
    except (AttributeError, KeyError):
        fn = disp
    if len(_CACHE) >= _MAX_CACHE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = fn
    return fn


# ---- the pass -----------------------------------------------------------------------------------
def close(a: Any, b: Any) -> bool:
    """Equal to 1e-6 relative to ``b``'s largest finite magnitude or 1e-12 absolute (exactly
    for integers and booleans): the agreement a fused program keeps with the eager step."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    fin = np.abs(b[np.isfinite(b)])
    scale = float(fin.max()) if fin.size else 0.0
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-6 * max(scale, 1e-6), equal_nan=True))


def apply(prog: Any, result: Any) -> str | None:
    """Rewrite ``prog`` (generated and validated unfused) with fused kernels and check it
    once against the eager step; returns a reason when the unfused program is kept."""
    from chainrule import backend
    from chainrule import compile as cc

    tr = prog.tracer
    original = tr.instrs
    keep = {o[-1] for o in prog.outputs} | {s.i for s in cc._slots_in(prog.result)}
    instrs = drop_dead(original, keep)
    runs = find_runs(instrs, tr, backend.axpy)
    last: dict[int, int] = {}
    for n, ins in enumerate(instrs):
        for s in cc._slots_in((ins.args, ins.kw, ins.outs, ins.writes)):
            last[s.i] = n
    first = {run.ops[0].n: run for run in runs}
    new: list = []
    kernels: list[Kernel] = []
    failures: list[str] = []
    n = 0
    while n < len(instrs):
        run = first.get(n)
        if run is None:
            new.append(instrs[n])
            n += 1
            continue
        end = run.ops[-1].n
        kern = build_kernel(run, len(kernels), tr,
                            lambda i, end=end: last.get(i, -1) > end or i in keep)
        if kern is not None:
            try:
                kern.fn = compile_kernel(kern, [_plain(tr.objs[i]) for i in kern.params])
            except Exception as e:  # noqa: BLE001 - a kernel Numba refuses: the calls stay
                failures.append(f"{kern.name}: {type(e).__name__}: {str(e).splitlines()[0]}")
                kern = None
        if kern is None:
            new.extend(instrs[n:end + 1])
        else:
            for i in kern.outputs:
                o = tr.objs[i]
                new.append(cc._Instr("alloc", np.empty, "empty", (o.shape, o.dtype.type), {},
                                     cc._Slot(i)))
            new.append(cc._Instr("call", kern.fn, kern.name,
                                 tuple(cc._Slot(i) for i in kern.params), {}, None,
                                 tuple(cc._Slot(i) for i in kern.writes)))
            kernels.append(kern)
        n = end + 1
    if not kernels and len(instrs) == len(original):
        return None
    tr.instrs = new
    prog.buffers = None
    cc._generate(prog)
    bad = cc._validate(prog, result, same=close)
    if bad is not None:
        tr.instrs = original
        prog.buffers = None
        cc._generate(prog)
        return f"fusion: {bad}; the program runs unfused"
    prog.code = "".join("@njit\n" + k.source + "\n\n" for k in kernels) + prog.code
    prog.kernels = kernels
    if failures:
        return f"fusion: Numba could not compile {failures[0]}; those calls run unfused"
    return None


def _plain(a: Any) -> np.ndarray:
    return np.ndarray.view(a, np.ndarray) if isinstance(a, np.ndarray) else np.asarray(a)
