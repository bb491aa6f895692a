"""Tensor methods added for PyTorch programs (sign_, diag, unfold, index_put_, ...) and the
distance functions of nn.functional, checked against torch in float64 (values and gradients
under a random upstream gradient)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn as cnn
import chainrule.nn.functional as CF

RNG = np.random.default_rng(0)


def _pair(*shapes: tuple[int, ...]) -> tuple[list, list]:
    arrs = [RNG.standard_normal(s) for s in shapes]
    return ([cr.tensor(a, requires_grad=True) for a in arrs],
            [torch.tensor(a, requires_grad=True) for a in arrs])


def check_vs(f_cr, f_t, *shapes: tuple[int, ...], atol: float = 1e-10) -> None:
    """f on chainrule and torch: same value, same gradients of <f, G> for a random G."""
    xc, xt = _pair(*shapes)
    yc, yt = f_cr(*xc), f_t(*xt)
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), atol=atol)
    g = RNG.standard_normal(tuple(yt.shape))
    (yc * cr.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    for a, b in zip(xc, xt):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=atol)


@pytest.mark.parametrize("name", ["sign_", "log_", "abs_", "neg_", "exp_", "sqrt_", "sigmoid_",
                                  "tanh_", "relu_", "sin_", "cos_", "floor_"])
def test_inplace_unary_matches_torch(name: str) -> None:
    a = RNG.uniform(0.1, 2.0, 5) * RNG.choice([-1, 1], 5)
    if name in ("log_", "sqrt_"):
        a = np.abs(a)
    c, t = cr.tensor(a), torch.tensor(a)
    getattr(c, name)()
    getattr(t, name)()
    np.testing.assert_allclose(c.numpy(), t.numpy(), atol=1e-12)


def test_clamp_inplace_exists() -> None:
    c = cr.tensor([-2.0, 0.5, 3.0]).clamp_(-1, 1)
    assert c.tolist() == [-1.0, 0.5, 1.0]


def test_randint_forms() -> None:
    g = cr.Generator().manual_seed(0)
    a = cr.randint(10, (4, 3), generator=g)
    assert a.shape == (4, 3) and a.dtype == cr.int64 and int(a.min()) >= 0 and int(a.max()) < 10
    b = cr.randint(5, 8, (100,), generator=g)
    assert int(b.min()) >= 5 and int(b.max()) < 8
    with pytest.raises(TypeError):
        cr.randint(10)


@pytest.mark.parametrize("k", [-2, 0, 1])
def test_diag_and_diag_embed(k: int) -> None:
    check_vs(lambda x: cr.diag(x, k), lambda x: torch.diag(x, k), (4,))
    check_vs(lambda x: x.diag(k), lambda x: x.diag(k), (3, 5))
    check_vs(lambda x: cr.diag_embed(x, k), lambda x: torch.diag_embed(x, k), (2, 3))
    check_vs(lambda x: cr.diag_embed(x, k, -1, 0), lambda x: torch.diag_embed(x, k, -1, 0),
           (2, 3))
    check_vs(lambda x: cr.diagonal(x, k, 0, 2), lambda x: torch.diagonal(x, k, 0, 2), (4, 2, 5))
    with pytest.raises(RuntimeError, match="1D or 2D"):
        cr.zeros(2, 2, 2).diag()


@pytest.mark.parametrize("shape,wrap", [((4, 4), False), ((7, 3), False), ((7, 3), True),
                                        ((3, 6), True), ((3, 3, 3), False)])
def test_fill_diagonal_(shape: tuple[int, ...], wrap: bool) -> None:
    c, t = cr.zeros(*shape), torch.zeros(*shape)
    assert c.fill_diagonal_(2.5, wrap=wrap) is c
    t.fill_diagonal_(2.5, wrap=wrap)
    np.testing.assert_array_equal(c.numpy(), t.numpy())


@pytest.mark.parametrize("dim,size,step", [(0, 3, 2), (1, 2, 1), (-1, 4, 3), (1, 5, 5)])
def test_unfold(dim: int, size: int, step: int) -> None:
    check_vs(lambda x: x.unfold(dim, size, step), lambda x: x.unfold(dim, size, step), (6, 5, 7))


def test_unfold_is_a_view_and_checks() -> None:
    x = cr.arange(10.0)
    w = x.unfold(0, 4, 3)
    x[4] = 100.0
    assert float(w[1, 1]) == 100.0
    with pytest.raises(RuntimeError, match="maximum size"):
        x.unfold(0, 11, 1)


def test_index_put_accumulate() -> None:
    rows, cols = np.array([0, 1, 1, 2, 1]), np.array([2, 0, 0, 1, 0])
    c = cr.zeros(3, 3, dtype=cr.int64)
    c.index_put_((cr.tensor(rows), cr.tensor(cols)), cr.tensor(1), accumulate=True)
    t = torch.zeros(3, 3, dtype=torch.int64)
    t.index_put_((torch.tensor(rows), torch.tensor(cols)), torch.tensor(1), accumulate=True)
    np.testing.assert_array_equal(c.numpy(), t.numpy())
    for acc in (False, True):
        check_vs(lambda x, v, a=acc: (x * 1).index_put_((cr.tensor(rows), cr.tensor(cols)), v,
                                                       accumulate=a),
               lambda x, v, a=acc: (x * 1).index_put_((torch.tensor(rows), torch.tensor(cols)),
                                                       v, accumulate=a),
               (3, 3), (5,))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5])
def test_normalize_pairwise_cdist(p: float) -> None:
    check_vs(lambda x: CF.normalize(x, p, 1), lambda x: torch.nn.functional.normalize(x, p, 1),
           (4, 5))
    check_vs(lambda a, b: CF.pairwise_distance(a, b, p),
           lambda a, b: torch.nn.functional.pairwise_distance(a, b, p), (4, 5), (4, 5))
    check_vs(lambda a, b: CF.pairwise_distance(a, b, p, keepdim=True),
           lambda a, b: torch.nn.functional.pairwise_distance(a, b, p, keepdim=True),
           (4, 5), (5,))
    check_vs(lambda a, b: cr.cdist(a, b, p), lambda a, b: torch.cdist(a, b, p), (2, 4, 3),
           (2, 6, 3))


def test_cdist_inf_zero_and_coincident_points() -> None:
    check_vs(lambda a, b: cr.cdist(a, b, float("inf")),
           lambda a, b: torch.cdist(a, b, float("inf")), (4, 3), (5, 3))
    a = RNG.standard_normal((3, 2))
    xc, xt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    cr.cdist(xc, xc).sum().backward()  # zero diagonal: gradient 0 there, not nan
    torch.cdist(xt, xt).sum().backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), atol=1e-10)
    with pytest.raises(RuntimeError, match="same number of columns"):
        cr.cdist(cr.zeros(2, 3), cr.zeros(2, 4))


def test_cosine_similarity_and_modules() -> None:
    check_vs(lambda a, b: CF.cosine_similarity(a, b),
           lambda a, b: torch.nn.functional.cosine_similarity(a, b), (4, 5), (4, 5))
    check_vs(lambda a, b: cnn.CosineSimilarity(dim=0)(a, b),
           lambda a, b: torch.nn.CosineSimilarity(dim=0)(a, b), (4, 5), (1, 5))
    check_vs(lambda a, b: cnn.PairwiseDistance(p=1.0)(a, b),
           lambda a, b: torch.nn.PairwiseDistance(p=1.0)(a, b), (4, 5), (4, 5))


@pytest.mark.parametrize("swap,reduction", [(False, "mean"), (True, "sum"), (False, "none")])
def test_triplet_margin_loss(swap: bool, reduction: str) -> None:
    check_vs(lambda a, p, n: cnn.TripletMarginLoss(margin=1.5, swap=swap, reduction=reduction)(
               a, p, n),
           lambda a, p, n: torch.nn.TripletMarginLoss(margin=1.5, swap=swap,
                                                      reduction=reduction)(a, p, n),
           (6, 4), (6, 4), (6, 4))
    check_vs(lambda a, p, n: CF.triplet_margin_loss(a, p, n, p=1, reduction=reduction),
           lambda a, p, n: torch.nn.functional.triplet_margin_loss(a, p, n, p=1,
                                                                   reduction=reduction),
           (6, 4), (6, 4), (6, 4))


def test_cosine_embedding_loss_module() -> None:
    y = np.array([1, -1, 1, -1])
    check_vs(lambda a, b: cnn.CosineEmbeddingLoss(margin=0.2)(a, b, cr.tensor(y)),
           lambda a, b: torch.nn.CosineEmbeddingLoss(margin=0.2)(a, b, torch.tensor(y)),
           (4, 5), (4, 5))


def test_flip_is_a_contiguous_copy_as_torch():
    """torch.flip copies: ``x.flip(1).view(-1)`` works (the seq2seq tutorial's targets) and a
    write to the result leaves x alone; the gradient is still the flipped upstream gradient."""
    a = np.arange(6.0).reshape(2, 3)
    for make in (cr.from_numpy, torch.from_numpy):
        x = make(a.copy()).requires_grad_(True)
        y = x.flip(1)
        assert y.is_contiguous()
        np.testing.assert_array_equal(y.view(-1).detach().numpy(), a[:, ::-1].reshape(-1))
        (y * make(np.array([1.0, 2.0, 3.0]))).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 2.0, 1.0]] * 2)
        z = x.detach().flip(0)
        z[0, 0] = 100.0
        assert x[1, 0].item() == 3.0


def test_nonzero_of_a_0d_tensor_as_torch():
    for v in (3.0, 0.0):
        got, want = cr.tensor(v).nonzero(), torch.tensor(v).nonzero()
        assert tuple(got.shape) == tuple(want.shape) and str(got.dtype) == "int64"
        (g,), (w,) = cr.tensor(v).nonzero(as_tuple=True), torch.tensor(v).nonzero(as_tuple=True)
        assert g.tolist() == w.tolist()


def test_div_rounding_modes_int_and_float_with_zero_gradient():
    """div(rounding_mode=) on ints (exact) and floats, values as torch; on floats the result is
    in the graph with a zero gradient (torch's DivBackward), so backward through it works."""
    a = np.array([7, -7, 6, -6, 9, -9, 0])
    b = np.array([2, 2, -4, -4, 3, -3, 5])
    for mode in ("floor", "trunc"):
        got = cr.div(cr.from_numpy(a), cr.from_numpy(b), rounding_mode=mode)
        want = torch.div(torch.from_numpy(a), torch.from_numpy(b), rounding_mode=mode)
        assert got.tolist() == want.tolist() and str(got.dtype) == "int64"
        x = cr.tensor([7.5, -7.5, 0.3], requires_grad=True)
        y = x.div(2.0, rounding_mode=mode)
        assert y.tolist() == torch.tensor([7.5, -7.5, 0.3]).div(2.0, rounding_mode=mode).tolist()
        (y * x).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())   # d(q x)/dx = q
    with pytest.raises(RuntimeError, match="rounding_mode"):
        cr.tensor([1.0]).div(2, rounding_mode="round")


def test_floating_point_warnings_are_silent_as_torch():
    """log(0), 0/0, sqrt(-1), exp(1000) and the backward of log at 0 give -inf/nan/inf without
    NumPy's RuntimeWarning (torch is silent): under -W error, under a filter set after the
    import, and while recording warnings; np.seterr(all="warn") restores NumPy's warnings for
    the user's own code."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import warnings, numpy as np, chainrule as t\n"
            "warnings.simplefilter('error')\n"
            "x = t.tensor([0.0, 1.0], requires_grad=True)\n"
            "with warnings.catch_warnings(record=True) as seen:\n"
            "    warnings.simplefilter('always')\n"
            "    out = [t.log(x), x / x, t.sqrt(-x - 1), t.exp(x * 1000), x.log().exp()]\n"
            "    t.log(x).sum().backward()\n"
            "assert not seen, [str(w.message) for w in seen]\n"
            "assert out[0][0].item() == float('-inf') and x.grad[0].item() == float('inf')\n"
            "np.seterr(all='warn')\n"
            "try:\n    np.log(np.zeros(1))\nexcept RuntimeWarning:\n    print('user warns')\n")
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                         text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin"}, cwd=root)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "user warns"
