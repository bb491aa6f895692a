"""User-defined autograd Functions (the "defining new autograd functions" tutorial idea).

Idioms: subclassing ``torch.autograd.Function`` with ``@staticmethod forward(ctx, input)`` and
``backward(ctx, grad_output)``, ``ctx.save_for_backward`` / ``ctx.saved_tensors``,
``ctx.needs_input_grad``, ``Function.apply``, a non-tensor argument (returning ``None`` for its
gradient), ``torch.autograd.gradcheck`` in float64, training a model that uses the function.
"""
import math

import torch


class LegendreP3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


class ScaledClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, limit):
        ctx.save_for_backward(x)
        ctx.limit = limit
        return x.clamp(-limit, limit) * 2

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_output * 2 * (x.abs() <= ctx.limit).to(grad_output.dtype)
        return grad_x, None


inp = torch.randn(6, dtype=torch.float64, requires_grad=True)
assert torch.autograd.gradcheck(LegendreP3.apply, (inp,))
assert torch.autograd.gradcheck(lambda t: ScaledClamp.apply(t, 0.5), (inp,))

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
a = torch.full((), 0.0, requires_grad=True)
b = torch.full((), -1.0, requires_grad=True)
c = torch.full((), 0.0, requires_grad=True)
d = torch.full((), 0.3, requires_grad=True)
learning_rate = 5e-6
for t in range(2000):
    P3 = LegendreP3.apply
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        for p in (a, b, c, d):
            p -= learning_rate * p.grad
            p.grad = None
print(f"y = {a.item():.3f} + {b.item():.3f} * P3({c.item():.3f} + {d.item():.3f} x)")
print(f"METRIC sse {loss.item():.3f}")
