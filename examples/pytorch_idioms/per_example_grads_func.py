"""Per-example gradients with ``torch.func`` (the per-sample-gradients tutorial), checked against
a loop of ordinary backward passes.

Idioms: ``from torch.func import functional_call, vmap, grad``,
``params = {k: v.detach() for k, v in model.named_parameters()}``, ``buffers``,
``functional_call(model, (params, buffers), (batch,))``, ``sample.unsqueeze(0)``,
``vmap(grad(compute_loss), in_dims=(None, None, 0, 0))``, ``torch.func.grad_and_value``,
``torch.autograd.grad`` in the loop, ``torch.allclose``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, grad_and_value, vmap

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
data = torch.randn(24, 5)
targets = torch.randint(0, 3, (24,))

params = {k: v.detach() for k, v in model.named_parameters()}
buffers = {k: v.detach() for k, v in model.named_buffers()}


def compute_loss(params, buffers, sample, target):
    batch = sample.unsqueeze(0)
    predictions = functional_call(model, (params, buffers), (batch,))
    return F.cross_entropy(predictions, target.unsqueeze(0))


per_sample = vmap(grad(compute_loss), in_dims=(None, None, 0, 0))(params, buffers, data, targets)

worst = 0.0
for i in range(len(data)):
    loss = F.cross_entropy(model(data[i:i + 1]), targets[i:i + 1])
    grads = torch.autograd.grad(loss, list(model.parameters()))
    for (name, _), g in zip(model.named_parameters(), grads):
        assert per_sample[name].shape[0] == len(data)
        worst = max(worst, (per_sample[name][i] - g).abs().max().item())

g_mean, value = grad_and_value(lambda p: F.cross_entropy(functional_call(model, p, (data,)),
                                                         targets))(params)
mean_of_samples = per_sample["0.weight"].mean(0)
assert torch.allclose(g_mean["0.weight"], mean_of_samples, atol=1e-6)
norms = torch.stack([per_sample[k].flatten(1).norm(dim=1) for k in per_sample]).norm(dim=0)
print("per-example gradient norms", norms[:4].tolist(), "loss", value.item())
print(f"METRIC max_abs_diff {worst:.3e}")
