"""Small models with known pathologies for the diagnostics tests (float64, seeded)."""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule
import chainrule.nn as nn
from chainrule.tensor import Tensor


def mlp(sizes: list[int], act: type, rng: np.random.Generator, *, scale: float = 1.0,
        bias: float | None = None, final_act: bool = False) -> nn.Sequential:
    """Linear layers sizes[0]→…→sizes[-1] with ``act`` between them; weights
    U(±scale/√fan_in), biases U(±1/√fan_in) or the constant ``bias``."""
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b, dtype=chainrule.float64)
        bound = 1.0 / np.sqrt(a)
        lin.weight.data[...] = rng.uniform(-scale * bound, scale * bound, (b, a))
        lin.bias.data[...] = rng.uniform(-bound, bound, b) if bias is None else bias
        layers.append(lin)
        if i < len(sizes) - 2 or final_act:
            layers.append(act())
    return nn.Sequential(*layers)


def cross_entropy(logits: Tensor, y: np.ndarray) -> Tensor:
    """Mean cross-entropy of integer labels ``y`` (composite; no nn loss needed)."""
    onehot = np.zeros(logits.shape, dtype=logits.dtype)
    onehot[np.arange(len(y)), y] = 1.0
    return -(logits.log_softmax(-1) * chainrule.tensor(onehot)).sum(-1).mean()


def mse(out: Tensor, y: Any) -> Tensor:
    return ((out - y) ** 2).mean()


def data(rng: np.random.Generator, n: int = 64, d: int = 8, classes: int = 3,
         ) -> tuple[Tensor, np.ndarray]:
    x = rng.standard_normal((n, d))
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return chainrule.tensor(x), np.minimum(y, classes - 1)


if hasattr(nn, "BatchNorm1d"):
    BatchNorm1d = nn.BatchNorm1d
else:  # until nn.BatchNorm1d lands: the same maths and buffers
    class BatchNorm1d(nn.Module):
        """y = γ (x − μ_B)/√(σ²_B + eps) + β in training (running stats updated), running
        statistics in eval."""

        def __init__(self, n: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
            super().__init__()
            self.eps, self.momentum = eps, momentum
            self.weight = nn.Parameter(np.ones(n))
            self.bias = nn.Parameter(np.zeros(n))
            self.register_buffer("running_mean", chainrule.tensor(np.zeros(n)))
            self.register_buffer("running_var", chainrule.tensor(np.ones(n)))

        def forward(self, x: Tensor) -> Tensor:
            if self.training:
                mu = x.mean(0)
                var = ((x - mu) ** 2).mean(0)
                n = x.shape[0]
                m = self.momentum
                self.running_mean.data[...] = (1 - m) * self.running_mean.data + m * mu.data
                unb = var.data * n / max(n - 1, 1)
                self.running_var.data[...] = (1 - m) * self.running_var.data + m * unb
            else:
                mu, var = self.running_mean, self.running_var
            return (x - mu) / (var + self.eps).sqrt() * self.weight + self.bias
