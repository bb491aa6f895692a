"""Shared helpers of the distribution tests: build a chainrule and a torch distribution from
the same float64 parameters and compare a statistic and its parameter gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

import chainrule as cr


def compare_stat(make_c: Callable, make_t: Callable, params: Sequence[np.ndarray],
                 stat: Callable, grad_mask: Sequence[bool] | None = None, atol: float = 1e-10,
                 rtol: float = 1e-9, seed: int = 0) -> None:
    """stat(make_c(*params)) equals stat(make_t(*params)) (chainrule vs torch, float64), and
    so do the gradients of <stat, G> wrt the parameters marked in ``grad_mask`` (G random)."""
    mask = list(grad_mask) if grad_mask is not None else [True] * len(params)
    pc = [cr.tensor(p, requires_grad=m) for p, m in zip(params, mask)]
    pt = [torch.tensor(p, requires_grad=m) for p, m in zip(params, mask)]
    yc, yt = stat(make_c(*pc)), stat(make_t(*pt))
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), atol=atol, rtol=rtol)
    wc = [p for p, m in zip(pc, mask) if m]
    wt = [p for p, m in zip(pt, mask) if m]
    if not wt or not yt.requires_grad:
        return
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    finite = np.isfinite(yt.detach().numpy())
    g = np.where(finite, g, 0.0)  # (an inf/nan statistic has no gradient to compare)
    gc = cr.autograd.grad((yc.masked_fill(cr.tensor(~finite), 0.0) * cr.tensor(g)).sum(), wc,
                          allow_unused=True)
    gt = torch.autograd.grad((yt.masked_fill(torch.tensor(~finite), 0.0) * torch.tensor(g))
                             .sum(), wt, allow_unused=True)
    for a, b in zip(gc, gt):
        if b is None:
            assert a is None or np.allclose(a.numpy(), 0)
        else:
            assert a is not None, "chainrule gave no gradient where torch gives one"
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=atol * 10, rtol=rtol * 10)
