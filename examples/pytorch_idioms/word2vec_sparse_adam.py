"""Skip-gram word2vec with negative sampling on sparse embeddings.

Idioms: two ``nn.Embedding(vocab, dim, sparse=True)`` tables (centre ``u``, context ``v``),
``init.uniform_(self.u.weight.data, -r, r)`` / ``init.constant_(self.v.weight.data, 0)``,
``torch.bmm(neg_emb, emb_u.unsqueeze(2)).squeeze()``, ``torch.clamp(score, max=10,
min=-10)``, ``-F.logsigmoid(...)``, ``optim.SparseAdam(list(model.parameters()), lr=...)``,
``lr_scheduler.CosineAnnealingLR(optimizer, len(loader))``, negative words drawn with
``torch.multinomial(noise_dist, k, replacement=True)`` from unigram counts ** 0.75, and
``model.u.weight.cpu().data.numpy()`` to read the vectors.

The corpus is generated: 6 topics of 8 words, each sentence drawn from one topic, so words of
a topic share contexts. Metric: the fraction of words whose nearest neighbour (cosine) is in
their own topic.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import init
from torch.utils.data import DataLoader, TensorDataset


class SkipGram(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.u = nn.Embedding(vocab_size, dim, sparse=True)
        self.v = nn.Embedding(vocab_size, dim, sparse=True)
        r = 0.5 / dim
        init.uniform_(self.u.weight.data, -r, r)
        init.constant_(self.v.weight.data, 0)

    def forward(self, centre, context, negatives):
        emb_u = self.u(centre)                                  # (B, D)
        score = torch.sum(torch.mul(emb_u, self.v(context)), dim=1)
        score = -F.logsigmoid(torch.clamp(score, max=10, min=-10))
        neg = torch.bmm(self.v(negatives), emb_u.unsqueeze(2)).squeeze()    # (B, K)
        neg = -torch.sum(F.logsigmoid(-torch.clamp(neg, max=10, min=-10)), dim=1)
        return torch.mean(score + neg)


torch.manual_seed(0)
rng = np.random.default_rng(0)
topics, per_topic, window = 6, 8, 2
vocab = topics * per_topic
sentences = [rng.integers(0, per_topic, size=12) + per_topic * rng.integers(0, topics)
             for _ in range(400)]
pairs = [(s[i], s[j]) for s in sentences for i in range(len(s))
         for j in range(max(0, i - window), min(len(s), i + window + 1)) if i != j]
pairs = torch.tensor(pairs)
counts = torch.bincount(pairs[:, 0], minlength=vocab).float()
noise_dist = counts ** 0.75 / (counts ** 0.75).sum()

loader = DataLoader(TensorDataset(pairs[:, 0], pairs[:, 1]), batch_size=256, shuffle=True)
model = SkipGram(vocab, 16)
optimizer = torch.optim.SparseAdam(list(model.parameters()), lr=0.02)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, len(loader))
for epoch in range(3):
    for centre, context in loader:
        negatives = torch.multinomial(noise_dist, centre.size(0) * 5, replacement=True)
        optimizer.zero_grad()
        loss = model(centre, context, negatives.view(-1, 5))
        loss.backward()
        optimizer.step()
        scheduler.step()
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, len(loader))

vectors = model.u.weight.cpu().data.numpy()
unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
sim = unit @ unit.T
np.fill_diagonal(sim, -np.inf)
nearest = sim.argmax(axis=1)
same_topic = float(np.mean(nearest // per_topic == np.arange(vocab) // per_topic))
print(f"final loss {loss.item():.3f}")
print("METRIC nn_same_topic", round(same_topic, 4))
