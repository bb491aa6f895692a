"""A makemore-style MLP over character contexts: embedding table, minibatches by randint.

Idioms: building ``X``/``Y`` from sliding contexts, ``torch.randint(0, n, (32,), generator=g)``,
``C[X[ix]]``, ``emb.view(-1, block * n_emb)``, ``F.cross_entropy``, ``p.grad = None`` for every
parameter, ``p.data += -lr * p.grad``, learning-rate decay by step, ``@torch.no_grad()`` split loss.
"""
import random

import torch
import torch.nn.functional as F

rng = random.Random(7)
syllables = ["ka", "ri", "mo", "len", "sa", "tu", "vi", "an", "el", "or"]
words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(600)]
chars = sorted(set("".join(words)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
vocab = len(stoi)
block = 3


def build_dataset(words):
    X, Y = [], []
    for w in words:
        context = [0] * block
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X), torch.tensor(Y)


n1 = int(0.9 * len(words))
Xtr, Ytr = build_dataset(words[:n1])
Xdev, Ydev = build_dataset(words[n1:])

g = torch.Generator().manual_seed(2147483647)
C = torch.randn((vocab, 8), generator=g)
W1 = torch.randn((block * 8, 64), generator=g) * 0.2
b1 = torch.randn(64, generator=g) * 0.01
W2 = torch.randn((64, vocab), generator=g) * 0.01
b2 = torch.zeros(vocab)
parameters = [C, W1, b1, W2, b2]
for p in parameters:
    p.requires_grad = True
print("parameters:", sum(p.nelement() for p in parameters))

for i in range(1500):
    ix = torch.randint(0, Xtr.shape[0], (32,), generator=g)
    emb = C[Xtr[ix]]
    h = torch.tanh(emb.view(-1, block * 8) @ W1 + b1)
    loss = F.cross_entropy(h @ W2 + b2, Ytr[ix])
    for p in parameters:
        p.grad = None
    loss.backward()
    lr = 0.2 if i < 1000 else 0.05
    for p in parameters:
        p.data += -lr * p.grad


@torch.no_grad()
def split_loss(X, Y):
    h = torch.tanh(C[X].view(-1, block * 8) @ W1 + b1)
    return F.cross_entropy(h @ W2 + b2, Y).item()


print("train", split_loss(Xtr, Ytr))
print(f"METRIC dev_loss {split_loss(Xdev, Ydev):.4f}")
