"""Module semantics against torch.nn.Module: registration, state_dict, modes, hooks, copies."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, as_torch, assert_close, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402


def build(lib, torch_like):
    """The same model written against ``lib`` (torch.nn or chainrule.nn)."""

    class Block(lib.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.Linear(4, 3)
            self.scale = lib.Parameter(torch_like.ones(3, dtype=torch_like.float64))
            self.register_buffer("count", torch_like.zeros(1, dtype=torch_like.float64))
            self.register_buffer("scratch", torch_like.zeros(2), persistent=False)

        def forward(self, x):
            return self.fc(x).tanh() * self.scale

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.first = Block()
            self.body = lib.Sequential(lib.Linear(3, 5), lib.ReLU(), lib.Linear(5, 4))
            self.heads = lib.ModuleList([lib.Linear(4, 2), lib.Linear(4, 2)])
            self.shared = self.heads[0]  # the same module twice: its parameters count once
            self.bias = lib.Parameter(torch_like.zeros(2, dtype=torch_like.float64))
            self.register_parameter("unused", None)

        def forward(self, x):
            h = self.body(self.first(x))
            return self.heads[0](h) + self.heads[1](h) + self.bias

    return Net()


@pytest.fixture
def pair():
    return build(nn, cr), build(torch.nn, torch)


def test_names_order_and_state_dict_keys_match_torch(pair):
    mine, theirs = pair
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in mine.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in mine.named_children()] == [n for n, _ in theirs.named_children()]
    assert list(mine.state_dict().keys()) == list(theirs.state_dict().keys())
    assert len(list(mine.parameters())) == len(list(theirs.parameters()))
    names = [n for n, _ in mine.named_parameters(remove_duplicate=False)]
    names_t = [n for n, _ in theirs.named_parameters(remove_duplicate=False)]
    assert names == names_t and "shared.weight" in names


def test_buffers_in_state_dict_not_in_parameters(pair):
    mine, _ = pair
    params = {id(p) for p in mine.parameters()}
    assert all(id(b) not in params for b in mine.buffers())
    sd = mine.state_dict()
    assert "first.count" in sd and "first.scratch" not in sd
    assert "first.scratch" in dict(mine.named_buffers())


def test_forward_and_gradients_equal_torch(pair):
    mine, theirs = pair
    theirs.double()
    mine.double()
    mine.load_state_dict(theirs.state_dict())
    x = rng().standard_normal((6, 4))
    out_c, out_t = mine(as_cr(x)), theirs(as_torch(x))
    assert_close(out_c, out_t)
    g = rng(1).standard_normal((6, 2))
    out_c.backward(cr.tensor(g))
    out_t.backward(as_torch(g))
    for (n, pc), (_, pt) in zip(mine.named_parameters(), theirs.named_parameters()):
        assert_close(pc.grad, pt.grad, what=n)


def test_load_state_dict_strict_errors_name_keys_and_shapes(pair):
    mine, theirs = pair
    sd = OrderedDict(theirs.state_dict())
    del sd["body.0.bias"]
    sd["extra.weight"] = torch.zeros(1)
    sd["first.fc.weight"] = torch.zeros(2, 2)
    with pytest.raises(RuntimeError) as e:
        mine.load_state_dict(sd)
    msg = str(e.value)
    assert 'Missing key(s) in state_dict: "body.0.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    assert "size mismatch for first.fc.weight" in msg
    assert "(2, 2)" in msg and "(3, 4)" in msg
    del sd["first.fc.weight"]
    res = mine.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["first.fc.weight", "body.0.bias"]
    assert res.unexpected_keys == ["extra.weight"]
    with pytest.raises(TypeError, match="dict-like"):
        mine.load_state_dict([1, 2])


def test_load_state_dict_copies_in_place_and_casts(pair):
    mine, theirs = pair
    w = mine.first.fc.weight
    mine.load_state_dict(theirs.state_dict())
    assert mine.first.fc.weight is w and w.dtype == np.float32
    assert_close(w.data, theirs.first.fc.weight.detach().numpy().astype(np.float32))
    sd = mine.state_dict()
    sd["first.fc.weight"] = cr.zeros(3, 4, dtype=cr.float64)
    mine.load_state_dict(sd, assign=True)
    assert mine.first.fc.weight is w and w.dtype == np.float64


def test_state_dict_shares_memory_and_keep_vars(pair):
    mine, _ = pair
    sd = mine.state_dict()
    assert not sd["bias"].requires_grad
    sd["bias"].data[0] = 5.0
    assert mine.bias.data[0] == 5.0
    assert mine.state_dict(keep_vars=True)["bias"] is mine.bias


def test_extra_state_round_trip():
    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.steps = 0

        def get_extra_state(self):
            return {"steps": self.steps}

        def set_extra_state(self, state):
            self.steps = state["steps"]

    a, b = WithState(), WithState()
    a.steps = 7
    sd = a.state_dict()
    assert list(sd) == ["_extra_state"]
    b.load_state_dict(sd)
    assert b.steps == 7
    with pytest.raises(RuntimeError, match="_extra_state"):
        b.load_state_dict({})


def test_state_dict_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h = m.register_load_state_dict_pre_hook(
        lambda mod, sd, prefix, *rest: sd.__setitem__(prefix + "bias", cr.zeros(2))
    )
    m.register_load_state_dict_post_hook(lambda mod, keys: calls.append(list(keys[0])))
    m.load_state_dict({"weight": cr.ones(2, 2)})  # the pre hook supplies the missing bias
    assert np.all(m.bias._array == 0) and calls == [[]]
    h.remove()
    m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: sd.pop(prefix + "bias"))
    assert list(m.state_dict()) == ["weight"]


def test_train_eval_propagate_and_respect_overrides(pair):
    mine, _ = pair
    mine.eval()
    assert not any(m.training for m in mine.modules())
    mine.train()
    assert all(m.training for m in mine.modules())

    class Frozen(nn.Module):
        def train(self, mode=True):  # a subclass that stays in eval mode
            return super().train(False)

    mine.first.frozen = Frozen()
    mine.train()
    assert mine.training and not mine.first.frozen.training
    with pytest.raises(ValueError):
        mine.train("yes")


def test_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(cr.ones(2))
    with pytest.raises(TypeError, match="Parameter"):
        m.w = cr.ones(2)
    m.w = None
    assert "w" in m._parameters and m.w is None
    m.sub = nn.Linear(1, 1)
    with pytest.raises(TypeError):
        m.sub = 3
    with pytest.raises(KeyError):
        m.register_buffer("a.b", cr.ones(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("sub", None)
    with pytest.raises(TypeError):
        m.register_buffer("buf", np.ones(2))
    m.buf = nn.Buffer(cr.ones(2), persistent=False)
    assert "buf" in dict(m.named_buffers()) and "buf" not in m.state_dict()
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = m.nothing
    with pytest.raises(NotImplementedError, match="forward"):
        m(cr.ones(1))
    assert m.get_submodule("") is m
    net = nn.Sequential(nn.Linear(2, 2))
    assert net.get_parameter("0.weight") is net[0].weight
    with pytest.raises(AttributeError):
        net.get_submodule("1")


def test_parameter_basics():
    p = nn.Parameter(cr.randn(2, 3))
    assert p.requires_grad and p.is_leaf and isinstance(p, cr.Tensor)
    assert repr(p).startswith("Parameter containing:")
    p.tag = "no_decay"  # attributes are allowed, as on torch Parameters
    q = copy.deepcopy(p)
    assert q.tag == "no_decay" and q.data is not p.data and isinstance(q, nn.Parameter)
    assert not nn.Parameter(cr.ones(2), requires_grad=False).requires_grad
    with pytest.raises(RuntimeError):
        nn.Parameter(cr.tensor([1, 2]))
    assert nn.Parameter().shape == (0,)


def test_forward_hooks_modify_args_and_output():
    m = nn.Linear(3, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0.0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append("post") or out + 1.0)
    m.register_forward_hook(lambda mod, args, out: calls.append("first"), prepend=True)
    y = m(cr.ones(1, 3))
    assert_close(y, m.bias.data[None] + 1.0)
    assert calls == ["first", "post"]
    h1.remove()
    h2.remove()
    assert_close(m(cr.ones(1, 3)), cr.ones(1, 3) @ m.weight.T + m.bias)

    seen = {}

    def pre_kw(mod, args, kwargs):
        return args, {"scale": 2.0}

    class Scaled(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    s = Scaled()
    s.register_forward_pre_hook(pre_kw, with_kwargs=True)
    s.register_forward_hook(lambda mod, a, kw, out: seen.update(kw), with_kwargs=True)
    assert_close(s(cr.ones(2)), 2 * np.ones(2))
    assert seen == {"scale": 2.0}


def test_always_call_and_global_hooks():
    from chainrule.nn.modules import module as module_mod

    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    b = Boom()
    called = []
    b.register_forward_hook(lambda m, a, o: called.append(o), always_call=True)
    with pytest.raises(ValueError):
        b(cr.ones(1))
    assert called == [None]
    names = []
    h = module_mod.register_module_forward_hook(lambda m, a, o: names.append(type(m).__name__))
    try:
        nn.Sequential(nn.ReLU(), nn.Tanh())(cr.ones(2))
    finally:
        h.remove()
    assert names == ["ReLU", "Tanh", "Sequential"]


def _hook_records(lib, model, x, g, replace=None):
    recs = []

    def hook(mod, gi, go):
        recs.append(([t if t is None else t.detach().numpy().copy() for t in gi],
                     [t.detach().numpy().copy() for t in go]))
        if replace is not None:
            return tuple(None if t is None else t * replace for t in gi)
        return None

    model.register_full_backward_hook(hook)
    out = model(x)
    out.backward(g)
    return recs


def test_full_backward_hook_arguments_equal_torch():
    x = rng().standard_normal((5, 3))
    g = rng(1).standard_normal((5, 2))
    mine, theirs = nn.Linear(3, 2).double(), torch.nn.Linear(3, 2).double()
    mine.load_state_dict(theirs.state_dict())
    xc, xt = as_cr(x, True), as_torch(x, True)
    rc = _hook_records(nn, mine, xc, cr.tensor(g), replace=3.0)
    rt = _hook_records(torch.nn, theirs, xt, as_torch(g), replace=3.0)
    assert len(rc) == len(rt) == 1
    assert_close(rc[0][0][0], rt[0][0][0], what="grad_input")
    assert_close(rc[0][1][0], rt[0][1][0], what="grad_output")
    assert_close(xc.grad, xt.grad, what="replaced input grad")
    assert_close(mine.weight.grad, theirs.weight.grad, what="weight grad untouched by the hook")


def test_backward_pre_hook_replaces_grad_output_and_multi_input():
    class Mix(nn.Module):
        def forward(self, a, k, b):
            return a * b * k

    m = Mix()
    seen = []
    m.register_full_backward_pre_hook(lambda mod, go: (go[0] * 2.0,))
    m.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go)))
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    m(a, 5.0, b).sum().backward()
    (gi, go), = seen
    assert len(gi) == 3 and gi[1] is None
    assert_close(go[0], 2 * np.ones(2))
    assert_close(a.grad, 2 * 5.0 * b.data)
    assert_close(b.grad, 2 * 5.0 * a.data)
    assert_close(gi[0], a.grad)


def test_backward_hook_without_input_grads_and_removal():
    m = nn.Linear(2, 1)
    seen = []
    h = m.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go)))
    m(cr.ones(3, 2)).sum().backward()
    (gi, go), = seen
    assert gi == (None,) and go[0].shape == (3, 1)
    m.register_full_backward_hook(lambda mod, gi, go: (cr.ones(3, 2),))
    with pytest.raises(RuntimeError, match="no input requires gradient"):
        m(cr.ones(3, 2)).sum().backward()
    h.remove()
    with no_hooks(m):
        m(cr.ones(3, 2)).sum().backward()


class no_hooks:
    def __init__(self, m):
        self.m = m

    def __enter__(self):
        self.saved = dict(self.m._backward_hooks)
        self.m._backward_hooks.clear()

    def __exit__(self, *exc):
        self.m._backward_hooks.update(self.saved)


def test_backward_hook_create_graph_second_order():
    m = nn.Tanh()
    m.register_full_backward_hook(lambda mod, gi, go: None)
    x = cr.tensor([0.3, -0.7], requires_grad=True)
    (gx,) = cr.autograd.grad(m(x).sum(), x, create_graph=True)
    (ggx,) = cr.autograd.grad(gx.sum(), x)
    t = np.tanh(x._array)
    assert_close(gx, 1 - t**2)
    assert_close(ggx, -2 * t * (1 - t**2))


def test_apply_to_zero_grad_requires_grad(pair):
    mine, theirs = pair
    visited, visited_t = [], []
    mine.apply(lambda m: visited.append(type(m).__name__))
    theirs.apply(lambda m: visited_t.append(type(m).__name__))
    assert visited == visited_t and visited[-1] == "Net"
    w = mine.first.fc.weight
    mine.to(cr.float64)
    assert mine.first.fc.weight is w and w.dtype == np.float64
    assert mine.first.count.dtype == np.float64
    out = mine(cr.randn(2, 4, dtype=cr.float64))
    out.sum().backward()
    assert w.grad is not None
    mine.zero_grad(set_to_none=False)
    assert np.all(w.grad._array == 0)
    mine.zero_grad()
    assert w.grad is None
    mine.requires_grad_(False)
    assert not any(p.requires_grad for p in mine.parameters())
    with pytest.raises(TypeError):
        mine.to(cr.int64)
    assert mine.float().first.fc.weight.dtype == np.float32
    mine.to("cpu")
    with pytest.raises(RuntimeError):
        mine.to("cuda")


def test_deepcopy_is_independent_and_keeps_sharing(pair):
    mine, _ = pair
    twin = copy.deepcopy(mine)
    assert twin.shared is twin.heads[0]
    assert twin.heads[0].weight is not mine.heads[0].weight
    twin.heads[0].weight.data[...] = 0
    assert np.any(mine.heads[0].weight._array != 0)
    mine.double()  # the model mixes float32 layers and float64 parameters: one dtype to run
    x = cr.randn(2, 4, dtype=cr.float64)
    assert_close(copy.deepcopy(mine)(x), mine(x))


def test_repr_matches_torch(pair):
    mine, theirs = pair
    assert repr(mine) == repr(theirs)


def test_global_full_backward_hook():
    from chainrule.nn.modules import module as module_mod

    seen = []
    h = module_mod.register_module_full_backward_hook(
        lambda m, gi, go: seen.append(type(m).__name__)
    )
    try:
        net = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
        net(cr.randn(4, 2, requires_grad=True)).sum().backward()
    finally:
        h.remove()
    assert sorted(seen) == ["Linear", "Sequential", "Tanh"] and seen[0] in ("Tanh", "Sequential")


def test_to_empty_keeps_identity_shape_dtype_as_torch():
    """to_empty gives new storage of the same shape and dtype to parameters and buffers (the
    Parameter objects stay), as torch's; load_state_dict then restores the values."""
    import numpy as np
    import torch

    import chainrule as cr

    for lib in (cr, torch):
        m = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3)).double()
        saved = {k: v.clone() for k, v in m.state_dict().items()}
        weight = m[0].weight
        assert m.to_empty(device="cpu") is m
        assert m[0].weight is weight and m[0].weight.dtype == lib.float64
        assert [tuple(v.shape) for v in m.state_dict().values()] == \
            [tuple(v.shape) for v in saved.values()]
        m.load_state_dict(saved)
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), saved[k].numpy())
    lin = cr.nn.Linear(2, 2)
    before = lin.weight.detach().numpy().copy()
    cr.nn.Sequential(lin).to_empty(device="cpu", recurse=False)   # the child is untouched
    np.testing.assert_array_equal(lin.weight.detach().numpy(), before)
