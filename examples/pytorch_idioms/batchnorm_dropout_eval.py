"""BatchNorm and Dropout switching between train and eval mode.

Idioms: ``nn.BatchNorm1d``, ``nn.Dropout(p=0.3)``, ``model.train()`` / ``model.eval()``,
``model.training``, ``bn.running_mean`` / ``running_var`` / ``num_batches_tracked``,
``momentum=None`` (cumulative average), eval outputs deterministic and independent of batch
composition, ``with torch.no_grad():`` accuracy.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
n = 800
X = torch.randn(n, 6)
X[:, :2] += 0.5 * torch.sign(X[:, :2])                    # a margin around the class boundary
X = X * torch.tensor([1.0, 5.0, 0.1, 2.0, 1.0, 3.0]) + 4.0   # badly scaled
y = ((X[:, 0] - 4) * (X[:, 1] - 4) > 0).long()

model = nn.Sequential(
    nn.Linear(6, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(p=0.3),
    nn.Linear(64, 64), nn.BatchNorm1d(64, momentum=None), nn.ReLU(), nn.Dropout(p=0.3),
    nn.Linear(64, 2),
)
optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
for epoch in range(20):
    model.train()
    perm = torch.randperm(600)
    for i in range(0, 600, 50):
        idx = perm[i:i + 50]
        loss = F.cross_entropy(model(X[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

bn = model[1]
print("tracked batches", int(bn.num_batches_tracked),
      "running mean[:3]", bn.running_mean[:3].tolist())
model.eval()
assert not model.training and not model[3].training
with torch.no_grad():
    out_all = model(X[600:])
    out_one = torch.cat([model(X[600 + i:601 + i]) for i in range(5)])
    assert torch.allclose(out_all[:5], out_one, atol=1e-5)   # eval: no batch statistics
    assert torch.equal(model(X[600:]), out_all)               # eval: no dropout
    acc = (out_all.argmax(1) == y[600:]).float().mean().item()
print(f"METRIC accuracy {acc:.4f}")
