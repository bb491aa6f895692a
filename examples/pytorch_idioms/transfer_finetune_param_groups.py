"""Transfer learning: pretrain a network, freeze its body, replace its head, fine-tune with
parameter groups, then unfreeze and add the body to the optimizer.

Idioms: ``for param in model.parameters(): param.requires_grad = False``, replacing a layer
(``model.fc = nn.Linear(num_ftrs, n_new)``), ``model.fc.in_features``,
``optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), ...)``,
``optimizer.add_param_group({"params": ..., "lr": ...})``, ``model.named_children()``,
``print(model)``, ``lr_scheduler.StepLR`` with two groups.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim


class Net(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.fc = nn.Linear(64, n_out)

    def forward(self, x):
        return self.fc(self.body(x))


def fit(model, optimizer, X, y, steps, scheduler=None):
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(X), y).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


torch.manual_seed(0)
W = torch.randn(10, 6)
X_pre = torch.randn(2000, 10)
y_pre = (X_pre @ W).argmax(1)                 # pretraining task: 6 classes
model = Net(6)
fit(model, optim.Adam(model.parameters(), lr=1e-2), X_pre, y_pre, 200)

X_new = torch.randn(60, 10)                    # a small new task: 3 classes, related features
y_new = (X_new @ W[:, :3]).argmax(1)
X_test = torch.randn(500, 10)
y_test = (X_test @ W[:, :3]).argmax(1)

for param in model.parameters():
    param.requires_grad = False
num_ftrs = model.fc.in_features
model.fc = nn.Linear(num_ftrs, 3)
print([name for name, _ in model.named_children()])
print(model)
optimizer = optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1,
                      momentum=0.9)
fit(model, optimizer, X_new, y_new, 100)
for param in model.body.parameters():
    param.requires_grad = True
optimizer.add_param_group({"params": model.body.parameters(), "lr": 0.01})
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=25, gamma=0.5)
fit(model, optimizer, X_new, y_new, 50, scheduler)
assert [g["lr"] for g in optimizer.param_groups] == [0.1 * 0.25, 0.01 * 0.25]

with torch.no_grad():
    acc = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"METRIC accuracy {acc:.4f}")
