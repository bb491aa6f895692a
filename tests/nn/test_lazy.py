"""Lazy layers against torch: the class they become, the inferred sizes, state_dict keys
before and after, an optimizer built before the first forward, load_state_dict into a lazy
layer, dtype changes before the first call; outputs equal torch's on copied weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn as nn

CASES = [
    ("LazyLinear", (3,), (4, 5)),
    ("LazyLinear", (2,), (2, 3, 6)),
    ("LazyConv1d", (4, 3), (2, 3, 9)),
    ("LazyConv1d", (4, 3), (3, 9)),
    ("LazyConv2d", (6, 3), dict(padding=1, groups=2, shape=(2, 4, 5, 5))),
    ("LazyConv3d", (2, 2), (1, 3, 4, 4, 4)),
    ("LazyBatchNorm1d", (), (4, 3)),
    ("LazyBatchNorm1d", (), (4, 3, 5)),
    ("LazyBatchNorm2d", (), (2, 3, 4, 4)),
    ("LazyBatchNorm3d", (), (2, 3, 2, 2, 2)),
]


def _build(lib, name, args, spec):
    kwargs = dict(spec) if isinstance(spec, dict) else {}
    shape = kwargs.pop("shape", spec if not isinstance(spec, dict) else None)
    return getattr(lib.nn, name)(*args, **kwargs).double(), shape


@pytest.mark.parametrize("name,args,spec", CASES)
def test_becomes_plain_class_like_torch(name, args, spec):
    rng = np.random.default_rng(0)
    m, shape = _build(cr, name, args, spec)
    t, _ = _build(torch, name, args, spec)
    assert list(m.state_dict()) == list(t.state_dict())
    assert isinstance(m, getattr(nn, name[4:])) and m.has_uninitialized_params()
    assert type(m.weight).__name__ == type(t.weight).__name__ == "UninitializedParameter"
    x = rng.standard_normal(shape)
    t(torch.from_numpy(x))
    m(cr.from_numpy(x))
    assert type(m) is getattr(nn, type(t).__name__)  # LazyLinear -> Linear ...
    assert type(m.weight) is nn.Parameter
    assert list(m.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        assert tuple(m.state_dict()[k].shape) == tuple(v.shape), k
        assert m.state_dict()[k].dtype == getattr(cr, str(v.dtype).split(".")[1]), k
    for attr in ("in_features", "in_channels", "num_features", "kernel_size", "groups"):
        if hasattr(t, attr):
            assert getattr(m, attr) == getattr(t, attr), attr
    # same weights -> same output (train mode: batch statistics for BatchNorm)
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    np.testing.assert_allclose(m(cr.from_numpy(x)).detach().numpy(),
                               t(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12)


def test_linear_init_distribution_like_linear():
    cr.manual_seed(0)
    m = nn.LazyLinear(200)
    m(cr.zeros(1, 50))
    bound = 1 / np.sqrt(50)
    w = m.weight.detach().numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound


def test_optimizer_built_before_first_forward():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    m = nn.LazyLinear(2).double()
    opt = cr.optim.SGD(m.parameters(), lr=0.1)
    opt.step()  # no gradients yet: nothing happens, as in torch
    t = torch.nn.Linear(3, 2).double()
    loss = ((m(cr.from_numpy(x)) - cr.from_numpy(y)) ** 2).mean()
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    topt = torch.optim.SGD(t.parameters(), lr=0.1)
    loss.backward()
    opt.step()
    ((t(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean().backward()
    topt.step()
    assert opt.param_groups[0]["params"][0] is m.weight
    np.testing.assert_allclose(m.weight.detach().numpy(), t.weight.detach().numpy(), rtol=1e-12)


def test_load_state_dict_into_lazy():
    src = nn.Conv2d(4, 6, 3, groups=2).double()
    m = nn.LazyConv2d(6, 3, groups=2).double()
    m.load_state_dict(src.state_dict())
    assert not m.has_uninitialized_params()
    np.testing.assert_array_equal(m.weight.detach().numpy(), src.weight.detach().numpy())
    x = cr.randn(1, 4, 5, 5, dtype=cr.float64)
    np.testing.assert_allclose(m(x).detach().numpy(), src(x).detach().numpy())
    assert type(m) is nn.Conv2d and m.in_channels == 4


def test_placeholder_guards_and_repr():
    m = nn.LazyLinear(3)
    with pytest.raises(RuntimeError, match="uninitialized"):
        m.weight.shape  # noqa: B018
    with pytest.raises(ValueError, match="uninitialized"):
        m.weight.numel()
    assert repr(m) == repr(torch.nn.LazyLinear(3))
    bn = nn.LazyBatchNorm2d()
    assert type(bn.running_mean).__name__ == "UninitializedBuffer"
    with pytest.raises(ValueError, match="channel"):
        bn(cr.zeros(3))


def test_deepcopy_before_first_forward():
    import copy

    m = nn.LazyBatchNorm1d().double()
    twin = copy.deepcopy(m)
    assert twin.has_uninitialized_params() and twin.weight is not m.weight
    twin(cr.randn(4, 3, dtype=cr.float64))
    assert type(twin) is nn.BatchNorm1d and twin.num_features == 3
    assert m.has_uninitialized_params() and type(m) is nn.LazyBatchNorm1d
    assert twin.running_mean.dtype == cr.float64


def test_torch_paths_of_the_placeholders():
    from chainrule.nn.parameter import UninitializedBuffer, UninitializedParameter

    assert UninitializedParameter is nn.UninitializedParameter
    assert isinstance(nn.LazyLinear(2).weight, UninitializedParameter)
    assert isinstance(nn.LazyBatchNorm2d().running_var, UninitializedBuffer)
    assert issubclass(UninitializedParameter, nn.Parameter)
