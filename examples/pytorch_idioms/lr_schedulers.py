"""Learning-rate schedules as scripts use them: step per epoch or per batch, chained, plateau.

Idioms: ``torch.optim.lr_scheduler.StepLR``, ``MultiStepLR``, ``ExponentialLR``,
``CosineAnnealingLR``, ``LambdaLR`` with a warm-up lambda, ``OneCycleLR`` stepped per batch,
``LinearLR`` + ``SequentialLR``, ``ReduceLROnPlateau(optimizer, "min", patience=...)`` stepped
with a validation loss, ``scheduler.get_last_lr()``, ``optimizer.param_groups[0]["lr"]``.
The metric is the sum of every learning rate used: it is exact arithmetic, equal in both.
"""
import torch
from torch import nn
from torch.optim import lr_scheduler


def fresh():
    model = nn.Linear(3, 1)
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


total = 0.0
makers = [
    lambda o: lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
    lambda o: lr_scheduler.MultiStepLR(o, milestones=[5, 12], gamma=0.1),
    lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
    lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=1e-3),
    lambda o: lr_scheduler.LambdaLR(o, lr_lambda=lambda epoch: min(1.0, (epoch + 1) / 5)),
    lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=20),
    lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
            lr_scheduler.CosineAnnealingLR(o, T_max=15)], milestones=[5]),
]
for make in makers:
    optimizer = fresh()
    scheduler = make(optimizer)
    lrs = []
    for epoch in range(20):
        optimizer.step()
        lrs.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    assert abs(scheduler.get_last_lr()[0] - optimizer.param_groups[0]["lr"]) < 1e-15
    print(type(scheduler).__name__, [round(v, 4) for v in lrs[:6]])
    total += sum(lrs)

optimizer = fresh()
plateau = lr_scheduler.ReduceLROnPlateau(optimizer, "min", factor=0.5, patience=2)
val_losses = [1.0, 0.9, 0.95, 0.93, 0.92, 0.91, 0.91, 0.92, 0.5, 0.6, 0.6, 0.6, 0.6]
for val_loss in val_losses:
    optimizer.step()
    plateau.step(val_loss)
    total += optimizer.param_groups[0]["lr"]
print(f"METRIC lr_sum {total:.12f}")
