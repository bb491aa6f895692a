"""A LeNet-like classifier built from lazy layers, initialised after a dummy forward (d2l style).

Idioms: ``nn.LazyConv2d``, ``nn.LazyLinear``, ``nn.LazyBatchNorm2d``, ``net(torch.zeros(...))``
to materialise shapes, ``init_cnn`` testing ``type(module) == nn.Linear or type(module) ==
nn.Conv2d`` then ``nn.init.xavier_uniform_``, ``net.apply(init_cnn)``, ``net[0].weight.shape``,
``torch.optim.SGD`` created after materialisation, ``torch.no_grad()`` evaluation.
"""
import torch
import torch.nn.functional as F
from torch import nn


def init_cnn(module):
    if type(module) == nn.Linear or type(module) == nn.Conv2d:
        nn.init.xavier_uniform_(module.weight)


def make_bars(n, g):
    """8x8 images with a bright horizontal (class 0) or vertical (class 1) bar or a diagonal (2)."""
    y = torch.randint(0, 3, (n,), generator=g)
    pos = torch.randint(1, 7, (n,), generator=g)
    X = 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    idx = torch.arange(8)
    for i in range(n):
        if y[i] == 0:
            X[i, 0, pos[i], :] += 1.0
        elif y[i] == 1:
            X[i, 0, :, pos[i]] += 1.0
        else:
            X[i, 0, idx, idx] += 1.0
    return X, y


torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
Xtr, ytr = make_bars(600, g)
Xte, yte = make_bars(300, g)

net = nn.Sequential(
    nn.LazyConv2d(6, kernel_size=3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(),
    nn.MaxPool2d(kernel_size=2, stride=2),
    nn.LazyConv2d(8, kernel_size=3), nn.ReLU(),
    nn.Flatten(), nn.LazyLinear(32), nn.ReLU(), nn.LazyLinear(3),
)
net(torch.zeros(1, 1, 8, 8))
net.apply(init_cnn)
print("first conv weight", tuple(net[0].weight.shape), "first linear", tuple(net[7].weight.shape))

opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
for epoch in range(6):
    net.train()
    perm = torch.randperm(600)
    for i in range(0, 600, 50):
        idx = perm[i:i + 50]
        loss = F.cross_entropy(net(Xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

net.eval()
with torch.no_grad():
    acc = (net(Xte).argmax(dim=1) == yte).float().mean().item()
print(f"METRIC accuracy {acc:.4f}")
