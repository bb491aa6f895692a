"""Indexing primitives: getitem (basic, advanced, boolean), its adjoint, setitem, gather, scatter.

Basic indexing (ints, slices, None, Ellipsis) returns a view; advanced indexing (integer
arrays, boolean masks) copies. The gradient of an advanced index accumulates repeated indices
(``np.add.at``), exactly as PyTorch's ``index_put_(accumulate=True)``.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.engine import Function
from chainrule.backend import xp


def is_basic(key: Any) -> bool:
    """True when ``key`` uses only ints, slices, None and Ellipsis (a view, no repeats)."""
    if not isinstance(key, tuple):
        key = (key,)
    for k in key:
        if k is None or k is Ellipsis or isinstance(k, (slice, int)) and not isinstance(k, bool):
            continue
        return False
    return True


def check_bounds(shape: tuple[int, ...], key: Any) -> None:
    """Raise IndexError naming the index, the dimension and its size (as PyTorch does)."""
    if not isinstance(key, tuple):
        key = (key,)
    dim = 0
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    for k in key:
        if k is Ellipsis:
            dim += len(shape) - n_real
            continue
        if k is None:
            continue
        if dim >= len(shape):
            raise IndexError(
                f"too many indices for tensor of dimension {len(shape)} (shape {tuple(shape)})"
            )
        size = shape[dim]
        if isinstance(k, int) and not isinstance(k, bool):
            if not -size <= k < size:
                raise IndexError(
                    f"index {k} is out of bounds for dimension {dim} with size {size}"
                )
        elif isinstance(k, xp.ndarray) and k.dtype.kind in "iu" and k.size:
            lo, hi = int(k.min()), int(k.max())
            if lo < -size or hi >= size:
                bad = hi if hi >= size else lo
                raise IndexError(
                    f"index {bad} is out of bounds for dimension {dim} with size {size}"
                )
        elif isinstance(k, xp.ndarray) and k.dtype == bool:
            if k.shape != tuple(shape[dim : dim + k.ndim]):
                raise IndexError(
                    f"The shape of the mask {tuple(k.shape)} at index {dim} does not match the "
                    f"shape of the indexed tensor {tuple(shape)}"
                )
            dim += k.ndim
            continue
        dim += 1


class IndexOutOfBounds(IndexError, RuntimeError):
    """An index outside ``[0, size)`` given to gather/scatter/index_select. PyTorch raises
    RuntimeError there (IndexError for plain indexing); this is both, so code written for
    either catches it."""


def check_index(op: str, index: Any, dim: int, size: int) -> None:
    """Raise unless every entry of ``index`` lies in ``[0, size)``. Unlike plain indexing,
    gather, scatter, scatter_add and index_select do not wrap negative indices (PyTorch 2.13
    raises for them too), so NumPy's wrapping must not reach the result silently."""
    if not index.size:
        return
    # (two bool tests, not int(): chainrule.compile records them as value guards)
    if bool(index.min() < 0) or bool(index.max() >= size):
        lo, hi = int(index.min()), int(index.max())
        bad = lo if lo < 0 else hi
        raise IndexOutOfBounds(
            f"{op}(): index {bad} is out of bounds for dimension {dim} with size {size}"
        )


class GetItem(Function):
    """out = x[key];  dx = zeros with g added at the indexed positions (repeats accumulate)."""

    saves = ()

    def forward(self, x: Any, key: Any = None) -> Any:
        self.key = key
        try:
            out = x[key]
        except IndexError:
            check_bounds(x.shape, key)
            raise
        if not isinstance(out, xp.ndarray) and is_basic(key):
            # an element picked by ints is a NumPy scalar (a copy); a trailing Ellipsis makes it
            # a writable 0-d view instead, as PyTorch's x[i, j] (so x[i, j] += 1 writes x)
            out = x[(*key, Ellipsis) if isinstance(key, tuple) else (key, Ellipsis)]
        return out

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.index_add(g, self.inputs[0]._array.shape, self.key),)


def _index_add(g: Any, shape: tuple[int, ...], key: Any) -> Any:
    """zeros(shape) with g added at ``key`` (repeated indices accumulate)."""
    out = xp.zeros(shape, dtype=g.dtype)
    if is_basic(key):
        out[key] = g
    else:
        xp.add.at(out, key, g)
    return out


class IndexAdd(Function):
    """out = zeros(shape) with g added at ``key`` (the adjoint of getitem);  dg = dout[key]."""

    saves = ()

    def forward(self, g: Any, shape: tuple[int, ...] = (), key: Any = None) -> Any:
        self.key = key
        return _index_add(g, shape, key)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(GetItem, g, key=self.key),)

    @staticmethod
    def apply_to(g: Any, shape: tuple[int, ...], key: Any) -> Any:
        """Record zeros(shape) with the Tensor ``g`` added at ``key``."""
        return IndexAdd.apply(g, shape=shape, key=key)


class SetItem(Function):
    """out = x with out[key] = v;  dx = g with zeros at key, dv = g[key].

    Out of place, or with ``inplace=True`` written into x itself (``Tensor.__setitem__``: the
    backward never reads x, so a loop filling a buffer slice by slice costs O(slice) a step).
    """

    saves = ()

    def forward(self, x: Any, v: Any, key: Any = None, inplace: bool = False) -> Any:
        self.key = key
        out = x if inplace else x.copy()
        out[key] = v
        return out

    def vjp(self, g: Any, F: Any) -> tuple:
        gx = None
        if self.needs[0]:
            keep = xp.ones(g.shape, dtype=g.dtype)  # a constant: 0 where v was written
            keep[self.key] = 0
            gx = g * keep
        gv = g[self.key] if self.needs[1] else None
        return gx, gv


def _along(index: Any, dim: int) -> tuple:
    """Full index tuple addressing ``index`` along ``dim`` and the identity elsewhere."""
    grids = xp.ogrid[tuple(slice(0, s) for s in index.shape)]
    grids = list(grids) if isinstance(grids, (list, tuple)) else [grids]
    grids[dim] = index
    return tuple(grids)


class Gather(Function):
    """out[i][j] = x[index[i][j]][j] (dim = 0 shown);  dx = scatter_add of g at index."""

    saves = ()

    def forward(self, x: Any, dim: int = 0, index: Any = None) -> Any:
        self.dim = dim % x.ndim
        self.index = index
        if index.ndim != x.ndim:
            raise RuntimeError(
                f"gather: index {tuple(index.shape)} and input {tuple(x.shape)} must have the "
                "same number of dimensions"
            )
        check_index("gather", index, self.dim, x.shape[self.dim])
        if index.shape != x.shape:  # an index smaller than x in the other dims reads a corner
            x = x[tuple(slice(0, s) if d != self.dim else slice(None)
                        for d, s in enumerate(index.shape))]
        return xp.take_along_axis(x, index, axis=self.dim)

    def vjp(self, g: Any, F: Any) -> tuple:
        # the adjoint of gather: g added into zeros at the gathered positions
        return (F.index_add(g, self.inputs[0]._array.shape, _along(self.index, self.dim)),)


def _scatter_start(fn: Function, op: str, x: Any, dim: int, index: Any) -> tuple[Any, tuple]:
    """Common start of scatter and scatter_add: record dim and index on ``fn``, check the
    index, and return a copy of x to write into and the corner of src that index covers."""
    fn.dim = dim % x.ndim
    fn.index = index
    check_index(op, index, fn.dim, x.shape[fn.dim])
    return x.copy(), tuple(slice(0, s) for s in index.shape)


class ScatterAdd(Function):
    """out = x with src added at ``index`` along dim;  dx = g, dsrc = gather(g, dim, index)."""

    saves = ()

    def forward(self, x: Any, src: Any, dim: int = 0, index: Any = None) -> Any:
        out, corner = _scatter_start(self, "scatter_add", x, dim, index)
        src = xp.broadcast_to(src, index.shape) if xp.ndim(src) == 0 else src
        xp.add.at(out, _along(index, self.dim), src[corner])
        return out

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g if self.needs[0] else None), _src_grad(self, g, F)


class Scatter(Function):
    """out = x with out[index] = src along dim;  dx = g zeroed at index, dsrc = gather(g)."""

    saves = ()

    def forward(self, x: Any, src: Any, dim: int = 0, index: Any = None) -> Any:
        out, corner = _scatter_start(self, "scatter", x, dim, index)
        if xp.ndim(src) == 0:
            src = xp.full(index.shape, src, dtype=x.dtype)
        out[_along(index, self.dim)] = src[corner]
        return out

    def vjp(self, g: Any, F: Any) -> tuple:
        gx = None
        if self.needs[0]:
            keep = xp.ones(g.shape, dtype=g.dtype)  # a constant: 0 where src was written
            keep[_along(self.index, self.dim)] = 0
            gx = g * keep
        return gx, _src_grad(self, g, F)


def _src_grad(fn: Function, g: Any, F: Any) -> Any:
    """dsrc of scatter / scatter_add: g gathered at ``index``, and zeros in the part of a src
    larger than ``index`` (never read); None when src needs no gradient."""
    if not fn.needs[1]:
        return None
    gsrc = F.apply(Gather, g, dim=fn.dim, index=fn.index)
    shape = fn.inputs[1]._array.shape
    if shape != fn.index.shape:
        gsrc = F.index_add(gsrc, shape, tuple(slice(0, s) for s in fn.index.shape))
    return gsrc
