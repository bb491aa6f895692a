"""``chainrule.linalg``, the fused products (addmm & co.) and searchsorted/bucketize against
PyTorch 2.13 in float64: forward values, gradients with a random upstream gradient, batched
shapes, result types, and the errors for bad input (the registry rows in
``tests/op_registry.py`` add finite differences, gradgrad and float32 checks).
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import searching  # noqa: E402

INF = float("inf")

# torch.cholesky / torch.qr / torch.cross without dim / torch.chain_matmul warn that they are
# deprecated; chainrule offers them for the programs that still call them
pytestmark = pytest.mark.filterwarnings("ignore:.*(deprecated|dim arg):UserWarning")


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _flat(out: Any) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def check_vs_torch(name: str, fn: Any, *arrays: np.ndarray, grad: bool = True,
          rtol: float = 1e-10, atol: float = 1e-10) -> None:
    """fn(lib, *tensors) on chainrule and torch: same outputs (shape, dtype, values) and, with
    ``grad``, the same gradients of Σ vᵢ·outᵢ for a random upstream gradient v."""
    cx = [chainrule.tensor(a.copy(), requires_grad=grad) for a in arrays]
    tx = [torch.tensor(a.copy(), requires_grad=grad) for a in arrays]
    co, to = _flat(fn(chainrule, *cx)), _flat(fn(torch, *tx))
    assert len(co) == len(to), name
    for c, t in zip(co, to):
        assert tuple(c.shape) == tuple(t.shape), f"{name}: shape {c.shape} vs {t.shape}"
        assert str(c.dtype) == str(t.dtype).replace("torch.", ""), f"{name}: {c.dtype}"
        np.testing.assert_allclose(c.detach().numpy(), t.detach().numpy(), rtol=rtol,
                                   atol=atol, err_msg=name)
    if not grad:
        return
    pairs = [(c, t) for c, t in zip(co, to) if t.requires_grad and t.dtype.is_floating_point]
    r = _rng(name + "/cotangent")
    vs = [r.standard_normal(tuple(t.shape)) for _, t in pairs]
    tg = torch.autograd.grad([t for _, t in pairs], tx, [torch.tensor(v) for v in vs],
                             allow_unused=True)
    cg = chainrule.autograd.grad([c for c, _ in pairs], cx, [chainrule.tensor(v) for v in vs],
                                 allow_unused=True)
    for k, (c, t) in enumerate(zip(cg, tg)):
        want = np.zeros_like(arrays[k]) if t is None else t.numpy()
        got = np.zeros_like(arrays[k]) if c is None else c.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9,
                                   err_msg=f"{name}: gradient of input {k}")


def _well_conditioned(r: np.random.Generator, *shape: int) -> np.ndarray:
    n = shape[-1]
    return r.standard_normal(shape) + 3.0 * np.eye(n)


def _spd(r: np.random.Generator, *shape: int) -> np.ndarray:
    x = r.standard_normal(shape)
    return x @ x.swapaxes(-1, -2) + np.eye(shape[-1])


# ---- forward and gradient, batched ---------------------------------------------------------
R = _rng("inputs")
A3 = _well_conditioned(R, 2, 3, 3)
A4 = _well_conditioned(R, 4, 4)
SPD = _spd(R, 2, 3, 3)
TALL = R.standard_normal((2, 1, 5, 3))
WIDE = R.standard_normal((3, 5))
B32 = R.standard_normal((2, 3, 2))
NONSYM = R.standard_normal((2, 4, 4))


def _unsigned(*ts: Any) -> tuple:
    return tuple(t.abs() for t in ts)


CASES = [
    ("inv", lambda L, a: L.linalg.inv(a), (A3,)),
    ("inv_4d_batch", lambda L, a: L.linalg.inv(a), (np.stack([A3, A3 * 2]),)),
    ("det", lambda L, a: L.linalg.det(a), (A3,)),
    ("slogdet", lambda L, a: L.linalg.slogdet(a).logabsdet, (A3 - 3 * np.eye(3),)),
    ("slogdet_sign", lambda L, a: L.linalg.slogdet(a).sign, (A3 - 3 * np.eye(3),), False),
    ("logdet", lambda L, a: L.logdet(a), (SPD,)),
    ("solve", lambda L, a, b: L.linalg.solve(a, b), (A3, B32)),
    ("solve_vec_batch", lambda L, a, b: L.linalg.solve(a, b), (A3, B32[..., 0])),
    ("solve_bcast_A", lambda L, a, b: L.linalg.solve(a, b), (A4, R.standard_normal((3, 4, 2)))),
    ("solve_left_false", lambda L, a, b: L.linalg.solve(a, b, left=False),
     (A3, B32.swapaxes(-1, -2))),
    ("cholesky", lambda L, a: L.linalg.cholesky(a), (SPD,)),
    ("cholesky_upper", lambda L, a: L.linalg.cholesky(a, upper=True), (SPD,)),
    ("cholesky_inverse", lambda L, a: L.cholesky_inverse(L.linalg.cholesky(a)), (SPD,)),
    ("cholesky_solve_upper", lambda L, a, b: L.cholesky_solve(
        b, L.linalg.cholesky(a, upper=True), upper=True), (SPD, B32)),
    ("solve_triangular_lower", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=False),
     (A3, B32)),
    ("solve_triangular_unit_right", lambda L, a, b: L.linalg.solve_triangular(
        a, b, upper=True, left=False, unitriangular=True), (A3, B32.swapaxes(-1, -2))),
    ("eigh_upper", lambda L, a: (lambda e: (e.eigenvalues, *_unsigned(e.eigenvectors)))(
        L.linalg.eigh(a, UPLO="U")), (NONSYM,)),
    ("eigvalsh_lower", lambda L, a: L.linalg.eigvalsh(a), (NONSYM,)),
    ("svd_reduced_tall", lambda L, a: (lambda u, s, vh: (*_unsigned(u, vh), s))(
        *L.linalg.svd(a, full_matrices=False)), (TALL,)),
    ("svd_full_tall_values", lambda L, a: L.linalg.svd(a).S, (TALL,)),
    # (the rows of a full Vh past k = min(m, n) span the null space in no fixed basis)
    ("svd_full_wide", lambda L, a: (lambda u, s, vh: (*_unsigned(u, vh[:3]), vh.shape[-1] * s))(
        *L.linalg.svd(a)), (WIDE,)),
    ("svdvals_wide", lambda L, a: L.linalg.svdvals(a), (WIDE,)),
    ("qr_tall_batched", lambda L, a: tuple(L.linalg.qr(a)), (TALL,)),
    ("qr_r", lambda L, a: L.linalg.qr(a, mode="r").R, (WIDE,), False),
    ("qr_complete_tall_forward", lambda L, a: tuple(L.linalg.qr(a, mode="complete")), (TALL,),
     False),
    ("pinv_rank_deficient", lambda L, a: L.linalg.pinv(a @ a.mT), (TALL,)),
    ("pinv_atol", lambda L, a: L.linalg.pinv(a, atol=1.0), (WIDE,)),
    ("pinv_rtol", lambda L, a: L.linalg.pinv(a, rtol=0.3), (TALL,)),
    ("pinverse", lambda L, a: L.pinverse(a), (WIDE,)),
    ("matrix_exp", lambda L, a: a.matrix_exp(), (A3 * 0.3,)),
    ("matrix_exp_nilpotent", lambda L, a: L.linalg.matrix_exp(a.triu(1)), (A4,)),
    ("lstsq_tall", lambda L, a, b: L.linalg.lstsq(a, b).solution,
     (R.standard_normal((6, 3)), R.standard_normal((6, 2)))),
    ("lstsq_wide_vector", lambda L, a, b: L.linalg.lstsq(a, b).solution,
     (WIDE, R.standard_normal(3))),
    ("matrix_power_0", lambda L, a: L.linalg.matrix_power(a, 0), (A3,), False),
    ("matrix_power_1", lambda L, a: a.matrix_power(1), (A3,)),
    ("matrix_power_7", lambda L, a: L.linalg.matrix_power(a * 0.5, 7), (A3,)),
    ("matrix_power_neg3", lambda L, a: L.linalg.matrix_power(a, -3), (A3,)),
    ("multi_dot_matrices", lambda L, a, b, c, d: L.linalg.multi_dot([a, b, c, d]),
     (R.standard_normal((2, 7)), R.standard_normal((7, 3)), R.standard_normal((3, 9)),
      R.standard_normal((9, 2)))),
    ("multi_dot_vectors", lambda L, a, b: L.linalg.multi_dot([a, b, a]),
     (R.standard_normal(4), R.standard_normal((4, 4)))),
    ("chain_matmul", lambda L, a, b: L.chain_matmul(a, b, a), (A4, A4.T)),
    ("cross_bcast", lambda L, a, b: L.linalg.cross(a, b), (R.standard_normal((2, 1, 3)),
                                                           R.standard_normal((1, 4, 3)))),
    ("cross_default_dim", lambda L, a, b: a.cross(b), (R.standard_normal((4, 3, 3)),
                                                       R.standard_normal((4, 3, 3)))),
    ("vecdot_dim", lambda L, a, b: L.linalg.vecdot(a, b, dim=0), (A3, A3)),
    ("diagonal", lambda L, a: L.linalg.diagonal(a, offset=1, dim1=0, dim2=2), (A3,)),
    ("linalg_matmul", lambda L, a, b: L.linalg.matmul(a, b), (A3, B32)),
    ("cond_2", lambda L, a: L.linalg.cond(a), (A3,)),
    ("cond_neg2", lambda L, a: L.linalg.cond(a, -2), (TALL,)),
    ("cond_fro_forward", lambda L, a: L.linalg.cond(a, "fro"), (A3,), False),
    ("cond_inf_forward", lambda L, a: L.linalg.cond(a, INF), (A3,), False),
    ("legacy_svd", lambda L, a: (lambda u, s, v: (*_unsigned(u, v), s))(*L.svd(a)), (TALL,)),
    ("legacy_svd_some_false", lambda L, a: L.svd(a, some=False)[1], (WIDE,)),
    ("legacy_svd_no_uv", lambda L, a: tuple(L.svd(a, compute_uv=False)), (WIDE,), False),
    ("legacy_qr", lambda L, a: tuple(L.qr(a)), (TALL,)),
    ("tensor_methods", lambda L, a: (a.inverse(), a.det(), a.slogdet()[1], a.pinverse()),
     (A3,)),
    ("tensor_cholesky", lambda L, a: a.cholesky(), (SPD,)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(case: tuple) -> None:
    name, fn, arrays = case[:3]
    check_vs_torch(name, fn, *arrays, grad=case[3] if len(case) > 3 else True)


NORM_ORDS = ["fro", "nuc", 2, -2, 1, -1, INF, -INF]


@pytest.mark.parametrize("ord", NORM_ORDS, ids=str)
def test_matrix_norm_orders_dims_keepdim(ord: Any) -> None:
    x = _rng(f"mnorm{ord}").standard_normal((3, 4, 5))
    check_vs_torch(f"matrix_norm {ord}", lambda L, a: (
        L.linalg.matrix_norm(a, ord),
        L.linalg.matrix_norm(a, ord, dim=(2, 0), keepdim=True),
        L.linalg.norm(a[1], ord),
        L.linalg.norm(a, ord, dim=(-1, 1))), x)


@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, -1, INF, -INF, 0], ids=str)
def test_vector_norm_orders(ord: Any) -> None:
    x = _rng(f"vnorm{ord}").uniform(0.2, 2.0, (3, 4, 5)) * np.sign(
        _rng(f"sign{ord}").standard_normal((3, 4, 5)))
    check_vs_torch(f"vector_norm {ord}", lambda L, a: (
        L.linalg.vector_norm(a, ord),
        L.linalg.vector_norm(a, ord, dim=(0, 2), keepdim=True),
        L.linalg.norm(a, ord, dim=1),
        L.linalg.norm(a[0, 0], ord)), x, grad=ord != 0)


def test_vector_norm_dtype_and_norm_defaults() -> None:
    x = _rng("vdtype").standard_normal((2, 3, 4)).astype(np.float32)
    for lib in (chainrule, torch):
        out = lib.linalg.vector_norm(lib.tensor(x), dtype=lib.float64)
        assert str(out.dtype).endswith("float64")
    check_vs_torch("norm defaults", lambda L, a: (L.linalg.norm(a), L.linalg.norm(a, keepdim=True),
                                         L.linalg.norm(a, dim=(0, 1))), x.astype(np.float64))


def test_det_gradient_of_singular_matrices_is_the_cofactor_matrix() -> None:
    rank2 = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    rank1 = np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 2.0])
    check_vs_torch("det rank 2", lambda L, a: L.linalg.det(a), rank2)
    check_vs_torch("det rank 1 (zero gradient)", lambda L, a: L.linalg.det(a), rank1)


def test_logdet_sign_cases() -> None:
    a = np.stack([np.diag([1.0, 2.0, 3.0]), np.diag([-1.0, 2.0, 3.0]), np.diag([0.0, 2.0, 3.0])])
    c = chainrule.logdet(chainrule.tensor(a)).numpy()
    t = torch.logdet(torch.tensor(a)).numpy()
    np.testing.assert_array_equal(np.isnan(c), np.isnan(t))
    np.testing.assert_allclose(c[~np.isnan(c)], t[~np.isnan(t)])
    assert math.isinf(c[2]) and c[2] < 0


def test_empty_matrices() -> None:
    for lib in (chainrule, torch):
        assert float(lib.linalg.det(lib.zeros(0, 0, dtype=lib.float64))) == 1.0
        assert tuple(lib.linalg.inv(lib.zeros(2, 0, 0, dtype=lib.float64)).shape) == (2, 0, 0)


@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("shape", [(6, 3), (3, 5)], ids=["tall", "wide"])
def test_lstsq_outputs_per_driver(driver: Any, shape: tuple) -> None:
    r = _rng(f"lstsq{driver}{shape}")
    a, b = r.standard_normal((2,) + shape), r.standard_normal((2, shape[0], 2))
    c = chainrule.linalg.lstsq(chainrule.tensor(a), chainrule.tensor(b), driver=driver)
    t = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    for field in ("solution", "residuals", "rank", "singular_values"):
        cf, tf = getattr(c, field), getattr(t, field)
        assert tuple(cf.shape) == tuple(tf.shape), f"{field}: {cf.shape} vs {tf.shape}"
        assert str(cf.dtype) == str(tf.dtype).replace("torch.", ""), field
        np.testing.assert_allclose(cf.numpy(), tf.numpy(), rtol=1e-9, atol=1e-10, err_msg=field)


def test_matrix_rank_tolerances_and_hermitian() -> None:
    r = _rng("rank")
    low = r.standard_normal((3, 5, 2)) @ r.standard_normal((3, 2, 4))  # rank 2
    sym = low @ low.swapaxes(-1, -2)
    for kw in ({}, {"atol": 1e-8}, {"rtol": 0.5}, {"atol": 0.1, "rtol": 0.2}):
        c = chainrule.linalg.matrix_rank(chainrule.tensor(low), **kw)
        t = torch.linalg.matrix_rank(torch.tensor(low), **kw)
        assert c.dtype == chainrule.int64 and c.tolist() == t.tolist(), kw
    c = chainrule.linalg.matrix_rank(chainrule.tensor(sym), hermitian=True)
    assert c.tolist() == torch.linalg.matrix_rank(torch.tensor(sym), hermitian=True).tolist()


def test_ex_variants_report_failures_in_info() -> None:
    a = np.stack([np.eye(3) * 2.0, np.diag([1.0, -1.0, 1.0])])
    c = chainrule.linalg.cholesky_ex(chainrule.tensor(a))
    t = torch.linalg.cholesky_ex(torch.tensor(a))
    assert c.info.tolist() == t.info.tolist() == [0, 2]
    np.testing.assert_allclose(c.L.numpy()[0], t.L.numpy()[0])
    s = np.stack([np.eye(2), np.zeros((2, 2))])
    c2 = chainrule.linalg.inv_ex(chainrule.tensor(s))
    t2 = torch.linalg.inv_ex(torch.tensor(s))
    assert c2.info.tolist() == t2.info.tolist() == [0, 1]
    np.testing.assert_allclose(c2.inverse.numpy()[0], t2.inverse.numpy()[0])
    with pytest.raises(RuntimeError):
        chainrule.linalg.inv_ex(chainrule.tensor(s), check_errors=True)
    b = np.ones((2, 2, 1))
    c3 = chainrule.linalg.solve_ex(chainrule.tensor(s), chainrule.tensor(b))
    t3 = torch.linalg.solve_ex(torch.tensor(s), torch.tensor(b))
    assert c3.info.tolist() == t3.info.tolist() == [0, 1]
    np.testing.assert_allclose(c3.result.numpy()[0], t3.result.numpy()[0])
    with pytest.raises(RuntimeError, match="singular"):
        chainrule.linalg.solve_ex(chainrule.tensor(s), chainrule.tensor(b), check_errors=True)


def test_result_types_have_pytorchs_field_names() -> None:
    a = chainrule.tensor(SPD)
    assert chainrule.linalg.eigh(a).eigenvectors.shape == (2, 3, 3)
    assert chainrule.linalg.svd(a).Vh.shape == (2, 3, 3)
    assert chainrule.linalg.qr(a).R.shape == (2, 3, 3)
    assert chainrule.linalg.slogdet(a).logabsdet.shape == (2,)
    assert chainrule.linalg.qr(a, mode="r").Q.shape == (0,)
    assert issubclass(chainrule.linalg.LinAlgError, RuntimeError)


def test_eigh_gradient_is_differentiable_again() -> None:
    """create_graph through eigh: the Hessian-vector product of Σ λᵢ² (= ‖A‖²_F for symmetric
    A, so d²/dA² is 2·I on symmetric directions) matches torch."""
    x = _rng("eigh hvp").standard_normal((4, 4))
    v = _rng("eigh v").standard_normal((4, 4))
    out = []
    for lib in (chainrule, torch):
        a = lib.tensor(x, requires_grad=True)
        lam = lib.linalg.eigh(a + a.mT).eigenvalues
        (g,) = lib.autograd.grad((lam**3).sum(), a, create_graph=True)
        (h,) = lib.autograd.grad((g * lib.tensor(v)).sum(), a)
        out.append(h.detach().numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-9, atol=1e-9)


# ---- fused products ------------------------------------------------------------------------
PR = _rng("products")
PRODUCTS = [
    ("addmm", lambda L, c, a, b: L.addmm(c, a, b), (PR.standard_normal((3, 1)),
                                                    PR.standard_normal((3, 4)),
                                                    PR.standard_normal((4, 2)))),
    ("addmm_scaled_method", lambda L, c, a, b: c.addmm(a, b, beta=-0.5, alpha=3),
     (PR.standard_normal((3, 2)), PR.standard_normal((3, 4)), PR.standard_normal((4, 2)))),
    ("addmm_0d_input", lambda L, c, a, b: L.addmm(c, a, b, alpha=2), (
        np.array(1.5), PR.standard_normal((3, 4)), PR.standard_normal((4, 2)))),
    ("addmv_method", lambda L, c, a, v: c.addmv(a, v, beta=2), (
        PR.standard_normal(3), PR.standard_normal((3, 4)), PR.standard_normal(4))),
    ("addr_method", lambda L, c, u, v: c.addr(u, v, alpha=-1), (
        PR.standard_normal((1, 4)), PR.standard_normal(3), PR.standard_normal(4))),
    ("baddbmm_method", lambda L, c, a, b: c.baddbmm(a, b, beta=0.25), (
        PR.standard_normal((2, 3, 2)), PR.standard_normal((2, 3, 4)),
        PR.standard_normal((2, 4, 2)))),
    ("addbmm", lambda L, c, a, b: L.addbmm(c, a, b, beta=2, alpha=0.5), (
        PR.standard_normal(2), PR.standard_normal((5, 3, 4)), PR.standard_normal((5, 4, 2)))),
]


@pytest.mark.parametrize("case", PRODUCTS, ids=[c[0] for c in PRODUCTS])
def test_products_match_torch(case: tuple) -> None:
    check_vs_torch(*case[:2], *case[2])


@pytest.mark.parametrize("name,args", [
    ("addmm_", ((3, 4), (4, 2))), ("addmv_", ((3, 4), (4,))), ("addr_", ((3,), (2,))),
    ("baddbmm_", ((2, 3, 4), (2, 4, 2))), ("addbmm_", ((5, 3, 4), (5, 4, 2)))])
def test_in_place_products(name: str, args: tuple) -> None:
    r = _rng(name)
    shape = {"addmv_": (3,), "addr_": (3, 2), "baddbmm_": (2, 3, 2)}.get(name, (3, 2))
    arrays = [r.standard_normal(shape)] + [r.standard_normal(s) for s in args]
    check_vs_torch(name, lambda L, c, *xs: getattr(c * 1.0, name)(*xs, beta=0.5, alpha=-2), *arrays)
    with pytest.raises(RuntimeError):  # a leaf that requires grad cannot be written in place
        getattr(chainrule.tensor(arrays[0], requires_grad=True), name)(
            *[chainrule.tensor(a) for a in arrays[1:]])


def test_in_place_product_cannot_broadcast_self() -> None:
    for lib in (chainrule, torch):
        with pytest.raises(RuntimeError):
            lib.zeros(2, dtype=lib.float64).addmm_(lib.zeros(3, 4, dtype=lib.float64),
                                                   lib.zeros(4, 2, dtype=lib.float64))


def test_beta_zero_ignores_nan_in_input_but_still_gives_it_a_gradient() -> None:
    c = np.full((3, 2), np.nan)
    a, b = PR.standard_normal((3, 4)), PR.standard_normal((4, 2))
    for lib in (chainrule, torch):
        ct = lib.tensor(c, requires_grad=True)
        out = lib.addmm(ct, lib.tensor(a), lib.tensor(b), beta=0)
        assert not np.isnan(out.detach().numpy()).any()
        out.sum().backward()
        np.testing.assert_array_equal(ct.grad.numpy(), np.zeros((3, 2)))


def test_products_on_integers() -> None:
    a = np.arange(12).reshape(3, 4)
    b = np.arange(8).reshape(4, 2)
    c = np.ones((3, 2), dtype=np.int64)
    got = chainrule.addmm(chainrule.tensor(c), chainrule.tensor(a), chainrule.tensor(b))
    want = torch.addmm(torch.tensor(c), torch.tensor(a), torch.tensor(b))
    assert got.dtype == chainrule.int64 and got.tolist() == want.tolist()


# ---- searchsorted / bucketize --------------------------------------------------------------
def assert_same_ints(fn: Any, *arrays: Any) -> None:
    c = fn(chainrule, *[chainrule.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays])
    t = fn(torch, *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays])
    assert str(c.dtype) == str(t.dtype).replace("torch.", "")
    assert tuple(c.shape) == tuple(t.shape)
    np.testing.assert_array_equal(c.numpy(), t.numpy())


SEQ = np.array([1.0, 2.0, 2.0, 2.0, 5.0, 7.0])  # with ties: left and right differ
VALS = np.array([[0.0, 2.0, 3.0], [7.0, 8.0, 2.0]])
SEQ2 = np.sort(_rng("seq2").integers(0, 6, (2, 3, 7)), -1).astype(np.float64)
VALS2 = _rng("vals2").integers(-1, 7, (2, 3, 4)).astype(np.float64)


@pytest.mark.parametrize("kw", [{}, {"right": True}, {"side": "right"}, {"side": "left"},
                                {"out_int32": True}], ids=str)
def test_searchsorted_1d_and_batched(kw: dict) -> None:
    assert_same_ints(lambda L, s, v: L.searchsorted(s, v, **kw), SEQ, VALS)
    assert_same_ints(lambda L, s, v: L.searchsorted(s, v, **kw), SEQ2, VALS2)
    assert_same_ints(lambda L, s: L.searchsorted(s, 2.0, **kw), SEQ)


def test_searchsorted_row_loop_equals_broadcast(monkeypatch: Any) -> None:
    """Large N-D inputs are searched row by row: same answer as the broadcast count."""
    monkeypatch.setattr(searching, "_BROADCAST_LIMIT", 0)
    for right in (False, True):
        assert_same_ints(lambda L, s, v, r=right: L.searchsorted(s, v, right=r), SEQ2, VALS2)


def test_searchsorted_sorter_and_integer_inputs() -> None:
    r = _rng("sorter")
    seq = r.permutation(10).astype(np.int64)
    sorter = np.argsort(seq)
    vals = r.integers(-2, 12, (3, 4))
    assert_same_ints(lambda L, s, v, o: L.searchsorted(s, v, sorter=o), seq, vals, sorter)


@pytest.mark.parametrize("right", [False, True])
def test_bucketize(right: bool) -> None:
    assert_same_ints(lambda L, x, b: L.bucketize(x, b, right=right), VALS2, SEQ)
    assert_same_ints(lambda L, b: L.bucketize(2.0, b, right=right, out_int32=True), SEQ)


# ---- errors: PyTorch's exception class and message -----------------------------------------
def _z(lib: Any, *shape: int, dtype: str = "float64") -> Any:
    return lib.zeros(*shape, dtype=getattr(lib, dtype))


def _eye(lib: Any, n: int) -> Any:
    return lib.eye(n, dtype=lib.float64)


SAME_MESSAGE = [
    ("inv_non_square", lambda L: L.linalg.inv(_z(L, 2, 3))),
    ("inv_1d", lambda L: L.linalg.inv(_z(L, 3))),
    ("inv_singular", lambda L: L.linalg.inv(L.tensor([[1.0, 2.0], [2.0, 4.0]]))),
    ("inv_singular_batch", lambda L: L.linalg.inv(L.stack([_eye(L, 3), _z(L, 3, 3)]))),
    ("inv_integer", lambda L: L.linalg.inv(_z(L, 3, 3, dtype="int64"))),
    ("det_non_square", lambda L: L.linalg.det(_z(L, 2, 3))),
    ("det_integer", lambda L: L.det(_z(L, 3, 3, dtype="int64"))),
    ("slogdet_non_square", lambda L: L.linalg.slogdet(_z(L, 2, 3))),
    ("solve_singular", lambda L: L.linalg.solve(_z(L, 3, 3), _z(L, 3))),
    ("solve_singular_batch", lambda L: L.linalg.solve(L.stack([_eye(L, 3), _z(L, 3, 3)]),
                                                      _z(L, 2, 3))),
    ("solve_shapes", lambda L: L.linalg.solve(_eye(L, 3), _z(L, 4, 2))),
    ("solve_dtypes", lambda L: L.linalg.solve(_eye(L, 3), _z(L, 3, dtype="float32"))),
    ("cholesky_not_pd", lambda L: L.linalg.cholesky(L.tensor([[1.0, 2.0], [2.0, 1.0]]))),
    ("cholesky_not_pd_batch", lambda L: L.linalg.cholesky(L.stack([_eye(L, 3), -_eye(L, 3)]))),
    ("cholesky_non_square", lambda L: L.linalg.cholesky(_z(L, 2, 3))),
    ("eigh_non_square", lambda L: L.linalg.eigh(_z(L, 2, 3))),
    ("eigh_uplo", lambda L: L.linalg.eigh(_z(L, 2, 2), UPLO="X")),
    ("svd_1d", lambda L: L.linalg.svd(_z(L, 3))),
    ("qr_mode", lambda L: L.linalg.qr(_z(L, 3, 3), mode="x")),
    ("vector_norm_integer", lambda L: L.linalg.vector_norm(_z(L, 3, dtype="int64"))),
    ("matrix_norm_1d", lambda L: L.linalg.matrix_norm(_z(L, 3))),
    ("matrix_norm_order", lambda L: L.linalg.matrix_norm(_z(L, 3, 3), ord=3)),
    ("matrix_norm_same_dims", lambda L: L.linalg.matrix_norm(_z(L, 3, 3, 3), dim=(0, 0))),
    ("norm_string_order_on_vector", lambda L: L.linalg.norm(_z(L, 3), ord="fro")),
    ("norm_string_order_one_dim", lambda L: L.linalg.norm(_z(L, 3, 3), "fro", dim=1)),
    ("vector_norm_repeated_dim", lambda L: L.linalg.vector_norm(_z(L, 3), dim=(0, 0))),
    ("norm_3d_with_ord", lambda L: L.linalg.norm(_z(L, 3, 3, 3), ord=2)),
    ("norm_three_dims", lambda L: L.linalg.norm(_z(L, 3, 3, 3), dim=(0, 1, 2))),
    ("matrix_power_non_square", lambda L: L.linalg.matrix_power(_z(L, 2, 3), 2)),
    ("matrix_power_singular", lambda L: L.linalg.matrix_power(_z(L, 3, 3), -1)),
    ("multi_dot_one", lambda L: L.linalg.multi_dot([_z(L, 3, 3)])),
    ("multi_dot_3d_last", lambda L: L.linalg.multi_dot([_z(L, 3, 3), _z(L, 3, 3, 3)])),
    ("multi_dot_3d_first", lambda L: L.linalg.multi_dot([_z(L, 2, 3, 3), _z(L, 3, 3)])),
    ("multi_dot_1d_middle", lambda L: L.linalg.multi_dot([_z(L, 3, 3), _z(L, 3), _z(L, 3, 3)])),
    ("multi_dot_shapes", lambda L: L.linalg.multi_dot([_z(L, 3, 3), _z(L, 4, 3)])),
    ("cross_length", lambda L: L.linalg.cross(_z(L, 3, 2), _z(L, 3, 2))),
    ("cross_ndim", lambda L: L.linalg.cross(_z(L, 2, 3), _z(L, 4, 1, 3))),
    ("lstsq_rows", lambda L: L.linalg.lstsq(_z(L, 3, 2), _z(L, 4, 2))),
    ("lstsq_driver", lambda L: L.linalg.lstsq(_z(L, 3, 2), _z(L, 3, 2), driver="x")),
    ("solve_triangular_1d_B", lambda L: L.linalg.solve_triangular(_eye(L, 3), _z(L, 3),
                                                                  upper=True)),
    ("addmm_1d", lambda L: L.addmm(_z(L, 3), _z(L, 3), _z(L, 3, 3))),
    ("addmm_shapes", lambda L: L.addmm(_z(L, 3), _z(L, 2, 3), _z(L, 4, 3))),
    ("addmm_input", lambda L: L.addmm(_z(L, 4), _z(L, 2, 3), _z(L, 3, 3))),
    ("baddbmm_shapes", lambda L: L.baddbmm(_z(L, 3), _z(L, 2, 2, 3), _z(L, 2, 4, 3))),
    ("baddbmm_batch", lambda L: L.baddbmm(_z(L, 3), _z(L, 2, 2, 3), _z(L, 3, 3, 3))),
    ("addbmm_input", lambda L: L.addbmm(_z(L, 2, 3), _z(L, 4, 5, 2), _z(L, 4, 2, 3))),
    ("addmv_sizes", lambda L: L.addmv(_z(L, 2), _z(L, 2, 3), _z(L, 4))),
    ("addmv_dims", lambda L: L.addmv(_z(L, 2), _z(L, 2, 3), _z(L, 3, 1))),
    ("addr_dims", lambda L: L.addr(_z(L, 2, 3), _z(L, 2, 1), _z(L, 3))),
    ("searchsorted_0d", lambda L: L.searchsorted(L.tensor(0.0), _z(L, 2))),
    ("searchsorted_dims", lambda L: L.searchsorted(_z(L, 2, 3), _z(L, 3, 3))),
    ("searchsorted_1d_values", lambda L: L.searchsorted(_z(L, 2, 3), _z(L, 5))),
    ("searchsorted_side", lambda L: L.searchsorted(_z(L, 3), _z(L, 3), side="x")),
    ("searchsorted_conflict", lambda L: L.searchsorted(_z(L, 3), _z(L, 3), side="left",
                                                       right=True)),
    ("bucketize_2d", lambda L: L.bucketize(_z(L, 3), _z(L, 2, 3))),
]


@pytest.mark.parametrize("case", SAME_MESSAGE, ids=[c[0] for c in SAME_MESSAGE])
def test_error_matches_torch(case: tuple) -> None:
    name, fn = case
    with pytest.raises(Exception) as t:
        fn(torch)
    with pytest.raises(Exception) as c:
        fn(chainrule)
    assert isinstance(c.value, RuntimeError) == isinstance(t.value, RuntimeError), (
        f"{name}: {type(c.value)} vs {type(t.value)}")
    assert str(c.value) == str(t.value), name


def test_errors_worded_our_way() -> None:
    """Where PyTorch's wording names C++ types, ours names the problem in its own words."""
    with pytest.raises(RuntimeError, match="must have be the same dtype"):
        chainrule.linalg.multi_dot([chainrule.zeros(3, 3), _z(chainrule, 3, 3)])
    with pytest.raises(RuntimeError, match="2 or more dimensions"):
        chainrule.linalg.pinv(_z(chainrule, 3))
    with pytest.raises(TypeError, match="must be Tensor"):
        chainrule.linalg.inv([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete'"):
        q, r = chainrule.linalg.qr(chainrule.tensor(TALL[0, 0], requires_grad=True), "complete")
        q.sum().backward()


def test_linalg_is_a_module_attribute() -> None:
    import importlib

    assert importlib.import_module("chainrule.linalg") is chainrule.linalg
    missing = [n for n in ("norm", "vector_norm", "matrix_norm", "inv", "det", "slogdet",
                           "solve", "cholesky", "qr", "eigh", "eigvalsh", "svd", "svdvals",
                           "pinv", "matrix_rank", "lstsq", "cross", "diagonal", "multi_dot",
                           "matrix_power", "matrix_exp", "solve_triangular", "vecdot", "cond")
               if not hasattr(chainrule.linalg, n)]
    assert not missing
