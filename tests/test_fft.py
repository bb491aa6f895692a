"""``chainrule.fft`` against ``torch.fft`` (torch 2.13): complex results (values, dtypes, shapes)
and the gradients that reach a real float64 input through ``abs()``, ``.real`` and ``.imag``
(PyTorch's complex convention), for every norm, padding and truncation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402

R = np.random.default_rng(0)
X = R.standard_normal((3, 4, 6))
SPEC = R.standard_normal((3, 4, 5)) + 1j * R.standard_normal((3, 4, 5))


def _np(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.resolve_conj()
    return np.asarray(t.detach().numpy())


def _loss(L: Any, out: Any, w: np.ndarray) -> Any:
    """A real scalar that reads the magnitude and both parts of a complex output."""
    if out.dtype.is_complex if L is torch else out.is_complex():
        return (out.abs() * L.tensor(w)).sum() + (out.real * out.imag).sum()
    return (out * L.tensor(w)).sum()


def check_fft(fn: Callable, arr: np.ndarray = X, grad: bool = True, rtol: float = 1e-10) -> None:
    res = []
    for L in (cr, torch):
        x = L.tensor(arr.copy(), requires_grad=grad)
        out = fn(L, x)
        g = None
        if grad:
            w = np.random.default_rng(1).standard_normal(tuple(out.shape))
            (g,) = L.autograd.grad(_loss(L, out, w), [x])
        res.append((out, g))
    (co, cg), (to, tg) = res
    assert tuple(co.shape) == tuple(to.shape)
    assert str(co.dtype) == str(to.dtype).replace("torch.", "")
    np.testing.assert_allclose(_np(co), _np(to), rtol=rtol, atol=1e-11)
    if grad:
        assert cg.dtype == cr.float64
        np.testing.assert_allclose(_np(cg), _np(tg), rtol=1e-9, atol=1e-10)


NORMS = [None, "backward", "ortho", "forward"]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "ihfft"])
@pytest.mark.parametrize("n", [None, 4, 9])
def test_one_dimensional_real_input(name: str, n: Any, norm: Any) -> None:
    check_fft(lambda L, x: getattr(L.fft, name)(x, n=n, dim=1, norm=norm))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 6, 11])
def test_inverse_real_transforms(n: Any, norm: Any) -> None:
    # irfft/hfft of a complex spectrum made from the real input (gradients reach x)
    for name in ("irfft", "hfft"):
        check_fft(lambda L, x, f=name: getattr(L.fft, f)(L.fft.rfft(x, norm="ortho"), n=n,
                                                       norm=norm))
        check_fft(lambda L, x, f=name: getattr(L.fft, f)(x, n=n, dim=0, norm=norm))


@pytest.mark.parametrize("norm", NORMS)
def test_n_dimensional(norm: Any) -> None:
    for name in ("fftn", "ifftn", "rfftn"):
        check_fft(lambda L, x, f=name: getattr(L.fft, f)(x, norm=norm))
        check_fft(lambda L, x, f=name: getattr(L.fft, f)(x, s=(3, 7), dim=(0, 2), norm=norm))
        check_fft(lambda L, x, f=name: getattr(L.fft, f)(x, s=(5, 2), norm=norm))
    for name in ("fft2", "ifft2", "rfft2"):
        check_fft(lambda L, x, f=name: getattr(L.fft, f)(x, norm=norm))
        check_fft(lambda L, x, f=name: getattr(L.fft, f)(x, s=(2, 8), dim=(0, 1), norm=norm))
    check_fft(lambda L, x: L.fft.irfftn(L.fft.rfftn(x, norm=norm), s=x.shape, norm=norm))
    check_fft(lambda L, x: L.fft.irfft2(L.fft.rfft2(x), s=(5, 9), norm=norm))
    check_fft(lambda L, x: L.fft.irfftn(L.fft.fft(x, dim=0), dim=(0, 1), norm=norm))


def test_complex_input_forward() -> None:
    for name in ("fft", "ifft", "irfft", "hfft", "fftn", "ifftn", "irfftn", "fft2", "irfft2"):
        c = getattr(cr.fft, name)(cr.tensor(SPEC))
        t = getattr(torch.fft, name)(torch.tensor(SPEC))
        assert str(c.dtype) == str(t.dtype).replace("torch.", "")
        np.testing.assert_allclose(_np(c), _np(t), rtol=1e-10, atol=1e-11)


def test_dtypes_and_errors() -> None:
    x32 = X.astype(np.float32)
    check_fft(lambda L, x: L.fft.fft(x), x32, grad=False, rtol=1e-5)
    check_fft(lambda L, x: L.fft.rfft2(x), x32, grad=False, rtol=1e-5)
    ints = np.arange(8)
    for name in ("fft", "rfft", "ifft"):
        c, t = getattr(cr.fft, name)(cr.tensor(ints)), getattr(torch.fft, name)(torch.tensor(ints))
        assert str(c.dtype) == str(t.dtype).replace("torch.", "")
        np.testing.assert_allclose(_np(c), _np(t), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="normalization"):
        cr.fft.fft(cr.tensor(X), norm="none")
    with pytest.raises(RuntimeError, match="real input"):
        cr.fft.rfft(cr.tensor(SPEC))
    with pytest.raises(RuntimeError, match="Invalid number of data points"):
        cr.fft.fft(cr.tensor(X), n=0)
    with pytest.raises(IndexError):
        cr.fft.fft(cr.tensor(X), dim=3)


def test_freqs_and_shifts() -> None:
    for n, d in ((8, 1.0), (7, 0.1)):
        for f in ("fftfreq", "rfftfreq"):
            c, t = getattr(cr.fft, f)(n, d), getattr(torch.fft, f)(n, d)
            assert str(c.dtype) == str(t.dtype).replace("torch.", "")
            np.testing.assert_allclose(_np(c), _np(t), rtol=1e-6)
        assert cr.fft.fftfreq(n, dtype=cr.float64).dtype == cr.float64
    for f in ("fftshift", "ifftshift"):
        check_fft(lambda L, x, f=f: getattr(L.fft, f)(x))
        check_fft(lambda L, x, f=f: getattr(L.fft, f)(x, dim=1))
        check_fft(lambda L, x, f=f: getattr(L.fft, f)(x, dim=(0, 2)))
    check_fft(lambda L, x: L.fft.fftshift(L.fft.fft2(x)))


def test_real_imag_parts() -> None:
    x = cr.tensor(X)
    assert x.real is x and not x.is_complex()
    with pytest.raises(RuntimeError, match="non-complex"):
        _ = x.imag
    check_fft(lambda L, x: L.real(L.fft.fft(x)) + L.imag(L.fft.fft(x)))
    check_fft(lambda L, x: L.fft.fft(x).conj() * 1.0)
    assert x.conj() is x
