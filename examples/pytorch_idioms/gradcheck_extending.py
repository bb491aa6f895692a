"""Custom autograd Functions checked with ``torch.autograd.gradcheck`` / ``gradgradcheck``.

Idioms (pytorch/docs "Extending PyTorch" and the custom-Function tutorials): ``LinearFunction``
with ``forward(input, weight, bias=None)`` plus a separate ``setup_context(ctx, inputs,
output)``, ``ctx.needs_input_grad`` deciding which gradients to compute, ``bias is not None``;
``MulConstant`` returning ``None`` for a non-tensor argument; ``ctx.mark_non_differentiable``
for an argsort output; ``ctx.set_materialize_grads(False)`` with a ``None`` incoming gradient;
``@once_differentiable``; the check itself:
``gradcheck(linear, (torch.randn(8, 6, dtype=torch.double, requires_grad=True), ...),
eps=1e-6, atol=1e-4)``, a deliberately wrong backward caught with ``raise_exception=False``,
``gradgradcheck`` on a double-backward-able Function, and ``nn.Module`` wrappers trained by SGD.
"""
import torch
from torch import nn
from torch.autograd import Function, gradcheck, gradgradcheck
from torch.autograd.function import once_differentiable


class LinearFunction(Function):
    @staticmethod
    def forward(input, weight, bias=None):
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight, bias)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class MulConstant(Function):
    @staticmethod
    def forward(ctx, tensor, constant):
        ctx.constant = constant
        return tensor * constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


class MaxWithArgmax(Function):
    """Row maxima and their (integer, non-differentiable) positions."""

    @staticmethod
    def forward(ctx, x):
        values, idx = x.max(dim=-1)
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        ctx.in_shape = x.shape
        return values, idx

    @staticmethod
    def backward(ctx, g_values, g_idx):
        (idx,) = ctx.saved_tensors
        dense = g_values.new_zeros(ctx.in_shape)
        return dense.scatter(-1, idx.unsqueeze(-1), g_values.unsqueeze(-1))


class SimpleFunc(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x)
        return x.clone(), x.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, g1, g2):
        (x,) = ctx.saved_tensors
        grad = torch.zeros_like(x)
        if g1 is not None:
            grad += g1
        if g2 is not None:
            grad += 2 * g2
        return grad


class Cube(Function):
    """x**3 whose backward is written with differentiable ops (so double backward works)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * 3 * x ** 2


class WrongSin(Function):
    """sin with a derivative that is off by 1%: gradcheck must notice."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx, g):
        return 1.01 * g * torch.cos(ctx.saved_tensors[0])


class MyLinear(nn.Module):
    def __init__(self, input_features, output_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(output_features, input_features))
        if bias:
            self.bias = nn.Parameter(torch.empty(output_features))
        else:
            self.register_parameter("bias", None)
        nn.init.uniform_(self.weight, -0.1, 0.1)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -0.1, 0.1)

    def forward(self, input):
        return LinearFunction.apply(input, self.weight, self.bias)


def main():
    torch.manual_seed(0)
    linear = LinearFunction.apply
    checks = 0
    # bias passed as None explicitly (chainrule does not yet bind forward's default arguments
    # before calling setup_context)
    inp = (torch.randn(8, 6, dtype=torch.double, requires_grad=True),
           torch.randn(5, 6, dtype=torch.double, requires_grad=True), None)
    checks += gradcheck(linear, inp, eps=1e-6, atol=1e-4)
    inp3 = inp[:2] + (torch.randn(5, dtype=torch.double, requires_grad=True),)
    checks += gradcheck(linear, inp3, eps=1e-6, atol=1e-4)
    x = torch.randn(5, 3, dtype=torch.double, requires_grad=True)
    checks += gradcheck(lambda t: MulConstant.apply(t, 2.5), (x,))
    checks += gradcheck(lambda t: MaxWithArgmax.apply(t)[0], (x,))
    values, idx = MaxWithArgmax.apply(x)
    checks += (not idx.requires_grad) and values.requires_grad
    a, b = SimpleFunc.apply(x)
    a.sum().backward()                      # b gets no gradient: g2 arrives as None
    checks += torch.equal(x.grad, torch.ones_like(x))
    checks += gradcheck(Cube.apply, (x,)) and gradgradcheck(Cube.apply, (x,))
    checks += not gradcheck(WrongSin.apply, (x,), raise_exception=False)
    try:
        gradcheck(WrongSin.apply, (x,))
    except RuntimeError as err:
        checks += "Jacobian mismatch" in str(err)

    # the wrapper module trains like nn.Linear
    model = nn.Sequential(MyLinear(3, 16), nn.Tanh(), MyLinear(16, 1))
    xs = torch.randn(256, 3)
    ys = (xs[:, :1] * xs[:, 1:2]).sin() + 0.5 * xs[:, 2:]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xs), ys)
        loss.backward()
        opt.step()
    print(f"checks {checks}/9, final mse {loss.item():.4f}")
    print(f"METRIC checks_minus_mse {checks - loss.item():.4f}")


if __name__ == "__main__":
    main()
