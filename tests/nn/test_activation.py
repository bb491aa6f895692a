"""Activations (functional and modules) against torch: values and gradients, at kinks too."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tF = torch.nn.functional

from nn_twin import as_cr, as_torch, assert_close, check_twin, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402

# one line per functional: (name, kwargs); the same name exists in torch.nn.functional
FUNCTIONAL = [
    ("relu", {}), ("relu6", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {}),
    ("elu", {"alpha": 0.7}), ("selu", {}), ("celu", {"alpha": 1.3}), ("gelu", {}),
    ("gelu", {"approximate": "tanh"}), ("silu", {}), ("mish", {}), ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}), ("softsign", {}),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("hardsigmoid", {}), ("hardswish", {}),
    ("threshold", {"threshold": 0.5, "value": -2.0}), ("sigmoid", {}), ("tanh", {}),
    ("logsigmoid", {}), ("tanhshrink", {}), ("softmax", {"dim": 1}), ("softmin", {"dim": 0}),
    ("log_softmax", {"dim": -1}), ("glu", {"dim": 1}),
]

# the kinks of every function above, plus random values
KINKS = np.array([0.0, -1.0, 1.0, 6.0, -3.0, 3.0, 0.5, 2.0, -0.5, 2.5, 25.0, -25.0])


def _input() -> np.ndarray:
    x = rng().standard_normal((5, 12)) * 3
    x[0] = KINKS
    return x


# torch rounds these constants to float32 even in float64 kernels (1/6 in hardsigmoid's
# gradient, 1/alpha in celu's): agreement there is to ~1e-7 relative
LOOSE = {"hardsigmoid", "celu", "Hardsigmoid", "CELU"}


@pytest.mark.parametrize("name,kw", FUNCTIONAL, ids=[f"{n}{kw}" for n, kw in FUNCTIONAL])
def test_functional_equals_torch(name, kw):
    x = _input()
    xc, xt = as_cr(x, True), as_torch(x, True)
    out_c = getattr(F, name)(xc, **kw)
    out_t = getattr(tF, name)(xt, **kw)
    assert_close(out_c, out_t, what=f"{name} value")
    g = rng(1).standard_normal(out_t.shape)
    out_c.backward(cr.tensor(g))
    out_t.backward(as_torch(g))
    rtol = 1e-6 if name in LOOSE else 1e-9
    assert_close(xc.grad, xt.grad, rtol=rtol, what=f"{name} gradient")


MODULES = [
    ("Sigmoid", {}), ("Tanh", {}), ("ReLU", {}), ("ReLU6", {}), ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.3}), ("ELU", {"alpha": 0.5}), ("SELU", {}),
    ("CELU", {}), ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("Mish", {}),
    ("Softplus", {"beta": 0.5}), ("Softsign", {}), ("Hardtanh", {}), ("Hardsigmoid", {}),
    ("Hardswish", {}), ("Threshold", {"threshold": 0.1, "value": 3.0}), ("LogSigmoid", {}),
    ("Softmax", {"dim": 1}), ("Softmin", {"dim": 1}), ("LogSoftmax", {"dim": 0}),
    ("GLU", {"dim": -1}), ("Tanhshrink", {}), ("PReLU", {}), ("PReLU", {"num_parameters": 3}),
    ("PReLU", {"init": 0.1}),
]


@pytest.mark.parametrize("name,kw", MODULES, ids=[f"{n}{kw}" for n, kw in MODULES])
def test_module_equals_torch(name, kw):
    mine, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(mine) == repr(theirs)
    x = rng().standard_normal((2, 3, 4)) * 2
    x[0, 0] = [0.0, 1.0, -1.0, 3.0]
    check_twin(mine, theirs, [x], rtol=1e-6 if name in LOOSE else 1e-9)


def test_relu_gradient_at_zero_is_zero():
    x = cr.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    F.relu(x).sum().backward()
    assert_close(x.grad, [0.0, 0.0, 1.0])


def test_stable_at_large_inputs():
    x = cr.tensor([[1000.0, 0.0, -1000.0]], dtype=cr.float64, requires_grad=True)
    sm, lsm = F.softmax(x, 1), F.log_softmax(x, 1)
    assert_close(sm, [[1.0, 0.0, 0.0]])
    assert_close(lsm, [[0.0, -1000.0, -2000.0]])
    lsm.sum().backward()
    assert np.all(np.isfinite(x.grad._array))
    y = cr.tensor([-800.0, 800.0], dtype=cr.float64, requires_grad=True)
    assert_close(F.logsigmoid(y), [-800.0, 0.0])
    assert_close(F.softplus(y), [0.0, 800.0])
    F.elu(y).sum().backward()
    assert np.all(np.isfinite(y.grad._array))
    assert np.all(np.isfinite(F.gelu(y)._array)) and np.all(np.isfinite(F.mish(y)._array))


def test_softmax_implicit_dim_warns_like_torch():
    x = rng().standard_normal((2, 3))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = nn.Softmax()(cr.tensor(x))
    assert_close(out, torch.softmax(torch.tensor(x), 1))


def test_inplace_without_graph_writes_the_array():
    a = np.array([-1.0, 2.0, -3.0])
    x = cr.tensor(a)
    view = x[1:]
    y = F.relu(x, inplace=True)
    assert y is x
    assert_close(x, [0.0, 2.0, 0.0])
    assert_close(view, [2.0, 0.0])
    nn.LeakyReLU(0.5, inplace=True)(x)  # no effect on non-negatives
    assert_close(x, [0.0, 2.0, 0.0])


def test_inplace_with_graph_matches_torch():
    x = rng().standard_normal((5, 3))
    mine = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 2),
                         nn.ELU(inplace=True))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(inplace=True),
                                 torch.nn.Linear(4, 2), torch.nn.ELU(inplace=True))
    check_twin(mine, theirs, [x])


def test_inplace_rules():
    leaf = cr.tensor([1.0, -1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        F.relu(leaf, inplace=True)
    h = leaf * 2.0
    s = (h * h).sum()  # Mul saved h for its backward
    F.silu(h, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        s.backward()


def test_hardtanh_and_prelu_errors():
    with pytest.raises(ValueError):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(ValueError):
        nn.GELU(approximate="fast")
    with pytest.raises(RuntimeError, match="slopes"):
        nn.PReLU(4)(cr.ones(2, 3))
    with pytest.raises(RuntimeError, match="even"):
        F.glu(cr.ones(2, 3))


def test_erf_primitive_gradcheck():
    from chainrule.nn._functional.activation import erf

    x = cr.tensor(rng().standard_normal(5), requires_grad=True)
    assert_close(erf(x), torch.erf(torch.tensor(x._array)))
    assert cr.autograd.gradcheck(erf, (x,))
    assert cr.autograd.gradgradcheck(F.logsigmoid, (x,))
