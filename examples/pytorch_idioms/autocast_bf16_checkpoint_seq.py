"""Mixed precision on the CPU with bfloat16 and activation checkpointing, as training scripts
written for PyTorch 2.x do when no GPU is present.

Idioms: ``torch.autocast(device_type="cpu", dtype=torch.bfloat16)`` around the forward (and as
a decorator on a module's ``forward``), ``loss = F.cross_entropy(logits.float(), y)`` outside
the region, ``torch.amp.GradScaler("cpu", enabled=False)`` (not needed for bfloat16),
``torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)`` /
``custom_bwd`` on an ``autograd.Function``, ``torch.utils.checkpoint.checkpoint_sequential(model,
segments, x, use_reentrant=False)``, ``torch.set_float32_matmul_precision("high")``,
``torch.finfo(torch.bfloat16).eps`` in a tolerance.

NOTE (chainrule): autocast is accepted but not applied, so the region computes in float32
where PyTorch computes matrix products in bfloat16 (docs/pytorch.md); the accuracy agrees.
"""

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint_sequential

warnings.filterwarnings("ignore", category=UserWarning)
torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
torch.set_float32_matmul_precision("high")


class ScaledSquare(torch.autograd.Function):
    """x -> x**2 / 2 in float32 even inside an autocast region."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x / 2

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


class Head(nn.Module):
    def __init__(self, width, classes):
        super().__init__()
        self.fc = nn.Linear(width, classes)

    @torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    def forward(self, h):
        return self.fc(h)


width, classes = 32, 4
body = nn.Sequential(nn.Linear(8, width), nn.GELU(), nn.Linear(width, width), nn.LayerNorm(width),
                     nn.GELU(), nn.Linear(width, width), nn.GELU())
head = Head(width, classes)
params = list(body.parameters()) + list(head.parameters())
opt = torch.optim.AdamW(params, lr=3e-3)
scaler = torch.amp.GradScaler("cpu", enabled=False)
W_true = torch.randn(8, classes, generator=g)


def batch(n):
    x = torch.randn(n, 8, generator=g)
    return x, (x @ W_true).argmax(1)


for step in range(150):
    x, y = batch(64)
    x.requires_grad_(True)          # checkpointed segments need a grad path
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        h = checkpoint_sequential(body, 2, x, use_reentrant=False)
        logits = head(h)
    loss = F.cross_entropy(logits.float(), y) + 1e-4 * ScaledSquare.apply(h.float()).mean()
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()

x, y = batch(1000)
with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
    pred = head(body(x)).float().argmax(1)
acc = (pred == y).float().mean().item()
assert torch.finfo(torch.bfloat16).eps == 2 ** -7
print(f"METRIC test_acc {acc:.4f}")
