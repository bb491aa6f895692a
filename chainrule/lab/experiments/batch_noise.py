"""SGD with batch 1 / B / N and the gradient noise scale (E1b; McCandlish et al. 2018).

The note contrasts SGD (one example per step) with batch gradient descent (all of them). The
empirical model of large-batch training says where between the two the trade-off turns: with
per-example gradients gᵢ of the loss, true gradient G and per-example covariance Σ, the
*simple noise scale*

    B_simple = tr Σ / ‖G‖²

is the batch size at which the mini-batch gradient's noise (tr Σ / B) equals its signal
(‖G‖²). With each batch size at its own best learning rate, the steps and examples needed to
reach a fixed loss follow

    S(B) = S_min (1 + B_crit / B),      E(B) = B · S(B) = E_min (1 + B / B_crit),

so below the critical batch B_crit = E_min / S_min the steps fall ~linearly with B (examples
barely grow) and above it the examples grow ~linearly (steps barely fall); the paper finds
B_crit ≈ B_noise, estimated by B_simple.

Measured here: a ReLU MLP on the digits' fit split, plain SGD at batch 1 … ~N, each batch
size at the learning rate that reaches the target validation loss in the fewest steps on the
tuning seeds; steps to the target on the validation split (evaluated after every step);
B_crit fitted per seed to S(B); B_simple per seed averaged over five points of the largest
batch's path to the target (the model's B_crit is the step average of B_noise along the
path), each from per-example gradients (``chainrule.func.vmap`` of ``chainrule.func.grad``,
via :mod:`chainrule.diagnostics.gradient_noise`) for tr Σ and the exact fit-split gradient
for ‖G‖² (the fit split is the population SGD samples from). B_simple takes the Hessian as
isotropic; the paper's B_noise = tr(HΣ)/(GᵀHG) does not, so the two can differ when the
gradient points along sharp directions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.lab import common
from chainrule.lab import verdict as V
from chainrule.lab.experiment import Context, Experiment, Result, register
from chainrule.lab.experiments import _tuning
from chainrule.lab.verdict import fmt, mean_std, table_row

__all__ = ["E1bBatchNoiseScale", "steps_to_target", "noise_scale", "fit_critical_batch",
           "per_example_check"]

F = nn.functional
# learning-rate grid per batch size (factor 2); _tuning widens it when the best is on an edge
_LR_GRID = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
_DIVERGED = 10.0  # a validation loss above this (or NaN) ends a run: the lr is unstable
_NOISE_EXAMPLES = 128  # per-example gradients for tr Σ per point (an unbiased sample estimate)
_PATH_POINTS = 5  # points of the largest batch's path where B_simple is measured


def _mlp(d_in: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def _val_loss(model: nn.Module, xv: Any, yv: Any) -> float:
    with cr.no_grad():
        return float(F.cross_entropy(model(xv), yv).item())


def steps_to_target(build: Callable[[], nn.Module], seed: int, batch: int, lr: float,
                    data: tuple[np.ndarray, ...], target: float, cap: int,
                    on_step: Callable[[int, nn.Module], None] | None = None
                    ) -> tuple[float, nn.Module]:
    """Plain SGD at ``batch`` and ``lr`` from the init of ``seed``: the number of steps until
    the validation loss is ≤ ``target`` (checked after every step), or ``inf`` when it is not
    reached within ``cap`` steps or the loss diverges. Returns (steps, model at the stop).

    Batches are drawn without replacement within an epoch (a fresh permutation per epoch from
    the seed's own generator), so every batch size sees the same data order per seed.
    ``on_step(step, model)`` sees the model at step 0 and after every step."""
    x, y, xv, yv = data
    if not 1 <= batch <= len(y):
        raise ValueError(f"steps_to_target: batch must be in [1, {len(y)}], got {batch}")
    common.seeded(seed)
    model = build()
    opt = optim.SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    xvt, yvt = cr.from_numpy(xv), cr.from_numpy(yv)
    perm, pos = rng.permutation(len(y)), 0
    if on_step is not None:
        on_step(0, model)
    for step in range(1, cap + 1):
        if pos + batch > len(y):
            perm, pos = rng.permutation(len(y)), 0
        idx = perm[pos:pos + batch]
        pos += batch
        opt.zero_grad()
        F.cross_entropy(model(cr.from_numpy(x[idx])), cr.from_numpy(y[idx])).backward()
        opt.step()
        if on_step is not None:
            on_step(step, model)
        loss = _val_loss(model, xvt, yvt)
        if loss <= target:
            return float(step), model
        if not loss < _DIVERGED:
            break
    return float("inf"), model


def noise_scale(model: nn.Module, x: np.ndarray, y: np.ndarray, n_examples: int,
                seed: int) -> dict[str, float]:
    """B_simple = tr Σ / ‖G‖² of the cross-entropy at the model's parameters, where the
    population is (x, y): tr Σ = 1/(m−1) Σᵢ ‖gᵢ − ḡ‖² over ``n_examples`` examples drawn
    without replacement (per-example gradients by ``vmap(grad(·))``), and G is the exact
    gradient of the mean loss over all of (x, y) (one backward pass)."""
    from chainrule.diagnostics.gradient_noise import per_example_grads

    rng = np.random.default_rng(seed + 7)
    pick = rng.choice(len(y), size=min(n_examples, len(y)), replace=False)
    per = per_example_grads(model, F.cross_entropy, cr.from_numpy(x[pick]),
                            cr.from_numpy(y[pick]))
    g = np.concatenate([t.detach().numpy().reshape(len(pick), -1) for t in per.values()],
                       axis=1).astype(np.float64)
    trace = float(((g - g.mean(0)) ** 2).sum() / (len(pick) - 1))
    for p in model.parameters():
        p.grad = None
    F.cross_entropy(model(cr.from_numpy(x)), cr.from_numpy(y)).backward()
    full = np.concatenate([p.grad.numpy().reshape(-1) for p in model.parameters()]
                          ).astype(np.float64)
    for p in model.parameters():
        p.grad = None
    sq = float(full @ full)
    return {"b_simple": trace / sq, "trace_cov": trace, "grad_sq_norm": sq}


def per_example_check(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Largest relative difference between ``vmap(grad(loss))`` per-example gradients and a
    loop of ordinary backward passes, one example at a time (an implementation check)."""
    from chainrule.diagnostics.gradient_noise import per_example_grads

    per = per_example_grads(model, F.cross_entropy, cr.from_numpy(x), cr.from_numpy(y))
    names = [k for k, _ in model.named_parameters()]
    worst = 0.0
    for i in range(len(y)):
        for p in model.parameters():
            p.grad = None
        F.cross_entropy(model(cr.from_numpy(x[i:i + 1])), cr.from_numpy(y[i:i + 1])).backward()
        for k, p in zip(names, model.parameters()):
            ref = p.grad.numpy().astype(np.float64)
            got = per[k].detach().numpy()[i].astype(np.float64)
            worst = max(worst, float(np.abs(got - ref).max() / (np.abs(ref).max() + 1e-12)))
    for p in model.parameters():
        p.grad = None
    return worst


def fit_critical_batch(batches: np.ndarray, steps: np.ndarray) -> tuple[float, float]:
    """(S_min, B_crit) of S(B) = S_min (1 + B_crit / B), least squares on log S (every batch
    size weighs the same in relative terms); NaN when a step count is not finite."""
    from scipy.optimize import least_squares

    b = np.asarray(batches, dtype=np.float64)
    s = np.asarray(steps, dtype=np.float64)
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        return float("nan"), float("nan")

    def resid(theta: np.ndarray) -> np.ndarray:
        log_smin, log_bcrit = theta
        return np.log(np.exp(log_smin) * (1 + np.exp(log_bcrit) / b)) - np.log(s)

    start = np.array([math.log(s.min()), math.log(float(np.median(b)))])
    sol = least_squares(resid, start)
    return float(np.exp(sol.x[0])), float(np.exp(sol.x[1]))


def _snapshot(path: list[dict[str, Any]], step: int, model: nn.Module) -> None:
    """Append a copy of the model's state (one point of its path) to ``path``."""
    path.append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})


def _slope(xs: np.ndarray, ys: np.ndarray) -> float:
    """Least-squares slope of log ys on log xs (NaN with < 2 finite points)."""
    ok = np.isfinite(ys) & (ys > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs[ok]), np.log(ys[ok]), 1)[0])


def _side(batches: np.ndarray, b_simple: float, below: bool) -> np.ndarray:
    """The batch sizes ≤ B_simple (``below``) or ≥ B_simple, at least the two at that end."""
    pick = batches <= b_simple if below else batches >= b_simple
    if pick.sum() < 2:
        pick = np.zeros(len(batches), bool)
        if below:
            pick[:2] = True
        else:
            pick[-2:] = True
    return pick


@register
class E1bBatchNoiseScale(Experiment):
    id = "E1b"
    title = "SGD with batch 1 / B / N: steps and examples to a target vs the gradient noise scale"
    claim = ("SGD (one example per step) vs batch gradient descent (all examples per step): "
             "[the note contrasts the two extremes; where between them the trade-off turns "
             "is set by the gradient noise scale]")
    expected = ("below B_noise the steps to a target fall ~linearly with the batch; above it "
                "the examples seen grow; the critical batch size B_crit = E_min/S_min ≈ "
                "B_noise (estimated by B_simple = tr Σ/‖G‖²)")
    source = "McCandlish, Kaplan, Amodei et al. 2018 (An Empirical Model of Large-Batch Training)"
    arms = ("plain SGD at batch 1, 4, 16, 64, 256, 1024, each at its tuned lr",)
    metrics = ("steps and examples to the target validation loss", "B_crit fitted per seed",
               "B_simple = tr Σ/‖G‖² from per-example gradients")

    hidden = 32

    def run(self, ctx: Context) -> Result:
        x_all, y_all, _, _ = ctx.dataset("digits")
        x, y, xv, yv = _tuning.validation_split(x_all, y_all)
        data = (x, y, xv, yv)
        batches = ((1, 16, 256, 1024) if ctx.tiny else (1, 4, 16, 64, 256, 1024))
        batches = tuple(min(b, len(y)) for b in batches)
        target = 2.0 if ctx.tiny else 1.0
        cap = ctx.budget(full=6000, quick=3000, tiny=400)
        d_in, classes = x.shape[1], int(y_all.max()) + 1

        def build() -> nn.Module:
            return _mlp(d_in, self.hidden, classes)

        tuning: list[dict[str, Any]] = []
        lrs: dict[int, float] = {}
        for b in batches:
            def score(lr: float, seed: int, b: int = b) -> float:
                return steps_to_target(build, seed, b, lr, data, target, cap)[0]

            lrs[b], rec = _tuning.choose(ctx, self.id, f"batch {b}", "lr", _LR_GRID, score,
                                         metric=f"steps to validation loss ≤ {target:g}",
                                         bounds=(1e-4, 50.0))
            tuning.append(rec)
        steps = np.full((len(ctx.seeds), len(batches)), np.nan)
        noise: list[dict[str, float]] = []
        check = 0.0
        m_noise = 32 if ctx.tiny else _NOISE_EXAMPLES
        for i, seed in enumerate(ctx.seeds):
            path: list[dict[str, Any]] = []
            for j, b in enumerate(batches):
                # the largest batch (nearly the deterministic path): keep its parameters
                keep = (functools.partial(_snapshot, path) if b == batches[-1] else None)
                steps[i, j], model = steps_to_target(build, seed, b, lrs[b], data, target, cap,
                                                     on_step=keep)
            noise.append(self._path_noise(build, path, x, y, m_noise, seed))
            if i == 0:
                check = per_example_check(model, x[:8], y[:8])
        return self._report(ctx, np.asarray(batches), steps, noise, check, lrs, tuning,
                            target, cap, len(y))

    @staticmethod
    def _path_noise(build: Callable[[], nn.Module], path: list[dict[str, Any]], x: np.ndarray,
                    y: np.ndarray, m: int, seed: int, points: int = _PATH_POINTS
                    ) -> dict[str, float]:
        """B_simple averaged over ``points`` evenly spaced steps (start and end included) of
        the largest batch's path to the target. In the paper's model each step costs
        1 + B_noise(t)/B steps of the ideal, noise-free optimizer, so S(B) = S_min + E_min/B
        with E_min = Σ_t B_noise(t): B_crit is the *step average* of the noise scale along
        the path, not its value at one point."""
        model = build()
        at = np.unique(np.linspace(0, len(path) - 1, points).round().astype(int))
        rows = []
        for k in at:
            model.load_state_dict({n: cr.from_numpy(v) for n, v in path[k].items()})
            rows.append(noise_scale(model, x, y, m, seed + int(k)))
        out = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
        out["b_simple_start"], out["b_simple_end"] = rows[0]["b_simple"], rows[-1]["b_simple"]
        return out

    def _report(self, ctx: Context, batches: np.ndarray, steps: np.ndarray,
                noise: list[dict[str, float]], check: float, lrs: dict[int, float],
                tuning: list[dict[str, Any]], target: float, cap: int, n_fit: int) -> Result:
        examples = steps * batches[None, :]
        b_simple = np.array([n["b_simple"] for n in noise])
        fits = [fit_critical_batch(batches, s) for s in steps]
        s_min = np.array([f[0] for f in fits])
        b_crit = np.array([f[1] for f in fits])
        slope_steps = [-_slope(batches[_side(batches, bs, True)], s[_side(batches, bs, True)])
                       for s, bs in zip(steps, b_simple)]
        slope_ex = [_slope(batches[_side(batches, bs, False)], e[_side(batches, bs, False)])
                    for e, bs in zip(examples, b_simple)]
        # "≈" read as "within an order of magnitude": the noise scale is offered as a rough
        # predictor, and B_simple takes the Hessian as isotropic (see the module docstring)
        tol = 1.0
        parts = [
            _tuning.equivalence(
                "critical batch size ≈ B_noise (B_simple)",
                "B_crit = E_min/S_min fitted to the steps-to-target curve lies within a factor "
                "of 10 of B_simple = tr Σ/‖G‖² averaged along the path to the target",
                list(np.log10(b_crit)), list(np.log10(b_simple)), tol,
                metric="log10 batch size", arms=("B_crit", "B_simple")),
            *[V.one_sample(name, f"over the batch sizes {side} B_simple, {what} > 0.5 "
                           f"({ends})", slopes, reference=0.5, floor=0.0,
                           metric=f"{what}, batches {side} B_simple",
                           arms=(f"batch {side} B_simple",))
              for name, side, what, ends, slopes in (
                  ("below B_noise, steps fall ~linearly with batch", "≤",
                   "−d log(steps)/d log(batch)", "1 = linear scaling, 0 = no gain", slope_steps),
                  ("above B_noise, examples seen grow with batch", "≥",
                   "d log(examples)/d log(batch)", "1 = no step saved, 0 = linear speed-up",
                   slope_ex))],
            V.verified(
                "per-example gradients (vmap∘grad) equal one backward pass per example",
                "chainrule.func.vmap(chainrule.func.grad(loss)) against a loop of ordinary "
                "backward passes on 8 examples (an implementation property)", check < 1e-5,
                detail=f"max relative difference {check:.1e}"),
        ]
        table = [table_row(f"batch {b}", lr=lrs[int(b)], steps_to_target=list(steps[:, j]),
                           examples_to_target=list(examples[:, j]))
                 for j, b in enumerate(batches)]
        table.append(table_row("fit S(B) = S_min(1 + B_crit/B)", S_min=list(s_min),
                               B_crit=list(b_crit), B_simple=list(b_simple)))
        plots = [self._plot(ctx, batches, steps, examples, s_min, b_crit, b_simple)]
        summary = (f"steps to validation loss ≤ {target:g}: "
                   + ", ".join(f"B={b}: {fmt(steps[:, j])}" for j, b in enumerate(batches))
                   + f"; fitted B_crit {fmt(b_crit)} vs B_simple {fmt(b_simple)} "
                     f"(ratio B_crit/B_simple {fmt(b_crit / b_simple)}); per-example gradients "
                     f"match backward passes to {check:.0e}")
        numbers = {
            "batches": batches.tolist(), "lr_per_batch": {str(k): v for k, v in lrs.items()},
            "steps_to_target": {str(b): mean_std(steps[:, j]) for j, b in enumerate(batches)},
            "examples_to_target": {str(b): mean_std(examples[:, j])
                                   for j, b in enumerate(batches)},
            "b_crit": mean_std(b_crit), "s_min": mean_std(s_min), "b_simple": mean_std(b_simple),
            "trace_cov": mean_std([n["trace_cov"] for n in noise]),
            "grad_sq_norm": mean_std([n["grad_sq_norm"] for n in noise]),
            "b_simple_at_start": mean_std([n["b_simple_start"] for n in noise]),
            "b_simple_at_target": mean_std([n["b_simple_end"] for n in noise]),
            "per_example_vs_loop_max_rel_diff": check,
        }
        return self.result(ctx, summary=summary, parts=parts, numbers=numbers, table=table,
                           plots=plots, tuning=tuning,
                           budget={"target_validation_loss": target, "step_cap": cap,
                                   "mlp": f"64-{self.hidden}-10 ReLU", "optimizer": "plain SGD",
                                   "noise_examples": _NOISE_EXAMPLES,
                                   "data": f"digits: fit {n_fit} / validation 20 % of the "
                                           "training split"})

    def _plot(self, ctx: Context, batches: np.ndarray, steps: np.ndarray, examples: np.ndarray,
              s_min: np.ndarray, b_crit: np.ndarray, b_simple: np.ndarray) -> str:
        plt = common.pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), dpi=100)
        n = steps.shape[0]
        grid = np.geomspace(batches[0], batches[-1], 100)
        sm, bc = float(np.nanmean(s_min)), float(np.nanmean(b_crit))
        for ax, arr, name, model in ((axes[0], steps, "steps", sm * (1 + bc / grid)),
                                     (axes[1], examples, "examples", sm * (grid + bc))):
            m, lo, hi = common.t_band(arr)
            ax.errorbar(batches, m, yerr=[m - lo, hi - m], fmt="o",
                        label=f"{name} to the target")
            if np.isfinite(sm) and np.isfinite(bc):
                ax.plot(grid, model, "k--", lw=1, label="S_min(1 + B_crit/B) fit" if
                        name == "steps" else "S_min(B + B_crit) fit")
            for val, style, lab in ((bc, ":", "B_crit (fit)"),
                                    (float(np.mean(b_simple)), "-", "B_simple = trΣ/‖G‖²")):
                if np.isfinite(val):
                    ax.axvline(val, color="r" if style == "-" else "g", ls=style, lw=1,
                               label=lab)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("batch size")
            ax.set_ylabel(f"{name} to the target")
            ax.set_title(f"{name}: {common.band_label(n)}", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.91, wspace=0.28)
        path = ctx.path("e1b_batch_noise.png")
        fig.savefig(path)
        plt.close(fig)
        return path
