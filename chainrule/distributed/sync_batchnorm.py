"""Synchronised batch normalisation: BatchNorm over the global batch of all ranks.

Each rank holds a shard x_r of the global batch. In training the statistics are the global
ones, computed from all-reduced sums (two passes, for the same numerical stability as the
single-process layer):

    n = Σ_r n_r,   μ = (Σ_r Σ x_r) / n,   σ² = (Σ_r Σ (x_r − μ)²) / n,
    y_r = (x_r − μ) / √(σ² + ε) · γ + β,

so the outputs, the gradients and the running statistics (updated with μ and the unbiased
σ²·n/(n − 1)) equal those of a single-process BatchNorm on the whole batch. The all-reduce is
differentiable (its backward all-reduces the incoming gradient), so the backward pass also
sums the gradients of the statistics over the ranks, which every rank's input gradient needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.engine import Function
from chainrule.distributed.communicator import Communicator, get_world
from chainrule.nn._functional.normalization import (
    _channel_view,
    _mask_array,
    _stat_dims,
    _update,
    lengths_to_mask,
)
from chainrule.nn.modules.module import Module
from chainrule.nn.modules.normalization import _BatchNorm
from chainrule.tensor import Tensor, _wrap, apply, cat

__all__ = ["SyncBatchNorm", "convert_sync_batchnorm", "sync_batch_norm", "allreduce_sum"]


class AllReduceSum(Function):
    """y = Σ_r x_r on every rank; its vector-Jacobian product is again Σ_r g_r (the total
    loss Σ_k L_k depends on x_r through every rank's y)."""

    saves = ()

    def forward(self, x: np.ndarray, comm: Communicator) -> np.ndarray:
        self.comm = comm
        out = np.array(x, copy=True)
        comm.allreduce_(out, "sum")
        return out

    def fast_backward(self, g: np.ndarray) -> tuple[Any, None]:
        out = np.array(g, copy=True)
        self.comm.allreduce_(out, "sum")
        return out, None

    def backward(self, g: Tensor) -> tuple[Any, None]:
        return apply(AllReduceSum, g, self.comm), None


def allreduce_sum(x: Tensor, comm: Communicator | None = None) -> Tensor:
    """Differentiable all-reduce: Σ over the ranks of ``x`` (same shape on every rank).

    Example::

        total = allreduce_sum(local_sums)      # gradients flow back to every rank
    """
    return apply(AllReduceSum, x, comm if comm is not None else get_world())


def sync_batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None, bias: Tensor | None, momentum: float, eps: float,
                    comm: Communicator, mask: Any = None) -> Tensor:
    """Batch normalisation with statistics over every rank's batch (formula in the module
    docstring); ``mask`` (N, *spatial) keeps padded elements out of the statistics.

    Example::

        y = sync_batch_norm(x, None, None, None, None, 0.1, 1e-5, get_world())
    """
    c = input.shape[1]
    dims = _stat_dims(input)
    mw = None
    if mask is None:
        local_n = input.numel() // c
        s = input.sum(dims)
    else:
        m = _mask_array(mask, input)
        mw = _wrap(m)
        local_n = float(m.sum())
        s = (input * mw).sum(dims)
    # the count rides in the same message as the sums (one all-reduce for both)
    packed = allreduce_sum(cat([s, _wrap(np.array([local_n], dtype=input.dtype))]), comm)
    n = float(packed._array[c])
    if n == 0:
        raise ValueError("SyncBatchNorm: the mask selects no element on any rank")
    mean = packed[:c] / n
    d = input - _channel_view(mean, input.ndim)
    sq = d * d if mw is None else d * d * mw
    var = allreduce_sum(sq.sum(dims), comm) / n
    if running_mean is not None and running_var is not None and n > 1:
        _update(running_mean, mean._array, momentum)
        _update(running_var, var._array * (n / (n - 1)), momentum)
    scale = (var + eps).rsqrt()
    if weight is not None:
        scale = scale * weight
    out = d * _channel_view(scale, input.ndim)
    return out + _channel_view(bias, input.ndim) if bias is not None else out


class SyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the global batch over all ranks of
    ``comm`` (the world communicator when None): with R ranks of batch B it equals
    ``BatchNorm`` on the R·B examples (formula in the module docstring). Takes inputs
    (N, C, *) of any rank; evaluation uses the running statistics and communicates nothing.
    ``process_group`` is PyTorch's name for ``comm``.

    Example::

        bn = SyncBatchNorm(16)                 # under mpirun: statistics over all ranks
        y = bn(chainrule.randn(8, 16, 10))
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Communicator | None = None, device: Any = None,
                 dtype: Any = None, *, comm: Communicator | None = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.comm = comm if comm is not None else process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (N, C, *), got "
                             f"{input.ndim}D input of size {list(input.shape)}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: expected {self.num_features} channels (dim 1), "
                             f"got input of size {list(input.shape)}")

    def forward(self, input: Tensor, mask: Any = None, lengths: Any = None) -> Tensor:
        """Normalise with global batch statistics in training (see the class docstring)."""
        comm = self.comm if self.comm is not None else get_world()
        if not self.training or comm.world_size == 1:
            return super().forward(input, mask=mask, lengths=lengths)
        self._check_input_dim(input)
        if lengths is not None:
            if mask is not None:
                raise ValueError("SyncBatchNorm: give mask or lengths, not both")
            mask = lengths_to_mask(lengths, input.shape[2])
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked._array += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked._array)
        return sync_batch_norm(input, self.running_mean, self.running_var, self.weight,
                               self.bias, momentum, self.eps, comm, mask=mask)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Communicator | None = None
                               ) -> Module:
        """Replace every BatchNorm layer of ``module`` (see :func:`convert_sync_batchnorm`)."""
        return convert_sync_batchnorm(module, process_group)


def convert_sync_batchnorm(model: Module, comm: Communicator | None = None) -> Module:
    """``model`` with every BatchNorm1d/2d/3d replaced by a :class:`SyncBatchNorm` that shares
    its parameters, buffers and training mode (a BatchNorm ``model`` itself is replaced and
    the new layer returned).

    Example::

        model = convert_sync_batchnorm(nn.Sequential(nn.Conv1d(1, 8, 3), nn.BatchNorm1d(8)))
    """
    out = model
    if isinstance(model, _BatchNorm) and not isinstance(model, SyncBatchNorm):
        out = SyncBatchNorm(model.num_features, model.eps, model.momentum, model.affine,
                            model.track_running_stats, comm=comm)
        for name in ("weight", "bias"):
            out._parameters[name] = model._parameters.get(name)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            out._buffers[name] = model._buffers.get(name)
        out.train(model.training)
    for name, child in list(model.named_children()):
        new = convert_sync_batchnorm(child, comm)
        if new is not child:
            out.add_module(name, new)
    return out
