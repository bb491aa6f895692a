"""Collation: a list of samples becomes one batch (PyTorch's ``default_collate`` rules).

Tensors and NumPy arrays are stacked along a new first dimension; Python floats become a
float64 tensor, ints an int64 tensor (ints mixed with floats: the default float dtype);
strings stay a list; mappings, named tuples and sequences are collated field by field (a tuple
sample gives a list, as in PyTorch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.backend import xp
from chainrule.tensor import Tensor, _wrap, tensor

__all__ = ["default_collate", "default_convert"]


def _stack(arrays: list[np.ndarray], what: str) -> np.ndarray:
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise RuntimeError(
            f"default_collate: {what} in a batch must have equal shapes to be stacked, "
            f"got {sorted(shapes)}; pass a collate_fn that pads them"
        )
    return xp.stack(arrays)


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch.

    Example::

        default_collate([(chainrule.ones(2), 0), (chainrule.zeros(2), 1)])
        # [tensor([[1., 1.], [0., 0.]]), tensor([0, 1])]
    """
    if len(batch) == 0:
        raise ValueError("default_collate: cannot collate an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _wrap(_stack([b._array for b in batch], "tensors"))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "USO":
            raise TypeError(f"default_collate: arrays of dtype {elem.dtype} cannot be batched")
        return _wrap(_stack([np.asarray(b) for b in batch], "arrays"))
    if isinstance(elem, np.generic):
        return _wrap(np.asarray(batch, dtype=elem.dtype))
    if isinstance(elem, bool):
        return _wrap(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, float):
        return _wrap(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):
        if all(isinstance(b, int) for b in batch):
            return _wrap(np.asarray(batch, dtype=np.int64))
        # PyTorch: torch.tensor(batch) infers the type from every value, so [1, 2.5] becomes
        # the default float dtype; int64 would silently truncate 2.5 to 2
        return tensor(list(batch))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(
        "default_collate: batch must contain tensors, NumPy arrays, numbers, dicts or lists; "
        f"found {type(elem).__name__}"
    )


def default_convert(data: Any) -> Any:
    """Convert NumPy arrays (also inside containers) to Tensors without adding a batch dim."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "USO":
        return _wrap(data)
    if isinstance(data, np.generic):
        return _wrap(np.asarray(data))
    if isinstance(data, Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data
