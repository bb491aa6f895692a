"""``torch.fft``: discrete Fourier transforms with PyTorch's signatures (``n``/``s``, ``dim``,
``norm`` = "backward" | "ortho" | "forward") and gradients (PyTorch's complex convention, see
:mod:`chainrule.ops.fft`).

Results are complex tensors (complex64 from float32 input, complex128 from float64). Gradients
flow through the transforms to real and complex inputs in PyTorch's convention (see
:mod:`chainrule.ops.complex`), so a spectral layer with a complex ``nn.Parameter`` trains.

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


# ---- short-time Fourier transform (torch.stft / torch.istft, top-level in PyTorch) -----------
_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _stft_sizes(name: str, length: int, n_fft: int, hop_length: int | None,
                win_length: int | None) -> tuple[int, int]:
    """hop (default n_fft // 4) and win_length (default n_fft), checked as PyTorch."""
    if not 0 < n_fft <= length:
        raise RuntimeError(f"{name}: expected 0 < n_fft <= {length}, but got n_fft={n_fft}")
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    win = n_fft if win_length is None else int(win_length)
    if hop <= 0:
        raise RuntimeError(f"{name}: expected hop_length > 0, but got hop_length={hop}")
    if not 0 < win <= n_fft:
        raise RuntimeError(f"{name}: expected 0 < win_length <= n_fft, but got "
                           f"win_length={win}")
    return hop, win


def _full_window(name: str, window: Tensor | None, win: int, n_fft: int, dtype: Any) -> Any:
    """The window as an array of length n_fft: ones(win_length) when None, centred with zeros
    on both sides (left (n_fft - win_length) // 2) as PyTorch."""
    if window is None:
        w = xp.ones(win, dtype)
    else:
        w = xp.asarray(window._array if isinstance(window, Tensor) else window)
        if w.ndim != 1 or w.shape[0] != win:
            raise RuntimeError(f"{name}: expected a 1D window tensor of size equal to "
                               f"win_length={win}, but got window with size {list(w.shape)}")
        if w.dtype.kind == "c":
            raise RuntimeError(f"{name}: complex windows are not supported by chainrule")
        w = w.astype(dtype)
    left = (n_fft - win) // 2
    return xp.pad(w, (left, n_fft - win - left))


def stft(input: Tensor, n_fft: int, hop_length: int | None = None,
         win_length: int | None = None, window: Tensor | None = None, center: bool = True,
         pad_mode: str = "reflect", normalized: bool = False, onesided: bool | None = None,
         return_complex: bool | None = None) -> Tensor:
    """Short-time Fourier transform, as ``torch.stft``:

        X[..., ω, m] = Σ_{k<n_fft} w[k] x[m·hop + k] e^{-2πi ωk / n_fft}

    of a (L,) or (B, L) signal; with ``center`` the signal is first padded by n_fft // 2 on
    both sides (``pad_mode``); ``normalized`` scales by n_fft^{-1/2}; ``onesided`` (default for
    real input) keeps ω ≤ n_fft // 2. Returns (B?, n_freq, n_frames), complex, or its
    ``view_as_real`` for ``return_complex=False``. Gradients flow back to a real input (the
    real-valued framing and windowing come before the transform)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"stft(): argument 'input' must be Tensor, not {type(input).__name__}")
    complex_in = input.dtype.kind == "c"
    if return_complex is None:
        raise RuntimeError("stft requires the return_complex parameter be given for real "
                           "inputs, and will further require that return_complex=True in a "
                           "future PyTorch release.")
    if input.ndim not in (1, 2):
        raise RuntimeError(f"stft: expected a 1D or 2D tensor, but got {input.ndim}D tensor")
    if pad_mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {pad_mode}")
    x = input if input.ndim == 2 else input.unsqueeze(0)
    x = x if complex_in or x.dtype.kind == "f" else x.to(default_dtype())
    if center:
        from chainrule.nn.functional import pad

        half = n_fft // 2
        x = pad(x.unsqueeze(1), (half, half), mode=pad_mode).squeeze(1)
    length = x.shape[-1]
    hop, win = _stft_sizes("stft", length, n_fft, hop_length, win_length)
    real_dtype = xp.empty(0, x.dtype).real.dtype
    w = _full_window("stft", window, win, n_fft, real_dtype)
    onesided = (not complex_in) if onesided is None else bool(onesided)
    if onesided and complex_in:
        raise RuntimeError("Cannot have onesided output if window or input is complex")
    n_frames = 1 + (length - n_fft) // hop
    # frames, transposed so the transform runs down the frequency axis: (B, n_fft, n_frames)
    where = xp.arange(n_fft)[:, None] + hop * xp.arange(n_frames)[None, :]
    frames = x[:, where] * _wrap(w[:, None])
    norm = "ortho" if normalized else "backward"
    out = rfft(frames, dim=1, norm=norm) if onesided else fft(frames, dim=1, norm=norm)
    if input.ndim == 1:
        out = out.squeeze(0)
    if not return_complex:
        from chainrule import view_as_real

        return view_as_real(out)
    return out


def istft(input: Tensor, n_fft: int, hop_length: int | None = None,
          win_length: int | None = None, window: Tensor | None = None, center: bool = True,
          normalized: bool = False, onesided: bool | None = None, length: int | None = None,
          return_complex: bool = False) -> Tensor:
    """Inverse short-time Fourier transform, as ``torch.istft``: each frame is inverted
    (irfft for a one-sided spectrum), windowed, and overlap-added; the sum is divided by the
    overlap-added squared window

        y[t] = Σ_m w[t - m·hop] x_m[t - m·hop] / Σ_m w[t - m·hop]²

    which inverts :func:`stft` wherever that envelope is non-zero (NOLA; an envelope below
    1e-11 inside the output raises). ``center`` drops n_fft // 2 samples at both ends;
    ``length`` trims or zero-pads the result."""
    if not isinstance(input, Tensor) or input.dtype.kind != "c":
        raise RuntimeError("istft requires a complex-valued input tensor")
    if input.ndim not in (2, 3):
        raise RuntimeError(f"istft: expected a tensor with 2 or 3 dimensions of complex "
                           f"values, but got {input.ndim}D")
    z = input if input.ndim == 3 else input.unsqueeze(0)
    n_freq, n_frames = z.shape[1], z.shape[2]
    hop, win = _stft_sizes("istft", n_fft, n_fft, hop_length, win_length)
    onesided = (n_freq != n_fft) if onesided is None else bool(onesided)
    expected = n_fft // 2 + 1 if onesided else n_fft
    if n_freq != expected:
        raise RuntimeError(f"istft: expected the frequency dimension (3rd to the last) of the "
                           f"input tensor to match n_fft / 2 + 1 when onesided=True, but got "
                           f"{n_freq}" if onesided else
                           f"istft: expected the frequency dimension to be n_fft={n_fft} when "
                           f"onesided=False, but got {n_freq}")
    if onesided and return_complex:
        raise RuntimeError("cannot have onesided output if window or input is complex")
    if n_frames < 1:
        raise RuntimeError("istft: input tensor cannot be empty.")
    real_dtype = xp.empty(0, z.dtype).real.dtype
    w = _full_window("istft", window, win, n_fft, real_dtype)
    norm = "ortho" if normalized else "backward"
    if onesided:
        frames = irfft(z, n=n_fft, dim=1, norm=norm)
    else:
        frames = ifft(z, dim=1, norm=norm)
        if not return_complex:
            frames = frames.real
    frames = frames * _wrap(w[:, None].astype(real_dtype))  # (B, n_fft, n_frames)
    total = n_fft + hop * (n_frames - 1)
    where = (xp.arange(n_fft)[:, None] + hop * xp.arange(n_frames)[None, :]).reshape(-1)
    y = frames.new_zeros(z.shape[0], total).index_add(1, where,
                                                      frames.reshape(z.shape[0], -1))
    envelope = xp.zeros(total, real_dtype)
    xp.add.at(envelope, where, xp.repeat(w ** 2, n_frames))
    start = n_fft // 2 if center else 0
    end = total - (n_fft // 2 if center else 0) if length is None else min(start + length,
                                                                             total)
    if xp.abs(envelope[start:end]).min(initial=xp.inf) < 1e-11:
        raise RuntimeError("istft: window overlap add min below 1e-11: the window does not "
                           "satisfy the NOLA condition for this hop_length")
    y = y[:, start:end] / _wrap(envelope[start:end])
    if length is not None and y.shape[1] < length:
        y = y.pad((0, length - y.shape[1]), 0.0)
    return y.squeeze(0) if input.ndim == 2 else y
