"""Convolution primitives for any number of spatial dimensions (1-D, 2-D, 3-D).

Three primitives close under differentiation, so gradients of every order exist (Hessians of
CNN losses, double backward):

* :class:`Conv`: y = W ⋆ x (+ b);  dx = ConvTranspose(g, W), dW = ConvWeightGrad(x, g)
* :class:`ConvTranspose`: x = Wᵀ ⋆ y (the adjoint);  dy = Conv(ḡ, W), dW = ConvWeightGrad(ḡ, y)
* :class:`ConvWeightGrad`: dW = ∂⟨W ⋆ x, g⟩/∂W;  dx = ConvTranspose(g, ḡ), dg = Conv(x, ḡ)

Forward is im2col + GEMM: the padded input is viewed through ``as_strided`` as
``(N, C, *kernel, *out)`` (no copy) and copied, a block of samples at a time, into per-sample
column matrices ``(N, C·prod(kernel), P)`` (:class:`SampleColumns`), then ``W₂ @ cols`` is one
batched BLAS call per block whose result already is the (N, C', *out) output; a bias rides in
the GEMM as a row of ones. The weight gradient makes those columns again, block by block
(Σ_n cols[n] @ g[n]ᵀ, whose ones row gives db). The
adjoint (input gradient) is one GEMM ``W₂ᵀ @ G`` followed by col2im, a scatter-add written as
one vectorised add per kernel offset (``prod(kernel)`` iterations, never a loop over batch or
positions); for stride 1 in the flat layout of :meth:`Columns.flat_gemm_col2im`, where each
offset's add is one contiguous run, or (``SHIFTED_COL2IM``, off by default) at one BLAS
thread with no column matrix at all: one GEMM per kernel offset on a shifted view of the flat
gradient, accumulated in place (:func:`shifted_col2im`). At one BLAS thread, stride-1 2-D
forwards with kw·C >= 24 use a third of im2col's copy (:func:`row_fold_forward`) and the
weight gradient adds each sample's product in place (:func:`accumulated_weight_grad`). Thin
outputs (under ``SAMPLE_MIN_P`` positions a sample)
use the channel-first layouts of :class:`Columns` (one GEMM over the whole batch).

Layouts measured for the MNIST CNN's Conv2d(32, 64, 3) at batch 64 (1 thread, CPU ms, 2 vCPU
Zen 3, OpenBLAS; the three GEMMs alone 17-21 each, M = 64 rows run at ~2/3 of OpenBLAS's
peak): forward (im2col, GEMM, layout) 29-32 channel-first with the copy to (N, C', *out),
22-25 per sample; input gradient 24-27 with wide columns (its 2-D strided adds cost ~0.2 µs a
row), 21-24 flat; weight gradient 19-21 in either. NHWC columns and masked writes were
rejected. Most of the remaining non-GEMM time is memory traffic, so the copies and adds are
split over the BLAS threads (:func:`chainrule._threads.parallel`).

Re-measured for issue 17 (same conv2, 1 thread, loaded 2-vCPU AVX-512 Xeon, OpenBLAS
sgemm 2048³ ~160 GFLOPS; alternatives timed in turn in one process): the per-sample GEMMs run at
~130-145 GFLOPS with their columns in cache, so the three GEMMs (~4.1 GFLOP with the flat
layout's zero columns) are ~30 ms whatever the layout, and each alternative lost:
forward 15.0 (per sample) against 16.0-16.5 (wide channel-first, block GEMM, copy out) and
17.3-19.4 (NHWC orientation, colsᵀ @ W₂ᵀ); weight gradient 15.2-15.7 against 17.0 (blocks of
samples concatenated along K, one GEMM each) and 22.0 (no im2col: nine GEMMs of g against
shifted views of the flat input, N = C = 32 too thin); input gradient 16.9-18.7 (flat)
against 21.5 (wide) and 21.9 (624 columns a sample, adds per sample: 3-D strided adds), and
a GEMM with kx folded into K (96 x 192 instead of 288 x 64) ran 15.0 instead of 13.1 ms; the
input and weight gradients fused in one pass over g (the weight gradient reading the flat g
with wide columns) 39.0 against 38.1 ms for the two. Im2col is ~2.6 ms a pass (24-element
runs; a two-stage copy through kx-shifted planes was no faster).

Issue 17, direct GEMMs on strided views (NumPy's BLAS through ``ctypes``, :func:`blas_gemm`:
``np.matmul`` can neither accumulate, β = 1, nor take a view whose rows overlap; conv2 as
above, 1 thread, loaded 2-vCPU AVX-512 Xeon (load 6-16), CPU ms, min of 15-41 interleaved
repeats in one process). At one BLAS thread only (they call BLAS once per sample and kernel
row or offset; at 2 threads OpenBLAS threads each small call: the input gradient took 51
against 40 CPU ms). The forward and weight-gradient paths are on; the input-gradient one is
off by default (``SHIFTED_COL2IM``: its gain did not hold up in the last runs, see below):

* forward, :func:`row_fold_forward` (kx folded into K = 96, kh GEMMs straight into the
  output): 13.1-15.0 against 15.6-17.1 for im2col + GEMM (bias included); for kw·C >= 24 only
  (conv1, C = 1: 1.5 against 0.9);
* input gradient, :func:`shifted_col2im` (nine GEMMs of K = C' = 64 on shifted views of the
  flat gradient): 15.6-17.5 against 17.0-19.5 for the flat col2im in five runs, 19.8 against
  19.7 in the last (576 BLAS calls a batch through ctypes cost ~1 ms: ~1.8 µs each);
* weight gradient, :func:`accumulated_weight_grad` (per-sample products accumulated in place):
  15.4-17.7 against 16.0-18.8 (min of each run; the load rose over the runs).

Inside the eager step (the flags toggled step by step, 30-60 steps each, median CPU ms per
primitive, conv1 and conv2 together, three runs): Conv.forward 17.1 / 17.6 against 19.2 /
19.6; ConvTranspose (shifted) 21.0 / 18.5 / 21.4 against 20.7 / 19.2 / 20.2; ConvWeightGrad
20.8 / 18.4-18.7 / 21.0 against 20.9 / 18.9 / 20.9. Whole step (Adadelta, b=64), the
shipped defaults (row fold and accumulated weight gradient on, shifted input gradient off)
against all three off, 30-40 interleaved repeats each, min / median, two runs: eager
94.0 / 101.1 -> 92.1 / 97.3 and 90.1 / 99.0 -> 92.4 / 96.1; compiled 90.8 / 94.2 -> 84.9 / 92.5
and 90.1 / 94.4 -> 88.0 / 94.0; torch 82.4 / 88.1 and 80.8 / 87.7 (so compiled / torch by
median 1.07 -> 1.05 and 1.08 -> 1.07; differences of 1-2 ms are within that load's noise).

Rejected (same setting): the forward as nine GEMMs of K = C = 32 on shifted views of the flat
input: the GEMMs alone 12.4 against 9.4 for K = 288, more than the 2.3 ms im2col they save,
and the (C', plane) result has to be cropped to (N, C', *out) (1.1-1.3): 13.5 against 12.9 in
all (no bias); kx folded with that crop 12.5 against 12.9; the batch transposed once to
(C, N·plane), 4 or 8 samples a GEMM, 13.5 / 14.2; wide per-sample columns (im2col runs of 622
elements, 1.3 instead of 2.3, but 8 % more GEMM and the crop) 13.9 against 14.1. Winograd
F(2x2, 3x3) forward (flat parity planes, every transform one contiguous NumPy pass): 23.6-26.4
against 14.6; its 16 GEMMs alone take 8.0, the ~28 M element passes of the transforms the rest
(float32 error 2.6e-5 of 92 against float64, im2col's 6.4e-5). Input gradient with kx folded
into K = 192 (three GEMMs, flat-shifted copies): 15.7 against 15.6. Weight gradient as nine
GEMMs per sample (M 64, N 32) 19.7, from the forward's kx-shifted planes (three GEMMs,
N = 96) 18.6-18.7 (transposed) / 20.3, against 17.0-17.1 accumulated.

``padding`` is given per spatial dimension as ``(low, high)`` pairs so that ``padding="same"``
with even kernels (asymmetric, as in PyTorch) needs no special case.
"""

from __future__ import annotations

import itertools
from typing import Any

from chainrule import backend
from chainrule._threads import parallel, workers
from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.ops.reduce import Sum

Pads = tuple[tuple[int, int], ...]

# The channel-first layout's column matrix is kept for the weight gradient when at most this
# large (it saves re-running im2col, ~5 % of a small CNN's step); larger ones are rebuilt in
# backward, so deep or wide models do not hold one im2col copy of every activation.
KEEP_COLS_BYTES = 64 << 20
# Use the wide column layout (see :class:`Columns`) for stride-1 convolutions.
WIDE_COLUMNS = True
# Use the per-sample column layout (see :func:`sample_cols`) for the forward and the weight
# gradient when every sample has at least this many output positions (below it the per-sample
# GEMMs are too thin and one channel-first GEMM over the whole batch is faster).
SAMPLE_COLUMNS = True
SAMPLE_MIN_P = 100
# Compute stride-1 input gradients in the flat layout (see :meth:`Columns.flat_gemm_col2im`).
FLAT_COL2IM = True
# Compute stride-1, one-group input gradients by GEMMs on shifted views (see
# :func:`shifted_col2im`) when BLAS runs one thread and the padded plane has at least this many
# positions. Off: on the loaded machine it measured 0.5-2 ms faster alone in some runs and
# 0.1-1.2 ms slower inside the training step in others (its 576 small BLAS calls a batch);
# to be settled on a quiet machine.
SHIFTED_COL2IM = False
SHIFTED_MIN_PLANE = 256
# Accumulate the per-sample weight-gradient products in place (see
# :func:`accumulated_weight_grad`) when BLAS runs one thread.
ACCUMULATE_WEIGHT_GRAD = True
# Compute stride-1, one-group 2-D forwards from kx-shifted planes (see :func:`row_fold_forward`)
# when the per-sample layout serves and BLAS runs one thread.
ROW_FOLD = True
# ... when its GEMMs have at least this inner dimension kw·C (MNIST CNN-like 26x26 maps, 32
# output channels, 1 thread, CPU ms against the im2col path: C = 1 1.50 / 0.93, C = 4
# 1.93 / 1.44, C = 8 2.94 / 3.47, C = 16 4.97 / 6.44)
ROW_FOLD_MIN_K = 24


def copy_split(dst: Any, src: Any) -> None:
    """``dst[...] = src`` split along the first axis with at least two entries."""
    axis = next((i for i, d in enumerate(dst.shape) if d > 1), 0)
    lead = (slice(None),) * axis

    def run(lo: int, hi: int) -> None:
        xp.copyto(dst[lead + (slice(lo, hi),)], src[lead + (slice(lo, hi),)])

    parallel(run, dst.shape[axis] if dst.ndim else 1, dst.size)


def out_size(size: int, k: int, stride: int, lo: int, hi: int, dilation: int) -> int:
    """Output length of a convolution: ⌊(size + lo + hi − dilation·(k−1) − 1) / stride⌋ + 1."""
    return (size + lo + hi - dilation * (k - 1) - 1) // stride + 1


def out_sizes(shape: tuple[int, ...], ksize: tuple[int, ...], stride: tuple[int, ...],
              pads: Pads, dilation: tuple[int, ...]) -> tuple[int, ...]:
    """Spatial output sizes of a convolution (or unfold) of an input of ``shape`` (N, C, *S)."""
    return tuple(out_size(s, k, t, lo, hi, d)
                 for s, k, t, (lo, hi), d in zip(shape[2:], ksize, stride, pads, dilation))


def pad_input(x: Any, pads: Pads, value: float = 0.0) -> Any:
    """``x`` (N, C, *S) with ``pads`` added around each spatial dim (x itself when none)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    shape = x.shape[:2] + tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pads))
    out = xp.full(shape, value, dtype=x.dtype) if value else xp.zeros(shape, dtype=x.dtype)
    out[interior(pads, x.shape[2:])] = x
    return out


def interior(pads: Pads, sizes: tuple[int, ...]) -> tuple[slice, ...]:
    """Index of the unpadded region inside a padded (N, C, *S) array."""
    return (slice(None), slice(None)) + tuple(
        slice(lo, lo + s) for (lo, _), s in zip(pads, sizes)
    )


def windows(xpad: Any, ksize: tuple[int, ...], stride: tuple[int, ...],
            dilation: tuple[int, ...], osize: tuple[int, ...]) -> Any:
    """A read-only ``(C, *kernel, N, *out)`` view of the padded input ``(N, C, *S)``: entry
    ``[c, *k, n, *o]`` is ``xpad[n, c, *(o·stride + k·dilation)]``."""
    st = xpad.strides
    n, c = xpad.shape[:2]
    shape = (c, *ksize, n, *osize)
    strides = (st[1], *(s * d for s, d in zip(st[2:], dilation)), st[0],
               *(s * t for s, t in zip(st[2:], stride)))
    return xp.lib.stride_tricks.as_strided(xpad, shape, strides, writeable=False)


def im2col(xpad: Any, ksize: tuple[int, ...], stride: tuple[int, ...],
           dilation: tuple[int, ...], osize: tuple[int, ...]) -> Any:
    """The column matrix ``(C·prod(kernel), N·prod(out))`` of the padded input (one copy)."""
    v = windows(xpad, ksize, stride, dilation, osize)
    out = xp.empty(v.shape, dtype=v.dtype)
    copy_split(out, v)
    return out.reshape(v.shape[0] * _prod(ksize), -1)


def col2im(cols: Any, shape: tuple[int, ...], ksize: tuple[int, ...], stride: tuple[int, ...],
           dilation: tuple[int, ...], osize: tuple[int, ...]) -> Any:
    """The adjoint of :func:`im2col`: scatter-add the columns into a zero array of the padded
    input's ``shape`` (N, C, *S), one vectorised add per kernel offset."""
    n, c = shape[:2]
    out = xp.zeros(shape, dtype=cols.dtype)
    dst = out.swapaxes(0, 1)  # (C, N, *S) view: the adds run along the last axis
    src = cols.reshape((c, *ksize, n, *osize))
    slices = [
        (offs, tuple(slice(o * d, o * d + t * (m - 1) + 1, t)
                     for o, d, t, m in zip(offs, dilation, stride, osize)))
        for offs in itertools.product(*(range(k) for k in ksize))
    ]

    def run(lo: int, hi: int) -> None:  # channels [lo, hi): disjoint outputs per thread
        for offs, sl in slices:
            view = dst[(slice(lo, hi), slice(None)) + sl]
            view += src[(slice(lo, hi),) + offs]

    parallel(run, c, cols.size)
    return out


def _prod(t: tuple[int, ...]) -> int:
    p = 1
    for v in t:
        p *= v
    return p


def _plane_strides(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a C-contiguous spatial plane of ``sizes``."""
    out = [1] * len(sizes)
    for i in range(len(sizes) - 2, -1, -1):
        out[i] = out[i + 1] * sizes[i + 1]
    return tuple(out)


class Columns:
    """The column layout shared by the three conv primitives for one geometry: the padded input
    (N, C, *sizes), ``kernel``, ``stride``, ``dilation`` and the output positions ``osize``.

    Standard layout: one column per output position, ``P = prod(osize)`` per sample.

    Wide layout (every stride 1, 2+ spatial dims): each sample's padded plane is read as one
    flat signal and output position p = Σ o_d·S_d (S = the plane's strides) gets a column, so
    ``P = Σ (o_d − 1)·S_d + 1``. A kernel offset is then a constant shift of the flat index, so
    im2col copies and col2im adds run over P contiguous elements (~600 for 28x28 MNIST maps)
    instead of one output row (~24): NumPy's per-run overhead made col2im 3-4x slower. The
    columns that straddle a row end are garbage; the GEMMs grow by ~(W/W_out − 1) (8 %), their
    outputs there are never read, and their gradients are set to zero.
    """

    def __init__(self, n: int, c: int, sizes: tuple[int, ...], ksize: tuple[int, ...],
                 stride: tuple[int, ...], dilation: tuple[int, ...], osize: tuple[int, ...],
                 wide: bool = True) -> None:
        self.n, self.c, self.sizes, self.ksize = n, c, tuple(sizes), tuple(ksize)
        self.stride, self.dilation, self.osize = tuple(stride), tuple(dilation), tuple(osize)
        self.wide = wide and WIDE_COLUMNS and len(ksize) > 1 and all(t == 1 for t in stride)
        self.plane = _plane_strides(self.sizes)
        if self.wide:
            self.p = sum((o - 1) * s for o, s in zip(osize, self.plane)) + 1
        else:
            self.p = _prod(self.osize)

    def _offsets(self) -> list[int]:
        """Flat shift of each kernel offset in the wide layout (row-major kernel order)."""
        return [sum(o * d * s for o, d, s in zip(offs, self.dilation, self.plane))
                for offs in itertools.product(*(range(k) for k in self.ksize))]

    def cols(self, xpad: Any) -> Any:
        """The column matrix (C·prod(kernel), N·P): one copy of strided windows."""
        if not self.wide:
            return im2col(xpad, self.ksize, self.stride, self.dilation, self.osize)
        it = xpad.itemsize
        if xpad.strides[2:] != tuple(s * it for s in self.plane):
            xpad = xp.ascontiguousarray(xpad)  # the flat trick needs contiguous planes
        st = xpad.strides
        shape = (self.c, *self.ksize, self.n, self.p)
        strides = (st[1], *(s * d * it for s, d in zip(self.plane, self.dilation)), st[0], it)
        v = xp.lib.stride_tricks.as_strided(xpad, shape, strides, writeable=False)
        out = xp.empty(shape, dtype=xpad.dtype)
        copy_split(out, v)
        return out.reshape(self.c * _prod(self.ksize), -1)

    def _out_view(self, flat: Any) -> Any:
        """The (C', N, *osize) positions inside a (C', N·P) array in this layout."""
        c2, n = flat.shape[0], flat.shape[1] // self.p  # n: the samples in this array
        if not self.wide:
            return flat.reshape((c2, n, *self.osize))
        it = flat.itemsize
        strides = (flat.strides[0], self.p * it, *(s * it for s in self.plane))
        return xp.lib.stride_tricks.as_strided(flat, (c2, n, *self.osize), strides)

    def output(self, flat: Any, bias: Any = None) -> Any:
        """A (C', N·P) GEMM result -> contiguous (N, C', *osize), adding ``bias`` on the way."""
        src = self._out_view(flat).swapaxes(0, 1)
        out = xp.empty(src.shape, dtype=src.dtype)
        if bias is None:
            copy_split(out, src)
            return out
        b = bias.reshape((1, -1) + (1,) * len(self.osize))

        def run(lo: int, hi: int) -> None:
            xp.add(src[lo:hi], b, out=out[lo:hi])

        parallel(run, self.n, out.size)
        return out

    def grad_cols(self, g: Any) -> Any:
        """(N, C', *osize) -> (C', N·P) in this layout (zeros in the garbage columns)."""
        if not self.wide:
            out = xp.empty((g.shape[1], g.shape[0], *g.shape[2:]), dtype=g.dtype)
            copy_split(out, g.swapaxes(0, 1))
            return out.reshape(g.shape[1], -1)
        flat = xp.zeros((g.shape[1], self.n * self.p), dtype=g.dtype)
        copy_split(self._out_view(flat), g.swapaxes(0, 1))
        return flat

    def col2im(self, cols: Any) -> Any:
        """Adjoint of :meth:`cols`: scatter-add (C·prod(kernel), N·P) into zeros (N, C, *sizes),
        one vectorised add per kernel offset."""
        shape = (self.n, self.c, *self.sizes)
        if not self.wide:
            return col2im(cols, shape, self.ksize, self.stride, self.dilation, self.osize)
        out = xp.zeros(shape, dtype=cols.dtype)
        dst = out.reshape(self.n, self.c, -1).swapaxes(0, 1)  # (C, N, plane)
        src = cols.reshape(self.c, -1, self.n, self.p)
        offsets = self._offsets()

        def run(lo: int, hi: int) -> None:  # channels [lo, hi): disjoint outputs per thread
            for k, off in enumerate(offsets):
                view = dst[lo:hi, :, off:off + self.p]
                view += src[lo:hi, k]

        parallel(run, self.c, cols.size)
        return out


    def gemm_output(self, w2: Any, cols: Any, bias: Any = None) -> Any:
        """``output(w2 @ cols, bias)`` (the forward, one group) computed a few samples at a
        time, so each block of the product is laid out while still in cache (MNIST CNN conv2:
        21 instead of 22.4 ms for GEMM and layout on one Zen 3 core)."""
        n, p, rows = self.n, self.p, w2.shape[0]
        dt = xp.result_type(w2, cols)
        nb = max(1, min(n, _OUT_BLOCK_BYTES // max(1, rows * p * dt.itemsize)))
        out = xp.empty((n, rows, *self.osize), dtype=dt)
        buf = xp.empty(rows * nb * p, dtype=dt)
        b = None if bias is None else bias.reshape((1, -1) + (1,) * len(self.osize))
        for n0 in range(0, n, nb):
            n1 = min(n, n0 + nb)
            blk = buf[: rows * (n1 - n0) * p].reshape(rows, -1)
            xp.matmul(w2, cols[:, n0 * p:n1 * p], out=blk)
            src = self._out_view(blk).swapaxes(0, 1)
            if b is None:
                xp.copyto(out[n0:n1], src)
            else:
                xp.add(src, b, out=out[n0:n1])
        return out

    def gemm_col2im(self, w2: Any, g2: Any) -> Any:
        """``col2im(w2ᵀ @ g2)`` (the input gradient, wide layout, one group) computed a few
        samples at a time, so each block of columns is scattered while still in cache.

        # NOTE (speed): the full column matrix of the MNIST CNN's conv2 is 46 MB, written by
        # the GEMM and read back by col2im from DRAM; in ~3 MB blocks the pair takes 22
        # instead of 25 ms (one Zen 3 core), and the 46 MB are never allocated.
        """
        n, p, c = self.n, self.p, self.c
        rows = w2.shape[1]
        dt = xp.result_type(w2, g2)
        nb = max(1, min(n, _BLOCK_BYTES // max(1, rows * p * dt.itemsize)))
        out = xp.zeros((n, c, *self.sizes), dtype=dt)
        dst = out.reshape(n, c, -1)
        buf = xp.empty(rows * nb * p, dtype=dt)
        offsets = self._offsets()
        for n0 in range(0, n, nb):
            n1 = min(n, n0 + nb)
            blk = buf[: rows * (n1 - n0) * p].reshape(rows, -1)
            xp.matmul(w2.T, g2[:, n0 * p:n1 * p], out=blk)
            src = blk.reshape(c, -1, n1 - n0, p)
            d = dst[n0:n1].swapaxes(0, 1)  # (C, block, plane)

            def run(lo: int, hi: int, src: Any = src, d: Any = d) -> None:  # channels
                for k, off in enumerate(offsets):
                    view = d[lo:hi, :, off:off + p]
                    view += src[lo:hi, k]

            parallel(run, c, blk.size)
        return out

    def flat_gemm_col2im(self, w: Any, y: Any) -> Any:
        """``col2im(W₂ᵀ @ y)`` (the input gradient of a stride-1 convolution, one group) in the
        flat layout: a few samples at a time, column q = n·plane + Σ o_d·S_d of a block (S: the
        padded plane's strides) holds output position o of its sample n, the other columns are
        zero. Every kernel offset is then one constant shift of a whole block, channels and
        samples included, so each offset's scatter-add is a single contiguous add.

        # NOTE (speed): NumPy adds over 2-D strided views cost ~0.2 µs per row; the wide
        # layout's adds run over channels x samples rows of ~600 elements and took 6-7 ms of
        # the MNIST CNN's conv2 input gradient, the flat adds take ~1.5 ms, for ~9 % more GEMM
        # columns (plane instead of wide P). The whole loop runs in the calling thread, its
        # GEMMs on BLAS's threads: handing each block's adds to :func:`parallel` between the
        # GEMMs competes with OpenBLAS's spinning workers, and the gradient is laid out a
        # block at a time (it was zeroed and copied whole up front); MNIST CNN conv2, 2 vCPU:
        # 13-14 instead of 16-17 ms at 2 threads, 19-22 instead of 22-26 ms at 1 thread.
        """
        n, c, co = self.n, self.c, w.shape[0]
        plane = _prod(self.sizes)
        kk = _prod(self.ksize)
        it = y.dtype.itemsize
        dt = xp.result_type(w, y)
        # rows of the product in (kernel offset, channel) order: one offset is a (C, block) slab
        wk = xp.ascontiguousarray(w.reshape(co, c, kk).swapaxes(1, 2)).reshape(co, kk * c)
        nb = max(1, min(n, _BLOCK_BYTES // max(1, kk * c * plane * dt.itemsize)))
        out = xp.empty((n, c, *self.sizes), dtype=dt)
        offsets = self._offsets()
        ostr = tuple(s * it for s in self.plane)
        g2 = xp.zeros((co, nb * plane), dtype=y.dtype)  # a block of y, zeros elsewhere
        buf = xp.empty(kk * c * nb * plane, dtype=dt)
        acc = xp.empty(c * nb * plane, dtype=dt)
        for n0 in range(0, n, nb):
            n1 = min(n, n0 + nb)
            b = n1 - n0
            # y's block -> (C', b·plane): every block writes the same positions, so the zeros
            # elsewhere are set once
            gv = xp.lib.stride_tricks.as_strided(
                g2, (co, b, *self.osize), (g2.strides[0], plane * it, *ostr))
            xp.copyto(gv, y[n0:n1].swapaxes(0, 1))
            m = c * b * plane  # one slab: channels x samples of the block
            blk = buf[: kk * m].reshape(kk * c, -1)
            xp.matmul(wk.T, g2[:, : b * plane], out=blk)
            src = buf[: kk * m].reshape(kk, m)
            a = acc[:m]
            xp.copyto(a, src[0])  # the first offset is 0 (no shift)
            for k, off in enumerate(offsets[1:], 1):
                # a shift past a channel's or a sample's end only moves zero columns
                a[off:] += src[k, : m - off]
            xp.copyto(out[n0:n1].reshape(b, c, plane), a.reshape(c, b, plane).swapaxes(0, 1))
        return out


def use_sample_layout(osize: tuple[int, ...]) -> bool:
    """True when the per-sample layout serves a convolution with output positions ``osize``."""
    return SAMPLE_COLUMNS and _prod(osize) >= SAMPLE_MIN_P


class SampleColumns:
    """Per-sample column matrices ``(N, C·prod(kernel), prod(out))`` of the padded input
    ``(N, C, *S)``, made a block of samples at a time: entry ``[n, (c, k), o]`` is
    ``xpad[n, c, *(o·stride + k·dilation)]``; with ``ones`` a last row of ones follows (the
    bias's column). :meth:`block` copies the strided windows of samples ``[n0, n1)`` into one
    reused buffer of about ``_COLS_BLOCK_BYTES``.

    With the batch outermost, ``W₂ @ cols[n]`` is already sample n's (C', *out) output, so the
    forward needs no layout copy (MNIST CNN conv2, one Zen 3 core: im2col + GEMM + bias 22-25
    instead of 29-32 ms for the channel-first layout with its copy to (N, C', *out)).

    # NOTE (speed): the whole column matrix of the MNIST CNN's conv2 is 42 MB: written once by
    # im2col and read back from memory by the forward GEMM and again by the weight gradient's.
    # A block of ~1 MB is written and read while it stays in cache, twice (forward and weight
    # gradient), and nothing of that size is kept in the graph. Each sample's GEMM is the same
    # BLAS call as with the whole matrix, so results are bit for bit those of one block.
    """

    def __init__(self, xpad: Any, ksize: tuple[int, ...], stride: tuple[int, ...],
                 dilation: tuple[int, ...], osize: tuple[int, ...], ones: bool = False) -> None:
        st = xpad.strides
        self.n, c = xpad.shape[:2]
        self.rows, self.p, self.ones = c * _prod(ksize), _prod(osize), ones
        self.shape = (c, *ksize, *osize)  # the windows of one sample
        strides = (st[0], st[1], *(s * d for s, d in zip(st[2:], dilation)),
                   *(s * t for s, t in zip(st[2:], stride)))
        self.view = xp.lib.stride_tricks.as_strided(xpad, (self.n, *self.shape), strides,
                                                    writeable=False)
        self.xpad, self.geometry = xpad, (tuple(ksize), tuple(stride), tuple(dilation),
                                          tuple(osize))
        self.dtype = xpad.dtype
        per = (self.rows + ones) * self.p * xpad.dtype.itemsize
        self.nb = max(1, min(self.n, _COLS_BLOCK_BYTES // max(1, per)))
        self.buf: Any = None

    def block(self, n0: int, n1: int) -> Any:
        """The columns of samples ``[n0, n1)`` (at most ``nb``): ``(n1 − n0, rows [+ 1], P)``,
        valid until the next call."""
        if self.buf is None:
            self.buf = xp.empty((self.nb, self.rows + self.ones, self.p), dtype=self.dtype)
            if self.ones:
                self.buf[:, self.rows] = 1
        out = self.buf[: n1 - n0]
        copy_split(out[:, : self.rows].reshape((n1 - n0, *self.shape)), self.view[n0:n1])
        return out

    def whole(self) -> Any:
        """All N samples' columns in one new array (one copy of strided windows)."""
        out = xp.empty((self.n, self.rows + self.ones, self.p), dtype=self.dtype)
        copy_split(out[:, : self.rows].reshape((self.n, *self.shape)), self.view)
        if self.ones:
            out[:, self.rows] = 1
        return out


class _Whole:
    """Columns already made (a ``(N, rows, P)`` array) behind :class:`SampleColumns`'s
    interface."""

    def __init__(self, cols: Any) -> None:
        self.cols, self.n, self.nb, self.p = cols, cols.shape[0], cols.shape[0], cols.shape[2]
        self.dtype = cols.dtype

    def block(self, n0: int, n1: int) -> Any:
        return self.cols[n0:n1]


def sample_cols(xpad: Any, ksize: tuple[int, ...], stride: tuple[int, ...],
                dilation: tuple[int, ...], osize: tuple[int, ...], ones: bool = False) -> Any:
    """:class:`SampleColumns` of ``xpad`` as one ``(N, C·prod(kernel) [+ 1], prod(out))``
    array."""
    return SampleColumns(xpad, ksize, stride, dilation, osize, ones).whole()


def sample_forward(w: Any, cols: Any, b: Any, groups: int, osize: tuple[int, ...]) -> Any:
    """y[n] = W₂ @ cols[n] (+ b) for per-sample columns (a :class:`SampleColumns` or an
    ``(N, rows, P)`` array): one batched GEMM per block of samples (over samples and groups)
    writing the (N, C', *out) output itself. Columns with a row of ones take the bias into
    the GEMM as a last column of W₂ (a separate broadcast add over the output costs ~0.3 ns
    per element, ~3 % of the GEMM)."""
    src = cols if isinstance(cols, SampleColumns) else _Whole(cols)
    n, p, co = src.n, src.p, w.shape[0]
    k = w[0].size
    ones = isinstance(cols, SampleColumns) and cols.ones or (
        not isinstance(cols, SampleColumns) and groups == 1 and cols.shape[1] > k)
    y = xp.empty((n, co, p), dtype=xp.result_type(w, src.dtype))
    if groups == 1 and ones:  # the ones row: [W₂ | b] @ [cols; 1]
        lhs = xp.empty((co, k + 1), dtype=w.dtype)
        lhs[:, :-1] = w.reshape(co, -1)
        lhs[:, -1] = b
    elif groups == 1:
        lhs = w.reshape(co, -1)
    else:
        lhs = w.reshape(groups, co // groups, -1)
    for n0 in range(0, n, src.nb):
        n1 = min(n, n0 + src.nb)
        blk = src.block(n0, n1)
        if groups == 1:
            xp.matmul(lhs, blk, out=y[n0:n1])
        else:
            xp.matmul(lhs, blk.reshape(n1 - n0, groups, -1, p),
                      out=y[n0:n1].reshape(n1 - n0, groups, co // groups, p))
    if b is not None and not (groups == 1 and ones):
        y += b.reshape(co, 1)
    return y.reshape(n, co, *osize)


def sample_weight_grad(cols: Any, g: Any, groups: int) -> Any:
    """dW₂ = Σ_n g[n] @ cols[n]ᵀ for per-sample columns (a :class:`SampleColumns` or an
    ``(N, rows, P)`` array), as (C', rows/groups).

    Computed transposed, Σ_n cols[n] @ g[n]ᵀ (OpenBLAS runs that orientation ~10 % faster
    here), the per-sample products of up to ``_WG_BLOCK_BYTES`` held at once (each made by one
    batched GEMM per block of columns); the sum over samples is one reduction per such block.
    """
    src = cols if isinstance(cols, SampleColumns) else _Whole(cols)
    n, p = src.n, src.p
    co = g.shape[1]
    g3 = g.reshape(n, groups, co // groups, p).swapaxes(-1, -2)
    dt = xp.result_type(src.dtype, g)
    acc = None
    buf = None
    for n0 in range(0, n, src.nb):
        n1 = min(n, n0 + src.nb)
        c3 = src.block(n0, n1).reshape(n1 - n0, groups, -1, p)
        if buf is None:
            kg = c3.shape[2]
            per = groups * kg * (co // groups) * dt.itemsize
            nw = max(1, min(n, _WG_BLOCK_BYTES // max(1, per)))
            buf = xp.empty((nw, groups, kg, co // groups), dtype=dt)
            w0 = 0  # the first sample of the products held in buf
        s0 = n0
        while s0 < n1:  # (a block of columns may straddle two blocks of products)
            if s0 == w0 + buf.shape[0]:
                acc = _add_sum(acc, buf)
                w0 = s0
            s1 = min(n1, w0 + buf.shape[0])
            xp.matmul(c3[s0 - n0:s1 - n0], g3[s0:s1], out=buf[s0 - w0:s1 - w0])
            s0 = s1
    acc = _add_sum(acc, buf[: n - w0])
    return xp.ascontiguousarray(acc.swapaxes(-1, -2)).reshape(co, -1)


def _add_sum(acc: Any, part: Any) -> Any:
    """``acc + part.sum(0)`` (``part.sum(0)`` when ``acc`` is None), in place."""
    if acc is None:
        return part.sum(0)
    acc += part.sum(0)
    return acc


# samples' columns made at once by :class:`SampleColumns` (a block stays in cache between the
# copy that makes it and the GEMM that reads it)
_COLS_BLOCK_BYTES = 1 << 20

# the per-sample products held at once by :func:`sample_weight_grad`
_WG_BLOCK_BYTES = 8 << 20

# the size of one block of columns in :meth:`Columns.gemm_col2im`, and of one block of the
# forward's product in :meth:`Columns.gemm_output` (best near L2's size there: the GEMM
# rereads its weight per block, so smaller blocks cost more)
_BLOCK_BYTES = 3 << 20
_OUT_BLOCK_BYTES = 512 << 10


# ---- direct BLAS GEMM on strided operands (the shifted-view input gradient) -------------------
# cblas enums
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_GEMM: dict[Any, Any] | None = None


def _blas_library() -> Any:
    """NumPy's own BLAS as a ``ctypes`` library (None when it cannot be found)."""
    import ctypes

    from chainrule import backend

    backend.blas_threads()  # finds NumPy's BLAS through threadpoolctl
    path = getattr(backend._blas_main, "filepath", None)
    if not path:
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


def _load_gemm() -> dict[Any, Any]:
    """``cblas_sgemm`` / ``cblas_dgemm`` of NumPy's BLAS per dtype, each checked once against
    ``np.matmul`` on a strided operand ({} when absent or wrong: the callers fall back).

    The ILP64 builds NumPy ships name them ``scipy_cblas_sgemm64_`` (64-bit integers); an
    unsuffixed ``cblas_sgemm`` takes C ``int`` (the CBLAS header's LP64 interface).
    """
    import ctypes

    lib = _blas_library()
    found: dict[Any, Any] = {}
    if lib is None:
        return found
    for dt, t in ((xp.dtype(xp.float32), "s"), (xp.dtype(xp.float64), "d")):
        scalar = ctypes.c_float if t == "s" else ctypes.c_double
        for name, i in ((f"scipy_cblas_{t}gemm64_", ctypes.c_int64),
                        (f"cblas_{t}gemm64_", ctypes.c_int64),
                        (f"scipy_cblas_{t}gemm", ctypes.c_int), (f"cblas_{t}gemm", ctypes.c_int)):
            fn = getattr(lib, name, None)
            if fn is None:
                continue
            fn.restype = None
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i, i, i, scalar,
                           ctypes.c_void_p, i, ctypes.c_void_p, i, scalar, ctypes.c_void_p, i]
            if _gemm_works(fn, dt):
                found[dt] = fn
            break
    return found
    i64 = ctypes.c_int64
    for dt, t in ((xp.dtype(xp.float32), "s"), (xp.dtype(xp.float64), "d")):
        scalar = ctypes.c_float if t == "s" else ctypes.c_double
        for name in (f"scipy_cblas_{t}gemm64_", f"cblas_{t}gemm64_", f"scipy_cblas_{t}gemm",
                     f"cblas_{t}gemm"):
            fn = getattr(lib, name, None)
            if fn is None:
                continue
            fn.restype = None
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i64, i64, i64, scalar,
                           ctypes.c_void_p, i64, ctypes.c_void_p, i64, scalar, ctypes.c_void_p,
                           i64]
            if _gemm_works(fn, dt):
                found[dt] = fn
            break
    return found


def _gemm_works(fn: Any, dt: Any) -> bool:
    """One small strided ``C += A @ B`` through ``fn`` equals NumPy's."""
    r = xp.arange(60, dtype=dt)
    a = (r[:15] % 7).reshape(3, 5)
    b = (r % 5).reshape(6, 10)[:, :4]  # a (5, 4) slice with leading dimension 10
    b = b[:5]
    c = xp.ones((3, 4), dtype=dt)
    _call(fn, a, b, c, beta=1.0)
    return bool(xp.array_equal(c, a @ b + 1))


def _call(fn: Any, a: Any, b: Any, c: Any, beta: float) -> None:
    """``c = a @ b + beta·c`` for row-major 2-D arrays with unit column strides."""
    it = c.itemsize
    fn(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, c.shape[0], c.shape[1], a.shape[1], 1.0,
       a.ctypes.data, a.strides[0] // it, b.ctypes.data, b.strides[0] // it, beta,
       c.ctypes.data, c.strides[0] // it)


def blas_gemm(dtype: Any) -> Any:
    """The direct BLAS GEMM for ``dtype`` (float32/float64), or None."""
    global _GEMM
    if _GEMM is None:
        _GEMM = _load_gemm()
    return _GEMM.get(xp.dtype(dtype))


def use_shifted_col2im(y: Any, w: Any, sizes: tuple[int, ...]) -> bool:
    """True when :func:`shifted_col2im` serves the stride-1, one-group input gradient of ``y``
    by ``w`` into a padded plane of ``sizes``: BLAS on one thread (at two, OpenBLAS threads each
    small per-sample GEMM and the blocked :meth:`Columns.flat_gemm_col2im` is faster), planes
    of at least ``SHIFTED_MIN_PLANE`` positions, and a direct GEMM for the dtype."""
    return (SHIFTED_COL2IM and _prod(sizes) >= SHIFTED_MIN_PLANE and y.dtype == w.dtype
            and workers() == 1 and blas_gemm(y.dtype) is not None)


def shifted_col2im(w: Any, y: Any, sizes: tuple[int, ...], dilation: tuple[int, ...]) -> Any:
    """The input gradient of a stride-1, one-group convolution (``ConvTranspose`` of ``y``
    (N, C', *out) by ``w`` (C', C, *kernel)) into the padded input (N, C, *sizes), without
    col2im: with S the padded plane's strides and q = Σ o_d·S_d an output position's flat
    index, kernel offset k shifts it by δ_k = Σ k_d·dilation_d·S_d, so per sample

        dx[n][:, p] = Σ_k W_kᵀ · g[:, p − δ_k],   p ∈ [0, prod(sizes)),

    where g (C', δ_max + plane) holds y[n] at δ_max + q and zeros elsewhere (negative and
    row-straddling q read zeros). Each term is one GEMM (C x C') @ (C' x plane) whose right
    operand is a strided view of g (leading dimension δ_max + plane), accumulated in place
    into the sample's contiguous (C, plane) output (BLAS β = 1): no column matrix and no
    scatter-add.

    # NOTE (speed): MNIST CNN conv2 (N 64, C 32, C' 64, 26x26), one thread, loaded 2-vCPU
    # AVX-512 Xeon, CPU ms, min of 15 interleaved repeats in one process: 15.8-16.1 against
    # 17.1-17.5 for :meth:`Columns.flat_gemm_col2im` (its GEMM's 288 x 676 product per
    # sample and nine shifted adds) in most runs, equal in the last and not faster inside the
    # training step, hence off by default (``SHIFTED_COL2IM``). NumPy's ``matmul`` cannot
    # accumulate (β = 0 only), so the GEMMs go straight to NumPy's BLAS through ``ctypes``
    # (:func:`blas_gemm`).
    """
    n, co = y.shape[:2]
    c, ksize = w.shape[1], tuple(w.shape[2:])
    kk, plane = _prod(ksize), _prod(sizes)
    strides = _plane_strides(sizes)
    offsets = [sum(o * d * s for o, d, s in zip(offs, dilation, strides))
               for offs in itertools.product(*(range(k) for k in ksize))]
    pre = max(offsets)
    it = y.dtype.itemsize
    gemm = blas_gemm(y.dtype)
    wk = xp.ascontiguousarray(w.reshape(co, c, kk).transpose(2, 1, 0))  # (kk, C, C'): W_kᵀ
    g = xp.zeros((co, pre + plane), dtype=y.dtype)
    gv = xp.lib.stride_tricks.as_strided(g[:, pre:], (co, *y.shape[2:]),
                                         (g.strides[0], *(s * it for s in strides)))
    out = xp.empty((n, c, *sizes), dtype=y.dtype)
    wa, ga, oa = wk.ctypes.data, g.ctypes.data, out.ctypes.data
    ld = pre + plane
    for s in range(n):
        xp.copyto(gv, y[s])  # the same positions every sample: the zeros stay
        dst = oa + s * c * plane * it
        for k, off in enumerate(offsets):
            gemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, c, plane, co, 1.0, wa + k * c * co * it, co,
                 ga + (pre - off) * it, ld, 0.0 if k == 0 else 1.0, dst, plane)
    return out


def use_row_fold(xpad: Any, w: Any, stride: tuple[int, ...]) -> bool:
    """True when :func:`row_fold_forward` serves a one-group 2-D convolution of the padded
    input ``xpad`` by ``w``: stride 1, BLAS on one thread (the rule of
    :func:`use_shifted_col2im`), the same float dtype and a direct GEMM for it. (Conv asks
    only where the per-sample layout serves, ``SAMPLE_MIN_P`` output positions or more.)"""
    return (ROW_FOLD and xpad.ndim == 4 and tuple(stride) == (1, 1) and xpad.dtype == w.dtype
            and w.shape[1] * w.shape[3] >= ROW_FOLD_MIN_K and workers() == 1
            and blas_gemm(w.dtype) is not None)


def row_fold_forward(xpad: Any, w: Any, b: Any, dilation: tuple[int, ...]) -> Any:
    """y = W ⋆ x (+ b) for a stride-1, one-group 2-D convolution of the padded input ``xpad``
    (N, C, Hp, Wp) by ``w`` (C', C, kh, kw), with a third of im2col's copy: per sample, the kw
    column-shifted, row-cropped planes

        s[(j, c), r·W_out + v] = xpad[n, c, r, v + j·dx]     (r < Hp, v < W_out)

    are copied once ((kw·C, Hp·W_out), plus a row of ones for the bias); output position
    p = h·W_out + v then reads row offset i at column p + i·dy·W_out, so kernel row i's
    columns are the strided view s[:, i·dy·W_out :][:, :P] (leading dimension Hp·W_out) and

        y[n] (C', P) = Σ_i W_i @ s_i,    W_i[o, (j, c)] = w[o, c, i, j]   (b in W_0's last column)

    is kh GEMMs of K = kw·C accumulated in place (BLAS β = 1, :func:`blas_gemm`) straight into
    the sample's (C', H_out, W_out) output: no column matrix and no crop.

    # NOTE (speed): MNIST CNN conv2 (N 64, C 32 -> 64, 26x26, bias), one thread, loaded 2-vCPU
    # AVX-512 Xeon, CPU ms, min of 21 interleaved repeats in one process: 13.4 against 15.9 for
    # the per-sample im2col + GEMM (the copy shrinks from 288 to 96 rows of 24-element runs,
    # the three K = 96 GEMMs run near the K = 288 one's rate).
    """
    n, c, hp, wp = xpad.shape
    co, _, kh, kw = w.shape
    dy, dx = dilation
    ho, wo = hp - dy * (kh - 1), wp - dx * (kw - 1)
    k, p, ld = kw * c, ho * wo, hp * wo
    ones = b is not None
    it = xpad.dtype.itemsize
    gemm = blas_gemm(w.dtype)
    planes = xp.empty((k + ones, ld), dtype=xpad.dtype)
    if ones:
        planes[k] = 1
    sv = planes[:k].reshape(kw, c, hp, wo)
    st = xpad.strides
    src = xp.lib.stride_tricks.as_strided(xpad, (n, kw, c, hp, wo),
                                          (st[0], dx * st[3], st[1], st[2], st[3]),
                                          writeable=False)
    wi = xp.empty((kh, co, k + ones), dtype=w.dtype)  # W_i, rows (j, c) as in the planes
    wi[:, :, :k] = w.transpose(2, 0, 3, 1).reshape(kh, co, k)
    if ones:
        wi[0, :, k] = b
        wi[1:, :, k] = 0
    out = xp.empty((n, co, ho, wo), dtype=w.dtype)
    pa, wa, oa = planes.ctypes.data, wi.ctypes.data, out.ctypes.data
    for s in range(n):
        xp.copyto(sv, src[s])
        dst = oa + s * co * p * it
        for i in range(kh):
            gemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, co, p, k + (ones and i == 0), 1.0,
                 wa + i * co * (k + ones) * it, k + ones, pa + i * dy * wo * it, ld,
                 0.0 if i == 0 else 1.0, dst, p)
    return out


def use_accumulated_weight_grad(xpad: Any, g: Any) -> bool:
    """True when :func:`accumulated_weight_grad` serves a one-group weight gradient: BLAS on
    one thread (the rule of :func:`use_shifted_col2im`) and a direct GEMM for the dtype."""
    return (ACCUMULATE_WEIGHT_GRAD and xpad.dtype == g.dtype and workers() == 1
            and blas_gemm(g.dtype) is not None)


def accumulated_weight_grad(xpad: Any, g: Any, ksize: tuple[int, ...], stride: tuple[int, ...],
                            dilation: tuple[int, ...], osize: tuple[int, ...],
                            ones: bool = False) -> Any:
    """dW₂ = Σ_n g[n] @ cols[n]ᵀ, as (C', rows [+ 1]), for one group: the per-sample columns of
    the padded input ``xpad`` made a block at a time (:class:`SampleColumns`, with the ones row
    whose column of the result is db when ``ones``), each sample's product added in place into
    one (rows, C') accumulator by the direct GEMM (β = 1) instead of being held and summed
    (:func:`sample_weight_grad`).

    # NOTE (speed): MNIST CNN conv2, one thread, loaded 2-vCPU AVX-512 Xeon, CPU ms, min of 21
    # interleaved repeats: 15.4 against 16.0 (the 64 products of 289 x 64 written, read back
    # and summed). The sum over samples runs in sample order inside BLAS instead of NumPy's
    # pairwise sum: float32 results move by a few ulps (5e-7 relative here).
    """
    src = SampleColumns(xpad, ksize, stride, dilation, osize, ones=ones)
    n, p, co = src.n, src.p, g.shape[1]
    rows = src.rows + ones
    it = g.dtype.itemsize
    gemm = blas_gemm(g.dtype)
    g3 = xp.ascontiguousarray(g).reshape(n, co, p)
    acc = xp.zeros((rows, co), dtype=g.dtype)
    ga, aa = g3.ctypes.data, acc.ctypes.data
    for n0 in range(0, n, src.nb):
        n1 = min(n, n0 + src.nb)
        ba = src.block(n0, n1).ctypes.data  # (n1 − n0, rows, P), contiguous
        for i in range(n1 - n0):
            gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, rows, co, p, 1.0, ba + i * rows * p * it, p,
                 ga + (n0 + i) * co * p * it, p, 1.0, aa, co)
    return xp.ascontiguousarray(acc.T)


def _gemm(a: Any, b: Any, groups: int, ta: bool = False, tb: bool = False) -> Any:
    """Grouped ``op(a) @ op(b)``: ``a`` is (G·M, K) (or (G·K, M) with ``ta``), ``b`` is
    (G·K, P) (or (G·P, K) with ``tb``); one BLAS call, batched over the groups."""
    if groups == 1:
        if tb and not ta and b.shape[0] > a.shape[0]:
            # the weight gradient g2 @ colsᵀ (a long inner dimension): OpenBLAS runs it ~15 %
            # faster as (cols @ g2ᵀ)ᵀ when the columns have more rows (MNIST CNN conv2: 20.2
            # instead of 23.6 ms); the small result is made contiguous
            return xp.ascontiguousarray((b @ a.T).T)
        return (a.T if ta else a) @ (b.T if tb else b)
    a3 = a.reshape(groups, -1, a.shape[1])
    b3 = b.reshape(groups, -1, b.shape[1])
    if ta:
        a3 = a3.transpose(0, 2, 1)
    if tb:
        b3 = b3.transpose(0, 2, 1)
    out = xp.matmul(a3, b3)
    return out.reshape(-1, out.shape[2])


def _crop(a: Any, pads: Pads, sizes: tuple[int, ...]) -> Any:
    if not any(lo or hi for lo, hi in pads):
        return a
    return a[interior(pads, sizes)]


def _check(x: Any, w: Any, groups: int) -> None:
    if x.ndim != w.ndim:
        raise RuntimeError(
            f"conv: expected a {w.ndim}-D input (batched) for a {w.ndim}-D weight of size "
            f"{list(w.shape)}, but got input of size {list(x.shape)}"
        )
    if x.shape[1] != w.shape[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(w.shape)}, expected input"
            f"{list(x.shape)} to have {w.shape[1] * groups} channels, but got {x.shape[1]} "
            "channels instead"
        )
    if w.shape[0] % groups:
        raise RuntimeError(
            f"conv: out_channels ({w.shape[0]}) must be divisible by groups ({groups})"
        )
    if x.dtype != w.dtype:
        raise RuntimeError(
            f"conv: input type ({x.dtype}) and weight type ({w.dtype}) should be the same"
        )


def _padded(sizes: tuple[int, ...], pads: Pads) -> tuple[int, ...]:
    return tuple(s + lo + hi for s, (lo, hi) in zip(sizes, pads))


class Conv(Function):
    """y[n, o] = b[o] + Σ_{c, k} W[o, c, k] · x_pad[n, g(o)·C_g + c, out·stride + k·dilation]
    (cross-correlation, PyTorch's convolution);
    dx = ConvTranspose(g, W), dW = ConvWeightGrad(x, g), db = Σ_{n, out} g.
    """

    saves = ("x", "w")

    def forward(self, x: Any, w: Any, b: Any = None, stride: tuple[int, ...] = (1,),
                pads: Pads = ((0, 0),), dilation: tuple[int, ...] = (1,),
                groups: int = 1) -> Any:
        _check(x, w, groups)
        ksize = w.shape[2:]
        osize = out_sizes(x.shape, ksize, stride, pads, dilation)
        if any(o <= 0 for o in osize):
            raise RuntimeError(
                f"conv: calculated output size {osize} is too small for input of size "
                f"{list(x.shape)} (padded by {pads}) with kernel {tuple(ksize)} and dilation "
                f"{tuple(dilation)}"
            )
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        lay = Columns(x.shape[0], x.shape[1], _padded(x.shape[2:], pads), ksize, stride,
                      dilation, osize)
        self.lay = lay
        self.sample = use_sample_layout(osize)
        if self.sample:  # made a block at a time, again for the weight gradient
            cols = SampleColumns(pad_input(x, pads), ksize, stride, dilation, osize,
                                 ones=b is not None and groups == 1)
            self.cols = cols
            if groups == 1 and use_row_fold(cols.xpad, w, stride):
                return backend.opaque_call(row_fold_forward, cols.xpad, w, b, tuple(dilation))
            return sample_forward(w, cols, b, groups, osize)
        cols = lay.cols(pad_input(x, pads))
        self.cols = cols if cols.nbytes <= KEEP_COLS_BYTES else None
        w2 = w.reshape(w.shape[0], -1)
        if groups == 1 and lay.wide:
            return lay.gemm_output(w2, cols, b)
        return lay.output(_gemm(w2, cols, groups), b)

    def vjp(self, g: Any, F: Any) -> tuple:
        x, w = F.inputs(self)[:2]
        cols, self.cols = self.cols, None  # free it (None: ConvWeightGrad rebuilds it)
        kw = _geometry(self)
        gx = gw = gb = g2 = None
        if self.needs[0]:
            if not self.sample:  # channel-first, shared with dW's GEMM
                g2 = self.lay.grad_cols(F.array(g))
            gx = F.apply(ConvTranspose, g, w, size=tuple(x.shape[2:]), g2=g2, **kw)
        bias: dict[str, Any] = {}  # the weight gradient's GEMM may give db on the way
        if self.needs[1]:
            gw = F.apply(ConvWeightGrad, x, g, ksize=tuple(w.shape[2:]), cols=cols, g2=g2,
                         bias_out=bias, sample=self.sample, **kw)
        if len(self.needs) > 2 and self.needs[2]:
            gb = F.apply(BiasGrad, g, dim=(0, *range(2, g.ndim)), value=bias.get("db"))
        return (gx, gw, gb)[: len(self.inputs)]


class BiasGrad(Sum):
    """db = Σ_{n, out} g (a :class:`Sum` over all dims but the channels, with Sum's backward),
    taking the value when the weight gradient's GEMM already computed it: Conv's per-sample
    columns end with a row of ones when there is a bias, so dW's GEMM yields db as one more
    column (saves a reduction over g, ~3 % of a small CNN's backward)."""

    def forward(self, x: Any, dim: Any = None, keepdim: bool = False, dtype: Any = None,
                value: Any = None) -> Any:
        if value is None:
            return super().forward(x, dim, keepdim, dtype)
        self.axes, self.keepdim = tuple(dim), keepdim
        return value


class ConvTranspose(Function):
    """x = Wᵀ ⋆ y: the adjoint of :class:`Conv` in its input (transposed convolution), into an
    output of spatial ``size``;
    x[n, c, out·stride + k·dilation − pad] += Σ_o W[o, c, k] y[n, o, out] (+ b[c]);
    dy = Conv(g, W), dW = ConvWeightGrad(g, y), db = Σ g.
    """

    saves = ("y", "w")

    def forward(self, y: Any, w: Any, b: Any = None, size: tuple[int, ...] = (),
                stride: tuple[int, ...] = (1,), pads: Pads = ((0, 0),),
                dilation: tuple[int, ...] = (1,), groups: int = 1, g2: Any = None) -> Any:
        if y.ndim != w.ndim or y.shape[1] != w.shape[0]:
            raise RuntimeError(
                f"conv_transpose: weight of size {list(w.shape)} expects an input with "
                f"{w.shape[0]} channels and {w.ndim} dims, but got input of size {list(y.shape)}"
            )
        self.size = size
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        lay = Columns(y.shape[0], w.shape[1] * groups, _padded(size, pads), w.shape[2:], stride,
                      dilation, y.shape[2:])
        unit = g2 is None and groups == 1 and all(t == 1 for t in stride)
        padded = _padded(size, pads)
        if unit and use_shifted_col2im(y, w, padded):
            full = backend.opaque_call(shifted_col2im, w, y, padded, tuple(dilation))
            out = _crop(full, pads, size)
            if b is not None:
                out = out + b.reshape((1, -1) + (1,) * len(size))
            return out
        if unit and FLAT_COL2IM:
            out = _crop(lay.flat_gemm_col2im(w, y), pads, size)
            if b is not None:
                out = out + b.reshape((1, -1) + (1,) * len(size))
            return out
        if g2 is None:
            g2 = lay.grad_cols(y)
        w2 = w.reshape(w.shape[0], -1)
        if lay.wide and groups == 1:
            out = _crop(lay.gemm_col2im(w2, g2), pads, size)
        else:
            out = _crop(lay.col2im(_gemm(w2, g2, groups, ta=True)), pads, size)
        if b is not None:
            out = out + b.reshape((1, -1) + (1,) * len(size))
        return out

    def vjp(self, g: Any, F: Any) -> tuple:
        y, w = F.inputs(self)[:2]
        kw = _geometry(self)
        gy = gw = gb = None
        if self.needs[0]:
            gy = _fit(F.apply(Conv, g, w, **kw), y.shape)
        if self.needs[1]:
            gw = F.apply(ConvWeightGrad, g, y, ksize=tuple(w.shape[2:]), **kw)
        if len(self.needs) > 2 and self.needs[2]:
            gb = g.sum((0, *range(2, g.ndim)))
        return (gy, gw, gb)[: len(self.inputs)]


class ConvWeightGrad(Function):
    """dW[o, c, k] = Σ_{n, out} g[n, o, out] · x_pad[n, c, out·stride + k·dilation] (the weight
    gradient of :class:`Conv`, bilinear in x and g);
    d/dx = ConvTranspose(g, ḡ), d/dg = Conv(x, ḡ) for the upstream ḡ (shaped like W).
    """

    saves = ("x", "g")

    def forward(self, x: Any, g: Any, ksize: tuple[int, ...] = (),
                stride: tuple[int, ...] = (1,), pads: Pads = ((0, 0),),
                dilation: tuple[int, ...] = (1,), groups: int = 1, cols: Any = None,
                g2: Any = None, bias_out: dict[str, Any] | None = None,
                sample: bool | None = None) -> Any:
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        osize = tuple(g.shape[2:])
        if sample is None:  # (given by Conv: the layout of its ``cols``)
            sample = use_sample_layout(osize)
        if sample:
            if cols is None:
                cols = SampleColumns(pad_input(x, pads), ksize, stride, dilation, osize)
            rows = x.shape[1] * _prod(ksize)
            if groups == 1 and use_accumulated_weight_grad(cols.xpad, g):
                gwb = backend.opaque_call(accumulated_weight_grad, cols.xpad, g, *cols.geometry,
                                          cols.ones)
            else:
                gwb = sample_weight_grad(cols, g, groups)
            if gwb.shape[1] > rows // groups:  # Conv's columns end with a ones row: db
                if bias_out is not None:
                    bias_out["db"] = gwb[:, rows].copy()
                gw = xp.ascontiguousarray(gwb[:, :rows])
            else:
                gw = gwb
            return gw.reshape((g.shape[1], x.shape[1] // groups, *ksize))
        lay = Columns(x.shape[0], x.shape[1], _padded(x.shape[2:], pads), ksize, stride,
                      dilation, osize)
        if cols is None:
            cols = lay.cols(pad_input(x, pads))
        if g2 is None:
            g2 = lay.grad_cols(g)
        gw = _gemm(g2, cols, groups, tb=True)
        return gw.reshape((g.shape[1], x.shape[1] // groups, *ksize))

    def vjp(self, gg: Any, F: Any) -> tuple:
        x, g = F.inputs(self)
        kw = _geometry(self)
        gx = gg_out = None
        if self.needs[0]:
            gx = F.apply(ConvTranspose, g, gg, size=tuple(x.shape[2:]), **kw)
        if self.needs[1]:
            gg_out = _fit(F.apply(Conv, x, gg, **kw), g.shape)
        return gx, gg_out


def _geometry(fn: Function) -> dict[str, Any]:
    """The stride, padding, dilation and groups a conv primitive ran with (the keywords the
    primitives of its derivative take)."""
    return dict(stride=fn.stride, pads=fn.pads, dilation=fn.dilation, groups=fn.groups)


def _fit(t: Any, shape: tuple[int, ...]) -> Any:
    """Crop a conv result to ``shape`` (a transposed conv with output_padding ≥ stride yields
    more positions than the forward had; the extra ones received no gradient)."""
    if tuple(t.shape) == tuple(shape):
        return t
    return t[tuple(slice(0, s) for s in shape)]


class Unfold(Function):
    """Sliding local blocks: out[n, (c, k), l] = x_pad[n, c, pos(l)·stride + k·dilation]
    (PyTorch's ``unfold``);  dx = Fold(g)."""

    saves = ()

    def forward(self, x: Any, ksize: tuple[int, ...] = (), stride: tuple[int, ...] = (1,),
                pads: Pads = ((0, 0),), dilation: tuple[int, ...] = (1,)) -> Any:
        self.ksize, self.stride, self.pads, self.dilation = ksize, stride, pads, dilation
        osize = out_sizes(x.shape, ksize, stride, pads, dilation)
        if any(o <= 0 for o in osize):
            raise RuntimeError(
                f"unfold: input of size {list(x.shape)} is too small for kernel {ksize} with "
                f"padding {pads} and dilation {dilation}"
            )
        self.osize = osize
        cols = im2col(pad_input(x, pads), ksize, stride, dilation, osize)
        n = x.shape[0]
        return xp.ascontiguousarray(cols.reshape(cols.shape[0], n, -1).swapaxes(0, 1))

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(Fold, g, size=self.inputs[0]._array.shape[2:], ksize=self.ksize,
                        stride=self.stride, pads=self.pads, dilation=self.dilation),)


class Fold(Function):
    """Sum sliding local blocks back into an array (PyTorch's ``fold``, adjoint of ``unfold``):
    out[n, c, pos(l)·stride + k·dilation − pad] += x[n, (c, k), l];  dx = Unfold(g)."""

    saves = ()

    def forward(self, x: Any, size: tuple[int, ...] = (), ksize: tuple[int, ...] = (),
                stride: tuple[int, ...] = (1,), pads: Pads = ((0, 0),),
                dilation: tuple[int, ...] = (1,)) -> Any:
        self.ksize, self.stride, self.pads, self.dilation = ksize, stride, pads, dilation
        osize = tuple(
            out_size(s, k, t, lo, hi, d)
            for s, k, t, (lo, hi), d in zip(size, ksize, stride, pads, dilation)
        )
        kprod = _prod(ksize)
        if x.shape[1] % kprod or x.shape[2] != _prod(osize):
            raise RuntimeError(
                f"fold: expected input of size (N, C·{kprod}, {_prod(osize)}) for output_size "
                f"{size}, kernel {ksize}, got {list(x.shape)}"
            )
        n, c = x.shape[0], x.shape[1] // kprod
        cols = x.swapaxes(0, 1).reshape(x.shape[1], -1)
        padded = (n, c) + tuple(s + lo + hi for s, (lo, hi) in zip(size, pads))
        return _crop(col2im(cols, padded, ksize, stride, dilation, osize), pads, size)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(Unfold, g, ksize=self.ksize, stride=self.stride, pads=self.pads,
                        dilation=self.dilation),)
