"""A k-nearest-neighbour classifier written with tensor operations only.

Idioms: ``torch.cdist``, ``dist.topk(k, dim=1, largest=False)``, ``labels[idx]`` fancy indexing,
``torch.gather``, ``F.one_hot(...).sum(1).argmax(1)`` voting, ``scatter_add_``, ``torch.where``,
``torch.einsum("nd,md->nm", ...)``, ``cumsum``, ``torch.unique(return_counts=True)``,
``torch.sort``. The data come from Python's ``random``, so both libraries see the same points
and the accuracy is exact.
"""
import random

import torch
import torch.nn.functional as F

rng = random.Random(5)
centers = [(0.0, 0.0), (2.0, 0.5), (0.5, 2.2)]
points, labels = [], []
for i in range(450):
    c = i % 3
    points.append([centers[c][0] + rng.gauss(0, 0.7), centers[c][1] + rng.gauss(0, 0.7)])
    labels.append(c)
X = torch.tensor(points, dtype=torch.float64)
y = torch.tensor(labels)
Xtr, ytr, Xte, yte = X[:300], y[:300], X[300:], y[300:]

dist = torch.cdist(Xte, Xtr)
sq = (Xte ** 2).sum(1, keepdim=True) - 2 * torch.einsum("nd,md->nm", Xte, Xtr) \
    + (Xtr ** 2).sum(1)
assert torch.allclose(dist ** 2, sq.clamp(min=0), atol=1e-9)
values, idx = dist.topk(7, dim=1, largest=False)
assert torch.equal(values, torch.gather(dist, 1, idx))
votes = F.one_hot(ytr[idx], num_classes=3).sum(1)
by_scatter = torch.zeros(len(Xte), 3, dtype=torch.long).scatter_add_(1, ytr[idx],
                                                                     torch.ones_like(idx))
assert torch.equal(votes, by_scatter)
pred = votes.argmax(1)
pred = torch.where(votes.max(1).values >= 4, pred, pred)   # majority of 7 always holds here
sorted_vals, _ = torch.sort(values[:, -1])
classes, counts = torch.unique(pred, return_counts=True)
print("predicted class counts", dict(zip(classes.tolist(), counts.tolist())),
      "median 7th distance", sorted_vals[len(sorted_vals) // 2].item(),
      "cumulative", counts.cumsum(0).tolist())
print(f"METRIC accuracy {(pred == yte).double().mean().item():.6f}")
