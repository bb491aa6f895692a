"""Export a model to ONNX by tracing one forward pass (extra ``onnx``).

The model runs once in eval mode on an example input that requires grad, so every operation
is recorded in the autograd graph. The exporter then walks that graph from the output:

* the output of a known leaf module (Conv, pooling, BatchNorm, LayerNorm, Linear, Flatten,
  Dropout) becomes that module's ONNX operator, its internals skipped;
* every other node maps its primitive (Add, MatMul, Relu, Reshape, LogSoftmax, ...) to the
  matching ONNX operator;
* ``nn.RNN``/``nn.GRU``/``nn.LSTM`` (any layers, bidirectional, batch_first, an optional
  initial state) become ONNX's ``RNN``/``GRU``/``LSTM`` operators, one per layer;
* parameters and constants become initializers (only those a node reads).

So a model with a hand-written ``forward`` (a residual sum, a reshape) exports as long as its
primitives are in the table; an unknown one raises naming it.

The batch axis (axis 0 of the input and output) is dynamic by default
(``dynamic_batch=True``): the model is traced at a batch of at least 2, reshapes of
batch-dependent tensors keep their leading size free (``-1``), and constants built per
example inside ``forward`` (an all-zero ``h0`` of shape (layers, B, H)) are broadcast to the
runtime batch. To tell those apart, the model is traced at a batch of 13 (the example's rows
repeated): a model whose own constants have an axis of size 13 with identical slices along it
should be exported with a fixed batch. So must a model whose reshapes move the batch away
from the leading axis: ``dynamic_batch=False`` gives a graph of the example's fixed shapes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd.engine import Function
from chainrule.tensor import Tensor, randn

OPSET = 17
_TRACE_BATCH = 13  # the batch size a dynamic-batch export is traced at


class ExportError(RuntimeError):
    """The traced graph holds something the exporter cannot express in ONNX."""


class _Graph:
    """Accumulates ONNX nodes and initializers while walking the traced graph."""

    def __init__(self, input_tensor: Tensor, input_name: str = "input",
                 dynamic_batch: bool = False, opset: int = OPSET) -> None:
        import onnx  # noqa: F401  (fail early with the extra's hint, see export_onnx)

        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.input_name = input_name
        self.names: dict[int, str] = {id(input_tensor): input_name}
        self.keep: list[Any] = []  # keep traced objects alive so ids stay unique
        self.count = 0
        self.opset = opset
        # dynamic batch: which traced tensors depend on the input, and the trace's batch size
        self.dynamic = dynamic_batch
        self.batch = int(input_tensor.shape[0]) if input_tensor.ndim else 1
        self.dependent: set[int] = {id(input_tensor)}
        self._batch_dim: str | None = None
        self.rnn_done: dict[int, dict[str, str]] = {}

    def batch_dim(self) -> str:
        """A 1-element int64 tensor holding the runtime batch size (Shape(input)[0:1])."""
        if self._batch_dim is None:
            shape = self.node("Shape", [self.input_name], "input_shape")
            self._batch_dim = self.node("Slice", [shape, self.const([0], np.int64),
                                                  self.const([1], np.int64)], "batch")
        return self._batch_dim

    def prune(self) -> None:
        """Drop initializers no node reads (onnxruntime warns about each one)."""
        used = {i for n in self.nodes for i in n.input}
        self.inits = [t for t in self.inits if t.name in used]

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value: Any, dtype: Any = np.float32, hint: str = "const") -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        arr = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        out = self.fresh(hint or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out


def _module_op(g: _Graph, m: Any, x: str) -> str:
    """ONNX for a whole leaf module applied to input ``x``."""
    kind = type(m).__name__
    if kind in ("Conv1d", "Conv2d", "Conv3d"):
        from chainrule.nn._functional.conv import conv_pads

        if m.padding_mode != "zeros":
            raise ExportError(f"{kind}: padding_mode={m.padding_mode!r} is not exportable")
        pads = conv_pads(m.padding, m.kernel_size, m.stride, m.dilation)
        inputs = [x, g.const(m.weight._array, m.weight.dtype, "weight")]
        if m.bias is not None:
            inputs.append(g.const(m.bias._array, m.bias.dtype, "bias"))
        return g.node("Conv", inputs, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                      dilations=list(m.dilation), group=m.groups,
                      pads=[p[0] for p in pads] + [p[1] for p in pads])
    if kind in ("MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"):
        n = 1 if kind.endswith("1d") else 2
        k = _tup(m.kernel_size, n)
        s = _tup(m.stride if m.stride is not None else m.kernel_size, n)
        p = _tup(m.padding, n)
        attrs = dict(kernel_shape=k, strides=s, pads=p + p, ceil_mode=int(m.ceil_mode))
        if kind.startswith("Max"):
            return g.node("MaxPool", [x], dilations=_tup(m.dilation, n), **attrs)
        return g.node("AveragePool", [x], count_include_pad=int(m.count_include_pad), **attrs)
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        c = m.num_features
        dt = m.running_mean.dtype if m.running_mean is not None else np.float32
        w = m.weight._array if m.weight is not None else np.ones(c, dt)
        b = m.bias._array if m.bias is not None else np.zeros(c, dt)
        return g.node("BatchNormalization",
                      [x, g.const(w, dt), g.const(b, dt), g.const(m.running_mean._array, dt),
                       g.const(m.running_var._array, dt)], epsilon=float(m.eps))
    if kind == "LayerNorm":
        shape = tuple(m.normalized_shape)
        dt = m.weight.dtype if m.weight is not None else np.float32
        w = m.weight._array if m.weight is not None else np.ones(shape, dt)
        inputs = [x, g.const(w, dt)]
        if getattr(m, "bias", None) is not None:
            inputs.append(g.const(m.bias._array, dt))
        return g.node("LayerNormalization", inputs, axis=-len(shape), epsilon=float(m.eps))
    if kind == "Linear":
        return _linear(g, x, m.weight._array, None if m.bias is None else m.bias._array)
    if kind in ("Dropout", "Dropout1d", "Dropout2d", "AlphaDropout", "Identity"):
        return g.node("Identity", [x])
    raise ExportError(f"module {kind} has no ONNX mapping")


def _tup(v: Any, n: int) -> list[int]:
    return list(v) if isinstance(v, (tuple, list)) else [int(v)] * n


def _linear(g: _Graph, x: str, w: np.ndarray, b: np.ndarray | None,
            ndim: int = 2) -> str:
    """x Wᵀ + b as Gemm (2-D input) or MatMul + Add."""
    if ndim == 2:
        inputs = [x, g.const(w, w.dtype, "weight")]
        if b is not None:
            inputs.append(g.const(b, b.dtype, "bias"))
        return g.node("Gemm", inputs, transB=1)
    out = g.node("MatMul", [x, g.const(w.T, w.dtype, "weight_t")])
    return g.node("Add", [out, g.const(b, b.dtype, "bias")]) if b is not None else out


_MODULE_KINDS = ("Conv1d", "Conv2d", "Conv3d", "MaxPool1d", "MaxPool2d", "AvgPool1d",
                 "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Dropout1d",
                 "Dropout2d", "AlphaDropout", "Identity")


def _unary(op: str) -> Callable:
    return lambda g, fn, ins, out: g.node(op, ins[:1])


def _binary(op: str) -> Callable:
    return lambda g, fn, ins, out: g.node(op, ins[:2])


def _reduce(op: str) -> Callable:
    def emit(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
        axes = list(fn.axes)
        if op != "ReduceSum" and g.opset < 18:  # axes became an input in opset 18
            return g.node(op, [ins[0]], axes=axes, keepdims=int(fn.keepdim))
        return g.node(op, [ins[0], g.const(axes, np.int64, "axes")],
                      keepdims=int(fn.keepdim))
    return emit


def _reshape(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    shape = list(out.shape)
    if g.dynamic and id(fn.inputs[0]) in g.dependent and shape:
        shape[0] = -1  # the leading size follows the runtime batch
    return g.node("Reshape", [ins[0], g.const(shape, np.int64, "shape")])


def _expand(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    shape = list(out.shape)
    x = fn.inputs[0]
    if g.dynamic and shape and id(x) in g.dependent and x.ndim == len(shape) \
            and x.shape[0] == shape[0]:
        shape[0] = 1  # Expand broadcasts: 1 keeps the input's (runtime) leading size
    return g.node("Expand", [ins[0], g.const(shape, np.int64, "shape")])


def _permute(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    return g.node("Transpose", ins[:1], perm=list(fn.dims))


def _log_softmax(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    return g.node("LogSoftmax", ins[:1], axis=int(fn.dim))


def _pow_scalar(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    return g.node("Pow", [ins[0], g.const(fn.inputs[1], out.dtype, "exponent")])


def _linear_op(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    x, w = fn.inputs[0], fn.inputs[1]
    b = fn.inputs[2] if len(fn.inputs) > 2 else None
    return _linear(g, ins[0], w._array, None if b is None else b._array, x.ndim)


def _cat(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    return g.node("Concat", ins, axis=int(fn.dim))


def _clamp(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    lo = g.const(-np.inf if fn.lo is None else fn.lo, out.dtype, "min")
    hi = g.const(np.inf if fn.hi is None else fn.hi, out.dtype, "max")
    return g.node("Clip", [ins[0], lo, hi])


def _getitem(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    """Basic indexing: slices become one ``Slice``; an int index a one-wide slice (negative
    ones counted from the runtime end) then a ``Squeeze`` of that axis."""
    key = fn.key if isinstance(fn.key, tuple) else (fn.key,)
    if not all(isinstance(k, (slice, int, np.integer)) and not isinstance(k, bool)
               for k in key):
        raise ExportError(f"indexing with {fn.key!r} is not exportable (only ints and slices)")
    x = fn.inputs[0]
    end_of_axis = np.iinfo(np.int64).max
    starts, ends, axes, steps, squeeze = [], [], [], [], []
    for axis, k in enumerate(key):
        if not isinstance(k, slice):
            k = int(k)
            starts.append(k)
            ends.append(k + 1 if k != -1 else end_of_axis)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
            continue
        start, stop, step = k.indices(x.shape[axis])
        if (start, stop, step) != (0, x.shape[axis], 1):
            if k.stop is None and step > 0:
                stop = end_of_axis  # "to the end", whatever the runtime size
            starts.append(start)
            ends.append(stop)
            axes.append(axis)
            steps.append(step)
    if not axes:
        return g.node("Identity", ins[:1])
    y = g.node("Slice", [ins[0], g.const(starts, np.int64), g.const(ends, np.int64),
                         g.const(axes, np.int64), g.const(steps, np.int64)])
    return g.node("Squeeze", [y, g.const(squeeze, np.int64)]) if squeeze else y


_PRIMITIVES: dict[str, Callable] = {
    "Add": _binary("Add"), "Sub": _binary("Sub"), "Mul": _binary("Mul"), "Div": _binary("Div"),
    "MatMul": _binary("MatMul"), "Maximum": _binary("Max"), "Minimum": _binary("Min"),
    "Neg": _unary("Neg"), "Exp": _unary("Exp"), "Log": _unary("Log"), "Sqrt": _unary("Sqrt"),
    "Tanh": _unary("Tanh"), "Sigmoid": _unary("Sigmoid"), "Relu": _unary("Relu"),
    "Abs": _unary("Abs"), "Reciprocal": _unary("Reciprocal"), "Clone": _unary("Identity"),
    "Sin": _unary("Sin"), "Cos": _unary("Cos"),
    "Sum": _reduce("ReduceSum"), "Mean": _reduce("ReduceMean"),
    "Reshape": _reshape, "Expand": _expand, "Permute": _permute,
    "LogSoftmax": _log_softmax, "PowScalar": _pow_scalar, "Linear": _linear_op, "Cat": _cat,
    "Clamp": _clamp, "GetItem": _getitem,
}


def _walk(g: _Graph, t: Any, modules: dict[int, Any]) -> str:
    """The ONNX value name of tensor or constant ``t`` (emitting what it depends on)."""
    if not isinstance(t, Tensor):
        return g.const(t, np.float32)
    key = id(t)
    if key in g.names:
        return g.names[key]
    g.keep.append(t)
    if key in modules and modules[key][0] == "rnn":
        _, m, args, which = modules[key]
        name = _rnn_outputs(g, m, args, modules)[which]
        g.dependent.add(key)
    elif key in modules:
        m, inp = modules[key]
        name = _module_op(g, m, _walk(g, inp, modules))
        if id(inp) in g.dependent:
            g.dependent.add(key)
    elif t.grad_fn is None:
        name = _constant(g, t)
    else:
        fn = t.grad_fn
        kind = type(fn).__qualname__  # (the op's name; __name__ is PyTorch's node name)
        if kind not in _PRIMITIVES:
            raise ExportError(f"operation {kind} has no ONNX mapping (supported: "
                              f"{sorted(_PRIMITIVES)} and modules {list(_MODULE_KINDS)})")
        ins = [_walk(g, i, modules) if isinstance(i, Tensor) or _is_number(i) else ""
               for i in fn.inputs if i is not None]
        if any(isinstance(i, Tensor) and id(i) in g.dependent for i in fn.inputs):
            g.dependent.add(key)
        name = _PRIMITIVES[kind](g, fn, [i for i in ins if i], t)
    g.names[key] = name
    return name


def _constant(g: _Graph, t: Tensor) -> str:
    """An initializer; with a dynamic batch, a per-example constant made inside ``forward``
    (one axis of the traced batch size with identical slices along it, e.g. a zero ``h0``)
    becomes one slice broadcast to the runtime batch."""
    a = t._array
    axes = [ax for ax in range(a.ndim) if a.shape[ax] == g.batch] if g.dynamic else []
    axes = [ax for ax in axes if np.all(a == np.take(a, [0], axis=ax))]
    if t.requires_grad or len(axes) != 1:
        return g.const(a, a.dtype, "param" if t.requires_grad else "const")
    ax = axes[0]
    g.dependent.add(id(t))
    row = g.const(np.take(a, [0], axis=ax), a.dtype, "const_row")
    parts = [g.const(list(a.shape[:ax]), np.int64)] if ax else []
    parts.append(g.batch_dim())
    if ax + 1 < a.ndim:
        parts.append(g.const(list(a.shape[ax + 1:]), np.int64))
    shape = g.node("Concat", parts, axis=0) if len(parts) > 1 else parts[0]
    return g.node("Expand", [row, shape])


# ---- recurrent layers ------------------------------------------------------------------------
# ONNX orders the gates differently from PyTorch: GRU z, r, h (PyTorch r, z, n); LSTM i, o, f,
# c (PyTorch i, f, g, o). The rows of each weight are permuted accordingly.
_GATE_ORDER = {"GRU": [1, 0, 2], "LSTM": [0, 3, 1, 2], "RNN_TANH": [0], "RNN_RELU": [0]}
_RNN_OP = {"GRU": "GRU", "LSTM": "LSTM", "RNN_TANH": "RNN", "RNN_RELU": "RNN"}


def _gates(w: np.ndarray, mode: str) -> np.ndarray:
    order = _GATE_ORDER[mode]
    blocks = np.split(w, len(order), axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


def _check_rnn(m: Any) -> None:
    extras = [n for n in ("layer_norm", "batch_norm") if getattr(m, n, False)]
    if getattr(m, "proj_size", 0):
        extras.append("proj_size")
    if extras:
        raise ExportError(f"{type(m).__name__} with {', '.join(extras)} has no ONNX operator")


def _rnn_outputs(g: _Graph, m: Any, args: tuple, modules: dict[int, Any]) -> dict[str, str]:
    """Emit one ONNX RNN/GRU/LSTM node per layer for module call ``(m, args)``; returns the
    value names of its outputs: "y" (PyTorch's output), "h" (h_n) and, for LSTM, "c" (c_n)."""
    key = id(args[0])
    if key in g.rnn_done:
        return g.rnn_done[key]
    _check_rnn(m)
    mode, H = m.mode, m.hidden_size
    D = 2 if m.bidirectional else 1
    x = _walk(g, args[0], modules)
    hx = args[1] if len(args) > 1 else None
    h0 = c0 = None
    if hx is not None:
        h0, c0 = (hx if isinstance(hx, tuple) else (hx, None))
        h0 = _walk(g, h0, modules)
        c0 = _walk(g, c0, modules) if c0 is not None else None
    unbatched = args[0].ndim == 2
    if unbatched:  # (L, H_in) -> (L, 1, H_in); states (D·layers, H) -> (D·layers, 1, H)
        x = g.node("Unsqueeze", [x, g.const([1], np.int64)])
        h0 = g.node("Unsqueeze", [h0, g.const([1], np.int64)]) if h0 else None
        c0 = g.node("Unsqueeze", [c0, g.const([1], np.int64)]) if c0 else None
    elif m.batch_first:  # ONNX's layout 0: (L, N, H_in)
        x = g.node("Transpose", [x], perm=[1, 0, 2])
    hs, cs = [], []
    for layer in range(m.num_layers):
        sfx = ["", "_reverse"][:D]
        dt = getattr(m, f"weight_ih_l{layer}")._array.dtype
        W = np.stack([_gates(getattr(m, f"weight_ih_l{layer}{s}")._array, mode) for s in sfx])
        R = np.stack([_gates(getattr(m, f"weight_hh_l{layer}{s}")._array, mode) for s in sfx])
        inputs = [x, g.const(W, dt, "W"), g.const(R, dt, "R")]
        if m.bias:
            B = np.stack([np.concatenate([_gates(getattr(m, f"bias_ih_l{layer}{s}")._array, mode),
                                          _gates(getattr(m, f"bias_hh_l{layer}{s}")._array, mode)])
                          for s in sfx])
            inputs.append(g.const(B, dt, "B"))
        else:
            inputs.append("")
        inputs.append("")  # sequence_lens: all full length
        states = [(h0, "initial_h")] + ([(c0, "initial_c")] if mode == "LSTM" else [])
        for state, _ in states:
            if state is None:
                inputs.append("")
            else:
                inputs.append(g.node("Slice", [state, g.const([layer * D], np.int64),
                                               g.const([(layer + 1) * D], np.int64),
                                               g.const([0], np.int64)]))
        while inputs and inputs[-1] == "":
            inputs.pop()
        attrs: dict[str, Any] = dict(hidden_size=H,
                                     direction="bidirectional" if D == 2 else "forward")
        if mode == "GRU":
            attrs["linear_before_reset"] = 1  # PyTorch applies r to (W_hn h + b_hn)
        if mode == "RNN_RELU":
            attrs["activations"] = ["Relu"] * D
        from onnx import helper

        outs = [g.fresh("rnn_y"), g.fresh("rnn_h")] + ([g.fresh("rnn_c")] if mode == "LSTM"
                                                      else [])
        g.nodes.append(helper.make_node(_RNN_OP[mode], inputs, outs, **attrs))
        # Y: (L, D, N, H) -> (L, N, D, H) -> (L, N, D·H), PyTorch's concatenated directions
        y = g.node("Transpose", [outs[0]], perm=[0, 2, 1, 3])
        x = g.node("Reshape", [y, g.const([0, 0, -1], np.int64)])
        hs.append(outs[1])
        if mode == "LSTM":
            cs.append(outs[2])
    y = x
    if unbatched:
        y = g.node("Squeeze", [y, g.const([1], np.int64)])
    elif m.batch_first:
        y = g.node("Transpose", [y], perm=[1, 0, 2])
    res = {"y": y, "h": _cat_states(g, hs, unbatched)}
    if mode == "LSTM":
        res["c"] = _cat_states(g, cs, unbatched)
    g.rnn_done[key] = res
    return res


def _cat_states(g: _Graph, states: list[str], unbatched: bool) -> str:
    h = states[0] if len(states) == 1 else g.node("Concat", states, axis=0)
    return g.node("Squeeze", [h, g.const([1], np.int64)]) if unbatched else h


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.ndarray, np.generic)) and not isinstance(v, bool)


def _record(modules: dict[int, Any]) -> Callable:
    def hook(mod: Any, args: tuple, out: Any) -> None:
        if type(mod).__name__ in _RNN_KINDS:
            y, state = out
            h, c = state if isinstance(state, tuple) else (state, None)
            for which, t in (("y", y), ("h", h), ("c", c)):
                if t is not None:
                    modules[id(t)] = ("rnn", mod, args, which)
        elif out is not args[0]:  # identity in eval (Dropout): nothing to emit
            modules[id(out)] = (mod, args[0])
    return hook


_RNN_KINDS = ("RNN", "GRU", "LSTM")


def export_onnx(model: Any, input_shape: tuple[int, ...], path: str | os.PathLike | Any,
                example: Tensor | None = None, *, dynamic_batch: bool = True,
                input_name: str = "input", output_name: str = "output",
                batch_name: str = "batch_size", opset_version: int | None = None) -> Any:
    """Trace ``model`` on an input of ``input_shape`` (or ``example``) and write an ONNX file.

    The batch axis (axis 0 of input and output) is dynamic unless ``dynamic_batch=False``
    (named ``batch_name`` in the graph). The file is checked with ``onnx.checker``; no
    initializer is left unused. ``path`` may also be a writable binary file object. Returns
    the path (or the file object).

    Example::

        export_onnx(zoo.build("cnn"), (1, 1, 40), "cnn.onnx")   # runs on any batch size
    """
    try:
        import onnx
        from onnx import helper
    except ImportError as e:  # pragma: no cover - depends on the extra
        raise ImportError("ONNX export needs the 'onnx' extra: pip install 'chainrule[onnx]'") \
            from e
    opset = OPSET if opset_version is None else int(opset_version)
    if opset < OPSET:
        raise ExportError(f"opset_version {opset} is too old: the exporter emits "
                          f"LayerNormalization, which needs opset >= {OPSET}")
    x = example if example is not None else randn(*input_shape)
    x = x.detach()
    if dynamic_batch and x.ndim:
        # trace at an unusual batch size, so per-example constants made inside forward (their
        # axis has this size) can be told from the model's own
        x = x[np.arange(_TRACE_BATCH) % x.shape[0]]
    x = x.detach().requires_grad_(True)
    modules: dict[int, Any] = {}
    hooks = []
    for _, m in model.named_modules():
        if type(m).__name__ in _MODULE_KINDS + _RNN_KINDS:
            hooks.append(m.register_forward_hook(_record(modules)))
    was = model.training
    model.eval()
    try:
        out = model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    if not isinstance(out, Tensor):
        raise ExportError(f"the model returned {type(out).__name__}; the exporter handles one "
                          "output tensor")
    g = _Graph(x, input_name, dynamic_batch, opset)
    result = _walk(g, out, modules)
    g.nodes.append(helper.make_node("Identity", [result], [output_name]))
    g.prune()
    elem = helper.np_dtype_to_tensor_dtype(x._array.dtype)
    in_shape: list[Any] = list(x.shape)
    out_shape: list[Any] = list(out.shape)
    if dynamic_batch and in_shape:
        in_shape[0] = batch_name
        if out_shape and id(out) in g.dependent:
            out_shape[0] = batch_name
    graph = helper.make_graph(
        g.nodes, "chainrule_model",
        [helper.make_tensor_value_info(input_name, elem, in_shape)],
        [helper.make_tensor_value_info(output_name, elem, out_shape)],
        initializer=g.inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="chainrule")
    proto.ir_version = min(proto.ir_version, 9)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if hasattr(path, "write"):
        path.write(data)
        return path
    from chainrule.serialization import atomic_write

    atomic_write(path, data)
    return os.fspath(path)
