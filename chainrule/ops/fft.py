"""Discrete Fourier transforms and the complex parts, with PyTorch's complex gradient
convention: for a complex z the gradient is ∂L/∂Re z + i ∂L/∂Im z, so a C-linear map y = A x
has dx = Aᴴ g, and a real input gets Re(Aᴴ g).

The adjoint of a DFT is the opposite-direction DFT with the dual normalisation ("backward" ↔
"forward", "ortho" ↔ "ortho"): e.g. fft with norm="backward" is the plain sum Σ x_j e^{-2πijk/n},
whose adjoint Σ g_k e^{+2πijk/n} is ifft with norm="forward". Padding or truncation to ``n``
(``s``) is undone on the gradient by the opposite truncation or padding.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.ops.complex import Conj, Imag, Real
from chainrule.ops.shape import Pad

__all__ = ["DUAL", "FFTN", "RFFT", "IRFFT", "Real", "Imag", "Conj", "fit"]

DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def fit(v: Any, axis: int, size: int, F: Any) -> Any:
    """``v`` zero-padded or truncated to ``size`` along ``axis`` (differentiable: ``Pad``)."""
    now = v.shape[axis]
    if now == size:
        return v
    pad = [0] * (2 * (v.ndim - axis))
    pad[2 * (v.ndim - 1 - axis) + 1] = size - now
    return F.apply(Pad, v, pad=tuple(pad))


def _real_part(v: Any, F: Any) -> Any:
    return F.apply(Real, v)


class FFTN(Function):
    """out = the n-dimensional DFT of x over ``axes`` (inverse when ``inverse``), each axis first
    padded/truncated to ``s``;  dx = the opposite DFT of g with the dual norm, fitted back to x's
    sizes (its real part for a real x)."""

    saves = ()

    def forward(self, x: Any, s: tuple = (), axes: tuple = (), norm: str = "backward",
                inverse: bool = False) -> Any:
        self.s, self.axes, self.norm, self.inverse = s, axes, norm, inverse
        self.in_shape, self.real = x.shape, x.dtype.kind != "c"
        f = xp.fft.ifftn if inverse else xp.fft.fftn
        return f(x, s=s, axes=axes, norm=norm)

    def vjp(self, g: Any, F: Any) -> tuple:
        gx = F.apply(FFTN, g, s=self.s, axes=self.axes, norm=DUAL[self.norm],
                     inverse=not self.inverse)
        for a in self.axes:
            gx = fit(gx, a, self.in_shape[a], F)
        return (_real_part(gx, F) if self.real else gx,)


class RFFT(Function):
    """out = the first n//2 + 1 DFT coefficients of a real x along ``axis`` (padded/truncated
    to n);  dx = Re(ifft of g zero-extended to n, dual norm), fitted back to x's length."""

    saves = ()

    def forward(self, x: Any, n: int = 0, axis: int = -1, norm: str = "backward") -> Any:
        self.n, self.axis, self.norm, self.in_len = n, axis, norm, x.shape[axis]
        return xp.fft.rfft(x, n=n, axis=axis, norm=norm)

    def vjp(self, g: Any, F: Any) -> tuple:
        full = fit(g, self.axis, self.n, F)
        gx = F.apply(FFTN, full, s=(self.n,), axes=(self.axis,), norm=DUAL[self.norm],
                     inverse=True)
        return (fit(_real_part(gx, F), self.axis, self.in_len, F),)


class IRFFT(Function):
    """out = the real length-n signal whose one-sided spectrum is x along ``axis`` (the
    imaginary parts of the zero and Nyquist terms ignored);  dx = rfft(g) with the dual norm,
    the terms that stand for two conjugate coefficients doubled, fitted back to x's length."""

    saves = ()

    def forward(self, x: Any, n: int = 0, axis: int = -1, norm: str = "backward") -> Any:
        self.n, self.axis, self.norm = n, axis, norm
        self.in_len, self.real = x.shape[axis], x.dtype.kind != "c"
        return xp.fft.irfft(x, n=n, axis=axis, norm=norm)

    def vjp(self, g: Any, F: Any) -> tuple:
        gx = F.apply(RFFT, g, n=self.n, axis=self.axis, norm=DUAL[self.norm])
        m = gx.shape[self.axis]
        w = xp.ones(m)
        w[1:1 + builtin_max(self.n - m, 0)] = 2.0  # coefficients k and n - k both in x_k
        shape = [1] * gx.ndim
        shape[self.axis] = m
        gx = fit(gx * w.reshape(shape), self.axis, self.in_len, F)
        return (_real_part(gx, F) if self.real else gx,)


builtin_max = max
