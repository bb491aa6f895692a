"""MAML on sine-wave regression: inner steps by ``torch.autograd.grad(create_graph=True)``.

Idioms (cbfinn/maml and its PyTorch ports, dragen1860/MAML-Pytorch ``learner.py`` /
``meta.py``, learn2learn-free scripts): a network kept as an ``nn.ParameterList`` and run by a
functional ``forward(x, vars=None)`` with ``F.linear``; the inner update
``fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, vars)))``;
``torch.autograd.grad(loss, vars, create_graph=True)`` for second-order MAML and
``create_graph=False`` for first-order; the same inner loop again through
``torch.func.functional_call(model, dict(zip(names, fast)), (x,))``; a meta ``Adam`` over the
outer loss summed over tasks then divided by ``task_num``; evaluation with
``copy.deepcopy(net)`` finetuned by plain SGD steps.
"""
import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call


class Learner(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.vars = nn.ParameterList()
        for out_f, in_f in config:
            w = nn.Parameter(torch.ones(out_f, in_f))
            torch.nn.init.kaiming_normal_(w)
            self.vars.append(w)
            self.vars.append(nn.Parameter(torch.zeros(out_f)))

    def forward(self, x, vars=None):
        if vars is None:
            vars = self.vars
        n = len(vars) // 2
        for i in range(n):
            x = F.linear(x, vars[2 * i], vars[2 * i + 1])
            if i < n - 1:
                x = F.relu(x)
        return x


class Meta(nn.Module):
    def __init__(self, update_lr, meta_lr, update_step, first_order=False):
        super().__init__()
        self.update_lr, self.update_step = update_lr, update_step
        self.first_order = first_order
        self.net = Learner([(32, 1), (32, 32), (1, 32)])
        self.meta_optim = torch.optim.Adam(self.net.parameters(), lr=meta_lr)

    def adapt(self, x_spt, y_spt, create_graph):
        fast_weights = list(self.net.parameters())
        for _ in range(self.update_step):
            loss = F.mse_loss(self.net(x_spt, fast_weights), y_spt)
            grad = torch.autograd.grad(loss, fast_weights, create_graph=create_graph)
            fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0],
                                    zip(grad, fast_weights)))
        return fast_weights

    def forward(self, x_spt, y_spt, x_qry, y_qry):
        task_num = x_spt.size(0)
        loss_q = 0
        for i in range(task_num):
            fast_weights = self.adapt(x_spt[i], y_spt[i], create_graph=not self.first_order)
            loss_q = loss_q + F.mse_loss(self.net(x_qry[i], fast_weights), y_qry[i])
        loss_q = loss_q / task_num
        self.meta_optim.zero_grad()
        loss_q.backward()
        self.meta_optim.step()
        return loss_q.item()

    def finetuning(self, x_spt, y_spt, x_qry, y_qry, steps):
        net = copy.deepcopy(self.net)
        opt = torch.optim.SGD(net.parameters(), lr=self.update_lr)
        for _ in range(steps):
            opt.zero_grad()
            F.mse_loss(net(x_spt), y_spt).backward()
            opt.step()
        with torch.no_grad():
            return F.mse_loss(net(x_qry), y_qry).item()


def sine_tasks(rng, n_tasks, k_shot, k_query):
    amp = rng.uniform(0.5, 3.0, size=(n_tasks, 1, 1))
    phase = rng.uniform(0, math.pi, size=(n_tasks, 1, 1))
    x = rng.uniform(-5, 5, size=(n_tasks, k_shot + k_query, 1))
    y = amp * np.sin(x - phase)
    x, y = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    return x[:, :k_shot], y[:, :k_shot], x[:, k_shot:], y[:, k_shot:]


def main():
    torch.manual_seed(0)
    rng = np.random.RandomState(0)
    maml = Meta(update_lr=0.01, meta_lr=1e-2, update_step=1)
    # a fixed start drawn by NumPy (as when loading saved weights), so the float32 runs of
    # both libraries follow the same path and second-order MAML is compared step for step
    with torch.no_grad():
        for p in maml.net.parameters():
            scale = math.sqrt(2.0 / p.shape[-1]) if p.dim() == 2 else 0.0
            p.copy_(torch.from_numpy(rng.standard_normal(p.shape) * scale))
    for step in range(80):
        maml(*sine_tasks(rng, 4, 10, 10))

    # second-order and first-order meta-gradients differ; functional_call gives the same
    # adapted predictions as the hand-written functional forward
    x_spt, y_spt, x_qry, y_qry = sine_tasks(rng, 1, 10, 10)
    names = [name for name, _ in maml.net.named_parameters()]
    fast = maml.adapt(x_spt[0], y_spt[0], create_graph=True)
    by_call = functional_call(maml.net, dict(zip(names, fast)), (x_qry[0],))
    same = torch.allclose(by_call, maml.net(x_qry[0], fast), atol=1e-6)
    second = torch.autograd.grad(F.mse_loss(by_call, y_qry[0]), maml.net.vars[0])[0]
    fast_fo = maml.adapt(x_spt[0], y_spt[0], create_graph=False)
    first = torch.autograd.grad(F.mse_loss(maml.net(x_qry[0], fast_fo), y_qry[0]),
                                maml.net.vars[0], allow_unused=True)[0]
    differs = not torch.allclose(first, second)

    x_spt, y_spt, x_qry, y_qry = sine_tasks(rng, 25, 10, 50)
    before = np.mean([maml.finetuning(x_spt[i], y_spt[i], x_qry[i], y_qry[i], 0)
                      for i in range(25)])
    after = np.mean([maml.finetuning(x_spt[i], y_spt[i], x_qry[i], y_qry[i], 5)
                     for i in range(25)])
    print(f"functional_call agrees {same}, second-order grad differs {differs}")
    print(f"query MSE before adaptation {before:.3f}, after 5 steps {after:.3f}")
    # ratio of post- to pre-adaptation error, plus the two structural checks
    print(f"METRIC checks_plus_ratio {int(same) + int(differs) + after / before:.4f}")


if __name__ == "__main__":
    main()
