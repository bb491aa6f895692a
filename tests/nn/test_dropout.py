"""The dropout family: inverted scaling keeps the mean, drop rates lie within binomial bounds,
eval is the identity, seeds reproduce masks, channel-wise variants drop whole channels,
alpha dropout keeps SELU statistics, gradients equal the mask; DropConnect drops weights."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, assert_close, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402


def gen(seed: int = 0) -> cr.Generator:
    return cr.Generator().manual_seed(seed)


def _binomial_ok(dropped: int, n: int, p: float) -> bool:
    """Within 5 standard deviations of Binomial(n, p)."""
    return abs(dropped - n * p) <= 5 * np.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_rate_scale_and_mean(p):
    x = cr.ones(200, 500, dtype=cr.float64)
    y = nn.Dropout(p, generator=gen(1))(x)._array
    kept = y != 0
    assert _binomial_ok(int((~kept).sum()), y.size, p)
    np.testing.assert_allclose(y[kept], 1 / (1 - p))
    # E[y] = x: the sample mean within 5 standard errors (Var y = p/(1-p))
    assert abs(y.mean() - 1) < 5 * np.sqrt(p / (1 - p) / y.size)


def test_dropout_eval_identity_and_edge_probabilities():
    x = cr.randn(4, 5)
    d = nn.Dropout(0.5).eval()
    assert d(x) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0)._array, 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    assert repr(nn.Dropout(0.25)) == repr(torch.nn.Dropout(0.25))


def test_same_seed_same_mask_and_manual_seed_reproduces():
    x = cr.ones(50, 50)
    a = nn.Dropout(0.5, generator=gen(7))(x)._array
    b = nn.Dropout(0.5, generator=gen(7))(x)._array
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, nn.Dropout(0.5, generator=gen(8))(x)._array)
    cr.manual_seed(3)
    c = nn.Dropout(0.5)(x)._array
    cr.manual_seed(3)
    np.testing.assert_array_equal(c, nn.Dropout(0.5)(x)._array)
    np.testing.assert_array_equal(F.dropout(x, 0.5, generator=gen(2))._array,
                                  F.dropout(x, 0.5, generator=gen(2))._array)


def test_dropout_gradient_is_the_mask():
    x = as_cr(rng(0).standard_normal((30, 40)), True)
    y = F.dropout(x, 0.3, generator=gen(4))
    mask = (y._array != 0) / 0.7
    g = rng(1).standard_normal(y.shape)
    y.backward(cr.tensor(g))
    assert_close(y._array, x._array * mask)
    assert_close(x.grad, g * mask)


@pytest.mark.parametrize("cls,shape", [("Dropout1d", (40, 30, 7)), ("Dropout2d", (40, 30, 3, 4)),
                                       ("Dropout3d", (20, 30, 2, 2, 3))])
def test_channel_dropout_zeros_whole_channels(cls, shape):
    p = 0.4
    y = getattr(nn, cls)(p, generator=gen(5))(cr.ones(*shape, dtype=cr.float64))._array
    flat = y.reshape(shape[0], shape[1], -1)
    zero = (flat == 0).all(-1)
    assert np.all(zero | (flat == 1 / (1 - p)).all(-1))   # each channel all dropped or all kept
    assert _binomial_ok(int(zero.sum()), zero.size, p)
    if cls == "Dropout2d":
        return  # a 3-D input means (N, C, L) there, as in torch (tested below)
    unbatched = getattr(nn, cls)(p, generator=gen(6))(cr.ones(*shape[1:]))._array
    assert np.all((unbatched.reshape(shape[1], -1) == 0).all(-1) |
                  (unbatched.reshape(shape[1], -1) != 0).all(-1))


def test_dropout2d_three_dim_input_like_torch():
    with pytest.warns(UserWarning, match="channel-wise 1D"):
        y = nn.Dropout2d(0.5, generator=gen(0))(cr.ones(8, 6, 5))._array
    assert np.all((y == 0).all(-1) | (y != 0).all(-1))


@pytest.mark.parametrize("cls", ["AlphaDropout", "FeatureAlphaDropout"])
def test_alpha_dropout_keeps_selu_statistics(cls):
    x = cr.tensor(rng(2).standard_normal((400, 50, 4)))   # zero mean, unit variance
    y = getattr(nn, cls)(0.2, generator=gen(3))(x)._array
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    assert getattr(nn, cls)(0.2).eval()(x) is x
    alpha, p = 1.7580993408473766, 0.2
    a = 1 / np.sqrt((alpha**2 * p + 1) * (1 - p))
    dropped = np.isclose(y, alpha * a * (p - 1))            # a·(−α') + a·α'·p
    if cls == "AlphaDropout":
        assert _binomial_ok(int(dropped.sum()), y.size, p)
    else:                                                   # whole channels
        assert np.all(dropped.all(-1) | ~dropped.any(-1))
        assert _binomial_ok(int(dropped.all(-1).sum()), y.size // 4, p)


def test_dropconnect_drops_weights_not_activations():
    lin = nn.Linear(30, 20).double()
    dc = nn.DropConnect(lin, p=0.5, generator=gen(9))
    x = as_cr(rng(3).standard_normal((64, 30)), True)   # more rows than inputs: W is identifiable
    y = dc(x)
    # one weight mask for the batch: y = x (W ⊙ M)ᵀ / (1 - p) + b for a 0/1 matrix M
    z = (y._array - lin.bias._array) * 0.5
    m, *_ = np.linalg.lstsq(x._array, z, rcond=None)
    mask = m.T / lin.weight._array
    np.testing.assert_allclose(mask, np.round(mask), atol=1e-8)
    assert set(np.unique(np.round(mask))) == {0.0, 1.0}
    assert _binomial_ok(int((np.round(mask) == 0).sum()), mask.size, 0.5)
    assert np.count_nonzero(y._array) == y._array.size         # no activation is zeroed
    g = rng(4).standard_normal(y.shape)
    y.backward(cr.tensor(g))
    assert_close(lin.weight.grad, (g.T @ x._array) * np.round(mask) * 2)  # dropped: no grad
    assert list(dc.state_dict()) == ["module.weight", "module.bias"]
    dc.eval()
    assert_close(dc(x)._array, lin(x)._array)  # mean inference: the mean weights


def test_dropconnect_per_example_and_conv():
    lin = nn.Linear(6, 5).double()
    dc = nn.DropConnect(lin, p=0.5, per_example=True, generator=gen(10))
    x = as_cr(np.tile(rng(5).standard_normal((1, 6)), (8, 1)))
    y = dc(x)._array
    assert len({tuple(np.round(r, 10)) for r in y}) > 1     # same input, different masks
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    for per_example in (False, True):
        dcc = nn.DropConnect(conv, p=0.3, per_example=per_example, generator=gen(11))
        xc = as_cr(rng(6).standard_normal((4, 2, 5, 5)), True)
        out = dcc(xc)
        assert out.shape == (4, 3, 5, 5)
        out.sum().backward()
        assert conv.weight.grad.shape == conv.weight.shape
        conv.zero_grad()
    with pytest.raises(TypeError, match="Linear or Conv"):
        nn.DropConnect(nn.ReLU())


def test_dropconnect_gaussian_inference_matches_monte_carlo():
    """Moment matching: E[relu(u)] under the Gaussian equals the average over sampled masks."""
    lin = nn.Linear(200, 3).double()
    dc = nn.DropConnect(lin, p=0.5, inference="gaussian", n_samples=20000,
                        activation=nn.ReLU(), generator=gen(12))
    x = as_cr(rng(7).standard_normal((2, 200)))
    dc.train()
    mc = np.mean([dc(x)._array for _ in range(2000)], axis=0)
    dc.eval()
    gauss = dc(x)._array
    np.testing.assert_allclose(gauss, mc, rtol=0.1, atol=0.05)
    mean_net = nn.ReLU()(lin(x))._array
    assert not np.allclose(gauss, mean_net, rtol=0.05)     # differs from the mean network
