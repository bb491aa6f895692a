"""Hinton's forward-forward training: each layer learns locally to give high "goodness" (mean
squared activation) to data with the right label written into it and low goodness to data
with a wrong label; no gradient crosses layers.

Idioms: a layer subclassing ``nn.Linear`` that owns its own optimizer
(``Adam(self.parameters())``), ``x / (x.norm(2, 1, keepdim=True) + 1e-4)``,
``torch.mm(x, self.weight.T) + self.bias.unsqueeze(0)``,
``torch.log(1 + torch.exp(torch.cat([-g_pos + t, g_neg - t]))).mean()``, ``.detach()`` between
layers, a label overlay ``x_ = x.clone(); x_[:, :10] *= 0.0; x_[range(n), y] = x.max()``,
``y[torch.randperm(y.size(0))]`` for negatives, ``goodness += [h.pow(2).mean(1)]`` then
``sum(goodness).unsqueeze(1)`` and ``torch.cat(..., 1).argmax(1)``, ``.eq(y).float().mean()``.
"""
import torch
import torch.nn as nn
from torch.optim import Adam

torch.manual_seed(0)
N_CLASSES, DIM = 10, 40
centres = torch.randn(N_CLASSES, DIM - N_CLASSES) * 2.0


def make(n):
    y = torch.randint(0, N_CLASSES, (n,))
    x = torch.cat([torch.zeros(n, N_CLASSES), centres[y] + torch.randn(n, DIM - N_CLASSES)], 1)
    return x, y


def overlay_y_on_x(x, y):
    x_ = x.clone()
    x_[:, :N_CLASSES] *= 0.0
    x_[range(x.shape[0]), y] = x.max()
    return x_


class Layer(nn.Linear):
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.relu = torch.nn.ReLU()
        self.opt = Adam(self.parameters(), lr=0.03)
        self.threshold = 2.0
        self.num_epochs = 60

    def forward(self, x):
        x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
        return self.relu(torch.mm(x_direction, self.weight.T) + self.bias.unsqueeze(0))

    def train_layer(self, x_pos, x_neg):
        for _ in range(self.num_epochs):
            g_pos = self.forward(x_pos).pow(2).mean(1)
            g_neg = self.forward(x_neg).pow(2).mean(1)
            loss = torch.log(1 + torch.exp(torch.cat([-g_pos + self.threshold,
                                                      g_neg - self.threshold]))).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        return self.forward(x_pos).detach(), self.forward(x_neg).detach()


class Net(torch.nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.layers = [Layer(dims[d], dims[d + 1]) for d in range(len(dims) - 1)]

    def predict(self, x):
        goodness_per_label = []
        for label in range(N_CLASSES):
            h = overlay_y_on_x(x, label)
            goodness = []
            for layer in self.layers:
                h = layer(h)
                goodness += [h.pow(2).mean(1)]
            goodness_per_label += [sum(goodness).unsqueeze(1)]
        goodness_per_label = torch.cat(goodness_per_label, 1)
        return goodness_per_label.argmax(1)

    def train(self, x_pos, x_neg):
        h_pos, h_neg = x_pos, x_neg
        for layer in self.layers:
            h_pos, h_neg = layer.train_layer(h_pos, h_neg)


x, y = make(500)
x_te, y_te = make(500)
net = Net([DIM, 64, 64])
x_pos = overlay_y_on_x(x, y)
rnd = torch.randperm(x.size(0))
x_neg = overlay_y_on_x(x, y[rnd])
net.train(x_pos, x_neg)
train_acc = net.predict(x).eq(y).float().mean().item()
test_acc = net.predict(x_te).eq(y_te).float().mean().item()
print("train accuracy:", train_acc)
print(f"METRIC test_accuracy {test_acc:.3f}")
