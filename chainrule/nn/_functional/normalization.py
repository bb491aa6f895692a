"""nn.functional: batch, layer, group, RMS and instance normalisation.

All are composites of primitives (mean, subtract, multiply, rsqrt), so their gradients, and
the gradients of those, come from the primitives. Biased variances normalise; running
variances are updated with the unbiased batch variance, exactly as PyTorch does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.backend import xp
from chainrule.tensor import Tensor, _wrap

__all__ = ["batch_norm", "layer_norm", "group_norm", "rms_norm", "instance_norm",
           "lengths_to_mask"]


def _stat_dims(x: Tensor) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.ndim))


def _channel_view(t: Tensor, ndim: int) -> Tensor:
    """A (C,) tensor shaped (1, C, 1, ..., 1) to broadcast over (N, C, *)."""
    return t.reshape((1, -1) + (1,) * (ndim - 2))


def lengths_to_mask(lengths: Any, max_len: int) -> Tensor:
    """Bool mask (N, max_len), True at positions t < lengths[n] (the real, unpadded ones)."""
    lens = xp.asarray(lengths._array if isinstance(lengths, Tensor) else lengths)
    return _wrap(xp.arange(max_len)[None, :] < lens.reshape(-1, 1))


def _mask_array(mask: Any, x: Tensor) -> Any:
    """The mask as a 0/1 array of x's dtype broadcastable to x: (N, *spatial) -> (N, 1, *)."""
    m = xp.asarray(mask._array if isinstance(mask, Tensor) else mask)
    want = (x.shape[0],) + tuple(x.shape[2:])
    if m.shape != want:
        raise ValueError(
            f"batch_norm: mask of shape {tuple(m.shape)} does not match the input's batch and "
            f"spatial dims {want} (input {tuple(x.shape)}; the mask has no channel dim)"
        )
    return xp.expand_dims(m.astype(x.dtype), 1)


def _update(buf: Tensor, new: Any, momentum: float) -> None:
    """buf ← (1 − momentum)·buf + momentum·new, in place (a buffer, outside the graph)."""
    d = buf._array
    d *= 1.0 - momentum
    d += (momentum * new).astype(d.dtype, copy=False)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5,
               mask: Any = None) -> Tensor:
    """Batch normalisation (Ioffe & Szegedy 2015) of (N, C, *):
    y = (x − μ_c) / √(σ²_c + ε) · γ_c + β_c, with μ, σ² (biased) over the batch and spatial
    dims in training (or when no running stats are given), else the running stats. Training
    updates r ← (1 − momentum)·r + momentum·s with s = μ and the unbiased σ²·n/(n − 1).

    ``mask`` (bool, shape (N, *spatial), True = real element) restricts the statistics and the
    running-stat updates to the real elements of padded variable-length batches; the affine
    map is still applied everywhere, so padded outputs are finite but meaningless.

    Example::

        y = F.batch_norm(chainrule.randn(8, 3), None, None, training=True)
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of at least 2 dims (N, C, *), got "
                         f"{tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"batch_norm: {name} should contain {c} elements not "
                               f"{int(t.numel())} (input {tuple(input.shape)})")
    dims = _stat_dims(input)
    use_batch = training or running_mean is None or running_var is None
    if use_batch:
        if mask is None:
            n = input.numel() // c
            mean = input.mean(dims, keepdim=True)
            d = input - mean
            var = (d * d).mean(dims, keepdim=True)
        else:
            m = _mask_array(mask, input)
            n = int(m.sum())
            if n == 0:
                raise ValueError("batch_norm: the mask selects no element")
            mw = _wrap(m)
            mean = (input * mw).sum(dims, keepdim=True) / float(n)
            d = input - mean
            var = (d * d * mw).sum(dims, keepdim=True) / float(n)
        if training and running_mean is not None and running_var is not None and n > 1:
            _update(running_mean, mean._array.reshape(-1), momentum)
            _update(running_var, var._array.reshape(-1) * (n / (n - 1)), momentum)
        scale = (var + eps).rsqrt()
    else:
        d = input - _channel_view(running_mean, input.ndim)
        scale = _channel_view((running_var + eps).rsqrt(), input.ndim)
    if weight is not None:
        scale = scale * _channel_view(weight, input.ndim)
    out = d * scale
    return out + _channel_view(bias, input.ndim) if bias is not None else out


def _norm_shape(normalized_shape: Any) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(s) for s in normalized_shape)


def _check_trailing(input: Tensor, shape: tuple[int, ...], what: str) -> tuple[int, ...]:
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise RuntimeError(
            f"{what}: Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size {list(input.shape)}"
        )
    return tuple(range(input.ndim - k, input.ndim))


def layer_norm(input: Tensor, normalized_shape: Sequence[int] | int,
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalisation (Ba et al. 2016) over the trailing ``normalized_shape`` dims:
    y = (x − μ) / √(σ² + ε) · γ + β, μ and σ² (biased) per example over those dims.

    Example::

        y = F.layer_norm(chainrule.randn(4, 10), (10,))
    """
    dims = _check_trailing(input, _norm_shape(normalized_shape), "layer_norm")
    mean = input.mean(dims, keepdim=True)
    d = input - mean
    out = d * ((d * d).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        out = out * weight
    return out + bias if bias is not None else out


def rms_norm(input: Tensor, normalized_shape: Sequence[int] | int,
             weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """RMS normalisation (Zhang & Sennrich 2019): y = x / √(mean(x²) + ε) · γ over the trailing
    dims; ``eps=None`` uses the dtype's machine epsilon (as PyTorch)."""
    dims = _check_trailing(input, _norm_shape(normalized_shape), "rms_norm")
    if eps is None:
        eps = float(xp.finfo(input.dtype).eps)
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out * weight if weight is not None else out


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalisation (Wu & He 2018) of (N, C, *): the C channels form ``num_groups``
    groups, each normalised per example over its channels and spatial positions, then
    y = x̂ · γ_c + β_c."""
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected input (N, C, *), got {tuple(input.shape)}")
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"group_norm: expected number of channels in input ({c}) to be "
                           f"divisible by num_groups ({num_groups})")
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(2, keepdim=True)
    d = x - mean
    out = (d * ((d * d).mean(2, keepdim=True) + eps).rsqrt()).reshape(input.shape)
    if weight is not None:
        out = out * _channel_view(weight, input.ndim)
    return out + _channel_view(bias, input.ndim) if bias is not None else out


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Instance normalisation (Ulyanov et al. 2016) of (N, C, *): each (n, c) map normalised
    over its spatial positions, y = x̂ · γ_c + β_c. With running stats and
    ``use_input_stats``, r ← (1 − momentum)·r + momentum·mean_n(s_nc) (unbiased variances);
    without ``use_input_stats`` the running stats normalise."""
    if input.ndim < 3:
        raise RuntimeError(f"instance_norm: expected input (N, C, *spatial), got "
                           f"{tuple(input.shape)}")
    dims = tuple(range(2, input.ndim))
    if use_input_stats:
        mean = input.mean(dims, keepdim=True)
        d = input - mean
        var = (d * d).mean(dims, keepdim=True)
        if running_mean is not None and running_var is not None:
            n = input.numel() // (input.shape[0] * input.shape[1])
            _update(running_mean, mean._array.reshape(input.shape[:2]).mean(0), momentum)
            unbiased = var._array.reshape(input.shape[:2]) * (n / max(n - 1, 1))
            _update(running_var, unbiased.mean(0), momentum)
        scale = (var + eps).rsqrt()
    else:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and "
                             "running_var")
        d = input - _channel_view(running_mean, input.ndim)
        scale = _channel_view((running_var + eps).rsqrt(), input.ndim)
    if weight is not None:
        scale = scale * _channel_view(weight, input.ndim)
    out = d * scale
    return out + _channel_view(bias, input.ndim) if bias is not None else out
