"""The input gradient by GEMMs on shifted views (:func:`chainrule.ops.conv.shifted_col2im`):
equal to col2im of the column products and to torch (float64, random cotangents; 1-D, 2-D,
3-D, dilation, padding, bias), chosen only where its rule says (one BLAS thread, large planes,
a direct GEMM for the dtype), the direct GEMM's self-check, and compiled replay equal to eager
bit for bit."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, check_twin, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from chainrule.ops import conv as C  # noqa: E402

TF = torch.nn.functional


@pytest.fixture(autouse=True)
def _shifted_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shifted input gradient is off by default (``SHIFTED_COL2IM``): on for these tests."""
    monkeypatch.setattr(C, "SHIFTED_COL2IM", True)


def _spy(monkeypatch: pytest.MonkeyPatch, name: str = "shifted_col2im") -> list[int]:
    """Count the calls of ``C.<name>`` (still running it)."""
    calls: list[int] = []
    real = getattr(C, name)

    def spy(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(C, name, spy)
    return calls


@pytest.mark.parametrize("geom", [
    # (N, C, C', padded sizes, kernel, dilation)
    (3, 3, 4, (9, 8), (3, 3), (1, 1)),
    (2, 2, 5, (8, 9), (2, 3), (2, 1)),
    (2, 2, 3, (5, 6, 5), (2, 2, 3), (1, 1, 1)),
    (3, 3, 2, (11,), (3,), (2,)),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shifted_col2im_equals_col2im(geom, dtype):
    n, c, co, sizes, k, dil = geom
    osize = tuple(s - d * (kk - 1) for s, kk, d in zip(sizes, k, dil))
    lay = C.Columns(n, c, sizes, k, (1,) * len(k), dil, osize, wide=False)
    r = rng(40)
    w = r.standard_normal((co, c, *k))
    y = r.standard_normal((n, co, *osize))
    ref = lay.col2im(w.reshape(co, -1).T @ lay.grad_cols(y))  # float64
    got = C.shifted_col2im(w.astype(dtype), y.astype(dtype), sizes, dil)
    assert got.dtype == dtype and got.shape == ref.shape
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("geom", [
    # (N, C, C', input sizes, kernel, stride, dilation, ones), columns forced into 2-sample
    # blocks
    (5, 3, 4, (7, 8), (3, 3), (1, 1), (1, 1), True),
    (3, 2, 5, (9, 8), (2, 3), (2, 1), (1, 2), False),
    (3, 2, 3, (5, 6, 5), (2, 2, 3), (1, 1, 1), (1, 1, 1), True),
    (4, 3, 2, (13,), (3,), (2,), (2,), False),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_accumulated_weight_grad_equals_sample_weight_grad(geom, dtype, monkeypatch):
    n, c, co, sizes, k, st, dil, ones = geom
    osize = tuple((s - d * (kk - 1) - 1) // t + 1 for s, kk, t, d in zip(sizes, k, st, dil))
    r = rng(45)
    x = r.standard_normal((n, c, *sizes))
    g = r.standard_normal((n, co, *osize))
    ref = C.sample_weight_grad(C.sample_cols(x, k, st, dil, osize, ones=ones), g, 1)  # float64
    rows = c * int(np.prod(k)) + ones
    monkeypatch.setattr(C, "_COLS_BLOCK_BYTES", 2 * rows * int(np.prod(osize)) * x.itemsize)
    got = C.accumulated_weight_grad(x.astype(dtype), g.astype(dtype), k, st, dil, osize, ones)
    assert got.dtype == dtype and got.shape == ref.shape == (co, rows)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())
    if ones:  # the ones row's column is db
        np.testing.assert_allclose(got[:, -1], g.reshape(n, co, -1).sum((0, 2)), rtol=tol,
                                   atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("geom", [
    # (N, C, C', padded sizes, kernel, dilation, bias)
    (3, 3, 4, (9, 8), (3, 3), (1, 1), True),
    (2, 2, 5, (8, 9), (2, 3), (2, 1), False),
    (2, 4, 3, (11, 10), (3, 2), (2, 3), True),
    (2, 1, 2, (5, 5), (5, 5), (1, 1), True),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_fold_forward_equals_torch(geom, dtype):
    n, c, co, sizes, k, dil, bias = geom
    r = rng(46)
    x = r.standard_normal((n, c, *sizes))
    w = r.standard_normal((co, c, *k))
    b = r.standard_normal(co) if bias else None
    ref = TF.conv2d(as_torch(x), as_torch(w), None if b is None else as_torch(b),
                    dilation=dil).numpy()
    xs = x.astype(dtype).transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3)  # non-contiguous
    got = C.row_fold_forward(xs, w.astype(dtype), None if b is None else b.astype(dtype), dil)
    assert got.dtype == dtype and got.shape == ref.shape and got.flags.c_contiguous
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())


CASES = [
    (nn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 17, 18)),
    (nn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=3, padding=2, dilation=2),
     (2, 3, 16, 15)),
    (nn.Conv2d, dict(in_channels=4, out_channels=4, kernel_size=4, padding="same", bias=False),
     (2, 4, 16, 17)),
    (nn.Conv1d, dict(in_channels=3, out_channels=5, kernel_size=3, padding=1), (3, 3, 300)),
    (nn.Conv3d, dict(in_channels=2, out_channels=3, kernel_size=2, padding=1), (2, 2, 6, 7, 6)),
    (nn.ConvTranspose2d, dict(in_channels=3, out_channels=2, kernel_size=3, dilation=2),
     (2, 3, 14, 15)),
]


@pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_shifted_input_gradient_equals_torch(case, monkeypatch):
    """Planes of 256+ positions at one BLAS thread (the suite's setting) take the shifted
    input gradient, outputs of 100+ positions the accumulated weight gradient."""
    mod, kw, shape = case
    monkeypatch.setattr(C, "ROW_FOLD_MIN_K", 1)
    calls = _spy(monkeypatch)
    wcalls = _spy(monkeypatch, "accumulated_weight_grad")
    fcalls = _spy(monkeypatch, "row_fold_forward")
    check_twin(mod(**kw), getattr(torch.nn, mod.__name__)(**kw), [rng(41).standard_normal(shape)])
    assert calls, "the shifted path was not taken"
    assert wcalls, "the accumulated weight gradient was not taken"
    # the forward from shifted planes: 2-D convolutions (ConvTranspose2d's forward is a
    # ConvTranspose; its backward's Conv has a 12x13 output, so it takes it too)
    assert bool(fcalls) == (mod in (nn.Conv2d, nn.ConvTranspose2d)), mod


def test_rule_two_threads_small_planes_and_missing_gemm_keep_the_flat_path(monkeypatch):
    from threadpoolctl import threadpool_limits

    calls = _spy(monkeypatch)
    xa, wa = rng(42).standard_normal((2, 3, 20, 20)), rng(43).standard_normal((3, 4, 3, 3))
    ref = TF.conv_transpose2d(as_torch(xa), as_torch(wa)).numpy()

    def run() -> np.ndarray:
        return F.conv_transpose2d(as_cr(xa), as_cr(wa)).data

    np.testing.assert_allclose(run(), ref, rtol=1e-12, atol=1e-12)
    assert len(calls) == 1  # one thread, a 22x22 plane: the shifted path
    with threadpool_limits(2, user_api="blas"):
        np.testing.assert_allclose(run(), ref, rtol=1e-12, atol=1e-12)
        assert not C.use_accumulated_weight_grad(xa, xa)
    assert C.use_accumulated_weight_grad(xa, xa)
    assert not C.use_accumulated_weight_grad(xa, xa.astype(np.float32))
    monkeypatch.setattr(C, "SHIFTED_MIN_PLANE", 22 * 22 + 1)
    np.testing.assert_allclose(run(), ref, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(C, "SHIFTED_MIN_PLANE", 1)
    w8 = np.zeros((4, 8, 3, 3))  # the forward's rule: kw·C against ROW_FOLD_MIN_K (24)
    assert C.use_row_fold(xa, w8[:, :3], (1, 1)) is False
    assert C.use_row_fold(np.zeros((1, 8, 5, 5)), w8, (1, 1))
    assert not C.use_row_fold(np.zeros((1, 8, 5, 5)), w8, (1, 2))
    monkeypatch.setattr(C, "_GEMM", {})  # no direct GEMM found
    np.testing.assert_allclose(run(), ref, rtol=1e-12, atol=1e-12)
    assert len(calls) == 1


def test_direct_gemm_self_check_rejects_a_wrong_routine():
    def wrong(*args: Any) -> None:  # leaves C as it was
        pass

    assert not C._gemm_works(wrong, np.dtype(np.float64))
    gemm = C.blas_gemm(np.float64)
    if gemm is None:
        pytest.skip("no direct BLAS GEMM found")
    assert C._gemm_works(gemm, np.dtype(np.float64))


def test_compiled_cnn_step_with_shifted_input_gradient_equals_eager_bitwise(monkeypatch):
    """Two convolutions (so conv2's input gradient is needed), 20x20 inputs: the recorded opaque
    calls (input and weight gradients) replay to the same bits as eager."""
    monkeypatch.setattr(C, "ROW_FOLD_MIN_K", 1)
    calls = _spy(monkeypatch)
    wcalls = _spy(monkeypatch, "accumulated_weight_grad")
    fcalls = _spy(monkeypatch, "row_fold_forward")

    def build() -> tuple[Any, Any]:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 8 * 8, 3))
        opt = cr.optim.Adadelta(model.parameters())

        def step(x: Any, y: Any) -> Any:  # returns the logits (compared bit for bit)
            opt.zero_grad()
            logits = model(x)
            F.cross_entropy(logits, y).backward()
            opt.step()
            return logits

        return model, step

    r = rng(44)
    data = [(cr.tensor(r.standard_normal((3, 1, 20, 20)).astype(np.float32)),
             cr.tensor(r.integers(0, 3, 3))) for _ in range(5)]
    results = []
    for compiled in (False, True):
        model, step = build()
        fn = cr.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a fallback to eager would warn
            losses = []
            for x, y in data:
                before = len(calls), len(wcalls), len(fcalls)
                losses.append(fn(x, y).detach().numpy().copy())
                # every step (replays too) runs the three direct-GEMM paths
                assert len(calls) > before[0] and len(wcalls) > before[1]
                assert len(fcalls) > before[2]
        results.append((losses, {k: v.detach().numpy().copy()
                                 for k, v in model.state_dict().items()}))
    assert fn.replays == 2, fn.reasons
    (le, se), (lc, sc) = results
    for a, b in zip(le, lc):
        np.testing.assert_array_equal(a, b)
    for k in se:
        np.testing.assert_array_equal(se[k], sc[k], err_msg=k)


def _registry_conv_rows() -> list[Any]:
    from op_registry import OPS

    return [s for s in OPS if s.name.startswith("conv")]


@pytest.mark.parametrize("spec", _registry_conv_rows(), ids=repr)
def test_registry_conv_rows_on_the_shifted_path(spec, monkeypatch):
    """Every registry row for conv (forward, backward, finite differences, double backward)
    with the shifted input gradient forced on for all plane sizes."""
    import test_ops

    monkeypatch.setattr(C, "SHIFTED_MIN_PLANE", 1)
    monkeypatch.setattr(C, "SAMPLE_MIN_P", 1)  # (the channel-first layout shares its g2)
    monkeypatch.setattr(C, "ROW_FOLD_MIN_K", 1)
    calls = _spy(monkeypatch)
    fcalls = _spy(monkeypatch, "row_fold_forward")
    test_ops.test_forward_matches_torch(spec)
    test_ops.test_backward_matches_torch(spec)
    test_ops.test_gradcheck_finite_differences(spec)
    if spec.gradgrad:
        test_ops.test_gradgradcheck(spec)
    # stride-1 rows reach it (ConvTranspose of stride 2 and the grouped conv do not)
    assert bool(calls) == (spec.name in ("conv2d", "conv1d_dilation")), spec.name
    assert bool(fcalls) == (spec.name == "conv2d"), spec.name  # (2-D, stride 1, one group)
