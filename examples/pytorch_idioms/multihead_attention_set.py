"""Classify sets of tokens with ``nn.MultiheadAttention``: is the query token in the set?

Idioms: ``nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)``, the call
``attn(query, key, value, key_padding_mask=pad)`` returning ``(output, weights)``,
``need_weights=False``, a learned query ``nn.Parameter(torch.randn(1, 1, d))`` expanded with
``.expand(B, -1, -1)``, ``torch.nn.functional.binary_cross_entropy_with_logits``,
``squeeze(-1)``, padding masks built by comparison (``lengths[:, None] <= torch.arange(L)``).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

V, L, d = 12, 6, 32


class SetContains(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, d)
        self.attn = nn.MultiheadAttention(d, num_heads=4, batch_first=True)
        self.probe = nn.Parameter(torch.randn(1, 1, d) * 0.1)
        self.head = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Linear(d, 1))

    def forward(self, items, query, pad):
        keys = self.embed(items)
        q = self.embed(query).unsqueeze(1) + self.probe.expand(items.shape[0], -1, -1)
        out, weights = self.attn(q, keys, keys, key_padding_mask=pad)
        assert weights.shape == (items.shape[0], 1, items.shape[1])
        return self.head(torch.cat([out.squeeze(1), q.squeeze(1)], dim=-1)).squeeze(-1)


def batch(n, g):
    items = torch.randint(0, V, (n, L), generator=g)
    lengths = torch.randint(2, L + 1, (n,), generator=g)
    pad = lengths[:, None] <= torch.arange(L)
    query = torch.randint(0, V, (n,), generator=g)
    present = ((items == query[:, None]) & ~pad).any(dim=1).float()
    return items, query, pad, present


torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
model = SetContains()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(300):
    items, query, pad, present = batch(64, g)
    loss = F.binary_cross_entropy_with_logits(model(items, query, pad), present)
    opt.zero_grad()
    loss.backward()
    opt.step()

model.eval()
with torch.no_grad():
    items, query, pad, present = batch(1000, g)
    acc = ((model(items, query, pad) > 0).float() == present).float().mean().item()
    out, _ = model.attn(torch.randn(2, 1, d), torch.randn(2, L, d), torch.randn(2, L, d),
                        need_weights=False)
print("base rate", present.mean().item())
print(f"METRIC accuracy {acc:.4f}")
