"""Adam's chunked NumPy update (parameters larger than two chunks): the same values, element
for element, as the whole-array update, eager and replayed by chainrule.compile, and equal to
torch.optim.Adam/AdamW in float64."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import _jit
from chainrule.optim import adam as adam_mod

torch = pytest.importorskip("torch")


def _run(name: str, kw: dict, chunk_bytes: int, compiled: bool,
         monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """Five steps of ``name`` on a 5003-element float64 weight (chunks of ``chunk_bytes``)."""
    monkeypatch.setattr(adam_mod, "_CHUNK_BYTES", chunk_bytes)
    r = np.random.default_rng(5)
    w = cr.tensor(r.standard_normal(5003), requires_grad=True)
    x = cr.tensor(r.standard_normal(5003))
    opt = getattr(cr.optim, name)([w], lr=0.05, **kw)

    def step() -> None:
        opt.zero_grad()
        ((w * x).sin() ** 2).sum().backward()
        opt.step()

    fn = cr.compile(step) if compiled else step
    with _jit.disabled():
        for _ in range(5):
            fn()
    if compiled:
        assert fn.replays == 2, fn.reasons
    return w.detach().numpy().copy()


CONFIGS = [("Adam", {}), ("AdamW", dict(weight_decay=0.1)),
           ("Adam", dict(weight_decay=0.1, bias_correction=False))]


@pytest.mark.parametrize("name,kw", CONFIGS)
@pytest.mark.parametrize("compiled", [False, True])
def test_chunked_adam_equals_whole_array_update_bitwise(name, kw, compiled, monkeypatch):
    whole = _run(name, kw, 1 << 30, compiled, monkeypatch)
    chunked = _run(name, kw, 1024 * 8, compiled, monkeypatch)  # 1024 elements a chunk
    assert np.array_equal(chunked, whole)


@pytest.mark.parametrize("name,kw", CONFIGS[:2])
def test_chunked_adam_equals_torch(name, kw, monkeypatch):
    ours = _run(name, kw, 1024 * 8, False, monkeypatch)
    r = np.random.default_rng(5)
    w = torch.tensor(r.standard_normal(5003), requires_grad=True)
    x = torch.tensor(r.standard_normal(5003))
    opt = getattr(torch.optim, name)([w], lr=0.05, **kw)
    for _ in range(5):
        opt.zero_grad()
        ((w * x).sin() ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(ours, w.detach().numpy(), rtol=1e-12, atol=1e-12)
