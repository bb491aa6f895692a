"""The training-script side of nanoGPT (``train.py`` / ``sample.py``), on a tiny model.

Idioms: a token array saved with ``np.array(..., dtype=np.uint16).tofile`` and read back with
``np.memmap(..., mode="r")``, ``get_batch`` stacking ``torch.from_numpy(data[i:i + block]
.astype(np.int64))`` windows at ``torch.randint(len(data) - block, (batch,))``;
``ptdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16":
torch.float16}[dtype]`` and ``ctx = nullcontext() if device_type == "cpu" else
torch.amp.autocast(...)``; ``torch.cuda.amp.GradScaler(enabled=(dtype == "float16"))``;
``torch.backends.cuda.matmul.allow_tf32 = True``; ``configure_optimizers`` splitting
parameters by ``p.dim() >= 2`` and testing ``"fused" in inspect.signature(torch.optim.AdamW)
.parameters``; the warm-up + cosine ``get_lr(it)`` written into every ``param_group["lr"]``;
``@torch.no_grad() estimate_loss`` with ``model.eval()`` / ``model.train()``;
``optimizer.zero_grad(set_to_none=True)``; ``crop_block_size`` replacing ``wpe.weight`` with a
``nn.Parameter`` slice; ``generate`` with temperature and top-k
(``v, _ = torch.topk(logits, min(top_k, logits.size(-1)))``,
``logits[logits < v[:, [-1]]] = -float("Inf")``) and ``torch.multinomial``.
"""

import inspect
import math
import os
import tempfile
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(1337)
device_type = "cpu"
dtype = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
ptdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
ctx = nullcontext() if device_type == "cpu" else torch.amp.autocast(device_type=device_type,
                                                                     dtype=ptdtype)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True

# data: a repeating "counting" language over 12 tokens, written as uint16 like prepare.py does
vocab_size, block_size, batch_size = 12, 16, 16
tokens = np.array([(i * 5 + (i // 12)) % vocab_size for i in range(4000)], dtype=np.uint16)
tmp = tempfile.mkdtemp()
tokens[:3600].tofile(os.path.join(tmp, "train.bin"))
tokens[3600:].tofile(os.path.join(tmp, "val.bin"))


def get_batch(split):
    data = np.memmap(os.path.join(tmp, f"{split}.bin"), dtype=np.uint16, mode="r")
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([torch.from_numpy((data[i:i + block_size]).astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy((data[i + 1:i + 1 + block_size]).astype(np.int64))
                     for i in ix])
    return x, y


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=False)
        self.attn = nn.MultiheadAttention(n_embd, n_head, batch_first=True, bias=False)
        self.ln_2 = nn.LayerNorm(n_embd, bias=False)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * n_embd, n_embd))

    def forward(self, x):
        T = x.size(1)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, n_layer=2, n_head=2, n_embd=32):
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd), wpe=nn.Embedding(block_size, n_embd),
            h=nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(n_embd, bias=False)))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        for m in self.modules():                # GPT-2's init: N(0, 0.02) weights, zero biases
            if isinstance(m, (nn.Linear, nn.Embedding)):
                torch.nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        for pn, p in self.named_parameters():   # and scaled residual projections
            if pn.endswith("mlp.2.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    def get_num_params(self, non_embedding=True):
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1),
                                   ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])
            loss = None
        return logits, loss

    def crop_block_size(self, new_size):
        self.block_size = new_size
        self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:new_size])

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay = [p for n, p in param_dict.items() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": weight_decay},
                  {"params": nodecay, "weight_decay": 0.0}]
        fused_available = "fused" in inspect.signature(torch.optim.AdamW).parameters
        extra = dict(fused=True) if fused_available and device_type == "cuda" else dict()
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, **extra)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.block_size else idx[:, -self.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
        return idx


model = GPT()
assert model.get_num_params() < model.get_num_params(non_embedding=False)
scaler = torch.cuda.amp.GradScaler(enabled=(dtype == "float16"))
optimizer = model.configure_optimizers(0.1, 3e-3, (0.9, 0.95))
max_iters, warmup_iters, min_lr, learning_rate = 100, 10, 3e-4, 3e-3


def get_lr(it):
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    ratio = (it - warmup_iters) / (max_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)


@torch.no_grad()
def estimate_loss(eval_iters=4):
    out = {}
    model.eval()
    for split in ["train", "val"]:
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            X, Y = get_batch(split)
            with ctx:
                _, loss = model(X, Y)
            losses[k] = loss.item()
        out[split] = losses.mean()
    model.train()
    return out


X, Y = get_batch("train")
for it in range(max_iters):
    lr = get_lr(it)
    for param_group in optimizer.param_groups:
        param_group["lr"] = lr
    with ctx:
        _, loss = model(X, Y)
    X, Y = get_batch("train")
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)

losses = estimate_loss()
model.crop_block_size(8)
start = torch.tensor([[0, 5]], dtype=torch.long)
sample = model.generate(start, 20, temperature=0.5, top_k=3)
# the language is deterministic: each token is the previous one plus 5 (mod 12), mostly
follows = (sample[0, 1:] - sample[0, :-1]) % vocab_size == 5
print(f"METRIC val_loss {losses['val'].item():.4f}")
assert follows.float().mean().item() > 0.7
