"""nn.functional: max / average / adaptive pooling and nearest-neighbour interpolation.

Input (N, C, *spatial) or unbatched (C, *spatial). Max and average pooling are primitives
(``chainrule.ops.pool``: one strided view per kernel offset); adaptive average pooling is a
product with two small pooling matrices (a composite, so every derivative order exists);
adaptive max pooling gathers candidate windows once and reuses max pooling's gather primitive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule.autograd.engine import no_grad
from chainrule.backend import xp
from chainrule.nn._functional.conv import _ntuple
from chainrule.ops import pool as P
from chainrule.tensor import Tensor, _wrap, apply

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
    "adaptive_max_pool2d", "adaptive_max_pool3d", "fractional_max_pool2d",
    "fractional_max_pool3d", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear",
    "pixel_shuffle", "pixel_unshuffle",
]

IntOr = int | Sequence[int]


def _batch(input: Tensor, nd: int, what: str) -> tuple[Tensor, bool]:
    if input.ndim == nd + 1:
        return input.unsqueeze(0), True
    if input.ndim != nd + 2:
        raise RuntimeError(
            f"{what}: expected {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, but got "
            f"input of size {list(input.shape)}"
        )
    return input, False


def _unbatch(t: Tensor, unbatched: bool) -> Tensor:
    return t.squeeze(0) if unbatched else t


def _pool_args(nd: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any
               ) -> tuple[tuple[int, ...], ...]:
    ks = _ntuple(kernel_size, nd, "kernel_size")
    st = ks if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _ntuple(stride, nd, "stride")
    return ks, st, _ntuple(padding, nd, "padding"), _ntuple(dilation, nd, "dilation")


def _max_pool(input: Tensor, nd: int, kernel_size: Any, stride: Any, padding: Any,
              dilation: Any, ceil_mode: bool, return_indices: bool, what: str) -> Any:
    x, unbatched = _batch(input, nd, what)
    ks, st, pd, dl = _pool_args(nd, kernel_size, stride, padding, dilation)
    for k, p, d in zip(ks, pd, dl):
        if p * 2 > (k - 1) * d + 1:
            raise ValueError(
                f"{what}: pad should be at most half of effective kernel size, but got "
                f"pad={p}, kernel_size={k} and dilation={d}"
            )
    osize = tuple(
        P.pool_out_size(s, k, t, p, d, ceil_mode)
        for s, k, t, p, d in zip(x.shape[2:], ks, st, pd, dl)
    )
    if any(o <= 0 for o in osize):
        raise RuntimeError(
            f"{what}: output size {osize} is too small for input of size {list(x.shape)} with "
            f"kernel_size={ks}, stride={st}, padding={pd}, dilation={dl}"
        )
    vals, idx = P.max_pool(x._array, ks, st, pd, dl, osize)
    out = apply(P.PoolGather, x, index=idx, unique=not P.windows_overlap(ks, st, dl),
                values=vals)
    out = _unbatch(out, unbatched)
    if return_indices:
        return out, _unbatch(_wrap(P.flat_indices(idx)), unbatched)
    return out


def max_pool1d(input: Tensor, kernel_size: IntOr, stride: IntOr | None = None,
               padding: IntOr = 0, dilation: IntOr = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """y[n, c, l] = max_{k} x_pad[n, c, l·stride + k·dilation] (padding is −∞);
    indices are flat positions in the unpadded input."""
    return _max_pool(input, 1, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool1d")


def max_pool2d(input: Tensor, kernel_size: IntOr, stride: IntOr | None = None,
               padding: IntOr = 0, dilation: IntOr = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """y[n, c, i, j] = max_{p, q} x_pad[n, c, i·s + p·d, j·s + q·d] (padding is −∞; the first
    maximum in row-major window order wins, as in PyTorch); with ``return_indices`` also the
    flat index h·W + w of each maximum.

    Example::

        y, idx = F.max_pool2d(chainrule.randn(1, 1, 4, 4), 2, return_indices=True)
    """
    return _max_pool(input, 2, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool2d")


def max_pool3d(input: Tensor, kernel_size: IntOr, stride: IntOr | None = None,
               padding: IntOr = 0, dilation: IntOr = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """3-D max pooling (same rule over three spatial dims)."""
    return _max_pool(input, 3, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool3d")


def _avg_pool(input: Tensor, nd: int, kernel_size: Any, stride: Any, padding: Any,
              ceil_mode: bool, count_include_pad: bool, divisor_override: int | None,
              what: str) -> Tensor:
    x, unbatched = _batch(input, nd, what)
    ks, st, pd, _ = _pool_args(nd, kernel_size, stride, padding, 1)
    for k, p in zip(ks, pd):
        if p * 2 > k:
            raise ValueError(f"{what}: pad should be at most half of kernel size, but got "
                             f"pad={p} and kernel_size={k}")
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"{what}: divisor must be not zero")
    osize = tuple(
        P.pool_out_size(s, k, t, p, 1, ceil_mode) for s, k, t, p in zip(x.shape[2:], ks, st, pd)
    )
    if any(o <= 0 for o in osize):
        raise RuntimeError(
            f"{what}: output size {osize} is too small for input of size {list(x.shape)} with "
            f"kernel_size={ks}, stride={st}, padding={pd}"
        )
    inv = P.avg_divisor(x.shape[2:], ks, st, pd, osize, count_include_pad, divisor_override,
                        x.dtype)
    out = apply(P.AvgPool, x, ksize=ks, stride=st, padding=pd, osize=osize, inv_div=inv)
    return _unbatch(out, unbatched)


def avg_pool1d(input: Tensor, kernel_size: IntOr, stride: IntOr | None = None,
               padding: IntOr = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """y[n, c, l] = (1/|window|) Σ_k x_pad[n, c, l·stride + k] (zero padding counted in the
    divisor when ``count_include_pad``)."""
    return _avg_pool(input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     None, "avg_pool1d")


def avg_pool2d(input: Tensor, kernel_size: IntOr, stride: IntOr | None = None,
               padding: IntOr = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """y[n, c, i, j] = (1/D) Σ_{p, q} x_pad[n, c, i·s + p, j·s + q]; D = kernel area (clipped
    to input + padding), or only the input elements when ``count_include_pad=False``, or
    ``divisor_override``."""
    return _avg_pool(input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, "avg_pool2d")


def avg_pool3d(input: Tensor, kernel_size: IntOr, stride: IntOr | None = None,
               padding: IntOr = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """3-D average pooling (same rule over three spatial dims)."""
    return _avg_pool(input, 3, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, "avg_pool3d")


def _adaptive_sizes(x: Tensor, output_size: Any, nd: int) -> tuple[int, ...]:
    if isinstance(output_size, int):
        output_size = (output_size,) * nd
    out = tuple(x.shape[2 + i] if o is None else int(o) for i, o in enumerate(output_size))
    if len(out) != nd or any(o <= 0 for o in out):
        raise ValueError(f"adaptive pooling: output_size {output_size!r} must be {nd} positive "
                         "ints (or None)")
    return out


def _bounds(size: int, out: int) -> tuple[Any, Any]:
    """PyTorch's adaptive windows: start = ⌊i·size/out⌋, end = ⌈(i+1)·size/out⌉."""
    i = xp.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _pool_matrix(size: int, out: int, dtype: Any) -> Tensor:
    start, end = _bounds(size, out)
    j = xp.arange(size)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return _wrap((inside / (end - start)[:, None]).astype(dtype))


def _adaptive_avg(input: Tensor, output_size: Any, nd: int, what: str) -> Tensor:
    x, unbatched = _batch(input, nd, what)
    osize = _adaptive_sizes(x, output_size, nd)
    if all(o == 1 for o in osize):
        out = x.mean(tuple(range(2, 2 + nd)), keepdim=True)
    else:
        # y = x ×_1 P_1 ×_2 P_2 ...: one small GEMM per spatial dim (P_i is (out_i, in_i))
        out = x
        for i in range(nd):
            size = x.shape[2 + i]
            if osize[i] == size:
                continue
            m = _pool_matrix(size, osize[i], x.dtype)
            out = (out.movedim(2 + i, -1) @ m.mT).movedim(-1, 2 + i)
    return _unbatch(out, unbatched)


def adaptive_avg_pool1d(input: Tensor, output_size: IntOr) -> Tensor:
    """Average over windows [⌊i·L/out⌋, ⌈(i+1)·L/out⌉) so the output has length ``output_size``."""
    return _adaptive_avg(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average over windows [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉) × [⌊j·W/ow⌋, ⌈(j+1)·W/ow⌉); ``None`` in
    ``output_size`` keeps that input size.

    Example::

        F.adaptive_avg_pool2d(chainrule.randn(2, 8, 7, 5), (1, 1)).shape   # (2, 8, 1, 1)
    """
    return _adaptive_avg(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """3-D adaptive average pooling."""
    return _adaptive_avg(input, output_size, 3, "adaptive_avg_pool3d")


def _adaptive_max(input: Tensor, output_size: Any, return_indices: bool, nd: int,
                  what: str) -> Any:
    x, unbatched = _batch(input, nd, what)
    osize = _adaptive_sizes(x, output_size, nd)
    sizes = x.shape[2:]
    plane = [int(math.prod(sizes[i + 1:])) for i in range(nd)]
    cand = xp.zeros((), dtype=xp.int64)
    for i in range(nd):
        start, end = _bounds(sizes[i], osize[i])
        kmax = int((end - start).max())
        # repeat the window's last element past its end (it cannot change the max or argmax)
        idx = xp.minimum(start[:, None] + xp.arange(kmax), end[:, None] - 1) * plane[i]
        cand = cand[..., None, None] + idx if cand.ndim else idx
    # cand: (o1, k1, o2, k2, ...) -> (o1, o2, ..., k1·k2·...)
    perm = tuple(range(0, 2 * nd, 2)) + tuple(range(1, 2 * nd, 2))
    cand = cand.transpose(perm).reshape(math.prod(osize), -1)
    n, c = x.shape[:2]
    return _gather_max(x, xp.broadcast_to(cand, (n, c, *cand.shape)), osize, unbatched,
                       return_indices)


def _gather_max(x: Tensor, cand: Any, osize: tuple[int, ...], unbatched: bool,
                return_indices: bool) -> Any:
    """The maximum over candidate windows: ``cand`` (N, C, P, K) holds, for each of the P
    output cells of each plane, the flat spatial positions of its K window elements; the
    result gathers the winners through max pooling's gather primitive (so the gradient goes to
    them)."""
    n, c = x.shape[:2]
    with no_grad():
        flat = x._array.reshape(n, c, -1)
        vals = xp.take_along_axis(flat, cand.reshape(n, c, -1), axis=2).reshape(cand.shape)
        arg = vals.argmax(-1)
        idx = xp.take_along_axis(cand, arg[..., None], -1).reshape((n, c, *osize))
        best = xp.take_along_axis(vals, arg[..., None], -1).reshape(idx.shape)
    out = _unbatch(apply(P.PoolGather, x, index=idx, unique=False, values=best), unbatched)
    if return_indices:
        return out, _unbatch(_wrap(P.flat_indices(idx)), unbatched)
    return out


def adaptive_max_pool1d(input: Tensor, output_size: IntOr, return_indices: bool = False) -> Any:
    """Maximum over the adaptive windows [⌊i·L/out⌋, ⌈(i+1)·L/out⌉)."""
    return _adaptive_max(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Maximum over the adaptive windows of :func:`adaptive_avg_pool2d`; indices are flat
    positions h·W + w."""
    return _adaptive_max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool3d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """3-D adaptive max pooling; indices are flat positions (d·H + h)·W + w."""
    return _adaptive_max(input, output_size, return_indices, 3, "adaptive_max_pool3d")


def _fractional_starts(size: int, out: int, k: int, u: Any) -> Any:
    """Graham's pseudo-random window starts for one dim, as PyTorch draws them: with
    α = (size − k)/(out − 1) and a sample u ∈ [0, 1) per plane,
    start_i = ⌊(i + u)·α⌋ − ⌊u·α⌋ for i < out − 1, and the last window ends at the border."""
    starts = xp.empty(u.shape + (out,), dtype=xp.int64)
    if out > 1:
        alpha = u.dtype.type(size - k) / u.dtype.type(out - 1)
        i = xp.arange(out - 1, dtype=u.dtype)
        starts[..., :-1] = (xp.floor((i + u[..., None]) * alpha)
                            - xp.floor(u * alpha)[..., None]).astype(xp.int64)
    starts[..., -1] = size - k
    return starts


def _fractional_max(input: Tensor, nd: int, kernel_size: Any, output_size: Any,
                    output_ratio: Any, return_indices: bool, samples: Tensor | None,
                    what: str) -> Any:
    x, unbatched = _batch(input, nd, what)
    ks = _ntuple(kernel_size, nd, "kernel_size")
    sizes = x.shape[2:]
    if output_size is None:
        if output_ratio is None:
            raise ValueError(f"{what} requires specifying either an output_size or an "
                             "output_ratio")
        ratio = _ntuple(output_ratio, nd, "output_ratio") if not isinstance(
            output_ratio, float) else (output_ratio,) * nd
        output_size = tuple(int(s * r) for s, r in zip(sizes, ratio))
    osize = _ntuple(output_size, nd, "output_size")
    for d in range(nd):
        if osize[d] + ks[d] - 1 > sizes[d]:
            raise RuntimeError(f"{what}(): pool size {ks[d]} too large relative to input size "
                               f"{sizes[d]} for output size {osize[d]}")
    n, c = x.shape[:2]
    if samples is None:
        from chainrule.creation import rand

        samples = rand(n, c, nd, dtype=x.dtype)
    u = samples._array.astype(x._array.dtype)
    if u.shape != (n, c, nd):
        raise RuntimeError(f"{what}: _random_samples must have shape {(n, c, nd)}, got "
                           f"{tuple(u.shape)}")
    plane = [int(math.prod(sizes[i + 1:])) for i in range(nd)]
    cand = xp.zeros((n, c), dtype=xp.int64)
    # PyTorch's sample order: in 2-D sample 0 drives the width and 1 the height; in 3-D
    # samples 0, 1, 2 drive depth, height, width
    order = (1, 0) if nd == 2 else tuple(range(nd))
    for d in range(nd):
        starts = _fractional_starts(sizes[d], osize[d], ks[d], u[:, :, order[d]])
        pos = (starts[..., None] + xp.arange(ks[d])) * plane[d]          # (N, C, o_d, k_d)
        cand = cand[..., None, None] + pos.reshape((n, c) + (1, 1) * d + pos.shape[2:])
    # cand: (N, C, o1, k1, o2, k2, ...) -> (N, C, o1·o2·..., k1·k2·...)
    perm = (0, 1) + tuple(range(2, 2 + 2 * nd, 2)) + tuple(range(3, 2 + 2 * nd, 2))
    cand = cand.transpose(perm).reshape(n, c, math.prod(osize), -1)
    return _gather_max(x, cand, osize, unbatched, return_indices)


def fractional_max_pool2d(input: Tensor, kernel_size: Any, output_size: Any = None,
                          output_ratio: Any = None, return_indices: bool = False,
                          _random_samples: Tensor | None = None) -> Any:
    """Fractional max pooling (Graham, 2014): the maximum over ``kernel_size`` windows whose
    starts are spread pseudo-randomly (one draw per plane, see :func:`_fractional_starts`) so
    that the output has ``output_size`` (or ⌊input·output_ratio⌋). With the same
    ``_random_samples`` (N, C, 2) as PyTorch the result is PyTorch's."""
    return _fractional_max(input, 2, kernel_size, output_size, output_ratio, return_indices,
                           _random_samples, "fractional_max_pool2d")


def fractional_max_pool3d(input: Tensor, kernel_size: Any, output_size: Any = None,
                          output_ratio: Any = None, return_indices: bool = False,
                          _random_samples: Tensor | None = None) -> Any:
    """3-D fractional max pooling (samples (N, C, 3))."""
    return _fractional_max(input, 3, kernel_size, output_size, output_ratio, return_indices,
                           _random_samples, "fractional_max_pool3d")


def _nearest_index(size: int, out: int, scale: float | None, exact: bool) -> Any:
    """Source index of each output position: ⌊(dst [+ ½])·scale⌋ clipped, in float32 as
    PyTorch computes it (scale = 1/scale_factor if given, else size/out)."""
    s = xp.float32(1.0 / scale) if scale is not None else xp.float32(size) / xp.float32(out)
    dst = xp.arange(out, dtype=xp.float32)
    if exact:
        dst = dst + xp.float32(0.5)
    return xp.minimum(xp.floor(dst * s).astype(xp.int64), size - 1)


_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3, "bicubic": 2, "lanczos": 2}
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "lanczos",
          "area")
# the antialiasing filter of each mode and its half-width before stretching (interpolate)
_AA_RADIUS = {"bilinear": 1.0, "bicubic": 2.0, "lanczos": 3.0}


def interpolate(input: Tensor, size: IntOr | None = None,
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of (N, C, *spatial) to ``size`` or ⌊in·scale_factor⌋.

    - ``"nearest"``: y[i] = x[min(⌊i·s⌋, in − 1)] with s = in/out (PyTorch's legacy rule);
      ``"nearest-exact"``: x[min(⌊(i + ½)·s⌋, in − 1)].
    - ``"linear"`` / ``"bilinear"`` / ``"trilinear"`` (3-, 4-, 5-D input), separable along each
      axis: source coordinate u = i·(in − 1)/(out − 1) with ``align_corners=True``, else
      u = max((i + ½)·s − ½, 0); y[i] = (1 − λ)·x[⌊u⌋] + λ·x[min(⌊u⌋ + 1, in − 1)], λ = u − ⌊u⌋.
    - ``"bicubic"`` (4-D): Keys' cubic convolution (a = −0.75) over x[⌊u⌋ − 1 … ⌊u⌋ + 2],
      indices clamped to the border, u not clamped.
    - ``"area"``: adaptive average pooling to the output size.
    - ``antialias=True`` (``"bilinear"`` / ``"bicubic"``, 4-D input): PyTorch's (and PIL's)
      separable filter, which widens when downsampling so that every input pixel contributes:
      with s the scale above (align_corners: (in − 1)/(out − 1)), output i is centred at
      c = s·(i + ½) and y[i] = Σ_j w_j x[j] / Σ_j w_j, w_j = f((j − c + ½)/max(s, 1)) over
      j ∈ [trunc(c − r + ½), trunc(c + r + ½)) ∩ [0, in), r = (k/2)·max(s, 1); f is the
      triangle 1 − |t| (k = 2) or Keys' cubic with a = −0.5 (k = 4); ``"lanczos"`` (which
      requires ``antialias=True`` and ``align_corners=False``) uses the Lanczos-3 window
      sinc(t)·sinc(t/3), |t| < 3 (k = 6), PIL's ``Image.LANCZOS``.

    With ``scale_factor`` given (and ``recompute_scale_factor`` not true), s = 1/scale_factor,
    as in PyTorch. Every mode is a composition of differentiable ops (gathers, products, sums).

    Example::

        F.interpolate(chainrule.randn(1, 3, 4, 4), scale_factor=2).shape   # (1, 3, 8, 8)
    """
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode {mode!r} is not one of {', '.join(_MODES)}")
    if antialias and not (mode in _AA_RADIUS and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos "
                         "modes and requires a 4-D tensor as input")
    if mode == "lanczos" and input.ndim == 4:
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    nd = input.ndim - 2
    if nd < 1:
        raise ValueError(f"interpolate: expected (N, C, *spatial) input, got "
                         f"{list(input.shape)}")
    if mode in _LINEAR_MODES:
        if _LINEAR_MODES[mode] != nd:
            raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                      f"{_LINEAR_MODES[mode] + 2}D input")
    elif align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    sizes = input.shape[2:]
    scales: tuple[float | None, ...]
    if size is not None:
        out = _ntuple(size, nd, "size")
        scales = (None,) * nd
    else:
        sf = (float(scale_factor),) * nd if isinstance(scale_factor, (int, float)) else \
            tuple(float(s) for s in scale_factor)
        if len(sf) != nd:
            raise ValueError(f"interpolate: scale_factor {scale_factor!r} must have {nd} entries")
        out = tuple(int(math.floor(s * f)) for s, f in zip(sizes, sf))
        scales = (None,) * nd if recompute_scale_factor else sf
    if mode == "area":
        return _adaptive_avg(input, out, nd, "interpolate(mode='area')")
    if antialias:
        return _interpolate_antialias(input, out, scales, bool(align_corners), mode)
    if mode in _LINEAR_MODES:
        return _interpolate_taps(input, out, scales, bool(align_corners), mode == "bicubic")
    return _interpolate_nearest(input, out, scales, mode == "nearest-exact")


def _interpolate_nearest(input: Tensor, out: tuple[int, ...], scales: tuple, exact: bool
                         ) -> Tensor:
    """Nearest-neighbour resize, one spatial axis at a time."""
    y = input
    sizes = input.shape[2:]
    for i in range(len(out)):
        s, o, f = sizes[i], out[i], scales[i]
        if o == s and (f is None or f == 1.0):
            continue
        idx = _nearest_index(s, o, f, exact)
        rep = o // s if o % s == 0 else 0
        if rep and xp.array_equal(idx, xp.arange(o) // rep):
            # integer upscale: each element repeated ``rep`` times (a broadcast, then one copy)
            d = 2 + i
            shp = y.shape
            y = y.unsqueeze(d + 1).expand(*shp[: d + 1], rep, *shp[d + 1:])
            y = y.reshape(*shp[:d], o, *shp[d + 1:])
        else:
            y = y[(slice(None),) * (2 + i) + (idx,)]
    return y


def _source_coords(size: int, out: int, scale: float | None, align_corners: bool,
                   cubic: bool) -> Any:
    """PyTorch's source coordinate of each output index along one axis (float64)."""
    i = xp.arange(out, dtype=xp.float64)
    if align_corners:
        return i * ((size - 1) / (out - 1) if out > 1 else 0.0)
    s = 1.0 / scale if scale is not None and scale > 0 else size / out
    u = (i + 0.5) * s - 0.5
    return u if cubic else xp.maximum(u, 0.0)


def _cubic_weights(t: Any) -> list[Any]:
    """Keys' cubic-convolution weights (a = −0.75) of the taps at offsets −1, 0, 1, 2 from ⌊u⌋,
    for fractional part t."""
    a = -0.75

    def near(x: Any) -> Any:  # |x| ≤ 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: Any) -> Any:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _interpolate_taps(input: Tensor, out: tuple[int, ...], scales: tuple, align_corners: bool,
                      cubic: bool) -> Tensor:
    """Separable (bi/tri)linear or bicubic resize: along each axis, y = Σ_k w_k · x[idx_k]."""
    y = input
    sizes = input.shape[2:]
    for i, (size, o) in enumerate(zip(sizes, out)):
        u = _source_coords(size, o, scales[i], align_corners, cubic)
        base = xp.floor(u).astype(xp.int64)
        t = u - base
        if cubic:
            offsets, weights = (-1, 0, 1, 2), _cubic_weights(t)
        else:
            base = xp.minimum(base, size - 1)
            offsets, weights = (0, 1), [1.0 - t, t]
        shape = (o,) + (1,) * (len(out) - 1 - i)
        acc = None
        for off, w in zip(offsets, weights):
            idx = xp.clip(base + off, 0, size - 1)
            term = y.index_select(2 + i, _wrap(idx)) * _wrap(w.reshape(shape).astype(y.dtype))
            acc = term if acc is None else acc + term
        y = acc
    return y


def _aa_filter(t: Any, mode: str) -> Any:
    """The antialiasing kernel of ``mode``: the triangle max(0, 1 − |t|); Keys' cubic
    convolution with a = −0.5 (the value PyTorch and PIL use for antialiased bicubic), zero past
    |t| = 2; or Lanczos-3, sinc(t)·sinc(t/3) for |t| < 3 (sinc(t) = sin(πt)/(πt))."""
    t = xp.abs(t)
    if mode == "bilinear":
        return xp.maximum(0.0, 1.0 - t)
    if mode == "lanczos":
        return xp.where(t < 3.0, xp.sinc(t) * xp.sinc(t / 3.0), 0.0)
    a = -0.5
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return xp.where(t < 1.0, near, xp.where(t < 2.0, far, 0.0))


def _aa_weights(size: int, out: int, scale: float | None, align_corners: bool,
                mode: str) -> Any:
    """The (out, size) matrix of the antialiased resize along one axis (rows sum to 1; see
    :func:`interpolate`). The window bounds truncate toward zero, as PyTorch's integer cast."""
    if align_corners:
        s = (size - 1) / (out - 1) if out > 1 else 0.0
    else:
        s = 1.0 / scale if scale is not None and scale > 0 else size / out
    stretch = max(s, 1.0)
    support = _AA_RADIUS[mode] * stretch
    w = xp.zeros((out, size), dtype=xp.float64)
    for i in range(out):
        centre = s * (i + 0.5)
        lo = max(math.trunc(centre - support + 0.5), 0)
        hi = min(math.trunc(centre + support + 0.5), size)
        taps = _aa_filter((xp.arange(lo, hi) - centre + 0.5) / stretch, mode)
        total = taps.sum()
        w[i, lo:hi] = taps / total if total != 0.0 else taps
    return w


def _interpolate_antialias(input: Tensor, out: tuple[int, ...], scales: tuple,
                           align_corners: bool, mode: str) -> Tensor:
    """Antialiased bilinear / bicubic / Lanczos resize of (N, C, H, W): y = W_h x W_wᵀ, two
    matrix products (differentiable as such)."""
    (h, w), (oh, ow) = input.shape[2:], out
    wh = _wrap(_aa_weights(h, oh, scales[0], align_corners, mode).astype(input.dtype))
    ww = _wrap(_aa_weights(w, ow, scales[1], align_corners, mode).T.astype(input.dtype))
    return wh.matmul(input).matmul(ww)


def upsample(input: Tensor, size: IntOr | None = None, scale_factor: Any = None,
             mode: str = "nearest", align_corners: bool | None = None) -> Tensor:
    """Alias of :func:`interpolate` (PyTorch's deprecated name)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: IntOr | None = None, scale_factor: Any = None
                     ) -> Tensor:
    """``interpolate(mode="nearest")``."""
    return interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input: Tensor, size: IntOr | None = None, scale_factor: Any = None
                      ) -> Tensor:
    """``interpolate(mode="bilinear", align_corners=True)`` (PyTorch's deprecated name)."""
    return interpolate(input, size, scale_factor, "bilinear", align_corners=True)


def _check_pixel_shuffle(input: Tensor, factor: int, what: str) -> None:
    if not isinstance(factor, int) or isinstance(factor, bool) or factor <= 0:
        raise ValueError(f"{what}: the factor must be a positive int, got {factor!r}")
    if input.ndim < 3:
        raise RuntimeError(f"{what} expects input to have at least 3 dimensions, but got input "
                           f"with {input.ndim} dimension(s)")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C·r², H, W) → (*, C, H·r, W·r): y[c, h·r + i, w·r + j] = x[c·r² + i·r + j, h, w]
    (Shi et al. 2016's sub-pixel convolution), a reshape, a permutation and a reshape."""
    _check_pixel_shuffle(input, upscale_factor, "pixel_shuffle")
    r = upscale_factor
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    nb = len(batch)
    y = input.reshape(*batch, c // (r * r), r, r, h, w)
    y = y.permute(*range(nb), nb, nb + 3, nb + 1, nb + 4, nb + 2)
    return y.reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """The inverse of :func:`pixel_shuffle`: (*, C, H·r, W·r) → (*, C·r², H, W)."""
    _check_pixel_shuffle(input, downscale_factor, "pixel_unshuffle")
    r = downscale_factor
    *batch, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by "
                           f"downscale_factor, but input.size(-2)={h} and input.size(-1)={w} "
                           f"with downscale_factor={r}")
    nb = len(batch)
    y = input.reshape(*batch, c, h // r, r, w // r, r)
    y = y.permute(*range(nb), nb, nb + 2, nb + 4, nb + 1, nb + 3)
    return y.reshape(*batch, c * r * r, h // r, w // r)
