"""An exponential moving average (EMA) of a model's weights kept three ways that must agree:
``torch._foreach_mul_`` / ``_foreach_add_`` over parameter lists (timm-style ModelEmaV3),
``p_ema.lerp_(p, 1 - decay)`` under ``torch.no_grad()``, and
``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn``.

Idioms: ``copy.deepcopy(model)`` then ``requires_grad_(False)`` on the copy;
``torch._foreach_mul_(ema_params, decay)``, ``torch._foreach_add_(ema_params, params,
alpha=1 - decay)``; ``torch._foreach_lerp_``; ``zip(ema.state_dict().values(),
model.state_dict().values())`` with ``ema_v.copy_(...)`` for buffers; ``AveragedModel(model,
multi_avg_fn=get_ema_multi_avg_fn(decay))`` and ``update_parameters``;
``torch.nn.utils.parameters_to_vector``; ``torch.no_grad()`` as a decorator.
"""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

torch.manual_seed(0)
X = torch.randn(256, 6)
y = (X[:, :2].sum(1, keepdim=True) > 0).float()
model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1))
DECAY = 0.9


class ModelEma(nn.Module):
    def __init__(self, model, decay):
        super().__init__()
        self.module = copy.deepcopy(model)
        self.module.eval()
        self.module.requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, model):
        ema_params = tuple(self.module.parameters())
        model_params = tuple(model.parameters())
        torch._foreach_mul_(ema_params, self.decay)
        torch._foreach_add_(ema_params, model_params, alpha=1 - self.decay)
        for ema_b, model_b in zip(self.module.buffers(), model.buffers()):
            ema_b.copy_(model_b)


ema_foreach = ModelEma(model, DECAY)
ema_lerp = copy.deepcopy(model).requires_grad_(False)
ema_lerp_list = copy.deepcopy(model).requires_grad_(False)
swa_ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(DECAY))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for step in range(60):
    idx = torch.randint(0, 256, (32,))
    loss = F.binary_cross_entropy_with_logits(model(X[idx]), y[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    ema_foreach.update(model)
    with torch.no_grad():
        for p_ema, p in zip(ema_lerp.parameters(), model.parameters()):
            p_ema.lerp_(p, 1 - DECAY)
        torch._foreach_lerp_(list(ema_lerp_list.parameters()), list(model.parameters()),
                             1 - DECAY)
    swa_ema.update_parameters(model)

vec = torch.nn.utils.parameters_to_vector
diffs = [(vec(ema_foreach.module.parameters()) - vec(m.parameters())).abs().max().item()
         for m in (ema_lerp, ema_lerp_list, swa_ema.module)]
# AveragedModel starts its average at the first update's weights, not the initial ones: the
# difference decays like DECAY ** steps
assert max(diffs[:2]) < 1e-5 and diffs[2] < 1e-3, diffs
moved = (vec(ema_foreach.module.parameters()) - vec(model.parameters())).abs().max().item()
assert moved > 1e-3   # the average lags the live weights
ema_foreach.module.eval()
with torch.no_grad():
    acc = ((ema_foreach.module(X) > 0).float() == y).float().mean().item()
print("max disagreement between the three EMAs:", max(diffs))
print(f"METRIC ema_accuracy {acc:.3f}")
