"""nn.utils.prune against torch.nn.utils.prune in float64: masks, iterative pruning, the
module layout (weight_orig / weight_mask / hook), gradients, remove, global pruning, a custom
method written the tutorial's way, and errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import nn  # noqa: E402
from chainrule.nn.utils import prune  # noqa: E402

T_PRUNE = pytest.importorskip("torch.nn.utils.prune")


def _pair(shape=(6, 5), seed=0):
    """The same Linear in both libraries, weights with distinct magnitudes (no ties)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    w = (rng.permutation(n) + 1.0).reshape(shape) / n * rng.choice([-1.0, 1.0], size=shape)
    b = rng.standard_normal(shape[0])
    c, t = nn.Linear(shape[1], shape[0]).double(), torch.nn.Linear(shape[1], shape[0]).double()
    c.weight.data = chainrule.tensor(w)
    c.bias.data = chainrule.tensor(b)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(w))
        t.bias.copy_(torch.from_numpy(b))
    return c, t


def _same(c, t):
    assert sorted(c.state_dict()) == sorted(t.state_dict())
    assert sorted(n for n, _ in c.named_parameters()) == sorted(n for n, _ in t.named_parameters())
    np.testing.assert_array_equal(c.weight_mask.numpy(), t.weight_mask.numpy())
    np.testing.assert_array_equal(c.weight.detach().numpy(), t.weight.detach().numpy())
    x = np.linspace(-1, 1, 3 * c.in_features).reshape(3, -1)
    c(chainrule.tensor(x)).pow(2).sum().backward()
    t(torch.tensor(x)).pow(2).sum().backward()
    np.testing.assert_allclose(c.weight_orig.grad.numpy(), t.weight_orig.grad.numpy(),
                               rtol=1e-13)


STEPS = {
    "l1-float": [("l1_unstructured", dict(amount=0.3))],
    "l1-int-twice": [("l1_unstructured", dict(amount=7)), ("l1_unstructured", dict(amount=0.5))],
    "ln2-dim0": [("ln_structured", dict(amount=0.34, n=2, dim=0))],
    "ln1-dim1-then-l1": [("ln_structured", dict(amount=2, n=1, dim=1)),
                         ("l1_unstructured", dict(amount=0.25))],
    "l1-then-ln-inf": [("l1_unstructured", dict(amount=0.2)),
                       ("ln_structured", dict(amount=0.5, n=float("inf"), dim=0))],
    "identity": [("identity", {})],
}


@pytest.mark.parametrize("name", list(STEPS))
def test_masks_layout_and_gradients_equal_torch(name):
    c, t = _pair()
    for fn, kw in STEPS[name]:
        getattr(prune, fn)(c, "weight", **kw)
        getattr(T_PRUNE, fn)(t, "weight", **kw)
    _same(c, t)
    assert prune.is_pruned(c) and T_PRUNE.is_pruned(t)
    prune.remove(c, "weight")
    T_PRUNE.remove(t, "weight")
    assert not prune.is_pruned(c)
    assert sorted(c.state_dict()) == sorted(t.state_dict()) == ["bias", "weight"]
    assert isinstance(c.weight, nn.Parameter)
    np.testing.assert_array_equal(c.weight.detach().numpy(), t.weight.detach().numpy())


def test_importance_scores_and_custom_mask():
    c, t = _pair()
    scores = np.arange(30.0).reshape(6, 5)[::-1].copy()
    prune.l1_unstructured(c, "bias", amount=2, importance_scores=chainrule.tensor(scores[:, 0]))
    T_PRUNE.l1_unstructured(t, "bias", amount=2, importance_scores=torch.tensor(scores[:, 0]))
    np.testing.assert_array_equal(c.bias_mask.numpy(), t.bias_mask.numpy())
    mask = (np.arange(30).reshape(6, 5) % 3 != 0).astype(float)
    prune.custom_from_mask(c, "weight", chainrule.tensor(mask))
    T_PRUNE.custom_from_mask(t, "weight", torch.tensor(mask))
    _same(c, t)


def test_global_unstructured_equals_torch():
    mods = [_pair((4, 3), seed=s) for s in range(3)]
    prune.l1_unstructured(mods[0][0], "weight", amount=0.25)
    T_PRUNE.l1_unstructured(mods[0][1], "weight", amount=0.25)
    prune.global_unstructured([(c, "weight") for c, _ in mods],
                              pruning_method=prune.L1Unstructured, amount=0.4)
    T_PRUNE.global_unstructured([(t, "weight") for _, t in mods],
                                pruning_method=T_PRUNE.L1Unstructured, amount=0.4)
    for c, t in mods:
        _same(c, t)


def test_random_methods_prune_torchs_counts():
    c, t = _pair()
    prune.random_unstructured(c, "weight", amount=0.4)
    T_PRUNE.random_unstructured(t, "weight", amount=0.4)
    assert int(c.weight_mask.sum().item()) == int(t.weight_mask.sum().item()) == 18
    prune.random_structured(c, "weight", amount=2, dim=0)
    T_PRUNE.random_structured(t, "weight", amount=2, dim=0)
    zero_rows = (c.weight_mask.numpy().sum(1) == 0).sum()
    assert zero_rows == (t.weight_mask.numpy().sum(1) == 0).sum() >= 2


def _every_other(base):
    """The tutorial's custom method (prune every other entry) on either library's base."""

    class EveryOther(base):
        PRUNING_TYPE = "unstructured"

        def compute_mask(self, t, default_mask):
            mask = default_mask.clone()
            mask.view(-1)[::2] = 0
            return mask

    return EveryOther


def test_custom_method_subclass():
    c, t = _pair()
    _every_other(prune.BasePruningMethod).apply(c, "weight")
    _every_other(T_PRUNE.BasePruningMethod).apply(t, "weight")
    _same(c, t)


def test_errors_are_torchs():
    pairs = []
    for mod in (prune, T_PRUNE):
        lib = torch if mod is T_PRUNE else chainrule
        lin = lib.nn.Linear(3, 2)
        errors = []
        for call in ((mod.l1_unstructured, (lin, "weight"), dict(amount=1.5)),
                     (mod.l1_unstructured, (lin, "weight"), dict(amount=-1)),
                     (mod.l1_unstructured, (lin, "weight"), dict(amount=7)),
                     (mod.remove, (lin, "bias"), {})):
            with pytest.raises((ValueError, TypeError)) as info:
                call[0](*call[1], **call[2])
            errors.append(type(info.value).__name__)
        pairs.append(errors)
    assert pairs[0] == pairs[1]
