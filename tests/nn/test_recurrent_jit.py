"""The compiled LSTM scan (chainrule._jit: gates as (B, 4H) rows, one GEMM per step each way)
gives what the NumPy scan (gate-major blocks) gives: outputs, final states and every gradient,
for both directions, batch_first, variable lengths, no bias, float64 and float32. The torch
comparisons in test_recurrent.py run whichever path is active; this file pins the other one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("numba")

import chainrule as cr  # noqa: E402
from chainrule import _jit, nn  # noqa: E402

pytestmark = pytest.mark.skipif(not _jit.available(), reason="compiled kernels switched off")

I, H, T, B = 3, 5, 6, 4


def _run(cm: Any, x: np.ndarray, hx: list, lengths: list | None, gs: list) -> list:
    """Outputs and gradients (input, h0, c0, parameters) of one forward/backward."""
    cx = cr.tensor(x, requires_grad=True)
    chx = [cr.tensor(h, requires_grad=True) for h in hx]
    cm.zero_grad()
    out, (hn, cn) = cm(cx, tuple(chx), lengths=lengths)
    cr.autograd.backward([out, hn, cn], [cr.tensor(g) for g in gs])
    return ([out.data, hn.data, cn.data, cx.grad.data] + [h.grad.data for h in chx]
            + [p.grad.data for p in cm.parameters()])


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("bidirectional,batch_first,lengths,bias", [
    (False, False, None, True),
    (False, True, None, False),
    (True, False, [6, 2, 5, 1], True),
    (True, True, [3, 6, 6, 2], True),
])
def test_compiled_lstm_scan_matches_numpy(dtype: Any, tol: float, bidirectional: bool,
                                          batch_first: bool, lengths: list | None,
                                          bias: bool) -> None:
    rng = np.random.default_rng(3)
    cr.manual_seed(0)
    cm = nn.LSTM(I, H, num_layers=2, bias=bias, batch_first=batch_first,
                 bidirectional=bidirectional, dtype=np.dtype(dtype).name)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    hx = [rng.standard_normal((2 * D, B, H)).astype(dtype) for _ in range(2)]
    gout = rng.standard_normal((B, T, D * H) if batch_first else (T, B, D * H)).astype(dtype)
    gs = [gout] + [rng.standard_normal((2 * D, B, H)).astype(dtype) for _ in range(2)]
    fast = _run(cm, x, hx, lengths, gs)
    with _jit.disabled():
        ref = _run(cm, x, hx, lengths, gs)
    assert len(fast) == len(ref) == 6 + len(list(cm.parameters()))
    for a, b in zip(fast, ref):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
