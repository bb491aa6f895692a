"""BLAS-style fused products as PyTorch spells them: ``addmm``, ``addmv``, ``addr``,
``baddbmm``, ``addbmm`` — out = β·input + α·(product), composed of differentiable ops (their
gradients follow from matmul's, sum's and the scalings').

As in PyTorch, ``input`` must broadcast to the product's shape, and with ``beta=0`` its
values are ignored (NaN and inf in it do not propagate) while it still gets a (zero)
gradient.

Example::

    >>> import chainrule as torch
    >>> torch.addmm(torch.ones(2), torch.eye(2), torch.eye(2), beta=0.5, alpha=2.0)
    tensor([[2.5000, 0.5000],
            [0.5000, 2.5000]])
"""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp
from chainrule.tensor import Tensor, where

__all__ = ["addbmm", "addmm", "addmv", "addr", "baddbmm"]


def _expand_error(input: Tensor, shape: tuple[int, ...]) -> RuntimeError | None:
    """PyTorch's error when ``input`` does not broadcast to the product's ``shape``."""
    ishape = tuple(input.shape)
    if len(ishape) > len(shape):
        return RuntimeError(f"The expanded size of the tensor ({len(shape)}) must be greater or "
                            f"equal to the number of dimensions in the tensor ({len(ishape)})")
    for k in range(1, len(ishape) + 1):
        if ishape[-k] not in (1, shape[-k]):
            d = len(shape) - k
            return RuntimeError(
                f"The expanded size of the tensor ({shape[-k]}) must match the existing size "
                f"({ishape[-k]}) at non-singleton dimension {d}.  Target sizes: {list(shape)}.  "
                f"Tensor sizes: {list(ishape)}")
    return None


def _combine(input: Any, prod: Tensor, beta: Any, alpha: Any) -> Tensor:
    """β·input + α·prod, input broadcast to prod's shape (β = 0: input's values ignored)."""
    if not isinstance(input, Tensor):
        from chainrule.creation import as_tensor

        input = as_tensor(input, dtype=prod.dtype)
    err = _expand_error(input, tuple(prod.shape))
    if err is not None:
        raise err
    out = prod if alpha == 1 else prod * alpha
    if beta == 0:
        if input.requires_grad:  # a zero gradient for input, its values never read
            out = out + where(xp.zeros(input.shape, dtype=bool), input, 0.0)
        return out if tuple(out.shape) == tuple(prod.shape) else out.expand(*prod.shape)
    out = out + (input if beta == 1 else input * beta)
    return out


def _need_dims(name: str, t: Tensor, n: int, what: str) -> None:
    if t.ndim != n:
        raise RuntimeError(f"{name} must be a {what}, got {t.ndim}-D tensor")


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1
          ) -> Tensor:
    """β·input + α·(mat1 @ mat2) for 2-D mat1 (n×m) and mat2 (m×p)."""
    _need_dims("mat1", mat1, 2, "matrix")
    _need_dims("mat2", mat2, 2, "matrix")
    if mat1.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({mat1.shape[0]}x"
                           f"{mat1.shape[1]} and {mat2.shape[0]}x{mat2.shape[1]})")
    return _combine(input, mat1 @ mat2, beta, alpha)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """β·input + α·(mat @ vec) for 2-D mat (n×m) and 1-D vec (m)."""
    if mat.ndim != 2 or vec.ndim != 1 or input.ndim > 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {mat.ndim}, "
                           f"{vec.ndim}")
    if mat.shape[1] != vec.shape[0] or (input.ndim == 1 and input.shape[0] not in
                                          (1, mat.shape[0])):
        raise RuntimeError(f"size mismatch, got input ({input.shape[0] if input.ndim else 1}), "
                           f"mat ({mat.shape[0]}x{mat.shape[1]}), vec ({vec.shape[0]})")
    return _combine(input, mat @ vec, beta, alpha)


def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """β·input + α·(vec1 ⊗ vec2) (the outer product of two 1-D tensors)."""
    for name, v in (("vec1", vec1), ("vec2", vec2)):
        if v.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {name}, but got {v.ndim}-D")
    return _combine(input, vec1.unsqueeze(-1) * vec2.unsqueeze(0), beta, alpha)


def _check_batches(batch1: Tensor, batch2: Tensor) -> None:
    if batch1.ndim != 3 or batch2.ndim != 3:
        bad = "batch1" if batch1.ndim != 3 else "batch2"
        raise RuntimeError(f"{bad} must be a 3D tensor")
    want = [batch1.shape[0], batch1.shape[2]]
    if list(batch2.shape[:2]) != want:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"{want} but got: {list(batch2.shape[:2])}.")


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1
            ) -> Tensor:
    """β·input + α·(batch1 @ batch2), batch1 (b×n×m) and batch2 (b×m×p)."""
    _check_batches(batch1, batch2)
    return _combine(input, batch1 @ batch2, beta, alpha)


def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1
           ) -> Tensor:
    """β·input + α·Σ_b batch1[b] @ batch2[b] (one GEMM over the folded batch)."""
    _check_batches(batch1, batch2)
    b, n, m = batch1.shape
    p = batch2.shape[2]
    # Σ_b A_b B_b = [A_1 … A_b] (n × b·m) @ [B_1; …; B_b] (b·m × p)
    lhs = batch1.permute(1, 0, 2).reshape(n, b * m)
    return _combine(input, lhs @ batch2.reshape(b * m, p), beta, alpha)


def _in_place(fn: Any) -> Any:
    """The Tensor method ``fn_``: self ← fn(self, ...) through ``copy_`` (autograd sees an
    in-place write of self, as PyTorch's ``addmm_``)."""

    def method(self: Tensor, *args: Any, beta: Any = 1, alpha: Any = 1) -> Tensor:
        out = fn(self, *args, beta=beta, alpha=alpha)
        if tuple(out.shape) != tuple(self.shape):
            raise RuntimeError(f"{fn.__name__}_: the result's shape {list(out.shape)} does not "
                               f"match self's shape {list(self.shape)} (an in-place update "
                               "cannot broadcast self)")
        return self.copy_(out)

    method.__name__ = method.__qualname__ = fn.__name__ + "_"
    method.__doc__ = f"In-place ``{fn.__name__}``: self = β·self + α·(product)."
    return method


addmm_ = _in_place(addmm)
addmv_ = _in_place(addmv)
addr_ = _in_place(addr)
baddbmm_ = _in_place(baddbmm)
addbmm_ = _in_place(addbmm)
