"""nn.init against torch.nn.init: gains, fans, exact structured inits, and the distributions
of the random ones (bounds and standard deviations within statistical tolerance)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import assert_close  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
from chainrule.nn import init  # noqa: E402

SHAPE = (300, 200)  # 60,000 draws: a std is known to ~0.3 %, we allow 3 %
TOL = 0.03


@pytest.fixture(autouse=True)
def _seeded():
    cr.manual_seed(0)
    torch.manual_seed(0)


def _both(shape):
    return cr.empty(*shape, dtype=cr.float64), torch.empty(*shape, dtype=torch.float64)


def _std_matches(mine, theirs, expected=None):
    a = mine._array if isinstance(mine, cr.Tensor) else mine
    b = theirs.detach().numpy()
    assert abs(a.std() / b.std() - 1) < TOL, (a.std(), b.std())
    assert abs(a.mean() - b.mean()) < 5 * b.std() / math.sqrt(b.size) + 1e-12
    if expected is not None:
        assert abs(a.std() / expected - 1) < TOL, (a.std(), expected)


@pytest.mark.parametrize("name,param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None),
    ("conv_transpose2d", None),
])
def test_calculate_gain_equals_torch(name, param):
    assert math.isclose(init.calculate_gain(name, param),
                        torch.nn.init.calculate_gain(name, param))


def test_gain_and_fan_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(cr.empty(5))
    with pytest.raises(ValueError, match="Mode"):
        init.kaiming_normal_(cr.empty(3, 3), mode="fan_avg")


@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5, 5), (2, 4, 3), (6, 2, 3, 3, 3)])
def test_fans_equal_torch(shape):
    assert init._calculate_fan_in_and_fan_out(cr.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_uniform_normal_constant():
    a = init.uniform_(cr.empty(*SHAPE, dtype=cr.float64), -2.0, 3.0)
    assert a._array.min() >= -2.0 and a._array.max() < 3.0
    assert abs(a._array.std() / (5 / math.sqrt(12)) - 1) < TOL
    n = init.normal_(cr.empty(*SHAPE), 1.5, 0.5)
    assert n.dtype == np.float32
    assert abs(n._array.mean() - 1.5) < 0.01 and abs(n._array.std() / 0.5 - 1) < TOL
    assert np.all(init.constant_(cr.empty(2, 3), 0.25)._array == 0.25)
    assert np.all(init.ones_(cr.empty(2))._array == 1)
    assert np.all(init.zeros_(cr.ones(2))._array == 0)


def test_trunc_normal_bounds_and_std():
    from scipy.stats import truncnorm

    mine, theirs = _both(SHAPE)
    init.trunc_normal_(mine, 0.5, 2.0, -1.0, 3.0)
    torch.nn.init.trunc_normal_(theirs, 0.5, 2.0, -1.0, 3.0)
    assert mine._array.min() >= -1.0 and mine._array.max() <= 3.0
    expected = truncnorm.std((-1.0 - 0.5) / 2, (3.0 - 0.5) / 2, loc=0.5, scale=2.0)
    _std_matches(mine, theirs, expected)


@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3)])
def test_eye_equals_torch(shape):
    assert_close(init.eye_(cr.empty(*shape)), torch.nn.init.eye_(torch.empty(*shape)))


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 3, 3, 3), 1), ((4, 2, 3, 3), 2),
                                          ((4, 6, 1, 3, 3), 2)])
def test_dirac_equals_torch(shape, groups):
    expected = torch.nn.init.dirac_(torch.empty(*shape), groups)
    assert_close(init.dirac_(cr.empty(*shape), groups), expected)


def test_xavier_distributions():
    fan_in, fan_out = SHAPE[1], SHAPE[0]
    mine, theirs = _both(SHAPE)
    init.xavier_uniform_(mine, gain=2.0)
    torch.nn.init.xavier_uniform_(theirs, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(mine._array).max() <= bound and np.abs(mine._array).max() > 0.99 * bound
    _std_matches(mine, theirs, bound / math.sqrt(3))
    init.xavier_normal_(mine, gain=0.5)
    torch.nn.init.xavier_normal_(theirs, gain=0.5)
    _std_matches(mine, theirs, 0.5 * math.sqrt(2 / (fan_in + fan_out)))


@pytest.mark.parametrize("kw", [
    {}, {"a": math.sqrt(5)}, {"mode": "fan_out"}, {"nonlinearity": "relu"},
    {"nonlinearity": "tanh", "mode": "fan_out"}, {"a": 0.1, "nonlinearity": "leaky_relu"},
])
def test_kaiming_distributions(kw):
    shape = (80, 30, 5, 5)
    mine, theirs = _both(shape)
    init.kaiming_uniform_(mine, **kw)
    torch.nn.init.kaiming_uniform_(theirs, **kw)
    fan = 30 * 25 if kw.get("mode", "fan_in") == "fan_in" else 80 * 25
    std = init.calculate_gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0)) / \
        math.sqrt(fan)
    assert np.abs(mine._array).max() <= math.sqrt(3) * std
    _std_matches(mine, theirs, std)
    init.kaiming_normal_(mine, **kw)
    torch.nn.init.kaiming_normal_(theirs, **kw)
    _std_matches(mine, theirs, std)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5), (4, 2, 3)])
def test_orthogonal(shape):
    w = init.orthogonal_(cr.empty(*shape, dtype=cr.float64), gain=2.0)._array.reshape(shape[0], -1)
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    assert_close(gram, 4.0 * np.eye(min(w.shape)), atol=1e-10)


def test_sparse():
    w = init.sparse_(cr.empty(10, 400, dtype=cr.float64), sparsity=0.3, std=0.02)
    assert np.all((w._array == 0).sum(0) == 3)
    nz = w._array[w._array != 0]
    assert abs(nz.std() / 0.02 - 1) < TOL


def test_generators_make_draws_reproducible():
    a = init.normal_(cr.empty(4, 4), generator=cr.Generator().manual_seed(3))
    b = init.normal_(cr.empty(4, 4), generator=cr.Generator().manual_seed(3))
    c = init.kaiming_uniform_(cr.empty(4, 4), generator=np.random.default_rng(3))
    d = init.kaiming_uniform_(cr.empty(4, 4), generator=np.random.default_rng(3))
    assert_close(a, b)
    assert_close(c, d)
    assert not np.allclose(a._array, init.normal_(cr.empty(4, 4))._array)
    for fn in (init.uniform_, init.trunc_normal_, init.xavier_uniform_, init.xavier_normal_,
               init.kaiming_normal_, init.orthogonal_):
        x = fn(cr.empty(3, 3), generator=cr.Generator().manual_seed(1))
        y = fn(cr.empty(3, 3), generator=cr.Generator().manual_seed(1))
        assert_close(x, y)


def test_init_on_parameters_records_no_graph():
    p = nn.Parameter(cr.empty(3, 3))
    v = p._version
    init.xavier_uniform_(p)
    assert p.grad_fn is None and p.requires_grad and p._version > v


# ---- default initialisation of every layer equals PyTorch's distribution ------------------
# (layer, constructor args, {parameter: ("uniform", bound) | ("normal", std) | ("const", v)})
DEFAULTS = [
    ("Linear", (200, 300), {"weight": ("uniform", 1 / math.sqrt(200)),
                            "bias": ("uniform", 1 / math.sqrt(200))}),
    ("Bilinear", (40, 30, 50), {"weight": ("uniform", 1 / math.sqrt(40)),
                                "bias": ("uniform", 1 / math.sqrt(40))}),
    ("Embedding", (300, 200), {"weight": ("normal", 1.0)}),
    ("PReLU", (7,), {"weight": ("const", 0.25)}),
]


@pytest.mark.parametrize("name,args,dists", DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_default_layer_init_matches_torch(name, args, dists):
    mine, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert [n for n, _ in mine.named_parameters()] == list(dists)
    for (n, pc), (_, pt) in zip(mine.named_parameters(), theirs.named_parameters()):
        a, b = pc._array.astype(np.float64), pt.detach().numpy().astype(np.float64)
        assert a.shape == b.shape and pc.dtype == np.float32
        kind, value = dists[n]
        if kind == "const":
            assert np.all(a == value) and np.all(b == value)
            continue
        std = value / math.sqrt(3) if kind == "uniform" else value
        tol = TOL if a.size > 10_000 else 0.15
        for sample in (a, b):  # ours and torch's follow the same law
            if kind == "uniform":
                assert np.abs(sample).max() <= value and np.abs(sample).max() > 0.9 * value
            assert abs(sample.std() / std - 1) < tol, (n, sample.std(), std)


def test_embedding_padding_row_is_zero_at_init():
    assert np.all(nn.Embedding(10, 4, padding_idx=4).weight._array[4] == 0)
