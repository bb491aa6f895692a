"""Max unpooling, power-average (LP) pooling and ``pdist``: composites of recorded ops, so
their gradients come from those ops.

* ``max_unpool{1,2,3}d(x, indices, ...)``: zeros of the pre-pooling size (H_out = (H − 1)·s −
  2·pad + k per spatial axis, or ``output_size``) with x written at ``indices`` (the flat
  positions ``max_pool(..., return_indices=True)`` returned); dx = g at those positions.
* ``lp_pool{1,2,3}d(x, p, k, s)``: (Σ_window xᵖ)^(1/p) = (avg_pool(xᵖ) · |window|)^(1/p), with
  PyTorch's sign(·)·relu(|·|) guard before the root.
* ``pdist(x, p)``: ‖x_i − x_j‖_p for i < j, in row-major order of the pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule.backend import xp
from chainrule.nn._functional import pooling as P
from chainrule.tensor import Tensor, _wrap

__all__ = ["max_unpool1d", "max_unpool2d", "max_unpool3d", "lp_pool1d", "lp_pool2d",
           "lp_pool3d", "pdist"]


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, Sequence) else (v,) * n


def _max_unpool(x: Tensor, indices: Tensor, kernel_size: Any, stride: Any, padding: Any,
                output_size: Any, n: int) -> Tensor:
    k = _tuple(kernel_size, n)
    s = _tuple(stride if stride is not None else kernel_size, n)
    pad = _tuple(padding, n)
    spatial = tuple(x.shape[-n:])
    default = tuple((spatial[i] - 1) * s[i] - 2 * pad[i] + k[i] for i in range(n))
    if output_size is None:
        size = default
    else:
        size = tuple(output_size)[-n:]
        for i in range(n):
            lo, hi = default[i] - s[i], default[i] + s[i]
            if not lo < size[i] < hi:
                raise ValueError(f"invalid output_size {tuple(output_size)} (dim {i} must be "
                                 f"between {lo} and {hi})")
    lead = tuple(x.shape[:-n])
    flat = math.prod(size)
    idx = indices._array.reshape(lead + (-1,)) if isinstance(indices, Tensor) else \
        xp.asarray(indices).reshape(lead + (-1,))
    if idx.size and (idx.min() < 0 or idx.max() >= flat):
        raise RuntimeError(f"Found an invalid max index: {int(idx.max())} (output volumes are "
                           f"of size {'x'.join(map(str, size))})")
    zeros = _wrap(xp.zeros(lead + (flat,), dtype=x._array.dtype))
    out = zeros.scatter(len(lead), _wrap(idx.astype(xp.int64)), x.reshape(lead + (-1,)))
    return out.reshape(lead + size)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """Partial inverse of ``max_pool1d``: (N, C, L) → (N, C, L_out)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """Partial inverse of ``max_pool2d``: (N, C, H, W) → (N, C, H_out, W_out)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """Partial inverse of ``max_pool3d``."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3)


def _lp_pool(x: Tensor, norm_type: float, kernel_size: Any, stride: Any, ceil_mode: bool,
             n: int) -> Tensor:
    k = _tuple(kernel_size, n)
    avg = (P.avg_pool1d, P.avg_pool2d, P.avg_pool3d)[n - 1]
    out = avg(x.pow(norm_type), k, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(math.prod(k)).pow(1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """(Σ_window xᵖ)^(1/p) over windows of (N, C, L)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """(Σ_window xᵖ)^(1/p) over windows of (N, C, H, W)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """(Σ_window xᵖ)^(1/p) over windows of (N, C, D, H, W)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3)


def pdist(input: Tensor, p: float = 2.0) -> Tensor:
    """The n(n − 1)/2 distances ‖x_i − x_j‖_p, i < j, of the rows of a 2-D input."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    i, j = xp.triu_indices(input.shape[0], 1)
    diff = input[_wrap(i)] - input[_wrap(j)]
    return diff.norm(p=p, dim=1)
