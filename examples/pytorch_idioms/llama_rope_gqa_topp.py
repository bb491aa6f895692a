"""A LLaMA-style decoder: RMSNorm, rotary embeddings, grouped-query attention, SwiGLU, top-p
sampling.

Idioms: Meta's ``precompute_freqs_cis`` (``torch.outer``, ``torch.polar(torch.ones_like(f),
f)``) and ``apply_rotary_emb`` through ``torch.view_as_complex(x.float().reshape(*x.shape[:-1],
-1, 2))`` / ``torch.view_as_real(...).flatten(3)`` / ``type_as``, used at generation under
``@torch.inference_mode()``; Hugging Face's real-arithmetic form (``rotate_half`` with
``torch.cat((-x2, x1), dim=-1)``, ``cos`` / ``sin`` caches from ``emb = torch.cat((freqs,
freqs), dim=-1)``) for training, checked equal to the complex form up to the pairing of
features; ``RMSNorm`` with ``x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)`` and
``self._norm(x.float()).type_as(x)``; ``repeat_kv`` via ``x[:, :, :, None, :].expand(...)
.reshape(...)``; ``F.silu(w1(x)) * w3(x)``; the causal mask
``torch.triu(torch.full((T, T), float("-inf")), diagonal=1)``; ``sample_top_p`` with
``torch.sort(descending=True)``, ``torch.cumsum``, ``probs_sort[mask] = 0.0``,
``probs_sort.div_(...)``, ``torch.multinomial`` and ``torch.gather(probs_idx, -1, next_token)``.

NOTE (chainrule): the complex form trains too (complex autograd as PyTorch's,
tests/test_complex_autograd.py); training uses the real form here to show both idioms.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
VOCAB, DIM, N_HEADS, N_KV, T = 10, 32, 4, 2, 12
HEAD = DIM // N_HEADS


def precompute_freqs_cis(dim, end, theta=10000.0):
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: (dim // 2)].float() / dim))
    t = torch.arange(end, device=freqs.device, dtype=torch.float32)
    freqs = torch.outer(t, freqs)
    return torch.polar(torch.ones_like(freqs), freqs)


def apply_rotary_emb(xq, xk, freqs_cis):
    xq_ = torch.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
    xk_ = torch.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2))
    shape = [d if i == 1 or i == xq_.ndim - 1 else 1 for i, d in enumerate(xq_.shape)]
    freqs_cis = freqs_cis.view(*shape)
    xq_out = torch.view_as_real(xq_ * freqs_cis).flatten(3)
    xk_out = torch.view_as_real(xk_ * freqs_cis).flatten(3)
    return xq_out.type_as(xq), xk_out.type_as(xk)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(dim, end, theta=10000.0):
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2).float() / dim))
    freqs = torch.outer(torch.arange(end).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def interleaved_to_halves(x):
    """(x0, x1, x2, x3, ...) -> (x0, x2, ..., x1, x3, ...): Meta's pairs as HF's halves."""
    return torch.cat([x[..., 0::2], x[..., 1::2]], dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def _norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x):
        return self._norm(x.float()).type_as(x) * self.weight


def repeat_kv(x, n_rep):
    bs, slen, n_kv_heads, head_dim = x.shape
    if n_rep == 1:
        return x
    return (x[:, :, :, None, :].expand(bs, slen, n_kv_heads, n_rep, head_dim)
            .reshape(bs, slen, n_kv_heads * n_rep, head_dim))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.wq = nn.Linear(DIM, N_HEADS * HEAD, bias=False)
        self.wk = nn.Linear(DIM, N_KV * HEAD, bias=False)
        self.wv = nn.Linear(DIM, N_KV * HEAD, bias=False)
        self.wo = nn.Linear(N_HEADS * HEAD, DIM, bias=False)

    def forward(self, x, rope, mask, complex_rope):
        B, L, _ = x.shape
        xq = self.wq(x).view(B, L, N_HEADS, HEAD)
        xk = self.wk(x).view(B, L, N_KV, HEAD)
        xv = self.wv(x).view(B, L, N_KV, HEAD)
        if complex_rope:
            xq, xk = apply_rotary_emb(xq, xk, rope[:L])
            xq, xk = interleaved_to_halves(xq), interleaved_to_halves(xk)
        else:
            cos, sin = rope[0][:L, None, :], rope[1][:L, None, :]
            xq, xk = interleaved_to_halves(xq), interleaved_to_halves(xk)
            xq = xq * cos + rotate_half(xq) * sin
            xk = xk * cos + rotate_half(xk) * sin
        keys, values = repeat_kv(xk, N_HEADS // N_KV), repeat_kv(xv, N_HEADS // N_KV)
        q, k, v = xq.transpose(1, 2), keys.transpose(1, 2), values.transpose(1, 2)
        scores = torch.matmul(q, k.transpose(2, 3)) / HEAD ** 0.5 + mask
        scores = F.softmax(scores.float(), dim=-1).type_as(q)
        out = torch.matmul(scores, v).transpose(1, 2).contiguous().view(B, L, -1)
        return self.wo(out)


class FeedForward(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.w1 = nn.Linear(DIM, hidden, bias=False)
        self.w2 = nn.Linear(hidden, DIM, bias=False)
        self.w3 = nn.Linear(DIM, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Transformer(nn.Module):
    def __init__(self, n_layers=2):
        super().__init__()
        self.tok_embeddings = nn.Embedding(VOCAB, DIM)
        self.layers = nn.ModuleList(nn.ModuleDict(dict(
            attention_norm=RMSNorm(DIM), attention=Attention(), ffn_norm=RMSNorm(DIM),
            feed_forward=FeedForward())) for _ in range(n_layers))
        self.norm = RMSNorm(DIM)
        self.output = nn.Linear(DIM, VOCAB, bias=False)
        self.freqs_cis = precompute_freqs_cis(HEAD, 2 * T)
        self.cos_sin = rope_cos_sin(HEAD, 2 * T)

    def forward(self, tokens, complex_rope=False):
        L = tokens.shape[1]
        h = self.tok_embeddings(tokens)
        mask = torch.triu(torch.full((L, L), float("-inf")), diagonal=1).type_as(h)
        rope = self.freqs_cis if complex_rope else self.cos_sin
        for layer in self.layers:
            h = h + layer["attention"](layer["attention_norm"](h), rope, mask, complex_rope)
            h = h + layer["feed_forward"](layer["ffn_norm"](h))
        return self.output(self.norm(h)).float()


def sample_top_p(probs, p):
    probs_sort, probs_idx = torch.sort(probs, dim=-1, descending=True)
    probs_sum = torch.cumsum(probs_sort, dim=-1)
    mask = probs_sum - probs_sort > p
    probs_sort[mask] = 0.0
    probs_sort.div_(probs_sort.sum(dim=-1, keepdim=True))
    next_token = torch.multinomial(probs_sort, num_samples=1, generator=g)
    return torch.gather(probs_idx, -1, next_token)


@torch.inference_mode()
def generate(model, prompt, n_new, top_p=0.5, temperature=0.6):
    tokens = prompt
    for _ in range(n_new):
        logits = model(tokens[:, -T:], complex_rope=True)[:, -1]
        probs = torch.softmax(logits / temperature, dim=-1)
        tokens = torch.cat([tokens, sample_top_p(probs, top_p)], dim=1)
    return tokens


def batch(n):
    """Sequences that count up by 3 (mod VOCAB) from a random start."""
    start = torch.randint(0, VOCAB, (n, 1), generator=g)
    seq = (start + 3 * torch.arange(T + 1)) % VOCAB
    return seq[:, :-1], seq[:, 1:]


model = Transformer()
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
for step in range(60):
    x, y = batch(16)
    loss = F.cross_entropy(model(x).view(-1, VOCAB), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()

x, _ = batch(4)
with torch.inference_mode():
    same_rope = (model(x, complex_rope=True) - model(x)).abs().max().item()
assert same_rope < 1e-4, same_rope
out = generate(model, torch.tensor([[1, 4], [7, 0]]), 8)
steps = (out[:, 1:] - out[:, :-1]) % VOCAB
print("loss", loss.item(), "generated", out.tolist())
print(f"METRIC follows_rule {(steps == 3).float().mean().item():.4f}")
