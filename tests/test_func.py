"""chainrule.func against torch.func (float64): per-example gradients of an MLP and a CNN,
grad/vjp/jacrev/jacfwd/hessian, vmap's in_dims/out_dims/nesting, functional_call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.func import functional_call, grad, grad_and_value, hessian, jacfwd, jacrev, vjp, vmap


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a))


def _c(a: np.ndarray) -> cr.Tensor:
    return cr.from_numpy(np.array(a))


def _twin(cr_model: nn.Module, torch_model: torch.nn.Module) -> None:
    torch_model.load_state_dict({k: _t(v.detach().numpy()) for k, v in
                                 cr_model.state_dict().items()})


def check_per_example_grads(cr_model, torch_model, x: np.ndarray, y: np.ndarray) -> None:
    """The tutorial's recipe on both sides: vmap(grad(loss), in_dims=(None, None, 0, 0))."""
    def cr_loss(params, buffers, sample, target):
        out = functional_call(cr_model, (params, buffers), (sample.unsqueeze(0),))
        return F.cross_entropy(out, target.unsqueeze(0))

    def t_loss(params, buffers, sample, target):
        out = torch.func.functional_call(torch_model, (params, buffers), (sample.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, target.unsqueeze(0))

    cp = {k: v.detach() for k, v in cr_model.named_parameters()}
    cb = {k: v.detach() for k, v in cr_model.named_buffers()}
    tp = {k: v.detach() for k, v in torch_model.named_parameters()}
    tb = {k: v.detach() for k, v in torch_model.named_buffers()}
    got = vmap(grad(cr_loss), in_dims=(None, None, 0, 0))(cp, cb, _c(x), _c(y))
    want = torch.func.vmap(torch.func.grad(t_loss), in_dims=(None, None, 0, 0))(
        tp, tb, _t(x), _t(y))
    assert list(got) == list(want)
    for k in want:
        assert tuple(got[k].shape) == tuple(want[k].shape) == (len(x),) + tuple(tp[k].shape)
        np.testing.assert_allclose(got[k].numpy(), want[k].numpy(), rtol=1e-10, atol=1e-12)
        assert not got[k].requires_grad
    # the module's own parameters are untouched and got no .grad
    for k, p in cr_model.named_parameters():
        assert p.grad is None
        np.testing.assert_array_equal(p.detach().numpy(), tp[k].numpy())


def test_per_example_grads_mlp():
    rng = np.random.default_rng(0)
    cr.manual_seed(0)
    m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    t = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    _twin(m, t)
    check_per_example_grads(m, t, rng.standard_normal((6, 5)), rng.integers(0, 3, 6))


def test_per_example_grads_cnn_with_buffers():
    rng = np.random.default_rng(1)
    cr.manual_seed(1)

    def build(lib):
        return lib.nn.Sequential(
            lib.nn.Conv2d(1, 3, 3, padding=1), lib.nn.BatchNorm2d(3), lib.nn.ReLU(),
            lib.nn.MaxPool2d(2), lib.nn.Flatten(), lib.nn.Linear(3 * 3 * 3, 4)).double().eval()

    m, t = build(cr), build(torch)
    _twin(m, t)
    m[1].running_mean.data[:] = rng.standard_normal(3)
    t[1].running_mean.copy_(_t(m[1].running_mean.numpy()))
    check_per_example_grads(m, t, rng.standard_normal((4, 1, 6, 6)), rng.integers(0, 4, 4))


def test_functional_call_leaves_module_unchanged():
    cr.manual_seed(2)
    m = nn.Linear(3, 2).double()
    w0, b0 = m.weight, m.bias
    w = cr.zeros(2, 3, dtype=cr.float64)
    x = cr.ones(1, 3, dtype=cr.float64)
    out = functional_call(m, {"weight": w}, x)
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(b0.detach().numpy(), (1, 2)))
    assert m.weight is w0 and m.bias is b0 and isinstance(m.weight, nn.Parameter)
    assert list(dict(m.named_parameters())) == ["weight", "bias"]
    np.testing.assert_allclose(m(x).detach().numpy(),
                               x.numpy() @ w0.detach().numpy().T + b0.detach().numpy())
    with pytest.raises(RuntimeError, match="missing keys"):
        functional_call(m, {"weight": w}, x, strict=True)


def test_functional_call_tied_weights():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, bias=False)
            self.b = nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    m = Tied().double()
    w = cr.eye(2, dtype=cr.float64) * 2
    x = cr.ones(1, 2, dtype=cr.float64)
    tied = functional_call(m, {"a.weight": w}, x).detach().numpy()
    np.testing.assert_allclose(tied, [[4.0, 4.0]])
    untied = functional_call(m, {"a.weight": w}, x, tie_weights=False).detach().numpy()
    want = x.numpy() @ w.numpy().T @ m.a.weight.detach().numpy().T
    np.testing.assert_allclose(untied, want)


def _f(x, y):
    return (x.sin() * y).sum() + (x ** 2 * y ** 3).sum()


@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_grad_and_value_vs_torch(argnums):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal(4), rng.standard_normal(4)
    g, v = grad_and_value(_f, argnums)(_c(x), _c(y))
    tg, tv = torch.func.grad_and_value(_f, argnums)(_t(x), _t(y))
    g, tg = (g, tg) if isinstance(argnums, tuple) else ((g,), (tg,))
    for a, b in zip(g, tg):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    np.testing.assert_allclose(v.item(), tv.item(), rtol=1e-12)


def test_grad_has_aux_and_errors():
    x = _c(np.array([1.0, 2.0]))
    g, aux = grad(lambda x: ((x ** 2).sum(), {"n": x.sum()}), has_aux=True)(x)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
    assert aux["n"].item() == 3.0
    with pytest.raises(RuntimeError, match="scalar Tensor"):
        grad(lambda x: x * 2)(x)
    with pytest.raises(RuntimeError, match="argnums"):
        grad(lambda x: x.sum(), argnums=3)(x)


def test_grad_only_through_the_argument():
    """A closed-over copy of the input is a constant (torch.func's semantics)."""
    x = _c(np.array([1.0, -2.0]))
    got = grad(lambda z: (z * x).sum() + (z ** 2).sum())(x)
    want = torch.func.grad(lambda z: (z * _t(x.numpy())).sum() + (z ** 2).sum())(_t(x.numpy()))
    np.testing.assert_allclose(got.numpy(), want.numpy())


def test_vjp_pytree_vs_torch():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal(3), rng.standard_normal((2, 3))

    def f(lib):
        def fn(inp, params):
            h = params["w"] @ inp
            return h.tanh(), (h ** 2).sum()
        return fn

    out, fn = vjp(f(cr), _c(x), {"w": _c(w)})
    tout, tfn = torch.func.vjp(f(torch), _t(x), {"w": _t(w)})
    v = (rng.standard_normal(2), rng.standard_normal(()))
    got = fn((_c(v[0]), _c(v[1])))
    want = tfn((_t(v[0]), _t(v[1])))
    np.testing.assert_allclose(out[0].numpy(), tout[0].numpy())
    np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(got[1]["w"].numpy(), want[1]["w"].numpy(), rtol=1e-12)


def _g(x, y):
    return (x[:, None] * y[None, :]).tanh() + x.sum() * y.exp()[None, :]


@pytest.mark.parametrize("name", ["jacrev", "jacfwd"])
def test_jacobians_vs_torch(name):
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(3), rng.standard_normal(2)
    ours = {"jacrev": jacrev, "jacfwd": jacfwd}[name]
    theirs = getattr(torch.func, name)
    got = ours(_g, argnums=(0, 1))(_c(x), _c(y))
    want = theirs(_g, argnums=(0, 1))(_t(x), _t(y))
    for a, b in zip(got, want):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


def test_hessian_vs_torch():
    rng = np.random.default_rng(6)
    x = rng.standard_normal(4)

    def f(x):
        return (x.sin() * x.roll(1, 0)).sum() + (x ** 4).sum()

    got = hessian(f)(_c(x))
    want = torch.func.hessian(f)(_t(x))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-14)
    # jacrev of jacrev, and of a dict-valued argument
    got2 = jacrev(jacrev(lambda d: f(d["x"])))({"x": _c(x)})
    np.testing.assert_allclose(got2["x"]["x"].numpy(), want.numpy(), rtol=1e-12, atol=1e-14)


def test_vmap_in_dims_out_dims_and_nesting():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))

    def f(x, y):
        return x @ y, x.sum()

    for in_dims, out_dims, args in [((0, None), 0, (a, b)), ((1, None), (1, 0), (a.T.copy(), b)),
                                    ((0, None), (1, 0), (a, b))]:
        got = vmap(f, in_dims, out_dims)(_c(args[0]), _c(args[1]))
        want = torch.vmap(f, in_dims, out_dims)(_t(args[0]), _t(args[1]))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12)
    # nested: an outer product via two maps; pytree in_dims for a dict argument
    outer = vmap(vmap(lambda u, v: u * v, in_dims=(None, 0)), in_dims=(0, None))
    np.testing.assert_allclose(outer(_c(a[0]), _c(b[0])).numpy(), np.outer(a[0], b[0]))
    d = vmap(lambda p: p["u"] + p["v"], in_dims=({"u": 0, "v": None},))(
        {"u": _c(a), "v": _c(a[0])})
    np.testing.assert_allclose(d.numpy(), a + a[0])
    with pytest.raises(ValueError, match="out of range"):
        vmap(f, (0, None), 1)(_c(a), _c(b))
    with pytest.raises(ValueError, match="same size"):
        vmap(lambda u, v: u + v)(_c(a), _c(b))
    with pytest.raises(ValueError, match="in_dims"):
        vmap(lambda u: u, in_dims=(0, 0))(_c(a))


def test_vmap_randomness():
    x = cr.zeros(3, 2)
    with pytest.raises(RuntimeError, match="randomness"):
        vmap(lambda z: z + cr.randn(2))(x)
    same = vmap(lambda z: z + cr.randn(2), randomness="same")(x)
    np.testing.assert_array_equal(same[0].numpy(), same[2].numpy())
    diff = vmap(lambda z: z + cr.randn(2), randomness="different")(x)
    assert not np.array_equal(diff[0].numpy(), diff[1].numpy())


def test_top_level_vmap_is_func_vmap():
    assert cr.vmap is vmap and cr.func.vmap is vmap


def test_jvp_vs_torch():
    """torch.func.jvp: (f(x, y), J·(u, v)) for two primals and a tuple output; a tangent of a
    wrong shape is refused; the result composes with vmap (batched tangents)."""
    from chainrule.func import jvp

    rng = np.random.default_rng(7)
    x, y, u, v = (rng.standard_normal(3), rng.standard_normal(2), rng.standard_normal(3),
                  rng.standard_normal(2))

    def f(a, b):
        return _g(a, b), (a ** 3).sum() * b

    out, jv = jvp(f, (_c(x), _c(y)), (_c(u), _c(v)))
    tout, tjv = torch.func.jvp(f, (_t(x), _t(y)), (_t(u), _t(v)))
    for a, b in zip(out + jv, tout + tjv):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    assert not jv[0].requires_grad
    with pytest.raises(RuntimeError, match="shape"):
        jvp(f, (_c(x), _c(y)), (_c(u[:2]), _c(v)))
    with pytest.raises(RuntimeError, match="tuple"):
        jvp(f, _c(x), _c(u))
    basis = np.eye(3)
    cols = vmap(lambda t: jvp(lambda a: _g(a, _c(y)), (_c(x),), (t,))[1])(_c(basis))
    want = torch.func.jacfwd(lambda a: _g(a, _t(y)))(_t(x))
    np.testing.assert_allclose(cols.numpy(), want.permute(2, 0, 1).numpy(), rtol=1e-12)


def test_stack_module_state_ensemble_vs_torch():
    """The ensembling tutorial: stack_module_state of 3 models then vmap(functional_call) over
    the stack equals each model's own output; shapes and leaf flags as torch's."""
    from chainrule.func import stack_module_state

    models = [nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)) for _ in range(3)]
    for m in models:
        m.eval()
    params, buffers = stack_module_state(models)
    tmodels = [torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                   torch.nn.Linear(4, 2)).eval() for _ in range(3)]
    tparams, tbuffers = torch.func.stack_module_state(tmodels)
    for got, want in ((params, tparams), (buffers, tbuffers)):
        assert list(got) == list(want)
        for k in want:
            assert tuple(got[k].shape) == tuple(want[k].shape)
            assert got[k].requires_grad == want[k].requires_grad
    assert all(p.grad_fn is None for p in params.values())
    x = _c(np.random.default_rng(8).standard_normal((5, 3)).astype(np.float32))
    base = models[0]

    def call(p, b, inp):
        return functional_call(base, (p, b), (inp,))

    out = vmap(call, in_dims=(0, 0, None))(params, buffers, x)
    for i, m in enumerate(models):
        np.testing.assert_allclose(out[i].detach().numpy(), m(x).detach().numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="at least one model"):
        stack_module_state([])
