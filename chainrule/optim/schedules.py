"""Learning-rate schedules as pure functions ``step -> lr``.

Each function gives the closed form of one PyTorch scheduler (the classes in
:mod:`chainrule.optim.lr_scheduler` are built on them). Being pure, they can be plotted,
tested and composed without an optimizer::

    lrs = [schedules.cosine(t, 0.1, T_max=100) for t in range(100)]

``step`` counts scheduler steps from 0 (PyTorch's ``last_epoch``).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable

__all__ = [
    "step_decay", "multistep_decay", "constant", "linear", "exponential", "polynomial", "cosine",
    "cosine_warm_restarts", "warm_restart_position", "cyclic", "cyclic_momentum", "one_cycle",
    "one_cycle_momentum", "warmup_cosine",
]


def step_decay(step: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """StepLR: lr = base_lr · γ^⌊step / step_size⌋."""
    return base_lr * gamma ** (step // step_size)


def multistep_decay(step: int, base_lr: float, milestones: Iterable[int],
                    gamma: float = 0.1) -> float:
    """MultiStepLR: lr = base_lr · γ^(number of milestones <= step)."""
    return base_lr * gamma ** bisect_right(sorted(milestones), step)


def constant(step: int, base_lr: float, factor: float = 1.0 / 3, total_iters: int = 5) -> float:
    """ConstantLR: lr = base_lr · factor while step < total_iters, then base_lr."""
    return base_lr * (factor if step < total_iters else 1.0)


def linear(step: int, base_lr: float, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
           total_iters: int = 5) -> float:
    """LinearLR: the factor goes linearly from start_factor to end_factor over total_iters.

    lr = base_lr · (s + (e − s) · min(step, T) / T).
    """
    return base_lr * (start_factor + (end_factor - start_factor)
                      * min(total_iters, step) / total_iters)


def exponential(step: int, base_lr: float, gamma: float) -> float:
    """ExponentialLR: lr = base_lr · γ^step."""
    return base_lr * gamma**step


def polynomial(step: int, base_lr: float, total_iters: int = 5, power: float = 1.0) -> float:
    """PolynomialLR: lr = base_lr · (1 − min(step, T)/T)^power."""
    return base_lr * (1.0 - min(total_iters, step) / total_iters) ** power


def cosine(step: int, base_lr: float, T_max: int, eta_min: float = 0.0) -> float:
    """CosineAnnealingLR: lr = η_min + (base_lr − η_min)(1 + cos(π·step/T_max))/2.

    Past T_max the cosine keeps going (the lr climbs back), as in PyTorch.
    """
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * step / T_max)) / 2


def warm_restart_position(step: float, T_0: int, T_mult: int = 1) -> tuple[float, float]:
    """(T_cur, T_i) of SGDR at ``step``: the position within the current period and its length
    (periods T_0, T_0·T_mult, T_0·T_mult², ...)."""
    if step < T_0:
        return step, T_0
    if T_mult == 1:
        return step % T_0, T_0
    n = int(math.log(step / T_0 * (T_mult - 1) + 1, T_mult))
    return step - T_0 * (T_mult**n - 1) / (T_mult - 1), T_0 * T_mult**n


def cosine_warm_restarts(step: float, base_lr: float, T_0: int, T_mult: int = 1,
                         eta_min: float = 0.0) -> float:
    """CosineAnnealingWarmRestarts (SGDR, Loshchilov & Hutter 2017).

    lr = η_min + (base_lr − η_min)(1 + cos(π T_cur / T_i))/2 with (T_cur, T_i) from
    :func:`warm_restart_position`.
    """
    t_cur, t_i = warm_restart_position(step, T_0, T_mult)
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


def _cyclic_position(step: int, step_size_up: float, step_size_down: float | None
                     ) -> tuple[int, float]:
    """(cycle number from 1, height in [0, 1]) of a triangular cycle."""
    down = step_size_up if step_size_down is None else step_size_down
    total = step_size_up + down
    ratio = step_size_up / total
    cycle = math.floor(1 + step / total)
    x = 1.0 + step / total - cycle
    height = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    return cycle, height


def _cyclic_scale(step: int, cycle: int, mode: str, gamma: float,
                  scale_fn: Callable[[float], float] | None, scale_mode: str) -> float:
    if scale_fn is None:
        if mode == "triangular":
            return 1.0
        if mode == "triangular2":
            return 1 / 2.0 ** (cycle - 1)
        return gamma**step  # exp_range scales by iterations
    return scale_fn(cycle if scale_mode == "cycle" else step)


def cyclic(step: int, base_lr: float, max_lr: float, step_size_up: float = 2000,
           step_size_down: float | None = None, mode: str = "triangular", gamma: float = 1.0,
           scale_fn: Callable[[float], float] | None = None,
           scale_mode: str = "cycle") -> float:
    """CyclicLR (Smith 2017): lr = base_lr + (max_lr − base_lr) · h(step) · scale.

    h rises linearly from 0 to 1 over ``step_size_up`` steps and falls back over
    ``step_size_down``; scale is 1 (triangular), 1/2^(cycle−1) (triangular2), γ^step
    (exp_range) or ``scale_fn``.
    """
    cycle, h = _cyclic_position(step, step_size_up, step_size_down)
    return base_lr + (max_lr - base_lr) * h * _cyclic_scale(step, cycle, mode, gamma, scale_fn,
                                                            scale_mode)


def cyclic_momentum(step: int, base_momentum: float, max_momentum: float,
                    step_size_up: float = 2000, step_size_down: float | None = None,
                    mode: str = "triangular", gamma: float = 1.0,
                    scale_fn: Callable[[float], float] | None = None,
                    scale_mode: str = "cycle") -> float:
    """CyclicLR's momentum: the mirror image, max_momentum − (max − base) · h · scale."""
    cycle, h = _cyclic_position(step, step_size_up, step_size_down)
    return max_momentum - (max_momentum - base_momentum) * h * _cyclic_scale(
        step, cycle, mode, gamma, scale_fn, scale_mode)


def _anneal(start: float, end: float, pct: float, strategy: str) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def _one_cycle_phases(total_steps: int, pct_start: float, three_phase: bool
                      ) -> list[tuple[float, int, int]]:
    """(end_step, start key, end key) per phase; keys index (initial, max, min) values."""
    if three_phase:
        return [(float(pct_start * total_steps) - 1, 0, 1),
                (float(2 * pct_start * total_steps) - 2, 1, 0),
                (total_steps - 1, 0, 2)]
    return [(float(pct_start * total_steps) - 1, 0, 1), (total_steps - 1, 1, 2)]


def _one_cycle_value(step: int, values: tuple[float, float, float], total_steps: int,
                     pct_start: float, anneal_strategy: str, three_phase: bool) -> float:
    start = 0.0
    phases = _one_cycle_phases(total_steps, pct_start, three_phase)
    for i, (end, a, b) in enumerate(phases):
        if step <= end or i == len(phases) - 1:
            return _anneal(values[a], values[b], (step - start) / (end - start), anneal_strategy)
        start = end
    raise AssertionError("unreachable: the last phase always matches")


def one_cycle(step: int, max_lr: float, total_steps: int, pct_start: float = 0.3,
              anneal_strategy: str = "cos", div_factor: float = 25.0,
              final_div_factor: float = 1e4, three_phase: bool = False) -> float:
    """OneCycleLR (Smith & Topin 2019): warm up from max_lr/div_factor to max_lr over
    pct_start of the steps, then anneal to max_lr/(div_factor·final_div_factor)."""
    initial = max_lr / div_factor
    values = (initial, max_lr, initial / final_div_factor)
    return _one_cycle_value(step, values, total_steps, pct_start, anneal_strategy, three_phase)


def one_cycle_momentum(step: int, total_steps: int, base_momentum: float = 0.85,
                       max_momentum: float = 0.95, pct_start: float = 0.3,
                       anneal_strategy: str = "cos", three_phase: bool = False) -> float:
    """OneCycleLR's momentum: max → base while the lr warms up, then back to max."""
    values = (max_momentum, base_momentum, max_momentum)
    return _one_cycle_value(step, values, total_steps, pct_start, anneal_strategy, three_phase)


def warmup_cosine(step: int, base_lr: float, warmup_steps: int, total_steps: int,
                  eta_min: float = 0.0) -> float:
    """Linear warm-up from 0 to base_lr over ``warmup_steps``, then cosine decay to eta_min at
    ``total_steps`` (a common recipe; use with ``LambdaLR``)."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    return cosine(min(step - warmup_steps, span), base_lr, span, eta_min)
