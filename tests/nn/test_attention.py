"""Scaled dot-product attention and multi-head attention against PyTorch 2.13 in float64:
outputs, attention weights and every gradient (random upstream gradients), with boolean and
float masks, causal masks, padding masks, bias_k/bias_v, zero attention, kdim/vdim, batch_first
and unbatched inputs; central finite differences; dropout masks drawn from chainrule's generator;
initialisation and state_dict keys; the errors for bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from chainrule import nn  # noqa: E402
from chainrule.autograd import gradcheck, gradgradcheck  # noqa: E402

TF = torch.nn.functional


def _grads_match(cr_leaves: list, t_leaves: list, what: str) -> None:
    for k, (c, t) in enumerate(zip(cr_leaves, t_leaves)):
        if t.grad is None:
            assert c.grad is None or not np.any(c.grad._array), f"{what}: leaf {k}"
        else:
            assert_close(c.grad, t.grad, what=f"{what}: grad of leaf {k}")


# ---- scaled_dot_product_attention -------------------------------------------------------------

SDPA_CASES = {
    # name: (q shape, k shape, v shape, mask kind, mask shape, is_causal, scale)
    "2d": ((4, 3), (5, 3), (5, 2), None, None, False, None),
    "3d plain": ((2, 4, 3), (2, 5, 3), (2, 5, 6), None, None, False, None),
    "4d bool mask": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5), "bool", (4, 6), False, None),
    "4d bool per-head mask": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 8), "bool", (2, 3, 4, 6),
                              False, None),
    "float mask broadcast": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 8), "float", (1, 3, 1, 6),
                             False, 0.3),
    "causal L<S": ((2, 4, 3), (2, 6, 3), (2, 6, 3), None, None, True, None),
    "causal L>S": ((2, 6, 3), (2, 4, 3), (2, 4, 3), None, None, True, None),
    "broadcast batch": ((3, 2, 4, 5), (2, 6, 5), (2, 6, 5), None, None, False, None),
    "5d": ((2, 2, 2, 3, 4), (2, 2, 2, 5, 4), (2, 2, 2, 5, 4), "bool", (3, 5), False, 1.7),
}


def _mask(kind: str | None, shape: tuple | None, r: np.random.Generator) -> np.ndarray | None:
    if kind is None:
        return None
    if kind == "bool":
        m = r.random(shape) < 0.7
        m[..., 0] = True  # at least one key per query (dead rows have their own test)
        return m
    return r.standard_normal(shape)


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_matches_torch(case: str) -> None:
    qs, ks, vs, kind, ms, causal, scale = SDPA_CASES[case]
    r = rng(3)
    arrs = [r.standard_normal(s) for s in (qs, ks, vs)]
    m = _mask(kind, ms, r)
    xc = [as_cr(a, True) for a in arrs]
    xt = [as_torch(a, True) for a in arrs]
    mc = None if m is None else as_cr(m, kind == "float")
    mt = None if m is None else as_torch(m, kind == "float")
    oc = F.scaled_dot_product_attention(*xc, attn_mask=mc, is_causal=causal, scale=scale)
    ot = TF.scaled_dot_product_attention(*xt, attn_mask=mt, is_causal=causal, scale=scale)
    assert_close(oc, ot, what="output")
    g = r.standard_normal(ot.shape)
    oc.backward(cr.tensor(g))
    ot.backward(as_torch(g))
    leaves_c, leaves_t = xc + ([mc] if kind == "float" else []), xt + (
        [mt] if kind == "float" else [])
    _grads_match(leaves_c, leaves_t, case)


def test_sdpa_row_with_every_key_masked_is_zero_with_zero_gradient() -> None:
    r = rng(4)
    arrs = [r.standard_normal(s) for s in ((2, 3, 5), (2, 4, 5), (2, 4, 2))]
    bool_mask = np.ones((3, 4), bool)
    bool_mask[1] = False
    float_mask = np.where(bool_mask, 0.0, -np.inf)
    for m in (bool_mask, float_mask):
        xc, xt = [as_cr(a, True) for a in arrs], [as_torch(a, True) for a in arrs]
        oc = F.scaled_dot_product_attention(*xc, attn_mask=as_cr(m))
        ot = TF.scaled_dot_product_attention(*xt, attn_mask=as_torch(m))
        assert_close(oc, ot, what="output")
        assert not np.any(oc._array[:, 1])
        g = r.standard_normal(ot.shape)
        oc.backward(cr.tensor(g))
        ot.backward(as_torch(g))
        _grads_match(xc, xt, "dead row")
        assert np.all(np.isfinite(xc[0].grad._array)) and not np.any(xc[0].grad._array[:, 1])


def test_sdpa_grouped_query_attention_matches_torch() -> None:
    r = rng(5)
    arrs = [r.standard_normal(s) for s in ((2, 6, 3, 4), (2, 2, 5, 4), (2, 3, 5, 4))]
    xc, xt = [as_cr(a, True) for a in arrs], [as_torch(a, True) for a in arrs]
    oc = F.scaled_dot_product_attention(*xc, is_causal=True, enable_gqa=True)
    ot = TF.scaled_dot_product_attention(*xt, is_causal=True, enable_gqa=True)
    assert_close(oc, ot, what="output")
    g = r.standard_normal(ot.shape)
    oc.backward(cr.tensor(g))
    ot.backward(as_torch(g))
    _grads_match(xc, xt, "gqa")


def test_sdpa_central_differences() -> None:
    r = rng(6)
    q, k, v = (cr.tensor(r.standard_normal(s), requires_grad=True)
               for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    fm = cr.tensor(r.standard_normal((3, 5)), requires_grad=True)
    assert gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                     (q, k, v, fm), eps=1e-6, atol=1e-7, rtol=1e-6)
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                                    scale=0.7),
                     (q, k, v), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_sdpa_second_derivatives() -> None:
    r = rng(13)
    q, k, v = (cr.tensor(r.standard_normal(s), requires_grad=True)
               for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    m = cr.tensor(r.random((3, 5)) < 0.7)
    assert gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                         (q, k, v))


def test_sdpa_dropout_uses_the_generator_on_the_weights() -> None:
    """out = (softmax(QKᵀ/√E) ⊙ m / (1 − p)) V with m drawn from the given generator; the same
    seed gives the same output, and the gradient passes finite differences with the mask held."""
    r = rng(7)
    arrs = [r.standard_normal((2, 4, 3)) for _ in range(3)]
    p = 0.4
    q, k, v = (cr.tensor(a, requires_grad=True) for a in arrs)

    def run(q: cr.Tensor, k: cr.Tensor, v: cr.Tensor) -> cr.Tensor:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p,
                                              generator=cr.Generator().manual_seed(11))

    out = run(q, k, v)
    mask = F.dropout(cr.ones(2, 4, 4, dtype=cr.float64), p,
                     generator=cr.Generator().manual_seed(11)).numpy()
    assert set(np.unique(mask)) <= {0.0, 1.0 / (1 - p)} and 0 < (mask == 0).mean() < 1
    qt, kt, vt = (as_torch(a) for a in arrs)
    w = torch.softmax(qt @ kt.transpose(-2, -1) / math.sqrt(3), -1).numpy()
    np.testing.assert_allclose(out.detach().numpy(), (w * mask) @ arrs[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(out._array, run(q, k, v)._array)
    assert gradcheck(run, (q, k, v), eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("bad, match", [
    ({"attn_mask": np.ones((4, 4), bool), "is_causal": True}, "is_causal"),
    ({"attn_mask": np.ones((4, 4), np.int64)}, "attn_mask dtype"),
    ({"dropout_p": 1.5}, "dropout probability"),
])
def test_sdpa_refuses_bad_arguments(bad: dict, match: str) -> None:
    x = cr.randn(2, 4, 3, dtype=cr.float64)
    if "attn_mask" in bad:
        bad = {**bad, "attn_mask": cr.tensor(bad["attn_mask"])}
    with pytest.raises(RuntimeError, match=match):
        F.scaled_dot_product_attention(x, x, x, **bad)


def test_sdpa_refuses_bad_shapes() -> None:
    x = cr.randn(4, dtype=cr.float64)
    with pytest.raises(RuntimeError, match="at least 2 dimensional"):
        F.scaled_dot_product_attention(x, x, x)
    q, k = cr.randn(1, 4, 3, 8, dtype=cr.float64), cr.randn(1, 3, 5, 8, dtype=cr.float64)
    with pytest.raises(RuntimeError, match="must divide"):
        F.scaled_dot_product_attention(q, k, k, enable_gqa=True)
    with pytest.raises(RuntimeError, match="same dtype"):
        F.scaled_dot_product_attention(q, q.float(), q)


# ---- nn.MultiheadAttention --------------------------------------------------------------------

E, H, L, S, N = 8, 2, 4, 5, 3


def _mha_pair(**kw: object) -> tuple:
    tm = torch.nn.MultiheadAttention(E, H, **kw).double()
    cm = nn.MultiheadAttention(E, H, **kw).double()
    sd = tm.state_dict()
    assert list(cm.state_dict().keys()) == list(sd.keys())
    cm.load_state_dict({k: v.detach().numpy() for k, v in sd.items()})
    return tm, cm


def check_mha(tm: object, cm: object, q: np.ndarray, k: np.ndarray | None, v: np.ndarray | None,
             call: dict, seed: int = 0) -> None:
    """Run both on (q, k, v) (k/v None: self-attention on the same tensor, k is v when v is
    None), compare outputs, weights and all gradients."""
    def leaves(conv: object) -> list:
        qq = conv(q, True)
        kk = qq if k is None else conv(k, True)
        vv = kk if v is None else conv(v, True)
        return [qq, kk, vv]

    xc, xt = leaves(as_cr), leaves(as_torch)
    kc = {n: (as_cr(a) if isinstance(a, np.ndarray) else a) for n, a in call.items()}
    kt = {n: (as_torch(a) if isinstance(a, np.ndarray) else a) for n, a in call.items()}
    oc, wc = cm(*xc, **kc)
    ot, wt = tm(*xt, **kt)
    assert_close(oc, ot, what="output")
    assert (wc is None) == (wt is None)
    r = rng(seed)
    g = r.standard_normal(ot.shape)
    lc, lt = (oc * cr.tensor(g)).sum(), (ot * as_torch(g)).sum()
    if wt is not None:
        assert_close(wc, wt, what="weights")
        gw = r.standard_normal(wt.shape)
        lc, lt = lc + (wc * cr.tensor(gw)).sum(), lt + (wt * as_torch(gw)).sum()
    lc.backward()
    lt.backward()
    uniq = lambda xs: [x for i, x in enumerate(xs) if all(x is not y for y in xs[:i])]  # noqa: E731
    _grads_match(uniq(xc), uniq(xt), "inputs")
    pc, pt = list(cm.named_parameters()), list(tm.named_parameters())
    assert [n for n, _ in pc] == [n for n, _ in pt]
    _grads_match([p for _, p in pc], [p for _, p in pt], "parameters")


def _masks(batched: bool, seed: int = 1) -> dict:
    r = rng(seed)
    kpm = r.random((N, S) if batched else (S,)) < 0.3
    kpm[..., 0] = False  # every query keeps at least one key
    am = r.random((L, S)) < 0.3
    am[:, 1] = False
    return {"kpm": kpm, "am": am, "am_float": r.standard_normal((L, S)),
            "am3": r.standard_normal((N * H, L, S)) if batched else r.standard_normal((H, L, S)),
            "kpm_float": np.where(kpm, -1e9, 0.0) + r.standard_normal(kpm.shape)}


MASK_SETS = {
    "none": lambda m: {},
    "kpm": lambda m: {"key_padding_mask": m["kpm"]},
    "attn bool": lambda m: {"attn_mask": m["am"]},
    "attn float 3d": lambda m: {"attn_mask": m["am3"]},
    "both bool": lambda m: {"attn_mask": m["am"], "key_padding_mask": m["kpm"]},
    "both float": lambda m: {"attn_mask": m["am_float"], "key_padding_mask": m["kpm_float"]},
}


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("masks", list(MASK_SETS))
def test_mha_cross_attention_matches_torch(batch_first: bool, need_weights: bool, average: bool,
                                           masks: str) -> None:
    tm, cm = _mha_pair(batch_first=batch_first)
    r = rng(2)
    shape = (lambda T: (N, T, E)) if batch_first else (lambda T: (T, N, E))
    q, kv = r.standard_normal(shape(L)), r.standard_normal(shape(S))
    call = {"need_weights": need_weights, "average_attn_weights": average,
            **MASK_SETS[masks](_masks(True))}
    check_mha(tm, cm, q, kv, None, call)  # key is value: the two-GEMM packed projection


@pytest.mark.parametrize("kw", [
    {"add_bias_kv": True}, {"add_zero_attn": True}, {"add_bias_kv": True, "add_zero_attn": True},
    {"bias": False}, {"kdim": 3, "vdim": 6}, {"kdim": 3, "vdim": 6, "add_bias_kv": True},
], ids=str)
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_options_match_torch(kw: dict, need_weights: bool) -> None:
    tm, cm = _mha_pair(**kw)
    r = rng(8)
    q = r.standard_normal((L, N, E))
    k = r.standard_normal((S, N, kw.get("kdim", E)))
    v = r.standard_normal((S, N, kw.get("vdim", E)))
    m = _masks(True)
    call = {"need_weights": need_weights, "attn_mask": m["am"], "key_padding_mask": m["kpm"]}
    check_mha(tm, cm, q, k, v, call)


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_self_attention_same_tensor_and_causal_hint(batch_first: bool) -> None:
    tm, cm = _mha_pair(batch_first=batch_first)
    r = rng(9)
    x = r.standard_normal((N, L, E) if batch_first else (L, N, E))
    causal = np.triu(np.full((L, L), -np.inf), 1)
    for call in ({}, {"attn_mask": causal, "is_causal": True, "need_weights": False},
                 {"attn_mask": causal, "is_causal": True, "need_weights": True}):
        check_mha(tm, cm, x, None, None, call)


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_unbatched_matches_torch(need_weights: bool) -> None:
    tm, cm = _mha_pair(batch_first=True)  # batch_first is ignored for unbatched input
    r = rng(10)
    m = _masks(False)
    call = {"need_weights": need_weights, "key_padding_mask": m["kpm"], "attn_mask": m["am3"],
            "average_attn_weights": False}
    check_mha(tm, cm, r.standard_normal((L, E)), r.standard_normal((S, E)),
             r.standard_normal((S, E)), call)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_mha_fully_padded_query_nan_with_weights_zero_without() -> None:
    """A batch entry whose every key is padding: PyTorch's weights path gives NaN (plain
    softmax), its SDPA path 0; chainrule reproduces both."""
    tm, cm = _mha_pair()
    x = rng(11).standard_normal((L, N, E))
    kpm = np.zeros((N, L), bool)
    kpm[1] = True
    for need in (True, False):
        oc, _ = cm(as_cr(x), as_cr(x), as_cr(x), key_padding_mask=as_cr(kpm), need_weights=need)
        ot, _ = tm(as_torch(x), as_torch(x), as_torch(x), key_padding_mask=as_torch(kpm),
                   need_weights=need)
        np.testing.assert_allclose(oc._array, ot.detach().numpy(), rtol=1e-9, atol=1e-11)
        assert np.isnan(oc._array[:, 1]).all() == need


def test_mha_mismatched_mask_types_warn_like_torch() -> None:
    _, cm = _mha_pair()
    x = cr.randn(L, N, E, dtype=cr.float64)
    m = _masks(True)
    kpm = as_cr(np.zeros((N, L), bool))
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        cm(x, x, x, key_padding_mask=kpm, attn_mask=as_cr(m["am_float"][:, :L]))


def test_mha_float32_matches_torch_and_keeps_float32() -> None:
    tm = torch.nn.MultiheadAttention(E, H, batch_first=True)
    cm = nn.MultiheadAttention(E, H, batch_first=True)
    cm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng(14).standard_normal((N, L, E)).astype(np.float32)
    kpm = np.zeros((N, L), bool)
    kpm[0, 2:] = True
    oc, wc = cm(as_cr(x), as_cr(x), as_cr(x), key_padding_mask=as_cr(kpm))
    ot, wt = tm(as_torch(x), as_torch(x), as_torch(x), key_padding_mask=as_torch(kpm))
    assert oc.dtype == wc.dtype == cr.float32
    assert_close(oc, ot, rtol=1e-5, atol=1e-6, what="output")
    assert_close(wc, wt, rtol=1e-5, atol=1e-6, what="weights")
    assert repr(cm) == repr(tm)


def test_mha_init_and_state_dict_keys() -> None:
    cr.manual_seed(0)
    for kw in ({}, {"kdim": 3, "vdim": 5, "add_bias_kv": True}, {"bias": False}):
        cm = nn.MultiheadAttention(E, H, **kw)
        tm = torch.nn.MultiheadAttention(E, H, **kw)
        assert list(cm.state_dict().keys()) == list(tm.state_dict().keys())
        assert [tuple(p.shape) for p in cm.parameters()] == \
            [tuple(p.shape) for p in tm.parameters()]
    cm = nn.MultiheadAttention(64, 4)
    bound = math.sqrt(6 / (64 + 3 * 64))  # xavier_uniform_ on the (3E, E) packed weight
    w = cm.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.std(w) == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert not np.any(cm.in_proj_bias._array) and not np.any(cm.out_proj.bias._array)
    ob = 1 / math.sqrt(64)  # out_proj keeps Linear's default init
    assert 0.9 * ob < np.abs(cm.out_proj.weight._array).max() <= ob
    assert cm.in_proj_weight.dtype == cr.float32
    from chainrule.nn.modules.activation import MultiheadAttention

    assert MultiheadAttention is nn.MultiheadAttention


def test_mha_dropout_trains_with_generator_and_is_off_in_eval() -> None:
    cm = nn.MultiheadAttention(E, H, dropout=0.5, generator=cr.Generator().manual_seed(0))
    cm.double()
    x = cr.tensor(rng(12).standard_normal((L, N, E)))

    def run(**kw: object) -> tuple[np.ndarray, np.ndarray]:
        with cr.no_grad():
            o, w = cm(x, x, x, **kw)
        return o.numpy(), w.numpy()

    cm.eval()
    o_eval, w_eval = run(average_attn_weights=False)
    cm.train()
    o1, w1 = run(average_attn_weights=False)
    o2, _ = run()
    assert not np.allclose(o1, o_eval)
    assert not np.allclose(o1, o2)  # fresh masks every call
    # the returned weights are the dropped ones: per-head entries are 0 or 2 x softmax
    ratio = w1 / w_eval
    assert np.all(np.isclose(ratio, 0.0) | np.isclose(ratio, 2.0))
    assert 0.3 < np.isclose(ratio, 0.0).mean() < 0.7
    cm.generator.manual_seed(3)
    a = run()[0]
    cm.generator.manual_seed(3)
    np.testing.assert_array_equal(a, run()[0])
    cm.eval()
    np.testing.assert_array_equal(run(average_attn_weights=False)[0], o_eval)
    cm0 = nn.MultiheadAttention(E, H, dropout=0.0).double().train()
    cm0.load_state_dict(cm.state_dict())
    with cr.no_grad():
        np.testing.assert_allclose(cm0(x, x, x)[0].numpy(), o_eval, rtol=1e-12)


@pytest.mark.parametrize("call, exc, match", [
    ({"is_causal": True}, RuntimeError, "Need attn_mask"),
    ({"attn_mask": np.zeros((L, L + 1))}, RuntimeError, "shape of the 2D attn_mask"),
    ({"attn_mask": np.zeros((2, L, L))}, RuntimeError, "shape of the 3D attn_mask"),
    ({"attn_mask": np.zeros((L, L), np.int64)}, AssertionError, "only bool and floating"),
    ({"key_padding_mask": np.zeros((N, L + 1), bool)}, AssertionError, "key_padded_mask"),
])
def test_mha_refuses_bad_masks(call: dict, exc: type, match: str) -> None:
    _, cm = _mha_pair()
    x = cr.randn(L, N, E, dtype=cr.float64)
    with pytest.raises(exc, match=match):
        cm(x, x, x, **{k: as_cr(v) for k, v in call.items()})


def test_mha_refuses_bad_construction_and_inputs() -> None:
    with pytest.raises(AssertionError, match="divisible"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match="greater than 0"):
        nn.MultiheadAttention(0, 1)
    cm = nn.MultiheadAttention(E, H)
    with pytest.raises(AssertionError, match="3-D"):
        cm(cr.randn(L, N, E), cr.randn(S, E), cr.randn(S, E))
    with pytest.raises(AssertionError, match="embedding dimension"):
        x = cr.randn(L, N, E + 2)
        cm(x, x, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cm(cr.randn(L, N, E), cr.randn(S, N, E), cr.randn(S, N, E))
