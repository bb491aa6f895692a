"""optim.SparseAdam with nn.Embedding(sparse=True) against torch, step by step in float64:
only the rows a batch looks up move, their moments too, and every value equals PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import nn, optim  # noqa: E402

# index batches: rows 7..9 are never looked up, row 0 is the padding row
BATCHES = [[[1, 2, 2, 0]], [[3, 1, 0, 4]], [[5, 5, 6, 1]], [[2, 3, 4, 0]], [[6, 1, 2, 3]]]


def _pair(padding_idx: int | None, **opt_kw):
    rng = np.random.default_rng(3)
    table = rng.standard_normal((10, 4))
    coef = rng.standard_normal(4)
    t_emb = torch.nn.Embedding(10, 4, padding_idx=padding_idx, sparse=True).double()
    c_emb = nn.Embedding(10, 4, padding_idx=padding_idx, sparse=True).double()
    with torch.no_grad():
        t_emb.weight.copy_(torch.from_numpy(table))
    c_emb.weight.data = chainrule.tensor(table)
    t_opt = torch.optim.SparseAdam(list(t_emb.parameters()), **opt_kw)
    c_opt = optim.SparseAdam(list(c_emb.parameters()), **opt_kw)
    return (t_emb, t_opt, torch.from_numpy(coef)), (c_emb, c_opt, chainrule.tensor(coef))


def _loss(lib, emb, coef, idx):
    out = emb(lib.tensor(idx))
    return (lib.tanh(out) * coef).sum() + (out ** 2).sum() * 0.1


@pytest.mark.parametrize("padding_idx, kw, accumulate", [
    (None, dict(lr=0.05), 1),
    (0, dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6), 1),
    (0, dict(lr=0.02, maximize=True), 2),        # two backward passes per step
])
def test_steps_equal_torch(padding_idx, kw, accumulate):
    (t_emb, t_opt, t_coef), (c_emb, c_opt, c_coef) = _pair(padding_idx, **kw)
    start = c_emb.weight.detach().numpy().copy()
    for k in range(len(BATCHES)):
        for lib, emb, opt, coef in ((torch, t_emb, t_opt, t_coef), (chainrule, c_emb, c_opt,
                                                                   c_coef)):
            opt.zero_grad()
            for j in range(accumulate):
                _loss(lib, emb, coef, BATCHES[(k + j) % len(BATCHES)]).backward()
            opt.step()
        np.testing.assert_allclose(c_emb.weight.detach().numpy(), t_emb.weight.detach().numpy(),
                                   rtol=1e-13, atol=1e-15)
        t_state, c_state = t_opt.state[t_emb.weight], c_opt.state[c_emb.weight]
        assert c_state["step"] == t_state["step"] == k + 1
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(c_state[key], t_state[key].numpy(), rtol=1e-13,
                                       atol=1e-15)
    end = c_emb.weight.detach().numpy()
    np.testing.assert_array_equal(end[7:], start[7:])          # never looked up: unchanged
    assert not np.allclose(end[1:7], start[1:7])
    if padding_idx == 0:
        np.testing.assert_array_equal(end[0], start[0])


def test_lazy_rows_keep_their_moments():
    """A row looked up once keeps its moments while later batches skip it (dense Adam would
    decay them and keep moving the row)."""
    (t_emb, t_opt, t_coef), (c_emb, c_opt, c_coef) = _pair(None, lr=0.1)
    for lib, emb, opt, coef in ((torch, t_emb, t_opt, t_coef), (chainrule, c_emb, c_opt,
                                                               c_coef)):
        for idx in ([[8, 1]], [[1, 2]], [[2, 3]]):
            opt.zero_grad()
            _loss(lib, emb, coef, idx).backward()
            opt.step()
    c_m = np.asarray(c_opt.state[c_emb.weight]["exp_avg"])
    np.testing.assert_allclose(c_m, t_opt.state[t_emb.weight]["exp_avg"].numpy(), rtol=1e-13)
    assert np.abs(c_m[8]).sum() > 0                            # moments of row 8 kept
    np.testing.assert_allclose(c_emb.weight.detach().numpy(), t_emb.weight.detach().numpy(),
                               rtol=1e-13)


def test_dense_gradients_and_bad_arguments_raise_torchs_errors():
    lin = nn.Linear(3, 2)
    opt = optim.SparseAdam(lin.parameters())
    lin(chainrule.ones(1, 3)).sum().backward()
    with pytest.raises(RuntimeError, match="does not support dense gradients"):
        opt.step()
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.SparseAdam(lin.parameters(), lr=0.0)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.SparseAdam(lin.parameters(), betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid epsilon value"):
        optim.SparseAdam(lin.parameters(), eps=0.0)


def test_embedding_bag_sparse_is_accepted():
    bag = nn.EmbeddingBag(6, 3, mode="sum", sparse=True)
    opt = optim.SparseAdam(bag.parameters(), lr=0.1)
    before = bag.weight.detach().numpy().copy()
    bag(chainrule.tensor([1, 2, 4]), chainrule.tensor([0, 2])).sum().backward()
    opt.step()
    moved = np.flatnonzero(np.abs(bag.weight.detach().numpy() - before).sum(1) > 0)
    np.testing.assert_array_equal(moved, [1, 2, 4])
