"""nn modules: BatchNorm1d/2d/3d (with masks for padded sequences), LayerNorm, GroupNorm,
RMSNorm, InstanceNorm1d/2d/3d. Parameter and buffer names, state_dict keys and defaults are
PyTorch's; the maths is in ``nn.functional``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from chainrule._device import data_device
from chainrule.backend import to_dtype, xp
from chainrule.nn._functional import normalization as F
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor, _wrap

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "RMSNorm",
           "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]


def _filled(shape: tuple[int, ...], value: float, dtype: Any, device: Any) -> Any:
    if device is not None:
        data_device(device)
    return xp.full(shape, value, dtype=to_dtype(dtype))


class _NormBase(Module):
    """Affine parameters and running statistics shared by batch and instance norm."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self._affine_params(num_features, affine, bias, dtype, device)
        if track_running_stats:
            self.register_buffer("running_mean", _wrap(_filled((num_features,), 0.0, dtype,
                                                               device)))
            self.register_buffer("running_var", _wrap(_filled((num_features,), 1.0, dtype,
                                                              device)))
            self.register_buffer("num_batches_tracked", _wrap(xp.zeros((), dtype=xp.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def _affine_params(self, n: int, affine: bool, bias: bool, dtype: Any, device: Any) -> None:
        """weight (ones) and bias (zeros) when affine; bias=False keeps only the weight."""
        self.register_parameter("weight", Parameter(_filled((n,), 1.0, dtype, device))
                                if affine else None)
        self.register_parameter("bias", Parameter(_filled((n,), 0.0, dtype, device))
                                if affine and bias else None)

    def reset_running_stats(self) -> None:
        """running_mean ← 0, running_var ← 1, num_batches_tracked ← 0."""
        if self.track_running_stats:
            self.running_mean._array[...] = 0
            self.running_var._array[...] = 1
            self.num_batches_tracked._array[...] = 0

    def reset_parameters(self) -> None:
        """Running stats reset; weight ← 1, bias ← 0."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight._array[...] = 1
        if self.bias is not None:
            self.bias._array[...] = 0

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    _dims: tuple[int, ...] = (2, 3)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"{type(self).__name__}: expected {want} input (got "
                             f"{input.ndim}D input of size {list(input.shape)})")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels "
                             f"(dim 1), got input of size {list(input.shape)}")

    def forward(self, input: Tensor, mask: Any = None, lengths: Any = None) -> Tensor:
        """Normalise ``input``; ``mask`` (bool (N, *spatial), True = real element) or
        ``lengths`` (N,) (for (N, C, L) inputs: the first lengths[n] steps are real) excludes
        padding from the batch statistics and the running statistics."""
        self._check_input_dim(input)
        if lengths is not None:
            if mask is not None:
                raise ValueError(f"{type(self).__name__}: give mask or lengths, not both")
            if input.ndim != 3:
                raise ValueError(f"{type(self).__name__}: lengths needs an (N, C, L) input, "
                                 f"got {list(input.shape)}")
            mask = F.lengths_to_mask(lengths, input.shape[2])
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._array += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked._array)
        if self.training:
            self._warn_small(input, mask)
        use_running = not self.training and self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if (use_running or self.training) else None,
            self.running_var if (use_running or self.training) else None,
            self.weight, self.bias, not use_running, momentum, self.eps, mask=mask,
        )

    def _warn_small(self, input: Tensor, mask: Any) -> None:
        """Warn once per layer when a training batch gives 1 value per channel (the variance
        is 0, the output is just the bias, and the running stats are not updated) or comes
        from a single example."""
        if getattr(self, "_warned", False):
            return
        count = input.numel() // input.shape[1]
        if mask is not None:
            m = mask._array if isinstance(mask, Tensor) else mask
            count = int(xp.asarray(m).sum())
        if count <= 1 or input.shape[0] == 1:
            self._warned = True
            what = ("1 value per channel: the batch variance is 0, so every output equals the "
                    "bias and the running statistics are not updated" if count <= 1 else
                    "a batch of size 1: the statistics come from a single example")
            warnings.warn(f"{type(self).__name__}({self.num_features}) in training mode got "
                          f"{what} (input {list(input.shape)}).", stacklevel=3)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs:
    y = (x − μ_c) / √(σ²_c + ε) · γ_c + β_c, with batch statistics in training and the running
    ones in eval; running stats r ← (1 − momentum)·r + momentum·s (unbiased variance;
    ``momentum=None``: cumulative average). ``forward(x, mask=..., lengths=...)`` excludes
    padded steps of variable-length sequences from all statistics (PyTorch lacks this,
    pytorch#70529).

    Example::

        bn = nn.BatchNorm1d(8)
        y = bn(chainrule.randn(4, 8, 10), lengths=chainrule.tensor([10, 7, 3, 9]))
    """

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, statistics per channel over N, H, W
    (formula as :class:`BatchNorm1d`; ``mask`` has shape (N, H, W)).

    Example::

        y = nn.BatchNorm2d(16)(chainrule.randn(8, 16, 5, 5))
    """

    _dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs.

    Example::

        y = nn.BatchNorm3d(4)(chainrule.randn(2, 4, 3, 3, 3))
    """

    _dims = (5,)


class _InstanceNorm(_NormBase):
    _nd = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        nd = self._nd
        if input.ndim not in (nd + 1, nd + 2):
            raise ValueError(f"{type(self).__name__}: expected {nd + 1}D or {nd + 2}D input "
                             f"(got {input.ndim}D input of size {list(input.shape)})")
        unbatched = input.ndim == nd + 1
        x = input.unsqueeze(0) if unbatched else input
        if (self.affine or self.track_running_stats) and x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected input's size at dim 1 to match "
                             f"num_features ({self.num_features}), but got {x.shape[1]}")
        out = F.instance_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0, self.eps,
        )
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L): each (n, c) sequence normalised over L,
    y = (x − μ_nc) / √(σ²_nc + ε) (· γ_c + β_c with ``affine``); running stats only with
    ``track_running_stats`` (then used in eval).

    Example::

        y = nn.InstanceNorm1d(3)(chainrule.randn(2, 3, 10))
    """

    _nd = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W): each feature map normalised over
    its pixels (style transfer's normalisation).

    Example::

        y = nn.InstanceNorm2d(3, affine=True)(chainrule.randn(2, 3, 8, 8))
    """

    _nd = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W).

    Example::

        y = nn.InstanceNorm3d(2)(chainrule.randn(1, 2, 3, 3, 3))
    """

    _nd = 3


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` dims:
    y = (x − μ) / √(σ² + ε) · γ + β, statistics per example (no batch dependence, same in
    train and eval).

    Example::

        ln = nn.LayerNorm(64)
        y = ln(chainrule.randn(8, 20, 64))
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.normalized_shape = F._norm_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(_filled(self.normalized_shape, 1.0, dtype, device))
            if bias:
                self.bias = Parameter(_filled(self.normalized_shape, 0.0, dtype, device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """weight ← 1, bias ← 0."""
        if self.weight is not None:
            self.weight._array[...] = 1
        if self.bias is not None:
            self.bias._array[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class RMSNorm(Module):
    """RMS normalisation over the trailing dims: y = x / √(mean(x²) + ε) · γ (no centring);
    ``eps=None`` uses the input dtype's machine epsilon.

    Example::

        y = nn.RMSNorm(64)(chainrule.randn(8, 64))
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.normalized_shape = F._norm_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(_filled(self.normalized_shape, 1.0, dtype, device))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        """weight ← 1."""
        if self.weight is not None:
            self.weight._array[...] = 1

    def forward(self, input: Tensor) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Group normalisation: the C channels split into ``num_groups`` groups, each normalised
    per example over its channels and positions; y = x̂ · γ_c + β_c (batch-independent).

    Example::

        y = nn.GroupNorm(4, 16)(chainrule.randn(2, 16, 8, 8))
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _NormBase._affine_params(self, num_channels, affine, bias, dtype, device)

    def reset_parameters(self) -> None:
        """weight ← 1, bias ← 0."""
        if self.weight is not None:
            self.weight._array[...] = 1
        if self.bias is not None:
            self.bias._array[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


def __getattr__(name: str) -> object:
    """``LocalResponseNorm`` under PyTorch's path ``nn.modules.normalization`` (it lives in
    ``nn.modules.channels``)."""
    if name == "LocalResponseNorm":
        from chainrule.nn.modules.channels import LocalResponseNorm

        return LocalResponseNorm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
