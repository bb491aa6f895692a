"""Dive into Deep Learning, "RNN from scratch" and "batch normalization from scratch".

Idioms: parameters as a Python list built with ``torch.randn(size=shape) * 0.01`` and
``param.requires_grad_(True)``; ``F.one_hot(X.T, vocab_size).type(torch.float32)``; a state
tuple ``(torch.zeros((batch_size, num_hiddens)),)`` that is ``detach_()``-ed between
minibatches (``for s in state: s.detach_()``); ``torch.cat(outputs, dim=0)``;
``y.T.reshape(-1)``; ``grad_clipping`` computing ``torch.sqrt(sum(torch.sum(p.grad ** 2) for
p in params))`` and scaling ``param.grad[:] *= theta / norm``; perplexity ``math.exp(l / n)``;
``predict`` by feeding the argmax back (``int(y.argmax(dim=1).reshape(1))``). Then
``batch_norm`` written with ``torch.is_grad_enabled()``, ``X.mean(dim=(0, 2, 3),
keepdim=True)`` and ``moving_mean.data`` updates inside an ``nn.Module``.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
g = torch.Generator().manual_seed(0)

# a corpus with a fixed period: "abcdefg abcdefg ..." over 8 symbols
vocab_size, num_hiddens, num_steps, batch_size = 8, 32, 10, 16
corpus = torch.tensor([i % vocab_size for i in range(2000)])


def get_params(vocab_size, num_hiddens):
    num_inputs = num_outputs = vocab_size

    def normal(shape):
        return torch.randn(size=shape) * 0.01

    W_xh = normal((num_inputs, num_hiddens))
    W_hh = normal((num_hiddens, num_hiddens))
    b_h = torch.zeros(num_hiddens)
    W_hq = normal((num_hiddens, num_outputs))
    b_q = torch.zeros(num_outputs)
    params = [W_xh, W_hh, b_h, W_hq, b_q]
    for param in params:
        param.requires_grad_(True)
    return params


def init_rnn_state(batch_size, num_hiddens):
    return (torch.zeros((batch_size, num_hiddens)),)


def rnn(inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = torch.tanh(torch.mm(X, W_xh) + torch.mm(H, W_hh) + b_h)
        outputs.append(torch.mm(H, W_hq) + b_q)
    return torch.cat(outputs, dim=0), (H,)


class RNNModelScratch:
    def __init__(self):
        self.params = get_params(vocab_size, num_hiddens)

    def __call__(self, X, state):
        X = F.one_hot(X.T, vocab_size).type(torch.float32)
        return rnn(X, state, self.params)

    def begin_state(self, batch_size):
        return init_rnn_state(batch_size, num_hiddens)


def grad_clipping(params, theta):
    norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in params))
    if norm > theta:
        for param in params:
            param.grad[:] *= theta / norm


def seq_data_iter_sequential(corpus, batch_size, num_steps, offset):
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = corpus[offset: offset + num_tokens].reshape(batch_size, -1)
    Ys = corpus[offset + 1: offset + 1 + num_tokens].reshape(batch_size, -1)
    for i in range(0, Xs.shape[1] // num_steps * num_steps, num_steps):
        yield Xs[:, i: i + num_steps], Ys[:, i: i + num_steps]


net = RNNModelScratch()
loss = nn.CrossEntropyLoss()
lr = 1.0
for epoch in range(4):
    state = None
    offset = int(torch.randint(0, num_steps, (1,), generator=g))
    total, count = 0.0, 0
    for X, Y in seq_data_iter_sequential(corpus, batch_size, num_steps, offset):
        if state is None:
            state = net.begin_state(batch_size)
        else:
            for s in state:
                s.detach_()
        y = Y.T.reshape(-1)
        y_hat, state = net(X, state)
        l = loss(y_hat, y.long()).mean()
        l.backward()
        grad_clipping(net.params, 1)
        with torch.no_grad():
            for param in net.params:
                param -= lr * param.grad
                param.grad.zero_()
        total += l.item() * y.numel()
        count += y.numel()
perplexity = math.exp(total / count)


def predict(prefix, num_preds):
    state = net.begin_state(batch_size=1)
    outputs = [prefix[0]]
    for y in prefix[1:]:
        _, state = net(torch.tensor([outputs[-1]]).reshape((1, 1)), state)
        outputs.append(y)
    for _ in range(num_preds):
        y, state = net(torch.tensor([outputs[-1]]).reshape((1, 1)), state)
        outputs.append(int(y.argmax(dim=1).reshape(1)))
    return outputs


continued = predict([3, 4, 5], 10)
correct_continuation = continued == [(3 + i) % vocab_size for i in range(13)]


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    if not torch.is_grad_enabled():
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
        moving_var = (1.0 - momentum) * moving_var + momentum * var
    Y = gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data


class BatchNorm(nn.Module):
    def __init__(self, num_features, num_dims):
        super().__init__()
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.moving_mean = torch.zeros(shape)
        self.moving_var = torch.ones(shape)

    def forward(self, X):
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var, eps=1e-5, momentum=0.1)
        return Y


# the scratch BatchNorm equals nn.BatchNorm2d in training mode (biased batch variance) and
# its moving statistics follow the same recursion (PyTorch's uses the unbiased variance)
bn, ref = BatchNorm(3, 4), nn.BatchNorm2d(3)
X = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4).sin()
same = (bn(X) - ref(X)).abs().max().item() < 1e-5
same_mean = (bn.moving_mean.flatten() - ref.running_mean).abs().max().item() < 1e-6
with torch.no_grad():
    eval_out = bn(X)
print("perplexity", perplexity, "continuation", continued)
score = float(correct_continuation) + float(same) + float(same_mean) + min(perplexity, 10.0)
print(f"METRIC rnn_bn_score {score:.4f}")
