"""A gradient penalty (WGAN-GP / eikonal style): train a network whose input-gradient has norm 1
and which vanishes on the unit circle, so it learns the distance to the circle.

Idioms: ``x.requires_grad_(True)`` on an input batch, ``torch.autograd.grad(outputs=f,
inputs=x, grad_outputs=torch.ones_like(f), create_graph=True, retain_graph=True)[0]``,
``gradients.norm(2, dim=1)``, ``((norm - 1) ** 2).mean()`` as part of the loss, backward through
the gradient (double backward), ``nn.Softplus(beta=...)``.
"""
import math

import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 64), nn.Softplus(beta=10), nn.Linear(64, 64),
                      nn.Softplus(beta=10), nn.Linear(64, 1))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)

for step in range(600):
    angle = 2 * math.pi * torch.rand(128)
    on_circle = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    x = (torch.rand(256, 2) * 4 - 2).requires_grad_(True)
    f = model(x)
    gradients = torch.autograd.grad(outputs=f, inputs=x, grad_outputs=torch.ones_like(f),
                                    create_graph=True, retain_graph=True)[0]
    eikonal = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
    loss = model(on_circle).abs().mean() + 0.1 * eikonal
    opt.zero_grad()
    loss.backward()
    opt.step()

probe = torch.tensor([[1.5, 0.0], [0.0, -1.8], [1.0, 1.0], [-0.6, 0.3], [0.2, 1.2]])
with torch.no_grad():
    predicted = model(probe).abs().squeeze(1)
true = (probe.norm(dim=1) - 1).abs()
print("distance to the circle:", predicted.tolist(), "true:", true.tolist())
print(f"METRIC mean_abs_error {(predicted - true).abs().mean().item():.3f}")
