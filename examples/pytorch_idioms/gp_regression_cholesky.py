"""Exact Gaussian-process regression: marginal likelihood by Cholesky, hyperparameters by Adam.

Idioms (GP tutorials and small GP libraries written on raw PyTorch, e.g. the "GP from
scratch" notebooks behind GPyTorch's docs): ``torch.set_default_dtype(torch.float64)``;
positive hyperparameters as ``F.softplus(raw)`` of ``nn.Parameter(torch.tensor(0.0))``; the RBF
kernel from ``torch.cdist(x1, x2).pow(2)``; ``K + noise * torch.eye(n)``;
``L = torch.linalg.cholesky(K)``; ``alpha = torch.cholesky_solve(y, L)``; the negative log
marginal likelihood ``0.5 * y.T @ alpha + L.diagonal().log().sum() + 0.5 * n * log(2 pi)``
checked against ``MultivariateNormal(zeros, scale_tril=L).log_prob(y)``; the predictive mean
``Ks.T @ alpha`` and variance via ``torch.linalg.solve_triangular(L, Ks, upper=False)``;
``torch.linalg.cholesky_ex`` to test positive definiteness; ``torch.logdet`` for comparison.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import MultivariateNormal


class ExactGP(nn.Module):
    def __init__(self):
        super().__init__()
        self.raw_lengthscale = nn.Parameter(torch.tensor(0.0))
        self.raw_outputscale = nn.Parameter(torch.tensor(0.0))
        self.raw_noise = nn.Parameter(torch.tensor(-2.0))

    @property
    def lengthscale(self):
        return F.softplus(self.raw_lengthscale)

    @property
    def noise(self):
        return F.softplus(self.raw_noise) + 1e-6

    def kernel(self, x1, x2):
        d2 = torch.cdist(x1 / self.lengthscale, x2 / self.lengthscale).pow(2)
        return F.softplus(self.raw_outputscale) * torch.exp(-0.5 * d2)

    def nll(self, x, y):
        n = x.shape[0]
        K = self.kernel(x, x) + self.noise * torch.eye(n)
        L = torch.linalg.cholesky(K)
        alpha = torch.cholesky_solve(y, L)
        return (0.5 * (y.T @ alpha).squeeze() + L.diagonal().log().sum()
                + 0.5 * n * math.log(2 * math.pi)), L

    def predict(self, x, y, xs):
        K = self.kernel(x, x) + self.noise * torch.eye(x.shape[0])
        L = torch.linalg.cholesky(K)
        Ks = self.kernel(x, xs)
        mean = Ks.T @ torch.cholesky_solve(y, L)
        v = torch.linalg.solve_triangular(L, Ks, upper=False)
        var = self.kernel(xs, xs).diagonal() - v.pow(2).sum(0)
        return mean.squeeze(-1), var


def main():
    torch.set_default_dtype(torch.float64)
    # fixed design points and a deterministic "noise" so both libraries see the same data
    x = torch.linspace(-3, 3, 40).unsqueeze(-1)
    y = torch.sin(2 * x) + 0.1 * torch.cos(17 * x + 0.3)
    xs = torch.linspace(-2.5, 2.5, 25).unsqueeze(-1)
    model = ExactGP()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        loss, _ = model.nll(x, y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        loss, L = model.nll(x, y)
        K = L @ L.T
        mvn = MultivariateNormal(torch.zeros(40), scale_tril=L)
        check = torch.isclose(-mvn.log_prob(y.squeeze(-1)), loss)
        check &= torch.isclose(2 * L.diagonal().log().sum(), torch.logdet(K))
        _, info = torch.linalg.cholesky_ex(-K)
        check &= bool(info > 0)
        mean, var = model.predict(x, y, xs)
        rmse = (mean - torch.sin(2 * xs.squeeze(-1))).pow(2).mean().sqrt()
    print(f"nll {loss.item():.5f}, lengthscale {model.lengthscale.item():.4f}, "
          f"noise {model.noise.item():.5f}, rmse {rmse.item():.4f}, "
          f"min var {var.min().item():.2e}, checks {bool(check)}")
    print(f"METRIC nll_plus_check {loss.item() + float(check):.6f}")
    torch.set_default_dtype(torch.float32)      # leave the process as we found it


if __name__ == "__main__":
    main()
