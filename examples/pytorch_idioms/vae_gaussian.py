"""A variational autoencoder on 2-D points from a ring (pytorch/examples VAE layout, small).

Idioms: ``fc21``/``fc22`` heads for ``mu``/``logvar``, ``reparameterize`` with
``std = torch.exp(0.5 * logvar)``, ``eps = torch.randn_like(std)``, ``mu + eps * std``;
``-0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())`` KL term;
``F.mse_loss(..., reduction="sum")``; ``model.eval()`` + ``torch.no_grad()`` test loss; sampling
from the prior with ``torch.randn(64, latent)``.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn, optim


class VAE(nn.Module):
    def __init__(self, latent=2):
        super().__init__()
        self.fc1 = nn.Linear(2, 64)
        self.fc21 = nn.Linear(64, latent)
        self.fc22 = nn.Linear(64, latent)
        self.fc3 = nn.Linear(latent, 64)
        self.fc4 = nn.Linear(64, 2)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z)))

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    rec = F.mse_loss(recon_x, x, reduction="sum") / (2 * 0.05)   # Gaussian decoder, var 0.05
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return rec + kld


def ring(n, g):
    angle = 2 * math.pi * torch.rand(n, generator=g)
    r = 2.0 + 0.1 * torch.randn(n, generator=g)
    return torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)


torch.manual_seed(1)
g = torch.Generator().manual_seed(1)
train, test = ring(2048, g), ring(512, g)
model = VAE()
optimizer = optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(15):
    model.train()
    perm = torch.randperm(len(train))
    for i in range(0, len(train), 128):
        data = train[perm[i:i + 128]]
        optimizer.zero_grad()
        recon, mu, logvar = model(data)
        loss = loss_function(recon, data, mu, logvar)
        loss.backward()
        optimizer.step()

model.eval()
with torch.no_grad():
    recon, mu, logvar = model(test)
    test_loss = loss_function(recon, test, mu, logvar).item() / len(test)
    samples = model.decode(torch.randn(1000, 2))
    radius = samples.norm(dim=1).mean().item()
print("mean radius of samples from the prior", radius)
print(f"METRIC test_loss_per_point {test_loss:.3f}")
