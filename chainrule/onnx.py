"""``chainrule.onnx``: ``torch.onnx.export``'s call, on chainrule's tracing exporter
(:mod:`chainrule.onnx_export`; needs the ``onnx`` extra).

Example, as a PyTorch script writes it::

    torch.onnx.export(model, (x,), "model.onnx", input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"},
                                                             "logits": {0: "batch"}})

What is supported: one input tensor and one output tensor; ``dynamic_axes`` may name axis 0
(the batch) only; the operators listed in :mod:`chainrule.onnx_export`. As in PyTorch's
default the shapes are fixed to the example's unless ``dynamic_axes`` frees the batch.
Options that select a PyTorch exporter (``dynamo``, ``training``, ``do_constant_folding``,
``operator_export_type``, ...) are accepted and change nothing; ``export_params=False`` and
``keep_initializers_as_inputs=True`` raise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from chainrule.onnx_export import OPSET, ExportError, export_onnx
from chainrule.tensor import Tensor

__all__ = ["export", "ExportError", "OnnxExporterError", "is_in_onnx_export"]

OnnxExporterError = ExportError

_exporting = False


def is_in_onnx_export() -> bool:
    """True while :func:`export` is tracing the model."""
    return _exporting


def _batch_axis(dynamic_axes: Mapping[str, Any] | None, names: list[str]) -> str | None:
    """The name of the dynamic batch axis, or None for a fixed-size graph."""
    if not dynamic_axes:
        return None
    batch = None
    for name, axes in dynamic_axes.items():
        if name not in names:
            raise ExportError(f"dynamic_axes names {name!r}, which is neither an input nor an "
                              f"output name ({names})")
        spec = dict(axes) if isinstance(axes, Mapping) else {a: f"{name}_dynamic_axes_{i + 1}"
                                                           for i, a in enumerate(axes)}
        if set(spec) - {0}:
            raise ExportError(f"dynamic_axes[{name!r}] = {axes!r}: only axis 0 (the batch) can "
                              "be dynamic in chainrule's exporter")
        batch = batch or spec[0]
    return batch


def export(model: Any, args: Any = (), f: str | os.PathLike | Any = None, *,
           kwargs: dict | None = None, verbose: bool | None = None,
           input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
           opset_version: int | None = None, dynamic_axes: Mapping[str, Any] | None = None,
           export_params: bool = True, keep_initializers_as_inputs: bool = False,
           **ignored: Any) -> None:
    """Trace ``model(*args)`` and write ONNX to ``f`` (a path or a binary file object).

    ``dynamic_axes={"input": {0: "batch"}, ...}`` makes the batch axis dynamic; without it
    the graph has the example's fixed shapes, as ``torch.onnx.export``.
    """
    global _exporting
    if f is None:
        raise ExportError("export: give f, the path or file object to write the model to")
    if kwargs:
        raise ExportError("export: keyword inputs (kwargs=) are not supported; pass one tensor")
    if not export_params or keep_initializers_as_inputs:
        raise ExportError("export: parameters are always stored as initializers "
                          "(export_params=True, keep_initializers_as_inputs=False)")
    example = args[0] if isinstance(args, (tuple, list)) and len(args) == 1 else args
    if not isinstance(example, Tensor):
        raise ExportError(f"export: args must be one tensor or a 1-tuple of one, got "
                          f"{type(args).__name__}"
                          + (f" of length {len(args)}" if isinstance(args, (tuple, list))
                             else ""))
    in_name = (list(input_names) or ["input"])[0] if input_names else "input"
    out_name = (list(output_names) or ["output"])[0] if output_names else "output"
    if input_names and len(input_names) > 1 or output_names and len(output_names) > 1:
        raise ExportError("export: one input and one output are supported")
    batch = _batch_axis(dynamic_axes, [in_name, out_name])
    _exporting = True
    try:
        export_onnx(model, tuple(example.shape), f, example=example,
                    dynamic_batch=batch is not None, input_name=in_name, output_name=out_name,
                    batch_name=batch or "batch_size",
                    opset_version=opset_version if opset_version is not None else OPSET)
    finally:
        _exporting = False
