"""Generic op tests driven by ``tests/op_registry.py``, plus extreme ranges and dtype rules.

For every registry line: the forward matches torch (float64); the backward with a random
upstream gradient matches torch; reverse mode matches central finite differences; gradients
have their input's shape and dtype; float32 in gives float32 out. Ops tagged ``gradgrad`` are
double-backward checked, and ``autograd.functional`` is compared with torch's.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from op_registry import OPS, OpSpec, make_inputs  # noqa: E402

import chainrule  # noqa: E402
from chainrule.autograd import functional as AF  # noqa: E402
from chainrule.autograd import gradcheck, gradgradcheck  # noqa: E402


def _outputs(out: Any) -> list[Any]:
    """An op's outputs as a flat list (tuples such as (values, indices) or split pieces)."""
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def _run(spec: OpSpec, lib: Any, arrays: list[np.ndarray], requires_grad: bool = True) -> tuple:
    fn = spec.fn if lib is chainrule else spec.torch_fn()
    xs = [lib.tensor(a.copy(), requires_grad=requires_grad and spec.grad) for a in arrays]
    return xs, _outputs(fn(lib, *xs))


def _float_outputs(outs: list[Any]) -> list[Any]:
    return [o for o in outs if o.dtype in (chainrule.float64, chainrule.float32, torch.float64,
                                            torch.float32)]


def _np(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.detach().numpy())


def _cotangents(spec: OpSpec, outs: list[Any]) -> list[np.ndarray]:
    r = np.random.default_rng(zlib.crc32(spec.name.encode()) + 1)
    return [r.standard_normal(tuple(o.shape)) for o in outs]


# ---- forward ------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", OPS, ids=repr)
def test_forward_matches_torch(spec: OpSpec) -> None:
    arrays = make_inputs(spec)
    _, c_out = _run(spec, chainrule, arrays, requires_grad=False)
    _, t_out = _run(spec, torch, arrays, requires_grad=False)
    assert len(c_out) == len(t_out), f"{spec.name}: {len(c_out)} outputs vs {len(t_out)}"
    for c, t in zip(c_out, t_out):
        assert isinstance(c, chainrule.Tensor)
        assert tuple(c.shape) == tuple(t.shape), f"{spec.name}: shape {c.shape} vs {t.shape}"
        assert str(c.dtype) == str(t.dtype).replace("torch.", ""), (
            f"{spec.name}: dtype {c.dtype} vs {t.dtype}")
        np.testing.assert_allclose(_np(c), _np(t), rtol=1e-12, atol=spec.atol,
                                   err_msg=spec.name)


# ---- backward -----------------------------------------------------------------------------
GRAD_OPS = [s for s in OPS if s.grad]


@pytest.mark.parametrize("spec", GRAD_OPS, ids=repr)
def test_backward_matches_torch(spec: OpSpec) -> None:
    arrays = make_inputs(spec)
    cx, c_out = _run(spec, chainrule, arrays)
    tx, t_out = _run(spec, torch, arrays)
    t_f = [o for o in t_out if o.requires_grad]
    c_f = _float_outputs(c_out)
    assert len(c_f) == len(t_f), spec.name
    vs = _cotangents(spec, t_f)
    t_g = torch.autograd.grad(t_f, tx, [torch.tensor(v) for v in vs], allow_unused=True)
    c_g = chainrule.autograd.grad(c_f, cx, [chainrule.tensor(v) for v in vs], allow_unused=True)
    for k, (cg, tg, x) in enumerate(zip(c_g, t_g, arrays)):
        want = np.zeros_like(x) if tg is None else tg.numpy()
        got = np.zeros_like(x) if cg is None else cg.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10,
                                   err_msg=f"{spec.name}: gradient of input {k}")


@pytest.mark.parametrize("spec", GRAD_OPS, ids=repr)
def test_create_graph_gradient_equals_plain_gradient(spec: OpSpec) -> None:
    """The differentiable backward (create_graph=True, Tensor ops) and the plain one (arrays,
    ``fast_backward`` where an op has it) give the same gradient."""
    arrays = make_inputs(spec)
    cx, outs = _run(spec, chainrule, arrays)
    fl = _float_outputs(outs)
    vs = [chainrule.tensor(v) for v in _cotangents(spec, fl)]
    plain = chainrule.autograd.grad(fl, cx, vs, retain_graph=True, allow_unused=True)
    graph = chainrule.autograd.grad(fl, cx, vs, create_graph=True, allow_unused=True)
    for k, (p, g) in enumerate(zip(plain, graph)):
        assert (p is None) == (g is None), f"{spec.name}: input {k}"
        if p is not None:
            assert p.dtype == g.dtype and p.shape == g.shape
            np.testing.assert_allclose(p.numpy(), g.detach().numpy(), rtol=1e-13, atol=1e-13,
                                       err_msg=f"{spec.name}: input {k}")


@pytest.mark.parametrize("spec", [s for s in GRAD_OPS if s.fd], ids=repr)
def test_gradcheck_finite_differences(spec: OpSpec) -> None:
    arrays = make_inputs(spec)
    xs = [chainrule.tensor(a, requires_grad=True) for a in arrays]

    def f(*ts: Any) -> Any:
        return tuple(_float_outputs(_outputs(spec.fn(chainrule, *ts))))

    assert gradcheck(f, xs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("spec", [s for s in OPS if s.gradgrad], ids=repr)
def test_gradgradcheck(spec: OpSpec) -> None:
    arrays = make_inputs(spec)
    xs = [chainrule.tensor(a, requires_grad=True) for a in arrays]

    def f(*ts: Any) -> Any:
        return tuple(_float_outputs(_outputs(spec.fn(chainrule, *ts))))

    assert gradgradcheck(f, xs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("spec", GRAD_OPS, ids=repr)
def test_grad_shape_and_dtype_float32(spec: OpSpec) -> None:
    """float32 in: float32 out (no silent promotion); each gradient has its input's shape and
    dtype."""
    arrays = make_inputs(spec, np.float32)
    xs, outs = _run(spec, chainrule, arrays)
    fl = _float_outputs(outs)
    assert fl, f"{spec.name}: no floating-point output"
    for o in fl:
        assert o.dtype == chainrule.float32, f"{spec.name}: output dtype {o.dtype}"
    vs = [chainrule.randn(*o.shape, dtype=chainrule.float32) for o in fl]
    gs = chainrule.autograd.grad(fl, xs, vs, allow_unused=True)
    for x, g in zip(xs, gs):
        if g is None:
            continue
        assert g.shape == x.shape and g.dtype == x.dtype == chainrule.float32, (
            f"{spec.name}: grad {g.shape} {g.dtype} for input {x.shape} {x.dtype}")


def test_registry_covers_the_issue_ops() -> None:
    """The registry names the ops the issue lists (a missing line is a missing test)."""
    names = " ".join(s.name for s in OPS)
    required = [
        "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sign", "sin", "cos", "tanh",
        "sigmoid", "relu", "clamp", "clip", "maximum", "minimum", "where", "pow", "reciprocal",
        "floor", "ceil", "round", "isnan", "isfinite", "sum", "mean", "var", "std", "max",
        "min", "argmax", "argmin", "prod", "logsumexp", "norm", "all", "any", "cumsum",
        "reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "permute",
        "transpose", "expand", "expand_as", "repeat", "cat", "stack", "split", "chunk", "flip",
        "pad", "narrow", "tril", "triu", "masked_fill", "gather", "scatter", "scatter_add",
        "index_select", "matmul", "einsum", "getitem_bool", "getitem_adv_repeat",
        "log_softmax", "softmax",
    ]
    missing = [r for r in required if r not in names]
    assert not missing, f"ops without a registry line: {missing}"


# ---- extreme ranges -----------------------------------------------------------------------
EXTREMES = [
    ("sigmoid_pm50", lambda L, x: L.sigmoid(x), [-50.0, -20.0, 0.0, 20.0, 50.0]),
    ("tanh_pm50", lambda L, x: L.tanh(x), [-50.0, -1e-8, 50.0]),
    ("logsumexp_1e3", lambda L, x: L.logsumexp(x, 0), [1000.0, 1001.0, 999.0]),
    ("logsumexp_neg_1e3", lambda L, x: L.logsumexp(x, 0), [-1000.0, -1001.0, -999.0]),
    ("logsumexp_ninf", lambda L, x: L.logsumexp(x, 0), [float("-inf"), 0.0, 1.0]),
    ("log_near_0", lambda L, x: L.log(x), [1e-300, 1e-30, 1e-8]),
    ("log1p_tiny", lambda L, x: L.log1p(x), [1e-20, -1e-20, 1e-10]),
    ("expm1_tiny", lambda L, x: L.expm1(x), [1e-20, -1e-20, 1e-10]),
    ("log_softmax_large", lambda L, x: L.log_softmax(x, -1), [1e4, -1e4, 0.0, 1e4 + 1]),
    ("softmax_large", lambda L, x: L.softmax(x, -1), [1e4, -1e4, 0.0, 1e4 + 1]),
    ("exp_large", lambda L, x: L.exp(x), [700.0, -745.0, 0.0]),
    ("sqrt_tiny", lambda L, x: L.sqrt(x), [1e-300, 1e-20, 4.0]),
    ("var_offset", lambda L, x: x.var(), [1e8 + 1.0, 1e8 + 2.0, 1e8 + 3.0]),
    ("norm_tiny", lambda L, x: x.norm(), [1e-200, 2e-200, 0.0]),
    ("pow_large", lambda L, x: x**2, [1e150, -1e150]),
]


@pytest.mark.parametrize("name,fn,values", EXTREMES, ids=[e[0] for e in EXTREMES])
def test_extreme_ranges(name: str, fn: Any, values: list[float]) -> None:
    a = np.array(values, dtype=np.float64)
    cx = chainrule.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    co, to = fn(chainrule, cx), fn(torch, tx)
    np.testing.assert_allclose(_np(co), _np(to), rtol=1e-12, atol=0, err_msg=name)
    v = np.linspace(0.5, 1.5, to.numel()).reshape(tuple(to.shape))
    (cg,) = chainrule.autograd.grad(co, cx, chainrule.tensor(v))
    (tg,) = torch.autograd.grad(to, tx, torch.tensor(v))
    np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=1e-10, atol=0, err_msg=name)


def test_extreme_float32_sigmoid_and_log_softmax_stay_finite() -> None:
    x = chainrule.tensor([-100.0, -50.0, 50.0, 100.0], requires_grad=True)
    s = x.sigmoid()
    assert s.dtype == chainrule.float32 and np.all(np.isfinite(s.detach().numpy()))
    s.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    z = chainrule.tensor([[3e4, -3e4, 0.0]], requires_grad=True)
    ls = z.log_softmax(-1)
    assert np.all(np.isfinite(ls.detach().numpy())) and ls.dtype == chainrule.float32
    (ls * chainrule.tensor([[1.0, 0.0, 0.0]])).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), [[0.0, 0.0, 0.0]], atol=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0^-1 and log 0 inside the formulas
@pytest.mark.parametrize("create_graph", [False, True])
def test_pow_tensor_gradients_at_zero_base_match_torch(create_graph: bool) -> None:
    """x ** y at x = 0: dx is 0 where y = 0 (not 0·inf), dy is 0 where y >= 0; the same on the
    array pass and under create_graph, and the derivatives of dx as torch's (NaN included)."""
    xs, ys = [0.0, 1.5, 0.0, 2.0, 0.0], [2.0, 0.5, 0.0, -1.0, 1.0]
    cx, cy = (chainrule.tensor(v, dtype=chainrule.float64, requires_grad=True) for v in (xs, ys))
    tx, ty = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (xs, ys))
    cg = chainrule.autograd.grad((cx**cy).sum(), (cx, cy), create_graph=create_graph)
    tg = torch.autograd.grad((tx**ty).sum(), (tx, ty), create_graph=True)
    for c, t in zip(cg, tg):
        np.testing.assert_allclose(_np(c), _np(t), rtol=1e-12)
    if create_graph:
        cgg = chainrule.autograd.grad(cg[0].sum(), (cx, cy))
        tgg = torch.autograd.grad(tg[0].sum(), (tx, ty))
        for c, t in zip(cgg, tgg):
            np.testing.assert_allclose(_np(c), _np(t), rtol=1e-12)


# ---- dtype rules --------------------------------------------------------------------------
SCALAR_CASES = [
    ("mul_float", lambda L, x: x * 2.5, "float32"),
    ("rmul_float", lambda L, x: 2.5 * x, "float32"),
    ("add_int", lambda L, x: x + 1, "float32"),
    ("div_float", lambda L, x: x / 3.0, "float32"),
    ("rdiv_float", lambda L, x: 3.0 / x, "float32"),
    ("pow_float", lambda L, x: x**2.0, "float32"),
    ("rpow_float", lambda L, x: 2.0**x, "float32"),
    ("np_float64_scalar", lambda L, x: x * np.float64(2.0), "float32"),
    ("maximum_0d", lambda L, x: x.maximum(L.tensor(0.5)), "float32"),
    ("where_scalar", lambda L, x: L.where(x > 1, x, 0.0), "float32"),
    ("clamp", lambda L, x: x.clamp(0.5, 2), "float32"),
    ("mean", lambda L, x: x.mean(), "float32"),
    ("var", lambda L, x: x.var(), "float32"),
    ("norm", lambda L, x: x.norm(), "float32"),
    ("logsumexp", lambda L, x: x.logsumexp(0), "float32"),
    ("softmax", lambda L, x: x.softmax(0), "float32"),
    ("reciprocal", lambda L, x: x.reciprocal(), "float32"),
    ("sub_int_tensor", lambda L, x: x - L.tensor([1, 2, 3]), "float32"),
    ("int_div_int", lambda L, x: L.tensor([1, 2, 3]) / 2, "float32"),
    ("int_mul_float", lambda L, x: L.tensor([1, 2, 3]) * 0.5, "float32"),
    ("int_add_int", lambda L, x: L.tensor([1, 2, 3]) + 2, "int64"),
    ("int_pow_int", lambda L, x: L.tensor([1, 2, 3]) ** 2, "int64"),
    ("int_floordiv", lambda L, x: L.tensor([7, 8, 9]) // 2, "int64"),
    ("int_remainder", lambda L, x: L.tensor([7, 8, 9]) % 4, "int64"),
    ("int_sum", lambda L, x: L.tensor([1, 2, 3]).sum(), "int64"),
    ("bool_sum", lambda L, x: (x > 1).sum(), "int64"),
    ("int_reciprocal", lambda L, x: L.tensor([1, 2, 4]).reciprocal(), "float32"),
    ("int_sqrt", lambda L, x: L.tensor([1, 2, 4]).sqrt(), "float32"),
    ("int_exp", lambda L, x: L.tensor([1, 2, 4]).exp(), "float32"),
    ("int32_add_int64", lambda L, x: L.tensor([1], dtype=L.int32) + L.tensor([1]), "int64"),
    ("int_tensor_add_float32_tensor", lambda L, x: L.tensor([1, 2, 3]) + x, "float32"),
    ("f64_mul_f32", lambda L, x: x * L.tensor([1.0], dtype=L.float64), "float64"),
    ("float_floordiv", lambda L, x: x // 2, "float32"),
    ("float_rfloordiv", lambda L, x: 7.0 // x, "float32"),
    ("matmul_f32", lambda L, x: x @ x, "float32"),
    ("cumsum_bool", lambda L, x: (x > 1).cumsum(0), "int64"),
]


@pytest.mark.parametrize("name,fn,want", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_dtype_promotion_matches_torch(name: str, fn: Any, want: str) -> None:
    """No silent float32 -> float64 promotion; the same rule as torch for every case."""
    out = fn(chainrule, chainrule.tensor([1.0, 2.0, 3.0]))
    tout = fn(torch, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float32))
    assert str(tout.dtype) == f"torch.{want}", f"the case is wrong: torch gives {tout.dtype}"
    assert str(out.dtype) == want, f"{name}: chainrule gives {out.dtype}, torch {tout.dtype}"
    np.testing.assert_allclose(out.numpy(), tout.numpy(), rtol=1e-6)


# ---- autograd.functional vs torch -------------------------------------------------------------
def _f_vec(x: Any, y: Any) -> Any:
    return (x.sin() * y).tanh() + x * x


def _f_scalar(x: Any, y: Any) -> Any:
    return ((x @ y).sigmoid() * x.sum()).sum() + (y**3).sum()


def _mlp_loss(w1: Any, w2: Any) -> Any:
    lib = chainrule if isinstance(w1, chainrule.Tensor) else torch
    xb = lib.tensor(np.random.default_rng(3).standard_normal((5, 3)))
    yb = lib.tensor(np.array([0, 1, 1, 0, 1]))
    h = (xb @ w1).tanh()
    logits = h @ w2
    return -logits.log_softmax(-1)[lib.arange(5), yb].mean()


def _pair(*shapes: tuple[int, ...], seed: int = 0) -> tuple[list, list]:
    r = np.random.default_rng(seed)
    arrays = [r.standard_normal(s) for s in shapes]
    return [chainrule.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


def check_close(c: Any, t: Any) -> None:
    if isinstance(t, (tuple, list)):
        assert len(c) == len(t)
        for ci, ti in zip(c, t):
            check_close(ci, ti)
        return
    np.testing.assert_allclose(_np(c), t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_functional_vjp() -> None:
    (cx, cy), (tx, ty) = _pair((3,), (3,))
    v = np.random.default_rng(1).standard_normal(3)
    c = AF.vjp(_f_vec, (cx, cy), chainrule.tensor(v))
    t = torch.autograd.functional.vjp(_f_vec, (tx, ty), torch.tensor(v))
    check_close(c, t)


def test_functional_jvp() -> None:
    (cx, cy), (tx, ty) = _pair((3,), (3,))
    r = np.random.default_rng(2)
    v = (r.standard_normal(3), r.standard_normal(3))
    c = AF.jvp(_f_vec, (cx, cy), tuple(chainrule.tensor(a) for a in v))
    t = torch.autograd.functional.jvp(_f_vec, (tx, ty), tuple(torch.tensor(a) for a in v))
    check_close(c, t)


def test_functional_jacobian() -> None:
    (cx, cy), (tx, ty) = _pair((3,), (3,))
    check_close(AF.jacobian(_f_vec, (cx, cy)), torch.autograd.functional.jacobian(_f_vec, (tx, ty)))
    check_close(AF.jacobian(lambda x: x.exp() * 2, cx),
           torch.autograd.functional.jacobian(lambda x: x.exp() * 2, tx))


def test_functional_hessian_and_hvp() -> None:
    (cx, cy), (tx, ty) = _pair((2, 3), (3,))
    check_close(AF.hessian(_f_scalar, (cx, cy)), torch.autograd.functional.hessian(_f_scalar,
                                                                              (tx, ty)))
    v = np.random.default_rng(4).standard_normal((2, 3)), np.ones(3)
    c = AF.hvp(_f_scalar, (cx, cy), tuple(chainrule.tensor(a) for a in v))
    t = torch.autograd.functional.hvp(_f_scalar, (tx, ty), tuple(torch.tensor(a) for a in v))
    check_close(c, t)
    single = AF.hessian(lambda x: (x.exp() * x).sum(), cy)
    check_close(single, torch.autograd.functional.hessian(lambda x: (x.exp() * x).sum(), ty))


def test_functional_hessian_of_mlp_loss() -> None:
    (c1, c2), (t1, t2) = _pair((3, 4), (4, 2), seed=5)
    check_close(AF.hessian(_mlp_loss, (c1, c2)), torch.autograd.functional.hessian(_mlp_loss,
                                                                              (t1, t2)))
    v = tuple(np.random.default_rng(6).standard_normal(s) for s in ((3, 4), (4, 2)))
    c = AF.hvp(_mlp_loss, (c1, c2), tuple(chainrule.tensor(a) for a in v))
    t = torch.autograd.functional.hvp(_mlp_loss, (t1, t2), tuple(torch.tensor(a) for a in v))
    check_close(c, t)


def test_functional_create_graph_is_differentiable() -> None:
    x = chainrule.tensor([0.3, -0.2, 0.5], dtype=chainrule.float64, requires_grad=True)
    tx = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64, requires_grad=True)
    _, hv = AF.hvp(lambda z: (z**4).sum(), x, chainrule.ones(3, dtype=chainrule.float64),
                   create_graph=True)
    _, thv = torch.autograd.functional.hvp(lambda z: (z**4).sum(), tx,
                                           torch.ones(3, dtype=torch.float64), create_graph=True)
    hv.sum().backward()
    thv.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_gradcheck_detects_a_wrong_gradient() -> None:
    """The checker itself can fail: a primitive with a deliberately wrong backward."""
    from chainrule.autograd.engine import Function
    from chainrule.tensor import apply

    class BadSquare(Function):
        saves = ("x",)

        def forward(self, x: Any) -> Any:
            return x * x

        def backward(self, g: Any) -> tuple:
            return (g * self.inputs[0] * 3.0,)

    x = chainrule.tensor([0.5, 1.5], dtype=chainrule.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        gradcheck(lambda t: apply(BadSquare, t), (x,))
    assert not gradcheck(lambda t: apply(BadSquare, t), (x,), raise_exception=False)
    assert not gradgradcheck(lambda t: apply(BadSquare, t) * t, (x,), raise_exception=False)
