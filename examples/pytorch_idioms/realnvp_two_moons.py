"""A RealNVP normalising flow (affine coupling layers with alternating binary masks) fitted by
maximum likelihood to two-moons data, sampled by inverting the flow.

Idioms: masks as ``nn.Parameter(mask, requires_grad=False)`` built with ``torch.from_numpy(np.
array(...).astype(np.float32))``, ``nn.ModuleList([nets() for _ in range(len(masks))])`` of
``nn.Sequential`` with ``nn.LeakyReLU`` / ``nn.Tanh``, ``torch.distributions.MultivariateNormal(
torch.zeros(2), torch.eye(2))`` prior with ``log_prob`` and ``sample((n,))``, the
log-determinant accumulated as ``log_det_J -= s.sum(dim=1)``, ``torch.exp(-s)``,
``x.new_zeros(x.shape[0])``, ``-(prior.log_prob(z) + logp).mean()``, ``optimizer.zero_grad();
loss.backward(); optimizer.step()`` with ``Adam([p for p in flow.parameters() if
p.requires_grad])``.
"""
import numpy as np
import torch
import torch.nn as nn
from torch import distributions

torch.manual_seed(0)
rng = np.random.default_rng(0)


def two_moons(n):
    t = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    return np.stack([x, y], 1) + 0.05 * rng.standard_normal((n, 2))


class RealNVP(nn.Module):
    def __init__(self, nets, nett, mask, prior):
        super().__init__()
        self.prior = prior
        self.mask = nn.Parameter(mask, requires_grad=False)
        self.t = torch.nn.ModuleList([nett() for _ in range(len(mask))])
        self.s = torch.nn.ModuleList([nets() for _ in range(len(mask))])

    def g(self, z):
        x = z
        for i in range(len(self.t)):
            x_ = x * self.mask[i]
            s = self.s[i](x_) * (1 - self.mask[i])
            t = self.t[i](x_) * (1 - self.mask[i])
            x = x_ + (1 - self.mask[i]) * (x * torch.exp(s) + t)
        return x

    def f(self, x):
        log_det_J, z = x.new_zeros(x.shape[0]), x
        for i in reversed(range(len(self.t))):
            z_ = self.mask[i] * z
            s = self.s[i](z_) * (1 - self.mask[i])
            t = self.t[i](z_) * (1 - self.mask[i])
            z = (1 - self.mask[i]) * (z - t) * torch.exp(-s) + z_
            log_det_J -= s.sum(dim=1)
        return z, log_det_J

    def log_prob(self, x):
        z, logp = self.f(x)
        return self.prior.log_prob(z) + logp

    def sample(self, batch_size):
        z = self.prior.sample((batch_size,))
        return self.g(z)


def nets():
    return nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(), nn.Linear(32, 32), nn.LeakyReLU(),
                         nn.Linear(32, 2), nn.Tanh())


def nett():
    return nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(), nn.Linear(32, 32), nn.LeakyReLU(),
                         nn.Linear(32, 2))


masks = torch.from_numpy(np.array([[0, 1], [1, 0]] * 3).astype(np.float32))
prior = distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
flow = RealNVP(nets, nett, masks, prior)
optimizer = torch.optim.Adam([p for p in flow.parameters() if p.requires_grad], lr=3e-3)
for t in range(400):
    batch = torch.from_numpy(two_moons(128).astype(np.float32))
    loss = -flow.log_prob(batch).mean()
    optimizer.zero_grad()
    loss.backward(retain_graph=True)
    optimizer.step()
test = torch.from_numpy(two_moons(2000).astype(np.float32))
with torch.no_grad():
    test_nll = -flow.log_prob(test).mean().item()
    samples = flow.sample(500)
    # the inverse really inverts: f(g(z)) == z
    z = prior.sample((100,))
    roundtrip = (flow.f(flow.g(z))[0] - z).abs().max().item()
assert roundtrip < 1e-3, roundtrip
print("trainable:", sum(p.numel() for p in flow.parameters() if p.requires_grad),
      "sample mean:", samples.mean(0).tolist())
print(f"METRIC test_nll {test_nll:.3f}")
