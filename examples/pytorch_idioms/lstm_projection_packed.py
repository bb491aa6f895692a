"""A speech-style sequence classifier with a projected LSTM (LSTMP), as acoustic models and
ESPnet-like encoders configure it.

Idioms: ``nn.LSTM(..., num_layers=2, bidirectional=True, proj_size=P, dropout=0.1,
batch_first=True)`` whose outputs are ``2 * P`` wide and whose ``h_0`` is ``(2 * layers, B, P)``
while ``c_0`` is ``(2 * layers, B, hidden)``; ``pack_padded_sequence(lengths.cpu(),
enforce_sorted=False)`` / ``pad_packed_sequence(batch_first=True, total_length=T)``; masked mean
pooling over valid frames with ``(torch.arange(T)[None, :] < lengths[:, None]).unsqueeze(-1)``;
``h_n.view(num_layers, 2, B, P)[-1]`` to take the top layer's two directions.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
T, F_IN, K = 12, 4, 3


def make_batch(n):
    """Class k: a raised tone at frequency k + 1 in feature k, random length, noise elsewhere."""
    y = torch.randint(0, K, (n,), generator=g)
    lengths = torch.randint(5, T + 1, (n,), generator=g)
    t = torch.arange(T).float()
    x = 0.3 * torch.randn(n, T, F_IN, generator=g)
    tone = torch.sin(t[None, :] * (y[:, None].float() + 1.0) * 0.6)
    x[torch.arange(n), :, y] += tone + 0.5
    x = x * (t[None, :] < lengths[:, None]).unsqueeze(-1)
    return x, lengths, y


class Classifier(nn.Module):
    def __init__(self, hidden=16, proj=6, layers=2):
        super().__init__()
        self.layers, self.proj = layers, proj
        self.lstm = nn.LSTM(F_IN, hidden, num_layers=layers, bidirectional=True,
                            proj_size=proj, dropout=0.1, batch_first=True)
        self.head = nn.Linear(4 * proj, K)

    def forward(self, x, lengths):
        B = x.size(0)
        h0 = torch.zeros(2 * self.layers, B, self.proj)
        c0 = torch.zeros(2 * self.layers, B, self.lstm.hidden_size)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h_n, c_n) = self.lstm(packed, (h0, c0))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        mask = (torch.arange(x.size(1))[None, :] < lengths[:, None]).unsqueeze(-1)
        pooled = (out * mask).sum(1) / lengths[:, None]
        last = h_n.view(self.layers, 2, B, self.proj)[-1]
        assert tuple(c_n.shape) == (2 * self.layers, B, self.lstm.hidden_size)
        return self.head(torch.cat([pooled, last[0], last[1]], dim=1))


model = Classifier()
assert tuple(model.lstm.weight_hr_l0.shape) == (6, 16)
assert tuple(model.lstm.weight_ih_l1.shape) == (64, 12)
opt = torch.optim.Adam(model.parameters(), lr=0.02)
for step in range(30):
    x, lengths, y = make_batch(32)
    loss = F.cross_entropy(model(x, lengths), y)
    opt.zero_grad()
    loss.backward()
    opt.step()

model.eval()
x, lengths, y = make_batch(300)
with torch.no_grad():
    acc = (model(x, lengths).argmax(1) == y).float().mean().item()
print(f"METRIC test_acc {acc:.4f}")
