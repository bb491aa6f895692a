"""``chainrule.sparse``: sparse COO tensors with PyTorch's API (``torch.sparse_coo_tensor``,
``torch.sparse.mm``, ``torch.spmm``, ``coalesce``, ``indices``/``values``, ``to_dense``).

A :class:`SparseTensor` keeps what PyTorch's COO tensor keeps — ``indices`` (sparse_dim × nnz,
int64), ``values`` (nnz × dense dims) and the size — and, beside them, the same tensor laid
out densely, on which every computation runs:

    dense[i₀, i₁, …] = Σ_{k : indices[:, k] = (i₀, i₁, …)} values[k].

NOTE: chainrule has no sparse kernels. The dense copy makes every Tensor operation work on a
sparse tensor (``torch.sparse.mm(adj, x)`` is one GEMM) with exact values and gradients, at
dense memory cost: fine for the graphs of tutorials (thousands of nodes), not for millions.
The dense copy is a graph node over ``values`` (``IndexAdd``), so gradients reach ``values``
(learned edge weights) exactly as PyTorch's sparse backward gives them, summed over duplicate
indices. Results of operations are dense tensors; the sparse functions here (``mm``, ``sum``,
``softmax``, ``coalesce``, ``t``, ``to``) return sparse tensors where PyTorch does.

Example (a GCN's normalised adjacency)::

    adj = chainrule.sparse_coo_tensor(edge_index, torch.ones(n_edges), (n, n)).coalesce()
    deg = torch.sparse.sum(adj, dim=1).to_dense()
    out = torch.sparse.mm(adj, features @ weight)
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import _torch_extras as X
from chainrule.tensor import Tensor, _index_add_tensor, _wrap

__all__ = ["SparseTensor", "sparse_coo_tensor", "mm", "spmm", "addmm", "sum", "softmax",
           "log_softmax", "FloatTensor", "DoubleTensor", "LongTensor", "to_sparse"]

_SLOTS = ("_array", "grad", "grad_fn", "requires_grad", "_version", "_base", "_hooks")


def _as_tensor(values: Any, dtype: Any) -> Tensor:
    from chainrule.creation import tensor

    if isinstance(values, Tensor):
        return values if dtype is None else values.to(dtype)
    return tensor(values, dtype=dtype)


def _index_array(indices: Any) -> np.ndarray:
    arr = indices.numpy() if isinstance(indices, Tensor) else np.asarray(indices)
    if arr.ndim != 2:
        raise RuntimeError(f"indices must be sparse_dim x nnz, but got: {list(arr.shape)}")
    if arr.size and arr.dtype.kind not in "iu":
        raise RuntimeError(f"indices must be an int64 tensor, got {arr.dtype}")
    return arr.astype(np.int64)


class SparseTensor(Tensor):
    """A COO sparse tensor (``layout == torch.sparse_coo``); see the module docstring."""

    _sp_indices: np.ndarray
    _sp_values: Tensor
    _sp_coalesced: bool

    # -- PyTorch's sparse accessors ----------------------------------------------------------
    @property
    def is_sparse(self) -> bool:
        return True

    @property
    def layout(self) -> Any:
        return X.sparse_coo

    def sparse_dim(self) -> int:
        return int(self._sp_indices.shape[0])

    def dense_dim(self) -> int:
        return self._sp_values.ndim - 1

    def _nnz(self) -> int:
        return int(self._sp_indices.shape[1])

    def is_coalesced(self) -> bool:
        return self._sp_coalesced

    def _indices(self) -> Tensor:
        return _wrap(self._sp_indices)

    def _values(self) -> Tensor:
        return self._sp_values

    def indices(self) -> Tensor:
        self._need_coalesced("indices")
        return self._indices()

    def values(self) -> Tensor:
        self._need_coalesced("values")
        return self._values()

    def _need_coalesced(self, what: str) -> None:
        if not self._sp_coalesced:
            raise RuntimeError(f"Cannot get {what} on an uncoalesced tensor, please call "
                               ".coalesce() first")

    def coalesce(self) -> SparseTensor:
        """Indices sorted (row-major) and unique, the values of repeated indices summed."""
        if self._sp_coalesced:
            return self
        idx = self._sp_indices
        if idx.shape[1] == 0:
            return _make(self, idx, self._sp_values, True)
        flat = np.ravel_multi_index(tuple(idx), self.shape[: idx.shape[0]])
        uniq, inverse = np.unique(flat, return_inverse=True)
        new_idx = np.stack(np.unravel_index(uniq, self.shape[: idx.shape[0]])).astype(np.int64)
        values = _index_add_tensor(self._sp_values, (len(uniq), *self._sp_values.shape[1:]),
                                   (inverse.reshape(-1),))
        return _make(self, new_idx, values, True)

    def to_dense(self, dtype: Any = None, *, masked_grad: bool | None = None) -> Tensor:
        """The dense tensor (a plain Tensor of this graph node)."""
        del masked_grad
        out = self._alias()
        return out if dtype is None else out.to(dtype)

    def to_sparse(self, sparse_dim: int | None = None) -> SparseTensor:
        return self

    to_sparse_coo = to_sparse

    def t(self) -> SparseTensor:
        if self.sparse_dim() != 2 or self.dense_dim():
            raise RuntimeError("t() expects a 2-D sparse tensor with no dense dimensions")
        return _from_dense(super().t(), self._sp_indices[::-1].copy(), self._sp_values, False)

    def transpose(self, dim0: int, dim1: int) -> Any:
        if {dim0 % self.ndim, dim1 % self.ndim} == {0, 1} and self.ndim == 2:
            return self.t()
        return super().transpose(dim0, dim1)

    def detach(self) -> SparseTensor:
        return _from_dense(super().detach(), self._sp_indices, self._sp_values.detach(),
                           self._sp_coalesced)

    def to(self, *args: Any, **kwargs: Any) -> SparseTensor:
        dense = super().to(*args, **kwargs)
        if dense is self:
            return self
        return _from_dense(dense, self._sp_indices, self._sp_values.to(dense.dtype),
                           self._sp_coalesced)

    def float(self) -> SparseTensor:
        return self.to(np.dtype("float32"))

    def double(self) -> SparseTensor:
        return self.to(np.dtype("float64"))

    def cpu(self) -> SparseTensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> SparseTensor:
        super().cuda(*args, **kwargs)   # the same error as a dense tensor's when there is none
        return self

    def __repr__(self) -> str:
        return (f"tensor(indices={self._indices()!r},\n       values={self._sp_values!r},\n"
                f"       size={tuple(self.shape)}, nnz={self._nnz()}, layout=torch.sparse_coo"
                + (", requires_grad=True)" if self.requires_grad else ")"))

    __str__ = __repr__


def _from_dense(dense: Tensor, indices: np.ndarray, values: Tensor,
                coalesced: bool) -> SparseTensor:
    """A SparseTensor that *is* graph node ``dense`` (same array, grad_fn, flags)."""
    sp = object.__new__(SparseTensor)
    for slot in _SLOTS:
        setattr(sp, slot, getattr(dense, slot))
    sp._sp_indices, sp._sp_values, sp._sp_coalesced = indices, values, coalesced
    return sp


def _make(like: SparseTensor, indices: np.ndarray, values: Tensor,
          coalesced: bool) -> SparseTensor:
    """A sparse tensor of ``like``'s dense node with other (equivalent) indices and values."""
    return _from_dense(like, indices, values, coalesced)


def sparse_coo_tensor(indices: Any, values: Any, size: Sequence[int] | None = None, *,
                      dtype: Any = None, device: Any = None, pin_memory: bool = False,
                      requires_grad: bool = False, check_invariants: bool | None = None,
                      is_coalesced: bool | None = None) -> SparseTensor:
    """``torch.sparse_coo_tensor``: entry ``values[k]`` at ``indices[:, k]`` (duplicates add);
    ``size`` defaults to the smallest that holds every index."""
    del device, pin_memory, check_invariants
    idx = _index_array(indices)
    vals = _as_tensor(values, dtype)
    if vals.ndim == 0 or vals.shape[0] != idx.shape[1]:
        raise RuntimeError(f"indices and values must have the same number of elements (nnz), "
                           f"but got {idx.shape[1]} indices and values of shape "
                           f"{list(vals.shape)}")
    if size is None:
        size = tuple(int(m) + 1 for m in idx.max(axis=1)) if idx.shape[1] else (0,) * len(idx)
        size = (*size, *vals.shape[1:])
    size = tuple(int(s) for s in size)
    if len(size) != idx.shape[0] + vals.ndim - 1:
        raise RuntimeError(f"number of dimensions must be sparse_dim ({idx.shape[0]}) + "
                           f"dense_dim ({vals.ndim - 1}), but got {len(size)}")
    if idx.size and ((idx < 0).any() or (idx.max(axis=1) >= np.array(size[: len(idx)])).any()):
        raise RuntimeError(f"size is inconsistent with indices: for dim {_bad_dim(idx, size)}, "
                           f"size is {size} but indices hold values outside it")
    if tuple(vals.shape[1:]) != size[idx.shape[0]:]:
        raise RuntimeError(f"values has incorrect size, expected {[idx.shape[1], *size[len(idx):]]}"
                           f", got {list(vals.shape)}")
    dense = _index_add_tensor(vals, size, tuple(idx))
    if requires_grad:
        dense = dense.detach().requires_grad_(True)
    coalesced = builtins.bool(is_coalesced) if is_coalesced is not None else (
        idx.shape[1] <= 1)
    return _from_dense(dense, idx, vals, coalesced)


def _bad_dim(idx: np.ndarray, size: tuple[int, ...]) -> int:
    for d in range(len(idx)):
        if (idx[d] < 0).any() or (idx[d] >= size[d]).any():
            return d
    return -1


def to_sparse(x: Tensor, sparse_dim: int | None = None) -> SparseTensor:
    """``x.to_sparse()``: the nonzero entries of a dense tensor, coalesced."""
    if isinstance(x, SparseTensor):
        return x
    sd = x.ndim if sparse_dim is None else int(sparse_dim)
    arr = x._array
    mask = arr != 0 if sd == arr.ndim else (arr != 0).reshape(arr.shape[:sd] + (-1,)).any(-1)
    idx = np.stack(np.nonzero(mask)).astype(np.int64).reshape(sd, -1)
    values = x[tuple(_wrap(i) for i in idx)] if idx.shape[1] else x.reshape(
        (0, *arr.shape[sd:]))
    return _from_dense(x.clone(), idx, values, True)


def _legacy(dtype_name: str) -> Any:
    def construct(indices: Any, values: Any, size: Sequence[int] | None = None) -> SparseTensor:
        return sparse_coo_tensor(indices, values, size, dtype=np.dtype(dtype_name))

    construct.__name__ = construct.__qualname__ = f"sparse_{dtype_name}_tensor"
    construct.__doc__ = f"Legacy ``torch.sparse.*Tensor(indices, values, size)`` ({dtype_name})."
    return construct


FloatTensor = _legacy("float32")
DoubleTensor = _legacy("float64")
LongTensor = _legacy("int64")


def mm(mat1: Tensor, mat2: Tensor, reduce: str = "sum") -> Tensor:
    """``torch.sparse.mm``: ``mat1 @ mat2`` (sparse result when both are sparse)."""
    if reduce != "sum":
        raise NotImplementedError(f"torch.sparse.mm: reduce={reduce!r} is not supported "
                                  "(only 'sum')")
    out = Tensor.__matmul__(mat1, mat2)
    if isinstance(mat1, SparseTensor) and isinstance(mat2, SparseTensor):
        return to_sparse(out)
    return out


spmm = mm


def addmm(mat: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1.0,
          alpha: float = 1.0) -> Tensor:
    """``torch.sparse.addmm``: ``beta * mat + alpha * (mat1 @ mat2)``."""
    return mat * beta + mm(mat1, mat2) * alpha


def sum(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:  # noqa: A001
    """``torch.sparse.sum``: a dense 0-d tensor over everything; over some dims, a sparse tensor
    of the remaining ones (entries where some stored index was)."""
    if dim is None:
        out = Tensor.sum(input)
        return out if dtype is None else out.to(dtype)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = tuple(d % input.ndim for d in dims)
    out = Tensor.sum(input, dims)
    if dtype is not None:
        out = out.to(dtype)
    if not isinstance(input, SparseTensor):
        return out
    keep = [d for d in range(input.sparse_dim()) if d not in dims]
    if not keep:
        return out
    rows = input._sp_indices[keep]
    idx = np.unique(rows, axis=1) if rows.shape[1] else rows
    values = out[tuple(_wrap(i) for i in idx)]
    return _from_dense(out, idx, values, True)


def _masked_softmax(input: SparseTensor, dim: int, log: bool) -> SparseTensor:
    from chainrule.nn import functional as F

    if not isinstance(input, SparseTensor):
        raise RuntimeError("torch.sparse.softmax expects a sparse tensor")
    sp = input.coalesce()
    stored = np.zeros(sp.shape, dtype=bool)
    stored[tuple(sp._sp_indices)] = True
    masked = sp.to_dense().masked_fill(_wrap(~stored), float("-inf"))
    fn = F.log_softmax if log else F.softmax
    out = fn(masked, dim=dim).masked_fill(_wrap(~stored), 0.0)
    values = out[tuple(_wrap(i) for i in sp._sp_indices)]
    return _from_dense(out, sp._sp_indices, values, True)


def softmax(input: SparseTensor, dim: int, *, dtype: Any = None) -> SparseTensor:
    """``torch.sparse.softmax``: softmax over the *stored* entries along ``dim`` (unstored
    entries count as -inf, so they stay out of the sum and of the result)."""
    out = _masked_softmax(input if dtype is None else input.to(dtype), dim, log=False)
    return out


def log_softmax(input: SparseTensor, dim: int, *, dtype: Any = None) -> SparseTensor:
    """``torch.sparse.log_softmax``: log of :func:`softmax`, on the stored entries."""
    return _masked_softmax(input if dtype is None else input.to(dtype), dim, log=True)


class check_sparse_tensor_invariants:  # noqa: N801 - PyTorch's spelling
    """``torch.sparse.check_sparse_tensor_invariants``: chainrule always checks indices against
    the size at construction; this context manager is accepted for compatibility."""

    def __init__(self, enable: bool = True) -> None:
        self.enable = enable

    @staticmethod
    def is_enabled() -> bool:
        return True

    @staticmethod
    def enable() -> None:
        return None

    @staticmethod
    def disable() -> None:
        return None

    def __enter__(self) -> check_sparse_tensor_invariants:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

