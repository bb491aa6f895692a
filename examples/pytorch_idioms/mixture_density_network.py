"""A mixture density network fitted to the inverted sine problem (one x, several y), with its
output distribution built from ``torch.distributions``.

Idioms: ``D.MixtureSameFamily(D.Categorical(logits=...), D.Independent(D.Normal(mu, sigma),
1))``, ``.log_prob(y).mean()``, ``.sample()``, ``.mean`` / ``.variance``, ``F.softplus(x) +
1e-4`` for scales, ``torch.chunk`` / ``split`` of a head, ``torch.logsumexp`` for the same
likelihood written by hand, ``torch.distributions.Normal(...).cdf``, ``torch.optim.Adam``
with ``torch.optim.lr_scheduler.ExponentialLR``.
"""
import math

import torch
import torch.distributions as D
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
K = 4


def make(n):
    y = torch.rand(n, 1) * 2 - 1
    x = y + 0.3 * torch.sin(2 * math.pi * y) + 0.05 * torch.randn(n, 1)
    return x, y


class MDN(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                  nn.Tanh())
        self.head = nn.Linear(hidden, 3 * K)

    def forward(self, x):
        logits, mu, s = torch.chunk(self.head(self.body(x)), 3, dim=-1)
        sigma = F.softplus(s) + 1e-4
        mix = D.Categorical(logits=logits)
        comp = D.Independent(D.Normal(mu.unsqueeze(-1), sigma.unsqueeze(-1)), 1)
        return D.MixtureSameFamily(mix, comp), (logits, mu, sigma)


x, y = make(1500)
x_te, y_te = make(500)
model = MDN()
optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.995)
for step in range(500):
    dist, _ = model(x)
    loss = -dist.log_prob(y).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()

with torch.no_grad():
    dist, (logits, mu, sigma) = model(x_te)
    nll = -dist.log_prob(y_te).mean().item()
    # the same likelihood by hand: log sum_k pi_k N(y | mu_k, sigma_k)
    log_pi = torch.log_softmax(logits, dim=-1)
    log_n = D.Normal(mu, sigma).log_prob(y_te)
    by_hand = -torch.logsumexp(log_pi + log_n, dim=-1).mean().item()
    samples = dist.sample()
    cover = ((D.Normal(mu, sigma).cdf(y_te) * log_pi.exp()).sum(-1)).mean().item()
assert abs(nll - by_hand) < 1e-4, (nll, by_hand)
assert samples.shape == (500, 1) and dist.mean.shape == (500, 1)
print("mixture CDF at the targets (uniform -> 0.5):", round(cover, 3))
print(f"METRIC test_nll {nll:.3f}")
