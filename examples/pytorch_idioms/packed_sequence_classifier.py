"""Classify variable-length sequences with a packed LSTM.

Idioms: ``from torch.nn.utils.rnn import pad_sequence, pack_padded_sequence``,
``pad_sequence(seqs, batch_first=True, padding_value=0)``, ``nn.Embedding(..., padding_idx=0)``,
``pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)``,
``_, (h_n, c_n) = self.lstm(packed)``, ``h_n[-1]``, ``torch.tensor([len(s) for s in seqs])``,
``lengths.cpu()``, ``nn.CrossEntropyLoss``.
"""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence


class Classifier(nn.Module):
    def __init__(self, vocab, dim=16, hidden=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 2)

    def forward(self, padded, lengths):
        packed = pack_padded_sequence(self.emb(padded), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, (h_n, c_n) = self.lstm(packed)
        return self.out(h_n[-1])


def make(n, g):
    """Label 1 if token 1 occurs more often than token 2 (tokens 1..4, lengths 3..12)."""
    seqs, labels = [], []
    for _ in range(n):
        length = int(torch.randint(3, 13, (1,), generator=g))
        s = torch.randint(1, 5, (length,), generator=g)
        while (s == 1).sum() == (s == 2).sum():
            s = torch.randint(1, 5, (length,), generator=g)
        seqs.append(s)
        labels.append(int((s == 1).sum() > (s == 2).sum()))
    lengths = torch.tensor([len(s) for s in seqs])
    return pad_sequence(seqs, batch_first=True, padding_value=0), lengths, torch.tensor(labels)


torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
Xtr, Ltr, ytr = make(800, g)
Xte, Lte, yte = make(300, g)
model = Classifier(5)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(12):
    perm = torch.randperm(800)
    for i in range(0, 800, 50):
        idx = perm[i:i + 50]
        loss = loss_fn(model(Xtr[idx], Ltr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

with torch.no_grad():
    acc = (model(Xte, Lte).argmax(1) == yte).float().mean().item()
print(f"METRIC accuracy {acc:.4f}")
