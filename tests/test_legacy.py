"""Legacy PyTorch spellings: autograd.Variable, the typed constructors (FloatTensor, ...) and
the type strings of Tensor.type(), against torch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import chainrule
from chainrule._legacy import tensor_type
from chainrule.autograd import Variable

NAMES = ["FloatTensor", "DoubleTensor", "HalfTensor", "ByteTensor", "CharTensor",
         "ShortTensor", "IntTensor", "LongTensor", "BoolTensor"]


def _dt(lib: object, t: object) -> str:
    return str(t.dtype).split(".")[-1]


def test_variable_is_a_detached_tensor_sharing_storage() -> None:
    for lib, V in ((torch, torch.autograd.Variable), (chainrule, Variable)):
        x = lib.ones(3)
        v = V(x, requires_grad=True)
        assert v is not x and v.requires_grad and v.is_leaf and not x.requires_grad
        v.data[0] = 5.0
        assert x[0].item() == 5.0  # shared storage
        assert isinstance(x, V) and isinstance(v, lib.Tensor)
        a = lib.ones(2, requires_grad=True) * 2
        d = V(a)
        assert d.grad_fn is None and not d.requires_grad
        assert V(x, True).requires_grad  # positional requires_grad
        assert tuple(V().shape) == (0,)
        with pytest.raises(TypeError, match="Variable data has to be a tensor"):
            V([1.0, 2.0])
        with pytest.raises(RuntimeError, match="floating point"):
            V(lib.ones(2, dtype=lib.long), requires_grad=True)
        with pytest.raises(ValueError, match="volatile"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch warns about volatile before raising)
            V(x, True, True)
        with pytest.warns(UserWarning, match="volatile"):
            V(x, volatile=True)
    assert not isinstance(np.ones(2), Variable)


@pytest.mark.parametrize("name", NAMES)
def test_typed_constructors_match_torch(name: str) -> None:
    T, C = getattr(torch, name), getattr(chainrule, name)
    data = [[1, 0], [3, 1]] if name == "BoolTensor" else [[1.5, -2.0], [3.0, 4.25]]
    if name in ("ByteTensor",):
        data = [[1, 2], [3, 250]]
    for args in ((data,), (np.array(data),), (2, 3), (chainrule.Size([4]),), ()):
        targs = tuple(torch.Size(a) if isinstance(a, chainrule.Size) else a for a in args)
        t, c = T(*targs), C(*args)
        assert _dt(torch, t) == _dt(chainrule, c) and tuple(t.shape) == tuple(c.shape), args
        if args and not (len(args) == 2 or isinstance(args[0], chainrule.Size)):  # (torch: garbage)
            np.testing.assert_array_equal(c.numpy(), t.numpy())
        else:
            assert not c.numpy().any()  # chainrule's "uninitialised" is zeros
        assert isinstance(t, T) and isinstance(c, C)
        assert t.type() == "torch." + name and tensor_type(c) == "chainrule." + name
    other = "LongTensor" if name != "LongTensor" else "FloatTensor"
    assert not isinstance(chainrule.ones(2, dtype=getattr(chainrule, other).dtype), C)
    assert not isinstance(np.ones(2), C) and not issubclass(C, chainrule.Tensor)
    assert repr(C) == f"<class 'chainrule.{name}'>"


def test_typed_constructor_of_a_tensor_shares_storage_or_refuses_other_dtypes() -> None:
    for lib in (torch, chainrule):
        x = lib.ones(2)
        y = lib.FloatTensor(x)
        y[0] = 5.0
        assert x[0].item() == 5.0 and y is not x
        with pytest.raises(TypeError):
            lib.FloatTensor(lib.ones(2, dtype=lib.float64))
        with pytest.raises(TypeError, match="sequence"):
            lib.FloatTensor(2.5)
        with pytest.raises(RuntimeError, match="negative dimension"):
            lib.FloatTensor(-1)


def test_type_casts_like_torch() -> None:
    for lib in (torch, chainrule):
        x = lib.tensor([1.5, 2.5])
        assert tensor_type(x, "torch.DoubleTensor").dtype == lib.float64 if lib is chainrule \
            else x.type("torch.DoubleTensor").dtype == lib.float64
    x = chainrule.tensor([1.5, -2.5], requires_grad=True)
    for spec in ("torch.DoubleTensor", "chainrule.DoubleTensor", chainrule.DoubleTensor,
                 chainrule.float64):
        y = tensor_type(x, spec)
        assert y.dtype == chainrule.float64 and y.grad_fn is not None  # differentiable cast
    assert tensor_type(x, chainrule.FloatTensor) is x  # same dtype: itself, as torch
    assert torch.ones(2).type(torch.FloatTensor) is not None
    np.testing.assert_array_equal(tensor_type(x, "torch.IntTensor").numpy(),
                                  torch.tensor([1.5, -2.5]).type("torch.IntTensor").numpy())
    with pytest.raises(ValueError, match="invalid type"):
        tensor_type(x, "float")
    with pytest.raises(RuntimeError, match="CUDA"):
        tensor_type(x, "torch.cuda.FloatTensor")


def test_cuda_typed_names_exist_and_refuse_like_torch() -> None:
    for lib in (torch, chainrule):
        T = lib.cuda.FloatTensor if lib.cuda.is_available() else lib.FloatTensor
        assert T is lib.FloatTensor
        assert not isinstance(lib.ones(1), lib.cuda.FloatTensor)
        with pytest.raises(TypeError, match="not available"):
            lib.cuda.LongTensor([1])
    with pytest.raises(RuntimeError, match="CUDA"):
        tensor_type(chainrule.ones(1), chainrule.cuda.FloatTensor)
    with pytest.raises(AttributeError):
        chainrule.cuda.NoSuchTensor  # noqa: B018


def test_tensor_type_method_uses_legacy_names() -> None:
    with warnings.catch_warnings():
        assert chainrule.ones(2).type() == "chainrule.FloatTensor"
        assert chainrule.ones(2).type(chainrule.DoubleTensor).dtype == chainrule.float64
