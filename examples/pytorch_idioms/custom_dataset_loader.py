"""A custom map-style Dataset with a transform, split and batched by DataLoader.

Idioms: subclassing ``torch.utils.data.Dataset`` (``__len__``, ``__getitem__`` returning a tuple),
a transform callable, ``random_split(ds, [n1, n2], generator=torch.Generator().manual_seed(0))``,
``DataLoader(..., batch_size=32, shuffle=True, drop_last=True)``, ``TensorDataset``, iterating
``for batch, (X, y) in enumerate(dataloader)``, ``len(dataloader.dataset)``, progress lines
``loss: {loss.item():>7f}  [{current:>5d}/{size:>5d}]``,
``(pred.argmax(1) == y).type(torch.float).sum().item()`` (the quickstart's test loop).
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split


class Spirals(Dataset):
    """Two interleaved spirals; sample i is (point, label)."""

    def __init__(self, n, transform=None, seed=0):
        g = torch.Generator().manual_seed(seed)
        t = torch.rand(n, generator=g) * 2.5 + 0.5
        self.labels = torch.randint(0, 2, (n,), generator=g)
        sign = 1 - 2 * self.labels.float()
        self.points = torch.stack([sign * t * torch.cos(2 * t), sign * t * torch.sin(2 * t)], 1)
        self.points += 0.05 * torch.randn(n, 2, generator=g)
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        x = self.points[idx]
        if self.transform:
            x = self.transform(x)
        return x, self.labels[idx]


def scale(x):
    return x / 3.0


full = Spirals(1200, transform=scale)
train_set, test_set = random_split(full, [1000, 200], generator=torch.Generator().manual_seed(0))
train_loader = DataLoader(train_set, batch_size=32, shuffle=True, drop_last=True)
test_loader = DataLoader(test_set, batch_size=64)

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)


def train_loop(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if batch % 10 == 0:
            current = (batch + 1) * len(X)
            last = f"loss: {loss.item():>7f}  [{current:>5d}/{size:>5d}]"
    return last


def test_loop(dataloader, model):
    model.eval()
    correct = 0
    with torch.no_grad():
        for X, y in dataloader:
            correct += (model(X).argmax(1) == y).type(torch.float).sum().item()
    return correct / len(dataloader.dataset)


for t in range(25):
    progress = train_loop(train_loader, model, loss_fn, optimizer)
print(progress)

# The same data through a TensorDataset must give the same accuracy.
xs = torch.stack([test_set[i][0] for i in range(len(test_set))])
ys = torch.stack([test_set[i][1] for i in range(len(test_set))])
acc = test_loop(test_loader, model)
assert acc == test_loop(DataLoader(TensorDataset(xs, ys), batch_size=50), model)
print(f"METRIC accuracy {acc:.4f}")
