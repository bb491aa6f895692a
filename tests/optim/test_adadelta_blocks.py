"""Adadelta's NumPy update, run block by block (the cache-sized blocks of large parameters) or
whole, equals torch.optim.Adadelta (float64, several steps, lr 1 (its pass skipped) or not,
with weight decay (a fourth temporary) and maximize)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402
from chainrule import _jit  # noqa: E402
from chainrule.optim import adadelta  # noqa: E402


@pytest.mark.parametrize("kw", [dict(), dict(lr=0.5, rho=0.8, weight_decay=0.1),
                                dict(weight_decay=0.1), dict(maximize=True)])
@pytest.mark.parametrize("block", [7, 1 << 16])
def test_blocked_numpy_update_equals_torch(kw, block, monkeypatch):
    # block 7: 50 elements in 8 blocks, the last partial; 1 << 16: one whole-array update
    monkeypatch.setattr(adadelta, "_BLOCK", block)
    r = np.random.default_rng(0)
    p0 = r.standard_normal((5, 10))
    pc = cr.nn.Parameter(cr.tensor(p0.copy()))
    pt = torch.nn.Parameter(torch.tensor(p0.copy()))
    oc, ot = adadelta.Adadelta([pc], **kw), torch.optim.Adadelta([pt], **kw)
    with _jit.disabled():
        for _ in range(4):
            g = r.standard_normal(p0.shape)
            pc.grad, pt.grad = cr.tensor(g), torch.tensor(g)
            oc.step()
            ot.step()
    np.testing.assert_allclose(pc.data, pt.detach().numpy(), rtol=1e-12, atol=1e-14)
    st = ot.state[pt]
    np.testing.assert_allclose(oc.state[pc]["square_avg"], st["square_avg"].numpy(), rtol=1e-12)
    np.testing.assert_allclose(oc.state[pc]["acc_delta"], st["acc_delta"].numpy(), rtol=1e-12)
