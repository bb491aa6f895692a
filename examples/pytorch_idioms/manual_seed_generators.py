"""Reproducibility idioms: global seeding, private generators, and their state.

Idioms: ``torch.manual_seed(42)`` before model creation gives identical weights,
``torch.Generator().manual_seed(...)``, ``g.get_state()`` / ``g.set_state(...)``,
``torch.get_rng_state()`` / ``torch.set_rng_state``, ``torch.randperm(n, generator=g)``,
``torch.rand(..., generator=g)``, ``torch.initial_seed()``, ``torch.bernoulli``,
``torch.normal(mean, std, size)``, ``tensor.uniform_(a, b)``, ``torch.randint``.
The metric counts the reproducibility checks that hold (exactly 8 in PyTorch).
"""
import torch
import torch.nn as nn

checks = 0

torch.manual_seed(42)
a = nn.Linear(10, 10)
torch.manual_seed(42)
b = nn.Linear(10, 10)
checks += torch.equal(a.weight, b.weight)
checks += torch.initial_seed() == 42

g = torch.Generator().manual_seed(7)
state = g.get_state()
first = torch.randperm(20, generator=g)
g.set_state(state)
checks += torch.equal(first, torch.randperm(20, generator=g))
checks += sorted(first.tolist()) == list(range(20))

rng_state = torch.get_rng_state()
u = torch.rand(5)
torch.set_rng_state(rng_state)
checks += torch.equal(u, torch.rand(5))

g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
checks += torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))

torch.manual_seed(0)
coins = torch.bernoulli(torch.full((20000,), 0.3))
normal = torch.normal(2.0, 0.5, size=(20000,))
uniform = torch.empty(20000).uniform_(-1, 1)
ints = torch.randint(0, 6, (20000,))
checks += abs(coins.mean().item() - 0.3) < 0.02 and abs(normal.mean().item() - 2.0) < 0.02
checks += abs(uniform.mean().item()) < 0.02 and ints.min().item() == 0 and ints.max().item() == 5
print(f"METRIC reproducibility_checks {checks}")
