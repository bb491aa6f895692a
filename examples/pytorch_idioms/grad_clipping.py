"""Gradient clipping in a training loop, by norm and by value, on a deep tanh network whose
gradients explode without it.

Idioms: ``total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)`` (its return
value logged), ``clip_grad_value_``, ``norm_type=2.0``, computing the norm by hand with
``torch.stack([p.grad.norm(2) for p in ...]).norm(2)``, ``optimizer.zero_grad()``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
X = torch.randn(256, 10)
y = torch.tanh(X @ torch.randn(10, 1))

layers = []
for _ in range(8):
    lin = nn.Linear(10 if not layers else 32, 32)
    nn.init.normal_(lin.weight, std=2.5 / lin.in_features ** 0.5)   # deliberately too large
    layers += [lin, nn.Tanh()]
model = nn.Sequential(*layers, nn.Linear(32, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

clipped_steps = 0
for step in range(200):
    optimizer.zero_grad()
    loss = F.mse_loss(model(X), y)
    loss.backward()
    by_hand = torch.stack([p.grad.norm(2) for p in model.parameters()]).norm(2)
    total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0, norm_type=2.0)
    assert abs(total_norm.item() - by_hand.item()) <= 1e-4 * max(1.0, by_hand.item())
    clipped_steps += int(total_norm.item() > 1.0)
    torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=0.5)
    assert max(p.grad.abs().max().item() for p in model.parameters()) <= 0.5
    optimizer.step()

with torch.no_grad():
    final = F.mse_loss(model(X), y).item()
print("steps where the norm was clipped:", clipped_steps)
print(f"METRIC mse {final:.4f}")
