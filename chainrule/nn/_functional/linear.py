"""nn.functional: linear maps, embeddings and one-hot encoding."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.engine import Function, no_grad
from chainrule.backend import int64, xp
from chainrule.ops import matmul as M
from chainrule.tensor import Tensor, _wrap, apply

__all__ = ["linear", "bilinear", "embedding", "one_hot"]

# PyTorch's names for dtypes, so a mismatch reads as torch's own message does.
_TORCH_DTYPE_NAMES = {
    "float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char", "uint8": "Byte",
    "int16": "Short", "int32": "Int", "int64": "Long", "bool": "Bool", "complex64": "ComplexFloat",
    "complex128": "ComplexDouble",
}


def _dtype_name(t: Any) -> str:
    """PyTorch's name for the dtype of tensor/array ``t`` (NumPy's name when torch has none)."""
    name = str(t.dtype)
    return _TORCH_DTYPE_NAMES.get(name, name)


def _check_same_dtype(fn: str, **tensors: Any) -> None:
    """Raise torch's RuntimeError when the given tensors (None skipped) differ in dtype.

    # NOTE: the GEMM would silently promote (int64 @ float32 -> float64, float16 -> float32);
    # PyTorch refuses every mixed pair, and so do we, rather than return a different dtype.
    """
    named = {k: v for k, v in tensors.items() if v is not None}
    dtypes = {v.dtype for v in named.values()}
    if len(dtypes) > 1:
        got = ", ".join(f"{k}: {_dtype_name(v)}" for k, v in named.items())
        raise RuntimeError(f"{fn}: all tensors must have the same dtype, got {got}")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b over the last dimension of ``input`` (one fused GEMM primitive).

    ``input``: (*, in_features), ``weight``: (out_features, in_features), ``bias``:
    (out_features,) or None; result (*, out_features). All three must share one dtype (as in
    PyTorch: ``mat1 and mat2 must have the same dtype``); nothing is promoted.
    """
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
        _check_same_dtype("linear", input=input, weight=weight, bias=bias)
    return apply(M.Linear, input, weight, bias)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_k = x₁ᵀ W_k x₂ + b_k for every output k.

    ``input1``: (*, in1), ``input2``: (*, in2), ``weight``: (out, in1, in2); one GEMM computes
    x₁ W (all k at once), then a product with x₂ summed over in2. All tensors share one dtype.
    """
    _check_same_dtype("bilinear", input1=input1, input2=input2, weight=weight, bias=bias)
    out_f, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2 or input1.shape[:-1] != input2.shape[
            :-1]:
        raise RuntimeError(
            f"bilinear: inputs {tuple(input1.shape)} and {tuple(input2.shape)} don't fit a weight "
            f"of shape {tuple(weight.shape)} (expected (*, {in1}) and (*, {in2}))"
        )
    lead = input1.shape[:-1]
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    w = weight.permute(1, 0, 2).reshape(in1, out_f * in2)
    t = (x1 @ w).reshape(-1, out_f, in2)
    y = (t * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(lead + (out_f,))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices of shape (*) to int64 one-hot vectors of shape (*, num_classes).

    ``num_classes=-1`` uses max(tensor) + 1.
    """
    idx = tensor._array if isinstance(tensor, Tensor) else xp.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(
            f"one_hot is only applicable to index tensor of integer dtype, got {idx.dtype}"
        )
    if idx.size and idx.min() < 0:
        raise RuntimeError(f"Class values must be non-negative (got {int(idx.min())}).")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and idx.max() >= num_classes:
        raise RuntimeError(
            f"Class values must be smaller than num_classes: got class {int(idx.max())} with "
            f"num_classes={num_classes}."
        )
    out = xp.zeros(idx.shape + (num_classes,), dtype=int64)
    xp.put_along_axis(out, idx[..., None].astype(xp.intp), 1, axis=-1)
    return _wrap(out)


class EmbeddingLookup(Function):
    """out = W[idx] (rows of the table);  dW = Σ over positions p with idx_p = r of g_p, into
    row r, skipping ``padding_idx`` and divided by the row's count if ``scale_grad_by_freq``.

    # NOTE: a primitive rather than ``W[idx]`` so the padding row gets exactly no gradient while
    # the forward still returns W[padding_idx] (PyTorch's contract).
    """

    saves = ()

    def forward(self, w: Any, idx: Any = None, padding_idx: int | None = None,
                scale_grad_by_freq: bool = False) -> Any:
        self.idx, self.padding_idx, self.scale = idx, padding_idx, scale_grad_by_freq
        return xp.take(w, idx, axis=0)

    def vjp(self, g: Any, F: Any) -> tuple:
        idx = self.idx
        shape = self.inputs[0]._array.shape
        factor = None  # a constant per position: 0 at padding, 1/count with scale_grad_by_freq
        if self.padding_idx is not None:
            factor = (idx != self.padding_idx).astype(g.dtype)
        if self.scale:
            counts = xp.bincount(idx.reshape(-1), minlength=shape[0])
            inv = 1.0 / counts[idx].astype(g.dtype)
            factor = inv if factor is None else factor * inv
        if factor is not None:
            g = g * factor[..., None]
        return (F.index_add(g, shape, idx),)


def _embedding_renorm_(weight: Tensor, idx: Any, max_norm: float, norm_type: float) -> None:
    """Rescale, in place, the referenced rows whose p-norm exceeds ``max_norm`` to that norm."""
    rows = xp.unique(idx)
    w = weight._array
    sel = w[rows]
    norms = xp.linalg.norm(sel, ord=norm_type, axis=1)
    big = norms > max_norm
    if big.any():
        with no_grad():
            w[rows[big]] = sel[big] * (max_norm / (norms[big] + 1e-7))[:, None]
            weight._bump_version()


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` (num_embeddings, dim) at integer ``input`` (*): out (*, dim).

    ``padding_idx``: that row receives no gradient. ``max_norm``: rows looked up are first
    renormalised in place to p-norm <= max_norm. ``scale_grad_by_freq``: a row's gradient is
    divided by how often it occurs in the batch. ``sparse``: the gradient is still a dense tensor
    (chainrule has no sparse tensors), zero outside the rows looked up; ``weight`` is marked so
    that ``optim.SparseAdam`` accepts it and updates only the rows touched.
    """
    idx = input._array if isinstance(input, Tensor) else xp.asarray(input)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(
            f"embedding: expected an integer index tensor (Long or Int), got {idx.dtype}"
        )
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.max()) if idx.max() >= n else int(idx.min())
        raise IndexError(f"embedding: index {bad} is out of range for {n} embeddings")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"Padding_idx {padding_idx} must be within num_embeddings ({n})")
        padding_idx %= n
    if max_norm is not None:
        _embedding_renorm_(weight, idx, max_norm, norm_type)
    if sparse and hasattr(weight, "__dict__"):
        # the gradient stays dense; the mark tells optim.SparseAdam that PyTorch would have
        # made it sparse (and lets it refuse parameters whose gradients are dense)
        weight._sparse_grad = True
    return apply(EmbeddingLookup, weight, idx=idx, padding_idx=padding_idx,
                 scale_grad_by_freq=scale_grad_by_freq)
