"""Reductions and scans: sum, mean, prod, cumsum, sum_to, and the fused log-softmax.

``dim`` is ``None`` (all dimensions), an int or a tuple of ints; ``keepdim`` keeps reduced
dimensions with size 1. Max/min, var, std, logsumexp and norm are composites (see
``chainrule/tensor.py``) built from these and the indexing primitives.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.ops.elementwise import times_conj
from chainrule.ops.shape import Flip

_add_reduce = xp.add.reduce  # (what ndarray.sum() calls, through a Python-level wrapper)


def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...]:
    """Turn ``dim`` (None, int or sequence, negatives allowed) into sorted positive axes."""
    if dim is None:
        return tuple(range(ndim))
    if type(dim) is int and -ndim <= dim < ndim:  # the common case, fast
        return (dim % ndim,)
    if isinstance(dim, int):
        dim = (dim,)
    out = []
    for d in dim:
        d = int(d)
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, "
                f"{max(ndim, 1) - 1}], but got {d})"
            )
        out.append(d % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape with reduced axes set to 1 (what ``keepdim=True`` gives)."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Function):
    """out = Σ_dim x;  dx = g broadcast back over the reduced dimensions."""

    node_name = "SumBackward0"
    saves = ()
    # the full sum (every loss's) as class defaults: such a node stores nothing of its own
    axes: tuple[int, ...] | None = None
    keepdim = False

    def forward(self, x: Any, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
        if dim is None and not keepdim and dtype is None:
            out = _add_reduce(x, None)  # (x.sum() without NumPy's Python-level wrapper)
        else:
            axes = None if dim is None else normalize_dims(dim, x.ndim) if x.ndim else ()
            self.axes = axes
            self.keepdim = keepdim
            out = x.sum(axis=axes, keepdims=keepdim, dtype=dtype)
        if dtype is None and x.dtype.kind == "b":
            out = out.astype(xp.int64)
        return out if isinstance(out, xp.ndarray) else xp.asarray(out)

    def vjp(self, g: Any, F: Any) -> tuple:
        shape = self.inputs[0]._array.shape
        if self.axes and not self.keepdim:  # (a full reduction's 0-d g broadcasts as it is)
            g = g.reshape(kept_shape(shape, self.axes))
        return (F.expand(g, shape),)


class NanSum(Function):
    """out = Σ_dim x over the non-NaN entries;  dx = g broadcast back · [x is not NaN].

    The derivative multiplies by the 0/1 mask (PyTorch's formula), so a NaN or inf upstream
    gradient (``nanmean`` of an all-NaN slice) gives NaN there, as PyTorch's does."""

    saves = ("x",)

    def forward(self, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
        axes = None if dim is None else normalize_dims(dim, x.ndim) if x.ndim else ()
        self.axes = axes
        self.keepdim = keepdim
        out = xp.nansum(x, axis=axes, keepdims=keepdim)
        return out if isinstance(out, xp.ndarray) else xp.asarray(out)

    def vjp(self, g: Any, F: Any) -> tuple:
        x = self.inputs[0]._array
        if self.axes and not self.keepdim:
            g = g.reshape(kept_shape(x.shape, self.axes))
        return (F.expand(g, x.shape) * (~xp.isnan(x)).astype(x.dtype),)


class Mean(Function):
    """out = (1/n) Σ_dim x;  dx = g/n broadcast back (n = number of reduced elements)."""

    node_name = "MeanBackward0"
    saves = ()

    def forward(self, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
        axes = None if dim is None else normalize_dims(dim, x.ndim) if x.ndim else ()
        self.axes = axes
        self.keepdim = keepdim
        if axes is None:
            n = x.size
        else:
            n = 1
            for a in axes:
                n *= x.shape[a]
        self.n = n
        # an empty reduction is NaN, silently as in PyTorch (NumPy's mean warns "Mean of empty
        # slice"); 0 * NaN makes it without a warning and keeps the dtype
        out = x.sum(axis=axes, keepdims=keepdim) / n if n else x.sum(
            axis=axes, keepdims=keepdim) * xp.nan
        return out if isinstance(out, xp.ndarray) else xp.asarray(out)

    def vjp(self, g: Any, F: Any) -> tuple:
        shape = self.inputs[0]._array.shape
        if self.axes and not self.keepdim:
            g = g.reshape(kept_shape(shape, self.axes))
        return (F.expand(g * (1.0 / self.n), shape),)


class SumTo(Function):
    """out = x summed down to ``shape`` (inverse of broadcasting);  dx = g broadcast to x."""

    saves = ()

    def forward(self, x: Any, shape: tuple[int, ...] = ()) -> Any:
        return sum_to_array(x, shape)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.expand(g, self.inputs[0]._array.shape),)


def sum_to_array(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``x`` over the leading and size-1 broadcast dimensions so it has ``shape``."""
    if x.shape == tuple(shape):
        return x
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"cannot sum shape {x.shape} to {tuple(shape)}")
    axes = list(range(lead))
    for i, s in enumerate(shape):
        if s == 1 and x.shape[lead + i] != 1:
            axes.append(lead + i)
        elif s != x.shape[lead + i] and x.shape[lead + i] != 1:
            raise ValueError(f"cannot sum shape {x.shape} to {tuple(shape)}")
    out = xp.sum(x, axis=tuple(axes), keepdims=True) if axes else x
    out = out.reshape(shape)
    if out.shape != tuple(shape):  # a size-1 input broadcast up; only expand can undo that
        raise ValueError(f"cannot sum shape {x.shape} to {tuple(shape)}")
    return out


class Norm(Function):
    """out = √(Σ_dim |x|²) (the 2-norm);  dx = g x / out, and 0 where out = 0 (PyTorch's choice
    of subgradient, so a zero vector gets a zero gradient instead of NaN). A complex x gives a
    real norm, and the same formula is its gradient in PyTorch's convention."""

    saves = ("x", "out")

    def forward(self, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
        self.axes = normalize_dims(dim, x.ndim) if x.ndim else ()
        self.keepdim = keepdim
        sq = x * x if x.dtype.kind != "c" else (x * x.conj()).real
        return xp.sqrt(xp.asarray(xp.sum(sq, axis=self.axes, keepdims=keepdim)))

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        out = F.output(self)
        if not self.keepdim and self.axes:
            shape = kept_shape(tuple(x.shape), self.axes)
            g, out = g.reshape(shape), out.reshape(shape)
        zero = F.array(out) == 0
        if zero.any():
            return (x * F.where(zero, 0.0, g / F.where(zero, 1.0, out)),)
        return (x * (g / out),)


class Prod(Function):
    """out = Π_dim x;  dx_i = g conj(Π_{j≠i} x_j) (exact with zeros: products of the others;
    conj only for complex data)."""

    node_name = "ProdBackward0"
    saves = ("x", "out")

    def forward(self, x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
        self.dim = dim
        self.keepdim = keepdim
        return xp.asarray(xp.prod(x, axis=dim, keepdims=keepdim))

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        xd = self.inputs[0]._array
        gk, o = g, F.output(self)
        if self.dim is not None and not self.keepdim:  # the reduced dim back, as size 1
            shape = kept_shape(xd.shape, (self.dim % xd.ndim,))
            gk, o = gk.reshape(shape), o.reshape(shape)
        if not xp.any(xd == 0):  # differentiable form: out / x
            return (times_conj(gk, o / x, F),)
        if self.dim is None:
            others = _prod_of_others(xd.reshape(-1), 0).reshape(xd.shape)
        else:
            others = _prod_of_others(xd, self.dim % xd.ndim)
        return (times_conj(gk, others, F),)  # (a constant: exact where x has zeros)


def _prod_of_others(a: Any, axis: int) -> Any:
    """Π_{j≠i} a_j along ``axis`` via exclusive cumulative products (no division)."""
    a = xp.moveaxis(a, axis, -1)
    ones = xp.ones(a.shape[:-1] + (1,), dtype=a.dtype)
    left = xp.concatenate([ones, xp.cumprod(a[..., :-1], axis=-1)], axis=-1)
    right = xp.flip(xp.cumprod(xp.flip(a[..., 1:], -1), axis=-1), -1)
    right = xp.concatenate([right, ones], axis=-1)
    return xp.moveaxis(left * right, -1, axis)


class Cumsum(Function):
    """out_i = Σ_{j<=i} x_j along dim;  dx = reversed cumsum of g."""

    node_name = "CumsumBackward0"
    saves = ()

    def forward(self, x: Any, dim: int = 0) -> Any:
        self.dim = dim
        out = xp.cumsum(x, axis=dim)
        return out.astype(xp.int64) if x.dtype.kind == "b" else out

    def vjp(self, g: Any, F: Any) -> tuple:
        rev = (self.dim,)  # dx_j = Σ_{i>=j} g_i: a cumsum of g reversed, reversed back
        return (F.apply(Flip, F.apply(Cumsum, F.apply(Flip, g, dims=rev), dim=self.dim),
                        dims=rev),)


class LogSoftmax(Function):
    """out = x - logΣexp(x) along dim (stable: the max is subtracted first);
    dx = g - softmax(x) Σ g.

    # NOTE: a fused primitive for stability at large logits and speed (DESIGN.md §3).
    """

    node_name = "LogSoftmaxBackward0"
    saves = ("out",)

    def forward(self, x: Any, dim: int = -1) -> Any:
        if x.dtype.kind == "c":  # (as PyTorch: no order to take the max by)
            kind = "ComplexDouble" if x.dtype == xp.complex128 else "ComplexFloat"
            raise NotImplementedError(f'"softmax_lastdim_kernel_impl" not implemented for '
                                      f"'{kind}'")
        self.dim = dim
        m = x.max(axis=dim, keepdims=True)
        bad = ~xp.isfinite(m)
        if bad.any():
            # an all -inf (or inf/NaN) row: NaN as in PyTorch, without NumPy's log(0) and
            # inf - inf warnings (PyTorch never warns there)
            m[bad] = 0
            with xp.errstate(divide="ignore", invalid="ignore"):
                return self._shifted(x, m, dim)
        return self._shifted(x, m, dim)

    @staticmethod
    def _shifted(x: Any, m: Any, dim: int) -> Any:
        """(x - m) - log Σ exp(x - m) along dim."""
        z = x - m
        z -= xp.log(xp.exp(z).sum(axis=dim, keepdims=True))
        return z

    def vjp(self, g: Any, F: Any) -> tuple:
        sm = F.exp(F.output(self))
        return (g - sm * F.sum_keepdim(g, self.dim),)
