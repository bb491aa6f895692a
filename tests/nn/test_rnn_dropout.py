"""Each RNN dropout placement proven by its defining property, identity in eval mode, and
reproducibility given a generator."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _set(m: nn.Module, **arrays: np.ndarray) -> None:
    with cr.no_grad():
        for name, a in arrays.items():
            getattr(m, name)._array[...] = a


def _train(m: nn.Module, seed: int) -> nn.Module:
    m.generator = cr.Generator().manual_seed(seed)
    return m.train()


def test_parse_and_validation() -> None:
    assert nn.RNNDropout.parse(0.3) == nn.RNNDropout(between_layers=0.3)
    assert nn.RNNDropout.parse({"zoneout": 0.1}).zoneout == 0.1
    with pytest.raises(ValueError, match="unknown RNN dropout placement"):
        nn.LSTM(2, 3, dropout={"zonout": 0.1})
    with pytest.raises(ValueError, match="variational and|between_layers and"):
        nn.LSTM(2, 3, dropout={"between_layers": 0.1, "variational": 0.2})
    with pytest.raises(ValueError, match="Semeniuta"):
        nn.RNN(2, 3, dropout={"recurrent": 0.2})
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.GRU(2, 3, dropout={"zoneout": 1.0})
    with pytest.raises(ValueError, match="range"):
        nn.GRU(2, 3, dropout=1.5)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(2, 3, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.LSTM(2, 3, dropout={"variational": 0.5, "weight_drop": 0.5, "zoneout": 0.1,
                               "recurrent": 0.2})


SPECS = [
    {"between_layers": 0.5},
    {"nonrecurrent": 0.5},
    {"variational": 0.5},
    {"recurrent": 0.5},
    {"weight_drop": 0.5},
    {"zoneout": 0.5},
    {"variational": 0.3, "weight_drop": 0.4, "recurrent": 0.2, "zoneout": 0.1},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "+".join(s))
@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_identity_in_eval_and_active_in_training(spec: dict, cls: type) -> None:
    cr.manual_seed(0)
    m = cls(3, 4, num_layers=2, bidirectional=True, dropout=spec)
    plain = cls(3, 4, num_layers=2, bidirectional=True)
    plain.load_state_dict(m.state_dict())
    x = cr.randn(6, 5, 3)
    m.eval()
    np.testing.assert_array_equal(m(x, lengths=[6, 2, 3, 6, 1])[0]._array,
                                  plain(x, lengths=[6, 2, 3, 6, 1])[0]._array)
    _train(m, 1)
    out = m(x)[0]
    assert not np.allclose(out._array, plain(x)[0]._array)
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "+".join(s))
def test_deterministic_given_generator(spec: dict) -> None:
    cr.manual_seed(0)
    a = nn.LSTM(3, 4, num_layers=2, dropout=spec)
    b = nn.LSTM(3, 4, num_layers=2, dropout=spec)
    b.load_state_dict(a.state_dict())
    x = cr.randn(5, 2, 3)
    ya = _train(a, 7)(x)[0]._array
    yb = _train(b, 7)(x)[0]._array
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, _train(b, 8)(x)[0]._array)


def _identity_rnn(spec: dict, n: int = 16) -> nn.RNN:
    """h_t = relu(x_t W_ihᵀ + h_{t-1} W_hhᵀ) with W_ih = I, W_hh = 0, no bias: y_t = masks ⊙ x_t."""
    m = nn.RNN(n, n, nonlinearity="relu", bias=False, dropout=spec).double()
    _set(m, weight_ih_l0=np.eye(n), weight_hh_l0=np.zeros((n, n)))
    return m


def test_variational_uses_one_mask_per_sequence_on_inputs_and_outputs() -> None:
    p = 0.5
    m = _train(_identity_rnn({"variational": p}), 3)
    x = cr.ones(7, 32, 16, dtype=cr.float64)
    y = m(x)[0]._array
    for t in range(1, 7):
        np.testing.assert_array_equal(y[t], y[0])  # same masks at every step
    assert set(np.unique(y)) == {0.0, 1 / (1 - p) ** 2}  # input mask · output mask
    assert 0.15 < (y[0] > 0).mean() < 0.35  # kept by both masks: (1-p)²
    assert not np.array_equal(y[0, 0], y[0, 1])  # masks differ across the batch


def test_nonrecurrent_draws_a_fresh_mask_per_step() -> None:
    m = _train(_identity_rnn({"nonrecurrent": 0.5}), 3)
    y = m(cr.ones(7, 32, 16, dtype=cr.float64))[0]._array
    assert not np.array_equal(y[1], y[0])
    assert set(np.unique(y)) == {0.0, 4.0}


def test_variational_hidden_mask_is_the_same_at_every_step() -> None:
    """With W_ih = 0 and W_hh = I: h_t = m ⊙ h_{t-1}, so h_t = mᵗ ⊙ h_0 for one fixed mask m."""
    p, n, steps = 0.5, 16, 6
    m = nn.RNN(n, n, nonlinearity="relu", bias=False, dropout={"variational": p}).double()
    _set(m, weight_ih_l0=np.zeros((n, n)), weight_hh_l0=np.eye(n))
    _train(m, 4)
    h0 = cr.ones(1, 64, n, dtype=cr.float64)
    _, hn = m(cr.zeros(steps, 64, n, dtype=cr.float64), h0)
    s = 1 / (1 - p)
    assert set(np.unique(hn._array)) == {0.0, s**steps}
    # one mask reused: a unit survives with probability 1-p, not (1-p)^steps
    assert 0.35 < (hn._array > 0).mean() < 0.65


def test_recurrent_dropout_touches_only_the_candidate() -> None:
    """Semeniuta et al.: c_1 = f c_0 + i d(g) while i, f, o keep their undropped values."""
    p, n, batch = 0.5, 8, 64
    cr.manual_seed(1)
    m = nn.LSTM(3, n, dropout={"recurrent": p}).double()
    rng = np.random.default_rng(0)
    x, h0, c0 = (rng.standard_normal(s) for s in [(1, batch, 3), (1, batch, n), (1, batch, n)])
    w = {k: v._array for k, v in m.state_dict().items()}
    a = x[0] @ w["weight_ih_l0"].T + w["bias_ih_l0"] + h0[0] @ w["weight_hh_l0"].T + w[
        "bias_hh_l0"]
    sig = 1 / (1 + np.exp(-a))
    i, f, g, o = sig[:, :n], sig[:, n:2 * n], np.tanh(a[:, 2 * n:3 * n]), sig[:, 3 * n:]
    _train(m, 5)
    out, (h1, c1) = m(cr.tensor(x), (cr.tensor(h0), cr.tensor(c0)))
    ratio = (c1._array[0] - f * c0[0]) / (i * g)
    assert np.allclose(ratio[np.abs(ratio) < 0.5], 0, atol=1e-9)
    assert np.allclose(ratio[np.abs(ratio) >= 0.5], 1 / (1 - p), rtol=1e-9)
    assert 0.3 < (np.abs(ratio) < 0.5).mean() < 0.7
    np.testing.assert_allclose(h1._array[0], o * np.tanh(c1._array[0]), rtol=1e-12)


def test_gru_recurrent_dropout_touches_only_the_candidate() -> None:
    p, n = 0.5, 8
    cr.manual_seed(2)
    m = nn.GRU(3, n, dropout={"recurrent": p}).double()
    cell = nn.GRUCell(3, n).double()
    cell.load_state_dict({k[:-3]: v for k, v in m.state_dict().items()})
    x, h0 = cr.randn(1, 64, 3, dtype=cr.float64), cr.randn(1, 64, n, dtype=cr.float64)
    ref = cell(x[0], h0[0])._array  # (1 - z) n + z h0
    w = {k: v._array for k, v in cell.state_dict().items()}
    gi = x._array[0] @ w["weight_ih"].T + w["bias_ih"]
    gh = h0._array[0] @ w["weight_hh"].T + w["bias_hh"]
    z = 1 / (1 + np.exp(-(gi[:, n:2 * n] + gh[:, n:2 * n])))
    _, h1 = _train(m, 6)(x, h0)
    # h1 - z h0 = (1 - z) d(n); ref - z h0 = (1 - z) n
    ratio = (h1._array[0] - z * h0._array[0]) / (ref - z * h0._array[0])
    kept = np.abs(ratio) >= 0.5
    assert np.allclose(ratio[~kept], 0, atol=1e-9) and np.allclose(ratio[kept], 2.0, rtol=1e-9)


def test_weight_drop_uses_one_weight_mask_for_all_steps() -> None:
    """h_0 = identity rows reveals the dropped W'_hh column by column at step 1; later steps
    must use the same W' (Merity et al.: one DropConnect mask per forward pass)."""
    p, n, steps = 0.5, 6, 4
    m = nn.RNN(1, n, nonlinearity="relu", bias=False, dropout={"weight_drop": p}).double()
    w = np.abs(np.random.default_rng(0).standard_normal((n, n))) + 0.1
    _set(m, weight_ih_l0=np.zeros((n, 1)), weight_hh_l0=w)
    _train(m, 9)
    h0 = cr.tensor(np.eye(n)[None])
    y = m(cr.zeros(steps, n, 1, dtype=cr.float64), h0)[0]._array
    w_drop = y[0].T  # column b = relu(W' e_b) = W'[:, b]
    assert set(np.unique(np.round(w_drop / w, 12))) == {0.0, 2.0}
    for t in range(1, steps):
        np.testing.assert_allclose(y[t], y[t - 1] @ w_drop.T, rtol=1e-12)
    assert not np.array_equal(m(cr.zeros(steps, n, 1, dtype=cr.float64), h0)[0]._array[0], y[0])
    out = m(cr.zeros(steps, n, 1, dtype=cr.float64), h0)[0]
    out.sum().backward()
    assert np.any(m.weight_hh_l0.grad._array == 0) and np.any(m.weight_hh_l0.grad._array != 0)


def test_zoneout_keeps_exact_previous_values() -> None:
    p, n, batch, steps = 0.4, 8, 32, 5
    cr.manual_seed(3)
    m = nn.GRU(3, n, dropout={"zoneout": p}).double()
    cell = nn.GRUCell(3, n).double()
    cell.load_state_dict({k[:-3]: v for k, v in m.state_dict().items()})
    x, h0 = cr.randn(steps, batch, 3, dtype=cr.float64), cr.randn(1, batch, n, dtype=cr.float64)
    y = _train(m, 10)(x, h0)[0]._array
    prev = h0._array[0]
    kept_total = 0.0
    for t in range(steps):
        kept = y[t] == prev  # zoned-out units hold their exact previous value
        new = cell(x[t], cr.tensor(prev))._array
        np.testing.assert_allclose(y[t][~kept], new[~kept], rtol=1e-12)
        kept_total += kept.mean()
        prev = y[t]
    assert 0.25 < kept_total / steps < 0.55


def test_lstm_zoneout_keeps_previous_hidden_values() -> None:
    cr.manual_seed(4)
    m = nn.LSTM(3, 8, dropout={"zoneout": 0.5}).double()
    y = _train(m, 11)(cr.randn(6, 32, 3, dtype=cr.float64))[0]._array
    same = (y[1:] == y[:-1]).mean()
    assert 0.35 < same < 0.65


def test_between_layers_skips_input_and_last_output() -> None:
    cr.manual_seed(5)
    with pytest.warns(UserWarning):
        one = nn.GRU(3, 4, dropout=0.5)
    x = cr.randn(4, 2, 3)
    ref = one.eval()(x)[0]._array
    np.testing.assert_array_equal(_train(one, 1)(x)[0]._array, ref)  # one layer: nothing to drop
    two = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    plain = nn.GRU(3, 4, num_layers=2)
    plain.load_state_dict(two.state_dict())
    assert not np.allclose(_train(two, 1)(x)[0]._array, plain(x)[0]._array)
