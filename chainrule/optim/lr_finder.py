"""The learning-rate range test (Smith 2017; popularised by fastai) — beyond PyTorch.

The lr grows exponentially from ``start_lr`` to ``end_lr`` over ``num_iter`` training steps
while the (exponentially smoothed) loss is recorded. The loss first stalls (lr too small),
then falls fastest, then diverges (lr too large); a good lr lies on the steepest descent part.
The model and the optimizer are restored afterwards, so the test leaves no trace.

Example::

    result = lr_finder.find_lr(model, opt, loss_fn, loader, start_lr=1e-6, end_lr=1.0)
    result.suggestion                 # an lr well inside the falling part of the loss curve
    result.plot().figure.savefig("lr_range.png")
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chainrule.backend import xp
from chainrule.optim.optimizer import Optimizer

__all__ = ["LRFinderResult", "range_test", "find_lr", "valley", "steepest"]


@dataclass
class LRFinderResult:
    """The outcome of a range test: the lrs tried and the losses they gave."""

    lrs: list[float]
    losses: list[float]  # smoothed (bias-corrected exponential moving average)
    raw_losses: list[float] = field(default_factory=list)
    suggestion: float = math.nan  # see ``valley`` / ``steepest``
    lr_at_min_loss: float = math.nan  # lr of the lowest smoothed loss
    diverged: bool = False

    def plot(self, ax: Any = None) -> Any:
        """Loss against lr on a log axis, the suggestion marked (matplotlib, Agg)."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(self.lrs, self.losses, label="smoothed loss")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        if math.isfinite(self.suggestion):
            ax.axvline(self.suggestion, color="C3", ls="--",
                       label=f"suggestion {self.suggestion:.2e}")
        ax.legend()
        return ax


def steepest(lrs: list[float], losses: list[float]) -> float:
    """The lr at the most negative slope d loss / d log(lr), ignoring the first and last 10%."""
    if len(losses) < 3:
        return lrs[int(xp.argmin(losses))] if losses else math.nan
    skip = max(1, len(losses) // 10)
    ls = xp.asarray(losses[skip: len(losses) - skip] or losses, dtype=float)
    lr = xp.asarray(lrs[skip: len(lrs) - skip] or lrs, dtype=float)
    if ls.size < 2:
        return float(lr[0])
    slope = xp.gradient(ls, xp.log(lr))
    return float(lr[int(xp.argmin(slope))])


def valley(lrs: list[float], losses: list[float]) -> float:
    """An lr two thirds of the way along the longest decreasing run of the loss curve.

    The run is the longest subsequence of steps along which the smoothed loss keeps falling
    (O(n²) dynamic programming); unlike the single steepest point it is not fooled by a noisy
    drop among the first, tiny learning rates (fastai's "valley" idea).
    """
    n = len(losses)
    if n == 0:
        return math.nan
    length = [1] * n
    for i in range(n):
        for j in range(i):
            if losses[i] < losses[j] and length[j] + 1 > length[i]:
                length[i] = length[j] + 1
    end = int(xp.argmax(length))
    start = end
    # walk back to the first step of that run
    need = length[end] - 1
    for j in range(end - 1, -1, -1):
        if need and length[j] == need and losses[j] > losses[start]:
            start, need = j, need - 1
    return float(lrs[start + (2 * (end - start)) // 3])


def range_test(optimizer: Optimizer, step_fn: Callable[[], Any], start_lr: float = 1e-7,
               end_lr: float = 10.0, num_iter: int = 100, smooth: float = 0.9,
               diverge_threshold: float = 5.0, model: Any = None,
               suggest: str = "valley") -> LRFinderResult:
    """Run the range test with ``step_fn`` doing one training step and returning its loss.

    At step i every group's lr is start_lr·(end_lr/start_lr)^(i/(num_iter−1)). The smoothed
    loss is s_i = (β a_{i−1} + (1 − β) loss_i)/(1 − β^{i+1}); the test stops early once s_i
    exceeds ``diverge_threshold`` × the best so far (or is not finite). The parameters, the
    optimizer state (and the model's buffers when ``model`` is given) are restored at the end.
    ``suggest`` picks the suggestion rule: ``"valley"`` (:func:`valley`) or ``"steepest"``.
    """
    if suggest not in ("valley", "steepest"):
        raise ValueError(f"range_test: suggest must be 'valley' or 'steepest', got {suggest!r}")
    if not 0 < start_lr < end_lr:
        raise ValueError(f"range_test: need 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    if num_iter < 2:
        raise ValueError(f"range_test: num_iter must be >= 2, got {num_iter}")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    saved_params = [p._array.copy() for p in params]
    saved_grads = [None if p.grad is None else p.grad._array.copy() for p in params]
    saved_opt = copy.deepcopy(optimizer.state_dict())
    saved_model = ({k: v._array.copy() for k, v in model.state_dict().items()}
                   if model is not None else None)
    lrs: list[float] = []
    losses: list[float] = []
    raw: list[float] = []
    avg, best, diverged = 0.0, math.inf, False
    ratio = end_lr / start_lr
    try:
        for i in range(num_iter):
            lr = float(start_lr * ratio ** (i / (num_iter - 1)))
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = float(step_fn())
            avg = smooth * avg + (1 - smooth) * loss
            smoothed = avg / (1 - smooth ** (i + 1))
            lrs.append(lr)
            raw.append(loss)
            losses.append(smoothed)
            best = min(best, smoothed)
            if not math.isfinite(smoothed) or smoothed > diverge_threshold * best:
                diverged = True
                break
    finally:
        _restore(params, saved_params, saved_grads, optimizer, saved_opt, model, saved_model)
    finite = [(lr, s) for lr, s in zip(lrs, losses) if math.isfinite(s)]
    ok_lrs, ok_losses = [a for a, _ in finite], [b for _, b in finite]
    if diverged and len(ok_losses) > 1:  # the diverging tail says nothing about the slope
        ok_lrs, ok_losses = ok_lrs[:-1], ok_losses[:-1]
    at_min = ok_lrs[int(xp.argmin(ok_losses))] if ok_losses else math.nan
    return LRFinderResult(lrs=lrs, losses=losses, raw_losses=raw,
                          suggestion=(valley if suggest == "valley" else steepest)(ok_lrs,
                                                                                   ok_losses),
                          lr_at_min_loss=at_min,
                          diverged=diverged)


def _restore(params: list, saved_params: list, saved_grads: list, optimizer: Optimizer,
             saved_opt: dict, model: Any, saved_model: dict | None) -> None:
    from chainrule.tensor import _wrap

    for p, data, grad in zip(params, saved_params, saved_grads):
        xp.copyto(p._array, data)
        p._bump_version()
        p.grad = None if grad is None else _wrap(grad)
    optimizer.load_state_dict(saved_opt)
    if model is not None and saved_model is not None:
        for k, v in model.state_dict().items():
            xp.copyto(v._array, saved_model[k])


def find_lr(model: Any, optimizer: Optimizer, loss_fn: Callable[[Any, Any], Any],
            data: Iterable[tuple[Any, Any]], start_lr: float = 1e-7, end_lr: float = 10.0,
            num_iter: int = 100, smooth: float = 0.9, diverge_threshold: float = 5.0,
            suggest: str = "valley") -> LRFinderResult:
    """Range test of ``model`` trained by ``optimizer`` on batches ``(input, target)`` of
    ``data`` (cycled if shorter than ``num_iter``) with ``loss_fn(output, target)``."""
    batches = iter(data)

    def next_batch() -> tuple[Any, Any]:
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:
            batches = iter(data)
            return next(batches)

    def step() -> float:
        x, y = next_batch()
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss)

    return range_test(optimizer, step, start_lr, end_lr, num_iter, smooth, diverge_threshold,
                      model=model, suggest=suggest)
