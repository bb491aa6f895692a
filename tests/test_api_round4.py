"""API fidelity, round 4: behaviours the programs in ``examples/pytorch_idioms`` (round 4) rely
on, each compared with PyTorch in float64."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def _np(t) -> np.ndarray:
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def test_asarray_shares_memory_and_copies_like_torch() -> None:
    for lib in (torch, cr):
        a = np.ones(3)
        shared = lib.asarray(a)
        copied = lib.asarray(a, copy=True)
        a[0] = 5.0
        assert shared.dtype == lib.float64 and _np(shared)[0] == 5.0 and _np(copied)[0] == 1.0
        t = lib.ones(2)
        assert lib.asarray(t) is t
        assert lib.asarray(t, dtype=lib.float64).dtype == lib.float64
        assert lib.asarray([1.0, 2.0]).dtype == lib.float32
        assert lib.asarray([1, 2]).dtype == lib.int64
        with pytest.raises(ValueError, match="alias"):
            lib.asarray(a, dtype=lib.float32, copy=False)


def test_range_is_inclusive_and_warns() -> None:
    for args in ((0, 1, 0.25), (1, 4), (5, 1, -2), (0.5, 2.0, 0.5)):
        with pytest.warns(UserWarning, match="deprecated"):
            ours = cr.range(*args)
        with pytest.warns(UserWarning, match="deprecated"):
            ref = torch.range(*args)
        assert str(ours.dtype) == str(ref.dtype).replace("torch.", "")
        np.testing.assert_allclose(_np(ours), ref.numpy())
    assert cr.scalar_tensor(3).dtype == cr.float32 and cr.scalar_tensor(3).shape == ()


@pytest.mark.parametrize("kwargs", [{}, {"dx": 0.5}, {"x": "1d"}, {"x": "nd"}])
def test_cumulative_trapezoid_values_and_gradient(kwargs: dict) -> None:
    rng = np.random.default_rng(1)
    y = rng.standard_normal((3, 5))
    xs = {"1d": np.cumsum(rng.uniform(0.1, 1, 5)), "nd": np.cumsum(rng.uniform(0.1, 1, (3, 5)), 1)}
    w = rng.standard_normal((3, 4))
    outs = []
    for lib in (torch, cr):
        yt = lib.tensor(y, requires_grad=True)
        kw = dict(kwargs)
        if "x" in kw:
            kw["x"] = lib.tensor(xs[kw["x"]])
        out = lib.cumulative_trapezoid(yt, dim=1, **kw)
        (out * lib.tensor(w)).sum().backward()
        outs.append((_np(out), _np(yt.grad)))
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-12)
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=1e-12)
    assert cr.cumulative_trapezoid(cr.tensor([1, 2, 4])).dtype == cr.float32


def test_set_default_tensor_type() -> None:
    try:
        with pytest.warns(UserWarning, match="deprecated"):
            cr.set_default_tensor_type("torch.DoubleTensor")
        assert cr.ones(1).dtype == cr.float64
        with pytest.warns(UserWarning):
            cr.set_default_tensor_type(cr.FloatTensor)
        assert cr.ones(1).dtype == cr.float32
        with pytest.raises(TypeError, match="floating"), pytest.warns(UserWarning):
            cr.set_default_tensor_type("torch.LongTensor")
    finally:
        cr.set_default_dtype(cr.float32)


def test_functional_and_inplace_top_level_forms() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    for name, args in (("cosine_similarity", (a, b)), ("pdist", (a,)),
                       ("pairwise_distance", (a, b))):
        ref = getattr(torch, name)(*map(torch.tensor, args))
        np.testing.assert_allclose(_np(getattr(cr, name)(*map(cr.tensor, args))), ref.numpy(),
                                   rtol=1e-12)
    for name in ("exp_", "sigmoid_", "clamp_", "zero_"):
        extra = (0.0, 0.5) if name == "clamp_" else ()
        t_ref, t_ours = torch.tensor(a), cr.tensor(a)
        assert getattr(torch, name)(t_ref, *extra) is t_ref
        assert getattr(cr, name)(t_ours, *extra) is t_ours
        np.testing.assert_allclose(_np(t_ours), t_ref.numpy(), rtol=1e-12)
    with pytest.raises(TypeError, match="must be Tensor"):
        cr.exp_([1.0])


# ---- torch.utils._pytree and nn.utils.skip_init --------------------------------------------
def test_pytree_flatten_map_unflatten_like_torch() -> None:
    import collections

    import torch.utils._pytree as ref

    import chainrule.utils._pytree as ours

    Pair = collections.namedtuple("Pair", "x y")
    tree = {"b": [1, (2, None)], "a": Pair(3, collections.OrderedDict(k=4)),
            "c": collections.deque([5, 6], maxlen=4), "d": collections.defaultdict(list, z=7)}
    for mod in (ref, ours):
        leaves, spec = mod.tree_flatten(tree)
        assert leaves == [1, 2, None, 3, 4, 5, 6, 7] and spec.num_leaves == 8
        rebuilt = mod.tree_unflatten(range(8), spec)
        assert rebuilt["a"] == Pair(3, collections.OrderedDict(k=4)) and rebuilt["c"].maxlen == 4
        assert rebuilt["b"] == [0, (1, 2)] and rebuilt["d"].default_factory is list
        doubled = mod.tree_map(lambda v: v * 2 if v is not None else v, tree)
        assert doubled["b"] == [2, (4, None)] and doubled["a"].y["k"] == 8
        assert mod.tree_map(lambda u, v: u + v, [1, {"q": 2}], [10, {"q": 20}]) == [11, {"q": 22}]
        assert mod.tree_map_only(int, lambda v: -v, [1, "s", 2.5]) == [-1, "s", 2.5]
        assert mod.tree_map(lambda v: 0, [1, [2, 3]],
                            is_leaf=lambda v: isinstance(v, list) and len(v) == 2) == 0
        assert mod.tree_all(lambda v: v > 0, [1, (2,)]) and not mod.tree_any(lambda v: v > 5, [1])
        with pytest.raises(ValueError, match="arity mismatch"):
            mod.tree_map(lambda u, v: u, [1, 2], [1])
        with pytest.raises(ValueError, match="length 2"):
            mod.tree_unflatten([1, 2], spec)


def test_pytree_moves_a_nested_batch_of_tensors() -> None:
    from chainrule.utils._pytree import tree_map

    batch = {"x": cr.ones(2, 3), "lengths": [cr.tensor([3, 1])]}
    moved = tree_map(lambda t: t.to(cr.float64) if t.is_floating_point() else t, batch)
    assert moved["x"].dtype == cr.float64 and moved["lengths"][0].dtype == cr.int64


def test_skip_init() -> None:
    m = cr.nn.utils.skip_init(cr.nn.Linear, 3, 4, bias=False)
    assert tuple(m.weight.shape) == (4, 3) and m.bias is None and m.weight.requires_grad

    class NoDevice(cr.nn.Module):
        pass

    with pytest.raises(RuntimeError, match="device"):
        cr.nn.utils.skip_init(NoDevice)


# ---- torch.distributions: more families, biject_to / transform_to ------------------------------
_FAMILIES = {
    # name: (parameters, values inside the support)
    "Weibull": ((np.array([1.0, 2.5, 0.7]), np.array([0.5, 1.5, 3.0])), np.array([0.7, 1.2, 0.3])),
    "Pareto": ((np.array([1.0, 0.5, 2.0]), np.array([2.0, 3.5, 0.8])), np.array([1.5, 0.6, 5.0])),
    "Kumaraswamy": ((np.array([2.0, 0.7, 5.0]), np.array([3.0, 1.5, 0.9])),
                    np.array([0.4, 0.1, 0.95])),
    "InverseGamma": ((np.array([2.0, 0.8, 3.5]), np.array([3.0, 1.0, 0.5])),
                     np.array([0.4, 2.0, 0.2])),
    "VonMises": ((np.array([0.3, -2.0, 3.0]), np.array([2.0, 0.05, 40.0])),
                 np.array([1.0, -3.0, 2.9])),
}


@pytest.mark.parametrize("name", sorted(_FAMILIES))
def test_family_log_prob_moments_and_gradients(name: str) -> None:
    params, value = _FAMILIES[name]
    results = []
    for lib in (torch, cr):
        ps = [lib.tensor(p, requires_grad=True) for p in params]
        d = getattr(lib.distributions, name)(*ps)
        lp = d.log_prob(lib.tensor(value))
        lp.sum().backward()
        stats = {"log_prob": _np(lp), "grads": [_np(p.grad) for p in ps]}
        for prop in ("mean", "mode", "variance"):
            stats[prop] = _np(getattr(d, prop))
        if name != "VonMises":
            stats["entropy"] = _np(d.entropy())
            stats["cdf"] = _np(d.cdf(lib.tensor(value)))
            if name != "InverseGamma":      # (PyTorch's Gamma has no icdf)
                stats["icdf"] = _np(d.icdf(lib.tensor([0.1, 0.5, 0.9], dtype=lib.float64)))
        results.append(stats)
    # PyTorch evaluates log I0 by a polynomial approximation (relative error ~1e-7), chainrule
    # by scipy's i0e; PyTorch 2.13's Kumaraswamy.mode is nan whenever concentration0 > 1 (its
    # log-space formula takes log1p(-concentration0)): chainrule returns the true mode, checked
    # below against ((a-1)/(ab-1))^(1/a).
    rtol, atol = (1e-5, 1e-6) if name == "VonMises" else (1e-9, 1e-12)
    for key, ref in results[0].items():
        if name == "Kumaraswamy" and key == "mode":
            a, b = params
            ref = np.where((a < 1) | (b < 1), np.nan, ((a - 1) / (a * b - 1)) ** (1 / a))
        ours = results[1][key]
        for r, o in zip(ref if key == "grads" else [ref], ours if key == "grads" else [ours]):
            np.testing.assert_allclose(o, r, rtol=rtol, atol=atol, err_msg=f"{name}.{key}")


@pytest.mark.parametrize("name", ["Weibull", "Pareto", "Kumaraswamy", "InverseGamma"])
def test_family_samples_match_the_cdf(name: str) -> None:
    """Draws (rsample, carrying gradients) follow the family's own cdf: a Kolmogorov-Smirnov
    distance far below the 1% critical value for 4000 draws."""
    params, _ = _FAMILIES[name]
    ps = [cr.tensor(p[:1].repeat(4000), requires_grad=True) for p in params]
    d = getattr(cr.distributions, name)(*ps)
    x = d.rsample(generator=cr.Generator().manual_seed(0))
    assert x.requires_grad
    u = np.sort(_np(d.cdf(x.detach())))
    ks = np.abs(u - (np.arange(1, 4001) - 0.5) / 4000).max()
    assert ks < 1.63 / np.sqrt(4000)


def test_von_mises_sampler_and_concentration_gradient() -> None:
    d = cr.distributions.VonMises(cr.tensor([0.5, -2.5]), cr.tensor([0.7, 8.0]))
    x = _np(d.sample((20000,), generator=cr.Generator().manual_seed(1)))
    assert x.shape == (20000, 2) and (x >= -np.pi).all() and (x < np.pi).all()
    # E[cos(x - mu)] = I1(k)/I0(k); circular mean direction = mu
    from scipy.special import i0e, i1e

    k = np.array([0.7, 8.0])
    np.testing.assert_allclose(np.cos(x - [0.5, -2.5]).mean(0), i1e(k) / i0e(k), atol=0.015)
    # d/dk of log I0 by double backward against torch
    grads = []
    for lib in (torch, cr):
        kt = lib.tensor(k, requires_grad=True)
        lp = lib.distributions.VonMises(lib.tensor([0.5, -2.5]), kt).log_prob(
            lib.tensor([0.1, 0.2])).sum()
        (g,) = lib.autograd.grad(lp, kt, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), kt)
        grads.append((_np(g), _np(h)))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-6)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-5)


def test_logistic_normal_and_stick_breaking() -> None:
    loc, scale = np.array([0.2, -0.5, 1.0]), np.array([1.0, 0.5, 2.0])
    value = np.array([[0.2, 0.3, 0.1, 0.4], [0.05, 0.05, 0.6, 0.3]])
    out = []
    for lib in (torch, cr):
        d = lib.distributions.LogisticNormal(lib.tensor(loc), lib.tensor(scale))
        t = lib.distributions.transforms.StickBreakingTransform()
        x = lib.tensor(loc, requires_grad=True)
        y = t(x)
        t.log_abs_det_jacobian(x, y).backward()
        out.append([_np(d.log_prob(lib.tensor(value))), _np(y), _np(t.inv(y)), _np(x.grad),
                    d.batch_shape, d.event_shape, t.forward_shape((5, 3)), t.inverse_shape((5, 4))])
    for r, o in zip(*out):
        np.testing.assert_allclose(np.asarray(o), np.asarray(r), rtol=1e-10)
    s = cr.distributions.LogisticNormal(cr.zeros(3), cr.ones(3)).rsample((7,))
    assert tuple(s.shape) == (7, 4) and np.allclose(_np(s.sum(-1)), 1.0)


def _constraints(lib):
    c = lib.distributions.constraints
    return [c.real, c.positive, c.nonnegative, c.greater_than(2.0), c.greater_than_eq(-1.0),
            c.less_than(1.0), c.unit_interval, c.interval(-1.0, 3.0),
            c.half_open_interval(0.5, 2.0), c.simplex, c.real_vector, c.independent(c.positive, 1)]


@pytest.mark.parametrize("registry", ["biject_to", "transform_to"])
def test_biject_to_and_transform_to_match_torch(registry: str) -> None:
    x = np.array([[0.3, -2.0, 1.5], [4.0, 0.0, -0.7]])
    ref_reg, our_reg = getattr(torch.distributions, registry), getattr(cr.distributions, registry)
    for ref_c, our_c in zip(_constraints(torch), _constraints(cr)):
        pair = []
        for reg, c, lib in ((ref_reg, ref_c, torch), (our_reg, our_c, cr)):
            t = reg(c)
            xt = lib.tensor(x, requires_grad=True)
            y = t(xt)
            res = [_np(y), _np(t.inv(y))]
            if not isinstance(t, lib.distributions.transforms.SoftmaxTransform):
                ladj = t.log_abs_det_jacobian(xt, y)
                res.append(_np(lib.as_tensor(ladj) + 0 * xt.sum()))
                if getattr(ladj, "requires_grad", False):
                    ladj.sum().backward()
                    res.append(_np(xt.grad))
            pair.append((type(t).__name__, res))
        assert pair[0][0] == pair[1][0], str(ref_c)
        for r, o in zip(pair[0][1], pair[1][1]):
            np.testing.assert_allclose(o, r, rtol=1e-10, atol=1e-12, err_msg=str(ref_c))
        if registry == "biject_to":
            assert bool(our_c.check(our_reg(our_c)(cr.tensor(x))).all())


def test_constraint_registry_errors_and_lower_cholesky() -> None:
    c = cr.distributions.constraints
    with pytest.raises(NotImplementedError, match="Cannot transform _LowerCholesky"):
        cr.distributions.biject_to(c.lower_cholesky)
    with pytest.raises(TypeError, match="Constraint"):
        cr.distributions.transform_to("positive")
    x = np.arange(9.0).reshape(3, 3) / 5
    ref = torch.distributions.transform_to(torch.distributions.constraints.lower_cholesky)
    ours = cr.distributions.transform_to(c.lower_cholesky)
    np.testing.assert_allclose(_np(ours(cr.tensor(x))), ref(torch.tensor(x)).numpy())


def test_pareto_support_depends_on_its_scale() -> None:
    d = cr.distributions.Pareto(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 3.0]))
    with pytest.raises(ValueError, match="support"):
        d.log_prob(cr.tensor([1.5, 1.5]))       # 1.5 < 2.0 = the second scale
    assert str(d.support).startswith("GreaterThanEq(lower_bound=")


# ---- select_scatter / slice_scatter / diagonal_scatter -----------------------------------------
_SCATTERS = [
    ("select_scatter", (3, 4, 5), (3, 5), dict(dim=1, index=-1)),
    ("select_scatter", (3, 4), (4,), dict(dim=0, index=2)),
    ("slice_scatter", (6, 5), (3, 5), dict(dim=0, start=1, end=None, step=2)),
    ("slice_scatter", (2, 7), (2, 2), dict(dim=-1, start=-4, end=-1, step=2)),
    ("slice_scatter", (4, 3), (4, 3), {}),
    ("diagonal_scatter", (3, 5), (3,), dict(offset=1)),
    ("diagonal_scatter", (2, 4, 3), (2, 2), dict(offset=-2, dim1=1, dim2=2)),
    ("diagonal_scatter", (4, 2, 4), (2, 3), dict(offset=1, dim1=0, dim2=-1)),
]


@pytest.mark.parametrize("name,shape,src_shape,kwargs", _SCATTERS)
def test_functional_scatters_values_and_gradients(name: str, shape: tuple, src_shape: tuple,
                                                  kwargs: dict) -> None:
    rng = np.random.default_rng(3)
    x, src = rng.standard_normal(shape), rng.standard_normal(src_shape)
    w = rng.standard_normal(shape)
    res = []
    for lib in (torch, cr):
        xt, st = lib.tensor(x, requires_grad=True), lib.tensor(src, requires_grad=True)
        out = getattr(lib, name)(xt, st, **kwargs)
        (out * lib.tensor(w)).sum().backward()
        method = getattr(lib.tensor(x), name)(lib.tensor(src), **kwargs)
        res.append((_np(out), _np(xt.grad), _np(st.grad), _np(method)))
    for r, o in zip(*res):
        np.testing.assert_allclose(o, r, rtol=1e-12)


def test_functional_scatter_shape_mismatch_is_refused() -> None:
    for lib in (torch, cr):
        with pytest.raises(RuntimeError, match="expected src to have a size equal"):
            lib.slice_scatter(lib.zeros(4, 3), lib.ones(3, 3), 0, 0, 4, 2)
        with pytest.raises(RuntimeError, match="expected src to have a size equal"):
            lib.diagonal_scatter(lib.zeros(3, 3), lib.ones(2))


# ---- torch.utils.benchmark --------------------------------------------------------------------
def test_benchmark_timer_measurement_and_compare(capsys: pytest.CaptureFixture) -> None:
    import torch.utils.benchmark as ref

    import chainrule.utils.benchmark as ours

    calls = {}
    for name, mod, lib in (("ref", ref, torch), ("ours", ours, cr)):
        counter = {"n": 0}

        def bump(counter: dict = counter) -> None:
            counter["n"] += 1

        t = mod.Timer(stmt="bump(); x * 2", setup="y = 1", globals={"x": lib.ones(4),
                                                                    "bump": bump},
                      label="mul", sub_label="[4]", description="x*2")
        m = t.timeit(50)
        assert m.number_per_run == 50 and len(m.raw_times) == 1 and m.times == [m.mean]
        assert m.mean == pytest.approx(m.raw_times[0] / 50) and m.iqr == 0.0
        assert m.title == "mul: [4]" and m.description == "x*2" and m.num_threads == 1
        b = t.blocked_autorange(min_run_time=0.02)
        assert sum(b.raw_times) >= 0.02 and len(b.times) == len(b.raw_times)
        assert b.median == pytest.approx(sorted(b.times)[len(b.times) // 2], rel=0.5)
        calls[name] = counter["n"]
        other = mod.Timer(stmt="x + 1", globals={"x": lib.ones(4)}, label="mul",
                          sub_label="[4]", description="x+1").timeit(20)
        mod.Compare([m, b, other]).print()
        text = capsys.readouterr().out
        assert "mul" in text and "x*2" in text and "x+1" in text and "Times are in" in text
        assert "[4]" in text and "1 threads" in text
    # both time the statement itself: 50 runs plus warm-up / autorange blocks
    assert calls["ours"] > 50 and calls["ref"] > 50
    with pytest.raises(ValueError, match="num_threads"):
        ours.Timer("pass", num_threads=0)
    assert cr.utils.benchmark.Timer is ours.Timer
