"""Each op's ``saves`` declaration matches what its derivative reads (issue 16).

``Function.saves`` names what an op's derivative reads (``"x"``, ``"out"``, ``"x for dy"``);
the recorder takes the version of exactly those tensors and the engine refuses a backward
whose saved tensors were changed in place since. A wrong declaration is a silent bug: an
undeclared read lets an in-place change corrupt the gradient unnoticed, a declared tensor
that is never read refuses valid programs. So, for every node that a registry op's backward
runs through (``tests/op_registry.py``), with the gradient the engine hands it:

* an input that is *not* saved for this call (undeclared, or ``"x for dy"`` with ``y`` not
  needing a gradient) is overwritten in place with poison (NaN, then other finite values),
  and the node's derivative must give the same gradients bit for bit: it did not read it;
* an input or output that *is* saved, poisoned the same way, must change them: it is read.

Both derivatives are checked: the array pass (``vjp`` against the array backend, or a
hand-written ``fast_backward``) and the Tensor pass (``create_graph``). The poison is written
into the arrays themselves, so a read through an alias kept at forward time (``self.x = x``)
counts as a read too, as an in-place change would reach it. A saved item must be read by one
of the two passes; the few registry cases where the maths lets a derivative skip a declared
read (``x ** 0``, a product with a zero) are listed in ``SKIPPED_READS``, and checked to skip
it. ``test_check_*`` show the check failing on deliberately wrong declarations.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from op_registry import OPS, OpSpec, make_inputs

import chainrule
from chainrule.autograd import engine
from chainrule.autograd.function import ARRAYS, Function
from chainrule.ops import elementwise as E
from chainrule.tensor import Tensor, _wrap

GRAD_OPS = [s for s in OPS if s.grad]


# ---- the nodes of a registry op and the gradients the engine hands them -----------------------
def _nodes(outs: list[Tensor]) -> list[Function]:
    """Every node reachable from ``outs`` (each once)."""
    seen: dict[int, Function] = {}
    stack = [o.grad_fn for o in outs if o.grad_fn is not None]
    while stack:
        fn = stack.pop()
        if id(fn) in seen or not isinstance(fn, Function):
            continue
        seen[id(fn)] = fn
        stack.extend(c for c in fn.next if c is not None and not isinstance(c, Tensor))
    return list(seen.values())


def _captured_backward(spec: OpSpec, monkeypatch: pytest.MonkeyPatch,
                       order: int = 1) -> tuple[list, list]:
    """Run ``spec``'s op and its backward (graph retained); return each node with the
    gradient array the engine gave it, and what keeps the graph alive. ``order=2``
    differentiates the op's gradient (taken with ``create_graph``) instead, so the nodes of
    the derivatives' own graph (``ConvWeightGrad``, ``SumTo``...) are checked too."""
    arrays = make_inputs(spec)
    xs = [chainrule.tensor(a.copy(), requires_grad=True) for a in arrays]
    out = spec.fn(chainrule, *xs)
    outs = [o for o in (out if isinstance(out, (tuple, list)) else [out])
            if isinstance(o, Tensor) and o.requires_grad]
    r = np.random.default_rng(zlib.crc32(spec.name.encode()) + order)
    if order == 2:
        cots = [chainrule.tensor(r.standard_normal(tuple(o.shape))) for o in outs]
        gs = chainrule.autograd.grad(outs, xs, cots, create_graph=True, allow_unused=True)
        terms = [(g * chainrule.tensor(r.standard_normal(tuple(g.shape)))).sum()
                 for g in gs if g is not None and g.requires_grad]
        outs = [sum(terms[1:], terms[0])] if terms else []
    nodes = _nodes(outs)
    for fn in nodes:
        fn.extras = True  # the engine then passes each node's gradient to _node_extras
    got: list[tuple[Function, np.ndarray]] = []
    real = engine._node_extras

    def spy(fn: Function, g: Any, arrays: bool, *rest: Any) -> Any:
        got.append((fn, np.array(g, copy=True)))
        return real(fn, g, arrays, *rest)

    monkeypatch.setattr(engine, "_node_extras", spy)
    cots = [chainrule.tensor(r.standard_normal(tuple(o.shape))) for o in outs]
    chainrule.autograd.backward(outs, cots, retain_graph=True)
    monkeypatch.setattr(engine, "_node_extras", real)
    for fn in nodes:
        fn.extras = False
    return got, [xs, outs, out]


# ---- one node: what its derivative reads ------------------------------------------------------
def _derivative(fn: Function, g: np.ndarray, tensors: bool) -> list[Any]:
    """The node's input gradients as arrays, by the engine's array pass or its Tensor pass
    (recorded, as under ``create_graph``)."""
    with chainrule.set_grad_enabled(tensors):
        if tensors:
            out = fn.backward(_wrap(g.copy()))
        elif fn.vjp is not None:
            out = fn.vjp(g.copy(), ARRAYS)
        elif fn.fast_backward is not None:
            out = fn.fast_backward(g.copy())
        else:
            out = engine._backward_on_arrays(fn, g.copy(), Tensor)
    if not isinstance(out, (tuple, list)):
        out = (out,)
    return [None if o is None else np.array(o._array if isinstance(o, Tensor) else o, copy=True)
            for o in out]


def _same(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if (x is None) != (y is None):
            return False
        if x is not None and (x.shape != y.shape or not np.array_equal(x, y, equal_nan=True)):
            return False
    return True


def _poisons(a: np.ndarray) -> Iterator[np.ndarray]:
    """NaN, then values of other signs and sizes (a read made only through comparisons,
    ``x > 0``, is blind to NaN)."""
    yield np.full(a.shape, np.nan, a.dtype)
    yield (-1.7 * a + 0.3).astype(a.dtype)


def _reads(fn: Function, g: np.ndarray, arr: np.ndarray, ref: list[Any],
           tensors: bool) -> bool:
    """Whether the node's derivative reads ``arr``: poisoned in place, does any gradient
    change (or the derivative fail)?"""
    keep = arr.copy()
    try:
        for bad in _poisons(keep):
            arr[...] = bad
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    now = _derivative(fn, g, tensors)
            except Exception:  # (e.g. a factorisation of NaNs): it read the poison
                return True
            if not _same(now, ref):
                return True
        return False
    finally:
        arr[...] = keep


def _saved_now(fn: Function) -> set[int]:
    """The input positions whose versions this node took: what it declared it reads, for
    this call (``"x for dy"`` counts only when y needs a gradient)."""
    if not fn._save_inputs:
        return set()
    return {i for i, v in zip(fn._save_idx, fn.versions) if v is not None}


def _float_array(v: Any) -> np.ndarray | None:
    a = v._array if isinstance(v, Tensor) else None
    if a is None or a.dtype.kind != "f" or not a.flags.writeable or a.size == 0:
        return None
    return a


def check_node(fn: Function, g: np.ndarray) -> tuple[list[str], dict[str, bool]]:
    """Poison each float input (and a saved output) of node ``fn`` in turn, in both passes.

    Returns the undeclared reads, as sentences, and for each item saved in this call
    (``"input i"``, ``"out"``) whether some pass read it.
    """
    name = type(fn).__qualname__
    saved = _saved_now(fn)
    undeclared: list[str] = []
    declared: dict[str, bool] = {}
    for tensors in (False, True):
        path = "Tensor backward" if tensors else "array backward"
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            ref = _derivative(fn, g, tensors)
        groups: dict[int, list[int]] = {}  # one entry per input array: all its positions
        arrays: dict[int, np.ndarray] = {}
        for i, v in enumerate(fn.inputs):
            a = _float_array(v)
            if a is not None:
                groups.setdefault(id(a), []).append(i)
                arrays[id(a)] = a
        for key, where in groups.items():
            read = _reads(fn, g, arrays[key], ref, tensors)
            item = f"input {where[0]}"
            if any(i in saved for i in where):
                declared[item] = declared.get(item, False) or read
            elif read:
                undeclared.append(f"{name} ({path}) reads {item}, not declared saved")
        out = fn.out_ref() if fn._save_out and callable(fn.out_ref) else None
        a = _float_array(out)
        if a is not None and id(a) not in arrays:
            declared["out"] = declared.get("out", False) or _reads(fn, g, a, ref, tensors)
    return undeclared, declared


# ---- the registry-wide checks -----------------------------------------------------------------
def _analyse(spec: OpSpec, order: int) -> tuple[list[str], dict[tuple[str, str], bool]]:
    """Every node of ``spec``'s backward (of its gradient's, ``order=2``) checked: the
    undeclared reads, and for each (op class, item saved) whether it was read."""
    with pytest.MonkeyPatch.context() as mp:
        got, _alive = _captured_backward(spec, mp, order)
    if order == 2 and not got:
        pytest.skip(f"{spec.name}: its gradient does not depend on the inputs")
    assert got, f"{spec.name}: the backward ran through no node"
    undeclared: list[str] = []
    declared: dict[tuple[str, str], bool] = {}
    for fn, g in got:
        if type(fn)._user_style or type(fn).__name__ in UNCHECKED:
            continue
        bad, saved = check_node(fn, g)
        undeclared += bad
        for item, read in saved.items():
            key = (type(fn).__qualname__, item)
            declared[key] = declared.get(key, False) or read
    return list(dict.fromkeys(undeclared)), declared


# registry cases (name, order) whose derivative skips a declared read, as the maths allows
# there (the declaration is per op; the test checks these reads are indeed skipped, so no entry
# goes stale)
SKIPPED_READS = {
    ("pow_scalar0", 1): ["PowScalar: input 0"],  # d(x⁰)/dx = 0 needs no x
    # with a zero, the derivative is built from the products of the other factors
    ("prod_zeros", 1): ["Prod: out"],
    ("prod_zeros_dim_keepdim", 1): ["Prod: out"],
    ("prod_zeros_dim0", 1): ["Prod: out"],
    ("matmul_empty", 1): ["MatMul: input 1"],  # (0, 3) @ (3, 2): dy = xᵀ g is all zeros
    # the convolutions save input and weight for either gradient, as PyTorch's convolution
    # (and its double backward) do: in the gradient's graph the cotangent needs no gradient,
    # so the weight (ConvTranspose, Conv) or the input (ConvWeightGrad) goes unread there
    ("conv2d", 2): ["ConvTranspose: input 1", "ConvWeightGrad: input 0"],
    ("conv2d_stride_groups", 2): ["ConvTranspose: input 1", "ConvWeightGrad: input 0"],
    ("conv_transpose2d", 2): ["Conv: input 1", "ConvWeightGrad: input 1"],
}


@pytest.mark.parametrize("spec, order", [(s, 1) for s in GRAD_OPS]
                         + [(s, 2) for s in GRAD_OPS if s.gradgrad],
                         ids=lambda v: repr(v) if isinstance(v, OpSpec) else f"order{v}")
def test_derivative_reads_exactly_what_is_declared_saved(spec: OpSpec, order: int) -> None:
    """No undeclared read; every item saved for this call is read by the array pass or the
    Tensor pass (the array pass of a fused op may keep what it needs from the forward)."""
    undeclared, declared = _analyse(spec, order)
    assert not undeclared, f"{spec.name}: " + "; ".join(undeclared)
    unread = sorted(f"{cls}: {item}" for (cls, item), r in declared.items() if not r)
    assert unread == SKIPPED_READS.get((spec.name, order), []), (
        f"{spec.name}: declared saved but never read: {unread}")


# ---- the check can fail -----------------------------------------------------------------------
def _one_node(op: Callable[[Tensor, Tensor], Tensor], x_grad: bool = True,
              y_grad: bool = True) -> tuple[Function, np.ndarray, list]:
    r = np.random.default_rng(0)
    x = chainrule.tensor(r.uniform(0.5, 1.5, (3, 4)), requires_grad=x_grad)
    y = chainrule.tensor(r.uniform(0.5, 1.5, (3, 4)), requires_grad=y_grad)
    out = op(x, y)
    return out.grad_fn, r.standard_normal((3, 4)), [x, y, out]


def _misdeclared(base: type[Function], saves: tuple[str, ...]) -> type[Function]:
    """``base`` with another ``saves`` declaration (the same forward and derivative)."""
    return type(base.__name__, (base,), {"saves": saves})


@pytest.mark.parametrize("saves, undeclared", [
    (("x",), ["input 1"]),  # dx = g y reads y
    (("x", "y"), []),
    (("x for dy", "y for dx"), []),  # Mul's own declaration
])
def test_check_flags_an_undeclared_read(saves: tuple[str, ...], undeclared: list[str]) -> None:
    op = _misdeclared(E.Mul, saves)
    fn, g, _alive = _one_node(lambda x, y: op.apply(x, y))
    bad, declared = check_node(fn, g)
    assert sorted({p.split(" reads ")[1].split(",")[0] for p in bad}) == undeclared, bad
    assert all(declared.values()), declared


def test_check_flags_a_declared_input_that_is_never_read() -> None:
    # exp's derivative reads its output only; declaring its input too must be caught
    op = _misdeclared(E.Exp, ("x", "out"))
    fn, g, _alive = _one_node(lambda x, y: op.apply(x) + y)
    bad, declared = check_node(fn.next[0], g)
    assert bad == [] and declared == {"input 0": False, "out": True}


def test_check_flags_a_saved_output_that_is_never_read() -> None:
    op = _misdeclared(E.Mul, ("x for dy", "y for dx", "out"))
    fn, g, _alive = _one_node(lambda x, y: op.apply(x, y))
    assert check_node(fn, g) == ([], {"input 0": True, "input 1": True, "out": False})


def test_x_for_dy_is_not_a_read_when_y_needs_no_gradient() -> None:
    """Mul's x is read only for dy: with y a constant tensor, x is not saved, and the
    derivative (which computes only dx = g y) must not read it."""
    fn, g, _alive = _one_node(lambda x, y: x * y, x_grad=True, y_grad=False)
    assert _saved_now(fn) == {1}
    assert check_node(fn, g) == ([], {"input 1": True})


# ---- every op class is checked (issue 16) -----------------------------------------------------
# The registry's cases never run some op classes' derivatives: the ops the registry does not
# list (nansum, casts, conj, the distributions' helpers, CTC, the fused recurrences, the
# all-reduce), the adjoints that appear only in the graph of a gradient (pooling's and conv's
# bias reduction) and the nodes of the custom-Function and module-hook machinery. These cases
# run them, through the same check as the registry's.
class _TwoOutputs(chainrule.autograd.Function):
    """A custom Function with two outputs whose backward reads no input (its node, and one
    ``_OutputSlot`` per output, then save nothing)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> tuple[Tensor, Tensor]:
        return x * 2.0, x * 3.0

    @staticmethod
    def backward(ctx: Any, g1: Tensor, g2: Tensor) -> Tensor:
        return g1 * 2.0 + g2 * 3.0


def _gradient_of(L: Any, out: Tensor, wrt: Tensor, cot: Tensor) -> Tensor:
    """d<out, cot>/d wrt, recorded: its graph holds the adjoint ops of ``out``'s op (the
    cotangent is an input that requires a gradient)."""
    return L.autograd.grad(out, wrt, cot, create_graph=True)[0]


def _hooked_tanh(L: Any, x: Tensor) -> Tensor:
    m = L.nn.Tanh()
    m.register_full_backward_hook(lambda mod, gi, go: None)  # (the _Gate/_Tap nodes)
    return m(x)


def _lstm(L: Any, x: Tensor) -> Tensor:
    L.manual_seed(0)
    out, _ = L.nn.LSTM(3, 2).double()(x)
    return out


def _ctc(L: Any, x: Tensor) -> Tensor:
    targets = L.tensor([[1, 2], [2, 1]])
    return L.nn.functional.ctc_loss(x.log_softmax(2), targets, (6, 5), (2, 2))


def _support() -> Any:
    from chainrule.distributions import _support

    return _support


EXTRA_OPS = [
    OpSpec("nansum_dim", lambda L, x: L.nansum(x, 1), ((3, 4),)),
    OpSpec("cast_float32", lambda L, x: x.float() * 2.0, ((3, 4),)),
    OpSpec("fft_conj_abs", lambda L, x: L.fft.fft(x).conj().abs(), ((6,),)),
    OpSpec("support_atan", lambda L, x: _support().atan(x), ((3, 4),)),
    OpSpec("support_igamma", lambda L, x: _support().igamma(L.tensor([1.5, 2.5, 0.7]), x),
           ((3,),), domain="pos"),
    OpSpec("von_mises_log_i0", lambda L, x: __import__(
        "chainrule.distributions.more_families", fromlist=["_LogI0"])._LogI0.apply(x),
        ((3, 4),), domain="pos"),
    OpSpec("von_mises_bessel_ratio", lambda L, x: __import__(
        "chainrule.distributions.more_families", fromlist=["_BesselRatio"])._BesselRatio.apply(
        x), ((3, 4),), domain="pos"),
    OpSpec("ctc_loss", _ctc, ((6, 2, 4),)),
    OpSpec("lstm", _lstm, ((4, 2, 3),)),
    OpSpec("allreduce_sum", lambda L, x: __import__(
        "chainrule.distributed.sync_batchnorm", fromlist=["allreduce_sum"]).allreduce_sum(x),
        ((3, 4),)),
    OpSpec("max_pool2d_adjoint", lambda L, x, v: _gradient_of(
        L, L.nn.functional.max_pool2d(x, 2), x, v), ((1, 2, 4, 4), (1, 2, 2, 2)),
        domain=("distinct")),
    OpSpec("avg_pool2d_adjoint", lambda L, x, v: _gradient_of(
        L, L.nn.functional.avg_pool2d(x, 3, stride=2, padding=1), x, v),
        ((1, 2, 5, 5), (1, 2, 3, 3))),
    OpSpec("conv2d_bias_adjoint", lambda L, x, w, b, v: _gradient_of(
        L, L.nn.functional.conv2d(x, w, b, padding=1), b, v),
        ((1, 2, 4, 4), (3, 2, 3, 3), (3,), (1, 3, 4, 4))),
    OpSpec("full_backward_hook", _hooked_tanh, ((3, 4),)),
    OpSpec("custom_function_two_outputs", lambda L, x: _TwoOutputs.apply(x), ((3, 4),)),
]

# op classes the poison check cannot rerun, each with the reason (the coverage test keeps
# this set exact: each must still be reached by a case, or exist)
UNCHECKED = {
    # the node of a once_differentiable backward's result: differentiating it raises by design
    # (PyTorch's DelayedError), so there is no derivative to poison; test_delayed_error_*
    "_DelayedError",
    # the machinery that runs user code in backward on per-pass state (the outputs that
    # received a gradient, the gradients a module's taps collected), which a rerun consumes;
    # both save nothing themselves (``saves = ()``): what the user's backward reads is its
    # own save_for_backward, whose versions tests/test_user_function.py checks
    "_UserFunctionNode",
    "_Gate",
}


@pytest.mark.parametrize("spec", EXTRA_OPS, ids=repr)
def test_unlisted_ops_read_exactly_what_is_declared_saved(spec: OpSpec) -> None:
    """The registry's check on the op classes the registry never runs."""
    undeclared, declared = _analyse(spec, 1)
    assert not undeclared, f"{spec.name}: " + "; ".join(undeclared)
    unread = sorted(f"{cls}: {item}" for (cls, item), r in declared.items() if not r)
    assert unread == SKIPPED_READS.get((spec.name, 1), []), (
        f"{spec.name}: declared saved but never read: {unread}")


# the abstract bases among the op classes: their subclasses are the ops (a ufunc, a formula)
ABSTRACT = {"_FloatUnary", "_Extremum", "_XLog", "_FusedRecurrence"}


def _op_classes() -> set[type[Function]]:
    """Every concrete op class chainrule defines (not a custom Function of PyTorch's style),
    after importing the modules that define op classes outside the core."""
    import chainrule.distributed.sync_batchnorm  # noqa: F401
    import chainrule.distributions  # noqa: F401
    import chainrule.utils.checkpoint  # noqa: F401

    found: set[type[Function]] = set()
    todo = [Function]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if (sub.__module__.startswith("chainrule.") and not sub._user_style
                    and sub.__name__ not in ABSTRACT):
                found.add(sub)
    return found


def _reached(specs: list[tuple[OpSpec, int]]) -> set[type[Function]]:
    """The op classes whose nodes the backward of these (case, order) pairs runs."""
    seen: set[type[Function]] = set()
    for spec, order in specs:
        with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(), \
                np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            got, _alive = _captured_backward(spec, mp, order)
        seen |= {type(fn) for fn, _ in got}
    return seen


def _spec(case: Any) -> OpSpec:
    return case.values[0] if hasattr(case, "values") else case  # (a pytest.param or a spec)


ALL_CASES = ([(s, 1) for s in GRAD_OPS] + [(s, 2) for s in GRAD_OPS if s.gradgrad]
             + [(_spec(s), 1) for s in EXTRA_OPS])


def _unreached(cases: list[tuple[OpSpec, int]]) -> list[str]:
    return sorted(c.__name__ for c in _op_classes() - _reached(cases)
                  if c.__name__ != "_DelayedError")


def test_every_op_class_is_checked() -> None:
    """Each op class with a forward is run by some registry or extra case (so its ``saves``
    is checked), or listed in UNCHECKED with its reason; a stale UNCHECKED entry fails too."""
    assert _unreached(ALL_CASES) == []
    names = {c.__name__ for c in _op_classes()}
    assert names >= UNCHECKED, UNCHECKED - names
    bases = {b.__name__ for c in _op_classes() for b in c.__mro__}
    assert bases >= ABSTRACT, ABSTRACT - bases  # (each still a base of some op)
    reached = {c.__name__ for c in _reached([(_spec(s), 1) for s in EXTRA_OPS])}
    assert UNCHECKED - reached == {"_DelayedError"}  # (run by test_delayed_error_*)


def test_coverage_check_names_an_op_class_left_out() -> None:
    """Without the nansum case, the coverage test names NanSum (the check can fail)."""
    cases = [(s, o) for s, o in ALL_CASES if s.name != "nansum_dim"]
    assert _unreached(cases) == ["NanSum"]


def test_check_flags_a_corrupted_declaration_of_an_unlisted_op() -> None:
    """NanSum's derivative reads x (where it is NaN): declared ``saves = ()`` instead, the
    check reports the undeclared read."""
    from chainrule.ops.reduce import NanSum

    op = _misdeclared(NanSum, ())
    x = chainrule.tensor(np.array([[1.0, np.nan], [2.0, 3.0]]), requires_grad=True)
    out = op.apply(x, dim=1)
    bad, declared = check_node(out.grad_fn, np.ones(2))
    assert bad == ["NanSum (array backward) reads input 0, not declared saved",
                   "NanSum (Tensor backward) reads input 0, not declared saved"], bad


def test_delayed_error_node_refuses_to_be_differentiated() -> None:
    """The one UNCHECKED class: differentiating a once_differentiable gradient raises, so its
    node has nothing to read (``saves = ()``)."""
    from chainrule.autograd.function import once_differentiable
    from chainrule.autograd.user_function import _DelayedError

    class Twice(chainrule.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Tensor) -> Tensor:
            return x * 2.0

        @staticmethod
        @once_differentiable
        def backward(ctx: Any, g: Tensor) -> Tensor:
            return g * 2.0

    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    v = chainrule.tensor([1.0, -1.0], requires_grad=True)  # (a cotangent with a graph)
    (gx,) = chainrule.autograd.grad(Twice.apply(x), x, v, create_graph=True)
    assert type(gx.grad_fn) is _DelayedError and _DelayedError.saves == ()
    with pytest.raises(RuntimeError, match="once_differentiable"):
        gx.sum().backward()
