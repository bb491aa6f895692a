"""The recurrent modules' graph paths against torch (float64, copied weights, random
cotangents): double backward through the module (the projection fused into the scan), and a
second backward with ``retain_graph=True`` (the LSTM backward reuses its saved buffers, so the
second pass must recompute them)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402
from chainrule import nn  # noqa: E402

I, H, T, B = 3, 4, 5, 2


def _twins(kind: str, **kw: object) -> tuple:
    cm = getattr(nn, kind)(I, H, **kw).double()
    tm = getattr(torch.nn, kind)(I, H, **kw).double()
    tm.load_state_dict({k: torch.tensor(np.asarray(v.data)) for k, v in cm.state_dict().items()})
    return cm, tm


def _assert_param_grads_equal(cm: object, tm: object) -> None:
    for (name, p), (tname, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        assert name == tname
        ours = np.zeros(tuple(p.shape)) if p.grad is None else p.grad.numpy()
        theirs = np.zeros(tuple(tp.shape)) if tp.grad is None else tp.grad.numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("kind,kw", [
    ("GRU", {"bidirectional": True, "batch_first": True}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
    ("LSTM", {"bidirectional": True}),
    ("GRU", {"bias": False}),
], ids=["gru-bi-bf", "rnn-relu-2layers", "lstm-bi", "gru-nobias"])
def test_double_backward_through_module_matches_torch(kind: str, kw: dict) -> None:
    rng = np.random.default_rng(0)
    cm, tm = _twins(kind, **kw)
    xs = rng.standard_normal((B, T, I) if kw.get("batch_first") else (T, B, I))
    x, xt = cr.tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
    out, tout = cm(x)[0], tm(xt)[0]
    g = rng.standard_normal(tuple(out.shape))
    loss, tloss = (out * cr.tensor(g)).sum(), (tout * torch.tensor(g)).sum()
    gw, gx = cr.autograd.grad(loss, [cm.weight_ih_l0, x], create_graph=True)
    tgw, tgx = torch.autograd.grad(tloss, [tm.weight_ih_l0, xt], create_graph=True)
    np.testing.assert_allclose(gw.detach().numpy(), tgw.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(gx.detach().numpy(), tgx.detach().numpy(), rtol=1e-9, atol=1e-10)
    v, v2 = rng.standard_normal(tuple(gw.shape)), rng.standard_normal(tuple(gx.shape))
    ((gw * cr.tensor(v)).sum() + (gx * cr.tensor(v2)).sum()).backward()
    ((tgw * torch.tensor(v)).sum() + (tgx * torch.tensor(v2)).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-9)
    _assert_param_grads_equal(cm, tm)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional,lengths", [(True, [5, 3]), (False, None)])
def test_second_backward_with_retain_graph_matches_torch(kind: str, bidirectional: bool,
                                                         lengths: list | None) -> None:
    rng = np.random.default_rng(1)
    cm, tm = _twins(kind, bidirectional=bidirectional)
    xs = rng.standard_normal((T, B, I))
    x, xt = cr.tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
    out = cm(x, lengths=lengths)[0] if lengths else cm(x)[0]
    if lengths:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, lengths)
        tout = torch.nn.utils.rnn.pad_packed_sequence(tm(packed)[0], total_length=T)[0]
    else:
        tout = tm(xt)[0]
    g1, g2 = rng.standard_normal(tuple(out.shape)), rng.standard_normal(tuple(out.shape))
    out.backward(cr.tensor(g1), retain_graph=True)
    out.backward(cr.tensor(g2))
    tout.backward(torch.tensor(g1 + g2))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    _assert_param_grads_equal(cm, tm)
