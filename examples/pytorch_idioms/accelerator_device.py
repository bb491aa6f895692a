"""Device-agnostic training: pick the accelerator if there is one, else the CPU.

Idioms: ``torch.accelerator.is_available()``, ``torch.accelerator.current_accelerator()``,
``torch.device("cpu")``, ``device.type``, ``model.to(device)``, ``x.to(device)``,
``torch.tensor(..., device=device)``, ``next(model.parameters()).device``,
``torch.cuda.is_available()``, ``.cpu().numpy()`` on results, ``nn.CrossEntropyLoss()``.
"""
import torch
import torch.nn as nn

device = (torch.accelerator.current_accelerator() if torch.accelerator.is_available()
          else torch.device("cpu"))
print(f"Using {device.type} device; cuda available: {torch.cuda.is_available()}")

torch.manual_seed(0)
n = 600
X = torch.randn(n, 2)
y = (X.norm(dim=1) > 1.1).long()                 # inside / outside a circle

model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                      nn.Linear(32, 2)).to(device)
assert next(model.parameters()).device.type == device.type
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
Xd, yd = X.to(device), y.to(device)
for epoch in range(300):
    optimizer.zero_grad()
    loss = loss_fn(model(Xd[:500]), yd[:500])
    loss.backward()
    optimizer.step()

with torch.no_grad():
    probe = torch.tensor([[0.0, 0.0], [2.0, 2.0]], device=device)
    print("probe classes", model(probe).argmax(1).cpu().numpy().tolist())
    acc = (model(Xd[500:]).argmax(1) == yd[500:]).float().mean().item()
print(f"METRIC accuracy {acc:.4f}")
