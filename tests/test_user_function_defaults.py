"""A custom Function with a separate ``setup_context`` gets ``forward``'s arguments with its
defaults filled in (PyTorch binds them), so the "Extending PyTorch" LinearFunction runs."""
import numpy as np
import pytest
import torch

import chainrule as cr


def _linear_function(lib):
    class LinearFunction(lib.autograd.Function):
        @staticmethod
        def forward(input, weight, bias=None):
            out = input.mm(weight.t())
            return out if bias is None else out + bias

        @staticmethod
        def setup_context(ctx, inputs, output):
            input, weight, bias = inputs
            ctx.save_for_backward(input, weight, bias)

        @staticmethod
        def backward(ctx, g):
            input, weight, bias = ctx.saved_tensors
            gb = g.sum(0) if bias is not None and ctx.needs_input_grad[2] else None
            return g.mm(weight), g.t().mm(input), gb

    return LinearFunction


@pytest.mark.parametrize("call", ["two args", "bias keyword", "bias positional"])
def test_setup_context_sees_forward_defaults_as_torch(call: str) -> None:
    rng = np.random.default_rng(0)
    x0, w0, b0 = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    grads = []
    for lib in (cr, torch):
        x, w, b = (lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in (x0, w0, b0))
        f = _linear_function(lib)
        out = (f.apply(x, w) if call == "two args" else
               f.apply(x, w, bias=b) if call == "bias keyword" else f.apply(x, w, b))
        out.pow(2).sum().backward()
        grads.append([None if t.grad is None else t.grad.detach().numpy() for t in (x, w, b)])
    for ours, theirs in zip(*grads):
        if theirs is None:
            assert ours is None
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-12)
