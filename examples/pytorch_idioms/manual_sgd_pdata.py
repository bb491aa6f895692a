"""Linear regression trained by hand: parameter updates through ``p.data``.

Idioms: ``p.data -= lr * p.grad``, ``p.data.add_(p.grad, alpha=-lr)``, ``p.grad.data.zero_()``,
``p.grad = None``, ``requires_grad_()``, ``.item()``.
"""
import torch

torch.manual_seed(0)
n, d = 256, 5
X = torch.randn(n, d)
true_w = torch.tensor([[1.5], [-2.0], [0.5], [0.0], [3.0]])
y = X @ true_w + 0.7 + 0.1 * torch.randn(n, 1)

w = torch.zeros(d, 1).requires_grad_()
b = torch.zeros(1, requires_grad=True)
lr = 0.1

for step in range(150):
    loss = ((X @ w + b - y) ** 2).mean()
    loss.backward()
    if step % 2 == 0:
        w.data -= lr * w.grad                # the oldest spelling
        b.data.add_(b.grad, alpha=-lr)       # the in-place spelling
        w.grad.data.zero_()
        b.grad.data.zero_()
    else:
        for p in (w, b):
            p.data.add_(p.grad, alpha=-lr)
            p.grad = None                    # set_to_none, as zero_grad does now

with torch.no_grad():
    final = ((X @ w + b - y) ** 2).mean().item()
print("weight error", (w.detach() - true_w).abs().max().item())
print(f"METRIC mse {final:.6f}")
