"""Checkpointing as scripts do it: save the model's and the optimizer's state_dicts, load them into
fresh objects, and check that training resumes exactly.

Idioms: ``torch.save(model.state_dict(), "model.pt")``, ``model.load_state_dict(torch.load(path,
weights_only=True))``, a checkpoint dict ``{"epoch": ..., "model_state_dict": ...,
"optimizer_state_dict": ..., "loss": ...}``, ``optimizer.load_state_dict``, ``strict=True``
load result (``missing_keys``/``unexpected_keys``), ``model.state_dict().keys()``,
``copy.deepcopy(model)``, ``torch.equal``.
"""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.bn = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 1)

    def forward(self, x):
        return self.fc2(F.relu(self.bn(self.fc1(x))))


torch.manual_seed(0)
X, y = torch.randn(128, 4), torch.randn(128, 1)
model = Net()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)


def train_steps(model, optimizer, k):
    for _ in range(k):
        optimizer.zero_grad()
        loss = F.mse_loss(model(X), y)
        loss.backward()
        optimizer.step()
    return loss.item()


loss = train_steps(model, optimizer, 10)
torch.save(model.state_dict(), "model.pt")
torch.save({"epoch": 10, "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(), "loss": loss}, "checkpoint.pt")
print("keys:", list(model.state_dict().keys()))

reference = copy.deepcopy(model)
ref_opt = torch.optim.Adam(reference.parameters(), lr=1e-2)
ref_opt.load_state_dict(optimizer.state_dict())

restored = Net()
result = restored.load_state_dict(torch.load("model.pt", weights_only=True))
assert not result.missing_keys and not result.unexpected_keys
checkpoint = torch.load("checkpoint.pt", weights_only=True)
resumed = Net()
resumed.load_state_dict(checkpoint["model_state_dict"])
resumed_opt = torch.optim.Adam(resumed.parameters(), lr=1e-2)
resumed_opt.load_state_dict(checkpoint["optimizer_state_dict"])
assert checkpoint["epoch"] == 10

restored.eval()
model.eval()
with torch.no_grad():
    same_output = torch.equal(restored(X), model(X))
model.train()
train_steps(reference, ref_opt, 5)
train_steps(resumed, resumed_opt, 5)
diff = max((a - b).abs().max().item()
           for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()))
print("restored output identical:", same_output)
print(f"METRIC resume_max_diff {diff + (0.0 if same_output else 1.0):.3e}")
