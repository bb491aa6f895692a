"""chainrule.jit (no TorchScript: script/trace return their argument) and nn.DataParallel
(one device: forward is the module's, ``module.`` state_dict prefix) against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule
from chainrule import jit, nn


def test_script_and_trace_return_runnable_originals() -> None:
    m = nn.Linear(3, 2)
    x = chainrule.randn(4, 3)
    assert jit.script(m) is m
    calls = []

    def f(a: chainrule.Tensor, b: chainrule.Tensor) -> chainrule.Tensor:
        calls.append(1)
        return a * b

    assert jit.trace(f, (x, x)) is f and calls == [1]  # ran once on the example
    assert jit.trace(m, x) is m
    assert jit.trace(lambda a=None: a, example_kwarg_inputs={"a": x}) is not None
    with pytest.raises(RuntimeError, match="inner dims"):
        jit.trace(lambda a: a @ chainrule.ones(5, 5), x)  # fails on the example, as torch
    with pytest.raises(RuntimeError, match="example_inputs"):
        jit.trace(f)
    assert jit.is_scripting() is False and jit.is_tracing() is False
    assert torch.jit.is_scripting() is False and torch.jit.is_tracing() is False
    assert not isinstance(m, jit.ScriptModule)


def test_decorators_annotate_fork_and_freeze() -> None:
    @jit.ignore
    def a(x: int) -> int:
        return x + 1

    @jit.ignore(drop=True)
    def b(x: int) -> int:
        return x + 2

    @jit.unused
    def c(x: int) -> int:
        return x + 3

    assert (a(1), b(1), c(1)) == (2, 3, 4)
    assert jit.export(a) is a and jit.annotate(list[int], [1]) == [1]
    fut = jit.fork(lambda t: t + 1, chainrule.ones(1))
    assert jit.wait(fut).item() == torch.jit.wait(torch.jit.fork(lambda t: t + 1,
                                                                  torch.ones(1))).item()
    m = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="eval"):
        jit.freeze(m)
    assert jit.freeze(m.eval()) is m and jit.optimize_for_inference(m) is m


def test_jit_save_load_point_to_state_dict() -> None:
    for call in (lambda: jit.save(nn.Linear(2, 2), "m.pt"), lambda: jit.load("m.pt")):
        with pytest.raises(NotImplementedError, match="state_dict"):
            call()


def test_data_parallel_like_torch() -> None:
    rng = np.random.default_rng(0)
    w, bias = rng.normal(size=(2, 3)), rng.normal(size=2)
    tm, cm = torch.nn.Linear(3, 2).double(), nn.Linear(3, 2).double()
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(w))
        tm.bias.copy_(torch.tensor(bias))
    cm.weight.data.copy_(chainrule.tensor(w))
    cm.bias.data.copy_(chainrule.tensor(bias))
    td, cd = torch.nn.DataParallel(tm), nn.DataParallel(cm, device_ids=[0, 1])
    assert list(td.state_dict()) == list(cd.state_dict()) == ["module.weight", "module.bias"]
    assert cd.module is cm and cd.device_ids == td.device_ids == []
    x = rng.normal(size=(4, 3))
    yt, yc = td(torch.tensor(x)), cd(chainrule.tensor(x))
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    yc.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(cm.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-12)
    fresh = nn.DataParallel(nn.Linear(3, 2).double())
    fresh.load_state_dict(cd.state_dict())
    np.testing.assert_array_equal(fresh.module.weight.detach().numpy(), w)
    assert repr(cd).splitlines()[:2] == repr(td).splitlines()[:2]
    from chainrule.nn.parallel import DataParallel, DistributedDataParallel  # noqa: F401
    with pytest.raises(TypeError, match="Module"):
        nn.DataParallel(lambda t: t)
