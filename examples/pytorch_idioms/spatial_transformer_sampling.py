"""A spatial transformer network (Jaderberg et al. 2015) on shifted, rotated bar patterns.

Idioms: a localisation net whose last ``nn.Linear`` is initialised to the identity transform
(``fc_loc[2].weight.data.zero_()``, ``bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0],
dtype=torch.float))``), ``F.affine_grid(theta, x.size(), align_corners=False)``,
``F.grid_sample``, ``nn.ReflectionPad2d``, ``F.interpolate(mode="bilinear")``, ``x.view(-1, 2,
3)``, ``torch.no_grad()`` evaluation, held-out accuracy.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
gen = torch.Generator().manual_seed(1)


def make(n):
    """Images of a horizontal (class 0) or vertical (class 1) bar, randomly shifted/rotated."""
    y = torch.randint(0, 2, (n,), generator=gen)
    base = torch.zeros(n, 1, 12, 12)
    base[y == 0, 0, 5:7, 2:10] = 1.0
    base[y == 1, 0, 2:10, 5:7] = 1.0
    ang = (torch.rand(n, generator=gen) - 0.5) * (math.pi / 3)
    shift = (torch.rand(n, 2, generator=gen) - 0.5) * 0.6
    theta = torch.stack([torch.stack([ang.cos(), -ang.sin(), shift[:, 0]], 1),
                         torch.stack([ang.sin(), ang.cos(), shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, base.size(), align_corners=False)
    x = F.grid_sample(base, grid, align_corners=False, padding_mode="zeros")
    return x + 0.05 * torch.randn(x.shape, generator=gen), y


class STN(nn.Module):
    def __init__(self):
        super().__init__()
        self.localization = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(1, 4, 3), nn.ReLU(),
                                          nn.MaxPool2d(2), nn.Flatten())
        self.fc_loc = nn.Sequential(nn.Linear(4 * 6 * 6, 16), nn.ReLU(), nn.Linear(16, 6))
        self.fc_loc[2].weight.data.zero_()
        self.fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))
        self.head = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(54, 2))

    def stn(self, x):
        theta = self.fc_loc(self.localization(x)).view(-1, 2, 3)
        grid = F.affine_grid(theta, x.size(), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False)

    def forward(self, x):
        x = self.stn(x)
        x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        return self.head(x)


xtr, ytr = make(400)
xte, yte = make(200)
model = STN()
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(12):
    perm = torch.randperm(400, generator=gen)
    for i in range(0, 400, 50):
        idx = perm[i:i + 50]
        opt.zero_grad()
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
model.eval()
with torch.no_grad():
    acc = (model(xte).argmax(1) == yte).float().mean().item()
print(f"final train loss {loss.item():.3f}")
print(f"METRIC accuracy {acc:.3f}")
