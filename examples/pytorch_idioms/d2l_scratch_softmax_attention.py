"""Dive into Deep Learning, "from scratch" chapters: linear regression, softmax regression and
attention scoring functions written with raw tensors.

Idioms: ``synthetic_data`` with ``torch.normal(0, 1, (n, len(w)))`` and ``y.reshape((-1, 1))``,
a ``data_iter`` generator that ``random.shuffle``-s a Python list of indices and indexes with
``torch.tensor(indices[i:min(i + batch_size, n)])``, parameters from ``torch.normal(0, 0.01,
size=..., requires_grad=True)``, ``sgd(params, lr, batch_size)`` doing ``param -= lr *
param.grad / batch_size; param.grad.zero_()`` under ``torch.no_grad()``; softmax as
``X_exp / X_exp.sum(1, keepdim=True)``, cross-entropy as ``-torch.log(y_hat[range(len(y_hat)),
y])``, accuracy with ``y_hat.type(y.dtype) == y``; ``masked_softmax`` via
``torch.repeat_interleave(valid_lens, shape[1])`` and a ``sequence_mask`` built from
``torch.arange(maxlen, dtype=torch.float32)[None, :] < valid_len[:, None]``, additive attention
(``queries.unsqueeze(2) + keys.unsqueeze(1)``) and scaled dot-product attention with
``torch.bmm``.
"""

import math
import random

import torch
from torch import nn

torch.manual_seed(0)
random.seed(0)


def synthetic_data(w, b, num_examples):
    X = torch.normal(0, 1, (num_examples, len(w)))
    y = torch.matmul(X, w) + b
    y += torch.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))


def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]


def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


true_w, true_b = torch.tensor([2, -3.4]), 4.2
features, labels = synthetic_data(true_w, true_b, 1000)
w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
b = torch.zeros(1, requires_grad=True)
for epoch in range(3):
    for X, y in data_iter(10, features, labels):
        loss = (torch.matmul(X, w) + b - y) ** 2 / 2
        loss.sum().backward()
        sgd([w, b], 0.03, 10)
w_err = (true_w - w.reshape(true_w.shape)).abs().max().item()

# softmax regression on three Gaussian blobs
num_inputs, num_outputs = 4, 3
centers = torch.tensor([[2.0, 0, 0, 1], [0, 2.0, 0, -1], [0, 0, 2.0, 0]])
yc = torch.arange(3).repeat(200)
Xc = centers[yc] + torch.normal(0, 0.8, (600, 4))
W = torch.normal(0, 0.01, size=(num_inputs, num_outputs), requires_grad=True)
bc = torch.zeros(num_outputs, requires_grad=True)


def softmax(X):
    X_exp = torch.exp(X)
    partition = X_exp.sum(1, keepdim=True)
    return X_exp / partition


def net(X):
    return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + bc)


def cross_entropy(y_hat, y):
    return -torch.log(y_hat[range(len(y_hat)), y])


def accuracy(y_hat, y):
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


for epoch in range(5):
    for X, y in data_iter(32, Xc, yc):
        cross_entropy(net(X), y).mean().backward()
        sgd([W, bc], 0.1, 1)
acc = accuracy(net(Xc), yc) / len(yc)


def sequence_mask(X, valid_len, value=0):
    maxlen = X.size(1)
    mask = torch.arange((maxlen), dtype=torch.float32)[None, :] < valid_len[:, None]
    X[~mask] = value
    return X


def masked_softmax(X, valid_lens):
    if valid_lens is None:
        return nn.functional.softmax(X, dim=-1)
    shape = X.shape
    if valid_lens.dim() == 1:
        valid_lens = torch.repeat_interleave(valid_lens, shape[1])
    else:
        valid_lens = valid_lens.reshape(-1)
    X = sequence_mask(X.reshape(-1, shape[-1]), valid_lens, value=-1e6)
    return nn.functional.softmax(X.reshape(shape), dim=-1)


class AdditiveAttention(nn.Module):
    def __init__(self, num_hiddens, dropout):
        super().__init__()
        self.W_k = nn.LazyLinear(num_hiddens, bias=False)
        self.W_q = nn.LazyLinear(num_hiddens, bias=False)
        self.w_v = nn.LazyLinear(1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens):
        queries, keys = self.W_q(queries), self.W_k(keys)
        features = torch.tanh(queries.unsqueeze(2) + keys.unsqueeze(1))
        scores = self.w_v(features).squeeze(-1)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


class DotProductAttention(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        d = queries.shape[-1]
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


queries = torch.normal(0, 1, (2, 1, 2))
keys = torch.normal(0, 1, (2, 10, 2))
values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
valid_lens = torch.tensor([2, 6])
add = AdditiveAttention(8, 0.1).eval()
out_add = add(queries, keys, values, valid_lens)
dot = DotProductAttention(0.5).eval()
out_dot = dot(queries, keys, values, valid_lens)
masked_ok = all([
    add.attention_weights[0, 0, 2:].sum().item() < 1e-6,
    dot.attention_weights[1, 0, 6:].sum().item() < 1e-6,
    abs(dot.attention_weights.sum().item() - 2.0) < 1e-5,
    tuple(out_add.shape) == (2, 1, 4) and tuple(out_dot.shape) == (2, 1, 4),
    masked_softmax(torch.ones(2, 2, 4), torch.tensor([[1, 3], [2, 4]]))[0, 1, 3].item() < 1e-6,
])
print("w_err", w_err, "acc", acc, "masked_ok", masked_ok)
print(f"METRIC scratch_score {acc + float(masked_ok) + float(w_err < 0.01):.4f}")
