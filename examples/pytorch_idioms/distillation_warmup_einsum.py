"""Knowledge distillation from a teacher trained with label smoothing, under a hand-written
warm-up scheduler.

Idioms: ``nn.CrossEntropyLoss(label_smoothing=0.1)``; a ``LabelSmoothingLoss`` module
(``true_dist.fill_(s / (C - 1))`` then ``true_dist.scatter_(1, target.data.unsqueeze(1),
confidence)`` under ``torch.no_grad()``); the Hinton et al. (2015) loss
``nn.KLDivLoss(reduction="batchmean")(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1))
* T * T`` mixed with the hard-label loss; ``teacher.eval()`` inside ``torch.no_grad()``; a
custom scheduler subclassing ``torch.optim.lr_scheduler._LRScheduler`` (``get_lr`` reading
``self.last_epoch`` and ``self.base_lrs``); attention pooling written with
``torch.einsum("...td,...d->...t", ...)`` (ellipsis) and ``einsum("bii->b", ...)``
(a diagonal); evaluation with ``outputs.topk(1, dim=1)`` and ``.eq(...).sum().item()``.

Data: 4 classes of 6-step sequences of 5 features, the class set by which steps carry a
signal. Metric: the student's held-out accuracy.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import _LRScheduler
from torch.utils.data import DataLoader, TensorDataset


class WarmupCosine(_LRScheduler):
    def __init__(self, optimizer, warmup, total, last_epoch=-1):
        self.warmup, self.total = warmup, total
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t = self.last_epoch
        if t < self.warmup:
            return [base * (t + 1) / self.warmup for base in self.base_lrs]
        progress = (t - self.warmup) / max(1, self.total - self.warmup)
        return [base * 0.5 * (1 + math.cos(math.pi * progress)) for base in self.base_lrs]


class LabelSmoothingLoss(nn.Module):
    def __init__(self, classes, smoothing=0.1):
        super().__init__()
        self.confidence, self.smoothing, self.classes = 1.0 - smoothing, smoothing, classes

    def forward(self, pred, target):
        pred = pred.log_softmax(dim=-1)
        with torch.no_grad():
            true_dist = torch.zeros_like(pred)
            true_dist.fill_(self.smoothing / (self.classes - 1))
            true_dist.scatter_(1, target.data.unsqueeze(1), self.confidence)
        return torch.mean(torch.sum(-true_dist * pred, dim=-1))


class AttnPool(nn.Module):
    def __init__(self, d_in, hidden, classes):
        super().__init__()
        self.proj = nn.Linear(d_in, hidden)
        self.query = nn.Parameter(torch.randn(hidden) / hidden ** 0.5)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):                                  # x: (B, T, d_in)
        h = torch.tanh(self.proj(x))
        weights = torch.einsum("...td,...d->...t", h, self.query).softmax(dim=-1)
        gram = torch.einsum("btd,bsd->bts", h, h)
        trace = torch.einsum("bii->b", gram).unsqueeze(1) / h.size(1)
        pooled = torch.einsum("...t,...td->...d", weights, h)
        return self.head(pooled * (1 + 0.0 * trace))


def make_data(n, gen):
    y = torch.randint(0, 4, (n,), generator=gen)
    x = 0.4 * torch.randn(n, 6, 5, generator=gen)
    for c in range(4):
        x[y == c, c:c + 3, c] += 1.0
    return x, y


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        _, pred = model(x).topk(1, dim=1)
        return pred.squeeze(1).eq(y).sum().item() / len(y)


def fit(model, loader, loss_fn, epochs, lr):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = WarmupCosine(opt, warmup=len(loader), total=epochs * len(loader))
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model, xb, yb)
            loss.backward()
            opt.step()
            sched.step()
    return sched.get_last_lr()[0]


torch.manual_seed(0)
gen = torch.Generator().manual_seed(1)
x_train, y_train = make_data(600, gen)
x_test, y_test = make_data(400, gen)
loader = DataLoader(TensorDataset(x_train, y_train), batch_size=50, shuffle=True)

teacher = AttnPool(5, 32, 4)
smooth_ce, smooth_manual = nn.CrossEntropyLoss(label_smoothing=0.1), LabelSmoothingLoss(4)
fit(teacher, loader,
    lambda m, xb, yb: 0.5 * smooth_ce(m(xb), yb) + 0.5 * smooth_manual(m(xb), yb), 8, 1e-2)

student, T, alpha = AttnPool(5, 8, 4), 3.0, 0.7
kl = nn.KLDivLoss(reduction="batchmean")


def distill(model, xb, yb):
    with torch.no_grad():
        teacher.eval()
        soft = F.softmax(teacher(xb) / T, dim=1)
    logits = model(xb)
    kd = kl(F.log_softmax(logits / T, dim=1), soft) * T * T
    return alpha * kd + (1 - alpha) * F.cross_entropy(logits, yb)


last_lr = fit(student, loader, distill, 8, 1e-2)
print(f"teacher {accuracy(teacher, x_test, y_test):.3f} last lr {last_lr:.2e}")
print("METRIC student_accuracy", round(accuracy(student, x_test, y_test), 4))
