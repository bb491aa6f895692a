"""Containers and shape layers against torch.nn: keys, indexing, mutation, repr, forward."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import assert_close, check_twin, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402


def seq(lib):
    return lib.Sequential(lib.Linear(4, 8), lib.ReLU(), lib.Linear(8, 3), lib.Tanh())


def keys(m):
    return list(m.state_dict().keys())


def test_sequential_forward_and_gradients_equal_torch():
    check_twin(seq(nn), seq(torch.nn), [rng().standard_normal((5, 4))])


def test_sequential_indexing_and_slicing():
    s = seq(nn)
    assert s[0] is s._modules["0"] and s[-1] is s._modules["3"]
    sub = s[1:3]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[0] is s[1]
    assert list(sub._modules) == list(seq(torch.nn)[1:3]._modules)
    assert [type(m).__name__ for m in s] == ["Linear", "ReLU", "Linear", "Tanh"]
    with pytest.raises(IndexError, match="out of range"):
        s[4]
    s[1] = nn.Sigmoid()
    assert isinstance(s[1], nn.Sigmoid)


def test_sequential_mutation_keys_follow_torch():
    for op in (
        lambda s, lib: s.append(lib.ReLU()),
        lambda s, lib: s.insert(1, lib.Linear(4, 4)),
        lambda s, lib: s.insert(-1, lib.Linear(3, 3)),
        lambda s, lib: s.extend([lib.Linear(3, 2), lib.ReLU()]),
        lambda s, lib: s.pop(0),
        lambda s, lib: s.__delitem__(slice(0, 2)),
        lambda s, lib: s.__delitem__(1),
    ):
        a, b = seq(nn), seq(torch.nn)
        op(a, nn)
        op(b, torch.nn)
        assert keys(a) == keys(b)
        assert [type(m).__name__ for m in a] == [type(m).__name__ for m in b]
    both = seq(nn) + seq(nn)
    assert len(both) == 8 and keys(both) == keys(seq(torch.nn) + seq(torch.nn))
    assert len(seq(nn) * 2) == 8
    with pytest.raises(ValueError):
        seq(nn) + nn.ReLU()


def test_sequential_ordered_dict_and_repr():
    od = lambda lib: OrderedDict([("enc", lib.Linear(2, 3)), ("act", lib.ReLU())])  # noqa: E731
    a, b = nn.Sequential(od(nn)), torch.nn.Sequential(od(torch.nn))
    assert keys(a) == keys(b) == ["enc.weight", "enc.bias"]
    assert a.enc is a[0]
    assert repr(a) == repr(b)
    assert repr(seq(nn)) == repr(seq(torch.nn))


def test_module_list():
    make = lambda lib: lib.ModuleList([lib.Linear(2, 2) for _ in range(3)] + [lib.ReLU()])  # noqa: E731
    a, b = make(nn), make(torch.nn)
    assert repr(a) == repr(b)
    assert keys(a) == keys(b)
    a.insert(0, nn.Tanh())
    b.insert(0, torch.nn.Tanh())
    a.append(nn.Linear(2, 2))
    b.append(torch.nn.Linear(2, 2))
    del a[1]
    del b[1]
    a += [nn.Sigmoid()]
    b += [torch.nn.Sigmoid()]
    assert keys(a) == keys(b) and len(a) == len(b) == 6
    assert repr(a) == repr(b)
    assert isinstance(a[1:3], nn.ModuleList) and a[-1] is list(a)[-1]
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())
    with pytest.raises(TypeError):
        a.extend(3)
    with pytest.raises(NotImplementedError):
        a(cr.ones(1))


def test_module_dict():
    make = lambda lib: lib.ModuleDict({"b": lib.Linear(2, 3), "a": lib.ReLU()})  # noqa: E731
    a, b = make(nn), make(torch.nn)
    assert keys(a) == keys(b) and list(a) == list(b) == ["b", "a"]
    assert repr(a) == repr(b)
    a["c"] = nn.Linear(1, 1)
    assert "c" in a and len(a) == 3
    assert isinstance(a.pop("c"), nn.Linear) and "c" not in a
    a.update([("d", nn.Tanh())])
    assert list(a.keys()) == ["b", "a", "d"]
    assert [type(v).__name__ for v in a.values()] == ["Linear", "ReLU", "Tanh"]
    with pytest.raises(ValueError):
        a.update([1])
    a.clear()
    assert len(a) == 0


def test_parameter_list_and_dict():
    pl = nn.ParameterList([nn.Parameter(cr.ones(2)), cr.zeros(3)])
    tl = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2)), torch.zeros(3)])
    assert keys(pl) == keys(tl) == ["0", "1"]
    assert isinstance(pl[1], nn.Parameter) and len(list(pl.parameters())) == 2
    pl.append(cr.ones(1))
    pl[0] = nn.Parameter(cr.full((2,), 7.0))
    assert len(pl) == 3 and pl[0].data[0] == 7.0
    assert "(0): Parameter containing: [chainrule.float32 of size 2]" in repr(pl)
    pd = nn.ParameterDict({"w": cr.ones(2, 2)})
    td = torch.nn.ParameterDict({"w": torch.ones(2, 2)})
    assert keys(pd) == keys(td)
    pd["b"] = cr.zeros(2)
    assert isinstance(pd["b"], nn.Parameter) and list(pd) == ["w", "b"]
    assert pd.get("zz") is None and "w" in pd
    del pd["w"]
    assert keys(pd) == ["b"]
    with pytest.raises(KeyError):
        pd["w"]
    with pytest.raises(RuntimeError):
        pl(cr.ones(1))


def test_identity_flatten_unflatten():
    x = rng().standard_normal((2, 3, 4, 5))
    for mine, theirs in [
        (nn.Identity(3, k=1), torch.nn.Identity(3, k=1)),
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Flatten(0, 2), torch.nn.Flatten(0, 2)),
        (nn.Unflatten(2, (2, 2)), torch.nn.Unflatten(2, (2, 2))),
        (nn.Unflatten(-1, (5, 1)), torch.nn.Unflatten(-1, (5, 1))),
    ]:
        check_twin(mine, theirs, [x])
        assert repr(mine) == repr(theirs)
    flat = nn.Flatten()(cr.tensor(x))
    assert np.shares_memory(flat._array, x) or flat._array.base is not None
    with pytest.raises(RuntimeError):
        nn.Unflatten(1, (2, 2))(cr.ones(2, 3))
    with pytest.raises(TypeError):
        nn.Unflatten(1, 4)


def test_nested_containers_state_dict_round_trip():
    def make(lib):
        return lib.Sequential(
            lib.ModuleDict({"x": lib.Linear(2, 2)}),
            lib.ModuleList([lib.Linear(2, 2)]),
        )

    a, b = make(nn), make(torch.nn)
    assert keys(a) == keys(b) == ["0.x.weight", "0.x.bias", "1.0.weight", "1.0.bias"]
    a.load_state_dict(b.state_dict())
    assert_close(a[1][0].weight, b[1][0].weight.detach().numpy().astype(np.float32))
