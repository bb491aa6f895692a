"""The Tensor's shape, view and indexing methods (``reshape``, ``view``, ``permute``,
``expand``, ``split``, ``diagonal``, ``gather``/``scatter``, ``__getitem__``/``__setitem__``
...), as the base class :class:`_ShapeMethods` of ``chainrule.tensor.Tensor``.

A result that NumPy made as a view of self shares self's storage and version counter
(``_view_of`` / ``_register_view``), so in-place changes through either are seen by the
other and by the autograd version checks, as in PyTorch.

The methods reach the Tensor class and its small helpers through the ``chainrule.tensor``
module (``_t``), which imports this one before it defines the class.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chainrule.autograd.function import _GradMode
from chainrule.autograd.function import record as apply
from chainrule.autograd.inplace import _register_view
from chainrule.backend import is_floating, xp
from chainrule.ops import index as I
from chainrule.ops import reduce as R
from chainrule.ops import shape as S

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

# the module, partly initialised now (it imports this one before it defines the class); the
# package attribute ``chainrule.tensor`` is the factory function, hence import_module
_t = importlib.import_module("chainrule.tensor")


class _ShapeMethods:
    """Shape, view and indexing methods of :class:`chainrule.Tensor` (its base class)."""

    __slots__ = ()

    def _view_of(self, out: Tensor) -> Tensor:
        """Mark ``out`` as sharing self's storage when NumPy made a view (shared versions)."""
        od, sd = out._array, self._array
        b = od.base
        if b is not None and (b is sd or b is sd.base or xp.may_share_memory(od, sd)):
            out._base = root = self._base if self._base is not None else self
            if out.grad_fn is not None:
                _register_view(root, out)
        return out

    def _alias(self) -> Tensor:
        """A new view of all of self (PyTorch's ``view`` to the same shape): a distinct Tensor,
        so a gradient taken with respect to it does not count self's other uses."""
        return self._view_of(apply(S.Reshape, self, shape=self._array.shape))

    def reshape(self, *shape: Any) -> Tensor:
        shape = _t._size_args(shape)
        return self._view_of(apply(S.Reshape, self, shape=shape))

    def view(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
            return self.to(shape[0])  # view(dtype)
        shape = _t._size_args(shape)
        if not self._array.flags.c_contiguous and self._array.size > 1:
            try:
                xp.reshape(self._array, shape, copy=False)
            except (ValueError, TypeError):
                raise RuntimeError(
                    f"view size is not compatible with input tensor's size and stride (shape "
                    f"{self.shape}); use .reshape(...) instead."
                ) from None
        return self.reshape(shape)

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s = start_dim % self.ndim
        e = end_dim % self.ndim
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        if s == e:
            return self  # nothing to flatten: PyTorch returns the tensor itself
        shape = self.shape[:s] + (int(xp.prod(self.shape[s : e + 1])),) + self.shape[e + 1 :]
        return self.reshape(shape)

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        d = dim % self.ndim
        sizes = list(sizes)
        if -1 in sizes:
            known = int(xp.prod([s for s in sizes if s != -1]))
            sizes[sizes.index(-1)] = self.shape[d] // known
        if int(xp.prod(sizes)) != self.shape[d]:
            raise RuntimeError(
                f"unflatten: sizes {tuple(sizes)} don't multiply up to the size of dim {d} "
                f"({self.shape[d]}) in input shape {self.shape}"
            )
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1 :])

    def squeeze(self, dim: Any = None) -> Tensor:
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            dims = R.normalize_dims(dim, self.ndim) if self.ndim else ()
            shape = tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1))
        return self.reshape(shape)

    def unsqueeze(self, dim: int) -> Tensor:
        n = self.ndim + 1
        if not -n <= dim < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
                f"{dim})"
            )
        d = dim % n
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def permute(self, *dims: Any) -> Tensor:
        dims = _t._size_args(dims)
        n = self.ndim
        dims = tuple(d % n if n else d for d in dims)
        if dims == tuple(range(n)):
            return self._alias()
        return self._view_of(apply(S.Permute, self, dims=dims))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        n = self.ndim
        if n < 2 and dim0 in (0, -1) and dim1 in (0, -1):
            return self._alias()
        perm = list(range(n))
        d0, d1 = dim0 % n, dim1 % n
        perm[d0], perm[d1] = perm[d1], perm[d0]
        return self.permute(*perm)

    swapaxes = transpose
    swapdims = transpose

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self.ndim}D")
        return self.T

    def movedim(self, source: int, destination: int) -> Tensor:
        perm = list(range(self.ndim))
        s = perm.pop(source % self.ndim)
        perm.insert(destination % self.ndim, s)
        return self.permute(*perm)

    moveaxis = movedim

    def expand(self, *shape: Any) -> Tensor:
        shape = _t._size_args(shape)
        if -1 in shape:
            lead = len(shape) - self.ndim
            shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
        if shape == self._array.shape:
            return self._alias()  # writable, as no element is repeated
        return self._view_of(apply(S.Expand, self, shape=shape))

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return self.expand(tuple(shape))

    def repeat(self, *reps: Any) -> Tensor:
        return apply(S.Repeat, self, reps=_t._size_args(reps))

    def repeat_interleave(self, repeats: Any = None, dim: int | None = None, *,
                          output_size: int | None = None) -> Tensor:
        """Each element (or slice along ``dim``) repeated ``repeats`` times (a number, or one
        count per element). ``torch.repeat_interleave(counts)`` alone gives the indices
        0, 1, ... each repeated its count: ``[2, 0, 3] -> [0, 0, 2, 2, 2]``."""
        if repeats is None:
            counts = self._array
            if counts.ndim != 1 or counts.dtype.kind not in "iu":
                raise RuntimeError("repeat_interleave: repeats must be a 1-D integer tensor, got "
                                   f"{counts.ndim}-D {self.dtype}")
            return _t._wrap(xp.repeat(xp.arange(counts.shape[0]), counts))
        if isinstance(repeats, _t.Tensor):
            repeats = repeats._array
        if dim is None:
            return self.reshape(-1).repeat_interleave(repeats, 0)
        idx = xp.repeat(xp.arange(self.shape[dim]), repeats)
        return self.index_select(dim, idx)

    def tile(self, *reps: Any) -> Tensor:
        reps = _t._size_args(reps)
        reps = (1,) * (self.ndim - len(reps)) + reps
        return self.repeat(*reps)

    def flip(self, *dims: Any) -> Tensor:
        dims = _t._size_args(dims)
        return apply(S.Flip, self, dims=dims)

    def fliplr(self) -> Tensor:
        return self.flip(1)

    def flipud(self) -> Tensor:
        return self.flip(0)

    def roll(self, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None
             ) -> Tensor:
        """Elements shifted cyclically by ``shifts`` along ``dims`` (a copy); with no ``dims``
        the tensor is flattened, rolled and given back its shape, as ``torch.roll``."""
        if dims is None:
            if not isinstance(shifts, int) and len(shifts) != 1:
                raise RuntimeError(f"roll: shifts {tuple(shifts)} need dims of the same length")
            k = shifts if isinstance(shifts, int) else shifts[0]
            return self.reshape(-1).roll(int(k), 0).reshape(self.shape)
        shifts_t = (shifts,) if isinstance(shifts, int) else tuple(shifts)
        dims_t = (dims,) if isinstance(dims, int) else tuple(dims)
        if len(shifts_t) != len(dims_t):
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: "
                               f"{len(shifts_t)}, dims: {len(dims_t)}")
        out = self
        for k, d in zip(shifts_t, dims_t):
            n = self.shape[d]
            s = int(k) % n if n else 0
            if s:
                out = _t.cat([out.narrow(d, n - s, s), out.narrow(d, 0, n - s)], d)
        return out.clone() if out is self else out

    def pad(self, pad: Sequence[int], value: float = 0.0) -> Tensor:
        return apply(S.Pad, self, pad=tuple(int(p) for p in pad), value=value)

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        d = dim % self.ndim
        if start < 0:
            start += self.shape[d]
        if start < 0 or start + length > self.shape[d]:
            raise IndexError(
                f"narrow: start ({start}) + length ({length}) exceeds dimension size "
                f"({self.shape[d]}) of dim {d}"
            )
        key = (slice(None),) * d + (slice(start, start + length),)
        return self[key]

    def select(self, dim: int, index: int) -> Tensor:
        d = dim % self.ndim
        return self[(slice(None),) * d + (index,)]

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return tuple(self.select(dim, i) for i in range(self.shape[dim]))

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        n = self.shape[dim]
        if isinstance(split_size, int):
            sizes = [split_size] * (n // split_size) + ([n % split_size] if n % split_size else [])
        else:
            sizes = list(split_size)
            if sum(sizes) != n:
                raise RuntimeError(
                    f"split_with_sizes expects split_sizes to sum exactly to {n} (input shape "
                    f"{self.shape}, dim {dim}), but got split_sizes={sizes}"
                )
        out, start = [], 0
        for s in sizes:
            out.append(self.narrow(dim, start, s))
            start += s
        return tuple(out)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        n = self.shape[dim]
        size = -(-n // chunks)
        return self.split(size, dim)

    def tril(self, diagonal: int = 0) -> Tensor:
        return apply(S.Tri, self, k=diagonal, upper=False)

    def triu(self, diagonal: int = 0) -> Tensor:
        return apply(S.Tri, self, k=diagonal, upper=True)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        n = min(self.shape[dim1], self.shape[dim2])
        i = xp.arange(n)
        if offset >= 0:
            r, c = i[: max(0, min(n, self.shape[dim2] - offset))], None
            c = r + offset
        else:
            c = i[: max(0, min(n, self.shape[dim1] + offset))]
            r = c - offset
        d1, d2 = dim1 % self.ndim, dim2 % self.ndim
        if d1 == d2:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        x = self.permute(*[d for d in range(self.ndim) if d not in (d1, d2)], d1, d2) \
            if (d1, d2) != (self.ndim - 2, self.ndim - 1) else self
        return x[..., r, c]

    def trace(self) -> Tensor:
        return self.diagonal().sum()

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        m = _t._data(mask)
        if m.dtype != bool:
            raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype "
                               f"{m.dtype}")
        v = value if isinstance(value, _t.Tensor) else float(value) if is_floating(self.dtype) \
            else value
        return _t.where(mask, v, self)

    def masked_select(self, mask: Any) -> Tensor:
        m = xp.broadcast_to(_t._data(mask), self.shape)
        return self[m]

    def gather(self, dim: int, index: Any) -> Tensor:
        return apply(I.Gather, self, dim=dim, index=_t._data(index))

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        return apply(I.ScatterAdd, self, _t._const(src), dim=dim, index=_t._data(index))

    def scatter(self, dim: int, index: Any, src: Any = None, value: Any = None, *,
                reduce: str | None = None) -> Tensor:
        if src is None:
            src = value
        if reduce is not None:
            return self._scatter_reduced(dim, index, src, reduce, inplace=False)
        return apply(I.Scatter, self, _t._const(src), dim=dim, index=_t._data(index))

    def _scatter_reduced(self, dim: int, index: Any, src: Any, reduce: str,
                         inplace: bool) -> Tensor:
        """``scatter(..., reduce='add' | 'multiply')`` (PyTorch's older spelling): the same as
        ``scatter_reduce`` with ``'sum'`` / ``'prod'`` and ``include_self=True``; a scalar
        ``src`` is written at every index."""
        if reduce not in ("add", "multiply"):
            raise RuntimeError("reduce argument must be either add or multiply.")
        idx = index if isinstance(index, _t.Tensor) else _t.tensor(index)
        if not isinstance(src, _t.Tensor):
            src = _t._wrap(xp.full(idx.shape, src, dtype=self._array.dtype))
        mode = "sum" if reduce == "add" else "prod"
        fn = self.scatter_reduce_ if inplace else self.scatter_reduce
        return fn(dim, idx, src, mode)

    def scatter_add_(self, dim: int, index: Any, src: Any) -> Tensor:
        return self._inplace(I.ScatterAdd, _t._const(src), dim=dim, index=_t._data(index))

    def scatter_(self, dim: int, index: Any, src: Any = None, value: Any = None, *,
                 reduce: str | None = None) -> Tensor:
        if reduce is not None:
            return self._scatter_reduced(dim, index, src if src is not None else value,
                                         reduce, inplace=True)
        return self._inplace(I.Scatter, _t._const(src if src is not None else value), dim=dim,
                             index=_t._data(index))

    def index_select(self, dim: int, index: Any) -> Tensor:
        idx = xp.asarray(_t._data(index))
        if idx.ndim != 1:
            raise IndexError(f"index_select(): Index is supposed to be a vector, got shape "
                             f"{idx.shape}")
        d = dim % self.ndim
        I.check_index("index_select", idx, d, self.shape[d])
        return self[(slice(None),) * d + (idx,)]

    def take(self, index: Any) -> Tensor:
        return self.reshape(-1)[_t._data(index)]

    def take_along_dim(self, indices: Any, dim: int | None = None) -> Tensor:
        """``gather`` after broadcasting self and ``indices`` in every dim but ``dim``; with no
        ``dim`` both are flattened (``torch.take_along_dim``)."""
        idx = xp.asarray(_t._data(indices))
        if dim is None:
            return self.reshape(-1).gather(0, idx.reshape(-1))
        if idx.ndim != self.ndim:
            raise RuntimeError(
                f"torch.take_along_dim(): input and indices should have the same number of "
                f"dimensions, but input.dim() = {self.ndim} and indices.dim() = {idx.ndim}")
        if idx.dtype.kind not in "iu":
            raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be int64 but "
                               f"got {idx.dtype}")
        d = dim % self.ndim
        x_shape, i_shape = list(self.shape), list(idx.shape)
        x_shape[d] = i_shape[d] = 1
        common = list(xp.broadcast_shapes(tuple(x_shape), tuple(i_shape)))
        x = self.expand(tuple(common[:d] + [self.shape[d]] + common[d + 1:]))
        i = xp.broadcast_to(idx, tuple(common[:d] + [idx.shape[d]] + common[d + 1:]))
        return x.gather(d, i)

    def _index_add_args(self, dim: int, index: Any, source: Any, alpha: Any) -> tuple:
        """The dim, full-shape index and scaled source of ``index_add`` (checked as PyTorch)."""
        idx = xp.asarray(_t._data(index))
        if idx.ndim > 1:
            raise IndexError(f"index_add_(): Index is supposed to be a vector, got shape "
                             f"{tuple(idx.shape)}")
        idx = idx.reshape(-1)
        if idx.dtype.kind not in "iu":
            raise IndexError(f"index_add_(): Expected dtype int32/int64 for index, got "
                             f"{idx.dtype}")
        src = source if isinstance(source, _t.Tensor) else _t._wrap(xp.asarray(source, self.dtype))
        d = dim % max(self.ndim, 1)
        src_len = src.shape[d] if src.ndim else 1
        if idx.size != src_len:
            raise IndexError(f"index_add_(): Number of indices ({idx.size}) should be equal to "
                             f"source.size(dim) ({src_len})")
        if src.ndim and src.shape[:d] + src.shape[d + 1:] != self.shape[:d] + self.shape[d + 1:]:
            raise RuntimeError(f"index_add_(): source {tuple(src.shape)} and self "
                               f"{tuple(self.shape)} must match in every dim but {d}")
        I.check_index("index_add", idx, d, self.shape[d] if self.ndim else 1)
        view = [1] * src.ndim
        if src.ndim:
            view[d] = idx.size
        full = xp.broadcast_to(idx.reshape(view), src.shape).astype(xp.int64)
        if alpha != 1:
            src = src * alpha
        return d, full, src

    def index_add(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        """``self`` with ``alpha * source[..., i, ...]`` added at ``index[i]`` along ``dim``
        (repeated indices accumulate)."""
        d, full, src = self._index_add_args(dim, index, source, alpha)
        return self.scatter_add(d, full, src)

    def index_add_(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        """In-place ``index_add``."""
        d, full, src = self._index_add_args(dim, index, source, alpha)
        return self.scatter_add_(d, full, src)

    def __getitem__(self, key: Any) -> Tensor:
        key = _t._key(key)
        out = apply(I.GetItem, self, key=key)
        if I.is_basic(key):
            out._base = root = self._base if self._base is not None else self
            if out.grad_fn is not None:
                _register_view(root, out)
        return out

    def __setitem__(self, key: Any, value: Any) -> None:
        key = _t._key(key)
        if _GradMode.enabled and (
            self.requires_grad or (isinstance(value, _t.Tensor) and value.requires_grad)
        ):
            self._check_inplace("setitem")
            if not self._array.flags.writeable:
                self._write(self._array)  # raises the read-only error
            self._commit(apply(I.SetItem, self._snapshot(False), _t._const(value), key=key,
                               inplace=True))
            return
        if not self._array.flags.writeable:
            self._write(self._array)
        try:
            self._array[key] = _t._data(value)
        except IndexError:
            I.check_bounds(self.shape, key)
            raise
        self._bump_version()

    # ---- added for PyTorch programs (h-gaps) -----------------------------------------------
    def diag(self, diagonal: int = 0) -> Tensor:
        """A 1-D input becomes the matrix with it on diagonal ``diagonal``; a 2-D input gives
        that diagonal as a vector (PyTorch's two-way ``diag``)."""
        if self.ndim == 1:
            return self.diag_embed(diagonal)
        if self.ndim == 2:
            return self.diagonal(diagonal)
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        """out[..., i, i + offset] = self[..., i] (zeros elsewhere), the new square plane at
        (dim1, dim2) of the result; dself = g's diagonal."""
        nd = self.ndim + 1
        d1, d2 = dim1 % nd, dim2 % nd
        if d1 == d2:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        n = self.shape[-1] if self.ndim else 1
        m = n + abs(offset)
        i = xp.arange(n)
        r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
        zeros = _t._wrap(xp.zeros(tuple(self.shape[:-1]) + (m, m), dtype=self.dtype))
        out = apply(I.SetItem, zeros, self, key=(Ellipsis, r, c))
        if (d1, d2) == (nd - 2, nd - 1):
            return out
        rest = iter(range(nd - 2))
        perm = [nd - 2 if p == d1 else nd - 1 if p == d2 else next(rest) for p in range(nd)]
        return out.permute(*perm)

    def fill_diagonal_(self, fill_value: Any, wrap: bool = False) -> Tensor:
        """Write ``fill_value`` on the main diagonal in place; a tall 2-D matrix with ``wrap``
        restarts the diagonal every ``cols + 1`` rows (flat stride cols + 1, as PyTorch)."""
        if self.ndim < 2:
            raise RuntimeError("dimensions must larger than 1")
        if self.ndim > 2 and len(set(self.shape)) != 1:
            raise RuntimeError("all dimensions of input must be of equal length")
        rows, cols = self.shape[0], self.shape[1]
        if self.ndim == 2 and wrap and rows > cols + 1:
            p = xp.arange(0, rows * cols, cols + 1)
            key: Any = (p // cols, p % cols)
        else:
            i = xp.arange(min(rows, cols))
            key = (i,) * self.ndim
        self[key] = fill_value
        return self

    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        """All windows of length ``size`` with stride ``step`` along ``dimension``: that dim
        becomes the window index and the window is a new last dim (a strided view, read-only
        here since windows overlap)."""
        return self._view_of(apply(S.Unfold, self, dim=dimension, size=size, step=step))

    def index_put_(self, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
        """self[indices] = values in place; with ``accumulate`` the values are added, repeated
        indices adding up (``xp.add.at``). Differentiable in self and values."""
        key = tuple(_t._data(i) for i in indices)
        if not accumulate:
            self[key] = values
            return self
        arr = self.numpy(force=True)  # (the storage, shared)
        target = arr[key].shape
        v = _t._const(values)
        if _GradMode.enabled and (self.requires_grad or getattr(v, "requires_grad", False)):
            self._check_inplace("index_put_")
            if isinstance(v, _t.Tensor):
                v = v.to(self.dtype) if v.dtype != self.dtype else v
                v = v.expand(target) if v.shape != target else v
            else:
                v = _t._wrap(xp.broadcast_to(xp.asarray(v, dtype=self.dtype), target).copy())
            return self._commit(self._snapshot(False) + _t._index_add_tensor(v, self.shape, key))
        if not arr.flags.writeable:
            self._write(arr)  # raises the read-only error
        xp.add.at(arr, key, xp.broadcast_to(xp.asarray(_t._data(v), dtype=self.dtype), target))
        self._bump_version()
        return self

    def index_put(self, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
        return self.clone().index_put_(indices, values, accumulate)


