"""LayerNorm inside the recurrence (Ba et al. 2016) and recurrent BatchNorm (Cooijmans et al.
2016) against step-by-step torch references; padding never changes BatchNorm statistics; the
policy for test sequences longer than any seen in training."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402
from chainrule import nn  # noqa: E402
from chainrule.nn._functional.recurrent import bn_rows  # noqa: E402

I, H, T, B = 3, 4, 5, 3
EPS = 1e-5


def _torch_params(m: nn.Module, rng: np.random.Generator) -> dict:
    """Randomise every parameter (so norm gains/biases matter) and return torch leaves."""
    out = {}
    for name, p in m.named_parameters():
        p._array[...] = rng.uniform(0.5, 1.5, p.shape) if "weight" in name and (
            name.startswith(("ln_", "bn_"))) else rng.uniform(-0.5, 0.5, p.shape)
        out[name] = torch.tensor(p._array.copy(), requires_grad=True)
    return out


def _ln(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps=EPS)


def _bn(x: torch.Tensor, v: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> tuple:
    """Masked batch statistics over dim -2 (the batch), as the layer computes them."""
    n = v.sum(-2, keepdim=True).clamp(min=1)
    mean = (x * v).sum(-2, keepdim=True) / n
    var = ((x - mean) ** 2 * v).sum(-2, keepdim=True) / n
    y = (x - mean) / torch.sqrt(var + EPS) * w
    return (y if b is None else y + b), mean, var


def _reference(kind: str, norm: str, P: dict, x: torch.Tensor, h0: torch.Tensor,
               c0: torch.Tensor, lengths: list) -> tuple:
    """One layer, one direction, step by step in torch."""
    valid = (torch.arange(T)[:, None] < torch.tensor(lengths)[None, :]).double()[..., None]
    xs = x @ P["weight_ih_l0"].T
    if norm == "ln":
        xs = _ln(xs, P["ln_ih_weight_l0"], P["ln_ih_bias_l0"])
    else:
        xs = _bn(xs, valid, P["bn_ih_weight_l0"], None)[0]
    xs = xs + P["bias_ih_l0"]
    h, c, ys = h0, c0, []
    for t in range(T):
        hh = h @ P["weight_hh_l0"].T
        if norm == "ln":
            hh = _ln(hh, P["ln_hh_weight_l0"], P["ln_hh_bias_l0"])
        else:
            hh = _bn(hh, valid[t], P["bn_hh_weight_l0"], None)[0]
        hh = hh + P["bias_hh_l0"]
        a = xs[t] + hh
        if kind == "LSTM":
            i, f, g, o = a[:, :H].sigmoid(), a[:, H:2 * H].sigmoid(), a[:, 2 * H:3 * H].tanh(), \
                a[:, 3 * H:].sigmoid()
            cn = f * c + i * g
            cc = (_ln(cn, P["ln_c_weight_l0"], P["ln_c_bias_l0"]) if norm == "ln" else
                  _bn(cn, valid[t], P["bn_c_weight_l0"], P["bn_c_bias_l0"])[0])
            hn = o * cc.tanh()
        else:
            rz = (xs[t][:, :2 * H] + hh[:, :2 * H]).sigmoid()
            r, z = rz[:, :H], rz[:, H:]
            n = (xs[t][:, 2 * H:] + r * hh[:, 2 * H:]).tanh()
            hn, cn = (1 - z) * n + z * h, c
        v = valid[t]
        ys.append(hn * v)
        h = v * hn + (1 - v) * h
        c = v * cn + (1 - v) * c
    return torch.stack(ys), h, c


@pytest.mark.parametrize("kind,norm", [("LSTM", "ln"), ("GRU", "ln"), ("LSTM", "bn"),
                                       ("GRU", "bn")])
def test_matches_step_by_step_reference(kind: str, norm: str) -> None:
    rng = np.random.default_rng(0)
    cls = nn.LSTM if kind == "LSTM" else nn.GRU
    m = cls(I, H, layer_norm=norm == "ln", batch_norm=norm == "bn").double()
    P = _torch_params(m, rng)
    lengths = [5, 2, 4]
    x, h0, c0 = (rng.standard_normal(s) for s in [(T, B, I), (1, B, H), (1, B, H)])
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    ty, thn, tcn = _reference(kind, norm, P, tx, th[0], tc[0], lengths)
    cx, ch, cc = (cr.tensor(a, requires_grad=True) for a in (x, h0, c0))
    if kind == "LSTM":
        cy, (chn, ccn) = m(cx, (ch, cc), lengths=lengths)
        outs = [(cy, ty), (chn[0], thn), (ccn[0], tcn)]
    else:
        cy, chn = m(cx, ch, lengths=lengths)
        outs = [(cy, ty), (chn[0], thn)]
    gs = [rng.standard_normal(tuple(t.shape)) for _, t in outs]
    for c, t in outs:
        np.testing.assert_allclose(c._array, t.detach().numpy(), rtol=1e-9, atol=1e-12)
    torch.autograd.backward([t for _, t in outs], [torch.tensor(g) for g in gs])
    cr.autograd.backward([c for c, _ in outs], [cr.tensor(g) for g in gs])
    np.testing.assert_allclose(cx.grad._array, tx.grad.numpy(), rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(ch.grad._array, th.grad.numpy(), rtol=1e-8, atol=1e-11)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad._array, P[name].grad.numpy(), rtol=1e-8, atol=1e-11,
                                   err_msg=name)


def test_batch_norm_running_statistics_per_step() -> None:
    """Rows 0, 1 get one update each from the valid entries of their step; steps 2, 3, 4 share
    the last row of a 3-row buffer and update it in order (the variance, unbiased, only where a
    step has more than one valid entry)."""
    rng = np.random.default_rng(1)
    m = nn.LSTM(I, H, batch_norm=True, bn_max_steps=3).double()
    x = rng.standard_normal((T, B, I))
    lengths = [5, 2, 4]
    m(cr.tensor(x), lengths=lengths)
    proj = x @ m.weight_ih_l0._array.T
    valid = np.arange(T)[:, None] < np.array(lengths)[None, :]
    mean, var = np.zeros((3, 4 * H)), np.ones((3, 4 * H))
    for t in range(T):
        row, v = min(t, 2), proj[t][valid[t]]
        mean[row] = 0.9 * mean[row] + 0.1 * v.mean(0)
        if len(v) > 1:
            var[row] = 0.9 * var[row] + 0.1 * v.var(0, ddof=1)
    np.testing.assert_allclose(m.bn_ih_running_mean_l0._array, mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m.bn_ih_running_var_l0._array, var, rtol=1e-12)
    assert int(m.bn_steps_seen._array) == 5


def test_padding_does_not_change_batch_statistics() -> None:
    rng = np.random.default_rng(2)
    lengths = [5, 2, 3]
    valid = np.arange(T)[:, None] < np.array(lengths)[None, :]
    x = rng.standard_normal((T, B, I))
    x_garbage = np.where(valid[..., None], x, 1e3 * rng.standard_normal((T, B, I)))
    results = []
    for data in (x, x_garbage):
        cr.manual_seed(0)
        m = nn.GRU(I, H, num_layers=2, bidirectional=True, batch_norm=True).double()
        cx = cr.tensor(data, requires_grad=True)
        y, h = m(cx, lengths=lengths)
        (y.sum() + h.sum()).backward()
        results.append((y._array, h._array, cx.grad._array * valid[..., None],
                        {k: v._array.copy() for k, v in m.named_buffers()},
                        {k: p.grad._array for k, p in m.named_parameters()}))
    (y1, h1, g1, b1, p1), (y2, h2, g2, b2, p2) = results
    np.testing.assert_allclose(y1, y2, rtol=1e-12)
    np.testing.assert_allclose(h1, h2, rtol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-12)
    for k in b1:
        np.testing.assert_allclose(b1[k], b2[k], rtol=1e-12, err_msg=k)
    for k in p1:
        np.testing.assert_allclose(p1[k], p2[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_longer_test_sequences_reuse_the_last_seen_step() -> None:
    cr.manual_seed(3)
    m = nn.LSTM(I, H, batch_norm=True, bn_max_steps=16).double()
    for _ in range(3):
        m(cr.randn(4, 8, I, dtype=cr.float64))  # training length 4
    assert int(m.bn_steps_seen._array) == 4
    m.eval()
    x = cr.randn(7, 2, I, dtype=cr.float64)
    y = m(x)[0]._array
    manual = nn.LSTM(I, H, batch_norm=True, bn_max_steps=16).double()
    manual.load_state_dict(m.state_dict())
    for name, buf in manual.named_buffers():
        if "running" in name:
            buf._array[4:7] = buf._array[3]  # steps 4..6 given step 3's statistics explicitly
    manual.bn_steps_seen._array[...] = 16
    manual.eval()
    np.testing.assert_allclose(y, manual(x)[0]._array, rtol=1e-12)
    np.testing.assert_array_equal(bn_rows(0, 7, 16, 4, training=False), [0, 1, 2, 3, 3, 3, 3])
    np.testing.assert_array_equal(bn_rows(0, 5, 3, 0, training=True), [0, 1, 2, 2, 2])


def test_norm_options_state_dict_and_errors() -> None:
    m = nn.LayerNormLSTM(I, H, bidirectional=True)
    keys = list(m.state_dict())
    assert keys[:8] == list(torch.nn.LSTM(I, H, bidirectional=True).state_dict())
    assert "ln_c_weight_l0_reverse" in keys and "ln_ih_bias_l0" in keys
    gru = nn.LayerNormGRU(I, H)
    assert "ln_c_weight_l0" not in gru.state_dict()
    bn = nn.GRU(I, H, batch_norm=True, bn_max_steps=10)
    assert bn.bn_hh_running_mean_l0.shape == (10, 3 * H)
    assert "bn_hh_weight_l0" in dict(bn.named_parameters())
    assert "bn_hh_running_var_l0" not in dict(bn.named_parameters())
    np.testing.assert_allclose(bn.bn_ih_weight_l0._array, 0.1)
    missing, unexpected = bn.load_state_dict(torch.nn.GRU(I, H).state_dict(), strict=False)
    assert unexpected == [] and all(k.startswith("bn_") for k in missing)
    with pytest.raises(ValueError, match="layer_norm or batch_norm"):
        nn.LSTM(I, H, layer_norm=True, batch_norm=True)
    out, _ = nn.LayerNormLSTM(I, H, num_layers=2, dropout={"variational": 0.2, "zoneout": 0.1})(
        cr.randn(T, B, I), lengths=[5, 1, 3])
    out.sum().backward()
    assert np.all(out._array[3:, 2] == 0)
