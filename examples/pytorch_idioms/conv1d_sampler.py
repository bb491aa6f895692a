"""A 1-D convolutional sequence classifier on imbalanced classes, balanced by a
WeightedRandomSampler.

Idioms: ``nn.Embedding(vocab, dim, padding_idx=0)``, ``x.permute(0, 2, 1)`` to channels-first,
``nn.Conv1d(dim, ch, kernel_size=3, padding=1)``, ``F.adaptive_max_pool1d(h, 1).squeeze(-1)``,
class weights ``1.0 / torch.bincount(labels).float()``, ``WeightedRandomSampler(weights,
num_samples=len(weights), replacement=True)``, ``DataLoader(ds, batch_size=..., sampler=...)``,
balanced accuracy from a confusion matrix built with ``index_put_(..., accumulate=True)``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler


class MotifNet(nn.Module):
    def __init__(self, vocab=6, dim=12, ch=24):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.conv = nn.Conv1d(dim, ch, kernel_size=3, padding=1)
        self.fc = nn.Linear(ch, 2)

    def forward(self, x):
        h = F.relu(self.conv(self.emb(x).permute(0, 2, 1)))
        return self.fc(F.adaptive_max_pool1d(h, 1).squeeze(-1))


def make(n, g):
    """Class 1 (about 15 %) contains the motif 1-2-3 somewhere in a random sequence of 20."""
    x = torch.randint(1, 6, (n, 20), generator=g)
    x[x == 3] = 4                                     # token 3 only appears in the motif
    y = (torch.rand(n, generator=g) < 0.15).long()
    pos = torch.randint(0, 18, (n,), generator=g)
    for i in torch.nonzero(y).flatten().tolist():
        x[i, pos[i]:pos[i] + 3] = torch.tensor([1, 2, 3])
    return x, y


torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
Xtr, ytr = make(1000, g)
Xte, yte = make(500, g)
class_weights = 1.0 / torch.bincount(ytr).float()
sampler = WeightedRandomSampler(class_weights[ytr], num_samples=len(ytr), replacement=True)
loader = DataLoader(TensorDataset(Xtr, ytr), batch_size=50, sampler=sampler)
model = MotifNet()
opt = torch.optim.Adam(model.parameters(), lr=5e-3)
for epoch in range(4):
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

with torch.no_grad():
    pred = model(Xte).argmax(1)
confusion = torch.zeros(2, 2, dtype=torch.long)
confusion.index_put_((yte, pred), torch.ones_like(yte), accumulate=True)
balanced = (confusion.diag().float() / confusion.sum(1).float()).mean().item()
print("confusion", confusion.tolist())
print(f"METRIC balanced_accuracy {balanced:.4f}")
