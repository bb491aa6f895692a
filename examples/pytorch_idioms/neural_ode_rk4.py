"""A neural ODE fitted to a spiral with a hand-written fixed-step RK4 solver.

Idioms (rtqichen/torchdiffeq ``examples/ode_demo.py`` and "neural ODE from scratch" posts):
``true_y0 = torch.tensor([[2., 0.]])``, ``true_A``, the true dynamics
``torch.mm(y ** 3, true_A)`` integrated under ``torch.no_grad()``; ``get_batch`` with
``np.random.choice(np.arange(data_size - batch_time), batch_size, replace=False)`` and
``torch.stack([true_y[s + i] for i in range(batch_time)], dim=0)``; an ``ODEFunc`` module with
``nn.init.normal_(m.weight, mean=0, std=0.1)`` / ``constant_(m.bias, val=0)`` and an ``nfe``
counter; ``odeint(func, y0, t)`` written as RK4 over ``t[1:] - t[:-1]`` returning
``torch.stack(ys)``; ``RunningAverageMeter`` with momentum; ``optim.RMSprop(lr=...)``;
``torch.mean(torch.abs(pred_y - batch_y))`` loss.
"""
import numpy as np
import torch
from torch import nn, optim


def rk4_step(func, t, dt, y):
    k1 = func(t, y)
    k2 = func(t + dt / 2, y + dt * k1 / 2)
    k3 = func(t + dt / 2, y + dt * k2 / 2)
    k4 = func(t + dt, y + dt * k3)
    return y + dt * (k1 + 2 * k2 + 2 * k3 + k4) / 6


def odeint(func, y0, t, substeps=2):
    ys = [y0]
    y = y0
    for t0, dt in zip(t[:-1], t[1:] - t[:-1]):
        h = dt / substeps
        for s in range(substeps):
            y = rk4_step(func, t0 + s * h, h, y)
        ys.append(y)
    return torch.stack(ys)


class Lambda(nn.Module):
    def __init__(self, true_A):
        super().__init__()
        self.true_A = true_A

    def forward(self, t, y):
        return torch.mm(y ** 3, self.true_A)


class ODEFunc(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 50), nn.Tanh(), nn.Linear(50, 2))
        self.nfe = 0
        for m in self.net.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, mean=0, std=0.1)
                nn.init.constant_(m.bias, val=0)

    def forward(self, t, y):
        self.nfe += 1
        return self.net(y ** 3)


class RunningAverageMeter:
    def __init__(self, momentum=0.99):
        self.momentum = momentum
        self.val, self.avg = None, 0

    def update(self, val):
        self.avg = val if self.val is None else self.avg * self.momentum + val * (
            1 - self.momentum)
        self.val = val


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    data_size, batch_time, batch_size = 120, 8, 16
    true_y0 = torch.tensor([[2.0, 0.0]])
    t = torch.linspace(0.0, 15.0, data_size)
    true_A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])
    with torch.no_grad():
        true_y = odeint(Lambda(true_A), true_y0, t, substeps=4)

    def get_batch():
        s = torch.from_numpy(np.random.choice(np.arange(data_size - batch_time, dtype=np.int64),
                                              batch_size, replace=False))
        batch_y0 = true_y[s]
        batch_t = t[:batch_time]
        batch_y = torch.stack([true_y[s + i] for i in range(batch_time)], dim=0)
        return batch_y0, batch_t, batch_y

    func = ODEFunc()
    # the same start in every library (NumPy draws, as when loading a checkpoint), so the
    # float32 training paths can be compared step for step
    with torch.no_grad():
        for m in func.net:
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.from_numpy(np.random.normal(0, 0.1, tuple(m.weight.shape))))
    optimizer = optim.RMSprop(func.parameters(), lr=3e-3)
    loss_meter = RunningAverageMeter(0.97)
    for itr in range(1, 51):
        optimizer.zero_grad()
        batch_y0, batch_t, batch_y = get_batch()
        pred_y = odeint(func, batch_y0, batch_t, substeps=1)
        loss = torch.mean(torch.abs(pred_y - batch_y))
        loss.backward()
        optimizer.step()
        loss_meter.update(loss.item())
    with torch.no_grad():
        pred_y = odeint(func, true_y0, t[:40], substeps=1)
        test_loss = torch.mean(torch.abs(pred_y - true_y[:40])).item()
    print(f"running loss {loss_meter.avg:.4f}, test L1 over 40 steps {test_loss:.4f}, "
          f"nfe {func.nfe}")
    print(f"METRIC test_l1 {test_loss:.4f}")


if __name__ == "__main__":
    main()
