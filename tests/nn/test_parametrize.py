"""``nn.utils.parametrize`` and ``nn.utils.parametrizations`` against torch 2.13 (float64):
state_dict keys, forward, gradients of a random cotangent, training steps, assignment through
``right_inverse``, removal, caching and the errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from nn_twin import as_cr, as_torch, assert_close, check_twin, rng

import chainrule as cr
import chainrule.nn as nn
from chainrule.nn.utils import parametrizations as PZ
from chainrule.nn.utils import parametrize as P

TP = torch.nn.utils.parametrize
TPZ = torch.nn.utils.parametrizations


def _symmetric(lib):
    class Symmetric(lib.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).mT

        def right_inverse(self, A):
            return A.triu()

    return Symmetric()


def _scale(lib, c):
    class Scale(lib.nn.Module):
        def forward(self, X):
            return X * c

        def right_inverse(self, A):
            return A / c

    return Scale()


def _twin_linear(n_in: int, n_out: int, seed: int = 0):
    t = torch.nn.Linear(n_in, n_out).double()
    c = nn.Linear(n_in, n_out).double()
    c.load_state_dict(t.state_dict())
    return c, t


def test_custom_parametrization_matches_torch():
    c, t = _twin_linear(4, 4)
    P.register_parametrization(c, "weight", _symmetric(cr))
    TP.register_parametrization(t, "weight", _symmetric(torch))
    assert type(c).__name__ == type(t).__name__ == "ParametrizedLinear"
    assert list(c.state_dict()) == list(t.state_dict())
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert P.is_parametrized(c) and P.is_parametrized(c, "weight")
    assert not P.is_parametrized(c, "bias")
    assert P.type_before_parametrizations(c) is nn.Linear
    assert_close(c.parametrizations.weight.original, t.parametrizations.weight.original)
    check_twin(c, t, [rng(1).standard_normal((3, 4))])
    assert_close(c.weight, c.weight.mT)
    assert repr(c).startswith("ParametrizedLinear(")


def test_chained_parametrizations_and_assignment_use_right_inverse():
    c, t = _twin_linear(3, 3)
    for mod, lib in ((c, cr), (t, torch)):
        lib_p = P if lib is cr else TP
        lib_p.register_parametrization(mod, "weight", _symmetric(lib))
        lib_p.register_parametrization(mod, "weight", _scale(lib, 2.0))
    assert list(c.state_dict()) == list(t.state_dict())
    assert len(c.parametrizations.weight) == 2
    a = rng(2).standard_normal((3, 3))
    a = a + a.T
    orig_c = c.parametrizations.weight.original
    c.weight = as_cr(a)
    with torch.no_grad():
        t.weight = as_torch(a)
    assert c.parametrizations.weight.original is orig_c  # same object: optimizers keep it
    assert_close(c.parametrizations.weight.original, t.parametrizations.weight.original)
    assert_close(c.weight, a)
    check_twin(c, t, [rng(3).standard_normal((2, 3))], copy_state=False)


def test_training_steps_match_torch():
    c, t = _twin_linear(5, 5)
    P.register_parametrization(c, "weight", _symmetric(cr))
    TP.register_parametrization(t, "weight", _symmetric(torch))
    oc = cr.optim.SGD(c.parameters(), lr=0.1, momentum=0.9)
    ot = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9)
    x, y = rng(4).standard_normal((8, 5)), rng(5).standard_normal((8, 5))
    for _ in range(4):
        for mod, opt, conv in ((c, oc, as_cr), (t, ot, as_torch)):
            opt.zero_grad()
            loss = ((mod(conv(x)) - conv(y)) ** 2).mean()
            loss.backward()
            opt.step()
    for (n, pc), (_, pt) in zip(c.named_parameters(), t.named_parameters()):
        assert_close(pc, pt, what=n)


def test_remove_parametrizations_both_ways():
    for leave in (True, False):
        c, t = _twin_linear(3, 3)
        P.register_parametrization(c, "weight", _scale(cr, 3.0))
        TP.register_parametrization(t, "weight", _scale(torch, 3.0))
        p_c = c.parametrizations.weight.original
        P.remove_parametrizations(c, "weight", leave_parametrized=leave)
        TP.remove_parametrizations(t, "weight", leave_parametrized=leave)
        assert type(c) is nn.Linear and not P.is_parametrized(c)
        assert not hasattr(c, "parametrizations")
        assert c.weight is p_c and isinstance(c.weight, nn.Parameter)
        assert list(c.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
        assert_close(c.weight, t.weight)


def test_buffer_parametrization_and_cached():
    calls = []

    class Counting(nn.Module):
        def forward(self, X):
            calls.append(1)
            return X * 2

    m = nn.Linear(2, 2)
    m.register_buffer("scale", cr.ones(2))
    P.register_parametrization(m, "scale", Counting())
    assert "parametrizations.scale.original" in m.state_dict()
    assert "parametrizations.scale.original" not in dict(m.named_parameters())
    calls.clear()
    with P.cached():
        a, b = m.scale, m.scale
    assert a is b and len(calls) == 1
    m.scale
    assert len(calls) == 2  # outside the block: recomputed


def test_errors_name_what_was_wrong():
    m = nn.Linear(3, 4)

    class Shrink(nn.Module):
        def forward(self, X):
            return X[:1]

    with pytest.raises(ValueError, match="may not change the shape"):
        P.register_parametrization(m, "weight", Shrink())
    with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
        P.register_parametrization(m, "nope", _scale(cr, 2.0))
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        P.remove_parametrizations(m, "weight")
    P.register_parametrization(m, "weight", _scale(cr, 2.0))
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.weight = nn.Parameter(cr.zeros(4, 3))
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(m)

    class NoInverse(nn.Module):
        def forward(self, X):
            return X

    P.register_parametrization(m, "bias", NoInverse())
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        m.bias = cr.zeros(4)
    wn = PZ.weight_norm(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        P.remove_parametrizations(wn, "weight", leave_parametrized=False)


# ---- weight_norm -----------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, None, -2])
def test_weight_norm_conv_matches_torch(dim):
    t = torch.nn.Conv2d(3, 4, 3).double()
    c = nn.Conv2d(3, 4, 3).double()
    c.load_state_dict(t.state_dict())
    TPZ.weight_norm(t, dim=dim)
    PZ.weight_norm(c, dim=dim)
    assert list(c.state_dict()) == list(t.state_dict())
    for k in ("original0", "original1"):
        assert_close(getattr(c.parametrizations.weight, k), getattr(t.parametrizations.weight, k))
    check_twin(c, t, [rng(6).standard_normal((2, 3, 6, 6))], copy_state=False)


def test_weight_norm_legacy_checkpoint_loads_and_remove_keeps_value():
    t = torch.nn.Linear(4, 3).double()
    with pytest.warns(FutureWarning):
        torch.nn.utils.weight_norm(t)
    c = PZ.weight_norm(nn.Linear(4, 3).double())
    c.load_state_dict(t.state_dict())  # weight_g / weight_v renamed on load
    assert_close(c.weight, t.weight)
    P.remove_parametrizations(c, "weight")
    assert_close(c.weight, t.weight)


# ---- spectral_norm -----------------------------------------------------------------------------
def _copy_state(c, t):
    assert list(c.state_dict()) == list(t.state_dict())
    c.load_state_dict(t.state_dict())


@pytest.mark.parametrize("n_iter", [1, 3])
def test_spectral_norm_power_iteration_train_and_eval(n_iter):
    t = TPZ.spectral_norm(torch.nn.Linear(6, 5).double(), n_power_iterations=n_iter)
    c = PZ.spectral_norm(nn.Linear(6, 5).double(), n_power_iterations=n_iter)
    _copy_state(c, t)  # torch drew u, v from its own generator
    x = rng(7).standard_normal((4, 6))
    for step in range(3):  # every training forward refines u, v in place
        check_twin(c, t, [x], seed=step, copy_state=False)
        assert_close(c.parametrizations.weight[0]._u, t.parametrizations.weight[0]._u)
        assert_close(c.parametrizations.weight[0]._v, t.parametrizations.weight[0]._v)
    c.eval()
    t.eval()
    u_before = c.parametrizations.weight[0]._u.numpy().copy()
    check_twin(c, t, [x], copy_state=False)
    np.testing.assert_array_equal(c.parametrizations.weight[0]._u.numpy(), u_before)


def test_spectral_norm_registration_converges_to_top_singular_value():
    # seeded: 15 power steps converge to 1e-3 only when the top two singular values are apart
    # (unseeded, the result depended on the tests run before; seeds 3 and 5 miss)
    cr.manual_seed(0)
    c = PZ.spectral_norm(nn.Linear(7, 5).double())
    c.eval()
    s = np.linalg.svd(c.weight.detach().numpy(), compute_uv=False)
    assert abs(s[0] - 1.0) < 1e-3  # 15 power steps at registration


def test_spectral_norm_conv_transpose_uses_dim_1_and_1d_weight():
    t = TPZ.spectral_norm(torch.nn.ConvTranspose2d(3, 4, 2).double())
    c = PZ.spectral_norm(nn.ConvTranspose2d(3, 4, 2).double())
    assert c.parametrizations.weight[0].dim == 1
    assert c.parametrizations.weight[0]._u.shape == t.parametrizations.weight[0]._u.shape
    _copy_state(c, t)
    check_twin(c, t, [rng(8).standard_normal((2, 3, 4, 4))], copy_state=False)
    tb = TPZ.spectral_norm(torch.nn.Linear(3, 4).double(), name="bias")
    cb = PZ.spectral_norm(nn.Linear(3, 4).double(), name="bias")
    _copy_state(cb, tb)
    check_twin(cb, tb, [rng(9).standard_normal((2, 3))], copy_state=False)


def test_spectral_norm_errors():
    with pytest.raises(IndexError, match="Dimension out of range"):
        PZ.spectral_norm(nn.Linear(3, 4), dim=2)
    with pytest.raises(ValueError, match="n_power_iterations=0"):
        PZ.spectral_norm(nn.Linear(3, 4), n_power_iterations=0)
    with pytest.raises(ValueError, match="no parameter or buffer with name 'w'"):
        PZ.spectral_norm(nn.Linear(3, 4), name="w")


def test_spectral_norm_training_with_adam_matches_torch():
    t = TPZ.spectral_norm(torch.nn.Linear(4, 4).double())
    c = PZ.spectral_norm(nn.Linear(4, 4).double())
    _copy_state(c, t)
    oc, ot = cr.optim.Adam(c.parameters(), lr=0.05), torch.optim.Adam(t.parameters(), lr=0.05)
    x, y = rng(10).standard_normal((6, 4)), rng(11).standard_normal((6, 4))
    for _ in range(5):
        for mod, opt, conv in ((c, oc, as_cr), (t, ot, as_torch)):
            opt.zero_grad()
            ((mod(conv(x)) - conv(y)) ** 2).mean().backward()
            opt.step()
    for k, v in t.state_dict().items():
        assert_close(c.state_dict()[k], v, rtol=1e-8, atol=1e-10, what=k)


# ---- orthogonal -------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [0.3, 3.0])  # 3.0: matrix_exp scales and squares
@pytest.mark.parametrize("omap", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_square_matches_torch(omap, scale):
    t = TPZ.orthogonal(torch.nn.Linear(4, 4).double(), orthogonal_map=omap)
    c = PZ.orthogonal(nn.Linear(4, 4).double(), orthogonal_map=omap)
    _copy_state(c, t)  # original (−I) and base
    # move the original off −I so the map is exercised away from its fixed point; the diagonal
    # stays −1 (householder reads it as the integer sign of each column, as torch does)
    a = rng(12).standard_normal((4, 4)) * scale
    np.fill_diagonal(a, 0.0)
    with torch.no_grad():
        t.parametrizations.weight.original.add_(as_torch(a))
    c.parametrizations.weight.original.data.add_(as_cr(a))
    check_twin(c, t, [rng(13).standard_normal((3, 4))], copy_state=False)
    w = c.weight.detach().numpy()
    np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_orthogonal_rectangular_is_semi_orthogonal(shape):
    c = PZ.orthogonal(nn.Linear(shape[1], shape[0]).double())
    w = c.weight.detach().numpy()
    gram = w.T @ w if shape[0] > shape[1] else w @ w.T
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-12)
    c.weight.sum().backward()
    assert c.parametrizations.weight.original.grad is not None


def test_orthogonal_householder_without_trivialization_matches_torch():
    t = torch.nn.Linear(3, 5).double()
    c = nn.Linear(3, 5).double()
    c.load_state_dict(t.state_dict())
    TPZ.orthogonal(t, orthogonal_map="householder", use_trivialization=False)
    PZ.orthogonal(c, orthogonal_map="householder", use_trivialization=False)
    assert list(c.state_dict()) == list(t.state_dict())
    assert_close(c.parametrizations.weight.original, t.parametrizations.weight.original,
                 rtol=1e-10, atol=1e-12)
    check_twin(c, t, [rng(14).standard_normal((2, 3))], copy_state=False)
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices"):
        PZ.orthogonal(nn.Linear(3, 5), name="bias")
    with pytest.raises(ValueError, match='orthogonal_map has to be one of'):
        PZ.orthogonal(nn.Linear(3, 5), orthogonal_map="qr")


@pytest.mark.parametrize("kind", ["orthogonal", "weight_norm"])
def test_parametrized_lstm_recurrent_weight_matches_torch(kind):
    """The recurrent layers read their weights through getattr, so a parametrized
    ``weight_hh_l0`` is used (the classic orthogonal-RNN use)."""
    t = torch.nn.LSTM(3, 4, batch_first=True).double()
    c = nn.LSTM(3, 4, batch_first=True).double()
    c.load_state_dict(t.state_dict())
    getattr(TPZ, kind)(t, "weight_hh_l0")
    getattr(PZ, kind)(c, "weight_hh_l0")
    assert list(c.state_dict()) == list(t.state_dict())
    c.load_state_dict(t.state_dict())
    x = rng(15).standard_normal((2, 5, 3))
    out_c, out_t = c(as_cr(x, True))[0], t(as_torch(x, True))[0]
    assert_close(out_c, out_t)
    g = rng(16).standard_normal(tuple(out_t.shape))
    out_c.backward(cr.tensor(g))
    out_t.backward(as_torch(g))
    for (n, pc), (_, pt) in zip(c.named_parameters(), t.named_parameters()):
        assert_close(pc.grad, pt.grad, what=n)
