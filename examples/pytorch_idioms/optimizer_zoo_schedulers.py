"""Every ``torch.optim`` optimizer on the Rosenbrock function, and the schedulers not covered
by ``lr_schedulers.py``, as a float64 checksum.

Idioms (jettify/pytorch-optimizer ``examples/viz_optimizers.py``, which runs each optimizer
from the same start on Rosenbrock and Rastrigin): ``x = torch.Tensor(initial_state)
.requires_grad_(True)``; ``optimizer_class([x], lr=lr)``; ``torch.nn.utils.clip_grad_norm_(x,
1.0)`` each step; the optimizers' less common options (``Adam(amsgrad=True)``,
``NAdam(momentum_decay=)``, ``RAdam(decoupled_weight_decay=True)``, ``RMSprop(centered=True,
momentum=)``, ``Adagrad(lr_decay=)``, ``Rprop(etas=, step_sizes=)``, ``ASGD(t0=)``,
``SGD(dampening=)``, ``Adamax``, ``Adadelta``, ``maximize=True``); and ``CyclicLR``
(``triangular2`` with momentum cycling, ``exp_range``), ``PolynomialLR``, ``LinearLR``,
``ConstantLR``, ``ChainedScheduler``, ``MultiplicativeLR``,
``CosineAnnealingWarmRestarts(T_mult=2)`` and ``scheduler.get_last_lr()``.
"""
import math

import torch
from torch.optim import lr_scheduler


def rosenbrock(tensor):
    x, y = tensor
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


def run_optimizer(optimizer_class, lr, steps=60, sign=1.0, **kwargs):
    x = torch.Tensor([-2.0, 2.0]).double().requires_grad_(True)
    optimizer = optimizer_class([x], lr=lr, **kwargs)
    for _ in range(steps):
        optimizer.zero_grad()
        f = sign * rosenbrock(x)
        f.backward(create_graph=False, retain_graph=True)
        torch.nn.utils.clip_grad_norm_(x, 1.0)
        optimizer.step()
    return rosenbrock(x).item()


def scheduler_trace(make, steps=14, momentum=0.0):
    p = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=momentum)
    sched = make(opt)
    trace = []
    for _ in range(steps):
        opt.step()
        sched.step()
        trace.append(sched.get_last_lr()[0] + opt.param_groups[0]["momentum"])
    return sum(trace)


def main():
    torch.set_default_dtype(torch.float64)
    optim = torch.optim
    runs = {
        "Adam": (optim.Adam, 0.05, {}),
        "Adam-amsgrad": (optim.Adam, 0.05, {"amsgrad": True, "weight_decay": 1e-3}),
        "AdamW": (optim.AdamW, 0.05, {"weight_decay": 0.1}),
        "NAdam": (optim.NAdam, 0.05, {"momentum_decay": 0.004}),
        "RAdam": (optim.RAdam, 0.05, {"decoupled_weight_decay": True, "weight_decay": 0.01}),
        "RMSprop": (optim.RMSprop, 0.01, {"centered": True, "momentum": 0.5}),
        "Adagrad": (optim.Adagrad, 0.2, {"lr_decay": 0.01}),
        "Adadelta": (optim.Adadelta, 1.0, {}),
        "Adamax": (optim.Adamax, 0.05, {}),
        "Rprop": (optim.Rprop, 0.01, {"etas": (0.4, 1.3), "step_sizes": (1e-5, 0.5)}),
        "ASGD": (optim.ASGD, 0.005, {"t0": 10}),
        "SGD": (optim.SGD, 0.002, {"momentum": 0.9, "dampening": 0.1, "nesterov": False}),
    }
    finals = {name: run_optimizer(cls, lr, **kw) for name, (cls, lr, kw) in runs.items()}
    # maximize=True on -f descends f
    finals["Adam-maximize"] = run_optimizer(optim.Adam, 0.05, sign=-1.0, maximize=True)
    schedules = {
        "CyclicLR-triangular2": scheduler_trace(lambda o: lr_scheduler.CyclicLR(
            o, 0.01, 0.1, step_size_up=3, mode="triangular2"), momentum=0.9),
        "CyclicLR-exp_range": scheduler_trace(lambda o: lr_scheduler.CyclicLR(
            o, 0.01, 0.1, step_size_up=2, step_size_down=4, mode="exp_range", gamma=0.9,
            cycle_momentum=False)),
        "PolynomialLR": scheduler_trace(lambda o: lr_scheduler.PolynomialLR(
            o, total_iters=6, power=2.0)),
        "LinearLR": scheduler_trace(lambda o: lr_scheduler.LinearLR(
            o, start_factor=0.25, end_factor=1.0, total_iters=5)),
        "ChainedScheduler": scheduler_trace(lambda o: lr_scheduler.ChainedScheduler([
            lr_scheduler.ConstantLR(o, factor=0.1, total_iters=3),
            lr_scheduler.ExponentialLR(o, gamma=0.9)])),
        "MultiplicativeLR": scheduler_trace(lambda o: lr_scheduler.MultiplicativeLR(
            o, lr_lambda=lambda epoch: 0.95)),
        "WarmRestarts": scheduler_trace(lambda o: lr_scheduler.CosineAnnealingWarmRestarts(
            o, T_0=2, T_mult=2, eta_min=1e-3)),
    }
    for name, value in {**finals, **schedules}.items():
        print(f"{name:22s} {value:.6g}")
    checksum = sum(math.log10(v + 1e-12) for v in finals.values()) + sum(schedules.values())
    print(f"METRIC checksum {checksum:.6f}")
    torch.set_default_dtype(torch.float32)      # leave the process as we found it


if __name__ == "__main__":
    main()
