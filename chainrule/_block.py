"""Cache-blocked replay of memory-bound elementwise runs (``chainrule.compile``, on by default;
``chainrule.compile(fn, block=False)`` or ``CHAINRULE_NO_BLOCK=1`` switch it off).

A replayed program makes one NumPy pass per call. An optimizer's update is a chain of such
passes over the same few arrays (RMSprop: nine over a parameter, its gradient, its running
square and a scratch array); when those arrays together are larger than the core's L2 cache,
every pass streams them from L3 or memory again. Blocking replays such a *run* of consecutive
elementwise calls block by block: all the run's calls on rows ``[r, r + R)`` of every array,
then on the next rows::

    multiply(v67, v67, out=(v72, ))            for v_r in range(0, 512, 80):
    multiply(v73, c, out=(v73, ))       ==>        v_s = slice(v_r, v_r + 80)
    add(v73, v72, out=(v73, ))                     v67_, v72_, v73_ = v67[v_s], v72[v_s], v73[v_s]
                                                   multiply(v67_, v67_, out=(v72_, ))
                                                   multiply(v73_, c, out=(v73_, ))
                                                   add(v73_, v72_, out=(v73_, ))

so the ``R`` rows of each array are read from memory once and stay in L2 for the run's other
passes. The calls and their operands' dtypes are the same; only the order in which the
elements are visited changes.

Bit for bit (the program is validated against the eager step as every program is): element
``k`` of a result depends only on element ``k`` of each full-size operand (and on whole
broadcast operands: a bias row, a scalar), and the ufuncs allowed here round each element
correctly (``+ − × ÷ √``, comparisons, min/max: no SIMD approximation whose result could
depend on where a block starts); BLAS ``axpy`` blocks start at multiples of 64 elements, so
its vector loop groups the elements as on the whole array. Reordering is only safe when no
call of the run reads a position that another call writes at a *different* position: every
array the run writes may overlap another operand only as the very same view (same memory,
shape and strides), judged by where the operands live *at replay* (two captured results
that the buffer planner put in one buffer overlap at replay though they did not at capture),
and the operands that are not blocked (broadcast ones) must not overlap anything written.
The arguments and the gradients accumulated across steps are guarded by layout only, so at
replay they may overlap anything: a run that writes in place outside the program's own
memory (its buffers, the run's fresh results) is not blocked when the written array or
another operand outside that memory is one of them. A run that fails any of this stays whole.

The rule (measured on one core of a Xeon with 2 MiB of L2, under load; see
docs/performance.md): a run of three or more calls is blocked when its blocked arrays add up to
at least twice the L2 size (read from sysfs, 1 MiB if unknown), when it reads them again
(the bytes of each call's distinct arrays, summed over its calls, less that working set) for
at least four times the L2 size, and when it splits into at least two blocks. A block holds
about L2 / (2 · arrays) bytes of each array (between 64 and 512 kB, so that all of a block's
arrays fit in half the L2), whole rows of the run's shape, a multiple of 64 elements where
the row length allows. RMSprop's nine passes over a 784x512 float32 weight (four arrays,
6.4 MB) took 0.49 instead of 0.65 ms that way (blocks of 64-512 kB per array gain 19-26 %,
32 kB 7 %, 16 kB lose 19 % to the loop's Python work); a ReLU backward's two calls over a
9 MB activation lost 2-12 % alone and ~5 % of the MNIST CNN's step (so runs of two calls
stay whole). Adam's and Adadelta's updates are already chunked this way by the optimizers
themselves (256 kB chunks, see :mod:`chainrule.optim.adam`): their chunks are below the
thresholds and stay as they are.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# elementwise ufuncs whose every output element is the correctly rounded (or exact) function
# of the input elements at the same position: their result does not depend on how the array
# is split (exp, log, tanh ... use SIMD approximations whose tail handling may differ)
_EXACT_UFUNCS = frozenset(getattr(np, n) for n in (
    "add", "subtract", "multiply", "divide", "negative", "positive", "absolute", "sqrt",
    "square", "maximum", "minimum", "fmax", "fmin", "copysign", "greater", "greater_equal",
    "less", "less_equal", "equal", "not_equal", "logical_and", "logical_or", "logical_xor",
    "logical_not", "sign", "reciprocal"))
# (np.reciprocal of floats is 1/x, correctly rounded; of integers exact)

ALIGN = 64  # block starts are multiples of this many elements (BLAS axpy's vector blocks)
MIN_BLOCK_BYTES = 64 << 10
MAX_BLOCK_BYTES = 512 << 10
# the least working set of a blocked run (the bytes of its distinct blocked arrays), and the
# least it reads again (Σ over calls of their distinct arrays' bytes, less the working set:
# what a blocked replay finds in L2), as multiples of the L2 size (tests lower them)
MIN_SET_L2 = 2.0
MIN_REREAD_L2 = 4.0
MIN_CALLS = 3  # (runs of two calls measured slower blocked: see the module docstring)
_L2: int | None = None


def l2_bytes() -> int:
    """The L2 cache size of one core (Linux sysfs; 1 MiB where it cannot be read)."""
    global _L2
    if _L2 is None:
        _L2 = 1 << 20
        base = "/sys/devices/system/cpu/cpu0/cache"
        try:
            for d in sorted(os.listdir(base)):
                p = os.path.join(base, d)
                with open(os.path.join(p, "level")) as f:
                    level = f.read().strip()
                with open(os.path.join(p, "type")) as f:
                    kind = f.read().strip()
                if level == "2" and kind in ("Unified", "Data"):
                    with open(os.path.join(p, "size")) as f:
                        text = f.read().strip().upper()
                    mult = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
                    _L2 = int(text.rstrip("KM")) * mult
                    break
        except (OSError, ValueError):
            pass
    return _L2


@dataclass
class BlockedRun:
    """Instructions ``start..end`` of a program, replayed ``rows`` rows at a time."""

    start: int
    end: int
    shape: tuple  # the run's shape (every result has it)
    rows: int  # rows of axis 0 per block
    sliced: list[int] = field(default_factory=list)  # slots cut into blocks, in order
    fresh: list[int] = field(default_factory=list)  # fresh results (allocated before the loop)
    nbytes: int = 0  # the working set: bytes of the distinct blocked arrays

    @property
    def blocks(self) -> int:
        return -(-self.shape[0] // self.rows)


# ---- one call -----------------------------------------------------------------------------------
@dataclass
class _Member:
    """A call of a run: its shape, the slots it reads and writes, and its fresh result."""

    shape: tuple
    reads: list[int]
    writes: list[int]
    result: int | None
    axpy: bool = False


def _is_array(o: Any) -> bool:
    return isinstance(o, np.ndarray) and o.dtype.kind in "fbiu"


def _member(ins: Any, tr: Any, axpy: Any) -> _Member | None:
    """``ins`` as a call that may join a run, or None."""
    from chainrule.compile import _Slot

    if ins.kind != "call":
        return None
    if axpy is not None and ins.fn is axpy:
        return _axpy_member(ins, tr)
    fn = ins.fn
    if fn not in _EXACT_UFUNCS or "." in ins.name or len(ins.args) != fn.nin \
            or set(ins.kw) - {"out"}:
        return None
    reads = []
    for a in ins.args:
        if isinstance(a, _Slot):
            if not _is_array(tr.objs[a.i]):
                return None
            reads.append(a.i)
        elif not (type(a) in (bool, int, float)
                  or isinstance(a, np.generic) and a.dtype.kind in "fbiu"):
            return None
    if "out" in ins.kw:
        out = ins.kw["out"]
        if not (isinstance(out, tuple) and len(out) == 1 and isinstance(out[0], _Slot)) \
                or ins.outs is not None:
            return None
        target, result = out[0].i, None
    elif isinstance(ins.outs, _Slot):
        target = result = ins.outs.i
        o = tr.objs[target]
        # (allocated before the loop: C order, as the captured result was)
        if not _is_array(o) or not o.flags.c_contiguous:
            return None
    else:
        return None
    o = tr.objs[target]
    if not _is_array(o) or o.ndim == 0 or o.shape[0] < 2:
        return None
    return _Member(o.shape, reads, [target], result)


def _axpy_member(ins: Any, tr: Any) -> _Member | None:
    """``axpy(a, x, y)`` (``y ← a·x + y``) on C-contiguous float arrays of one shape and dtype
    (the BLAS path, on the whole array and on each block), ``a`` a number or a 0-d array."""
    from chainrule.compile import _Slot

    if len(ins.args) != 3 or ins.kw:
        return None
    a, x, y = ins.args
    if not (isinstance(x, _Slot) and isinstance(y, _Slot)):
        return None
    xo, yo = tr.objs[x.i], tr.objs[y.i]
    if not (_is_array(xo) and _is_array(yo)) or yo.dtype.str not in ("<f4", "<f8") \
            or xo.dtype != yo.dtype or xo.shape != yo.shape or yo.ndim == 0 \
            or yo.shape[0] < 2 or not (xo.flags.c_contiguous and yo.flags.c_contiguous):
        return None
    reads = [x.i, y.i]
    if isinstance(a, _Slot):
        if np.ndim(tr.objs[a.i]) != 0:
            return None
        reads.append(a.i)
    elif type(a) not in (int, float):
        return None
    return _Member(yo.shape, reads, [y.i], None, axpy=True)


# ---- where each value lives at replay ---------------------------------------------------------
def _layout(a: np.ndarray) -> tuple:
    return (a.shape, a.strides, a.dtype.str)


class _Places:
    """Where a value's memory is during a replay: in program buffer ``k`` (the planner puts
    results whose lifetimes do not overlap in one buffer, so two values that were apart at
    capture may share memory at replay), or in memory of its own, as at capture."""

    def __init__(self, tr: Any, plan: dict[int, int], elide: set[int] = frozenset(),
                 unknown: set[int] = frozenset()) -> None:
        from chainrule.compile import _plain_view

        self.tr = tr
        # the slots whose arrays the guards check by layout only (the arguments, gradients
        # accumulated across steps): at replay they may be any array, overlapping anything
        self.unknown_objs = [_plain_view(tr.objs[i], np.ndarray) for i in sorted(unknown)
                             if isinstance(tr.objs[i], np.ndarray)]
        self.unknown_roots = set(unknown)
        # an elided copy (``v_out = v_src`` in the program) is its source at replay
        self.same = {tr.instrs[n].outs.i: tr.instrs[n].args[0].i for n in elide}
        self.regions: list[tuple[int, int, int, int]] = []  # (lo, hi, buffer, base pointer)
        bounds = np.lib.array_utils.byte_bounds
        for n, k in plan.items():
            ins = tr.instrs[n]
            a = _plain_view(tr.objs[ins.outs.i], np.ndarray)
            lo, hi = bounds(a)
            self.regions.append((lo, hi, k, lo))
        self._plain = _plain_view

    def of(self, i: int) -> tuple:
        """``('buf', k, offset, layout)`` or ``('own', pointer, layout)`` of slot ``i``."""
        i = self.same.get(i, i)
        a = self._plain(self.tr.objs[i], np.ndarray)
        lo, _ = np.lib.array_utils.byte_bounds(a)
        for rlo, rhi, k, base in self.regions:
            if rlo <= lo < rhi:
                return ("buf", k, a.__array_interface__["data"][0] - base, _layout(a))
        return ("own", a.__array_interface__["data"][0], _layout(a))

    def unknown(self, i: int) -> bool:
        """Whether slot ``i`` views memory the capture cannot vouch for (an argument's)."""
        i = self.same.get(i, i)
        if self.tr.root.get(i, i) in self.unknown_roots:
            return True
        a = self._plain(self.tr.objs[i], np.ndarray)
        return any(np.may_share_memory(a, u) for u in self.unknown_objs)

    def overlap(self, i: int, p: tuple, j: int, q: tuple) -> bool:
        """Whether slots ``i`` and ``j`` (at places ``p``, ``q``) may share memory at replay."""
        if p[0] != q[0]:
            return False
        if p[0] == "buf":
            return p[1] == q[1]  # (one buffer: conservatively, they overlap)
        i, j = self.same.get(i, i), self.same.get(j, j)
        return bool(np.may_share_memory(self._plain(self.tr.objs[i], np.ndarray),
                                        self._plain(self.tr.objs[j], np.ndarray)))


# ---- runs ---------------------------------------------------------------------------------------
def _blocked_operand(o: Any, shape: tuple) -> bool:
    """Whether operand ``o`` of a run of ``shape`` is cut into the run's row blocks (its axis
    0 is the run's axis 0), rather than passed whole (a scalar, a bias row)."""
    return isinstance(o, np.ndarray) and o.ndim == len(shape) and o.shape[0] == shape[0]


def safe(members: list[_Member], tr: Any, places: _Places) -> bool:
    """Whether replaying ``members`` block by block computes what the calls compute one
    after the other: each written array overlaps another operand only as the very same view,
    and no whole (unblocked) operand overlaps a written one (at replay). An argument (or an
    accumulated gradient) may be any array at replay, so a run that writes in place where one
    could overlap it is not blocked; the program's buffers and the run's fresh results are
    its own, which no argument can be."""
    shape = members[0].shape
    slots = sorted({i for m in members for i in (*m.reads, *m.writes)})
    written = sorted({i for m in members for i in m.writes})
    where = {i: places.of(i) for i in slots}
    fresh = {m.result for m in members if m.result is not None}
    private = {i for i in slots if i in fresh or where[i][0] == "buf"}
    for w in written:
        if not _blocked_operand(tr.objs[w], shape) or tr.objs[w].shape != shape:
            return False
        for j in slots:
            if j == w or where[j] == where[w]:
                continue  # (the same view: position k of one is position k of the other)
            if places.overlap(w, where[w], j, where[j]):
                return False
            if w not in private and j not in private \
                    and (places.unknown(w) or places.unknown(j)):
                return False
    return True


def _rows(shape: tuple, itemsize: int, narrays: int, axpy: bool) -> int:
    """Rows per block: about L2 / (2 · arrays) bytes of each array, within
    [MIN_BLOCK_BYTES, MAX_BLOCK_BYTES], a multiple of ALIGN elements where the rows allow (it
    must be, when the run has an axpy; 0 then if it cannot be)."""
    row = math.prod(shape[1:]) or 1
    target = min(max(l2_bytes() // (2 * max(narrays, 1)), MIN_BLOCK_BYTES), MAX_BLOCK_BYTES)
    rows = max(1, target // (row * itemsize))
    step = ALIGN // math.gcd(ALIGN, row)
    if rows >= step:
        return rows // step * step
    return 0 if axpy else rows


def find_runs(instrs: list, tr: Any, plan: dict[int, int], axpy: Any,
              elide: set[int] = frozenset(), unknown: set[int] = frozenset(),
              check: bool = True) -> list[BlockedRun]:
    """The runs of ``instrs`` worth replaying block by block (``plan``: instruction ->
    buffer, as :func:`chainrule.compile._plan_buffers` made it; ``elide``: the copies the
    program replaces by their source; ``unknown``: the slots whose arrays may differ from
    replay to replay, arguments and accumulated gradients). ``check=False`` skips the
    aliasing check (only for tests that show it is needed)."""
    places = _Places(tr, plan, elide, unknown)
    out: list[BlockedRun] = []
    cur: list[tuple[int, _Member]] = []

    def close() -> None:
        if len(cur) >= max(MIN_CALLS, 2):
            run = _consider(cur, tr, places, check)
            if run is not None:
                out.append(run)
        cur.clear()

    for n, ins in enumerate(instrs):
        m = _member(ins, tr, axpy)
        if m is not None and cur and m.shape == cur[0][1].shape:
            cur.append((n, m))
            continue
        close()
        if m is not None:
            cur.append((n, m))
    close()
    return out


def _consider(cur: list[tuple[int, _Member]], tr: Any, places: _Places,
              check: bool) -> BlockedRun | None:
    """``cur`` as a blocked run when it is safe and pays (see the module docstring: its
    arrays exceed the L2 and it reads them again often enough to repay the loop's Python
    work); a run that aliases is left whole (no safe part of it is searched for)."""
    members = [m for _, m in cur]
    shape = members[0].shape
    sliced: list[int] = []
    seen: dict[tuple, int] = {}
    nbytes = reread = 0
    itemsize = 1
    for m in members:
        call: set[tuple] = set()  # the distinct arrays this call streams
        for i in (*m.reads, *m.writes):
            o = tr.objs[i]
            if not _blocked_operand(o, shape):
                continue
            key = places.of(i)
            if key not in call:
                call.add(key)
                reread += o.nbytes
            if i not in sliced:
                sliced.append(i)
                itemsize = max(itemsize, o.itemsize)
            if key not in seen:
                seen[key] = i
                nbytes += o.nbytes
    reread -= nbytes  # (each array's first pass reads memory in either replay)
    l2 = l2_bytes()
    if nbytes < MIN_SET_L2 * l2 or reread < MIN_REREAD_L2 * l2:
        return None
    if check and not safe(members, tr, places):
        return None
    rows = _rows(shape, itemsize, len(seen), any(m.axpy for m in members))
    if rows <= 0 or 2 * rows > shape[0]:
        return None
    fresh = [m.result for m in members if m.result is not None]
    return BlockedRun(cur[0][0], cur[-1][0], shape, rows, sliced, fresh, nbytes)


# ---- code ---------------------------------------------------------------------------------------
def emit(run: BlockedRun, tr: Any, plan: dict[int, int], cg: Any, ind: str = "    "
         ) -> list[str]:
    """The source lines of ``run``: its fresh results bound to their buffers (or allocated),
    then the loop over row blocks, each call on the block views of its operands."""
    from chainrule import compile as cc

    lines = [f"{ind}# blocked (chainrule._block): {run.end - run.start + 1} calls over "
             f"{run.shape} in {run.blocks} blocks of {run.rows} rows, "
             f"{run.nbytes / 2**20:.1f} MiB"]
    buffer_of = {tr.instrs[n].outs.i: k for n, k in plan.items()
                 if isinstance(tr.instrs[n].outs, cc._Slot)}
    for i in run.fresh:
        o = tr.objs[i]
        if i in buffer_of:
            lines.append(f"{ind}v{i} = b{buffer_of[i]}")
        else:
            empty = cg.bind(np.empty, "empty")
            lines.append(f"{ind}v{i} = {empty}({tuple(o.shape)!r}, {cg.bind(o.dtype, 'dtype')})")
    inner = ind + "    "
    lines.append(f"{ind}for v_r in range(0, {run.shape[0]}, {run.rows}):")
    lines.append(f"{inner}v_s = slice(v_r, v_r + {run.rows})")
    names = {i: cc._Named(f"v{i}_") for i in run.sliced}
    lines.append(inner + ", ".join(f"v{i}_" for i in run.sliced) + " = "
                 + ", ".join(f"v{i}[v_s]" for i in run.sliced))
    for n in range(run.start, run.end + 1):
        lines.append(inner + _call_line(tr.instrs[n], tr, names, cg))
    lines.append(f"{ind}del v_r, v_s, " + ", ".join(f"v{i}_" for i in run.sliced))
    return lines


def _swap(t: Any, names: dict[int, Any]) -> Any:
    """Template ``t`` with the blocked slots replaced by their block views' names."""
    from chainrule.compile import _Slot

    if isinstance(t, _Slot):
        return names.get(t.i, t)
    if isinstance(t, tuple):
        return tuple(_swap(e, names) for e in t)
    if isinstance(t, list):
        return [_swap(e, names) for e in t]
    if isinstance(t, dict):
        return {k: _swap(v, names) for k, v in t.items()}
    return t


def _call_line(ins: Any, tr: Any, names: dict[int, Any], cg: Any) -> str:
    """One call of a blocked run on block views (a fresh result: written into its view)."""
    from chainrule import compile as cc

    blas = cc._direct_axpy(ins, tr)
    if blas is not None:  # the BLAS routine itself, on the flat block views
        a, x, y = ins.args
        fn = cg.bind(cc._blas_axpy(ins, tr), "blas_axpy")
        flat = "" if tr.objs[y.i].ndim == 1 else ".reshape(-1)"
        alpha = f"v{a.i}" if isinstance(a, cc._Slot) else repr(a)
        return f"{fn}({names[x.i].name}{flat}, {names[y.i].name}{flat}, a={alpha})"
    args = cc._strong_scalars(ins, tr) if isinstance(ins.fn, np.ufunc) else ins.args
    kw = dict(ins.kw)
    if isinstance(ins.outs, cc._Slot):  # a fresh result: its block of the preallocated array
        kw["out"] = (names[ins.outs.i],)
    fname = cg.bind(ins.fn, ins.name.replace("np.", ""))
    return f"{fname}({cg.call_args(_swap(args, names), _swap(kw, names))})"
