"""Shape and movement primitives: reshape, permute, expand, repeat, cat, flip, pad, tril/triu.

Reshape, permute and expand return views of the input array (no copy) whenever NumPy can.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.autograd.engine import Function
from chainrule.backend import broadcast_to, default_dtype, float64, xp


def _or_raise(f: Callable[..., Any], args: tuple, message: Callable[[], str]) -> Any:
    """``f(*args)``, with NumPy's ValueError turned into PyTorch's RuntimeError and message
    (built only on failure)."""
    try:
        return f(*args)
    except ValueError:
        raise RuntimeError(message()) from None


class Reshape(Function):
    """out = x viewed with a new shape;  dx = g reshaped back."""

    node_name = "ViewBackward0"
    saves = ()

    def forward(self, x: Any, shape: tuple[int, ...] = ()) -> Any:
        return _or_raise(x.reshape, (shape,), lambda: (
            f"shape '{list(shape)}' is invalid for input of size {x.size} "
            f"(input shape {tuple(x.shape)})"))

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g.reshape(self.inputs[0]._array.shape),)


class Permute(Function):
    """out = x with axes permuted;  dx = g permuted by the inverse permutation."""

    node_name = "PermuteBackward0"
    saves = ()

    def forward(self, x: Any, dims: tuple[int, ...] = ()) -> Any:
        if len(dims) != x.ndim:
            raise RuntimeError(
                f"permute: number of dims don't match: input has {x.ndim} dims "
                f"(shape {tuple(x.shape)}), got {len(dims)} ({tuple(dims)})"
            )
        self.dims = dims
        return x.transpose(dims)

    def vjp(self, g: Any, F: Any) -> tuple:
        inv = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inv[d % len(self.dims)] = i
        return (F.permute(g, inv),)


class Expand(Function):
    """out = x broadcast to ``shape`` (a read-only view);  dx = g summed back to x's shape."""

    node_name = "ExpandBackward0"
    saves = ()

    def forward(self, x: Any, shape: tuple[int, ...] = ()) -> Any:
        return _or_raise(broadcast_to, (x, shape), lambda: (
            f"The expanded size of the tensor {tuple(shape)} must match the existing size "
            f"{tuple(x.shape)} at non-singleton dimensions"))

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.sum_to(g, self.inputs[0]._array.shape),)


class Repeat(Function):
    """out = x tiled ``reps`` times along each dim;  dx = g summed over the copies."""

    node_name = "RepeatBackward0"
    saves = ()

    def forward(self, x: Any, reps: tuple[int, ...] = ()) -> Any:
        if len(reps) < x.ndim:
            raise RuntimeError(
                f"Number of dimensions of repeat dims ({len(reps)}) can not be smaller than "
                f"number of dimensions of tensor ({x.ndim})"
            )
        self.reps = reps
        return xp.tile(x, reps)

    def vjp(self, g: Any, F: Any) -> tuple:
        x_shape = self.inputs[0]._array.shape
        full = (1,) * (len(self.reps) - len(x_shape)) + tuple(x_shape)
        split = []
        for r, s in zip(self.reps, full):
            split += [r, s]
        g = g.reshape(tuple(split)).sum(tuple(range(0, 2 * len(full), 2)))
        return (g.reshape(x_shape),)


class Cat(Function):
    """out = concatenation along dim;  dx_k = the slice of g that came from x_k."""

    node_name = "CatBackward0"
    saves = ()

    def forward(self, *xs: Any, dim: int = 0) -> Any:
        ref = xs[0]
        d = dim % ref.ndim if ref.ndim else 0
        for k, x in enumerate(xs):
            if x.ndim != ref.ndim or any(
                a != b for i, (a, b) in enumerate(zip(x.shape, ref.shape)) if i != d
            ):
                raise RuntimeError(
                    f"cat: sizes of tensors must match except in dimension {d}: tensor 0 has "
                    f"shape {tuple(ref.shape)}, tensor {k} has shape {tuple(x.shape)}"
                )
        self.dim = d
        self.sizes = [x.shape[d] for x in xs]
        out = xp.concatenate(xs, axis=d)
        if out.dtype == float64 and all(x.dtype != float64 for x in xs):
            out = out.astype(default_dtype())  # int64 with float32 is float32 (PyTorch)
        return out

    def vjp(self, g: Any, F: Any) -> tuple:
        out, start = [], 0
        idx: list[Any] = [slice(None)] * g.ndim
        for size, need in zip(self.sizes, self.needs):
            if need:
                idx[self.dim] = slice(start, start + size)
                out.append(g[tuple(idx)])
            else:
                out.append(None)
            start += size
        return tuple(out)


class Flip(Function):
    """out = x reversed along ``dims``;  dx = g reversed along the same dims.

    The output is a contiguous copy, as ``torch.flip``: a NumPy flip is a negative-stride view,
    which made ``x.flip(1).view(-1)`` fail and let writes to the result reach ``x``."""

    node_name = "FlipBackward0"
    saves = ()

    def forward(self, x: Any, dims: tuple[int, ...] = ()) -> Any:
        self.dims = dims
        return xp.flip(x, dims).copy()

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(Flip, g, dims=self.dims),)


class Pad(Function):
    """Constant padding, PyTorch's ``pad`` order (last dim first: (left, right, top, bottom...));
    dx = the interior slice of g (negative pads crop)."""

    saves = ()

    def forward(self, x: Any, pad: tuple[int, ...] = (), value: float = 0.0) -> Any:
        if len(pad) % 2 or len(pad) // 2 > x.ndim:
            raise RuntimeError(
                f"pad: padding length {len(pad)} must be even and at most 2*ndim "
                f"(input shape {tuple(x.shape)})"
            )
        widths = [(0, 0)] * x.ndim
        for i in range(len(pad) // 2):
            widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        self.widths = widths
        crop = tuple(
            slice(max(-lo, 0), x.shape[i] - max(-hi, 0)) for i, (lo, hi) in enumerate(widths)
        )
        x = x[crop]
        pos = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        return xp.pad(x, pos, mode="constant", constant_values=value)

    def vjp(self, g: Any, F: Any) -> tuple:
        idx = tuple(
            slice(max(lo, 0), g.shape[i] - max(hi, 0)) for i, (lo, hi) in enumerate(self.widths)
        )
        gx = g[idx]
        neg = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in self.widths)
        if any(a or b for a, b in neg):  # cropped entries get zeros
            shape = self.inputs[0]._array.shape
            crop = tuple(slice(lo, n - hi) for (lo, hi), n in zip(neg, shape))
            gx = F.index_add(gx, shape, crop)
        return (gx,)


class Tri(Function):
    """out = lower (tril) or upper (triu) triangle of the last two dims;  dx = same of g."""

    saves = ()

    def forward(self, x: Any, k: int = 0, upper: bool = False) -> Any:
        self.k, self.upper = k, upper
        return xp.triu(x, k) if upper else xp.tril(x, k)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(Tri, g, k=self.k, upper=self.upper),)


class Unfold(Function):
    """out[..., i, ..., k] = x[..., i*step + k, ...]: the windows of length ``size`` along
    ``dim`` (a read-only strided view, the window index in place of ``dim`` and the position in
    the window as a new last axis);  dx = g added back at every position it was read from."""

    saves = ()

    def forward(self, x: Any, dim: int = 0, size: int = 1, step: int = 1) -> Any:
        d = dim % x.ndim if x.ndim else 0
        n = x.shape[d] if x.ndim else 1
        if size > n:
            raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is "
                               f"{size}")
        if step <= 0:
            raise RuntimeError(f"step is {step} but must be > 0")
        if x.ndim == 0:
            return x.reshape(1)
        self.dim, self.size, self.step = d, size, step
        w = xp.lib.stride_tricks.sliding_window_view(x, size, axis=d)
        return w[(slice(None),) * d + (slice(None, None, step),)]

    def vjp(self, g: Any, F: Any) -> tuple:
        shape = tuple(self.inputs[0].shape)
        if not shape:
            return (g.reshape(()),)
        d, nd = self.dim, len(shape)
        starts = xp.arange(g.shape[d]) * self.step
        idx = starts[:, None] + xp.arange(self.size)  # (windows, size): positions read
        # g's window axis at d and its within-window axis last; the index key yields them at
        # d and d + 1, so move the last axis next to d
        perm = list(range(d + 1)) + [nd] + list(range(d + 1, nd))
        return (F.index_add(F.permute(g, perm), shape, (slice(None),) * d + (idx,)),)
