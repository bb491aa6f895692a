"""Every optimizer configuration under ``chainrule.compile``: the compiled training step equals
the eager one bit for bit (float32 and float64, with an LR scheduler stepping between calls),
and it does replay: a configuration that silently stayed eager would pass the equality
trivially, so the number of replays is checked too."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from test_optim_twins import REGISTRY  # noqa: E402  (the same configurations as vs torch)

import chainrule as cr
from chainrule import nn

STEPS = 12


def _run(name: str, kwargs: dict, dtype: Any, compiled: bool) -> tuple[list, list, Any]:
    rng = np.random.default_rng(4)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).to(dtype)
    with cr.no_grad():
        for p in model.parameters():
            p.copy_(cr.tensor(rng.standard_normal(tuple(p.shape)) * 0.5))
    opt = getattr(cr.optim, name)(model.parameters(), **kwargs)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    x = cr.tensor(rng.standard_normal((8, 4)), dtype=dtype)
    y = cr.tensor(rng.standard_normal((8, 2)), dtype=dtype)

    def step() -> Any:
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    fn = cr.compile(step) if compiled else step
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a capture that gives up says so: fail on it
        for _ in range(STEPS):
            losses.append(fn().item())
            sched.step()
    return losses, [p.detach().numpy().copy() for p in model.parameters()], fn


# every configuration in float64; in float32 (where the scalar coefficients' casts matter)
# the first configuration of each optimizer
_FIRST = {n: kw for n, kw in reversed(REGISTRY)}
CASES = [(n, kw, cr.float64) for n, kw in REGISTRY] + \
    [(n, kw, cr.float32) for n, kw in _FIRST.items()]


@pytest.mark.parametrize("name,kwargs,dtype", CASES,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}-"
                              f"{'f32' if d is cr.float32 else 'f64'}" for n, kw, d in CASES])
def test_compiled_step_equals_eager_bitwise(name: str, kwargs: dict, dtype: Any) -> None:
    le, pe, _ = _run(name, kwargs, dtype, compiled=False)
    lc, pc, fn = _run(name, kwargs, dtype, compiled=True)
    assert le == lc
    for a, b in zip(pe, pc):
        np.testing.assert_array_equal(a, b)
    # calls 1-3 are the warm-up and two captures; a value guard that flips (RAdam's ρ_t > 5,
    # ASGD's μ after t₀) costs a recapture of two calls
    assert fn.replays >= STEPS - 7, (fn.replays, fn.reasons)
