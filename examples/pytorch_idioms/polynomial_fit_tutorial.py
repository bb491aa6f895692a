"""Fit sin(x) with a cubic, the way the PyTorch "learning by examples" tutorial does.

Idioms: ``torch.linspace``, ``x.unsqueeze(-1).pow(p)``,
``nn.Sequential(nn.Linear, nn.Flatten(0, 1))``,
``nn.MSELoss(reduction="sum")``, ``model.zero_grad()``, manual update under ``torch.no_grad()``
(``param -= lr * param.grad``), indexing a Sequential (``model[0]``).
"""
import math

import torch

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
loss_fn = torch.nn.MSELoss(reduction="sum")
learning_rate = 2e-6

for t in range(3000):
    y_pred = model(xx)
    loss = loss_fn(y_pred, y)
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= learning_rate * param.grad

linear_layer = model[0]
print(f"y = {linear_layer.bias.item():.3f} + {linear_layer.weight[:, 0].item():.3f} x"
      f" + {linear_layer.weight[:, 1].item():.3f} x^2 + {linear_layer.weight[:, 2].item():.3f} x^3")
print(f"METRIC sse {loss.item():.4f}")
