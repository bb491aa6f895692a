"""API gaps closed for programs written against PyTorch (round 2), each checked against torch:
``nn.LSTM(proj_size=...)``, ``F.interpolate(antialias=True)`` (bilinear, bicubic, and the
Lanczos mode), the dtype names chainrule cannot store (bfloat16, float8_*: a clear error, never
silent float32; ``finfo`` answers), ``cumsum`` / ``cumprod`` with ``dtype=``."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def _np(t: object) -> np.ndarray:
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


# ---- LSTM(proj_size=...) -------------------------------------------------------------------
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_proj_size_matches_torch(bidirectional: bool, batch_first: bool) -> None:
    """Same weights: outputs, h_n, c_n and every gradient equal PyTorch's (float64), with
    given initial states and with a packed batch of unequal lengths."""
    rng = np.random.default_rng(0)
    tm = torch.nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=bidirectional,
                       batch_first=batch_first).double()
    cm = cr.nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=bidirectional,
                    batch_first=batch_first, dtype=cr.float64)
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert [tuple(p.shape) for p in cm.parameters()] == [tuple(p.shape) for p in tm.parameters()]
    assert repr(cm) == repr(tm)
    cm.load_state_dict({k: cr.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    D = 2 if bidirectional else 1
    x = rng.standard_normal((4, 6, 3) if batch_first else (6, 4, 3))
    h0, c0 = rng.standard_normal((2 * D, 4, 2)), rng.standard_normal((2 * D, 4, 5))
    xt, xc = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    ot, (ht, ct) = tm(xt, (torch.tensor(h0), torch.tensor(c0)))
    oc, (hc, cc) = cm(xc, (cr.tensor(h0), cr.tensor(c0)))
    assert tuple(oc.shape) == tuple(ot.shape) and tuple(hc.shape) == (2 * D, 4, 2)
    w = rng.standard_normal(tuple(ot.shape))
    ((ot * torch.tensor(w)).sum() + 2 * ht.sum() + ct.sum()).backward()
    ((oc * cr.tensor(w)).sum() + 2 * hc.sum() + cc.sum()).backward()
    for a, b in ((ot, oc), (ht, hc), (ct, cc), (xt.grad, xc.grad)):
        np.testing.assert_allclose(_np(b), _np(a), rtol=1e-10, atol=1e-12)
    for (name, p), q in zip(tm.named_parameters(), cm.parameters()):
        np.testing.assert_allclose(_np(q.grad), _np(p.grad), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    lens = [6, 3, 5, 2]
    pt = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), lens, batch_first=batch_first,
                                                 enforce_sorted=False)
    pc = cr.nn.utils.rnn.pack_padded_sequence(cr.tensor(x), lens, batch_first=batch_first,
                                              enforce_sorted=False)
    (o1, (h1, c1)), (o2, (h2, c2)) = tm(pt), cm(pc)
    p1 = torch.nn.utils.rnn.pad_packed_sequence(o1, batch_first=batch_first)[0]
    p2 = cr.nn.utils.rnn.pad_packed_sequence(o2, batch_first=batch_first)[0]
    for a, b in ((p1, p2), (h1, h2), (c1, c2)):
        np.testing.assert_allclose(_np(b), _np(a), rtol=1e-10, atol=1e-12)


def test_lstm_proj_size_checks_as_torch() -> None:
    for make, message in ((lambda m: m.GRU(2, 4, proj_size=3), "only supported for LSTM"),
                          (lambda m: m.LSTM(2, 4, proj_size=4), "smaller than hidden_size"),
                          (lambda m: m.LSTM(2, 4, proj_size=-1), "positive integer or zero")):
        for lib in (torch.nn, cr.nn):
            with pytest.raises(ValueError, match=message):
                make(lib)
    lstm = cr.nn.LSTM(2, 4, proj_size=3)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 5, 3\)"):
        lstm(cr.randn(7, 5, 2), (cr.zeros(1, 5, 4), cr.zeros(1, 5, 4)))
    assert len(lstm.all_weights[0]) == 5


# ---- F.interpolate(antialias=True) -------------------------------------------------------
_AA_CASES = [((16, 20), {"size": (5, 7)}), ((9, 9), {"size": (4, 3)}),
             ((8, 8), {"scale_factor": 0.37}), ((5, 6), {"size": (11, 13)}),
             ((10, 10), {"scale_factor": (0.3, 1.7)}),
             ((12, 12), {"scale_factor": 0.25, "recompute_scale_factor": True})]


@pytest.mark.parametrize("mode,align_corners", [("bilinear", False), ("bilinear", True),
                                                ("bicubic", False), ("bicubic", True),
                                                ("lanczos", False)])
def test_interpolate_antialias_matches_torch(mode: str, align_corners: bool) -> None:
    """Down- and upsampling, forward and input gradient, float64."""
    rng = np.random.default_rng(1)
    for (h, w), kw in _AA_CASES:
        x = rng.standard_normal((2, 3, h, w))
        xt, xc = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
        yt = torch.nn.functional.interpolate(xt, mode=mode, align_corners=align_corners,
                                             antialias=True, **kw)
        yc = cr.nn.functional.interpolate(xc, mode=mode, align_corners=align_corners,
                                          antialias=True, **kw)
        g = rng.standard_normal(tuple(yt.shape))
        (yt * torch.tensor(g)).sum().backward()
        (yc * cr.tensor(g)).sum().backward()
        np.testing.assert_allclose(_np(yc), _np(yt), atol=1e-12, err_msg=f"{(h, w)} {kw}")
        np.testing.assert_allclose(_np(xc.grad), _np(xt.grad), atol=1e-12)


def test_interpolate_antialias_refusals_as_torch() -> None:
    for lib in (torch, cr):
        F = lib.nn.functional
        with pytest.raises(ValueError, match="Anti-alias option is restricted"):
            F.interpolate(lib.ones(1, 1, 4, 4), size=(2, 2), mode="nearest", antialias=True)
        with pytest.raises(ValueError, match="Lanczos mode requires antialias=True"):
            F.interpolate(lib.ones(1, 1, 4, 4), size=(2, 2), mode="lanczos")


# ---- dtypes chainrule names but cannot store ----------------------------------------------
_NAMED = ["bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
          "float8_e8m0fnu"]


@pytest.mark.parametrize("name", _NAMED)
def test_named_dtypes_answer_queries_and_refuse_storage(name: str) -> None:
    d, ref = getattr(cr, name), getattr(torch, name)
    assert d.itemsize == ref.itemsize and d.is_floating_point == ref.is_floating_point
    assert d.is_signed == ref.is_signed
    fi, fr = cr.finfo(d), torch.finfo(ref)
    for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(fi, field) == getattr(fr, field), field
    x = cr.ones(3)
    refusals = (lambda: x.to(d), lambda: cr.zeros(2, dtype=d), lambda: x.sum(dtype=d),
                lambda: cr.nn.Linear(2, 2).to(d), lambda: cr.set_default_dtype(d),
                lambda: cr.tensor([1.0], dtype=d))
    for make in refusals:
        with pytest.raises(NotImplementedError, match=f"cannot store {name} tensors"):
            make()
    assert cr.get_default_dtype() == cr.float32


def test_bfloat16_module_and_cuda_queries() -> None:
    with pytest.raises(NotImplementedError, match="bfloat16"):
        cr.nn.Linear(2, 2).bfloat16()
    assert cr.cuda.is_bf16_supported() is torch.cuda.is_bf16_supported() is False
    assert cr.promote_types(cr.bfloat16, cr.float32) == cr.float32


# ---- cumsum / cumprod dtype ---------------------------------------------------------------
def test_cumsum_cumprod_dtype_as_torch() -> None:
    data = [[1, 0, 3], [2, 5, 1]]
    for dtype in (None, "float64", "int32"):
        for src in ("int32", "bool", "float32"):
            tt = torch.tensor(data).to(getattr(torch, src))
            ct = cr.tensor(data).to(getattr(cr, src))
            kw = {} if dtype is None else {"dtype": getattr(torch, dtype)}
            kc = {} if dtype is None else {"dtype": getattr(cr, dtype)}
            for fn in ("cumsum", "cumprod"):
                a = getattr(torch, fn)(tt, 1, **kw)
                b = getattr(ct, fn)(1, **kc)
                assert str(b.dtype).split(".")[-1] == str(a.dtype).split(".")[-1], (fn, src)
                np.testing.assert_array_equal(b.numpy(), a.numpy())


# ---- scatter_reduce with infinite values ----------------------------------------------------
@pytest.mark.parametrize("reduce", ["amax", "amin", "sum", "mean", "prod"])
def test_scatter_reduce_keeps_infinities_and_gradients_as_torch(reduce: str) -> None:
    """A ``-inf`` / ``inf`` start (the segment-softmax idiom) stays infinite where nothing is
    scattered, and the gradients equal PyTorch's."""
    rng = np.random.default_rng(2)
    src = rng.standard_normal((6, 3))
    index = np.array([[0, 0, 0], [0, 2, 0], [2, 2, 2], [5, 5, 5], [5, 0, 5], [5, 5, 2]])
    start = np.full((6, 3), -np.inf if reduce != "amin" else np.inf)
    start[1] = rng.standard_normal(3)
    outs = []
    for lib in (torch, cr):
        s = lib.tensor(src, requires_grad=True)
        base = lib.tensor(start, requires_grad=True)
        out = base.scatter_reduce(0, lib.tensor(index), s, reduce=reduce, include_self=True)
        finite = lib.isfinite(out)
        (out[finite] * lib.arange(int(finite.sum()), dtype=out.dtype)).sum().backward()
        outs.append((_np(out), _np(s.grad), _np(base.grad)))
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-12)


def test_module_to_meta_is_a_skeleton_for_functional_call() -> None:
    """The model-ensembling recipe: a ``to("meta")`` copy holds no data (NaN placeholders
    over no memory) and computes with real parameters through ``functional_call``."""
    import copy

    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.BatchNorm1d(4)).eval()
    skeleton = copy.deepcopy(model).to("meta")
    w = skeleton[0].weight
    assert tuple(w.shape) == (4, 3) and w._array.strides == (0, 0)
    assert bool(cr.isnan(skeleton(cr.ones(2, 3))).all())
    x = cr.randn(5, 3)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    out = cr.func.functional_call(skeleton, (params, buffers), (x,))
    np.testing.assert_array_equal(out.detach().numpy(), model(x).detach().numpy())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match="to a meta parameter in the current model, which is a "
                                         "no-op"):
        skeleton.load_state_dict(state)                  # as PyTorch: nothing is copied
    assert bool(cr.isnan(skeleton[0].weight).all())
    skeleton.load_state_dict(state, assign=True)
    np.testing.assert_array_equal(skeleton(x).detach().numpy(), model(x).detach().numpy())
    fresh = copy.deepcopy(model).to("meta").to_empty(device="cpu")
    assert fresh[0].weight._array.flags.writeable


# ---- small names programs import ------------------------------------------------------------
def test_unravel_index_as_torch() -> None:
    for indices, shape in (([5, 7, -1, 0, 8, -9], (2, 4)), (5, (2, 4)), ([4], 6),
                           ([[3, 11], [0, 23]], (2, 3, 4))):
        a = torch.unravel_index(torch.tensor(indices), shape)
        b = cr.unravel_index(cr.tensor(indices), shape)
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert y.dtype == cr.int64 and tuple(y.shape) == tuple(x.shape)
            np.testing.assert_array_equal(y.numpy(), x.numpy())
    for lib in (torch, cr):
        with pytest.raises(TypeError, match="integer dtype"):
            lib.unravel_index(lib.tensor([1.0]), (2,))


def test_sdpa_kernel_and_backends_as_torch() -> None:
    from torch.nn.attention import SDPBackend as TB

    from chainrule.nn.attention import SDPBackend, sdpa_kernel

    assert {n: int(b) for n, b in SDPBackend.__members__.items()} == {
        n: int(b) for n, b in TB.__members__.items()}
    q = cr.randn(2, 3, 5, 4)
    plain = cr.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]):
        inside = cr.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
    np.testing.assert_array_equal(inside.numpy(), plain.numpy())
    with pytest.raises(TypeError), sdpa_kernel("flash"):
        pass


def test_distributions_utils_as_torch() -> None:
    import torch.distributions.utils as tu

    import chainrule.distributions.utils as cu

    x = np.array([[0.3, -1.2, 2.0], [0.0, 0.5, -0.5]])
    p = np.array([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]])
    for binary in (False, True):
        np.testing.assert_allclose(cu.logits_to_probs(cr.tensor(x), binary).numpy(),
                                   tu.logits_to_probs(torch.tensor(x), binary).numpy(),
                                   rtol=1e-12)
        np.testing.assert_allclose(cu.probs_to_logits(cr.tensor(p), binary).numpy(),
                                   tu.probs_to_logits(torch.tensor(p), binary).numpy(),
                                   rtol=1e-12)
