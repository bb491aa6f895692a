"""A running-statistics normaliser kept in buffers, experts in a ModuleDict, layers in a
ModuleList, and what ends up in the state_dict.

Idioms: ``self.register_buffer("running_mean", torch.zeros(d))``,
``register_buffer(..., persistent=False)``, updating buffers under ``torch.no_grad()`` with
``mul_``/``add_``, ``nn.ModuleList`` iteration and indexing, ``nn.ModuleDict`` lookup by key,
``nn.ParameterList``, ``named_parameters()`` / ``named_buffers()`` / ``named_modules()``,
``sum(p.numel() for p in model.parameters() if p.requires_grad)``, ``requires_grad_(False)``
to freeze a part, ``len(model.state_dict())``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class RunningNorm(nn.Module):
    def __init__(self, d, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(d))
        self.register_buffer("running_var", torch.ones(d))
        self.register_buffer("scratch", torch.zeros(d), persistent=False)

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(x.mean(0), alpha=self.momentum)
                self.running_var.mul_(1 - self.momentum).add_(x.var(0), alpha=self.momentum)
        return (x - self.running_mean) / (self.running_var + 1e-5).sqrt()


class Mixture(nn.Module):
    def __init__(self, d=8, hidden=16):
        super().__init__()
        self.norm = RunningNorm(d)
        self.layers = nn.ModuleList([nn.Linear(d, hidden), nn.Linear(hidden, hidden)])
        self.experts = nn.ModuleDict({"sin": nn.Linear(hidden, 1), "cos": nn.Linear(hidden, 1)})
        self.gates = nn.ParameterList([nn.Parameter(torch.zeros(1)) for _ in range(2)])

    def forward(self, x, which):
        h = self.norm(x)
        for i, layer in enumerate(self.layers):
            h = torch.tanh(layer(h))
        return self.experts[which](h) * (1 + self.gates[0 if which == "sin" else 1])


torch.manual_seed(0)
X = torch.randn(400, 8) * 3 + 1
targets = {"sin": torch.sin(X[:, :1]), "cos": torch.cos(X[:, 1:2])}
model = Mixture()
model.layers[0].requires_grad_(False)
optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
for step in range(150):
    which = "sin" if step % 2 == 0 else "cos"
    loss = F.mse_loss(model(X, which), targets[which])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

sd = model.state_dict()
print("buffers:", [n for n, _ in model.named_buffers()])
print("modules:", len(list(model.named_modules())), "state_dict entries:", len(sd))
assert "norm.scratch" not in sd and "norm.running_mean" in sd
assert torch.allclose(model.norm.running_mean, X.mean(0), atol=0.05)
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
# an exact count: state_dict entries * 1000 + trainable parameters
print(f"METRIC structure {len(sd) * 1000 + trainable}")
