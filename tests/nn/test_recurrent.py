"""RNN / LSTM / GRU and their cells against torch.nn (float64, copied weights, random upstream
gradients): outputs, final states and every gradient; variable lengths against torch's packed
sequences; the fused primitive against the composite path; double backward."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402
from chainrule import nn  # noqa: E402
from chainrule.autograd import gradgradcheck  # noqa: E402
from chainrule.nn._functional import recurrent as R  # noqa: E402
from chainrule.nn.utils import rnn as U  # noqa: E402

I, H, T, B = 3, 4, 5, 3
KINDS = {
    "LSTM": (torch.nn.LSTM, nn.LSTM, {}),
    "GRU": (torch.nn.GRU, nn.GRU, {}),
    "RNN_TANH": (torch.nn.RNN, nn.RNN, {"nonlinearity": "tanh"}),
    "RNN_RELU": (torch.nn.RNN, nn.RNN, {"nonlinearity": "relu"}),
}


def _pair(kind: str, **kw: object) -> tuple:
    tcls, ccls, extra = KINDS[kind]
    tm = tcls(I, H, **extra, **kw).double()
    cm = ccls(I, H, **extra, **kw).double()
    cm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, cm


def _states(kind: str, s: object) -> list:
    return list(s) if kind == "LSTM" else [s]


def _check_against_torch(kind: str, bidirectional: bool, num_layers: int, batch_first: bool,
                         lengths: list | None, with_hx: bool, enforce_sorted: bool = False,
                         seed: int = 0, bias: bool = True) -> None:
    rng = np.random.default_rng(seed)
    tm, cm = _pair(kind, num_layers=num_layers, bidirectional=bidirectional,
                   batch_first=batch_first, bias=bias)
    nd = num_layers * (2 if bidirectional else 1)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    t_h, c_h = [], []
    for _ in range(2 if kind == "LSTM" else 1):
        h = rng.standard_normal((nd, B, H))
        t_h.append(torch.tensor(h, requires_grad=True))
        c_h.append(cr.tensor(h, requires_grad=True))
    thx = (tuple(t_h) if kind == "LSTM" else t_h[0]) if with_hx else None
    chx = (tuple(c_h) if kind == "LSTM" else c_h[0]) if with_hx else None
    if lengths is None:
        to, ts = tm(tx, thx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            tx, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted)
        tp, ts = tm(packed, thx)
        to, _ = torch.nn.utils.rnn.pad_packed_sequence(tp, batch_first=batch_first,
                                                       total_length=T)
    co, cs = cm(cx, chx, lengths=lengths)
    ts, cs = _states(kind, ts), _states(kind, cs)
    np.testing.assert_allclose(co.data, to.detach().numpy(), rtol=1e-9, atol=1e-12)
    for a, b in zip(cs, ts):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-9, atol=1e-12)
    gs = [rng.standard_normal(tuple(o.shape)) for o in [to, *ts]]
    torch.autograd.backward([to, *ts], [torch.tensor(g) for g in gs])
    cr.autograd.backward([co, *cs], [cr.tensor(g) for g in gs])
    np.testing.assert_allclose(cx.grad.data, tx.grad.numpy(), rtol=1e-8, atol=1e-11)
    if with_hx:
        for a, b in zip(c_h, t_h):
            np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-8, atol=1e-11)
    tparams = dict(tm.named_parameters())
    names = [n for n, _ in cm.named_parameters()]
    assert names == list(tparams)
    for n, p in cm.named_parameters():
        np.testing.assert_allclose(p.grad.data, tparams[n].grad.numpy(), rtol=1e-8, atol=1e-11,
                                   err_msg=n)


CONFIGS = [
    # bidirectional, num_layers, batch_first, lengths, with_hx
    (False, 1, False, None, False),
    (False, 1, True, None, True),
    (True, 1, False, None, True),
    (True, 2, True, None, True),
    (False, 2, False, [5, 2, 4], True),
    (True, 2, True, [3, 5, 1], False),
    (True, 1, False, [2, 5, 5], True),
]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
def test_matches_torch(kind: str, config: tuple) -> None:
    _check_against_torch(kind, *config)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
def test_lstm_factors_in_blocks_of_steps_match_torch(config: tuple,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The NumPy LSTM backward computes its factors a block of steps at a time: blocks of one
    or two steps (a partial block first, masked steps inside) give torch's gradients."""
    from chainrule.ops import recurrent as ops_recurrent

    monkeypatch.setattr(ops_recurrent, "FACTOR_BLOCK_BYTES", 2 * B * H * 8 + 8)
    _check_against_torch("LSTM", *config)


def test_lengths_sorted_packing_matches_torch() -> None:
    _check_against_torch("LSTM", True, 2, False, [5, 4, 2], True, enforce_sorted=True)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_packed_sequence_input(kind: str) -> None:
    rng = np.random.default_rng(1)
    tm, cm = _pair(kind, bidirectional=True, batch_first=True)
    x = rng.standard_normal((B, T, I))
    lengths = [2, 5, 3]
    tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=True,
                                                 enforce_sorted=False)
    cp = U.pack_padded_sequence(cx, lengths, batch_first=True, enforce_sorted=False)
    np.testing.assert_allclose(cp.data.data, tp.data.detach().numpy())
    np.testing.assert_array_equal(cp.batch_sizes.data, tp.batch_sizes.numpy())
    np.testing.assert_array_equal(cp.sorted_indices.data, tp.sorted_indices.numpy())
    hs = [rng.standard_normal((2, B, H)) for _ in range(2 if kind == "LSTM" else 1)]
    thx = tuple(torch.tensor(h) for h in hs) if kind == "LSTM" else torch.tensor(hs[0])
    chx = tuple(cr.tensor(h) for h in hs) if kind == "LSTM" else cr.tensor(hs[0])
    to, ts = tm(tp, thx)  # hx in the original batch order, as in PyTorch
    co, cs = cm(cp, chx)
    assert isinstance(co, U.PackedSequence)
    np.testing.assert_array_equal(co.batch_sizes.data, to.batch_sizes.numpy())
    np.testing.assert_allclose(co.data.data, to.data.detach().numpy(), atol=1e-12)
    for a, b in zip(_states(kind, cs), _states(kind, ts)):
        np.testing.assert_allclose(a.data, b.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(tuple(to.data.shape))
    to.data.backward(torch.tensor(g))
    co.data.backward(cr.tensor(g))
    np.testing.assert_allclose(cx.grad.data, tx.grad.numpy(), atol=1e-11)


def test_rnn_utils_match_torch() -> None:
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((n, 2)) for n in (3, 5, 1)]
    for bf in (False, True):
        for side in ("right", "left"):
            t = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=bf,
                                                padding_value=-1.0, padding_side=side)
            c = U.pad_sequence([cr.tensor(s) for s in seqs], batch_first=bf, padding_value=-1.0,
                               padding_side=side)
            np.testing.assert_allclose(c.data, t.numpy())
    tpk = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    cpk = U.pack_sequence([cr.tensor(s) for s in seqs], enforce_sorted=False)
    np.testing.assert_allclose(cpk.data.data, tpk.data.numpy())
    tpad, tl = torch.nn.utils.rnn.pad_packed_sequence(tpk, batch_first=True, padding_value=7.0,
                                                      total_length=6)
    cpad, cl = U.pad_packed_sequence(cpk, batch_first=True, padding_value=7.0, total_length=6)
    np.testing.assert_allclose(cpad.data, tpad.numpy())
    np.testing.assert_array_equal(cl.data, tl.numpy())
    for a, s in zip(U.unpack_sequence(cpk), seqs):
        np.testing.assert_allclose(a.data, s)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        U.pack_padded_sequence(cr.zeros(5, 3, 2), [1, 5, 3])
    with pytest.raises(ValueError, match="total_length"):
        U.pad_packed_sequence(cpk, total_length=2)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
def test_cells_match_torch(kind: str) -> None:
    rng = np.random.default_rng(3)
    tcls = {"LSTM": torch.nn.LSTMCell, "GRU": torch.nn.GRUCell}.get(kind, torch.nn.RNNCell)
    ccls = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell}.get(kind, nn.RNNCell)
    extra = {"nonlinearity": kind[4:].lower()} if kind.startswith("RNN") else {}
    tm, cm = tcls(I, H, **extra).double(), ccls(I, H, **extra).double()
    cm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((B, I))
    hs = [rng.standard_normal((B, H)) for _ in range(2 if kind == "LSTM" else 1)]
    tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    th = [torch.tensor(h, requires_grad=True) for h in hs]
    ch = [cr.tensor(h, requires_grad=True) for h in hs]
    to = tm(tx, tuple(th) if kind == "LSTM" else th[0])
    co = cm(cx, tuple(ch) if kind == "LSTM" else ch[0])
    to, co = _states(kind, to), _states(kind, co)
    gs = [rng.standard_normal((B, H)) for _ in to]
    for a, b in zip(co, to):
        np.testing.assert_allclose(a.data, b.detach().numpy(), atol=1e-12)
    torch.autograd.backward(to, [torch.tensor(g) for g in gs])
    cr.autograd.backward(co, [cr.tensor(g) for g in gs])
    np.testing.assert_allclose(cx.grad.data, tx.grad.numpy(), atol=1e-11)
    for a, b in zip(ch, th):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=1e-11)
    tparams = dict(tm.named_parameters())
    for n, p in cm.named_parameters():
        np.testing.assert_allclose(p.grad.data, tparams[n].grad.numpy(), atol=1e-11, err_msg=n)
    unbatched = cm(cr.tensor(x[0]))
    assert _states(kind, unbatched)[0].shape == (H,)


def test_unbatched_input_matches_torch() -> None:
    tm, cm = _pair("LSTM", num_layers=2, bidirectional=True)
    x = np.random.default_rng(4).standard_normal((T, I))
    to, (th, tc) = tm(torch.tensor(x))
    co, (ch, cc) = cm(cr.tensor(x))
    assert co.shape == (T, 2 * H) and ch.shape == (4, H)
    np.testing.assert_allclose(co.data, to.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(cc.data, tc.detach().numpy(), atol=1e-12)


def _scan_inputs(mode: str, D: int, bf: bool, seed: int, t: int = T, b: int = B,
                 h: int = H) -> list:
    """Leaves for a fused/composite scan: xproj, h0, c0, W_hh per direction, b_hh per direction."""
    rng = np.random.default_rng(seed)
    G = {"LSTM": 4, "GRU": 3}.get(mode, 1) * h
    xs = [rng.standard_normal((b, t, D * G) if bf else (t, b, D * G)),
          rng.standard_normal((D, b, h)), rng.standard_normal((D, b, h))]
    xs += [rng.standard_normal((G, h)) * 0.5 for _ in range(D)]
    xs += [rng.standard_normal(G) * 0.5 for _ in range(D)]
    return [cr.tensor(a, requires_grad=True) for a in xs]


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize("D,bf,lengths", [(1, False, None), (2, True, [5, 2, 3])])
def test_fused_equals_composite(mode: str, D: int, bf: bool, lengths: list | None) -> None:
    lens = None if lengths is None else np.asarray(lengths)
    results = []
    for fn in (R.fused_scan, R.scan_layer):
        xs = _scan_inputs(mode, D, bf, seed=5)
        c0 = xs[2] if mode == "LSTM" else None
        out = fn(mode, xs[0], xs[1], c0, xs[3:3 + D], xs[3 + D:], bf, lens)
        outs = [o for o in out if o is not None]
        rng = np.random.default_rng(6)
        cr.autograd.backward(outs, [cr.tensor(rng.standard_normal(o.shape)) for o in outs])
        results.append(([o.data for o in outs],
                        [a.grad.data for a in xs if a.grad is not None]))
    (o1, g1), (o2, g2) = results
    assert len(g1) == len(g2)
    for a, b in zip(o1 + g1, o2 + g2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_double_backward_through_fused_scan(mode: str) -> None:
    D, lens = 2, np.asarray([3, 2])
    xs = _scan_inputs(mode, D, False, seed=7, t=3, b=2, h=2)

    def f(*args: cr.Tensor) -> tuple:
        c0 = args[2] if mode == "LSTM" else None
        out, hn, cn = R.fused_scan(mode, args[0], args[1], c0, list(args[3:3 + D]),
                                   list(args[3 + D:]), False, lens)
        return (out, hn) if cn is None else (out, hn, cn)

    assert gradgradcheck(f, xs, atol=1e-5, rtol=1e-4)


def test_hessian_vector_product_through_lstm() -> None:
    """d/dW of (dL/dW · v) equals a central difference of dL/dW along v."""
    cr.manual_seed(0)
    m = nn.LSTM(2, 3, num_layers=2).double()
    x = cr.randn(4, 2, 2, dtype=cr.float64)
    w = m.weight_hh_l0
    v = np.random.default_rng(9).standard_normal(w.shape)

    def grad_w() -> np.ndarray:
        loss = (m(x)[0] ** 2).sum()
        (g,) = cr.autograd.grad(loss, w, create_graph=True)
        return g

    g = grad_w()
    (hv,) = cr.autograd.grad((g * cr.tensor(v)).sum(), w)
    eps = 1e-6
    with cr.no_grad():
        w.data += eps * v
    gp = grad_w()._array.copy()
    with cr.no_grad():
        w.data -= 2 * eps * v
    gm = grad_w()._array.copy()
    with cr.no_grad():
        w.data += eps * v
    np.testing.assert_allclose(hv.data, (gp - gm) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_state_dict_keys_shapes_and_init() -> None:
    tm = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True)
    cm = nn.GRU(3, 5, num_layers=2, bidirectional=True)
    tsd, csd = tm.state_dict(), cm.state_dict()
    assert list(csd) == list(tsd)
    for k in tsd:
        assert tuple(csd[k].shape) == tuple(tsd[k].shape), k
    bound = 1 / np.sqrt(5)
    allv = np.concatenate([p._array.ravel() for p in cm.parameters()])
    assert allv.min() >= -bound and allv.max() <= bound and allv.std() > bound / 3
    assert cm.weight_ih_l0.dtype == cr.float32
    assert len(cm.all_weights) == 4 and len(cm.all_weights[0]) == 4
    assert "bidirectional=True" in repr(cm)
    nb = nn.LSTM(3, 5, bias=False)
    assert [n for n, _ in nb.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_bias_false_matches_torch(kind: str) -> None:
    _check_against_torch(kind, True, 2, False, [5, 3, 2], True, bias=False)


def test_float32_matches_torch() -> None:
    rng = np.random.default_rng(11)
    tm = torch.nn.LSTM(I, 16, num_layers=2, bidirectional=True)
    cm = nn.LSTM(I, 16, num_layers=2, bidirectional=True)
    cm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    to, _ = tm(tx)
    co, _ = cm(cx)
    assert co.dtype == cr.float32
    np.testing.assert_allclose(co.data, to.detach().numpy(), rtol=1e-4, atol=1e-6)
    g = rng.standard_normal(tuple(to.shape)).astype(np.float32)
    to.backward(torch.tensor(g))
    co.backward(cr.tensor(g))
    np.testing.assert_allclose(cx.grad.data, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert cm.weight_hh_l1_reverse.grad.dtype == cr.float32


def test_float32_default_and_no_grad_path() -> None:
    m = nn.LSTM(I, H, batch_first=True)
    with cr.no_grad():
        out, (h, c) = m(cr.randn(B, T, I))
    assert out.dtype == cr.float32 and h.shape == (1, B, H) and out.grad_fn is None
    np.testing.assert_allclose(out.data[:, -1], h.data[0], rtol=1e-6)


def test_errors_name_the_problem() -> None:
    m = nn.LSTM(I, H, num_layers=2)
    with pytest.raises(RuntimeError, match="input_size. Expected 3, got 4"):
        m(cr.randn(T, B, 4))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(2, 3, 4\), got"):
        m(cr.randn(T, B, I), (cr.randn(1, B, H), cr.randn(2, B, H)))
    with pytest.raises(ValueError, match="every length must be in"):
        m(cr.randn(T, B, I), lengths=[6, 1, 1])
    with pytest.raises(ValueError, match="lengths has 2 entries"):
        m(cr.randn(T, B, I), lengths=[5, 1])
    with pytest.raises(RuntimeError, match="dtype"):
        m(cr.randn(T, B, I, dtype=cr.float64))
    with pytest.raises(ValueError, match="2D or 3D"):
        m(cr.randn(T))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(2, 3, nonlinearity="gelu")
    with pytest.raises(ValueError, match="hidden_size must be a positive"):
        nn.GRU(2, 0)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_input_changed_in_place_before_backward_is_an_error_as_in_torch(mode: str) -> None:
    """BPTT reads the layer's input (the weight gradient Σ_t da_tᵀ x_t): changing it in place
    between forward and backward must raise, as torch's version check does, never give a
    gradient of the changed values."""
    import torch

    import chainrule as cr

    x_np = np.random.default_rng(0).normal(size=(5, 2, 3))
    for lib in (torch, cr):
        lib.manual_seed(0)
        layer = getattr(lib.nn, mode)(3, 4)
        x = lib.tensor(x_np.copy(), dtype=lib.float32)
        out, _ = layer(x)
        x.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()
