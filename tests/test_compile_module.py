"""torch.compile(model) and compiled forwards whose backward runs outside the compiled call.

A replay returns copies of arrays without an autograd graph, so a compiled *forward* used in
a training loop (``model = torch.compile(model)``, as modern scripts do) must not be replayed
while grad mode records: it runs eagerly and says why; under ``no_grad()`` it replays.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F


def _mlp(seed: int = 0) -> nn.Module:
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))


def _data():
    rng = np.random.default_rng(0)
    return (cr.tensor(rng.normal(size=(16, 3)).astype(np.float32)),
            cr.tensor(rng.integers(0, 2, 16)))


def _train(model: nn.Module, forward, steps: int = 6) -> list[np.ndarray]:
    """SGD steps where the loss adds a term outside the model (a regulariser on a separate
    leaf), so a forward returned without its graph would silently lose the model's grads."""
    x, y = _data()
    extra = cr.ones(2, requires_grad=True)
    opt = cr.optim.SGD(list(model.parameters()) + [extra], lr=0.1)
    grads = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(forward(x) * extra, y) + (extra ** 2).sum()
        loss.backward()
        grads.append(np.concatenate([p.grad.numpy().ravel() for p in model.parameters()]))
        opt.step()
    return grads


def test_compiled_forward_trained_outside_equals_eager_and_says_why():
    ref_model = _mlp()
    ref = _train(ref_model, ref_model)
    model = _mlp()
    fwd = cr.compile(model.forward)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = _train(model, fwd)
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)
    assert fwd.replays == 0
    assert any("requires grad" in r for r in fwd.reasons)
    assert sum("requires grad" in str(x.message) for x in w) == 1


def test_torch_compile_of_a_module_is_a_module_with_torch_state_dict_keys():
    model = _mlp()
    cm = cr.compile(model)
    assert isinstance(cm, nn.Module) and cm._orig_mod is model
    tm = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    assert list(cm.state_dict()) == list(torch.compile(tm).state_dict())
    assert [id(p) for p in cm.parameters()] == [id(p) for p in model.parameters()]
    cm.eval()
    assert not model.training
    # attributes the wrapper lacks come from the wrapped module (model.config, model[0])
    model.config = {"width": 8}
    assert cm.config == {"width": 8}
    ref_model = _mlp()
    ref = _train(ref_model.train(), ref_model)
    cm.train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = _train(model, cm)
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)


def test_compiled_module_replays_inference_under_no_grad():
    model = _mlp()
    cm = cr.compile(model)
    x, _ = _data()
    with cr.no_grad():
        outs = [cm(x).numpy() for _ in range(5)]
        ref = model(x).numpy()
    assert cm._compiled.replays >= 2
    for o in outs:
        np.testing.assert_array_equal(o, ref)


def test_a_training_step_returning_its_loss_still_replays():
    model = _mlp()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()

    @cr.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(5):
        step(x, y)
    assert step.replays >= 2 and not step.reasons


def test_torch_arguments_are_accepted_or_refused_as_torch():
    model = _mlp()
    assert cr.compile(model, disable=True) is model
    for mode in ("default", "reduce-overhead", "max-autotune"):
        assert isinstance(cr.compile(model, mode=mode, fullgraph=True, dynamic=False), nn.Module)
    assert isinstance(cr.compile(model, backend="eager"), nn.Module)
    with pytest.raises(ValueError, match="unknown mode 'fast'"):
        cr.compile(model, mode="fast")
    with pytest.raises(RuntimeError, match="mode or options"):
        cr.compile(model, mode="default", options={})
    with pytest.raises(TypeError, match="backend"):
        cr.compile(model, backend=3)
    deco = cr.compile(fullgraph=True)
    assert deco(lambda a: a * 2)(cr.ones(2)).tolist() == [2.0, 2.0]
