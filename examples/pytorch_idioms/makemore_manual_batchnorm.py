"""makemore parts 3 and 5 (Karpathy's "Building makemore"): hand-written layers, a hand-made
BatchNorm1d with running statistics, and the WaveNet-style hierarchy.

Idioms: ``torch.randn((fan_in, fan_out), generator=g) / fan_in**0.5`` with the 5/3 tanh gain,
``layer.out.retain_grad()`` on every layer's output, update-to-data ratios
``((lr * p.grad).std() / p.data.std()).log10().item()``, a ``BatchNorm1d`` class with
``x.mean(dim, keepdim=True)`` / ``x.var(dim, keepdim=True)`` over ``(0,)`` or ``(0, 1)`` and
``running_mean`` updated under ``torch.no_grad()``, ``FlattenConsecutive`` with
``x.view(B, T // n, C * n)`` and ``torch.squeeze(x, dim=1)``, a ``Sequential`` of them,
``sum(p.nelement() for p in parameters)``, ``for p in parameters: p.grad = None``.
"""

import torch
import torch.nn.functional as F

g = torch.Generator().manual_seed(2147483647)


class Linear:
    def __init__(self, fan_in, fan_out, bias=True):
        self.weight = torch.randn((fan_in, fan_out), generator=g) / fan_in ** 0.5
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        self.out = x @ self.weight
        if self.bias is not None:
            self.out += self.bias
        return self.out

    def parameters(self):
        return [self.weight] + ([] if self.bias is None else [self.bias])


class BatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps, self.momentum, self.training = eps, momentum, True
        self.gamma, self.beta = torch.ones(dim), torch.zeros(dim)
        self.running_mean, self.running_var = torch.zeros(dim), torch.ones(dim)

    def __call__(self, x):
        if self.training:
            dim = 0 if x.ndim == 2 else (0, 1)
            xmean = x.mean(dim, keepdim=True)
            xvar = x.var(dim, keepdim=True)
        else:
            xmean, xvar = self.running_mean, self.running_var
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)
        self.out = self.gamma * xhat + self.beta
        if self.training:
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean + \
                    self.momentum * xmean.squeeze()
                self.running_var = (1 - self.momentum) * self.running_var + \
                    self.momentum * xvar.squeeze()
        return self.out

    def parameters(self):
        return [self.gamma, self.beta]


class Tanh:
    def __call__(self, x):
        self.out = torch.tanh(x)
        return self.out

    def parameters(self):
        return []


class Embedding:
    def __init__(self, num, dim):
        self.weight = torch.randn((num, dim), generator=g)

    def __call__(self, ix):
        self.out = self.weight[ix]
        return self.out

    def parameters(self):
        return [self.weight]


class FlattenConsecutive:
    def __init__(self, n):
        self.n = n

    def __call__(self, x):
        B, T, C = x.shape
        x = x.view(B, T // self.n, C * self.n)
        if x.shape[1] == 1:
            x = torch.squeeze(x, dim=1)
        self.out = x
        return self.out

    def parameters(self):
        return []


class Sequential:
    def __init__(self, layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        self.out = x
        return self.out

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


# data: "names" made of a tiny grammar over 8 letters, context of 8 characters
vocab, block = 9, 8                     # token 0 is the '.' boundary
words = []
for i in range(600):
    a, b = 1 + i % 4, 5 + (i // 4) % 4
    words.append([a, b, a, b, a][: 3 + i % 3])
X, Y = [], []
for w in words:
    context = [0] * block
    for ch in w + [0]:
        X.append(context)
        Y.append(ch)
        context = context[1:] + [ch]
X, Y = torch.tensor(X), torch.tensor(Y)
n1 = int(0.9 * len(X))
Xtr, Ytr, Xdev, Ydev = X[:n1], Y[:n1], X[n1:], Y[n1:]

n_embd, n_hidden = 8, 32
model = Sequential([
    Embedding(vocab, n_embd),
    FlattenConsecutive(2), Linear(n_embd * 2, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
    FlattenConsecutive(2), Linear(n_hidden * 2, n_hidden, bias=False), BatchNorm1d(n_hidden),
    Tanh(),
    FlattenConsecutive(2), Linear(n_hidden * 2, n_hidden, bias=False), BatchNorm1d(n_hidden),
    Tanh(),
    Linear(n_hidden, vocab),
])
with torch.no_grad():
    model.layers[-1].weight *= 0.1
    for layer in model.layers[:-1]:
        if isinstance(layer, Linear):
            layer.weight *= 5 / 3
parameters = model.parameters()
n_params = sum(p.nelement() for p in parameters)
for p in parameters:
    p.requires_grad = True



def step(i, ud):
    """One minibatch step, keeping every layer's output gradient and the update ratios."""
    lr = 0.1 if i < 150 else 0.01
    for p in parameters:
        p.grad = None
    ix = torch.randint(0, Xtr.shape[0], (32,), generator=g)
    loss = F.cross_entropy(model(Xtr[ix]), Ytr[ix])
    for layer in model.layers:
        layer.out.retain_grad()
    loss.backward()
    for p in parameters:
        p.data += -lr * p.grad
    with torch.no_grad():
        ud.append([((lr * p.grad).std() / p.data.std()).log10().item() for p in parameters])


ud = []
for i in range(200):
    step(i, ud)

saturated = [(layer.out.abs() > 0.97).float().mean().item() for layer in model.layers
             if isinstance(layer, Tanh)]
grads_ok = all(layer.out.grad is not None for layer in model.layers)
for layer in model.layers:
    layer.training = False
with torch.no_grad():
    dev_loss = F.cross_entropy(model(Xdev), Ydev).item()
assert grads_ok and n_params == 8 * 9 + 16 * 32 + 2 * 64 * 32 + 6 * 32 + 32 * 9 + 9
assert all(-6 < r < 0 for r in ud[-1]), ud[-1]
print(f"METRIC dev_loss {dev_loss:.4f}")
