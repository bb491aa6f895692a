"""The speed paths of the conv and pool primitives against torch and against the general paths:
per-sample columns (forward and weight gradient, bias folded into the GEMMs), the flat-layout
input gradient, blocked weight-gradient sums, and the max-pool kernel without NaN (float64,
random cotangents, both layouts forced on and off)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, check_twin, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from chainrule.ops import conv as C  # noqa: E402

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")

# (module kwargs, input shape): 1-D/2-D/3-D, stride, padding, dilation, groups, no bias
CASES = [
    (dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 7, 8)),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, bias=False), (2, 3, 6, 5)),
    (dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1), (2, 3, 8, 9)),
    (dict(in_channels=3, out_channels=4, kernel_size=(3, 2), dilation=(2, 1)), (2, 3, 8, 7)),
    (dict(in_channels=4, out_channels=6, kernel_size=3, groups=2, padding="same"), (2, 4, 6, 6)),
    (dict(in_channels=4, out_channels=4, kernel_size=4, padding="same"), (3, 4, 6, 7)),
]
LAYOUTS = {"per-sample": dict(SAMPLE_COLUMNS=True, SAMPLE_MIN_P=1, FLAT_COL2IM=True,
                              SHIFTED_COL2IM=False, ACCUMULATE_WEIGHT_GRAD=False,
                              ROW_FOLD=False),
           "channel-first": dict(SAMPLE_COLUMNS=False, FLAT_COL2IM=False, SHIFTED_COL2IM=False),
           "mixed": dict(SAMPLE_COLUMNS=True, SAMPLE_MIN_P=1, FLAT_COL2IM=False,
                         SHIFTED_COL2IM=False, ACCUMULATE_WEIGHT_GRAD=False, ROW_FOLD=False),
           # the direct-GEMM paths (BLAS is on one thread in the tests): the forward from
           # kx-shifted planes, the input gradient by GEMMs on shifted views, the weight
           # gradient accumulated in place
           "shifted": dict(SAMPLE_COLUMNS=True, SAMPLE_MIN_P=1, SHIFTED_COL2IM=True,
                           SHIFTED_MIN_PLANE=1, ACCUMULATE_WEIGHT_GRAD=True, ROW_FOLD=True,
                           ROW_FOLD_MIN_K=1)}


def _layout(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    for k, v in LAYOUTS[name].items():
        monkeypatch.setattr(C, k, v)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv2d_layouts_equal_torch(case, layout, monkeypatch):
    _layout(monkeypatch, layout)
    kw, shape = case
    check_twin(nn.Conv2d(**kw), torch.nn.Conv2d(**kw), [rng(30).standard_normal(shape)])


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_conv1d_3d_layouts_equal_torch(layout, monkeypatch):
    _layout(monkeypatch, layout)
    check_twin(nn.Conv1d(3, 5, 3, padding=2, dilation=2), torch.nn.Conv1d(3, 5, 3, padding=2,
                                                                           dilation=2),
               [rng(31).standard_normal((2, 3, 11))])
    check_twin(nn.Conv3d(2, 3, 2, padding=1), torch.nn.Conv3d(2, 3, 2, padding=1),
               [rng(32).standard_normal((2, 2, 3, 4, 3))])
    check_twin(nn.ConvTranspose2d(3, 2, 3, dilation=2), torch.nn.ConvTranspose2d(3, 2, 3,
                                                                                dilation=2),
               [rng(33).standard_normal((2, 3, 4, 5))])


@pytest.mark.parametrize("layout", ["per-sample", "channel-first", "shifted"])
def test_double_backward_through_layouts_equals_torch(layout, monkeypatch):
    """Hessian-vector products through dW, dx and the bias gradient (BiasGrad's value path)."""
    _layout(monkeypatch, layout)
    r = rng(34)
    xa, wa, ba = r.standard_normal((2, 3, 6, 6)), r.standard_normal((4, 3, 3, 3)), \
        r.standard_normal(4)
    va, vb = r.standard_normal((4, 3, 3, 3)), r.standard_normal(4)
    res = []
    for lib, conv, wrap in [(cr, F.conv2d, as_cr), (torch, TF.conv2d, as_torch)]:
        x, w, b = wrap(xa, True), wrap(wa, True), wrap(ba, True)
        loss = (conv(x, w, b, padding=1).tanh() ** 2).sum()
        gw, gb = lib.autograd.grad(loss, [w, b], create_graph=True)
        ((gw * wrap(va)).sum() + (gb * wrap(vb)).sum()).backward()
        res.append((x.grad, w.grad, b.grad))
    for a, t, what in zip(res[0], res[1], ("x", "w", "b")):
        assert_close(a, t, what=f"H v ({what})")


def test_bias_gradient_comes_from_the_weight_gemm(monkeypatch):
    """With per-sample columns the bias gradient is the weight GEMM's extra column, equal to
    the reduction it replaces, and a plain Sum when the weight needs no gradient."""
    monkeypatch.setattr(C, "SAMPLE_MIN_P", 1)
    r = rng(35)
    x = as_cr(r.standard_normal((3, 2, 5, 5)))
    w, b = as_cr(r.standard_normal((4, 2, 3, 3)), True), as_cr(r.standard_normal(4), True)
    g = r.standard_normal((3, 4, 3, 3))
    F.conv2d(x, w, b).backward(cr.tensor(g))
    np.testing.assert_allclose(b.grad.data, g.sum((0, 2, 3)), rtol=1e-12)
    b2 = as_cr(b.data, True)
    F.conv2d(x, as_cr(w.data), b2).backward(cr.tensor(g))
    np.testing.assert_allclose(b2.grad.data, g.sum((0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("groups", [1, 2])
def test_blocked_sample_weight_grad_equals_one_block(groups, monkeypatch):
    r = rng(36)
    cols = r.standard_normal((5, 6 * 4, 7))
    g = r.standard_normal((5, 4, 7))
    whole = C.sample_weight_grad(cols, g, groups)
    monkeypatch.setattr(C, "_WG_BLOCK_BYTES", 2 * cols[0].size * 8 // 6)  # ~2 samples a block
    np.testing.assert_allclose(C.sample_weight_grad(cols, g, groups), whole, rtol=1e-12)
    ref = np.einsum("ngop,ngkp->gok", g.reshape(5, groups, -1, 7),
                    cols.reshape(5, groups, -1, 7)).reshape(4, -1)
    np.testing.assert_allclose(whole, ref, rtol=1e-12)


@pytest.mark.parametrize("geom", [
    # (N, C, padded sizes, kernel, dilation), blocks forced to two samples
    (5, 3, (9, 8), (3, 3), (1, 1)),
    (3, 2, (8, 9), (2, 3), (2, 1)),
    (3, 2, (5, 6, 5), (2, 2, 3), (1, 1, 1)),
    (4, 3, (11,), (3,), (2,)),
])
def test_flat_gemm_col2im_equals_col2im(geom, monkeypatch):
    n, c, sizes, k, dil = geom
    osize = tuple(s - d * (kk - 1) for s, kk, d in zip(sizes, k, dil))
    lay = C.Columns(n, c, sizes, k, (1,) * len(k), dil, osize, wide=False)
    r = rng(37)
    w = r.standard_normal((4, c, *k))
    y = r.standard_normal((n, 4, *osize))
    monkeypatch.setattr(C, "_BLOCK_BYTES", c * int(np.prod(k)) * int(np.prod(sizes)) * 8 * 2)
    ref = lay.col2im(w.reshape(4, -1).T @ lay.grad_cols(y))
    np.testing.assert_allclose(lay.flat_gemm_col2im(w, y), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_large_conv_layouts_equal_torch(threads):
    """MNIST-like sizes on the default paths (per-sample columns, flat col2im, threads)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads, user_api="blas"):
        check_twin(nn.Conv2d(8, 6, 3), torch.nn.Conv2d(8, 6, 3),
                   [rng(38).standard_normal((6, 8, 26, 26))])


def test_max_pool_kernel_ties_without_nan_equal_torch():
    """The compiled 2x2 pool's max-and-equality path: ties take the first maximum."""
    x = rng(39).integers(-2, 2, (4, 8, 24, 26)).astype(np.float64)
    out_c, idx_c = F.max_pool2d(as_cr(x), 2, return_indices=True)
    out_t, idx_t = TF.max_pool2d(as_torch(x), 2, return_indices=True)
    assert_close(out_c, out_t)
    np.testing.assert_array_equal(idx_c.data, idx_t.numpy())


@pytest.mark.parametrize("groups", [1, 2])
def test_columns_made_in_blocks_equal_whole_columns_bitwise(groups, monkeypatch):
    """Columns made a few samples at a time (blocks of columns straddling the blocks of
    per-sample products) give the forward and the weight gradient of the whole column matrix
    bit for bit."""
    r = rng(39)
    x = r.standard_normal((7, 4, 6, 5))
    w = r.standard_normal((6, 4 // groups, 3, 2))
    b = r.standard_normal(6)
    g = r.standard_normal((7, 6, 4, 4))
    geom = ((3, 2), (1, 1), (1, 1), (4, 4))
    ones = groups == 1
    whole = C.sample_cols(x, *geom, ones=ones)
    rows = whole.shape[1]
    monkeypatch.setattr(C, "_WG_BLOCK_BYTES", 3 * rows * 6 * 8)  # 3 samples' products at once
    y0 = C.sample_forward(w, whole, b, groups, (4, 4))
    gw0 = C.sample_weight_grad(whole, g, groups)
    monkeypatch.setattr(C, "_COLS_BLOCK_BYTES", 2 * whole[0].nbytes)  # 2 samples a block
    cols = C.SampleColumns(x, *geom, ones=ones)
    assert cols.nb == 2
    assert np.array_equal(C.sample_forward(w, cols, b, groups, (4, 4)), y0)
    assert np.array_equal(C.sample_weight_grad(cols, g, groups), gw0)
    ref = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                    groups=groups).numpy()
    np.testing.assert_allclose(y0, ref, rtol=1e-12, atol=1e-12)
