"""Optimizers written the way PyTorch users write them (subclass Optimizer, ``defaults`` to
``super().__init__``, ``self.state[p]``, ``@no_grad()`` on ``step``, a closure, in-place
Tensor updates), one source text run against chainrule and against torch: the trajectories,
state_dict round trips, add_param_group, step hooks and schedulers agree (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import chainrule as cr


def optimizers(lib):
    """The same user code for either library (``lib`` is ``torch`` or ``chainrule``)."""

    def evaluate(closure):
        if closure is None:
            return None
        with lib.enable_grad():  # step runs under no_grad; the closure needs a graph
            return closure()

    class MomentumSGD(lib.optim.Optimizer):
        def __init__(self, params, lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0):
            if lr < 0.0:
                raise ValueError(f"Invalid learning rate: {lr}")
            defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                            weight_decay=weight_decay)
            super().__init__(params, defaults)

        def __setstate__(self, state):
            super().__setstate__(state)
            for group in self.param_groups:
                group.setdefault("nesterov", False)

        @lib.no_grad()
        def step(self, closure=None):
            loss = None
            if closure is not None:
                with lib.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    d_p = p.grad
                    if group["weight_decay"] != 0:
                        d_p = d_p.add(p, alpha=group["weight_decay"])
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = lib.clone(d_p).detach()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(group["momentum"]).add_(d_p, alpha=1 - group["dampening"])
                    p.add_(buf, alpha=-group["lr"])
            return loss

    class PlainAdam(lib.optim.Optimizer):
        def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
            super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

        @lib.no_grad()
        def step(self, closure=None):
            loss = evaluate(closure)
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = p.grad
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = 0
                        state["exp_avg"] = lib.zeros_like(p, memory_format=lib.preserve_format)
                        state["exp_avg_sq"] = lib.zeros_like(p,
                                                             memory_format=lib.preserve_format)
                    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                    state["step"] += 1
                    exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    bc1 = 1 - beta1 ** state["step"]
                    bc2 = 1 - beta2 ** state["step"]
                    denom = (exp_avg_sq.sqrt() / math.sqrt(bc2)).add_(group["eps"])
                    p.addcdiv_(exp_avg, denom, value=-group["lr"] / bc1)
            return loss

    class DataSGD(lib.optim.Optimizer):
        """The old ``.data`` idiom that works whether ``.data`` is a Tensor or an array."""

        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            loss = closure() if closure is not None else None
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.data -= group["lr"] * p.grad.data
            return loss

    class DataAddSGD(lib.optim.Optimizer):
        """``p.data.add_(...)``: a Tensor method on ``.data``."""

        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.data.add_(p.grad.data, alpha=-group["lr"])

    return {"MomentumSGD": MomentumSGD, "PlainAdam": PlainAdam, "DataSGD": DataSGD,
            "DataAddSGD": DataAddSGD}


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((16, 3)), rng.standard_normal((16, 2))


def _model(lib, state=None):
    m = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2)).double()
    if state is not None:
        m.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in state.items()})
    return m


def _weights(m):
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


def _run(lib, name, state, steps, kwargs, use_closure=False, opt_state=None):
    x, y = (lib.from_numpy(a) for a in _data())
    model = _model(lib, state)
    opt = optimizers(lib)[name](model.parameters(), **kwargs)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    losses = []
    for _ in range(steps):
        def closure():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            return loss

        if use_closure:
            losses.append(opt.step(closure).item())
        else:
            losses.append(closure().item())
            opt.step()
    return model, opt, losses


@pytest.fixture(scope="module")
def init_state():
    cr.manual_seed(0)
    return _weights(_model(cr))


@pytest.mark.parametrize("name,kwargs,use_closure", [
    ("MomentumSGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-2), False),
    ("MomentumSGD", dict(lr=0.05, momentum=0.5, dampening=0.1), True),
    ("PlainAdam", dict(lr=0.02), False),
    ("PlainAdam", dict(lr=0.02, betas=(0.8, 0.99)), True),
    ("DataSGD", dict(lr=0.1), True),
])
def test_trajectory_matches_torch(init_state, name, kwargs, use_closure):
    m1, _, l1 = _run(cr, name, init_state, 8, kwargs, use_closure)
    m2, _, l2 = _run(torch, name, init_state, 8, kwargs, use_closure)
    np.testing.assert_allclose(l1, l2, rtol=1e-10)
    for k, v in _weights(m2).items():
        np.testing.assert_allclose(_weights(m1)[k], v, rtol=1e-10, atol=1e-12)


def test_tensor_methods_on_data(init_state):
    m1, _, _ = _run(cr, "DataAddSGD", init_state, 3, dict(lr=0.1))
    m2, _, _ = _run(torch, "DataAddSGD", init_state, 3, dict(lr=0.1))
    for k, v in _weights(m2).items():
        np.testing.assert_allclose(_weights(m1)[k], v, rtol=1e-10)


@pytest.mark.parametrize("name", ["MomentumSGD", "PlainAdam"])
def test_state_dict_round_trip(init_state, name):
    """3 steps, save, a fresh optimizer loads it, 3 more steps == 6 uninterrupted steps; the
    saved state has PyTorch's layout and the restored buffers are Tensors again."""
    for lib in (cr, torch):
        full, _, _ = _run(lib, name, init_state, 6, {})
        half, opt, _ = _run(lib, name, init_state, 3, {})
        sd = opt.state_dict()
        assert sorted(sd) == ["param_groups", "state"] and sorted(sd["state"]) == [0, 1, 2, 3]
        assert sd["param_groups"][0]["params"] == [0, 1, 2, 3]
        resumed, opt2, _ = _run(lib, name, _weights(half), 3, {}, opt_state=sd)
        first = next(iter(opt2.state.values()))
        buf = first.get("momentum_buffer", first.get("exp_avg"))
        assert isinstance(buf, lib.Tensor)
        for k, v in _weights(full).items():
            np.testing.assert_allclose(_weights(resumed)[k], v, rtol=1e-12, atol=1e-14)


def test_add_param_group_setstate_hooks_and_scheduler(init_state):
    results = {}
    for lib in (cr, torch):
        x, y = (lib.from_numpy(a) for a in _data(1))
        model = _model(lib, init_state)
        opt = optimizers(lib)["MomentumSGD"]([model[0].weight, model[0].bias], lr=0.1)
        calls = []
        opt.register_step_pre_hook(lambda o, a, k, c=calls: c.append("pre"))
        opt.register_step_post_hook(lambda o, a, k, c=calls: c.append("post"))
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        for i in range(6):
            if i == 2:
                opt.add_param_group({"params": model[2].parameters(), "momentum": 0.0})
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
            sched.step()
        opt.__setstate__(opt.__getstate__())
        assert all(g["nesterov"] is False for g in opt.param_groups)
        assert calls == ["pre", "post"] * 6
        results[lib.__name__] = (_weights(model), [g["lr"] for g in opt.param_groups],
                                 [g["momentum"] for g in opt.param_groups])
    ours, theirs = results["chainrule"], results["torch"]
    assert ours[1] == pytest.approx(theirs[1]) and ours[2] == theirs[2]
    for k, v in theirs[0].items():
        np.testing.assert_allclose(ours[0][k], v, rtol=1e-10, atol=1e-12)
