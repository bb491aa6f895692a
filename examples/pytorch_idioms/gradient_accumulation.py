"""Gradient accumulation over micro-batches equals one full-batch step.

Idioms: ``loss = loss_fn(...) / accumulation_steps``, ``loss.backward()`` per micro-batch,
``optimizer.step()`` and ``optimizer.zero_grad(set_to_none=True)`` every k micro-batches,
``torch.chunk``, ``torch.nn.utils.parameters_to_vector`` / ``vector_to_parameters``,
``copy.deepcopy`` of a model, ``SGD(momentum=0.9, nesterov=True, weight_decay=1e-4)``.
"""
import copy

import torch
import torch.nn as nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

torch.manual_seed(0)
X, y = torch.randn(64, 6), torch.randn(64, 1)
model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))
twin = copy.deepcopy(model)
loss_fn = nn.MSELoss()


def sgd(m):
    return torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                           weight_decay=1e-4)


opt, twin_opt = sgd(model), sgd(twin)
accumulation_steps = 4
for step in range(20):
    for xb, yb in zip(torch.chunk(X, accumulation_steps), torch.chunk(y, accumulation_steps)):
        loss = loss_fn(model(xb), yb) / accumulation_steps
        loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)

    twin_opt.zero_grad()
    loss_fn(twin(X), y).backward()
    twin_opt.step()

diff = (parameters_to_vector(model.parameters()) - parameters_to_vector(twin.parameters()))
vector_to_parameters(parameters_to_vector(twin.parameters()), model.parameters())
assert torch.equal(parameters_to_vector(model.parameters()),
                   parameters_to_vector(twin.parameters()))
print(f"METRIC max_param_diff {diff.abs().max().item():.3e}")
