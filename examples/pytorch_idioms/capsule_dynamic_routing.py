"""A small capsule network with dynamic routing (Sabour et al. 2017) on synthetic images.

Idioms (gram-ai/capsule-networks ``capsule_network.py`` and higgsfield/Capsule-Network-Tutorial):
``squash`` as ``squared_norm / (1 + squared_norm) * tensor / torch.sqrt(squared_norm)``;
primary capsules from a ``nn.ModuleList`` of convolutions ``torch.stack(..., dim=1)`` then
``.view(b, -1, 8)``; the routing weights ``nn.Parameter(torch.randn(1, routes, caps, out, in))``
applied with ``torch.matmul(W, x)`` on ``x.unsqueeze(2).unsqueeze(4)`` broadcast by
``torch.cat([self.W] * batch_size, dim=0)``; routing logits ``torch.zeros(1, routes, caps, 1)``
updated with ``torch.matmul(u_hat.transpose(3, 4), v_j.expand(...)).squeeze(4).mean(0,
keepdim=True)`` and ``F.softmax(b_ij, dim=2)``; lengths ``torch.sqrt((x ** 2).sum(2))``; the
margin loss ``F.relu(0.9 - v_c).view(b, -1) ** 2``; the reconstruction mask
``torch.eye(n).index_select(dim=0, index=max_length_indices.squeeze(1))``.
"""
import torch
import torch.nn.functional as F
from torch import nn


def squash(tensor, dim=-1):
    squared_norm = (tensor ** 2).sum(dim=dim, keepdim=True)
    scale = squared_norm / (1 + squared_norm)
    return scale * tensor / torch.sqrt(squared_norm + 1e-8)


class PrimaryCaps(nn.Module):
    def __init__(self, num_capsules=8, in_channels=16, out_channels=4):
        super().__init__()
        self.capsules = nn.ModuleList([
            nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2)
            for _ in range(num_capsules)])

    def forward(self, x):
        u = torch.stack([capsule(x) for capsule in self.capsules], dim=1)   # (b, 8, c, h, w)
        u = u.view(x.size(0), 8, -1).transpose(1, 2)                         # (b, routes, 8)
        return squash(u)


class DigitCaps(nn.Module):
    def __init__(self, num_capsules=3, num_routes=64, in_channels=8, out_channels=8):
        super().__init__()
        self.num_routes, self.num_capsules = num_routes, num_capsules
        self.W = nn.Parameter(0.1 * torch.randn(1, num_routes, num_capsules, out_channels,
                                                in_channels))

    def forward(self, x, iterations=3):
        batch_size = x.size(0)
        x = torch.stack([x] * self.num_capsules, dim=2).unsqueeze(4)
        W = torch.cat([self.W] * batch_size, dim=0)
        u_hat = torch.matmul(W, x)                                  # (b, routes, caps, out, 1)
        b_ij = torch.zeros(1, self.num_routes, self.num_capsules, 1)
        for iteration in range(iterations):
            c_ij = F.softmax(b_ij, dim=2)
            c_ij = torch.cat([c_ij] * batch_size, dim=0).unsqueeze(4)
            s_j = (c_ij * u_hat).sum(dim=1, keepdim=True)
            v_j = squash(s_j, dim=3)
            if iteration < iterations - 1:
                a_ij = torch.matmul(u_hat.transpose(3, 4),
                                    torch.cat([v_j] * self.num_routes, dim=1))
                b_ij = b_ij + a_ij.squeeze(4).mean(dim=0, keepdim=True)
        return v_j.squeeze(1)                                       # (b, caps, out, 1)


class CapsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3)
        self.primary = PrimaryCaps()
        self.digits = DigitCaps(num_routes=4 * 4 * 4)
        self.decoder = nn.Sequential(nn.Linear(8 * 3, 64), nn.ReLU(inplace=True),
                                     nn.Linear(64, 144), nn.Sigmoid())

    def forward(self, data):
        output = self.digits(self.primary(F.relu(self.conv1(data))))
        classes = torch.sqrt((output ** 2).sum(2)).squeeze(-1)      # capsule lengths (b, 3)
        _, max_length_indices = classes.max(dim=1)
        masked = torch.eye(3).index_select(dim=0, index=max_length_indices)
        recon = self.decoder((output.squeeze(-1) * masked[:, :, None]).view(data.size(0), -1))
        return classes, recon


def margin_loss(classes, labels):
    left = F.relu(0.9 - classes).view(classes.size(0), -1) ** 2
    right = F.relu(classes - 0.1).view(classes.size(0), -1) ** 2
    loss = labels * left + 0.5 * (1.0 - labels) * right
    return loss.sum(dim=1).mean()


def make_data(n, gen):
    # three 12x12 strokes (horizontal, vertical, diagonal) at a random brightness over noise
    templates = torch.zeros(3, 12, 12)
    templates[0, 6, 2:10] = 1.0
    templates[1, 2:10, 5] = 1.0
    templates[2, torch.arange(2, 10), torch.arange(2, 10)] = 1.0
    y = torch.randint(0, 3, (n,), generator=gen)
    brightness = 0.6 + 0.4 * torch.rand(n, 1, 1, 1, generator=gen)
    x = 0.25 * torch.rand(n, 1, 12, 12, generator=gen) + brightness * templates[y].unsqueeze(1)
    return x.clamp(0, 1), y


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x_all, y_all = make_data(456, gen)
    (x_train, x_test), (y_train, y_test) = x_all.split([256, 200]), y_all.split([256, 200])
    model = CapsNet()
    opt = torch.optim.Adam(model.parameters(), lr=6e-3)
    for epoch in range(4):
        perm = torch.randperm(256, generator=gen)
        for k in range(0, 256, 32):
            idx = perm[k:k + 32]
            classes, recon = model(x_train[idx])
            labels = F.one_hot(y_train[idx], 3).float()
            loss = margin_loss(classes, labels) + 0.0005 * F.mse_loss(
                recon, x_train[idx].view(32, -1), reduction="sum")
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        classes, _ = model(x_test)
        acc = (classes.argmax(1) == y_test).float().mean().item()
    print(f"last loss {loss.item():.4f}, test accuracy {acc:.3f}")
    print(f"METRIC accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
