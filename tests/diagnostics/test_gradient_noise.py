"""Per-example gradient norms and the gradient noise scale vs torch (float64): the
per-example gradients by an explicit loop of torch backward passes, the estimators by the
formulas of McCandlish et al. (2018) written out in torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.diagnostics import gradient_noise_scale, per_example_grad_norms


def _models():
    cr.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    t = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(),
                            torch.nn.Linear(6, 3)).double()
    t.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                       for k, v in m.state_dict().items()})
    return m, t


def _torch_per_example(t, x, y):
    rows = []
    for i in range(len(x)):
        t.zero_grad()
        torch.nn.functional.cross_entropy(t(x[i:i + 1]), y[i:i + 1]).backward()
        rows.append(torch.cat([p.grad.flatten() for p in t.parameters()]))
    return torch.stack(rows)


def test_norms_and_noise_scale_vs_torch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 4)) + 1.0
    y = np.zeros(16, dtype=np.int64)  # one class everywhere: a strong shared gradient
    m, t = _models()
    g = _torch_per_example(t, torch.from_numpy(x), torch.from_numpy(y))
    norms = per_example_grad_norms(m, F.cross_entropy, cr.from_numpy(x), cr.from_numpy(y))
    np.testing.assert_allclose(norms.numpy(), g.norm(dim=1).numpy(), rtol=1e-10)
    for p in m.parameters():
        assert p.grad is None

    ns = gradient_noise_scale(m, F.cross_entropy, cr.from_numpy(x), cr.from_numpy(y))
    b = len(x)
    trace = torch.cov(g.T).trace().item()  # unbiased covariance (n - 1)
    # the batch gradient of the mean loss, from torch's own backward
    t.zero_grad()
    torch.nn.functional.cross_entropy(t(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    full = torch.cat([p.grad.flatten() for p in t.parameters()])
    sig = full.dot(full).item() - trace / b
    assert ns.batch_size == b
    np.testing.assert_allclose(ns.trace_cov, trace, rtol=1e-10)
    np.testing.assert_allclose(ns.mean_grad_sq_norm, full.dot(full).item(), rtol=1e-10)
    np.testing.assert_allclose(ns.grad_sq_norm, sig, rtol=1e-10)
    assert sig > 0
    np.testing.assert_allclose(ns.b_noise, trace / sig, rtol=1e-10)


def test_noise_scale_tracks_label_noise():
    """Identical examples have no gradient noise; random labels have a lot."""
    rng = np.random.default_rng(2)
    m, _ = _models()
    x = np.repeat(rng.standard_normal((1, 4)), 6, axis=0)
    y = np.zeros(6, dtype=np.int64)
    ns = gradient_noise_scale(m, F.cross_entropy, cr.from_numpy(x), cr.from_numpy(y))
    assert ns.trace_cov < 1e-20 and ns.b_noise < 1e-12
    x2, y2 = rng.standard_normal((64, 4)), rng.integers(0, 3, 64)
    noisy = gradient_noise_scale(m, F.cross_entropy, cr.from_numpy(x2), cr.from_numpy(y2))
    assert noisy.b_noise > 1.0
    with pytest.raises(ValueError, match="at least 2"):
        gradient_noise_scale(m, F.cross_entropy, cr.from_numpy(x[:1]), cr.from_numpy(y[:1]))
