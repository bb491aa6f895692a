"""``chainrule.summary(model, input_size=...)``: a torchinfo-style table of a model.

One forward pass on generated inputs (no graph, eval mode unless ``mode='train'``) records each
module's output shape through forward hooks; the table lists layers by nesting depth with their
output shapes and parameter counts, then totals (trainable / non-trainable), multiply-adds and a
memory estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd.engine import no_grad
from chainrule.backend import is_floating, to_dtype
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor, _wrap

__all__ = ["summary", "ModelStatistics", "LayerInfo"]

_MB = 1e6


@dataclass
class LayerInfo:
    """One row: a module, where it sits, what it produced and what it holds."""

    name: str
    class_name: str
    depth: int
    depth_index: int
    input_shape: list | None = None
    output_shape: list | None = None
    own_params: int = 0
    total_params: int = 0
    trainable: bool = True
    mult_adds: int = 0
    output_bytes: int = 0
    is_leaf: bool = True

    @property
    def label(self) -> str:
        return f"{self.class_name}: {self.depth}-{self.depth_index}" if self.depth else \
            self.class_name


@dataclass
class ModelStatistics:
    """What ``summary`` measured; ``str(stats)`` is the table."""

    layers: list[LayerInfo]
    total_params: int
    trainable_params: int
    total_mult_adds: int
    input_bytes: int
    forward_backward_bytes: int
    params_bytes: int
    col_names: tuple[str, ...] = ("output_size", "num_params")
    col_width: int = 25
    depth: int = 3
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_bytes(self) -> int:
        return self.input_bytes + self.forward_backward_bytes + self.params_bytes

    def __str__(self) -> str:
        return _render(self)

    __repr__ = __str__


_HEADERS = {
    "input_size": "Input Shape",
    "output_size": "Output Shape",
    "num_params": "Param #",
    "trainable": "Trainable",
    "mult_adds": "Mult-Adds",
}


def _cell(layer: LayerInfo, col: str) -> str:
    if col == "input_size":
        return str(layer.input_shape) if layer.input_shape is not None else "--"
    if col == "output_size":
        return str(layer.output_shape) if layer.output_shape is not None else "--"
    if col == "num_params":
        if layer.own_params:
            return f"{layer.own_params:,}"
        return f"({layer.total_params:,})" if layer.total_params and not layer.is_leaf else "--"
    if col == "trainable":
        return str(layer.trainable) if layer.total_params else "--"
    if col == "mult_adds":
        return f"{layer.mult_adds:,}" if layer.mult_adds else "--"
    raise ValueError(f"summary: unknown column {col!r} (choose from {sorted(_HEADERS)})")


def _prefix(depth: int) -> str:
    """torchinfo's tree marks: ├─ at depth 1, │ indents and └─ below."""
    if depth == 0:
        return ""
    if depth == 1:
        return "├─"
    return "│    " * (depth - 1) + "└─"


def _render(s: ModelStatistics) -> str:
    first = 40
    width = first + s.col_width * len(s.col_names)
    rule = "=" * width
    lines = [rule, "Layer (type:depth-idx)".ljust(first)
             + "".join(_HEADERS[c].ljust(s.col_width) for c in s.col_names), rule]
    for layer in s.layers:
        if layer.depth > s.depth:
            continue
        left = (_prefix(layer.depth) + layer.label).ljust(first)
        lines.append(left + "".join(_cell(layer, c).ljust(s.col_width) for c in s.col_names))
    lines += [
        rule,
        f"Total params: {s.total_params:,}",
        f"Trainable params: {s.trainable_params:,}",
        f"Non-trainable params: {s.non_trainable_params:,}",
        f"Total mult-adds (M): {s.total_mult_adds / _MB:.2f}",
        rule,
        f"Input size (MB): {s.input_bytes / _MB:.2f}",
        f"Forward/backward pass size (MB): {s.forward_backward_bytes / _MB:.2f}",
        f"Params size (MB): {s.params_bytes / _MB:.2f}",
        f"Estimated Total Size (MB): {s.total_bytes / _MB:.2f}",
        rule,
    ]
    return "\n".join(line.rstrip() for line in lines)


def _shape_of(x: Any) -> list | None:
    if isinstance(x, Tensor):
        return list(x.shape)
    if isinstance(x, (tuple, list)) and x:
        shapes = [_shape_of(v) for v in x]
        return shapes[0] if len(shapes) == 1 else shapes
    if isinstance(x, dict) and x:
        return _shape_of(list(x.values()))
    return None


def _tensors(x: Any) -> list[Tensor]:
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in _tensors(v)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _tensors(v)]
    return []


def _mult_adds(module: Module, output: Any) -> int:
    """Multiply-adds of Linear-like and convolution-like layers (others count 0)."""
    w = module._parameters.get("weight")
    outs = _tensors(output)
    if w is None or not outs:
        return 0
    n_out = outs[0].numel()
    if w.ndim == 2 and hasattr(module, "in_features"):
        return n_out * w.shape[1]
    if w.ndim >= 3:  # convolutions: one dot product of a filter per output element
        return n_out * int(np.prod(w.shape[1:]))
    return 0


def _make_inputs(input_size: Any, dtypes: Sequence[Any] | None) -> list[Tensor]:
    sizes = [input_size] if input_size and isinstance(input_size[0], int) else list(input_size)
    dts = list(dtypes) if dtypes is not None else [None] * len(sizes)
    if len(dts) != len(sizes):
        raise ValueError(
            f"summary: got {len(sizes)} input sizes but {len(dts)} dtypes ({dts})"
        )
    rng = np.random.default_rng(0)
    out = []
    for size, dt in zip(sizes, dts):
        d = to_dtype(dt)
        arr = rng.standard_normal(tuple(size)).astype(d) if is_floating(d) else np.zeros(
            tuple(size), dtype=d)
        out.append(_wrap(arr))
    return out


def _record(model: Module, args: list[Any], kwargs: dict) -> dict[int, tuple[Any, Any, int]]:
    """Run the model once; return id(module) -> (input shape, output shape, mult-adds)."""
    seen: dict[int, tuple[Any, Any, int]] = {}
    handles = []

    def hook(module: Module, inputs: tuple, output: Any) -> None:
        if id(module) not in seen:
            seen[id(module)] = (_shape_of(inputs), output, _mult_adds(module, output))

    for m in model.modules():
        handles.append(m.register_forward_hook(hook))
    try:
        with no_grad():
            model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return seen


def _layers(model: Module, seen: dict[int, tuple[Any, Any, int]]) -> list[LayerInfo]:
    layers: list[LayerInfo] = []
    counted: set[int] = set()

    def visit(m: Module, name: str, depth: int, idx: int) -> None:
        own = [p for p in m._parameters.values() if p is not None and id(p) not in counted]
        counted.update(id(p) for p in own)
        params = list(m.parameters())
        info = LayerInfo(
            name=name, class_name=type(m).__name__, depth=depth, depth_index=idx,
            own_params=sum(p.numel() for p in own),
            total_params=sum(p.numel() for p in params),
            trainable=all(p.requires_grad for p in params) if params else True,
            is_leaf=not any(True for _ in m.children()),
        )
        if id(m) in seen:
            in_shape, output, info.mult_adds = seen[id(m)]
            info.input_shape = in_shape
            info.output_shape = _shape_of(output)
            info.output_bytes = sum(t.numel() * t.element_size() for t in _tensors(output))
        layers.append(info)
        for k, (child_name, child) in enumerate(m.named_children(), start=1):
            visit(child, f"{name}.{child_name}" if name else child_name, depth + 1, k)

    visit(model, "", 0, 0)
    return layers


def summary(model: Module, input_size: Sequence[int] | Sequence[Sequence[int]] | None = None,
            input_data: Any = None, dtypes: Sequence[Any] | None = None,
            col_names: Sequence[str] = ("output_size", "num_params"), col_width: int = 25,
            depth: int = 3, mode: str = "eval", verbose: int = 1,
            **kwargs: Any) -> ModelStatistics:
    """Print (``verbose=1``) and return a torchinfo-style summary of ``model``.

    ``input_size`` includes the batch dimension: ``(64, 1, 28, 28)`` for one input or a list of
    shapes for several, with ``dtypes`` one per input (float32 by default; integer inputs are
    zeros, e.g. for an ``Embedding``). ``input_data`` passes real tensors instead. Extra keyword
    arguments go to ``forward``. Columns: any of input_size, output_size, num_params,
    trainable, mult_adds.

    Example::

        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        stats = chainrule.summary(model, input_size=(32, 784))
        stats.trainable_params      # 101770
    """
    if input_data is None and input_size is None:
        raise ValueError("summary: give input_size=(batch, ...) or input_data")
    if input_data is not None:
        args = list(input_data) if isinstance(input_data, (tuple, list)) else [input_data]
    else:
        args = _make_inputs(input_size, dtypes)
    modes = {id(m): m.training for m in model.modules()}
    if mode in ("eval", "train"):
        model.train(mode == "train")
    elif mode != "same":
        raise ValueError(f"summary: mode must be 'eval', 'train' or 'same', got {mode!r}")
    try:
        seen = _record(model, args, kwargs)
    finally:
        for m in model.modules():
            m.__dict__["training"] = modes[id(m)]
    layers = _layers(model, seen)
    params = list(model.parameters())
    leaf_outputs = sum(layer.output_bytes for layer in layers if layer.is_leaf)
    stats = ModelStatistics(
        layers=layers,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_mult_adds=sum(layer.mult_adds for layer in layers),
        input_bytes=sum(t.numel() * t.element_size() for t in _tensors(args)),
        forward_backward_bytes=2 * leaf_outputs,  # activations and their gradients
        params_bytes=sum(p.numel() * p.element_size() for p in params),
        col_names=tuple(col_names),
        col_width=col_width,
        depth=depth,
    )
    for c in stats.col_names:
        if c not in _HEADERS:
            raise ValueError(f"summary: unknown column {c!r} (choose from {sorted(_HEADERS)})")
    if verbose:
        print(stats)
    return stats
