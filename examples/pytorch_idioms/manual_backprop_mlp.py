"""Backpropagation written out by hand for a small MLP with batch norm, checked against autograd
(the "backprop ninja" exercise).

Idioms: ``torch.Generator().manual_seed``, ``torch.randn(..., generator=g)``, an embedding table
indexed by a batch (``C[Xb]``), ``.view(emb.shape[0], -1)``, ``t.retain_grad()`` on every
intermediate, ``logprobs[range(n), Yb]``, ``keepdim=True`` reductions, ``torch.tanh``,
``F.cross_entropy``, ``torch.allclose``, ``(dt - t.grad).abs().max().item()``.
"""
import torch
import torch.nn.functional as F

g = torch.Generator().manual_seed(42)
vocab, block, n_emb, n_hidden, n = 20, 3, 6, 32, 64
Xb = torch.randint(0, vocab, (n, block), generator=g)
Yb = torch.randint(0, vocab, (n,), generator=g)

C = torch.randn((vocab, n_emb), generator=g)
W1 = torch.randn((n_emb * block, n_hidden), generator=g) * (5 / 3) / (n_emb * block) ** 0.5
b1 = torch.randn(n_hidden, generator=g) * 0.1
W2 = torch.randn((n_hidden, vocab), generator=g) * 0.1
b2 = torch.randn(vocab, generator=g) * 0.1
bngain = torch.randn((1, n_hidden), generator=g) * 0.1 + 1.0
bnbias = torch.randn((1, n_hidden), generator=g) * 0.1
parameters = [C, W1, b1, W2, b2, bngain, bnbias]
for p in parameters:
    p.requires_grad = True

emb = C[Xb]
embcat = emb.view(emb.shape[0], -1)
hprebn = embcat @ W1 + b1
bnmeani = hprebn.sum(0, keepdim=True) / n
bndiff = hprebn - bnmeani
bnvar = (bndiff**2).sum(0, keepdim=True) / (n - 1)
bnvar_inv = (bnvar + 1e-5) ** -0.5
bnraw = bndiff * bnvar_inv
hpreact = bngain * bnraw + bnbias
h = torch.tanh(hpreact)
logits = h @ W2 + b2
logit_maxes = logits.max(1, keepdim=True).values
norm_logits = logits - logit_maxes
counts = norm_logits.exp()
counts_sum_inv = counts.sum(1, keepdim=True) ** -1
probs = counts * counts_sum_inv
logprobs = probs.log()
loss = -logprobs[range(n), Yb].mean()

for t in [logprobs, probs, counts, counts_sum_inv, norm_logits, logit_maxes, logits, h,
          hpreact, bnraw, bnvar_inv, bnvar, bndiff, hprebn, bnmeani, embcat, emb]:
    t.retain_grad()
loss.backward()

# the backward pass, one line per forward line, in reverse
dlogits = F.softmax(logits, 1)
dlogits[range(n), Yb] -= 1
dlogits /= n
dh = dlogits @ W2.T
dW2 = h.T @ dlogits
db2 = dlogits.sum(0)
dhpreact = (1.0 - h**2) * dh
dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
dbnbias = dhpreact.sum(0, keepdim=True)
dbnraw = bngain * dhpreact
dbndiff = bnvar_inv * dbnraw
dbnvar_inv = (bndiff * dbnraw).sum(0, keepdim=True)
dbnvar = -0.5 * (bnvar + 1e-5) ** -1.5 * dbnvar_inv
dbndiff += (2 * bndiff) * (torch.ones_like(bndiff) / (n - 1) * dbnvar)
dhprebn = dbndiff.clone()
dbnmeani = -dbndiff.sum(0, keepdim=True)
dhprebn += torch.ones_like(hprebn) * dbnmeani / n
dembcat = dhprebn @ W1.T
dW1 = embcat.T @ dhprebn
db1 = dhprebn.sum(0)
demb = dembcat.view(emb.shape)
dC = torch.zeros_like(C)
for k in range(Xb.shape[0]):
    for j in range(Xb.shape[1]):
        dC[Xb[k, j]] += demb[k, j]

worst = 0.0
for name, dt, t in [("logits", dlogits, logits), ("h", dh, h), ("W2", dW2, W2), ("b2", db2, b2),
                    ("hpreact", dhpreact, hpreact), ("bngain", dbngain, bngain),
                    ("bnbias", dbnbias, bnbias), ("bndiff", dbndiff, bndiff),
                    ("hprebn", dhprebn, hprebn), ("W1", dW1, W1), ("b1", db1, b1),
                    ("emb", demb, emb), ("C", dC, C)]:
    approx = torch.allclose(dt, t.grad, rtol=1e-4, atol=1e-6)
    maxdiff = (dt - t.grad).abs().max().item()
    worst = max(worst, maxdiff)
    print(f"{name:8s} | approximate: {str(approx):5s} | maxdiff: {maxdiff:.2e}")
print(f"METRIC max_grad_diff {worst:.3e}")
