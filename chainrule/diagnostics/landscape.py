"""Loss-landscape slices with filter-normalised random directions (Li et al. 2018), and plots.

A slice evaluates L(θ + α d₁) on a line, or L(θ + α d₁ + β d₂) on a grid, around the current
parameters θ. Random Gaussian directions are meaningless across scale-invariant networks unless
rescaled, so each *filter* of the direction (a row of a linear weight, an output channel of a
conv kernel: index 0 of a parameter with ≥ 2 dims) is rescaled to the norm of the matching filter
of θ:

    d_i ← d_i / ‖d_i‖ · ‖θ_i‖

One-dimensional parameters (biases, norm scales) get a zero direction, as in the paper, unless
``include_1d`` (then rescaled as one filter). The parameters are restored bit for bit afterwards.
Plots are written as PNG files with matplotlib's Agg backend, imported only when plotting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autograd.engine import no_grad
from chainrule.diagnostics.curvature import as_rng
from chainrule.diagnostics.finding import paused
from chainrule.diagnostics.normalization import eval_mode
from chainrule.diagnostics.plots import pyplot, save_figure

__all__ = [
    "filter_normalized_direction", "interpolation_direction", "model_loss", "slice_1d",
    "slice_2d", "Slice1D", "Slice2D", "landscape_1d", "landscape_2d", "grid_local_minima",
    "plot_slice_1d", "plot_slice_2d",
]


def _params(model_or_params: Any) -> list[Any]:
    ps = model_or_params.parameters() if hasattr(model_or_params, "parameters") else \
        model_or_params
    return [p for p in ps if getattr(p, "requires_grad", True)]


def filter_normalized_direction(model_or_params: Any, generator: Any = None, *,
                                include_1d: bool = False) -> list[np.ndarray]:
    """A random Gaussian direction, one array per parameter, rescaled filter by filter."""
    rng = as_rng(generator)
    out = []
    for p in _params(model_or_params):
        w = p._array.astype(np.float64)
        d = rng.standard_normal(w.shape)
        if w.ndim >= 2:
            axes = tuple(range(1, w.ndim))
            dn = np.sqrt((d * d).sum(axis=axes, keepdims=True))
            wn = np.sqrt((w * w).sum(axis=axes, keepdims=True))
            d = d / np.where(dn > 0, dn, 1.0) * wn
        elif include_1d:
            dn = np.linalg.norm(d)
            d = d / (dn if dn > 0 else 1.0) * np.linalg.norm(w)
        else:
            d = np.zeros_like(w)
        out.append(d)
    return out


def interpolation_direction(start: Any, end: Any) -> list[np.ndarray]:
    """θ_end − θ_start per parameter (a 1-D slice along it with α ∈ [0, 1] interpolates)."""
    a, b = _params(start), _params(end)
    if len(a) != len(b):
        raise ValueError(f"interpolation_direction: {len(a)} parameters vs {len(b)}")
    return [np.asarray(getattr(q, "_array", q), np.float64) - np.asarray(getattr(p, "_array", p),
                                                                       np.float64)
            for p, q in zip(a, b)]


def model_loss(model: Any, criterion: Callable[[Any, Any], Any], inputs: Any,
               targets: Any = None, *, train_mode: bool = False) -> Callable[[], float]:
    """A closure returning ``criterion(model(inputs), targets)`` as a float, without a graph and
    (unless ``train_mode``) in eval mode."""
    def loss() -> float:
        with no_grad():
            if train_mode:
                return float(criterion(model(inputs), targets)._array)
            with eval_mode(model):
                return float(criterion(model(inputs), targets)._array)
    return loss


def _loss_value(v: Any) -> float:
    return float(getattr(v, "_array", v))


@dataclass
class Slice1D:
    """L(θ + α d) for each α."""

    alphas: np.ndarray
    losses: np.ndarray

    @property
    def center_loss(self) -> float:
        return float(np.interp(0.0, self.alphas, self.losses))


@dataclass
class Slice2D:
    """L(θ + α d₁ + β d₂) on a grid: ``losses[i, j]`` at (α_j, β_i)."""

    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray


def _evaluate(loss_fn: Callable[[], Any], params: Sequence[Any],
              directions: Sequence[Sequence[np.ndarray]], coords: np.ndarray) -> np.ndarray:
    """Loss at θ + Σ_k c_k d_k for each row c of ``coords``; θ restored after."""
    for dirs in directions:
        if len(dirs) != len(params):
            raise ValueError(f"landscape: a direction has {len(dirs)} arrays for "
                             f"{len(params)} parameters")
        for p, d in zip(params, dirs):
            if tuple(np.shape(d)) != tuple(p.shape):
                raise ValueError(f"landscape: direction of shape {np.shape(d)} for a parameter "
                                 f"of shape {tuple(p.shape)}")
    theta0 = [p._array.copy() for p in params]
    out = np.empty(len(coords))
    try:
        with paused(), no_grad():
            for i, c in enumerate(coords):
                for k, p in enumerate(params):
                    step = theta0[k].astype(np.float64)
                    for ck, dirs in zip(c, directions):
                        step = step + ck * dirs[k]
                    np.copyto(p._array, step, casting="unsafe")
                out[i] = _loss_value(loss_fn())
    finally:
        for p, t in zip(params, theta0):
            np.copyto(p._array, t)
            p._bump_version()
    return out


def slice_1d(loss_fn: Callable[[], Any], params: Any, direction: Sequence[np.ndarray],
             alphas: Sequence[float] | np.ndarray | None = None) -> Slice1D:
    """L(θ + α d) for each α (default 21 points on [−1, 1]; ``params``: a model or its
    parameter list)."""
    ps = _params(params)
    a = np.linspace(-1.0, 1.0, 21) if alphas is None else np.asarray(alphas, dtype=np.float64)
    return Slice1D(a, _evaluate(loss_fn, ps, [direction], a[:, None]))


def slice_2d(loss_fn: Callable[[], Any], params: Any, d1: Sequence[np.ndarray],
             d2: Sequence[np.ndarray],
             alphas: Sequence[float] | np.ndarray | None = None,
             betas: Sequence[float] | np.ndarray | None = None) -> Slice2D:
    """L(θ + α d₁ + β d₂) on the grid alphas × betas (alphas default to 11 points on [−1, 1],
    betas to alphas)."""
    ps = _params(params)
    a = np.linspace(-1.0, 1.0, 11) if alphas is None else np.asarray(alphas, dtype=np.float64)
    b = a if betas is None else np.asarray(betas, dtype=np.float64)
    bb, aa = np.meshgrid(b, a, indexing="ij")
    coords = np.stack([aa.ravel(), bb.ravel()], axis=1)
    losses = _evaluate(loss_fn, ps, [d1, d2], coords).reshape(b.size, a.size)
    return Slice2D(a, b, losses)


def landscape_1d(model: Any, criterion: Callable[[Any, Any], Any], inputs: Any,
                 targets: Any = None, *, generator: Any = None, span: float = 1.0,
                 steps: int = 21) -> Slice1D:
    """A 1-D slice along one filter-normalised random direction, α ∈ [−span, span]."""
    d = filter_normalized_direction(model, generator)
    return slice_1d(model_loss(model, criterion, inputs, targets), model, d,
                    np.linspace(-span, span, steps))


def landscape_2d(model: Any, criterion: Callable[[Any, Any], Any], inputs: Any,
                 targets: Any = None, *, generator: Any = None, span: float = 1.0,
                 steps: int = 11) -> Slice2D:
    """A 2-D slice along two filter-normalised random directions (Li et al.'s contour plots)."""
    rng = as_rng(generator)
    d1 = filter_normalized_direction(model, rng)
    d2 = filter_normalized_direction(model, rng)
    return slice_2d(model_loss(model, criterion, inputs, targets), model, d1, d2,
                    np.linspace(-span, span, steps))


def grid_local_minima(losses: np.ndarray) -> int:
    """Number of grid points strictly below all their (up to 8) neighbours: a basin has 1."""
    z = np.asarray(losses, dtype=np.float64)
    pad = np.pad(z, 1, constant_values=np.inf)
    is_min = np.ones_like(z, dtype=bool)
    rows, cols = z.shape
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                nb = pad[1 + di:1 + di + rows, 1 + dj:1 + dj + cols]
                is_min &= z < nb
    return int(is_min.sum())


def plot_slice_1d(sl: Slice1D | Sequence[Slice1D], path: str | Path, *, title: str = "",
                  labels: Sequence[str] | None = None, log: bool = False) -> str:
    """Loss against α for one or several slices; writes a PNG and returns its path."""
    plt = pyplot()
    slices = [sl] if isinstance(sl, Slice1D) else list(sl)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, s in enumerate(slices):
        ax.plot(s.alphas, s.losses, marker=".", label=labels[i] if labels else None)
    ax.set_xlabel("α (filter-normalised direction)")
    ax.set_ylabel("loss")
    if log:
        ax.set_yscale("log")
    if labels:
        ax.legend()
    ax.set_title(title)
    return save_figure(fig, path)


def plot_slice_2d(sl: Slice2D, path: str | Path, *, title: str = "", levels: int = 20,
                  log: bool = True) -> str:
    """Contour plot of a 2-D slice (log-spaced levels of the loss by default); writes a PNG."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    z = sl.losses
    if log and np.all(z > 0):
        lv = np.geomspace(z.min(), z.max(), levels) if z.max() > z.min() else levels
    else:
        lv = levels
    cs = ax.contour(sl.alphas, sl.betas, z, levels=lv)
    ax.clabel(cs, inline=True, fontsize=6, fmt="%.3g")
    ax.plot([0], [0], "k+")
    ax.set_xlabel("α (d₁)")
    ax.set_ylabel("β (d₂)")
    ax.set_title(title)
    return save_figure(fig, path)
