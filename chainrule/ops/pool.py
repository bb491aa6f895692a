"""Pooling primitives for any number of spatial dimensions.

Every pooling window is visited through strided views of the padded input, one view per
kernel offset (``prod(kernel)`` vectorised steps, never a loop over batch or positions):

* max pooling takes the maximum over the offsets, finds the first offset attaining it, and
  turns offsets into PyTorch's flat indices (into the unpadded spatial plane of each (n, c)).
  The values are a gather at those indices (:class:`PoolGather`), whose adjoint is a scatter
  (:class:`PoolScatter`) and vice versa, so max pooling has gradients of every order. The
  common 2x2 / stride-2 tiling keeps two comparison flags per window instead
  (:class:`TileChoice`), which the gather and the scatter accept in place of indices;
* average pooling is linear: :class:`AvgPool` and its adjoint :class:`AvgPoolAdjoint` are each
  other's backward.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from chainrule import _jit
from chainrule._threads import parallel
from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.ops.conv import Pads, interior, pad_input


def pool_out_size(size: int, k: int, stride: int, pad: int, dilation: int, ceil: bool) -> int:
    """PyTorch's pooling output length: ⌊ or ⌈(size + 2·pad − dilation·(k−1) − 1)/stride⌉ + 1,
    where with ``ceil`` the last window must start inside the input or the left padding."""
    span = size + 2 * pad - dilation * (k - 1) - 1
    if span < 0:
        return 0
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pads_for(sizes: tuple[int, ...], ksize: tuple[int, ...], stride: tuple[int, ...],
              padding: tuple[int, ...], dilation: tuple[int, ...],
              osize: tuple[int, ...]) -> Pads:
    """(low, high) padding so every window fits (ceil_mode windows may overhang the right)."""
    return tuple(
        (p, max(p, (o - 1) * t + d * (k - 1) + 1 - s - p))
        for s, k, t, p, d, o in zip(sizes, ksize, stride, padding, dilation, osize)
    )


def _offset_views(a: Any, ksize: tuple[int, ...], stride: tuple[int, ...],
                  dilation: tuple[int, ...], osize: tuple[int, ...]) -> Any:
    """Yield ``(offset, view)``: the (N, C, *out) strided view of window element ``offset``."""
    for offs in itertools.product(*(range(k) for k in ksize)):
        sl = tuple(
            slice(o * d, o * d + t * (m - 1) + 1, t)
            for o, d, t, m in zip(offs, dilation, stride, osize)
        )
        yield offs, a[(slice(None), slice(None)) + sl]


def max_pool(x: Any, ksize: tuple[int, ...], stride: tuple[int, ...],
             padding: tuple[int, ...], dilation: tuple[int, ...],
             osize: tuple[int, ...]) -> tuple[Any, Any]:
    """Max-pool values and each window's choice: a :class:`TileChoice` for the 2x2 / stride-2
    tiling of a float input without NaN when NumPy computes it, else PyTorch's flat int64
    indices (:func:`max_pool_indices`). Both are accepted by :class:`PoolGather` and
    :class:`PoolScatter`; :func:`flat_indices` turns either into PyTorch's indices."""
    if (x.ndim == 4 and tuple(ksize) == (2, 2) and tuple(stride) == (2, 2)
            and not any(padding) and tuple(dilation) == (1, 1) and x.dtype.kind == "f"
            and all(2 * o <= s for o, s in zip(osize, x.shape[2:]))
            and not (x.size >= 1 << 14 and _max_pool_2x2_fast.get() is not None)):
        # (the compiled kernel, when there is one, is faster than these five NumPy passes)
        found = TileChoice.pool(x, osize)
        if found is not None:
            return found
    return max_pool_indices(x, ksize, stride, padding, dilation, osize)


def flat_indices(index: Any) -> Any:
    """PyTorch's int64 indices (flat in each (n, c) plane) of a max pooling's choice."""
    return index.flat() if isinstance(index, TileChoice) else index


class TileChoice:
    """Which element of each window max pooling with 2x2 windows at stride 2 (no padding or
    dilation) picked, as two comparisons instead of an index array:

    * ``right[n, c, y, j] = x[n, c, y, 2j+1] > x[n, c, y, 2j]``: the right element is the
      first maximum of row y of window column j;
    * ``lower[n, c, i, j] = r[n, c, 2i+1, j] > r[n, c, 2i, j]`` with r the rows' maxima: the
      window's first maximum lies in its lower row.

    Strict ``>`` keeps the first maximum in row-major window order, PyTorch's choice (inputs
    with NaN take :func:`max_pool_indices`, where a NaN wins as in PyTorch).

    # NOTE (speed): five passes make values and flags, four more the gradient, each one
    # NumPy call over a block of examples with a constant stride (the interleaved halves of
    # each row, or alternate rows), whose iteration collapses to one long loop; blocks of
    # ~0.5 MB keep the row maxima between passes in L2. MNIST CNN's pool in its training
    # step (1 thread, loaded 2-vCPU Xeon): forward 3.9 instead of 8.3 ms for the offset scan
    # and int64 flat indices, gradient 3.9 ms as the fancy-index scatter's 3.8. Passes over
    # stride-2 views cost ~4x contiguous ones, so the forward copies the left elements out
    # once (its first passes: 0.9 instead of 1.25 ms) and the gradient writes element pairs
    # as one wider integer; loaded machine, old and new in turn in one process, min-median
    # of 80: forward 3.1-3.55 instead of 3.3-3.7 ms, gradient 3.3-3.65 instead of 3.3-3.75. The
    # gradient selects with the bits of g (as unsigned integers) times a flag: exact, so a
    # non-finite g leaves zeros (not NaN) where no window chose, as PyTorch.
    """

    def __init__(self, right: Any, lower: Any, size: tuple[int, ...]) -> None:
        self.right, self.lower, self.size = right, lower, tuple(size)
        self.shape = lower.shape

    @staticmethod
    def pool(x: Any, osize: tuple[int, ...]) -> tuple[Any, TileChoice] | None:
        """The pooled values of ``x`` (N, C, H, W) and the choice; None when a NaN is
        pooled."""
        n, c = x.shape[:2]
        oh, ow = osize
        if x.size == 0:
            return None
        best = xp.empty((n, c, oh, ow), dtype=x.dtype)
        right = xp.empty((n, c, 2 * oh, ow), dtype=bool)
        # the lower-row flag is made for every row pair by one comparison of the rows' maxima
        # with themselves shifted by a row, over contiguous memory (2x faster than comparing
        # alternate rows); the windows' flags are a strided view of it
        lower = xp.empty((n, c, 2 * oh, ow), dtype=bool)

        per = _block(x[0].nbytes)

        def run(lo: int, hi: int) -> None:  # examples [lo, hi), independent per thread
            buf = xp.empty((2, min(per, hi - lo), c, 2 * oh, ow), dtype=x.dtype)
            for b0 in range(lo, hi, per):  # a block's row maxima stay in cache
                b1 = min(hi, b0 + per)
                xs = x[b0:b1, :, : 2 * oh, : 2 * ow]
                # the left elements, de-interleaved once: the passes reading them run over
                # contiguous memory (a comparison of two stride-2 views cost 3x as much)
                left = buf[0, : b1 - b0]
                xp.copyto(left, xs[..., 0::2])
                rows = buf[1, : b1 - b0]  # each row's maximum per window column
                xp.maximum(left, xs[..., 1::2], out=rows)
                # right > left  ⇔  max(left, right) > left (no NaN here: see the check below)
                xp.greater(rows, left, out=right[b0:b1])
                hf, lf = rows.reshape(-1), lower[b0:b1].reshape(-1)
                xp.greater(hf[ow:], hf[:-ow], out=lf[:-ow])  # at (2i, j): r[2i+1, j] > r[2i, j]
                lf[-ow:] = False
                xp.maximum(rows[:, :, 0::2], rows[:, :, 1::2], out=best[b0:b1])

        parallel(run, n, x.size)
        if best.size and xp.isnan(best.max()):  # a NaN propagates to its window's maximum
            return None
        return best, TileChoice(right, lower[:, :, 0::2], x.shape[2:])

    def flat(self) -> Any:
        """PyTorch's indices: (2i + lower)·W + 2j + right of the chosen row."""
        w = self.size[1]
        oh, ow = self.shape[2:]
        rgt = xp.where(self.lower, self.right[:, :, 1::2], self.right[:, :, 0::2])
        base = (xp.arange(oh, dtype=xp.int64) * (2 * w)).reshape(-1, 1) + 2 * xp.arange(ow)
        return base + self.lower * w + rgt

    def gather(self, a: Any) -> Any:
        """``a`` (N, C, H, W) at the chosen elements, (N, C, OH, OW)."""
        oh, ow = self.shape[2:]
        a = a[:, :, : 2 * oh, : 2 * ow]
        rows = xp.where(self.right, a[..., 1::2], a[..., 0::2])
        return xp.where(self.lower, rows[:, :, 1::2], rows[:, :, 0::2])

    def scatter(self, g: Any, shape: tuple[int, ...]) -> Any:
        """Zeros of ``shape`` (N, C, H, W) holding g at the chosen elements."""
        n = shape[0]
        oh, ow = self.shape[2:]
        bits = _uint(g.dtype)
        exact = 2 * oh == shape[2] and 2 * ow == shape[3]
        out = (xp.empty if exact else xp.zeros)(shape, dtype=g.dtype)
        gb = g.view(bits)
        ob = out[:, :, : 2 * oh, : 2 * ow].view(bits)
        per = _block(out[0].nbytes)

        # an element pair (2j, 2j+1) of a row is one unsigned integer twice as wide (little-
        # endian: 2j in its low half), so the last pass places r's bits in the chosen half by
        # a shift of 0 or the element's width: a contiguous pass (and one over uint8 shift
        # amounts) instead of two passes writing stride-2 views (select, remainder)
        pair = _uint_pair(g.dtype) if exact and _LITTLE else None
        op = out.view(pair) if pair is not None else None
        width = xp.uint8(8 * xp.dtype(g.dtype).itemsize)

        def run(lo: int, hi: int) -> None:  # examples [lo, hi): disjoint outputs per thread
            m = min(per, hi - lo)
            buf = xp.empty((m, shape[1], 2 * oh, ow), dtype=bits)
            shift = xp.empty(buf.shape, dtype=xp.uint8) if pair is not None else None
            for b0 in range(lo, hi, per):  # a block's rows stay in cache
                b1 = min(hi, b0 + per)
                low, rgt, r = self.lower[b0:b1], self.right[b0:b1], buf[: b1 - b0]
                # (the bits of g, or 0) = bits·flag; the other element gets bits − that
                xp.multiply(gb[b0:b1], low, out=r[:, :, 1::2])
                xp.subtract(gb[b0:b1], r[:, :, 1::2], out=r[:, :, 0::2])
                if shift is not None:
                    s = shift[: b1 - b0]
                    xp.multiply(rgt.view(xp.uint8), width, out=s)
                    xp.left_shift(r, s, out=op[b0:b1], dtype=pair)
                else:
                    xp.multiply(r, rgt, out=ob[b0:b1, ..., 1::2])
                    xp.subtract(r, ob[b0:b1, ..., 1::2], out=ob[b0:b1, ..., 0::2])

        parallel(run, n, out.size)
        return out


def _block(example_bytes: int) -> int:
    """Examples per block of :class:`TileChoice`'s passes (about ``_TILE_BLOCK_BYTES``)."""
    return max(1, _TILE_BLOCK_BYTES // max(1, example_bytes))


# the input (or gradient) bytes :class:`TileChoice` takes through its passes at once, so the
# row maxima between them stay in L2
_TILE_BLOCK_BYTES = 512 << 10


def _uint(dtype: Any) -> Any:
    """The unsigned integer type as wide as ``dtype`` (to move floats' bits exactly)."""
    return xp.dtype(f"u{xp.dtype(dtype).itemsize}")


def _uint_pair(dtype: Any) -> Any:
    """The unsigned integer type as wide as two elements of ``dtype``; None past 64 bits."""
    size = 2 * xp.dtype(dtype).itemsize
    return xp.dtype(f"u{size}") if size <= 8 else None


_LITTLE = sys.byteorder == "little"


def max_pool_indices(x: Any, ksize: tuple[int, ...], stride: tuple[int, ...],
                     padding: tuple[int, ...], dilation: tuple[int, ...],
                     osize: tuple[int, ...]) -> tuple[Any, Any]:
    """Max-pool values and PyTorch's int64 indices (flat in each (n, c) unpadded plane).

    The index is the first maximum in row-major window order, and a NaN wins, exactly as
    PyTorch's CPU kernel (strict ``>`` scan). Without NaNs this is computed branch-free:
    ``best = max_k v_k``, then ``arg`` counts the offsets scanned before the first ``v_k == best``
    (masked writes with random masks cost ~10x more in NumPy). Non-overlapping tilings are
    first de-interleaved into contiguous (K, N, C, *out) planes: strided element-wise ops with
    a step of 2 elements are ~10x slower than contiguous ones.
    """
    sizes = x.shape[2:]
    n = x.shape[0]
    if (tuple(ksize) == (2, 2) and tuple(stride) == (2, 2) and not any(padding)
            and tuple(dilation) == (1, 1) and x.ndim == 4 and x.size >= 1 << 14
            and x.dtype.kind == "f" and all(2 * o <= s for o, s in zip(osize, sizes))):
        k = _max_pool_2x2.get()
        fast = _max_pool_2x2_fast.get()
        if k is not None and fast is not None:
            return _max_pool_2x2_run(fast, k, xp.ascontiguousarray(x), osize)
    best = xp.empty((n, x.shape[1], *osize), dtype=x.dtype)
    arg = xp.empty(best.shape, dtype=xp.uint8 if _prod(ksize) < 256 else xp.int64)
    has_nan = False

    def run(lo: int, hi: int) -> None:  # examples [lo, hi), independent per thread
        xs = x[lo:hi]
        views = _tiles(xs, ksize, stride, padding, dilation, osize)
        if views is None:
            pads = _pads_for(sizes, ksize, stride, padding, dilation, osize)
            lowest = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
            xpad = pad_input(xs, pads, lowest)
            views = [v for _, v in _offset_views(xpad, ksize, stride, dilation, osize)]
        if has_nan:
            b, a = _scan_with_nan(views)
            best[lo:hi], arg[lo:hi] = b, a
            return
        b = best[lo:hi]
        if len(views) > 1:
            xp.maximum(views[0], views[1], out=b)
        else:
            xp.copyto(b, views[0])
        for v in views[2:]:
            xp.maximum(b, v, out=b)
        a = arg[lo:hi]
        a[...] = 0
        found = views[0] == b
        for k in range(1, len(views)):
            a += ~found
            if k + 1 < len(views):
                found |= views[k] == b

    parallel(run, n, x.size)
    if x.dtype.kind == "f" and xp.isnan(best).any():
        # a NaN in a window propagates to its maximum: only then rerun with the exact scan
        # (checking the pooled values costs 1/prod(kernel) of checking the input)
        has_nan = True
        parallel(run, n, x.size)
    return best, _flat_index(arg, sizes, ksize, stride, padding, dilation, osize)


@_jit.kernel(writes=(1, 2))
def _max_pool_2x2(x: Any, best: Any, idx: Any, lo: int, hi: int, H: int, W: int, OH: int,
                  OW: int) -> None:  # pragma: no cover - compiled
    """2x2 max pooling, stride 2, of planes [lo, hi): the first maximum in row-major window
    order, a NaN winning (PyTorch's strict ``>`` scan), as branch-free selects.

    Output q is window (oy, ox) of plane nc; the window's elements lie at its top-left
    element p and at p + 1, p + W, p + W + 1, and that step is also the winner's index within
    the window. (The exact scan runs only where :func:`_max_pool_2x2_fast` met NaN or ±inf,
    so it is written for clarity: one flat loop over the outputs.)"""
    for q in range(lo * OH * OW, hi * OH * OW):
        nc, r = divmod(q, OH * OW)
        oy, ox = divmod(r, OW)
        i = 2 * oy * W + 2 * ox  # the top-left element's index in its plane
        p = nc * H * W + i
        m = x[p]
        j = 0
        for step in (1, W, W + 1):
            v = x[p + step]
            t = (v > m) | (v != v)
            m = v if t else m
            j = step if t else j
        best[q] = m
        idx[q] = i + j


@_jit.kernel(writes=(1, 2))
def _max_pool_2x2_fast(x: Any, best: Any, idx: Any, lo: int, hi: int, H: int, W: int, OH: int,
                       OW: int) -> bool:  # pragma: no cover - compiled
    """:func:`_max_pool_2x2` for inputs without NaN or ±inf, whose first maximum is the first
    element equal to the window's max: a max and a chain of equality selects that the compiler
    vectorises (2.0 instead of 3.9 ms for the MNIST CNN's pool on one Zen 3 core). Returns
    True when an input was NaN or infinite (Σ (v − v) is then NaN): the caller reruns the
    exact scan over the range."""
    s = x[0] - x[0]
    for nc in range(lo, hi):
        xb = nc * H * W
        ob = nc * OH * OW
        for oy in range(OH):
            r0 = xb + 2 * oy * W
            r1 = r0 + W
            o = ob + oy * OW
            i0 = 2 * oy * W
            for ox in range(OW):
                a = x[r0 + 2 * ox]
                b = x[r0 + 2 * ox + 1]
                c = x[r1 + 2 * ox]
                d = x[r1 + 2 * ox + 1]
                m = max(max(a, b), max(c, d))
                s += (a - a) + (b - b) + (c - c) + (d - d)
                best[o + ox] = m
                j = W + 1
                j = W if c == m else j
                j = 1 if b == m else j
                j = 0 if a == m else j
                idx[o + ox] = i0 + 2 * ox + j
    return s != s


def _max_pool_2x2_run(fast: Any, k: Any, x: Any, osize: tuple[int, ...]) -> tuple[Any, Any]:
    n, c, h, w = x.shape
    best = xp.empty((n, c, *osize), dtype=x.dtype)
    idx = xp.empty(best.shape, dtype=xp.int64)
    xf, bf, jf = x.reshape(-1), best.reshape(-1), idx.reshape(-1)

    def run(lo: int, hi: int) -> None:
        if fast(xf, bf, jf, lo * c, hi * c, h, w, *osize):
            k(xf, bf, jf, lo * c, hi * c, h, w, *osize)

    parallel(run, n, x.size)
    return best, idx


def _prod(t: tuple[int, ...]) -> int:
    p = 1
    for v in t:
        p *= v
    return p


def _tiles(x: Any, ksize: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
           dilation: tuple[int, ...], osize: tuple[int, ...]) -> list | None:
    """For windows that tile the input (kernel == stride, no padding or dilation): the K
    window offsets as contiguous (N, C, *out) planes, from one de-interleaving copy."""
    nd = len(ksize)
    if any(k != s for k, s in zip(ksize, stride)) or any(padding) or any(d != 1 for d in
                                                                           dilation):
        return None
    if any(o * k > s for o, k, s in zip(osize, ksize, x.shape[2:])):
        return None  # ceil_mode overhang
    crop = x[(slice(None), slice(None)) + tuple(slice(0, o * k) for o, k in zip(osize, ksize))]
    split = crop.reshape(x.shape[:2] + tuple(v for o, k in zip(osize, ksize) for v in (o, k)))
    perm = tuple(3 + 2 * i for i in range(nd)) + (0, 1) + tuple(2 + 2 * i for i in range(nd))
    planes = xp.ascontiguousarray(split.transpose(perm))
    return list(planes.reshape((-1,) + x.shape[:2] + tuple(osize)))


def _scan_with_nan(views: list) -> tuple[Any, Any]:
    """The exact strict-``>`` scan where a NaN wins (rare path: inputs containing NaN)."""
    best = views[0].copy()
    arg = xp.zeros(best.shape, dtype=xp.int64)
    better = xp.empty(best.shape, dtype=bool)
    for k, v in enumerate(views[1:], start=1):
        xp.greater(v, best, out=better)
        better |= xp.isnan(v)
        xp.copyto(best, v, where=better)
        xp.copyto(arg, k, where=better)
    return best, arg


def _flat_index(arg: Any, sizes: tuple[int, ...], ksize: tuple[int, ...],
                stride: tuple[int, ...], padding: tuple[int, ...], dilation: tuple[int, ...],
                osize: tuple[int, ...]) -> Any:
    """Kernel-offset ids -> flat indices into the unpadded plane: Σ_dim pos_dim · plane_stride
    with pos = out·stride − pad + offset·dilation."""
    nd = len(sizes)
    plane = [1] * nd
    for i in range(nd - 2, -1, -1):
        plane[i] = plane[i + 1] * sizes[i + 1]
    base = xp.zeros(osize, dtype=xp.int64)
    offset = xp.zeros(ksize, dtype=xp.int64)
    for i in range(nd):
        shp = [1] * nd
        shp[i] = -1
        base = base + ((xp.arange(osize[i]) * stride[i] - padding[i]) * plane[i]).reshape(shp)
        offset = offset + (xp.arange(ksize[i]) * dilation[i] * plane[i]).reshape(shp)
    return xp.take(offset.reshape(-1), arg) + base


def windows_overlap(ksize: tuple[int, ...], stride: tuple[int, ...],
                    dilation: tuple[int, ...]) -> bool:
    """True when two windows can share an element (then scattered gradients must add up)."""
    return any(t < d * (k - 1) + 1 for k, t, d in zip(ksize, stride, dilation))


def _global(index: Any, plane: int) -> Any:
    """Flat indices into the whole (N, C, plane) array: index + (n·C + c)·plane."""
    n, c = index.shape[:2]
    rows = (xp.arange(n * c, dtype=xp.int64) * plane).reshape((n, c) + (1,) * (index.ndim - 2))
    return (index + rows).reshape(-1)


class PoolGather(Function):
    """out[n, c, j] = x[n, c, index[n, c, j]] over the flattened spatial plane (max pooling's
    values);  dx = PoolScatter(g, index)."""

    saves = ()

    def forward(self, x: Any, index: Any = None, unique: bool = False,
                values: Any = None) -> Any:
        self.index, self.unique = index, unique
        if values is not None:
            return values
        if isinstance(index, TileChoice):
            return index.gather(x)
        plane = _prod(x.shape[2:])
        return x.reshape(-1)[_global(index, plane)].reshape(index.shape)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(PoolScatter, g, index=self.index, shape=self.inputs[0]._array.shape,
                        unique=self.unique),)


class PoolScatter(Function):
    """out = zeros(shape) with out[n, c, index[n, c, j]] += g[n, c, j] (adjoint of
    :class:`PoolGather`);  dg = PoolGather(ḡ, index)."""

    saves = ()

    def forward(self, g: Any, index: Any = None, shape: tuple[int, ...] = (),
                unique: bool = False) -> Any:
        self.index, self.unique = index, unique
        if isinstance(index, TileChoice):
            return index.scatter(g, shape)
        size = 1
        for s in shape:
            size *= s
        plane = size // (shape[0] * shape[1])
        if unique:  # windows never share an element: a plain fancy assignment is exact
            out = xp.zeros(size, dtype=g.dtype)
            src = g.reshape(-1)
            k = _scatter.get() if size >= 1 << 14 else None
            if k is not None and src.flags.c_contiguous and index.flags.c_contiguous:
                idx = index.reshape(-1)
                m = idx.size // (shape[0] * shape[1])  # outputs per (n, c) plane
                c = shape[1]
                parallel(lambda lo, hi: k(src, idx, out, plane, m, lo * c, hi * c), shape[0],
                         size)
                return out.reshape(shape)
            flat = _global(index, plane)

            def run(lo: int, hi: int) -> None:  # disjoint targets: chunks of examples
                m = flat.size // shape[0]
                out[flat[lo * m:hi * m]] = src[lo * m:hi * m]

            parallel(run, shape[0], size)
        else:
            out = xp.bincount(_global(index, plane), weights=g.reshape(-1),
                              minlength=size).astype(g.dtype)
        return out.reshape(shape)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(PoolGather, g, index=self.index, unique=self.unique),)


@_jit.kernel(writes=(2,))
def _scatter(src: Any, index: Any, out: Any, plane: int, m: int, lo: int,
             hi: int) -> None:  # pragma: no cover - compiled
    """out[r·plane + index[j]] = src[j] for the m entries j of each (n, c) plane r in [lo, hi)
    (distinct targets): one compiled loop instead of NumPy's fancy assignment, with no global
    int64 index array built first."""
    for r in range(lo, hi):
        base = r * plane
        for j in range(r * m, (r + 1) * m):
            out[base + index[j]] = src[j]


def avg_divisor(sizes: tuple[int, ...], ksize: tuple[int, ...], stride: tuple[int, ...],
                padding: tuple[int, ...], osize: tuple[int, ...], count_include_pad: bool,
                divisor_override: int | None, dtype: Any) -> Any:
    """Per-window divisor, PyTorch's rule: the window clipped to input + padding (include_pad)
    or to the input only; a box, so the product of per-dimension lengths."""
    if divisor_override:
        return xp.asarray(1.0 / divisor_override, dtype=dtype)
    inv = xp.ones(osize, dtype=xp.float64)
    nd = len(sizes)
    for i in range(nd):
        start = xp.arange(osize[i]) * stride[i] - padding[i]
        end = xp.minimum(start + ksize[i], sizes[i] + padding[i])
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, sizes[i])
        shp = [1] * nd
        shp[i] = -1
        inv = inv / (end - start).reshape(shp)
    return inv.astype(dtype)


class AvgPool(Function):
    """out[n, c, j] = inv_div[j] · Σ_{k ∈ window(j)} x_pad[n, c, k] (zero padding);
    dx = AvgPoolAdjoint(g)."""

    saves = ()

    def forward(self, x: Any, ksize: tuple[int, ...] = (), stride: tuple[int, ...] = (),
                padding: tuple[int, ...] = (), osize: tuple[int, ...] = (),
                inv_div: Any = None) -> Any:
        self.ksize, self.stride, self.padding, self.osize = ksize, stride, padding, osize
        self.inv_div = inv_div
        ones = (1,) * len(ksize)
        pads = _pads_for(x.shape[2:], ksize, stride, padding, ones, osize)
        xpad = pad_input(x, pads)
        views = _offset_views(xpad, ksize, stride, ones, osize)
        _, first = next(views)
        out = first.copy()
        for _, v in views:
            out += v
        out *= inv_div
        return out

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(AvgPoolAdjoint, g, size=self.inputs[0]._array.shape[2:],
                        ksize=self.ksize, stride=self.stride, padding=self.padding,
                        inv_div=self.inv_div),)


class AvgPoolAdjoint(Function):
    """dx_pad[n, c, k] = Σ_{j : k ∈ window(j)} inv_div[j] · g[n, c, j], cropped to the input
    (the transpose of :class:`AvgPool`);  dg = AvgPool(ḡ)."""

    saves = ()

    def forward(self, g: Any, size: tuple[int, ...] = (), ksize: tuple[int, ...] = (),
                stride: tuple[int, ...] = (), padding: tuple[int, ...] = (),
                inv_div: Any = None) -> Any:
        self.ksize, self.stride, self.padding, self.inv_div = ksize, stride, padding, inv_div
        osize = g.shape[2:]
        self.osize = osize
        ones = (1,) * len(ksize)
        pads = _pads_for(size, ksize, stride, padding, ones, osize)
        shape = g.shape[:2] + tuple(s + lo + hi for s, (lo, hi) in zip(size, pads))
        out = xp.zeros(shape, dtype=g.dtype)
        gs = g * inv_div
        for _, v in _offset_views(out, ksize, stride, ones, osize):
            v += gs
        return out[interior(pads, size)]

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(AvgPool, g, ksize=self.ksize, stride=self.stride, padding=self.padding,
                        osize=self.osize, inv_div=self.inv_div),)
