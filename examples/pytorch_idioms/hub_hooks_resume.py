"""A model from a local ``hubconf.py``, inspected with hooks, fine-tuned under OneCycleLR and
resumed from a checkpoint.

Idioms: a repository folder with ``hubconf.py`` (``dependencies = ["torch"]``, an entry
point with a docstring) loaded by ``torch.hub.load(repo_dir, "mlp", source="local",
hidden=16)``; feature extraction with a dict filled by ``register_forward_hook``
(``activation[name] = output.detach()``) and gradients captured by the old
``register_backward_hook``; ``model.get_buffer("norm.running_mean")``; replacing the head
with ``model.set_submodule("head", nn.Linear(...))``; ``OneCycleLR`` stepped per batch and
``CosineAnnealingWarmRestarts`` stepped with fractional epochs ``epoch + i / iters``; a
checkpoint dict of the model, optimizer and both schedulers' ``state_dict()`` written with
``torch.save`` and read back with ``torch.load(..., map_location="cpu")``.

Metric: |parameters resumed from the checkpoint - parameters trained without a break| plus
|lr difference| (0 when every state round-trips), plus the count of hook captures (3).
"""
import os
import tempfile
import textwrap

import torch
import torch.nn as nn

HUBCONF = '''
dependencies = ["torch"]
import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, hidden), nn.ReLU())
        self.norm = nn.BatchNorm1d(hidden)
        self.head = nn.Linear(hidden, 3)

    def forward(self, x):
        return self.head(self.norm(self.body(x)))


def mlp(hidden=8):
    """An MLP with a BatchNorm before its head."""
    torch.manual_seed(0)
    return MLP(hidden)
'''

workdir = tempfile.mkdtemp()
repo_dir = os.path.join(workdir, "tiny_repo")
os.makedirs(repo_dir)
with open(os.path.join(repo_dir, "hubconf.py"), "w") as f:
    f.write(textwrap.dedent(HUBCONF))
model = torch.hub.load(repo_dir, "mlp", source="local", hidden=16)

activation, grads = {}, []


def get_activation(name):
    def hook(module, inputs, output):
        activation[name] = output.detach()
    return hook


model.body.register_forward_hook(get_activation("body"))
model.norm.register_forward_hook(get_activation("norm"))
model.norm.register_backward_hook(lambda m, grad_in, grad_out: grads.append(grad_out[0].shape))

gen = torch.Generator().manual_seed(3)
x = torch.randn(256, 4, generator=gen)
y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
model.set_submodule("head", nn.Linear(16, 3))


def make(model):
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=40)
    return opt, one_cycle


def train(model, opt, sched, restarts, epochs, start=0):
    iters = 8
    for epoch in range(start, epochs):
        for i in range(iters):
            xb, yb = x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
            sched.step()
            restarts.step(epoch + i / iters)


def fresh():
    m = torch.hub.load(repo_dir, "mlp", source="local", hidden=16)
    m.set_submodule("head", nn.Linear(16, 3))
    m.load_state_dict(start_state)
    opt, sched = make(m)
    side = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    restarts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(side, T_0=2, T_mult=2)
    return m, opt, sched, side, restarts


torch.manual_seed(1)
model.head = nn.Linear(16, 3)
start_state = {k: v.clone() for k, v in model.state_dict().items()}

m1, opt1, sched1, side1, restarts1 = fresh()
train(m1, opt1, sched1, restarts1, 5)

m2, opt2, sched2, side2, restarts2 = fresh()
train(m2, opt2, sched2, restarts2, 2)
path = os.path.join(workdir, "checkpoint.pt")
torch.save({"epoch": 2, "model_state_dict": m2.state_dict(),
            "optimizer_state_dict": opt2.state_dict(), "scheduler": sched2.state_dict(),
            "restarts": restarts2.state_dict(), "side": side2.state_dict()}, path)
ckpt = torch.load(path, map_location="cpu")
m3, opt3, sched3, side3, restarts3 = fresh()
m3.load_state_dict(ckpt["model_state_dict"])
opt3.load_state_dict(ckpt["optimizer_state_dict"])
sched3.load_state_dict(ckpt["scheduler"])
side3.load_state_dict(ckpt["side"])
restarts3.load_state_dict(ckpt["restarts"])
train(m3, opt3, sched3, restarts3, 5, start=ckpt["epoch"])

diff = sum((a - b).abs().max().item() for a, b in zip(m1.parameters(), m3.parameters()))
diff += abs(sched1.get_last_lr()[0] - sched3.get_last_lr()[0])
diff += abs(restarts1.get_last_lr()[0] - restarts3.get_last_lr()[0])
running = m1.get_buffer("norm.running_mean")
model(x[:8]).sum().backward()
captured = len(activation) + len(grads)
print(f"diff {diff:.3e} running-mean norm {running.norm():.3f} captures {captured} "
      f"hooks saw {tuple(activation['norm'].shape)}")
print("METRIC resume_diff_plus_captures", round(diff + captured, 9))
