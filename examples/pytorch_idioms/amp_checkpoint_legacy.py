"""A training script with the scaffolding of a GPU recipe, run on the CPU: mixed precision
guarded by the device, activation checkpointing, TorchScript and DataParallel guards, legacy
Variable/FloatTensor spellings, print options and torch.testing checks.

Idioms: ``scaler = torch.amp.GradScaler(device, enabled=use_amp)``,
``with torch.autocast(device_type=device, dtype=torch.float16, enabled=use_amp):``,
``scaler.scale(loss).backward(); scaler.unscale_(opt); clip_grad_norm_; scaler.step(opt);
scaler.update()``, ``torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)``,
``if torch.cuda.device_count() > 1: model = nn.DataParallel(model)``,
``torch.jit.script(model)`` for inference with ``not torch.jit.is_scripting()`` guarding
the checkpoint (timm's idiom), ``from torch.autograd import Variable``,
``torch.FloatTensor(data)`` / ``torch.LongTensor(labels)``, ``isinstance(x, torch.FloatTensor)``,
``torch.set_printoptions(precision=3)``, ``torch.testing.assert_close``.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint
from torch.autograd import Variable

torch.manual_seed(0)
torch.set_printoptions(precision=3)
device = "cuda" if torch.cuda.is_available() else "cpu"
use_amp = device == "cuda"          # a GPU recipe: mixed precision only where it pays

rng = np.random.default_rng(0)
pts = rng.normal(size=(600, 2))
labels = (np.sin(2 * pts[:, 0]) > pts[:, 1]).astype(np.int64)
X = Variable(torch.FloatTensor(pts.tolist()))           # legacy spellings of the old tutorials
y = Variable(torch.LongTensor(labels.tolist()))
assert isinstance(X, torch.FloatTensor) and isinstance(y, torch.LongTensor)
assert X.type() != y.type()


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(torch.tanh(self.fc1(x)))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(2, 32)
        self.blocks = nn.ModuleList([Block(32) for _ in range(3)])
        self.out = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.inp(x))
        for block in self.blocks:
            if self.training and not torch.jit.is_scripting():   # recomputed in backward
                h = torch.utils.checkpoint.checkpoint(block, h, use_reentrant=False)
            else:
                h = block(h)
        return self.out(h)


model = Net().to(device)
if torch.cuda.device_count() > 1:
    model = nn.DataParallel(model)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
scaler = torch.amp.GradScaler(device, enabled=use_amp)

Xtr, ytr, Xte, yte = X[:500], y[:500], X[500:], y[500:]
for epoch in range(30):
    model.train()
    for i in range(0, 500, 50):
        xb, yb = Xtr[i:i + 50].to(device), ytr[i:i + 50].to(device)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=use_amp):
            loss = F.cross_entropy(model(xb), yb)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(opt)
        scaler.update()

model.eval()
scripted = torch.jit.script(model)           # TorchScript for deployment
with torch.no_grad():
    logits = scripted(Xte)
    torch.testing.assert_close(logits, model(Xte))
acc = (logits.argmax(1) == yte).float().mean().item()
print("first logits:", logits[:2])
print(f"METRIC accuracy {acc:.4f}")
