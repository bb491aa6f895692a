"""``torch.fft``: discrete Fourier transforms with PyTorch's signatures (``n``/``s``, ``dim``,
``norm`` = "backward" | "ortho" | "forward") and gradients (PyTorch's complex convention, see
:mod:`chainrule.ops.fft`).

Results are complex tensors (complex64 from float32 input, complex128 from float64). Gradients
flow from real inputs through the transforms and through ``abs()``, ``.real`` and ``.imag``
back to real tensors; complex tensors cannot be leaves that require grad, and the ordinary
arithmetic ops do not conjugate (see the report in docs/pytorch.md).

Example::

    import chainrule as torch
    x = torch.randn(8, dtype=torch.float64, requires_grad=True)
    torch.fft.rfft(x).abs().sum().backward()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.autograd.function import record as _apply
from chainrule.backend import default_dtype, to_dtype, xp
from chainrule.ops import fft as _F
from chainrule.tensor import Tensor, _wrap

__all__ = [
    "fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn",
    "rfftn", "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift",
]

_NORMS = ("backward", "ortho", "forward")


def _norm(norm: str | None) -> str:
    if norm is None:
        return "backward"
    if norm not in _NORMS:
        raise ValueError(f'Invalid normalization mode: "{norm}"')
    return norm


def _as_float(x: Tensor, name: str, real_only: bool = False) -> Tensor:
    """Integer and bool inputs become the default float dtype (PyTorch's promotion)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    kind = x.dtype.kind
    if real_only and kind == "c":
        raise RuntimeError(f"{name} expects a real input tensor, but got {x.dtype}")
    if kind in "biu":
        return x.to(default_dtype())
    return x


def _axis(dim: int, ndim: int, name: str) -> int:
    if not -ndim <= dim < ndim:
        raise IndexError(f"{name}(): Dimension out of range (expected to be in range of "
                         f"[{-ndim}, {ndim - 1}], but got {dim})")
    return dim % ndim


def _signal(n: int | None, x: Tensor, axis: int, name: str) -> int:
    size = x.shape[axis] if n is None else int(n)
    if size < 1:
        raise RuntimeError(f"Invalid number of data points ({size}) specified")
    return size


def _axes_and_sizes(x: Tensor, s: Sequence[int] | None, dim: Any, name: str
                    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """PyTorch's n-d rule: ``dim`` None means all dims (or the last len(s) when ``s`` is
    given); -1 in ``s`` keeps that dim's size."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None:
        dim = tuple(range(x.ndim)) if s is None else tuple(range(x.ndim - len(s), x.ndim))
    axes = tuple(_axis(d, x.ndim, name) for d in dim)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"{name}(): dims must be unique")
    if s is None:
        sizes = tuple(x.shape[a] for a in axes)
    else:
        if len(s) != len(axes):
            raise RuntimeError(f"{name}(): When given, dim and shape arguments must have the "
                               f"same length")
        sizes = tuple(x.shape[a] if int(k) == -1 else int(k) for a, k in zip(axes, s))
    for k in sizes:
        if k < 1:
            raise RuntimeError(f"Invalid number of data points ({k}) specified")
    return axes, sizes


# ---- one-dimensional ------------------------------------------------------------------------
def fft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The DFT Σ_j x_j e^{-2πijk/n} along ``dim`` (scaled by 1/n for norm="forward",
    1/√n for "ortho")."""
    return fftn(input, None if n is None else (n,), (dim,), norm)


def ifft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The inverse DFT (1/n) Σ_k X_k e^{+2πijk/n} along ``dim``."""
    return ifftn(input, None if n is None else (n,), (dim,), norm)


def rfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The DFT of a real signal, only the n//2 + 1 non-redundant coefficients."""
    x = _as_float(input, "rfft", real_only=True)
    axis = _axis(dim, x.ndim, "rfft")
    size = _signal(n, x, axis, "rfft")
    return _apply(_F.RFFT, x, n=size, axis=axis, norm=_norm(norm))


def irfft(input: Tensor, n: int | None = None, dim: int = -1,
          norm: str | None = None) -> Tensor:
    """The real signal of length n (default 2(m - 1)) with one-sided spectrum ``input``."""
    x = _as_float(input, "irfft")
    axis = _axis(dim, x.ndim, "irfft")
    size = 2 * (x.shape[axis] - 1) if n is None else int(n)
    if size < 1:
        raise RuntimeError(f"Invalid number of data points ({size}) specified")
    return _apply(_F.IRFFT, x, n=size, axis=axis, norm=_norm(norm))


def hfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The DFT of a Hermitian-symmetric signal given by its first half: irfft of the conjugate
    with the opposite normalisation."""
    x = _as_float(input, "hfft")
    axis = _axis(dim, x.ndim, "hfft")
    size = 2 * (x.shape[axis] - 1) if n is None else int(n)
    conj = _conj(x)
    return _apply(_F.IRFFT, conj, n=size, axis=axis, norm=_F.DUAL[_norm(norm)])


def ihfft(input: Tensor, n: int | None = None, dim: int = -1,
          norm: str | None = None) -> Tensor:
    """The inverse of ``hfft``: the conjugate of rfft with the opposite normalisation."""
    x = _as_float(input, "ihfft", real_only=True)
    axis = _axis(dim, x.ndim, "ihfft")
    size = _signal(n, x, axis, "ihfft")
    return _conj(_apply(_F.RFFT, x, n=size, axis=axis, norm=_F.DUAL[_norm(norm)]))


def _conj(z: Tensor) -> Tensor:
    """z̄ (a real tensor is its own conjugate)."""
    return _apply(_F.Conj, z) if z.dtype.kind == "c" else z


# ---- n-dimensional --------------------------------------------------------------------------
def fftn(input: Tensor, s: Sequence[int] | None = None, dim: Any = None,
         norm: str | None = None) -> Tensor:
    """The DFT over ``dim`` (all dims by default), each padded/truncated to ``s``."""
    x = _as_float(input, "fftn")
    axes, sizes = _axes_and_sizes(x, s, dim, "fftn")
    return _apply(_F.FFTN, x, s=sizes, axes=axes, norm=_norm(norm), inverse=False)


def ifftn(input: Tensor, s: Sequence[int] | None = None, dim: Any = None,
          norm: str | None = None) -> Tensor:
    """The inverse DFT over ``dim`` (all dims by default)."""
    x = _as_float(input, "ifftn")
    axes, sizes = _axes_and_sizes(x, s, dim, "ifftn")
    return _apply(_F.FFTN, x, s=sizes, axes=axes, norm=_norm(norm), inverse=True)


def rfftn(input: Tensor, s: Sequence[int] | None = None, dim: Any = None,
          norm: str | None = None) -> Tensor:
    """rfft over the last of ``dim``, then the full DFT over the others."""
    x = _as_float(input, "rfftn", real_only=True)
    axes, sizes = _axes_and_sizes(x, s, dim, "rfftn")
    out = _apply(_F.RFFT, x, n=sizes[-1], axis=axes[-1], norm=_norm(norm))
    if len(axes) > 1:
        out = _apply(_F.FFTN, out, s=sizes[:-1], axes=axes[:-1], norm=_norm(norm),
                     inverse=False)
    return out


def irfftn(input: Tensor, s: Sequence[int] | None = None, dim: Any = None,
           norm: str | None = None) -> Tensor:
    """The inverse of ``rfftn``: the inverse DFT over all but the last of ``dim``, then irfft
    over the last (its length from ``s``, else 2(m - 1))."""
    x = _as_float(input, "irfftn")
    axes, sizes = _axes_and_sizes(x, s, dim, "irfftn")
    last = 2 * (x.shape[axes[-1]] - 1) if s is None else sizes[-1]
    if last < 1:
        raise RuntimeError(f"Invalid number of data points ({last}) specified")
    if len(axes) > 1:
        x = _apply(_F.FFTN, x, s=sizes[:-1], axes=axes[:-1], norm=_norm(norm), inverse=True)
    return _apply(_F.IRFFT, x, n=last, axis=axes[-1], norm=_norm(norm))


def fft2(input: Tensor, s: Sequence[int] | None = None, dim: Sequence[int] = (-2, -1),
         norm: str | None = None) -> Tensor:
    """``fftn`` over the last two dims."""
    return fftn(input, s, dim, norm)


def ifft2(input: Tensor, s: Sequence[int] | None = None, dim: Sequence[int] = (-2, -1),
          norm: str | None = None) -> Tensor:
    """``ifftn`` over the last two dims."""
    return ifftn(input, s, dim, norm)


def rfft2(input: Tensor, s: Sequence[int] | None = None, dim: Sequence[int] = (-2, -1),
          norm: str | None = None) -> Tensor:
    """``rfftn`` over the last two dims."""
    return rfftn(input, s, dim, norm)


def irfft2(input: Tensor, s: Sequence[int] | None = None, dim: Sequence[int] = (-2, -1),
           norm: str | None = None) -> Tensor:
    """``irfftn`` over the last two dims."""
    return irfftn(input, s, dim, norm)


# ---- helpers ---------------------------------------------------------------------------------
def _frequencies(sample: Any, n: int, d: float, dtype: Any, requires_grad: bool) -> Tensor:
    out = _wrap(sample(n, d).astype(to_dtype(dtype)))
    return out.requires_grad_(True) if requires_grad else out


def fftfreq(n: int, d: float = 1.0, *, dtype: Any = None, device: Any = None,
            requires_grad: bool = False, **_: Any) -> Tensor:
    """The sample frequencies [0, 1, ..., ⌈n/2⌉-1, -⌊n/2⌋, ..., -1] / (d n)."""
    return _frequencies(xp.fft.fftfreq, n, d, dtype, requires_grad)


def rfftfreq(n: int, d: float = 1.0, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False, **_: Any) -> Tensor:
    """The non-negative sample frequencies [0, 1, ..., n//2] / (d n) of ``rfft``."""
    return _frequencies(xp.fft.rfftfreq, n, d, dtype, requires_grad)


def _shift(x: Tensor, dim: Any, sign: int) -> Tensor:
    dims = tuple(range(x.ndim)) if dim is None else (dim,) if isinstance(dim, int) else \
        tuple(dim)
    if not dims:
        return x
    shifts = tuple(sign * (x.shape[d] // 2) for d in dims)
    return x.roll(shifts, dims)


def fftshift(input: Tensor, dim: Any = None) -> Tensor:
    """The zero-frequency term moved to the centre (a roll by n//2 along ``dim``)."""
    return _shift(input, dim, 1)


def ifftshift(input: Tensor, dim: Any = None) -> Tensor:
    """The inverse of ``fftshift`` (a roll by -(n//2))."""
    return _shift(input, dim, -1)
