"""Metric learning: an embedding network trained with a triplet loss, evaluated by
nearest-neighbour retrieval with cosine similarity.

Idioms: ``F.normalize(z, dim=1)``, ``nn.TripletMarginLoss(margin=0.2)``,
``F.cosine_similarity(a, b, dim=-1)``, ``F.pairwise_distance``, ``sim.fill_diagonal_(-1)``,
``torch.randint`` / ``torch.randperm`` triplet mining, ``sim.argmax(1)`` retrieval,
``torch.mm(z, z.t())``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
n_classes, per_class, dim = 8, 40, 16
prototypes = torch.randn(n_classes, dim)
labels = torch.arange(n_classes).repeat_interleave(per_class)
X = prototypes[labels] + 0.9 * torch.randn(len(labels), dim)
perm = torch.randperm(len(labels))
X, labels = X[perm], labels[perm]
Xtr, ytr, Xte, yte = X[:200], labels[:200], X[200:], labels[200:]

net = nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, 8))
criterion = nn.TripletMarginLoss(margin=0.2)
opt = torch.optim.Adam(net.parameters(), lr=3e-3)
for step in range(300):
    a = torch.randint(0, 200, (64,))
    same = [torch.nonzero(ytr == ytr[i]).flatten() for i in a.tolist()]
    other = [torch.nonzero(ytr != ytr[i]).flatten() for i in a.tolist()]
    p = torch.stack([s[torch.randint(0, len(s), (1,))][0] for s in same])
    q = torch.stack([o[torch.randint(0, len(o), (1,))][0] for o in other])
    z = F.normalize(net(Xtr), dim=1)
    loss = criterion(z[a], z[p], z[q])
    opt.zero_grad()
    loss.backward()
    opt.step()

with torch.no_grad():
    z = F.normalize(net(Xte), dim=1)
    sim = torch.mm(z, z.t())
    assert torch.allclose(sim[0, 1], F.cosine_similarity(z[0], z[1], dim=-1), atol=1e-5)
    assert torch.allclose(F.pairwise_distance(z[:1], z[1:2], eps=0.0)[0] ** 2,
                          2 - 2 * sim[0, 1], atol=1e-5)
    sim.fill_diagonal_(-1)
    recall_at_1 = (yte[sim.argmax(1)] == yte).float().mean().item()
print(f"METRIC recall_at_1 {recall_at_1:.4f}")
