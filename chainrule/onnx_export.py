"""Export a model to ONNX by tracing one forward pass (extra ``onnx``).

The model runs once in eval mode on an example input that requires grad, so every operation
is recorded in the autograd graph. The exporter then walks that graph from the output:

* the output of a known leaf module (Conv, pooling, BatchNorm, LayerNorm, Linear, Flatten,
  Dropout) becomes that module's ONNX operator, its internals skipped;
* every other node maps its primitive (Add, MatMul, Relu, Reshape, LogSoftmax, ...) to the
  matching ONNX operator;
* parameters and constants become initializers.

So a model with a hand-written ``forward`` (a residual sum, a reshape) exports as long as its
primitives are in the table; an unknown one raises naming it. Shapes are static (the example
input's), which is what a fixed-size deployment needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd.engine import Function
from chainrule.tensor import Tensor, randn

OPSET = 17


class ExportError(RuntimeError):
    """The traced graph holds something the exporter cannot express in ONNX."""


class _Graph:
    """Accumulates ONNX nodes and initializers while walking the traced graph."""

    def __init__(self, input_tensor: Tensor) -> None:
        import onnx  # noqa: F401  (fail early with the extra's hint, see export_onnx)

        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.names: dict[int, str] = {id(input_tensor): "input"}
        self.keep: list[Any] = []  # keep traced objects alive so ids stay unique
        self.count = 0

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
        inputs = [x, g.const(m.weight.data, m.weight.dtype, "weight")]
        if m.bias is not None:
            inputs.append(g.const(m.bias.data, m.bias.dtype, "bias"))
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
        w = m.weight.data if m.weight is not None else np.ones(c, dt)
        b = m.bias.data if m.bias is not None else np.zeros(c, dt)
        return g.node("BatchNormalization",
                      [x, g.const(w, dt), g.const(b, dt), g.const(m.running_mean.data, dt),
                       g.const(m.running_var.data, dt)], epsilon=float(m.eps))
    if kind == "LayerNorm":
        shape = tuple(m.normalized_shape)
        dt = m.weight.dtype if m.weight is not None else np.float32
        w = m.weight.data if m.weight is not None else np.ones(shape, dt)
        inputs = [x, g.const(w, dt)]
        if getattr(m, "bias", None) is not None:
            inputs.append(g.const(m.bias.data, dt))
        return g.node("LayerNormalization", inputs, axis=-len(shape), epsilon=float(m.eps))
    if kind == "Linear":
        return _linear(g, x, m.weight.data, None if m.bias is None else m.bias.data)
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
        return g.node(op, [ins[0], g.const(axes, np.int64, "axes")],
                      keepdims=int(fn.keepdim))
    return emit


def _reshape(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    return g.node("Reshape", [ins[0], g.const(list(out.shape), np.int64, "shape")])


def _expand(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    return g.node("Expand", [ins[0], g.const(list(out.shape), np.int64, "shape")])


def _permute(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    return g.node("Transpose", ins[:1], perm=list(fn.dims))


def _log_softmax(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    return g.node("LogSoftmax", ins[:1], axis=int(fn.dim))


def _pow_scalar(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    return g.node("Pow", [ins[0], g.const(fn.inputs[1], out.dtype, "exponent")])


def _linear_op(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    x, w = fn.inputs[0], fn.inputs[1]
    b = fn.inputs[2] if len(fn.inputs) > 2 else None
    return _linear(g, ins[0], w.data, None if b is None else b.data, x.ndim)


def _cat(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    return g.node("Concat", ins, axis=int(fn.dim))


def _clamp(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    lo = g.const(-np.inf if fn.lo is None else fn.lo, out.dtype, "min")
    hi = g.const(np.inf if fn.hi is None else fn.hi, out.dtype, "max")
    return g.node("Clip", [ins[0], lo, hi])


def _getitem(g: _Graph, fn: Function, ins: list[str], out: Tensor) -> str:
    key = fn.key if isinstance(fn.key, tuple) else (fn.key,)
    if not all(isinstance(k, slice) or k is Ellipsis for k in key) or Ellipsis in key:
        raise ExportError(f"indexing with {fn.key!r} is not exportable (only slices)")
    x = fn.inputs[0]
    starts, ends, axes, steps = [], [], [], []
    for axis, k in enumerate(key):
        start, stop, step = k.indices(x.shape[axis])
        if (start, stop, step) != (0, x.shape[axis], 1):
            starts.append(start)
            ends.append(stop)
            axes.append(axis)
            steps.append(step)
    if not axes:
        return g.node("Identity", ins[:1])
    return g.node("Slice", [ins[0], g.const(starts, np.int64), g.const(ends, np.int64),
                            g.const(axes, np.int64), g.const(steps, np.int64)])


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


def _walk(g: _Graph, t: Any, modules: dict[int, tuple[Any, Tensor]]) -> str:
    """The ONNX value name of tensor or constant ``t`` (emitting what it depends on)."""
    if not isinstance(t, Tensor):
        return g.const(t, np.float32)
    key = id(t)
    if key in g.names:
        return g.names[key]
    g.keep.append(t)
    if key in modules:
        m, inp = modules[key]
        name = _module_op(g, m, _walk(g, inp, modules))
    elif t.grad_fn is None:
        name = g.const(t.data, t.data.dtype, "param" if t.requires_grad else "const")
    else:
        fn = t.grad_fn
        kind = type(fn).__name__
        if kind not in _PRIMITIVES:
            raise ExportError(f"operation {kind} has no ONNX mapping (supported: "
                              f"{sorted(_PRIMITIVES)} and modules {list(_MODULE_KINDS)})")
        ins = [_walk(g, i, modules) if isinstance(i, Tensor) or _is_number(i) else ""
               for i in fn.inputs if i is not None]
        name = _PRIMITIVES[kind](g, fn, [i for i in ins if i], t)
    g.names[key] = name
    return name


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.ndarray, np.generic)) and not isinstance(v, bool)


def _record(modules: dict[int, tuple[Any, Tensor]]) -> Callable:
    def hook(mod: Any, args: tuple, out: Any) -> None:
        if out is not args[0]:  # identity in eval (Dropout): nothing to emit
            modules[id(out)] = (mod, args[0])
    return hook


def export_onnx(model: Any, input_shape: tuple[int, ...], path: str | os.PathLike,
                example: Tensor | None = None) -> str:
    """Trace ``model`` on an input of ``input_shape`` (or ``example``) and write an ONNX file.

    The file is checked with ``onnx.checker``. Returns the path.

    Example::

        export_onnx(zoo.build("cnn"), (1, 1, 40), "cnn.onnx")
    """
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError as e:  # pragma: no cover - depends on the extra
        raise ImportError("ONNX export needs the 'onnx' extra: pip install 'chainrule[onnx]'") \
            from e
    x = example if example is not None else randn(*input_shape)
    x = x.detach().requires_grad_(True)
    modules: dict[int, tuple[Any, Tensor]] = {}
    hooks = []
    for _, m in model.named_modules():
        if type(m).__name__ in _MODULE_KINDS:
            hooks.append(m.register_forward_hook(_record(modules)))
    was = model.training
    model.eval()
    try:
        out = model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    g = _Graph(x)
    result = _walk(g, out, modules)
    g.nodes.append(helper.make_node("Identity", [result], ["output"]))
    elem = helper.np_dtype_to_tensor_dtype(x.data.dtype) if hasattr(
        helper, "np_dtype_to_tensor_dtype") else TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes, "chainrule_model",
        [helper.make_tensor_value_info("input", elem, list(x.shape))],
        [helper.make_tensor_value_info("output", elem, list(out.shape))],
        initializer=g.inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="chainrule")
    proto.ir_version = min(proto.ir_version, 9)
    onnx.checker.check_model(proto)
    from chainrule.serialization import atomic_write

    atomic_write(path, proto.SerializeToString())
    return os.fspath(path)
