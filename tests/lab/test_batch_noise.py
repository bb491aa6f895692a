"""E1b (batch size vs the gradient noise scale): per-example gradients from
``chainrule.func.vmap(chainrule.func.grad(·))`` against a loop of ordinary backward passes
(chainrule's and torch's, float64), the noise-scale estimate against the formula written out in
torch, the B_crit fit against a known curve, and the experiment's tiny run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from lab_checks import tiny_suite

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.func import functional_call, grad, vmap
from chainrule.lab.experiments import batch_noise as bn

results, test_tiny_run_gives_a_valid_result = tiny_suite(["E1b"])


def _pair(seed: int = 0):
    cr.manual_seed(seed)
    m = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).double()
    t = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(),
                            torch.nn.Linear(7, 3)).double()
    t.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                       for k, v in m.state_dict().items()})
    return m, t


def _data(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


def test_vmap_grad_equals_a_loop_of_backward_passes():
    m, t = _pair()
    x, y = _data(12)
    params = {k: v.detach() for k, v in m.named_parameters()}

    def loss(p, xi, yi):
        return F.cross_entropy(functional_call(m, p, (xi[None],)), yi[None])

    per = vmap(grad(loss), in_dims=(None, 0, 0))(params, cr.from_numpy(x), cr.from_numpy(y))
    for i in range(len(y)):
        # chainrule: one ordinary backward pass per example
        m.zero_grad()
        F.cross_entropy(m(cr.from_numpy(x[i:i + 1])), cr.from_numpy(y[i:i + 1])).backward()
        # torch: the same, as the independent reference
        t.zero_grad()
        torch.nn.functional.cross_entropy(t(torch.from_numpy(x[i:i + 1])),
                                          torch.from_numpy(y[i:i + 1])).backward()
        for (k, p), tp in zip(m.named_parameters(), t.parameters()):
            got = per[k].numpy()[i]
            np.testing.assert_allclose(got, p.grad.numpy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(got, tp.grad.numpy(), rtol=1e-10, atol=1e-12)
    # the experiment's own check reports the same agreement, and catches a wrong gradient
    assert bn.per_example_check(m, x[:6], y[:6]) < 1e-12


def test_noise_scale_matches_the_formula_in_torch():
    m, t = _pair(3)
    x, y = _data(40, 4)
    got = bn.noise_scale(m, x, y, n_examples=16, seed=5)
    pick = np.random.default_rng(5 + 7).choice(len(y), size=16, replace=False)
    rows = []
    for i in pick:
        t.zero_grad()
        torch.nn.functional.cross_entropy(t(torch.from_numpy(x[i:i + 1])),
                                          torch.from_numpy(y[i:i + 1])).backward()
        rows.append(torch.cat([p.grad.flatten() for p in t.parameters()]))
    g = torch.stack(rows)
    trace = torch.cov(g.T).trace().item()  # unbiased (n − 1)
    t.zero_grad()
    torch.nn.functional.cross_entropy(t(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    full = torch.cat([p.grad.flatten() for p in t.parameters()])
    np.testing.assert_allclose(got["trace_cov"], trace, rtol=1e-10)
    np.testing.assert_allclose(got["grad_sq_norm"], full.dot(full).item(), rtol=1e-10)
    np.testing.assert_allclose(got["b_simple"], trace / full.dot(full).item(), rtol=1e-10)
    assert all(p.grad is None for p in m.parameters())  # the model is left clean


def test_fit_recovers_a_known_critical_batch():
    b = np.array([1, 4, 16, 64, 256, 1024], dtype=float)
    s_min, b_crit = 20.0, 37.0
    got = bn.fit_critical_batch(b, s_min * (1 + b_crit / b))
    np.testing.assert_allclose(got, (s_min, b_crit), rtol=1e-6)
    noisy = s_min * (1 + b_crit / b) * np.exp(np.random.default_rng(0).normal(0, 0.05, 6))
    assert abs(math.log(bn.fit_critical_batch(b, noisy)[1] / b_crit)) < 0.3
    assert all(math.isnan(v) for v in bn.fit_critical_batch(b, np.r_[np.inf, noisy[1:]]))


def test_steps_to_target_is_paired_and_capped():
    x, y = _data(60, 6)
    x = x.astype(np.float32)
    data = (x[:48], y[:48], x[48:], y[48:])
    inits = []

    def build():
        model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
        inits.append(model[0].weight.detach().numpy().copy())
        return model

    seen = []
    steps, _ = bn.steps_to_target(build, 0, 4, 0.1, data, target=50.0, cap=5,
                                  on_step=lambda k, m: seen.append(k))
    assert steps == 1.0 and seen == [0, 1]  # any model beats a loss of 50 after one step
    steps, _ = bn.steps_to_target(build, 0, 48, 0.1, data, target=0.0, cap=5)
    assert steps == math.inf  # a loss of 0 is never reached within the cap
    np.testing.assert_array_equal(inits[0], inits[1])  # same seed, same init at any batch
    with pytest.raises(ValueError, match="batch must be in"):
        bn.steps_to_target(build, 0, 49, 0.1, data, target=1.0, cap=5)


def test_e1b_registers_its_parts(results):
    res = results["E1b"]
    names = [p.name for p in res.parts]
    assert any("B_noise" in n and "critical" in n for n in names)
    assert any("steps" in n and "batch" in n for n in names)
    kinds = {p.name: p.kind for p in res.parts}
    assert kinds["per-example gradients (vmap∘grad) equal one backward pass per example"] \
        == "verified"
    assert res.numbers["per_example_vs_loop_max_rel_diff"] < 1e-5
    assert len(res.tuning) == len(res.numbers["batches"])
