"""Self-attention written out by hand (the "let's build GPT" head), with a lower-triangular mask
kept as a buffer.

Idioms: ``self.register_buffer("tril", torch.tril(torch.ones(T, T)))``,
``wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5``,
``wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))``, ``F.softmax(wei, dim=-1)``,
``torch.cat([h(x) for h in self.heads], dim=-1)``, ``nn.ModuleList``, ``nn.Sequential`` of blocks,
``torch.triu(..., diagonal=1).bool()`` as a second way to build the mask, ``torch.multinomial``
generation loop with ``idx[:, -block_size:]`` and ``torch.cat((idx, idx_next), dim=1)``.
"""
import torch
import torch.nn as nn
from torch.nn import functional as F

block_size, n_embd, n_head, vocab = 8, 24, 3, 6


class Head(nn.Module):
    def __init__(self, head_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))

    def forward(self, x):
        B, T, C = x.shape
        k, q = self.key(x), self.query(x)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = F.softmax(wei, dim=-1)
        return wei @ self.value(x)


class MultiHeadAttention(nn.Module):
    def __init__(self, num_heads, head_size):
        super().__init__()
        self.heads = nn.ModuleList([Head(head_size) for _ in range(num_heads)])
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.sa = MultiHeadAttention(n_head, n_embd // n_head)
        self.ffwd = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(),
                                  nn.Linear(4 * n_embd, n_embd))
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        return x + self.ffwd(self.ln2(x))


class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(Block(), Block())
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.token_embedding_table(idx) + self.position_embedding_table(torch.arange(T))
        logits = self.lm_head(self.ln_f(self.blocks(x)))
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        return logits, F.cross_entropy(logits.view(B * T, C), targets.view(B * T))

    def generate(self, idx, max_new_tokens, generator):
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -block_size:])
            probs = F.softmax(logits[:, -1, :], dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


# The text: a repeating pattern whose next token depends on the token two places back.
pattern = [0, 1, 2, 0, 3, 4, 0, 5]
data = torch.tensor(pattern * 60)
mask_check = torch.triu(torch.ones(block_size, block_size), diagonal=1).bool()
assert bool((mask_check == (torch.tril(torch.ones(block_size, block_size)) == 0)).all())

torch.manual_seed(1337)
g = torch.Generator().manual_seed(1337)
model = LanguageModel()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
for it in range(200):
    ix = torch.randint(len(data) - block_size, (16,), generator=g)
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + block_size + 1] for i in ix])
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()

model.eval()
with torch.no_grad():
    out = model.generate(torch.zeros((1, 1), dtype=torch.long), 40, g)[0].tolist()
# Fraction of generated tokens that follow the pattern from the token before.
follows = {a: b for a, b in zip(pattern, pattern[1:] + pattern[:1]) if a != 0}
hits = [out[i + 1] == follows[out[i]] for i in range(len(out) - 1) if out[i] in follows]
print("generated:", out)
print(f"METRIC pattern_accuracy {sum(hits) / len(hits):.4f}")
