"""The legacy hook forms ``nn.utils.weight_norm`` / ``spectral_norm`` (and their ``remove_``)
against torch 2.13 (float64): state_dict keys, forward, gradients, power iteration in training
vs eval, training steps, removal and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from nn_twin import as_cr, as_torch, assert_close, check_twin, rng

import chainrule as cr
import chainrule.nn as nn


def _twins(make_c, make_t):
    t, c = make_t().double(), make_c().double()
    c.load_state_dict(t.state_dict())
    return c, t


def _legacy_weight_norm(mod, lib, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return lib.nn.utils.weight_norm(mod, **kw)


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_hook_matches_torch(dim):
    c, t = _twins(lambda: nn.Conv1d(3, 4, 2), lambda: torch.nn.Conv1d(3, 4, 2))
    _legacy_weight_norm(c, cr, dim=dim)
    _legacy_weight_norm(t, torch, dim=dim)
    assert list(c.state_dict()) == list(t.state_dict())  # bias, weight_g, weight_v
    assert_close(c.weight_g, t.weight_g)
    check_twin(c, t, [rng(0).standard_normal((2, 3, 5))], copy_state=False)


def test_weight_norm_hook_warns_trains_and_removes():
    c, t = _twins(lambda: nn.Linear(4, 3), lambda: torch.nn.Linear(4, 3))
    with pytest.warns(FutureWarning, match="deprecated"):
        nn.utils.weight_norm(c)
    _legacy_weight_norm(t, torch)
    oc, ot = cr.optim.Adam(c.parameters(), lr=0.05), torch.optim.Adam(t.parameters(), lr=0.05)
    x, y = rng(1).standard_normal((5, 4)), rng(2).standard_normal((5, 3))
    for _ in range(4):
        for mod, opt, conv in ((c, oc, as_cr), (t, ot, as_torch)):
            opt.zero_grad()
            ((mod(conv(x)) - conv(y)) ** 2).mean().backward()
            opt.step()
    for k, v in t.state_dict().items():
        assert_close(c.state_dict()[k], v, rtol=1e-8, atol=1e-10, what=k)
    nn.utils.remove_weight_norm(c)
    torch.nn.utils.remove_weight_norm(t)
    assert list(c.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    assert isinstance(c.weight, nn.Parameter)
    assert_close(c.weight, t.weight, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        nn.utils.remove_weight_norm(c)
    _legacy_weight_norm(c, cr)
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
        _legacy_weight_norm(c, cr)


def test_spectral_norm_hook_power_iteration_train_and_eval():
    c, t = _twins(lambda: nn.Linear(6, 4), lambda: torch.nn.Linear(6, 4))
    nn.utils.spectral_norm(c, n_power_iterations=2)
    torch.nn.utils.spectral_norm(t, n_power_iterations=2)
    assert list(c.state_dict()) == list(t.state_dict())  # bias, weight_orig, weight_u, weight_v
    c.load_state_dict(t.state_dict())  # torch drew u, v from its own generator
    x = rng(3).standard_normal((3, 6))
    for step in range(3):
        check_twin(c, t, [x], seed=step, copy_state=False)
        assert_close(c.weight_u, t.weight_u)
        assert_close(c.weight_v, t.weight_v)
    c.eval()
    t.eval()
    u = c.weight_u.numpy().copy()
    check_twin(c, t, [x], copy_state=False)
    np.testing.assert_array_equal(c.weight_u.numpy(), u)


def test_spectral_norm_hook_conv_transpose_trains_and_removes():
    c, t = _twins(lambda: nn.ConvTranspose1d(2, 3, 3), lambda: torch.nn.ConvTranspose1d(2, 3, 3))
    nn.utils.spectral_norm(c)
    torch.nn.utils.spectral_norm(t)
    assert c.weight_u.shape == t.weight_u.shape == (3,)  # dim=1 for transposed convolutions
    c.load_state_dict(t.state_dict())
    oc, ot = cr.optim.SGD(c.parameters(), lr=0.1), torch.optim.SGD(t.parameters(), lr=0.1)
    x = rng(4).standard_normal((2, 2, 5))
    for _ in range(3):
        for mod, opt, conv in ((c, oc, as_cr), (t, ot, as_torch)):
            opt.zero_grad()
            (mod(conv(x)) ** 2).sum().backward()
            opt.step()
    for k, v in t.state_dict().items():
        assert_close(c.state_dict()[k], v, rtol=1e-8, atol=1e-10, what=k)
    nn.utils.remove_spectral_norm(c)
    torch.nn.utils.remove_spectral_norm(t)
    assert list(c.state_dict()) == list(t.state_dict())
    assert_close(c.weight, t.weight, rtol=1e-8, atol=1e-10)


def test_spectral_norm_hook_errors():
    m = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="n_power_iterations=0"):
        nn.utils.spectral_norm(m, n_power_iterations=0)
    with pytest.raises(KeyError, match="no parameter named 'w'"):
        nn.utils.spectral_norm(m, name="w")
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        nn.utils.remove_spectral_norm(m)
    nn.utils.spectral_norm(m)
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
        nn.utils.spectral_norm(m)
