"""A causal ``nn.TransformerEncoder`` language model with the square subsequent mask
(the PyTorch word-language-model / tutorial layout).

Idioms: ``nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)``,
``nn.TransformerEncoder(layer, num_layers)``, the mask
``torch.triu(torch.full((sz, sz), float("-inf")), diagonal=1)`` and
``nn.Transformer.generate_square_subsequent_mask(sz)``, sinusoidal positions in a buffer
(``torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))``, ``pe[:, 0::2] = torch.sin(...)``),
``math.sqrt(d_model)`` scaling, ``nn.init.uniform_(..., -0.1, 0.1)``, ``model.train()/eval()``.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=64):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, x):
        return x + self.pe[:, :x.size(1)]


class TransformerLM(nn.Module):
    def __init__(self, ntoken, d_model=32, nhead=4, d_hid=64, nlayers=2, dropout=0.0):
        super().__init__()
        self.pos_encoder = PositionalEncoding(d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, d_hid, dropout, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, nlayers)
        self.embedding = nn.Embedding(ntoken, d_model)
        self.d_model = d_model
        self.linear = nn.Linear(d_model, ntoken)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.linear.bias)
        nn.init.uniform_(self.linear.weight, -0.1, 0.1)

    def forward(self, src, src_mask):
        src = self.pos_encoder(self.embedding(src) * math.sqrt(self.d_model))
        return self.linear(self.transformer_encoder(src, src_mask))


def square_subsequent_mask(sz):
    return torch.triu(torch.full((sz, sz), float("-inf")), diagonal=1)


V, T = 6, 10
mask = square_subsequent_mask(T)
assert torch.equal(mask, nn.Transformer.generate_square_subsequent_mask(T))

torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
model = TransformerLM(V)
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)


def get_batch(n):
    # each sequence repeats its first three tokens: positions >= 3 are predictable
    start = torch.randint(0, V, (n, 3), generator=g)
    seq = start.repeat(1, (T + 1 + 2) // 3)[:, :T + 1]
    return seq[:, :-1], seq[:, 1:]


model.train()
for step in range(200):
    x, y = get_batch(32)
    loss = F.cross_entropy(model(x, mask).reshape(-1, V), y.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

model.eval()
with torch.no_grad():
    x, y = get_batch(500)
    pred = model(x, mask).argmax(-1)
    acc = (pred[:, 2:] == y[:, 2:]).float().mean().item()
print(f"METRIC accuracy_after_period {acc:.4f}")
