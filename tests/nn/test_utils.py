"""nn.utils against torch.nn.utils: clipping, vector conversion; penalties and max-norm."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import assert_close, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
from chainrule.nn import utils  # noqa: E402

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def _params_with_grads(scale=1.0):
    mine, theirs = [], []
    for k, shape in enumerate(SHAPES):
        w = rng(k).standard_normal(shape)
        g = rng(10 + k).standard_normal(shape) * scale
        pc = nn.Parameter(cr.tensor(w))
        pc.grad = cr.tensor(g)
        pt = torch.nn.Parameter(torch.tensor(w))
        pt.grad = torch.tensor(g)
        mine.append(pc)
        theirs.append(pt)
    return mine, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_equals_torch(norm_type, max_norm):
    mine, theirs = _params_with_grads()
    tc = utils.clip_grad_norm_(mine, max_norm, norm_type)
    tt = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert_close(tc, tt)
    for pc, pt in zip(mine, theirs):
        assert_close(pc.grad, pt.grad)


def test_clip_grad_norm_nonfinite_and_edge_cases():
    mine, _ = _params_with_grads()
    mine[0].grad._array[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_(mine, 1.0, error_if_nonfinite=True)
    assert np.isnan(utils.clip_grad_norm_(mine, 1.0).item())
    assert utils.clip_grad_norm_([nn.Parameter(cr.ones(2))], 1.0).item() == 0.0
    p = nn.Parameter(cr.ones(3))
    p.grad = cr.full((3,), 4.0)
    total = utils.clip_grad_norm_(p, 1.0)  # a single tensor is accepted
    assert math.isclose(total.item(), math.sqrt(48), rel_tol=1e-6)
    assert math.isclose(float(np.linalg.norm(p.grad._array)), 1.0, rel_tol=1e-5)


def test_clip_grad_value_equals_torch():
    mine, theirs = _params_with_grads(scale=3.0)
    utils.clip_grad_value_(mine, 1.5)
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for pc, pt in zip(mine, theirs):
        assert_close(pc.grad, pt.grad)


def test_parameters_to_vector_and_back_equal_torch():
    mine, theirs = _params_with_grads()
    vc = utils.parameters_to_vector(mine)
    vt = torch.nn.utils.parameters_to_vector(theirs)
    assert_close(vc, vt)
    (vc * vc).sum().backward()  # the vector is part of the graph
    assert_close(mine[0].grad, 2 * mine[0]._array + rng(10).standard_normal(SHAPES[0]))
    new = rng(7).standard_normal(vt.shape[0])
    utils.vector_to_parameters(cr.tensor(new), mine)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), theirs)
    for pc, pt in zip(mine, theirs):
        assert_close(pc, pt)
    with pytest.raises(TypeError):
        utils.vector_to_parameters(new, mine)
    with pytest.raises(RuntimeError, match="elements"):
        utils.vector_to_parameters(cr.ones(3), mine)


def test_penalties_values_and_gradients():
    model = nn.Linear(4, 3).double()
    w, b = model.weight._array, model.bias._array
    l1 = utils.l1_penalty(model.parameters(), 0.1)
    l2 = utils.l2_penalty(model, 0.2)
    en = utils.elastic_net_penalty(model.parameters(), alpha=0.5, l1_ratio=0.3)
    abs_sum = np.abs(w).sum() + np.abs(b).sum()
    sq_sum = (w * w).sum() + (b * b).sum()
    assert math.isclose(l1.item(), 0.1 * abs_sum)
    assert math.isclose(l2.item(), 0.1 * sq_sum)
    assert math.isclose(en.item(), 0.5 * (0.3 * abs_sum + 0.35 * sq_sum))
    with pytest.raises(ValueError):
        utils.elastic_net_penalty(model.parameters(), l1_ratio=2.0)


def test_l2_penalty_gradient_equals_coupled_weight_decay():
    x = rng().standard_normal((5, 4))
    y = rng(1).standard_normal((5, 2))
    mine, theirs = nn.Linear(4, 2).double(), torch.nn.Linear(4, 2).double()
    mine.load_state_dict(theirs.state_dict())
    loss = nn.functional.mse_loss(mine(cr.tensor(x)), cr.tensor(y))
    (loss + utils.l2_penalty(mine.parameters(), 0.3)).backward()
    torch.nn.functional.mse_loss(theirs(torch.tensor(x)), torch.tensor(y)).backward()
    opt = torch.optim.SGD(theirs.parameters(), lr=0.1, weight_decay=0.3)
    before = [p.detach().clone() for p in theirs.parameters()]
    opt.step()
    for pc, pt, p0 in zip(mine.parameters(), theirs.parameters(), before):
        assert_close(pc.grad, (p0 - pt.detach()) / 0.1)  # the step used grad + λθ


def test_max_norm_constraint():
    w = nn.Parameter(cr.tensor(rng().standard_normal((6, 5)) * 3))
    small = w._array[0] / np.linalg.norm(w._array[0]) * 0.5
    w._array[0] = small
    n = utils.max_norm_([w], 2.0)
    norms = np.linalg.norm(w._array, axis=1)
    assert n == 5 and np.all(norms <= 2.0 + 1e-6)
    assert_close(w._array[0], small)
    np.testing.assert_allclose(norms[1:], 2.0, rtol=1e-6)
    conv_w = cr.tensor(rng(1).standard_normal((4, 3, 3, 3)) * 5)
    utils.max_norm_(conv_w, 1.0)
    assert np.all(np.linalg.norm(conv_w._array.reshape(4, -1), axis=1) <= 1.0 + 1e-6)
    cols = cr.tensor(rng(2).standard_normal((3, 8)) * 4)
    utils.max_norm_(cols, 1.5, dim=1, norm_type=math.inf)
    assert np.abs(cols._array).max(axis=0).max() <= 1.5 + 1e-6
    ref = torch.renorm(torch.tensor(rng(3).standard_normal((5, 4))), 2, 0, 1.0)
    mine = cr.tensor(rng(3).standard_normal((5, 4)))
    utils.max_norm_(mine, 1.0)
    assert_close(mine, ref, rtol=1e-6)


def _mlp_with_fixed_weights():
    m = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    with cr.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(cr.tensor(np.sin(np.arange(p.numel()) + i).reshape(tuple(p.shape))))
    return m


def test_clip_grad_norm_float32_equals_torch_and_replays_under_compile():
    """The total norm is computed in the gradients' dtype as torch does (float32 here: equal
    to torch's), and without a Python float, so a compiled step with clipping replays and
    equals the eager one bit for bit."""
    import warnings

    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    cm = _mlp_with_fixed_weights()
    with torch.no_grad():
        for p, q in zip(tm.parameters(), cm.parameters()):
            p.copy_(torch.tensor(q.detach().numpy()))
    tm(torch.tensor(x)).pow(2).mean().backward()
    cm(cr.tensor(x)).pow(2).mean().backward()
    a = torch.nn.utils.clip_grad_norm_(tm.parameters(), 0.5)
    b = cr.nn.utils.clip_grad_norm_(cm.parameters(), 0.5)
    assert b.dtype == cr.float32 and b.item() == a.item()
    for p, q in zip(tm.parameters(), cm.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-6, atol=1e-7)

    runs = []
    for compiled in (False, True):
        m = _mlp_with_fixed_weights()
        opt = cr.optim.SGD(m.parameters(), lr=0.1)
        xs = cr.tensor(x)

        def step(m=m, opt=opt, xs=xs):
            opt.zero_grad()
            loss = m(xs).pow(2).mean()
            loss.backward()
            norm = cr.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
            opt.step()
            return loss, norm

        fn = cr.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = [(lo.item(), no.item()) for lo, no in (fn() for _ in range(8))]
        runs.append((out, [p.detach().numpy().copy() for p in m.parameters()], fn))
    (oe, pe, _), (oc, pc, fn) = runs
    assert oe == oc and fn.replays == 5
    for a, b in zip(pe, pc):
        np.testing.assert_array_equal(a, b)
