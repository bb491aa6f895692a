"""Domain-adversarial training (DANN) with a gradient reversal layer.

Idioms (fungtion/DANN ``functions.py`` ``ReverseLayerF`` and pytorch-domain-adaptation ports):
a ``torch.autograd.Function`` whose ``forward`` returns ``x.view_as(x)`` and stores
``ctx.alpha``, and whose ``backward`` returns ``grad_output.neg() * ctx.alpha, None``; the
schedule ``alpha = 2. / (1. + np.exp(-10 * p)) - 1``; the same reversal written with
``Tensor.register_hook(lambda grad: -alpha * grad)`` (checked equal); feature extractor,
label classifier and domain classifier in ``nn.Sequential`` with ``nn.BatchNorm1d`` and
``nn.Dropout``; ``nn.LogSoftmax(dim=1)`` + ``nn.NLLLoss``; source/target batches joined with
``torch.cat``; ``torch.ones(b).long()`` / ``torch.zeros(b).long()`` domain labels; target accuracy
evaluated with ``model.eval()``.
"""
import numpy as np
import torch
from torch import nn
from torch.autograd import Function


class ReverseLayerF(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        output = grad_output.neg() * ctx.alpha
        return output, None


def reverse_by_hook(x, alpha):
    y = x * 1.0
    if y.requires_grad:
        y.register_hook(lambda grad: -alpha * grad)
    return y


class DANN(nn.Module):
    def __init__(self):
        super().__init__()
        self.feature = nn.Sequential(nn.Linear(2, 32), nn.BatchNorm1d(32), nn.ReLU(True),
                                     nn.Linear(32, 32), nn.ReLU(True))
        self.class_classifier = nn.Sequential(nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(0.1),
                                              nn.Linear(32, 2), nn.LogSoftmax(dim=1))
        self.domain_classifier = nn.Sequential(nn.Linear(32, 32), nn.ReLU(True),
                                               nn.Linear(32, 2), nn.LogSoftmax(dim=1))

    def forward(self, input_data, alpha, use_hook=False):
        feature = self.feature(input_data)
        reverse_feature = (reverse_by_hook(feature, alpha) if use_hook
                           else ReverseLayerF.apply(feature, alpha))
        return self.class_classifier(feature), self.domain_classifier(reverse_feature)


def two_moons(n, gen, shift=0.0, angle=0.0):
    y = torch.randint(0, 2, (n,), generator=gen)
    t = torch.rand(n, generator=gen) * np.pi
    x = torch.stack([torch.cos(t) + y * 1.0 - 0.5 * y, torch.sin(t) * (1 - 2 * y) + 0.25 * y],
                    1)
    x = x + 0.1 * torch.randn(n, 2, generator=gen)
    rot = torch.tensor([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]],
                       dtype=torch.float32)
    return x @ rot.T + shift, y


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    xs, ys = two_moons(512, gen)
    xt, yt = two_moons(512, gen, shift=0.3, angle=0.5)
    model = DANN()
    # the hook-based reversal gives the same gradients as the Function
    grads = []
    model.eval()
    for use_hook in (False, True):
        model.zero_grad()
        c, d = model(xs[:32], 0.7, use_hook)
        (c[:, 0].sum() + d[:, 1].sum()).backward()
        grads.append(model.feature[0].weight.grad.clone())
    same = torch.allclose(grads[0], grads[1], atol=1e-6)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_class, loss_domain = nn.NLLLoss(), nn.NLLLoss()
    n_epoch, batches = 15, 8
    for epoch in range(n_epoch):
        perm_s, perm_t = torch.randperm(512, generator=gen), torch.randperm(512, generator=gen)
        for i in range(batches):
            p = float(i + epoch * batches) / n_epoch / batches
            alpha = 2.0 / (1.0 + np.exp(-10 * p)) - 1
            idx_s, idx_t = perm_s[i * 64:(i + 1) * 64], perm_t[i * 64:(i + 1) * 64]
            class_out, domain_out = model(torch.cat([xs[idx_s], xt[idx_t]]), alpha)
            err_label = loss_class(class_out[:64], ys[idx_s])
            domain_label = torch.cat([torch.zeros(64).long(), torch.ones(64).long()])
            err_domain = loss_domain(domain_out, domain_label)
            optimizer.zero_grad()
            (err_label + err_domain).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        acc_t = (model(xt, 0.0)[0].argmax(1) == yt).float().mean().item()
        acc_s = (model(xs, 0.0)[0].argmax(1) == ys).float().mean().item()
    print(f"hook == Function: {same}; source acc {acc_s:.3f}, target acc {acc_t:.3f}")
    print(f"METRIC target_acc_plus_check {acc_t + float(same):.4f}")


if __name__ == "__main__":
    main()
