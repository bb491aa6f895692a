"""``chainrule.optim.swa_utils``: weight averaging (SWA, Izmailov et al. 2018; EMA) with
PyTorch's API: ``AveragedModel``, ``SWALR``, ``update_bn`` and the averaging functions.

- SWA: θ̄ₙ₊₁ = θ̄ₙ + (θ − θ̄ₙ) / (n + 1), the running mean of the snapshots.
- EMA: θ̄ ← decay · θ̄ + (1 − decay) · θ (``get_ema_avg_fn`` / ``get_ema_multi_avg_fn``).

The first ``update_parameters`` copies the model; ``n_averaged`` (a long buffer) counts the
snapshots. Buffers (BatchNorm statistics) are copied, not averaged, unless
``use_buffers=True``; after SWA, ``update_bn`` recomputes the statistics with one pass.

Example::

    swa_model = AveragedModel(model)
    swa_sched = SWALR(opt, swa_lr=0.05, anneal_epochs=5)
    for epoch in range(100):
        train_one_epoch(model, opt)
        if epoch >= 75:
            swa_model.update_parameters(model)
            swa_sched.step()
    update_bn(loader, swa_model)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from copy import deepcopy
from typing import Any

import numpy as np

from chainrule.autograd.engine import no_grad
from chainrule.backend import xp
from chainrule.nn.modules.module import Module
from chainrule.nn.modules.normalization import _BatchNorm
from chainrule.optim.lr_scheduler import LRScheduler, _per_group
from chainrule.optim.optimizer import Optimizer
from chainrule.tensor import Tensor, _wrap

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn",
           "get_swa_multi_avg_fn", "get_ema_avg_fn", "get_swa_avg_fn"]

ParamList = Sequence[Tensor]


def _is_float(t: Tensor) -> bool:
    return bool(np.issubdtype(t._array.dtype, np.inexact))


def _lerp_(a: Any, b: Any, w: float) -> None:
    """a ← lerp(a, b, w) in place, in PyTorch's two-sided form (exact at w = 0 and w = 1):
    a + w (b − a) for w < ½, else b − (b − a)(1 − w)."""
    if w < 0.5:
        a += w * (b - a)
    else:
        a[...] = b - (b - a) * (1.0 - w)


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(
            f"Invalid decay value {decay} provided. Please provide a value in [0,1] range."
        )


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[ParamList, ParamList, Any], None]:
    """An in-place EMA over lists of tensors: θ̄ ← lerp(θ̄, θ, 1 − decay) (integer tensors:
    θ̄ ← θ̄·decay + θ·(1 − decay), truncated)."""
    _check_decay(decay)

    def ema_update(ema_params: ParamList, current_params: ParamList, _: Any) -> None:
        for e, c in zip(ema_params, current_params, strict=True):
            if _is_float(e):
                _lerp_(e._array, c._array, 1.0 - decay)
            else:
                xp.copyto(e._array, e._array * decay + c._array * (1.0 - decay),
                          casting="unsafe")
            e._bump_version()

    return ema_update


def get_swa_multi_avg_fn() -> Callable[[ParamList, ParamList, Any], None]:
    """An in-place running mean over lists of tensors: θ̄ ← lerp(θ̄, θ, 1 / (n + 1)), the
    weight rounded to float32 as in PyTorch (the default CPU path divides in full precision)."""

    def swa_update(averaged: ParamList, current: ParamList, num_averaged: Any) -> None:
        n = int(num_averaged)
        # PyTorch computes 1 / (n + 1) from the long counter in its default dtype, float32:
        # the same rounded weight keeps the average equal to theirs
        w = float(np.float32(1.0) / np.float32(n + 1))
        for a, c in zip(averaged, current, strict=True):
            if _is_float(a):
                _lerp_(a._array, c._array, w)
            else:
                xp.copyto(a._array, a._array + (c._array - a._array) / (n + 1),
                          casting="unsafe")
            a._bump_version()

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Tensor, Tensor, Any], Tensor]:
    """EMA of one tensor: returns decay · θ̄ + (1 − decay) · θ."""
    _check_decay(decay)

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable[[Tensor, Tensor, Any], Tensor]:
    """Running mean of one tensor: returns θ̄ + (θ − θ̄) / (n + 1)."""

    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def _group_by_dtype(pairs: list[tuple[Tensor, Tensor]]) -> dict[Any, tuple[list, list]]:
    """(averaged, current) pairs split by dtype, first-seen order (as PyTorch's foreach
    grouping, so a multi_avg_fn sees lists of one dtype)."""
    groups: dict[Any, tuple[list, list]] = {}
    for a, c in pairs:
        ga, gc = groups.setdefault(a._array.dtype, ([], []))
        ga.append(a)
        gc.append(c)
    return groups


class AveragedModel(Module):
    """A copy of ``model`` whose parameters (and buffers, if ``use_buffers``) are the average
    of the snapshots passed to ``update_parameters``; default average: SWA's running mean.

    ``state_dict`` keys are the model's under ``module.`` plus ``n_averaged``.
    """

    def __init__(self, model: Module, device: Any = None,
                 avg_fn: Callable[[Tensor, Tensor, Any], Tensor] | None = None,
                 multi_avg_fn: Callable[[ParamList, ParamList, Any], None] | None = None,
                 use_buffers: bool = False) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel expects an nn.Module, got {type(model).__name__}")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", _wrap(xp.asarray(0, dtype=xp.int64)))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current parameters into the average (the first call copies them)."""
        if self.use_buffers:
            mine: Iterable[Tensor] = itertools.chain(self.module.parameters(),
                                                     self.module.buffers())
            theirs: Iterable[Tensor] = itertools.chain(model.parameters(), model.buffers())
        else:
            mine, theirs = self.parameters(), model.parameters()
        pairs = [(a.detach(), c.detach()) for a, c in zip(mine, theirs)]
        n = int(self.n_averaged._array)
        with no_grad():
            if n == 0:
                for a, c in pairs:
                    a.copy_(c)
            elif self.avg_fn is not None:
                for a, c in pairs:
                    xp.copyto(a._array, self.avg_fn(a, c, self.n_averaged)._array,
                              casting="unsafe")
                    a._bump_version()
            else:
                avg = self.multi_avg_fn
                for group_a, group_c in _group_by_dtype(pairs).values():
                    if avg is not None:
                        avg(group_a, group_c, self.n_averaged)
                    else:  # PyTorch's CPU path: θ̄ + (θ − θ̄) / (n + 1), tensor by tensor
                        for a, c in zip(group_a, group_c):
                            xp.copyto(a._array, a._array + (c._array - a._array) / (n + 1),
                                      casting="unsafe")
                            a._bump_version()
            if not self.use_buffers:
                mine_b, theirs_b = list(self.module.buffers()), list(model.buffers())
                if len(mine_b) != len(theirs_b):
                    raise ValueError(
                        f"update_parameters: the model has {len(theirs_b)} buffers, the "
                        f"averaged copy {len(mine_b)}: pass the model this one was built from"
                    )
                for b_avg, b_model in zip(mine_b, theirs_b):
                    b_avg.detach().copy_(b_model.detach())
            self.n_averaged._array[...] += 1
            self.n_averaged._bump_version()


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute every BatchNorm's running mean and variance with one pass over ``loader``
    (cumulative averages, ``momentum=None``), then restore the momenta and the training mode.
    A batch that is a list or tuple contributes its first element."""
    momenta = {}
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            momenta[m] = m.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for m in momenta:
        m.momentum = None
    with no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for m, momentum in momenta.items():
        m.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr from its value to ``swa_lr`` over ``anneal_epochs`` steps, then
    hold it. With α(t) = t ('linear') or (1 − cos πt)/2 ('cos'), t = min(1, step/anneal_epochs):

        lr_t = α(t) · swa_lr + (1 − α(t)) · lr₀,

    where lr₀ is recovered from the current lr each step (so the rule chains like PyTorch's).
    """

    def __init__(self, optimizer: Optimizer, swa_lr: float | list[float],
                 anneal_epochs: int = 10, anneal_strategy: str = "cos",
                 last_epoch: int = -1) -> None:
        swa_lrs = _per_group("swa_lr", optimizer, swa_lr)
        for value, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = value
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        """The lr₀ with lr = α·swa_lr + (1 − α)·lr₀."""
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        groups = self.optimizer.param_groups
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, prev_lrs)]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
