"""nn names real PyTorch programs use that were missing: Module.get_buffer / set_submodule /
register_backward_hook, the deprecated nn.init spellings, RReLU / Hardshrink / Softshrink
(values and gradients against torch in float64)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import nn  # noqa: E402
from chainrule.nn import functional as F  # noqa: E402

X = np.array([[-2.0, -0.5, -0.25, 0.0], [0.1, 0.5, 0.7, 3.0]])


def _grad_pair(c_fn, t_fn):
    cx = chainrule.tensor(X, requires_grad=True)
    tx = torch.tensor(X, requires_grad=True)
    cy, ty = c_fn(cx), t_fn(tx)
    w = np.linspace(-1.0, 2.0, X.size).reshape(X.shape)
    (cy * chainrule.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(cy.detach().numpy(), ty.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("name, kw", [("hardshrink", {}), ("hardshrink", dict(lambd=0.6)),
                                      ("softshrink", {}), ("softshrink", dict(lambd=0.25)),
                                      ("rrelu", {}), ("rrelu", dict(lower=0.05, upper=0.2))])
def test_functional_equals_torch(name, kw):
    _grad_pair(lambda x: getattr(F, name)(x, **kw),
               lambda x: getattr(torch.nn.functional, name)(x, **kw))


@pytest.mark.parametrize("cls, args", [("RReLU", ()), ("RReLU", (0.1, 0.3, True)),
                                       ("Hardshrink", ()), ("Softshrink", (0.3,))])
def test_modules_repr_and_eval_equal_torch(cls, args):
    c, t = getattr(nn, cls)(*args).eval(), getattr(torch.nn, cls)(*args).eval()
    assert repr(c) == repr(t)
    _grad_pair(lambda x: c(x * 1.0), lambda x: t(x * 1.0))


def test_rrelu_training_slopes_lie_in_the_range():
    x = chainrule.tensor(-np.ones(2000), requires_grad=True)
    y = F.rrelu(x, 0.1, 0.3, training=True, generator=chainrule.Generator().manual_seed(0))
    slopes = -y.detach().numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and abs(slopes.mean() - 0.2) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), slopes)        # d(a·x)/dx = a
    pos = F.rrelu(chainrule.tensor([1.0, 2.0]), training=True)
    np.testing.assert_array_equal(pos.numpy(), [1.0, 2.0])
    with pytest.raises(RuntimeError, match="lambda must be greater or equal to 0"):
        F.softshrink(chainrule.tensor([1.0]), -0.1)


def test_get_buffer_and_set_submodule_as_torch():
    errors = []
    for lib in (torch, chainrule):
        net = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3))
        assert net.get_buffer("1.running_var").shape == (3,)
        net.set_submodule("0", lib.nn.Linear(2, 3, bias=False))
        assert net[0].bias is None
        with pytest.raises(AttributeError) as a:
            net.get_buffer("1.weight")
        with pytest.raises(AttributeError) as b:
            net.get_buffer("1.nothing")
        errors.append((str(a.value), str(b.value)))
    assert errors[1] == errors[0]


def test_register_backward_hook_sees_grad_output():
    seen = {}
    for lib in (torch, chainrule):
        lin = lib.nn.Linear(3, 2).double()
        lin.weight.data.fill_(0.1)
        lin.bias.data.fill_(-0.2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lin.register_backward_hook(lambda m, gi, go, lib=lib: seen.__setitem__(lib, go[0]))
            lin(lib.ones(4, 3, dtype=lib.float64, requires_grad=True)).pow(2).sum().backward()
    np.testing.assert_allclose(seen[chainrule].numpy(), seen[torch].numpy(), rtol=1e-15)


@pytest.mark.parametrize("old", ["uniform", "normal", "constant", "xavier_uniform",
                                 "xavier_normal", "kaiming_uniform", "kaiming_normal",
                                 "orthogonal", "eye"])
def test_deprecated_init_spellings_warn_like_torch(old):
    args = (0.5,) if old == "constant" else ()
    with pytest.warns(FutureWarning) as c_rec:
        w = getattr(nn.init, old)(chainrule.empty(3, 4), *args)
    with pytest.warns(FutureWarning) as t_rec:
        getattr(torch.nn.init, old)(torch.empty(3, 4), *args)
    assert str(c_rec[0].message) == str(t_rec[0].message)
    assert tuple(w.shape) == (3, 4)


def test_module_compile_is_accepted_in_place():
    lin = nn.Linear(2, 1)
    before = lin(chainrule.ones(1, 2)).item()
    assert lin.compile(mode="reduce-overhead") is None
    assert lin(chainrule.ones(1, 2)).item() == before
