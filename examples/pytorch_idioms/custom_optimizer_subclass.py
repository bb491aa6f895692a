"""Two user-written optimizers: a sign-momentum optimizer and SGD with momentum and a closure.

Idioms: subclassing ``torch.optim.Optimizer`` with ``defaults``, ``@torch.no_grad()`` on
``step``, ``closure`` evaluated under ``torch.enable_grad()``, ``self.state[p]`` initialised
on first use, ``group["params"]``, ``p.add_(update.sign_(), alpha=-lr)``,
``exp_avg.mul_(beta).add_(grad, alpha=1 - beta)``, ``torch.zeros_like(p,
memory_format=torch.preserve_format)``, parameter groups with their own lr.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim import Optimizer


def evaluate(closure):
    """The loss from the closure, with gradients on (step itself runs under no_grad)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class SignMomentum(Optimizer):
    """The update is the sign of an interpolation between momentum and gradient (Lion's rule)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0):
        if lr <= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = evaluate(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                exp_avg = state["exp_avg"]
                p.mul_(1 - group["lr"] * group["weight_decay"])
                update = exp_avg.clone().mul_(beta1).add_(p.grad, alpha=1 - beta1)
                p.add_(update.sign_(), alpha=-group["lr"])
                exp_avg.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss


class HeavyBall(Optimizer):
    def __init__(self, params, lr=0.01, momentum=0.9):
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure=None):
        loss = evaluate(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = p.grad.clone().detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(p.grad)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


torch.manual_seed(0)
X = torch.randn(512, 8)
y = torch.sin(X[:, :1] * 2) + X[:, 1:2] * X[:, 2:3]


def make_model():
    return nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 1))


losses = []
model = make_model()
opt = SignMomentum([{"params": model[0].parameters()},
                    {"params": model[2].parameters(), "lr": 5e-4}], lr=2e-3, weight_decay=1e-3)
for _ in range(300):
    opt.zero_grad()
    loss = F.mse_loss(model(X), y)
    loss.backward()
    opt.step()
losses.append(F.mse_loss(model(X), y).item())

model = make_model()
opt = HeavyBall(model.parameters(), lr=0.05)


def closure():
    opt.zero_grad()
    loss = F.mse_loss(model(X), y)
    loss.backward()
    return loss


for _ in range(300):
    opt.step(closure)
losses.append(closure().item())
print("sign-momentum loss", losses[0], "heavy-ball loss", losses[1],
      "state keys", sorted(opt.state_dict()["state"][0]))
print(f"METRIC mean_final_mse {sum(losses) / 2:.4f}")
