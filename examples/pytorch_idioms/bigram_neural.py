"""The neural version of the bigram model: one-hot inputs, one weight matrix, softmax by hand.

Idioms: ``F.one_hot(xs, num_classes=V).float()``, ``torch.randn((V, V), generator=g,
requires_grad=True)``, ``logits.exp()`` / ``counts.sum(1, keepdims=True)``,
``probs[torch.arange(num), ys]``, ``W.grad = None``, ``W.data += -lr * W.grad``,
``(W**2).mean()`` regularisation.
"""
import random

import torch
import torch.nn.functional as F

rng = random.Random(1234)
syllables = ["ka", "ri", "mo", "len", "sa", "tu", "vi", "an", "el", "or", "bu", "zy"]
words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(500)]
chars = sorted(set("".join(words)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
V = len(stoi)

xs, ys = [], []
for w in words:
    chs = ["."] + list(w) + ["."]
    for ch1, ch2 in zip(chs, chs[1:]):
        xs.append(stoi[ch1])
        ys.append(stoi[ch2])
xs = torch.tensor(xs)
ys = torch.tensor(ys)
num = xs.nelement()

g = torch.Generator().manual_seed(2147483647)
W = torch.randn((V, V), generator=g, requires_grad=True)
xenc = F.one_hot(xs, num_classes=V).float()

for k in range(120):
    logits = xenc @ W
    counts = logits.exp()
    probs = counts / counts.sum(1, keepdims=True)
    loss = -probs[torch.arange(num), ys].log().mean() + 0.001 * (W**2).mean()
    W.grad = None
    loss.backward()
    W.data += -50 * W.grad

with torch.no_grad():
    nll = F.cross_entropy(xenc @ W, ys).item()
print(f"METRIC nll {nll:.4f}")
