"""Optimizers against torch.optim: one registry line per configuration, 20 steps in float64.

The same tiny network (x @ W1 + b1 -> tanh -> @ W2 + b2, squared error), the same data and the
same initial weights are trained by chainrule and by torch; every parameter must agree within
1e-10 relative after 20 steps. Further tests: per-group options, state_dict round trips
(bitwise resume), the state_dict layout, hyperparameter validation messages, zero_grad.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import optim  # noqa: E402
from chainrule.nn import Parameter  # noqa: E402

# (chainrule/torch class name, kwargs): every option of every optimizer
REGISTRY: list[tuple[str, dict]] = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.1, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.5, maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, maximize=True)),
    ("RAdam", dict(lr=0.01)),  # 20 steps cross rho_t > 5 (step 6): both branches run
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    ("Rprop", dict(lr=0.01, maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=5, weight_decay=0.1)),
    ("ASGD", dict(lr=0.05, t0=3, maximize=True)),
    ("Adafactor", dict()),
    ("Adafactor", dict(lr=0.05, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=1.5,
                       weight_decay=0.1)),
    ("Adafactor", dict(lr=0.02, d=1.0, maximize=True)),
]

SHAPES = {"w1": (4, 5), "b1": (5,), "w2": (5, 3), "b2": (3,)}


@pytest.fixture(autouse=True)
def _torch_float64():
    # torch keeps step counters and NAdam's mu_product in the default dtype
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(prev)


def make_problem(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {k: rng.standard_normal(s) * 0.5 for k, s in SHAPES.items()}
    arrays["x"] = rng.standard_normal((8, 4))
    arrays["y"] = rng.standard_normal((8, 3))
    return arrays


def cr_params(a: dict) -> list:
    return [Parameter(chainrule.tensor(a[k], dtype=chainrule.float64)) for k in SHAPES]


def th_params(a: dict) -> list:
    return [torch.tensor(a[k], dtype=torch.float64, requires_grad=True) for k in SHAPES]


def loss_of(lib, params, x, y):
    w1, b1, w2, b2 = params
    h = (x @ w1 + b1).tanh()
    return ((h @ w2 + b2 - y) ** 2).mean()


def train(lib, opt, params, a, steps: int = 20):
    x = lib.tensor(a["x"], dtype=lib.float64)
    y = lib.tensor(a["y"], dtype=lib.float64)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_of(lib, params, x, y)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses


def assert_params_close(cps, tps, rtol=1e-10):
    for k, (c, t) in enumerate(zip(cps, tps)):
        np.testing.assert_allclose(c.data, t.detach().numpy(), rtol=rtol, atol=1e-14,
                                   err_msg=f"parameter {k} ({list(SHAPES)[k]})")


@pytest.mark.parametrize("name,kwargs", REGISTRY,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
                              for n, kw in REGISTRY])
def test_trajectory_matches_torch(name, kwargs):
    a = make_problem()
    cps, tps = cr_params(a), th_params(a)
    c_opt = getattr(optim, name)(cps, **kwargs)
    t_opt = getattr(torch.optim, name)(tps, **kwargs)
    c_losses = train(chainrule, c_opt, cps, a)
    t_losses = train(torch, t_opt, tps, a)
    np.testing.assert_allclose(c_losses, t_losses, rtol=1e-10)
    assert_params_close(cps, tps)
    assert c_losses[0] != c_losses[-1]  # the parameters did move


GROUP_OPTS = {
    "SGD": ({"lr": 0.1, "momentum": 0.9}, {"lr": 0.05, "weight_decay": 0.1, "nesterov": True}),
    "Adagrad": ({"lr": 0.1}, {"lr": 0.05, "weight_decay": 0.1}),
    "RMSprop": ({"lr": 0.01}, {"lr": 0.02, "centered": True, "momentum": 0.5}),
    "Adam": ({"lr": 0.01}, {"lr": 0.02, "amsgrad": True, "weight_decay": 0.1}),
    "AdamW": ({"lr": 0.01}, {"lr": 0.02, "weight_decay": 0.0}),
    "Adadelta": ({"lr": 1.0}, {"lr": 0.5, "rho": 0.8}),
    "Adamax": ({"lr": 0.01}, {"lr": 0.02, "betas": (0.5, 0.9)}),
    "NAdam": ({"lr": 0.01}, {"lr": 0.02, "momentum_decay": 0.01}),
    "RAdam": ({"lr": 0.01}, {"lr": 0.02, "betas": (0.8, 0.99)}),
    "Rprop": ({"lr": 0.01}, {"lr": 0.02, "etas": (0.4, 1.1)}),
    "ASGD": ({"lr": 0.05}, {"lr": 0.02, "t0": 4, "weight_decay": 0.1}),
    "Adafactor": ({"lr": 0.01}, {"lr": 0.02, "beta2_decay": -0.6}),
}


@pytest.mark.parametrize("name", sorted(GROUP_OPTS))
def test_param_groups_with_different_options(name):
    """Weights and biases in two groups (e.g. no decay on biases) with their own options."""
    defaults, override = GROUP_OPTS[name]
    a = make_problem(1)
    cps, tps = cr_params(a), th_params(a)

    def groups(ps):
        return [{"params": [ps[0], ps[2]]}, {"params": [ps[1], ps[3]], **override}]

    c_opt = getattr(optim, name)(groups(cps), **defaults)
    t_opt = getattr(torch.optim, name)(groups(tps), **defaults)
    train(chainrule, c_opt, cps, a)
    train(torch, t_opt, tps, a)
    assert_params_close(cps, tps)
    for key, value in override.items():
        assert c_opt.param_groups[1][key] == value
    assert c_opt.param_groups[0]["lr"] == defaults["lr"]


@pytest.mark.parametrize("name,kwargs", [r for r in REGISTRY if not r[1].get("maximize")][::2])
def test_state_dict_round_trip_resumes_bitwise(name, kwargs):
    """Train 10 steps, save, load into a fresh optimizer on copied weights: the next 10 steps
    are bitwise identical to an uninterrupted run."""
    a = make_problem(2)
    ref = cr_params(a)
    ref_opt = getattr(optim, name)(ref, **kwargs)
    train(chainrule, ref_opt, ref, a, steps=10)
    saved = copy.deepcopy(ref_opt.state_dict())
    params_now = [p._array.copy() for p in ref]
    train(chainrule, ref_opt, ref, a, steps=10)

    resumed = [Parameter(chainrule.tensor(d)) for d in params_now]
    opt2 = getattr(optim, name)(resumed, **kwargs)
    opt2.load_state_dict(saved)
    train(chainrule, opt2, resumed, a, steps=10)
    for p, q in zip(ref, resumed):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_layout_matches_torch():
    a = make_problem()
    cps, tps = cr_params(a), th_params(a)
    c_opt = optim.Adam([{"params": cps[:2]}, {"params": cps[2:], "lr": 0.1}], amsgrad=True)
    t_opt = torch.optim.Adam([{"params": tps[:2]}, {"params": tps[2:], "lr": 0.1}], amsgrad=True)
    train(chainrule, c_opt, cps, a, steps=3)
    train(torch, t_opt, tps, a, steps=3)
    c_sd, t_sd = c_opt.state_dict(), t_opt.state_dict()
    assert sorted(c_sd) == sorted(t_sd) == ["param_groups", "state"]
    assert list(c_sd["state"]) == list(t_sd["state"]) == [0, 1, 2, 3]
    for i in range(4):
        assert list(c_sd["state"][i]) == list(t_sd["state"][i])
        assert float(c_sd["state"][i]["step"]) == float(t_sd["state"][i]["step"]) == 3.0
        np.testing.assert_allclose(c_sd["state"][i]["exp_avg"].data,
                                   t_sd["state"][i]["exp_avg"].numpy(), rtol=1e-10)
    extras = {"bias_correction", "l1"}  # chainrule-only options
    for cg, tg in zip(c_sd["param_groups"], t_sd["param_groups"]):
        assert set(cg) - extras == set(tg)
        assert cg["params"] == tg["params"]
        assert cg["lr"] == tg["lr"]


@pytest.mark.parametrize("name,kwargs,keys", [
    ("Rprop", dict(lr=0.05), ("step", "prev", "step_size")),
    ("ASGD", dict(lr=0.05, t0=5, lambd=0.01), ("step", "eta", "mu", "ax")),
])
def test_state_layout_and_values_match_torch(name, kwargs, keys):
    """Rprop's step sizes and ASGD's running average (used for evaluation) equal torch's."""
    a = make_problem(3)
    cps, tps = cr_params(a), th_params(a)
    c_opt, t_opt = getattr(optim, name)(cps, **kwargs), getattr(torch.optim, name)(tps, **kwargs)
    train(chainrule, c_opt, cps, a)
    train(torch, t_opt, tps, a)
    c_sd, t_sd = c_opt.state_dict()["state"], t_opt.state_dict()["state"]
    for i in range(len(cps)):
        assert tuple(c_sd[i]) == tuple(t_sd[i]) == keys
        for k in keys:
            c = c_sd[i][k].data if hasattr(c_sd[i][k], "data") else c_sd[i][k]
            np.testing.assert_allclose(np.asarray(c, dtype=float), t_sd[i][k].numpy(),
                                       rtol=1e-10, atol=1e-14, err_msg=f"{name} state {k}")


def test_sgd_without_momentum_keeps_no_state():
    a = make_problem()
    cps = cr_params(a)
    opt = optim.SGD(cps, lr=0.1)
    train(chainrule, opt, cps, a, steps=2)
    assert opt.state_dict()["state"] == {}


def test_named_parameters_give_param_names():
    a = make_problem()
    cps = cr_params(a)
    opt = optim.SGD(list(zip(SHAPES, cps)), lr=0.1)
    assert opt.param_groups[0]["param_names"] == list(SHAPES)
    assert opt.state_dict()["param_groups"][0]["param_names"] == list(SHAPES)


def test_add_param_group_and_duplicates():
    a = make_problem()
    cps = cr_params(a)
    opt = optim.Adam(cps[:2], lr=0.01)
    opt.add_param_group({"params": cps[2:], "lr": 0.5})
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.5]
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter"):
        opt.add_param_group({"params": cps[:1]})


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda p: optim.Rprop(p, etas=(1.2, 0.5)), "Invalid eta values: 1.2, 0.5"),
    (lambda p: optim.Rprop(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: optim.ASGD(p, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True),
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda p: optim.Adam(p, eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (lambda p: optim.AdamW(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1),
     "Invalid initial_accumulator_value value: -1"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "Invalid alpha value: -0.5"),
    (lambda p: optim.Adadelta(p, rho=1.5), "Invalid rho value: 1.5"),
    (lambda p: optim.Adamax(p, betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (lambda p: optim.NAdam(p, momentum_decay=-1), "Invalid momentum_decay value: -1"),
    (lambda p: optim.RAdam(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (lambda p: optim.SGD([], lr=0.1), "optimizer got an empty parameter list"),
])
def test_validation_messages_match_torch(make, message):
    a = make_problem()
    with pytest.raises(ValueError) as ours:
        make(cr_params(a))
    assert str(ours.value) == message
    with pytest.raises(ValueError) as theirs:
        import types

        make_t = types.FunctionType(make.__code__, {"optim": torch.optim})
        make_t(th_params(a))
    assert str(theirs.value) == message


def test_bad_params_are_rejected():
    a = make_problem()
    w = cr_params(a)[0]
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        optim.SGD([w, 3.0], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        optim.Adam([w], fused=True, foreach=True)


def test_zero_grad_and_closure():
    a = make_problem()
    cps = cr_params(a)
    opt = optim.SGD(cps, lr=0.1)
    x = chainrule.tensor(a["x"])
    y = chainrule.tensor(a["y"])

    def closure():
        opt.zero_grad()
        loss = loss_of(chainrule, cps, x, y)
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == pytest.approx(float(loss_of(chainrule, cps, x, y)) , rel=0.5)
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in cps)
    opt.zero_grad()
    assert all(p.grad is None for p in cps)


def test_step_bumps_version_and_builds_no_graph():
    a = make_problem()
    cps = cr_params(a)
    opt = optim.Adam(cps, lr=0.1)
    train(chainrule, opt, cps, a, steps=1)
    assert all(p.grad_fn is None and p._version >= 1 for p in cps)


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    w = Parameter(chainrule.tensor(rng.standard_normal((3, 4)).astype(np.float32)))
    for cls in (optim.SGD, optim.Adam, optim.RMSprop, optim.NAdam, optim.Adadelta):
        opt = cls([w], lr=0.01)
        w.grad = chainrule.tensor(rng.standard_normal((3, 4)).astype(np.float32))
        opt.step()
        assert w.data.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[w].values()
                   if isinstance(v, np.ndarray))


def test_adam_without_bias_correction():
    """m̂ = m and v̂ = v: the first step is lr·(1−β₁)g/(√(1−β₂)|g|+ε), not lr·sign(g)."""
    w = Parameter(chainrule.tensor([1.0, -2.0], dtype=chainrule.float64))
    opt = optim.Adam([w], lr=0.1, bias_correction=False)
    g = np.array([0.5, -4.0])
    w.grad = chainrule.tensor(g)
    opt.step()
    expected = np.array([1.0, -2.0]) - 0.1 * 0.1 * g / (np.sqrt(0.001 * g * g) + 1e-8)
    np.testing.assert_allclose(w.data, expected, rtol=1e-12)
    w2 = Parameter(chainrule.tensor([1.0, -2.0], dtype=chainrule.float64))
    opt2 = optim.Adam([w2], lr=0.1)
    w2.grad = chainrule.tensor(g)
    opt2.step()
    np.testing.assert_allclose(w2.data, [0.9, -1.9], rtol=1e-7)  # bias-corrected: lr·sign(g)


def test_repr_lists_group_options():
    a = make_problem()
    text = repr(optim.SGD(cr_params(a), lr=0.1, momentum=0.9))
    assert text.startswith("SGD (\nParameter Group 0\n")
    assert "    momentum: 0.9" in text and "    lr: 0.1" in text


@pytest.mark.parametrize("name,kwargs", [("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("NAdam", dict(lr=0.01)),
                                         ("SGD", dict(lr=0.1, momentum=0.9))])
def test_load_a_torch_state_dict(name, kwargs):
    """torch's state_dict (tensors, tensor steps) loads into the chainrule twin, which then
    continues on torch's trajectory."""
    a = make_problem(3)
    tps = th_params(a)
    t_opt = getattr(torch.optim, name)(tps, **kwargs)
    train(torch, t_opt, tps, a, steps=5)
    cps = [Parameter(chainrule.tensor(p.detach().numpy().copy())) for p in tps]
    c_opt = getattr(optim, name)(cps, **kwargs)
    c_opt.load_state_dict(t_opt.state_dict())
    train(torch, t_opt, tps, a, steps=10)
    train(chainrule, c_opt, cps, a, steps=10)
    assert_params_close(cps, tps)
