"""Autograd through complex tensors against PyTorch 2.13 (complex128, float64).

PyTorch's convention: for a real loss L of z = x + iy, ``z.grad`` is ∂L/∂x + i ∂L/∂y. Each op
is checked with complex leaves and a random complex cotangent (values and gradients to 1e-10),
some by central finite differences on the real and imaginary parts, some to second order;
then the programs that use complex autograd in practice: LLaMA's rotary embedding
(view_as_complex / polar / view_as_real) and an FNO spectral convolution with a complex
Parameter trained by SGD and Adam, step by step against torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402

TOL = dict(rtol=1e-10, atol=1e-10)


# ---- inputs ---------------------------------------------------------------------------------
def _complex(r: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Complex values with modulus in [0.5, 2] and argument in (-2.5, 2.5): away from 0 and
    from the branch cut of log/sqrt/pow on the negative real axis."""
    mod = r.uniform(0.5, 2.0, shape)
    arg = r.uniform(-2.5, 2.5, shape)
    return mod * np.exp(1j * arg)


def _real(r: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return r.uniform(-2.0, 2.0, shape)


def _pos(r: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return r.uniform(0.5, 2.0, shape)


KINDS = {"c": _complex, "r": _real, "p": _pos}


def _inputs(kinds: str, shapes: tuple[tuple[int, ...], ...], seed: int) -> list[np.ndarray]:
    r = np.random.default_rng(seed)
    return [KINDS[k](r, s) for k, s in zip(kinds, shapes)]


def _np(t: Any) -> np.ndarray:
    if isinstance(t, np.ndarray):  # (chainrule's optimizer state holds arrays)
        return t
    if isinstance(t, torch.Tensor):
        return t.detach().resolve_conj().numpy()
    return np.asarray(t.detach().numpy())


def _cotangent(out: np.ndarray, seed: int) -> np.ndarray:
    r = np.random.default_rng(seed + 100)
    v = r.standard_normal(out.shape)
    return v + 1j * r.standard_normal(out.shape) if np.iscomplexobj(out) else v


def _forward_backward(L: Any, fn: Callable, arrays: list[np.ndarray], seed: int
                      ) -> tuple[np.ndarray, list[np.ndarray]]:
    """fn's value and the gradients of Re⟨v, fn⟩ (v a fixed random cotangent)."""
    leaves = [L.tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(L, *leaves)
    v = _cotangent(_np(out), seed)
    grads = L.autograd.grad(out, leaves, grad_outputs=L.tensor(v))
    return _np(out), [_np(g) for g in grads]


def _quiet(f: Callable[[], Any]) -> Any:
    """f() without the 'Casting complex values to real' warning both libraries give."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f()


# ---- the ops, one line each: name, function, input kinds, shapes ------------------------------
S = (3, 4)
OPS: list[tuple[str, Callable, str, tuple]] = [
    ("add", lambda L, z, w: z + w, "cc", (S, S)),
    ("sub", lambda L, z, w: z - w, "cc", (S, S)),
    ("neg", lambda L, z: -z, "c", (S,)),
    ("mul", lambda L, z, w: z * w, "cc", (S, S)),
    ("mul_broadcast", lambda L, z, w: z * w, "cc", (S, (4,))),
    ("mul_real", lambda L, x, z: x * z, "rc", ((4,), S)),
    ("mul_complex_scalar", lambda L, z: z * (0.5 - 2j), "c", (S,)),
    ("real_times_1j", lambda L, x: x * 1j + x, "r", (S,)),
    ("div", lambda L, z, w: z / w, "cc", (S, S)),
    ("div_by_real", lambda L, z, x: z / x, "cp", (S, S)),
    ("real_div_complex", lambda L, x, z: x / z, "rc", (S, S)),
    ("pow2", lambda L, z: z**2, "c", (S,)),
    ("pow3", lambda L, z: z**3, "c", (S,)),
    ("pow_half", lambda L, z: z**0.5, "c", (S,)),
    ("pow_complex_exponent", lambda L, z: z ** (1.5 + 0.5j), "c", (S,)),
    ("pow_tensor", lambda L, z, w: z**w, "cc", (S, S)),
    ("rpow", lambda L, z: 2.0**z, "c", (S,)),
    ("square", lambda L, z: z.square(), "c", (S,)),
    ("exp", lambda L, z: z.exp(), "c", (S,)),
    ("log", lambda L, z: z.log(), "c", (S,)),
    ("log1p", lambda L, z: L.log1p(z), "c", (S,)),
    ("expm1", lambda L, z: L.expm1(z), "c", (S,)),
    ("sqrt", lambda L, z: z.sqrt(), "c", (S,)),
    ("rsqrt", lambda L, z: z.rsqrt(), "c", (S,)),
    ("reciprocal", lambda L, z: z.reciprocal(), "c", (S,)),
    ("sin", lambda L, z: z.sin(), "c", (S,)),
    ("cos", lambda L, z: z.cos(), "c", (S,)),
    ("tan", lambda L, z: z.tan(), "c", (S,)),
    ("tanh", lambda L, z: z.tanh(), "c", (S,)),
    ("sigmoid", lambda L, z: L.sigmoid(z), "c", (S,)),
    ("sinh", lambda L, z: L.sinh(z), "c", (S,)),
    ("sinc", lambda L, z: L.sinc(z), "c", (S,)),
    ("exp2_log2_log10", lambda L, z: L.exp2(z) * z.log2() + z.log10(), "c", (S,)),
    ("logsumexp_cumprod", lambda L, z: L.logsumexp(z, 0) * z.cumprod(1), "c", (S,)),
    ("cosh", lambda L, z: L.cosh(z), "c", (S,)),
    ("asinh", lambda L, z: L.asinh(z * 0.3), "c", (S,)),
    ("atan", lambda L, z: L.atan(z * 0.3), "c", (S,)),
    ("asin", lambda L, z: L.asin(z * 0.3), "c", (S,)),
    ("abs", lambda L, z: z.abs(), "c", (S,)),
    ("abs_squared_mean", lambda L, z: (z.abs() ** 2).mean(), "c", (S,)),
    ("angle", lambda L, z: L.angle(z), "c", (S,)),
    ("sgn", lambda L, z: L.sgn(z), "c", (S,)),
    ("sgn_method", lambda L, z: z.sgn() * z, "c", (S,)),
    ("var_std", lambda L, z: z.var(1) + z.std(0).sum(), "c", (S,)),
    ("real", lambda L, z: z.real, "c", (S,)),
    ("imag", lambda L, z: z.imag, "c", (S,)),
    ("conj", lambda L, z: z.conj() * z, "c", (S,)),
    ("view_as_real", lambda L, z: L.view_as_real(z) ** 2, "c", (S,)),
    ("view_as_complex", lambda L, x: L.view_as_complex(x) ** 2, "r", ((3, 4, 2),)),
    ("complex", lambda L, a, b: L.complex(a, b) ** 2, "rr", (S, S)),
    ("polar", lambda L, r, t: L.polar(r, t), "pr", (S, S)),
    ("to_complex", lambda L, x: x.to(L.complex128) * (1 + 2j), "r", (S,)),
    ("to_real", lambda L, z: _quiet(lambda: (z * z).to(L.float64)), "c", (S,)),
    ("sum", lambda L, z: z.sum(), "c", (S,)),
    ("sum_dim", lambda L, z: z.sum(1), "c", (S,)),
    ("mean", lambda L, z: z.mean(0), "c", (S,)),
    ("prod", lambda L, z: z.prod(1), "c", (S,)),
    ("cumsum", lambda L, z: z.cumsum(1), "c", (S,)),
    ("norm", lambda L, z: L.linalg.vector_norm(z, dim=1), "c", (S,)),
    ("reshape_transpose", lambda L, z: z.reshape(4, 3).t() * z, "c", (S,)),
    ("index", lambda L, z: z[1:, ::2] * z[:2, 1::2], "c", (S,)),
    ("cat_stack", lambda L, z, w: L.stack([L.cat([z, w]), L.cat([w, z])]), "cc", (S, S)),
    ("inplace", lambda L, z, w: z.clone().mul_(w).add_(1j).div_(w).exp_(), "cc", (S, S)),
    ("where", lambda L, z, w: L.where(z.real > 0, z, w), "cc", (S, S)),
    ("matmul", lambda L, a, b: a @ b, "cc", ((3, 4), (4, 2))),
    ("matmul_batched", lambda L, a, b: a @ b, "cc", ((2, 3, 4), (4, 5))),
    ("matmul_vector", lambda L, a, b: a @ b, "cc", ((3, 4), (4,))),
    ("vector_matmul", lambda L, a, b: a @ b, "cc", ((3,), (3, 4))),
    ("dot_vectors", lambda L, a, b: a @ b, "cc", ((4,), (4,))),
    ("dot", lambda L, a, b: L.dot(a, b), "cc", ((4,), (4,))),
    ("vdot", lambda L, a, b: L.vdot(a, b), "cc", ((4,), (4,))),
    ("inner_outer", lambda L, a, b: L.inner(a, b) * L.outer(a, b), "cc", ((4,), (4,))),
    ("mv_bmm", lambda L, a, b: L.bmm(a, b).sum(0) @ L.mv(b[0], a[0, 0]), "cc",
     ((2, 3, 3), (2, 3, 3))),
    ("addmm", lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2.0), "ccc",
     ((3, 2), (3, 4), (4, 2))),
    ("tensordot", lambda L, a, b: L.tensordot(a, b, dims=2), "cc",
     ((2, 3, 4), (3, 4, 2))),
    ("kron", lambda L, a, b: L.kron(a, b), "cc", ((2, 2), (2, 3))),
    ("mH_adjoint", lambda L, a: a.mH @ a + a.adjoint(), "c", ((3, 3),)),
    ("linear", lambda L, x, w, b: L.nn.functional.linear(x, w, b), "ccc", ((2, 4), (3, 4), (3,))),
    ("einsum", lambda L, a, b: L.einsum("bix,iox->box", a, b), "cc", ((2, 3, 4), (3, 2, 4))),
    ("fft", lambda L, z: L.fft.fft(z), "c", (S,)),
    ("ifft_ortho", lambda L, z: L.fft.ifft(z, n=6, norm="ortho"), "c", (S,)),
    ("fft2", lambda L, z: L.fft.fft2(z, s=(2, 5)), "c", (S,)),
    ("irfft", lambda L, z: L.fft.irfft(z, n=6), "c", (S,)),
    ("irfft2", lambda L, z: L.fft.irfft2(z, s=(3, 6)), "c", (S,)),
    ("rfft2_times_weight", lambda L, x, w: L.fft.rfft2(x) * w, "rc", ((2, 3, 4), (3, 3))),
]


@pytest.mark.parametrize("name,fn,kinds,shapes", OPS, ids=[o[0] for o in OPS])
def test_op_matches_torch(name: str, fn: Callable, kinds: str, shapes: tuple) -> None:
    arrays = _inputs(kinds, shapes, seed=len(name))
    out, grads = _forward_backward(cr, fn, arrays, seed=len(name))
    t_out, t_grads = _forward_backward(torch, fn, arrays, seed=len(name))
    assert out.dtype == t_out.dtype
    np.testing.assert_allclose(out, t_out, **TOL)
    for a, g, tg in zip(arrays, grads, t_grads):
        assert g.dtype == tg.dtype == a.dtype  # (a real leaf gets a real gradient)
        np.testing.assert_allclose(g, tg, **TOL)


# ---- finite differences: z.grad = ∂L/∂x + i ∂L/∂y ------------------------------------------
FD = ["mul", "div", "log", "sqrt", "abs", "angle", "tanh", "matmul", "irfft", "polar",
      "view_as_complex", "pow_tensor"]


def _real_loss(fn: Callable, arrays: list[np.ndarray], v: np.ndarray) -> float:
    with cr.no_grad():
        out = fn(cr, *[cr.tensor(a) for a in arrays])
    return float(np.real(np.sum(_np(out) * np.conj(v))))


@pytest.mark.parametrize("name", FD)
def test_gradient_is_finite_difference_of_real_and_imaginary_parts(name: str) -> None:
    _, fn, kinds, shapes = next(o for o in OPS if o[0] == name)
    arrays = _inputs(kinds, shapes, seed=7)
    out, grads = _forward_backward(cr, fn, arrays, seed=7)
    v = _cotangent(out, 7)  # the loss Re Σ out·v̄ has the gradient backward(v) computes
    h = 1e-6
    for k, a in enumerate(arrays):
        parts = (1.0, 1j) if np.iscomplexobj(a) else (1.0,)
        expected = np.zeros(a.shape, dtype=a.dtype)
        for part in parts:
            for idx in np.ndindex(a.shape):
                plus, minus = [x.copy() for x in arrays], [x.copy() for x in arrays]
                plus[k][idx] += h * part
                minus[k][idx] -= h * part
                d = (_real_loss(fn, plus, v) - _real_loss(fn, minus, v)) / (2 * h)
                expected[idx] += d * part
        np.testing.assert_allclose(grads[k], expected, rtol=1e-6, atol=1e-7)


# ---- second order ---------------------------------------------------------------------------
GRADGRAD = ["mul", "div", "exp", "log", "sqrt", "sin", "tanh", "abs", "angle", "pow3",
            "matmul", "view_as_real", "polar", "sigmoid", "reciprocal", "prod", "norm",
            "pow_tensor", "rfft2_times_weight"]


def _gradgrad(L: Any, fn: Callable, arrays: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """The gradient of Re⟨u, ∇_z Re⟨v, fn(z)⟩⟩ (a Hessian-vector product in torch's sense)."""
    leaves = [L.tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(L, *leaves)
    v = L.tensor(_cotangent(_np(out), seed))
    grads = L.autograd.grad(out, leaves, grad_outputs=v, create_graph=True)
    r = np.random.default_rng(seed + 1)
    total = 0
    for g in grads:
        u = r.standard_normal(tuple(g.shape))
        if g.is_complex():
            u = u + 1j * r.standard_normal(tuple(g.shape))
        total = total + (g * L.tensor(u).conj()).real.sum()
    return [_np(h) for h in L.autograd.grad(total, leaves, allow_unused=True)]


@pytest.mark.parametrize("name", GRADGRAD)
def test_second_derivative_matches_torch(name: str) -> None:
    _, fn, kinds, shapes = next(o for o in OPS if o[0] == name)
    arrays = _inputs(kinds, shapes, seed=3)
    for h, th in zip(_gradgrad(cr, fn, arrays, 3), _gradgrad(torch, fn, arrays, 3)):
        np.testing.assert_allclose(h, th, **TOL)


# ---- the rules around complex outputs ---------------------------------------------------------
def test_backward_of_a_complex_scalar_needs_a_gradient_as_torch() -> None:
    z = cr.tensor(np.array([1 + 2j, 3 - 1j]), requires_grad=True)
    with pytest.raises(RuntimeError, match="only for real scalar outputs but got "
                                           "torch.complex128"):
        (z * z).sum().backward()
    with pytest.raises(RuntimeError, match="only for real scalar outputs"):
        cr.autograd.grad((z * z).sum(), z)
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        (z * z).backward()
    (z * z).sum().backward(cr.tensor(1.0 + 0j))  # an explicit gradient is accepted
    np.testing.assert_allclose(z.grad.numpy(), 2 * np.conj(z.detach().numpy()), **TOL)


def test_complex_leaves_and_parameters_may_require_grad() -> None:
    p = cr.nn.Parameter(cr.zeros(2, dtype=cr.cfloat))
    assert p.requires_grad and p.dtype == cr.complex64
    assert cr.randn(3, dtype=cr.cdouble, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="floating point and complex dtype"):
        cr.zeros(2, dtype=cr.int64).requires_grad_()


def test_abs_and_angle_have_zero_gradient_at_zero_as_torch() -> None:
    z0 = np.array([0j, 1 + 1j, -2 + 0j])
    grads = []
    for L in (cr, torch):
        z = L.tensor(z0, requires_grad=True)
        (z.abs().sum() + L.angle(z).sum()).backward()
        grads.append(_np(z.grad))
    np.testing.assert_allclose(grads[0], grads[1], **TOL)
    assert grads[0][0] == 0


def test_complex64_gradients_stay_complex64() -> None:
    z = cr.tensor(np.array([1 + 1j, 2 - 1j], np.complex64), requires_grad=True)
    (z.exp() * z).abs().sum().backward()
    assert z.grad.dtype == cr.complex64
    tz = torch.tensor(np.array([1 + 1j, 2 - 1j], np.complex64), requires_grad=True)
    (tz.exp() * tz).abs().sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-5)


REFUSED = [
    ("relu", lambda L, z: L.relu(z)),
    ("F.relu", lambda L, z: L.nn.functional.relu(z)),
    ("clamp", lambda L, z: z.clamp(0, 1)),
    ("maximum", lambda L, z: L.maximum(z, z)),
    ("floor", lambda L, z: z.floor()),
    ("sign", lambda L, z: z.sign()),
    ("softmax", lambda L, z: L.softmax(z, 0)),
    ("lt", lambda L, z: z < z),
    ("ge_scalar", lambda L, z: z >= 0),
]


@pytest.mark.parametrize("name,fn", REFUSED, ids=[r[0] for r in REFUSED])
def test_ops_that_need_an_order_refuse_complex_as_torch(name: str, fn: Callable) -> None:
    z = np.array([1 + 1j, -1 + 0.5j])
    with pytest.raises(Exception) as theirs:
        fn(torch, torch.tensor(z))
    with pytest.raises(type(theirs.value)) as ours:
        fn(cr, cr.tensor(z))
    assert str(ours.value).split(" for ")[0] == str(theirs.value).split(" for ")[0]


VIEW_LAYOUTS = [
    lambda L: L.arange(48.0, dtype=L.float64).reshape(2, 3, 4, 2)[:, 1:],
    lambda L: L.arange(48.0, dtype=L.float64).reshape(2, 3, 4, 2).transpose(1, 2),
    lambda L: L.arange(50.0, dtype=L.float64)[1:49].reshape(2, 3, 4, 2),
    lambda L: L.arange(48.0, dtype=L.float64).reshape(2, 3, 8)[..., 1:7].reshape(2, 3, 3, 2),
    lambda L: L.arange(48.0, dtype=L.float64).reshape(2, 4, 6)[..., ::3],
    lambda L: L.arange(48.0, dtype=L.float64).reshape(2, 3, 4, 2)[:, :, 1:3],
]


@pytest.mark.parametrize("k", range(len(VIEW_LAYOUTS)))
def test_view_as_complex_takes_the_layouts_torch_takes(k: int) -> None:
    """A strided input is viewed (sharing storage) when torch views it, refused with torch's
    message otherwise; the gradient reaches the strided input either way."""
    try:
        expected = torch.view_as_complex(VIEW_LAYOUTS[k](torch))
    except RuntimeError as e:
        with pytest.raises(RuntimeError, match=str(e)):
            cr.view_as_complex(VIEW_LAYOUTS[k](cr))
        return
    x = VIEW_LAYOUTS[k](cr).requires_grad_()
    z = cr.view_as_complex(x)
    np.testing.assert_array_equal(_np(z), expected.numpy())
    assert np.shares_memory(z._array, x._array)
    (z * (1 + 2j)).real.sum().backward()
    np.testing.assert_array_equal(_np(x.grad)[..., 0], 1.0)
    np.testing.assert_array_equal(_np(x.grad)[..., 1], -2.0)


# ---- LLaMA's rotary embedding -----------------------------------------------------------------
def _rope_block(L: Any, x: Any, wq: Any, wk: Any, dtype: Any) -> Any:
    """Meta's ``apply_rotary_emb`` as written in the LLaMA reference code, inside a
    q·k attention score; ``dtype`` float32 runs the code literally (``.float()``)."""
    B, S_, H, D = 2, 5, 3, 8

    def precompute_freqs_cis(dim: int, end: int, theta: float = 10000.0) -> Any:
        freqs = 1.0 / (theta ** (L.arange(0, dim, 2)[: (dim // 2)].to(dtype) / dim))
        t = L.arange(end).to(dtype)
        freqs = L.outer(t, freqs)
        return L.polar(L.ones_like(freqs), freqs)

    def apply_rotary_emb(xq: Any, xk: Any, freqs_cis: Any) -> tuple[Any, Any]:
        xq_ = L.view_as_complex(xq.to(dtype).reshape(*xq.shape[:-1], -1, 2))
        xk_ = L.view_as_complex(xk.to(dtype).reshape(*xk.shape[:-1], -1, 2))
        shape = [d if i == 1 or i == xq_.ndim - 1 else 1 for i, d in enumerate(xq_.shape)]
        freqs_cis = freqs_cis.view(*shape)
        xq_out = L.view_as_real(xq_ * freqs_cis).flatten(3)
        xk_out = L.view_as_real(xk_ * freqs_cis).flatten(3)
        return xq_out.type_as(xq), xk_out.type_as(xk)

    q = (x @ wq).view(B, S_, H, D)
    k = (x @ wk).view(B, S_, H, D)
    q, k = apply_rotary_emb(q, k, precompute_freqs_cis(D, S_))
    scores = L.einsum("bqhd,bkhd->bhqk", q, k) / D**0.5
    return L.softmax(scores, dim=-1).pow(2).sum()


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 2e-4)])
def test_llama_rope_block_trains_as_torch(dtype: str, tol: float) -> None:
    r = np.random.default_rng(0)
    x0 = r.standard_normal((2, 5, 24)).astype(dtype)
    w0 = [(r.standard_normal((24, 24)) * 0.2).astype(dtype) for _ in range(2)]
    runs = []
    for L in (cr, torch):
        ws = [L.tensor(w.copy(), requires_grad=True) for w in w0]
        opt = L.optim.SGD(ws, lr=0.1)
        trace = []
        for _ in range(3):
            opt.zero_grad()
            loss = _rope_block(L, L.tensor(x0), *ws, getattr(L, dtype))
            loss.backward()
            trace.append((loss.item(), [_np(w.grad) for w in ws]))
            opt.step()
        runs.append((trace, [_np(w) for w in ws]))
    (ours, our_w), (theirs, their_w) = runs
    for (lo, go), (lt, gt) in zip(ours, theirs):
        assert lo == pytest.approx(lt, rel=tol)
        for a, b in zip(go, gt):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    for a, b in zip(our_w, their_w):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ---- an FNO spectral convolution with a complex Parameter -------------------------------------
def _spectral_conv(L: Any, weights: np.ndarray, cdtype: Any) -> Any:
    class SpectralConv2d(L.nn.Module):
        """The Fourier layer of Li et al.'s FNO: rfft2, a complex channel mix on the lowest
        modes (einsum), irfft2."""

        def __init__(self) -> None:
            super().__init__()
            self.cout, self.m1, self.m2 = weights.shape[1], weights.shape[2], weights.shape[3]
            self.weights1 = L.nn.Parameter(L.tensor(weights.copy()))

        def forward(self, x: Any) -> Any:
            x_ft = L.fft.rfft2(x)
            out_ft = L.zeros(x.shape[0], self.cout, x.size(-2), x.size(-1) // 2 + 1,
                             dtype=cdtype)
            out_ft[:, :, :self.m1, :self.m2] = L.einsum(
                "bixy,ioxy->boxy", x_ft[:, :, :self.m1, :self.m2], self.weights1)
            return L.fft.irfft2(out_ft, s=(x.size(-2), x.size(-1)))

    return SpectralConv2d()


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_fno_spectral_conv_trains_as_torch(optimizer: str) -> None:
    r = np.random.default_rng(1)
    weights = (r.uniform(size=(2, 3, 3, 3)) + 1j * r.uniform(size=(2, 3, 3, 3))) / 6
    x0 = r.standard_normal((4, 2, 8, 8))
    y0 = r.standard_normal((4, 3, 8, 8))
    kwargs = {"SGD": dict(lr=0.5, momentum=0.9), "Adam": dict(lr=0.05),
              "AdamW": dict(lr=0.05, weight_decay=0.1), "RMSprop": dict(lr=0.01),
              "Adagrad": dict(lr=0.1)}[optimizer]
    runs = []
    for L in (cr, torch):
        model = _spectral_conv(L, weights, L.complex128)
        opt = getattr(L.optim, optimizer)(model.parameters(), **kwargs)
        trace = []
        for _ in range(4):
            opt.zero_grad()
            loss = ((model(L.tensor(x0)) - L.tensor(y0)) ** 2).mean()
            loss.backward()
            opt.step()
            trace.append((loss.item(), _np(model.weights1)))
        runs.append(trace)
    for (lo, wo), (lt, wt) in zip(*runs):
        assert lo == pytest.approx(lt, rel=1e-10)
        assert wo.dtype == np.complex128
        np.testing.assert_allclose(wo, wt, **TOL)
    assert runs[0][-1][0] < runs[0][0][0]  # (and it learns)


def test_adam_state_of_a_complex_parameter_is_complex_as_torch() -> None:
    """PyTorch steps a complex parameter as its real view: Adam's second moment holds
    Re(g)² and Im(g)² apart (not |g|²), in a complex-shaped state tensor."""
    g = np.array([3 + 4j, 1 - 2j])
    states = []
    for L in (cr, torch):
        p = L.nn.Parameter(L.zeros(2, dtype=L.complex128))
        opt = L.optim.Adam([p], lr=0.1)
        p.grad = L.tensor(g)
        opt.step()
        states.append({k: _np(v) for k, v in opt.state[p].items() if k != "step"})
    assert states[0].keys() == states[1].keys()
    for k in states[1]:
        assert states[0][k].dtype == states[1][k].dtype == np.complex128
        np.testing.assert_allclose(states[0][k], states[1][k], **TOL)
    np.testing.assert_allclose(states[0]["exp_avg_sq"], 0.001 * (g.real**2 + 1j * g.imag**2))


def test_spectrogram_loss_reaches_the_signal_as_torch() -> None:
    x0 = np.random.default_rng(2).standard_normal(128)
    grads = []
    for L in (cr, torch):
        x = L.tensor(x0, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = L.stft(x, 32, window=L.hann_window(32, dtype=L.float64), return_complex=True)
        (spec.abs() ** 2).log1p().sum().backward()
        grads.append(_np(x.grad))
    np.testing.assert_allclose(grads[0], grads[1], **TOL)


def test_gradcheck_takes_complex_inputs_as_torch() -> None:
    """gradcheck and gradgradcheck see a complex input or output as its two real parts; a
    derivative that forgets the conjugation is caught, by torch's gradcheck as by ours."""
    z0, x0 = np.array([1 + 2j, 3 - 1j]), np.array([0.5, -1.0])

    def wrong_square(L: Any) -> Any:
        class Square(L.autograd.Function):
            @staticmethod
            def forward(ctx: Any, z: Any) -> Any:
                ctx.save_for_backward(z)
                return z * z

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                (z,) = ctx.saved_tensors
                return g * 2 * z  # (PyTorch's convention needs g · conj(2z))

        return Square.apply

    for L in (cr, torch):
        z = L.tensor(z0, requires_grad=True)
        x = L.tensor(x0, requires_grad=True)
        assert L.autograd.gradcheck(lambda z, x, L=L: (z * z).exp() * x + L.angle(z), (z, x))
        assert L.autograd.gradgradcheck(lambda z, x: (z * z).exp() * x, (z, x))
        assert not L.autograd.gradcheck(wrong_square(L), (z,), raise_exception=False)


PROMOTIONS = [
    lambda L: L.arange(3) * 1j,
    lambda L: L.arange(3) * (2 + 0j) + 1,
    lambda L: 2j * L.arange(3) / 3,
    lambda L: L.ones(2) * 1j,
    lambda L: L.ones(2, dtype=L.float64) * 1j,
    lambda L: L.ones(2, dtype=L.complex64) * L.ones(2, dtype=L.float64),
    lambda L: L.ones(2, dtype=L.complex128) - L.arange(2),
    lambda L: L.tensor([1j]) * L.arange(3),
]


@pytest.mark.parametrize("k", range(len(PROMOTIONS)))
def test_complex_type_promotion_as_torch(k: int) -> None:
    ours, theirs = PROMOTIONS[k](cr), PROMOTIONS[k](torch)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-6)


@pytest.mark.parametrize("name,kwargs", [
    ("Rprop", dict(lr=0.1)), ("LBFGS", dict(lr=0.5)),
    ("LBFGS", dict(lr=1, line_search_fn="strong_wolfe")), ("Adamax", dict(lr=0.1)),
    ("RAdam", dict(lr=0.1)), ("Adadelta", dict(lr=1.0)), ("NAdam", dict(lr=0.1)),
    ("ASGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
])
def test_every_optimizer_steps_a_complex_parameter_as_torch(name: str, kwargs: dict) -> None:
    """A complex and a real parameter under a smooth loss; the optimizer steps the complex
    one on its real view, as PyTorch (Rprop's step sizes start at lr + i·lr, LBFGS's flat
    vectors hold (re, im) pairs)."""
    w0 = np.array([1 + 2j, -0.5 + 0.3j, 0.2 - 1j])
    t0 = np.array([0.3 - 0.2j, 1 + 1j, -1 + 0.5j])
    runs = []
    for L in (cr, torch):
        p = L.nn.Parameter(L.tensor(w0.copy()))
        q = L.nn.Parameter(L.tensor(np.array([0.5, -0.2])))
        opt = getattr(L.optim, name)([p, q], **kwargs)

        def closure(L: Any = L, p: Any = p, q: Any = q, opt: Any = opt) -> Any:
            opt.zero_grad()
            loss = (((p - L.tensor(t0)).abs() ** 2).sum() + ((p * p).abs() ** 2).sum() * 0.1
                    + (q**4).sum() + (p[0] * q[1]).real)
            loss.backward()
            return loss

        for _ in range(4):
            opt.step(closure)
        runs.append((_np(p), _np(q)))
    # (NAdam and ASGD differ from torch by ~1e-9 for real parameters too: torch keeps their
    # step count in float32)
    for ours, theirs in zip(*runs):
        np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-8)


def test_compiled_fno_step_replays_as_eager() -> None:
    """chainrule.compile captures a complex training step (rfft2, complex einsum, irfft2,
    Adam on the real view of the complex Parameter) and replays it bit for bit."""
    r = np.random.default_rng(1)
    weights = (r.uniform(size=(2, 3, 3, 3)) + 1j * r.uniform(size=(2, 3, 3, 3))) / 6
    x0, y0 = r.standard_normal((4, 2, 8, 8)), r.standard_normal((4, 3, 8, 8))
    runs = []
    for compiled in (False, True):
        model = _spectral_conv(cr, weights, cr.complex128)
        opt = cr.optim.Adam(model.parameters(), lr=0.05)

        def step(model: Any = model, opt: Any = opt) -> Any:
            opt.zero_grad()
            loss = ((model(cr.tensor(x0)) - cr.tensor(y0)) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        fn = cr.compile(step) if compiled else step
        losses = [fn().item() for _ in range(6)]
        runs.append((losses, _np(model.weights1), fn))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[1][2].replays == 3, runs[1][2].reasons


def test_clip_grad_norm_of_complex_gradients_as_torch() -> None:
    """The norm of a complex gradient is that of its moduli (√Σ|g|²), as PyTorch's."""
    w0, g0 = np.array([1 + 2j, -0.5 + 0.3j]), np.array([3 - 4j, 1 + 1j])
    runs = []
    for L in (cr, torch):
        p = L.nn.Parameter(L.tensor(w0.copy()))
        q = L.nn.Parameter(L.tensor(np.array([2.0, -1.0])))
        p.grad, q.grad = L.tensor(g0.copy()), L.tensor(np.array([0.5, 0.5]))
        norm = L.nn.utils.clip_grad_norm_([p, q], 1.0)
        runs.append((float(norm), _np(p.grad), _np(q.grad)))
    assert runs[0][0] == pytest.approx(runs[1][0], rel=1e-12)
    for a, b in zip(runs[0][1:], runs[1][1:]):
        np.testing.assert_allclose(a, b, **TOL)
