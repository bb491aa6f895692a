"""A reproducibility helper and closed-form models with ``torch.linalg``.

Idioms: the ``set_seed`` utility of many repositories (``torch.manual_seed``,
``torch.backends.cudnn.deterministic = True``, ``torch.backends.cudnn.benchmark = False``,
``torch.use_deterministic_algorithms(True)``), device selection through
``torch.backends.mps.is_available()``, ridge regression by ``torch.linalg.solve`` and by
``torch.linalg.lstsq``, a Cholesky solve, ``torch.linalg.norm``, ``x.shape.numel()`` and
``torch.Size``; metric: the ridge model's test MSE.
"""
import random

import numpy as np
import torch


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True)


set_seed(0)
if torch.cuda.is_available():
    device = torch.device("cuda")
elif torch.backends.mps.is_available():
    device = torch.device("mps")
else:
    device = torch.device("cpu")

rng = np.random.default_rng(0)
X = torch.tensor(rng.standard_normal((300, 20)), dtype=torch.float64, device=device)
w_true = torch.tensor(rng.standard_normal(20), dtype=torch.float64)
y = X @ w_true + 0.3 * torch.tensor(rng.standard_normal(300), dtype=torch.float64)
Xtr, Xte, ytr, yte = X[:200], X[200:], y[:200], y[200:]
assert Xtr.shape == torch.Size([200, 20]) and Xtr.shape.numel() == 4000

lam = 1.0
A = Xtr.T @ Xtr + lam * torch.eye(20, dtype=torch.float64)
w_solve = torch.linalg.solve(A, Xtr.T @ ytr)
L = torch.linalg.cholesky(A)
w_chol = torch.cholesky_solve((Xtr.T @ ytr).unsqueeze(1), L).squeeze(1)
aug_X = torch.cat([Xtr, lam ** 0.5 * torch.eye(20, dtype=torch.float64)])
aug_y = torch.cat([ytr, torch.zeros(20, dtype=torch.float64)])
w_lstsq = torch.linalg.lstsq(aug_X, aug_y.unsqueeze(1)).solution.squeeze(1)
agree = max(torch.linalg.norm(w_solve - w_chol).item(), torch.linalg.norm(w_solve - w_lstsq).item())
mse = ((Xte @ w_solve - yte) ** 2).mean().item()
print(f"device {device}; three solvers agree to {agree:.1e}; cond(A) {torch.linalg.cond(A):.2f}")
print(f"METRIC test_mse {mse:.6f}")
