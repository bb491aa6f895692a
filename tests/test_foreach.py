"""torch._foreach_* against torch (float64): in-place and out-of-place forms with a scalar, a
list of scalars, a list of tensors and alpha/value/weight arguments; norms; length and type
errors. Also torch.isin, argsort/sort(stable=True) and the one-argument repeat_interleave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr

RNG = np.random.default_rng(0)
A = [RNG.standard_normal(s) for s in ((3,), (2, 2), ())]
B = [RNG.standard_normal(s) for s in ((3,), (2, 2), ())]
C = [RNG.random(s) + 0.5 for s in ((3,), (2, 2), ())]


def _lists(lib):
    make = cr.from_numpy if lib is cr else torch.from_numpy
    return [[make(np.array(a, dtype=np.float64)) for a in arrs] for arrs in (A, B, C)]


CALLS = [
    ("_foreach_mul_", lambda a, b, c: (a, 0.5)),
    ("_foreach_mul_", lambda a, b, c: (a, [0.5, 2.0, -1.0])),
    ("_foreach_mul", lambda a, b, c: (a, b)),
    ("_foreach_add_", lambda a, b, c: (a, b), {"alpha": 0.1}),
    ("_foreach_add", lambda a, b, c: (a, 3.0)),
    ("_foreach_sub_", lambda a, b, c: (a, b), {"alpha": 2.0}),
    ("_foreach_div_", lambda a, b, c: (a, c)),
    ("_foreach_addcmul_", lambda a, b, c: (a, b, c), {"value": -0.3}),
    ("_foreach_addcdiv_", lambda a, b, c: (a, b, c, [0.1, 0.2, 0.3])),
    ("_foreach_lerp_", lambda a, b, c: (a, b, 0.25)),
    ("_foreach_lerp", lambda a, b, c: (a, b, c)),
    ("_foreach_sqrt_", lambda a, b, c: (c,)),
    ("_foreach_exp", lambda a, b, c: (a,)),
    ("_foreach_neg_", lambda a, b, c: (a,)),
    ("_foreach_maximum_", lambda a, b, c: (a, b)),
    ("_foreach_clamp_min_", lambda a, b, c: (a, 0.0)),
    ("_foreach_norm", lambda a, b, c: (a,)),
    ("_foreach_zero_", lambda a, b, c: (a,)),
    ("_foreach_copy_", lambda a, b, c: (a, b)),
]


@pytest.mark.parametrize("call", CALLS, ids=[c[0] + str(i) for i, c in enumerate(CALLS)])
def test_foreach_vs_torch(call):
    name, args, kwargs = call[0], call[1], (call[2] if len(call) > 2 else {})
    got_lists, want_lists = _lists(cr), _lists(torch)
    got = getattr(cr, name)(*args(*got_lists), **kwargs)
    want = getattr(torch, name)(*args(*want_lists), **kwargs)
    if name.endswith("_"):                               # returns its own tensors
        assert all(g is t for g, t in zip(got, args(*got_lists)[0]))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-13, atol=1e-15)
    for gl, wl in zip(got_lists, want_lists):          # the in-place effects
        for g, w in zip(gl, wl):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-13, atol=1e-15)


def test_foreach_errors_and_autograd_checks():
    a, b, _ = _lists(cr)
    with pytest.raises(RuntimeError, match="same number of tensors"):
        cr._foreach_add_(a, b[:2])
    with pytest.raises(TypeError, match="list of tensors"):
        cr._foreach_mul_(a[0], 2.0)
    leaf = [cr.ones(2, requires_grad=True)]
    with pytest.raises(RuntimeError, match="leaf"):
        cr._foreach_mul_(leaf, 2.0)                      # as t.mul_ outside no_grad
    with cr.no_grad():
        cr._foreach_mul_(leaf, 2.0)
    assert leaf[0].tolist() == [2.0, 2.0]


def test_isin_sort_stable_repeat_interleave_vs_torch():
    e, t = np.array([[1, 5, 2], [7, 2, 9]]), np.array([2, 9, 11])
    for kw in ({}, {"invert": True}):
        got = cr.isin(cr.from_numpy(e), cr.from_numpy(t), **kw)
        want = torch.isin(torch.from_numpy(e), torch.from_numpy(t), **kw)
        assert got.tolist() == want.tolist() and str(got.dtype) == "bool"
    assert cr.isin(cr.from_numpy(e), 2).tolist() == torch.isin(torch.from_numpy(e), 2).tolist()
    v = np.array([3, 1, 3, 2, 1, 3])
    for desc in (False, True):
        got = cr.from_numpy(v).argsort(descending=desc, stable=True)
        want = torch.from_numpy(v).argsort(descending=desc, stable=True)
        assert got.tolist() == want.tolist()
        gs = cr.sort(cr.from_numpy(v), descending=desc, stable=True)
        ws = torch.sort(torch.from_numpy(v), descending=desc, stable=True)
        assert gs.indices.tolist() == ws.indices.tolist()
    counts = np.array([2, 0, 3, 1])
    assert cr.repeat_interleave(cr.from_numpy(counts)).tolist() == \
        torch.repeat_interleave(torch.from_numpy(counts)).tolist()
    x = np.arange(4.0)
    assert cr.from_numpy(x).repeat_interleave(cr.from_numpy(counts)).tolist() == \
        torch.from_numpy(x).repeat_interleave(torch.from_numpy(counts)).tolist()
