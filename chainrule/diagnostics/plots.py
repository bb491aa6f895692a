"""PNG plots of a monitor's history and of fit curves (matplotlib Agg, imported lazily).

Each function writes one file and returns its path, or None when there is nothing to draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.diagnostics.kinds import SATURATING

__all__ = ["pyplot", "save_figure", "plot_grad_norms", "plot_activation_std",
           "plot_unit_health", "plot_fit_curves", "plot_histograms", "plot_spectral_density"]


def pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend (imported on first use)."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> str:
    """Write ``fig`` as a PNG at ``path`` (parents created), close it, return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return str(p)


def plot_grad_norms(diag: Any, path: str | Path) -> str | None:
    """‖∂L/∂W‖ per layer over the recorded steps (log scale), input layers dark."""
    names = list(diag.latest.grad_norms) if diag.latest is not None else []
    if not names or not diag.history:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    cmap = plt.get_cmap("viridis")
    for i, n in enumerate(names):
        steps, vals = diag.series("grad_norm", n)
        if vals.size:
            ax.plot(steps, np.maximum(vals, 1e-30), color=cmap(i / max(1, len(names) - 1)),
                    label=n)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("‖∂L/∂W‖")
    ax.set_title("gradient norm per layer (dark = near the input)")
    ax.legend(fontsize=6, ncol=2)
    return save_figure(fig, path)


def plot_activation_std(diag: Any, path: str | Path) -> str | None:
    """Standard deviation of each activation layer's outputs over the recorded steps."""
    names = [n for n in diag.order if diag.series("std", n)[1].size
             and diag.kinds.get(n) not in ("linear", "conv", "dropout", "other")]
    if not names:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for n in names:
        steps, vals = diag.series("std", n)
        ax.plot(steps, vals, label=f"{n} ({diag.kinds.get(n)})")
    ax.set_xlabel("step")
    ax.set_ylabel("std of outputs")
    ax.set_title("activation spread per layer")
    ax.legend(fontsize=6)
    return save_figure(fig, path)


def plot_unit_health(diag: Any, path: str | Path) -> str | None:
    """Saturation fraction per saturating layer over steps and dead fraction per window
    (one panel for each that applies)."""
    sat = [n for n in diag.order if diag.kinds.get(n) in SATURATING]
    dead = diag.dead_history
    layers = sorted({k for w in dead for k in w["dead_fraction"]})
    panels = (["saturation"] if sat else []) + (["dead"] if layers else [])
    if not panels:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "saturation":
            for n in sat:
                steps, vals = diag.series("saturation", n)
                ax.plot(steps, 100 * vals, label=n)
            ax.set_title("saturated outputs (%)")
            ax.set_xlabel("step")
        else:
            top = 0.0
            for n in layers:
                xs = [i + 1 for i, w in enumerate(dead) if n in w["dead_fraction"]]
                ys = [100 * w["dead_fraction"][n] for w in dead if n in w["dead_fraction"]]
                top = max(top, max(ys))
                ax.plot(xs, ys, marker="o", label=n)
            ax.set_ylim(-0.5, max(5.0, 1.1 * top))
            ax.set_title("dead units per window (%)")
            ax.set_xlabel("epoch")
        ax.legend(fontsize=6)
    return save_figure(fig, path)


def plot_fit_curves(train: Sequence[float], val: Sequence[float], path: str | Path, *,
                    verdict: str = "", xlabel: str = "epoch") -> str | None:
    """Train and validation curves with the fit verdict in the title."""
    if len(train) == 0:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(np.arange(1, len(train) + 1), train, marker=".", label="train")
    if len(val):
        ax.plot(np.arange(1, len(val) + 1), val, marker=".", label="validation")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.set_title(f"fit: {verdict}" if verdict else "fit")
    ax.legend()
    return save_figure(fig, path)


def plot_histograms(record: Any, path: str | Path, kinds: dict[str, str] | None = None,
                    max_layers: int = 8) -> str | None:
    """Histograms of each layer's outputs on one recorded step."""
    acts = [(n, a) for n, a in record.activations.items() if "hist_counts" in a]
    if kinds:
        acts = [(n, a) for n, a in acts if kinds.get(n) not in ("linear", "conv", "other")] \
            or acts
    acts = acts[:max_layers]
    if not acts:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(acts), figsize=(2.2 * len(acts), 2.4), squeeze=False)
    for ax, (n, a) in zip(axes[0], acts):
        edges = np.asarray(a["hist_edges"])
        ax.bar(edges[:-1], a["hist_counts"], width=np.diff(edges), align="edge")
        ax.set_title(f"{n}", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"activations at step {record.step}", fontsize=8)
    return save_figure(fig, path)


def plot_spectral_density(sd: Any, path: str | Path, *, title: str = "",
                          log: bool = True) -> str:
    """The SLQ eigenvalue density of the Hessian (log density by default, as in PyHessian)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    dens = np.maximum(sd.density, 1e-12) if log else sd.density
    ax.plot(sd.grid, dens)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    ax.set_title(title or "Hessian spectral density (SLQ)")
    return save_figure(fig, path)
