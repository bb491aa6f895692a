"""Optimizers and gradient descent: adaptive methods (E1), GD near minima (E2), Newton vs GD
(E5) and why −∇f is the steepest descent (E7).

Three of the note's errors are measured here: AdaGrad accumulates a *sum* of squared gradients
(not a moving average, E1), Newton's method is *second* order (E5), and the negative gradient
is the steepest-descent direction by Cauchy–Schwarz (E7).
"""

from __future__ import annotations

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

__all__ = ["E1AdaptiveOptimizers", "E2GradientDescentNearMinima", "E5Newton",
           "E7SteepestDescent"]


# ---------------------------------------------------------------------------------------------
_GRID: dict[str, tuple[float, ...]] = {
    "sgd": (0.1, 0.3, 1.0),
    "sgd_nesterov": (0.03, 0.1, 0.3),
    "adagrad": (0.03, 0.1, 0.3),
    "rmsprop": (1e-3, 3e-3, 1e-2),
    "adam": (1e-3, 3e-3, 1e-2),
}


def make_optimizer(name: str, params: Any, lr: float, **kw: Any) -> optim.Optimizer:
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name == "sgd_nesterov":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr)
    if name == "adam":
        return optim.Adam(params, lr=lr, **kw)
    raise KeyError(f"unknown optimizer {name!r}")


def bag_of_words(seed: int, n: int = 2000, vocab: int = 500, words: int = 15
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A sparse synthetic text task: word frequencies ∝ 1/rank (Zipf), binary presence
    features, label = sign(x·w* + noise) with w* ~ N(0, 1): most of the signal sits in rare
    words, whose coordinates get few, small gradient updates."""
    rng = np.random.default_rng(1000 + seed)
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    x = np.zeros((n, vocab), np.float32)
    idx = rng.choice(vocab, size=(n, words), p=p)
    x[np.arange(n)[:, None], idx] = 1.0
    w = rng.standard_normal(vocab)
    score = x @ w
    y = (score + 0.3 * score.std() * rng.standard_normal(n) > np.median(score)).astype(np.int64)
    return x, y


def _largest_rise(losses: list[float]) -> float:
    """max_t (loss_t − min_{s<t} loss_s): how far the loss jumps back above its best so far
    (mini-batch noise gives a fraction of a nat; an unstable step gives much more)."""
    v = np.asarray(losses, dtype=np.float64)
    if len(v) < 2:
        return 0.0
    return float(np.max(v[1:] - np.minimum.accumulate(v)[:-1]))


def _final(losses: list[float]) -> float:
    """Mean mini-batch loss over the last fifth of the run (less noisy than the last one)."""
    k = max(1, len(losses) // 5)
    return float(np.mean(losses[-k:]))


@register
class E1AdaptiveOptimizers(Experiment):
    id = "E1"
    title = "AdaGrad, RMSProp, Adam vs SGD: adaptive steps, and AdaGrad's sum"
    claim = ("AdaGrad: adjusts the step size dynamically (stable learning); a moving average "
             "prevents jitter, combining the history of gradients (their direction) to converge "
             "faster. RMSProp: improves the moving-average term. Adam: [empty]")
    expected = ("Adam ≈ tuned SGD-Nesterov > AdaGrad on dense data; AdaGrad ≫ SGD on sparse; "
                "AdaGrad's step → 0, RMSProp's doesn't; no bias correction unstable early. "
                "Note's error: AdaGrad accumulates the SUM of squared gradients, the moving "
                "average is RMSProp's")
    source = "Kingma & Ba 2015; Duchi et al. 2011; Tieleman & Hinton 2012"
    arms = ("sgd", "sgd_nesterov", "adagrad", "rmsprop", "adam", "adam without bias correction")
    metrics = ("training loss at the best lr", "effective step lr/(√s+ε) over time",
               "largest early rise of the loss", "‖AdaGrad state − Σg²‖/‖Σg²‖")

    bc_lr = 1e-2  # the top of Adam's grid: where Kingma & Ba's figure 4 shows the difference

    def run(self, ctx: Context) -> Result:
        x_all, y_all, xt, yt = ctx.dataset("digits" if ctx.tiny else "mnist5k")
        x, y, xv, yv = _tuning.validation_split(x_all, y_all)
        steps = ctx.budget(full=2000, quick=250, tiny=8)
        hidden = 16 if ctx.tiny else 64
        self._tuning: list[dict[str, Any]] = []
        dense = {
            "logistic": self._dense(ctx, "logistic", lambda: nn.Linear(x.shape[1], 10),
                                    (x, y, xv, yv, xt, yt), steps),
            "mlp": self._dense(ctx, "mlp", lambda: nn.Sequential(
                nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 10)),
                (x, y, xv, yv, xt, yt), steps),
        }
        sparse = self._sparse(ctx)
        bias = self._bias_correction(ctx, x, y, hidden)
        return self._report(ctx, dense, sparse, bias, steps, hidden)

    # -- dense data: each method's lr chosen on validation loss (tuning seeds, grid widened
    # until the optimum is inside), then every seed at that lr; test loss reported once --
    def _dense(self, ctx: Context, model_name: str, build: Callable[[], nn.Module],
               data: tuple[np.ndarray, ...], steps: int) -> dict[str, Any]:
        x, y, xv, yv, xt, yt = data
        out: dict[str, Any] = {}
        for name, grid in _GRID.items():
            def score(lr: float, seed: int, name: str = name) -> float:
                model = self._train(seed, build, name, lr, x, y, steps)["model"]
                return common.mean_loss(model, xv, yv)

            best, rec = _tuning.choose(ctx, self.id, f"{model_name} {name}", "lr", grid, score,
                                       metric="validation cross-entropy")
            self._tuning.append(rec)
            runs = [self._train(s, build, name, best, x, y, steps) for s in ctx.seeds]
            out[name] = {"lr": best, "grid": dict(zip(rec["grid"], rec["scores"])),
                         "final": [_final(r["loss"]) for r in runs],
                         "test_loss": [common.mean_loss(r["model"], xt, yt) for r in runs],
                         "test_err": [1 - common.accuracy(r["model"], xt, yt) for r in runs],
                         "curves": [common.smooth(r["loss"], max(1, steps // 25)) for r in runs],
                         "eff_step": [r["eff_step"] for r in runs],
                         "state_err": [r["state_err"] for r in runs]}
        return out

    def _train(self, seed: int, build: Callable[[], nn.Module], name: str, lr: float,
               x: np.ndarray, y: np.ndarray, steps: int) -> dict[str, Any]:
        common.seeded(seed)
        model = build()
        opt = make_optimizer(name, model.parameters(), lr)
        w = next(iter(model.parameters()))  # the first weight matrix
        sum_sq = np.zeros(w.shape, np.float64)
        ema = np.zeros(w.shape, np.float64)  # RMSProp's v = αv + (1 − α)g², α = 0.99
        eff: list[float] = []
        err: list[float] = []

        def after_backward(step: int) -> None:
            g2 = np.square(w.grad._array, dtype=np.float64)
            sum_sq.__iadd__(g2)
            ema.__imul__(0.99)
            ema.__iadd__(0.01 * g2)

        def after_step(step: int) -> None:
            st = opt.state[w]
            acc = st.get("sum", st.get("square_avg"))
            if acc is None:
                return
            seen = sum_sq > 0  # coordinates that ever had a gradient (not blank pixels)
            eff.append(float(np.median(lr / (np.sqrt(acc[seen]) + 1e-10))))
            if name == "adagrad":  # the note's error: the state is the running SUM of g²
                err.append(float(np.linalg.norm(acc - sum_sq) / np.linalg.norm(sum_sq)))
            elif name == "rmsprop":  # ... and the moving average is RMSProp's
                err.append(float(np.linalg.norm(acc - ema) / np.linalg.norm(ema)))

        losses = common.train(model, opt, x, y, steps, 64, seed, after_backward=after_backward,
                              after_step=after_step)
        return {"loss": losses, "eff_step": eff, "state_err": max(err) if err else float("nan"),
                "model": model}

    # -- sparse features: AdaGrad vs SGD, each at its best lr --
    def _sparse(self, ctx: Context) -> dict[str, Any]:
        steps = ctx.budget(full=2000, quick=400, tiny=10)
        grids = {"sgd": (0.3, 1.0, 3.0, 10.0), "adagrad": (0.1, 0.3, 1.0, 3.0)}
        out: dict[str, Any] = {}

        def fit(name: str, lr: float, seed: int) -> tuple[float, np.ndarray]:
            x, y = bag_of_words(seed)
            common.seeded(seed)
            model = nn.Linear(x.shape[1], 2)
            opt = make_optimizer(name, model.parameters(), lr)
            losses = common.train(model, opt, x, y, steps, 32, seed)
            return common.mean_loss(model, x, y), common.smooth(losses, max(1, steps // 25))

        for name, grid in grids.items():
            # the claim is optimisation speed on sparse data: each method's lr minimises the
            # training loss of the tuning seeds' data sets (not the evaluation seeds')
            best, rec = _tuning.choose(ctx, self.id, f"sparse {name}", "lr", grid,
                                       lambda lr, seed, name=name: fit(name, lr, seed)[0],
                                       metric="training cross-entropy (tuning data sets)")
            self._tuning.append(rec)
            runs = [fit(name, best, seed) for seed in ctx.seeds]
            out[name] = {"lr": best, "final": [r[0] for r in runs],
                         "curves": [r[1] for r in runs],
                         "grid": dict(zip(rec["grid"], rec["scores"]))}
        out["steps"] = steps
        return out

    # -- Adam with and without bias correction, β₂ ∈ {0.99, 0.999, 0.9999} --
    def _bias_correction(self, ctx: Context, x: np.ndarray, y: np.ndarray,
                         hidden: int) -> dict[str, Any]:
        steps = ctx.budget(full=300, quick=100, tiny=6)
        out: dict[str, Any] = {}
        for beta2 in (0.99, 0.999, 0.9999):
            for bc in (True, False):
                key = f"β₂={beta2} {'bc' if bc else 'no bc'}"
                r = out[key] = {"rise": [], "mean": [], "curves": []}
                for seed in ctx.seeds:
                    common.seeded(seed)
                    model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(),
                                          nn.Linear(hidden, 10))
                    opt = optim.Adam(model.parameters(), lr=self.bc_lr, betas=(0.9, beta2),
                                     bias_correction=bc)
                    losses = [min(v, 1e3) if math.isfinite(v) else 1e3
                              for v in common.train(model, opt, x, y, steps, 64, seed)]
                    r["rise"].append(_largest_rise(losses))
                    r["mean"].append(float(np.mean(losses)))
                    r["curves"].append(losses)
        out["steps"] = steps
        return out

    def _report(self, ctx: Context, dense: dict, sparse: dict, bias: dict, steps: int,
                hidden: int) -> Result:
        mlp, logi = dense["mlp"], dense["logistic"]
        # AdaGrad's effective step at the end relative to step 10, vs RMSProp's
        decay = {m: [r[-1] / r[min(9, len(r) - 1)] for r in logi[m]["eff_step"]]
                 for m in ("adagrad", "rmsprop")}
        # the states are float32 sums of thousands of terms (rounding ~1e-7 each); a sum read as
        # a moving average, or the reverse, would be off by O(1)
        state_err = (logi["adagrad"]["state_err"] + mlp["adagrad"]["state_err"]
                     + logi["rmsprop"]["state_err"] + mlp["rmsprop"]["state_err"])
        nobc, withbc = bias["β₂=0.9999 no bc"], bias["β₂=0.9999 bc"]
        parts = [
            V.paired("AdaGrad ≫ SGD on sparse features",
                     "bag-of-words logistic regression: lower training loss with AdaGrad, each "
                     "at its best lr", sparse["adagrad"]["final"], sparse["sgd"]["final"],
                     expect="less", floor=0.01, metric="training cross-entropy",
                     arms=("adagrad", "sgd")),
            V.paired("Adam > AdaGrad on dense data",
                     "MLP on mnist5k, each at its validation-tuned lr", mlp["adam"]["test_loss"],
                     mlp["adagrad"]["test_loss"], expect="less", floor=0.01,
                     metric="test cross-entropy", arms=("adam", "adagrad")),
            _tuning.equivalence("Adam ≈ tuned SGD-Nesterov on dense data",
                                "MLP test error within 1 point, each at its tuned lr",
                                mlp["adam"]["test_err"], mlp["sgd_nesterov"]["test_err"], 0.01,
                                metric="test error", arms=("adam", "sgd_nesterov")),
            V.paired("AdaGrad's step → 0, RMSProp's does not",
                     "effective step lr/(√s+ε) at the end over step 10: smaller for AdaGrad",
                     list(np.log10(decay["adagrad"])), list(np.log10(decay["rmsprop"])),
                     expect="less", floor=0.2, metric="log10 effective step end/step 10",
                     arms=("adagrad", "rmsprop")),
            V.paired("Adam without bias correction is unstable early",
                     "β₂ = 0.9999: a larger early loss rise without bias correction",
                     nobc["rise"], withbc["rise"], floor=0.2,
                     metric="largest rise of the mini-batch loss above its best so far",
                     arms=("no bias correction", "bias correction")),
            V.verified("AdaGrad's state is the SUM of g², RMSProp's the moving average",
                       "the optimizers' states equal Σg² and the EMA recomputed beside them "
                       "(the note calls AdaGrad's a moving average): an implementation "
                       "identity", max(state_err) < 1e-4,
                       detail=f"max relative error {max(state_err):.1e}"),
        ]
        table = []
        for model_name, d in (("logistic", logi), ("mlp", mlp)):
            table += [table_row(f"{model_name} {m}", best_lr=d[m]["lr"],
                                final_train_loss=d[m]["final"], test_loss=d[m]["test_loss"],
                                test_error=d[m]["test_err"]) for m in _GRID]
        table += [table_row(f"sparse {m}", best_lr=sparse[m]["lr"],
                            final_train_loss=sparse[m]["final"]) for m in ("sgd", "adagrad")]
        table += [table_row(f"adam lr {self.bc_lr:g} {k}", early_largest_loss_rise=v["rise"],
                            early_mean_loss=v["mean"])
                  for k, v in bias.items() if k != "steps"]
        table += [table_row(f"{m} effective step end/step 10", ratio=decay[m])
                  for m in decay]
        xs = np.arange(len(mlp["adam"]["curves"][0]))
        xs = xs * (steps / max(1, len(xs)))
        bsteps = np.arange(bias["steps"])
        sx = np.arange(len(sparse["sgd"]["curves"][0])) * (sparse["steps"] / max(
            1, len(sparse["sgd"]["curves"][0])))
        eff_x = np.arange(1, len(logi["adagrad"]["eff_step"][0]) + 1)
        plots = [common.panels(ctx.path("e1_optimizers.png"), [
            (f"MLP on {'digits' if ctx.tiny else 'mnist5k'}, best lr",
             {f"{m} ({mlp[m]['lr']:g})": (xs, mlp[m]["curves"]) for m in _GRID}, "step",
             "training loss", True),
            ("sparse bag-of-words, best lr",
             {f"{m} ({sparse[m]['lr']:g})": (sx, sparse[m]["curves"]) for m in ("sgd", "adagrad")},
             "step", "training loss", False),
            ("logistic: effective step lr/(√s+ε) (median)",
             {m: (eff_x, logi[m]["eff_step"]) for m in ("adagrad", "rmsprop")}, "step",
             "step size", True),
            ("Adam β₂ = 0.9999, first steps",
             {k: (bsteps, bias[f"β₂=0.9999 {k}"]["curves"]) for k in ("bc", "no bc")}, "step",
             "mini-batch loss", True),
        ], ncols=2)]
        summary = (f"sparse: AdaGrad loss {fmt(sparse['adagrad']['final'])} vs SGD "
                   f"{fmt(sparse['sgd']['final'])}; effective step end/start AdaGrad "
                   f"{fmt(decay['adagrad'])} vs RMSProp {fmt(decay['rmsprop'])}; AdaGrad's state "
                   f"= Σg² (sum) to {max(logi['adagrad']['state_err']):.0e}, RMSProp's = moving "
                   f"average to {max(logi['rmsprop']['state_err']):.0e}; Adam β₂=0.9999 largest "
                   f"early loss rise no bc {fmt(nobc['rise'])} vs bc {fmt(withbc['rise'])}; "
                   f"MLP test loss (lr tuned on validation) Adam {fmt(mlp['adam']['test_loss'])}, "
                   f"Nesterov {fmt(mlp['sgd_nesterov']['test_loss'])}, AdaGrad "
                   f"{fmt(mlp['adagrad']['test_loss'])}")
        numbers = {
            "dense_final_loss": {f"{mn} {m}": mean_std(d[m]["final"])
                                 for mn, d in (("logistic", logi), ("mlp", mlp)) for m in _GRID},
            "dense_best_lr": {f"{mn} {m}": d[m]["lr"]
                              for mn, d in (("logistic", logi), ("mlp", mlp)) for m in _GRID},
            "dense_test_loss": {f"{mn} {m}": mean_std(d[m]["test_loss"])
                                for mn, d in (("logistic", logi), ("mlp", mlp)) for m in _GRID},
            "dense_lr_grid_validation": {f"{mn} {m}": d[m]["grid"]
                                    for mn, d in (("logistic", logi), ("mlp", mlp))
                                    for m in _GRID},
            "sparse_final_loss": {m: mean_std(sparse[m]["final"]) for m in ("sgd", "adagrad")},
            "sparse_best_lr": {m: sparse[m]["lr"] for m in ("sgd", "adagrad")},
            "effective_step_end_over_step10": {m: mean_std(v) for m, v in decay.items()},
            "adagrad_state_vs_sum_rel_error": max(logi["adagrad"]["state_err"]
                                                  + mlp["adagrad"]["state_err"]),
            "rmsprop_state_vs_moving_average_rel_error": max(logi["rmsprop"]["state_err"]
                                                             + mlp["rmsprop"]["state_err"]),
            "adam_early_largest_loss_rise": {k: mean_std(v["rise"]) for k, v in bias.items()
                                             if k != "steps"},
        }
        return self.result(ctx, summary=summary, parts=parts, tuning=self._tuning,
                           numbers=numbers, table=table, plots=plots,
                           budget={"dense_steps": steps, "batch": 64, "mlp_hidden": hidden,
                                   "lr_grids": {k: list(v) for k, v in _GRID.items()},
                                   "sparse_steps": sparse["steps"],
                                   "bias_correction_steps": bias["steps"],
                                   "bias_correction_lr": self.bc_lr,
                                   "data": ("digits" if ctx.tiny else "mnist5k")
                                   + ": fit 80 % / validation 20 % of the training split, "
                                     "test once"})


# ---------------------------------------------------------------------------------------------
def _vec(values: np.ndarray, requires_grad: bool = True) -> Any:
    return cr.from_numpy(np.array(values, dtype=np.float64)).requires_grad_(requires_grad)


def quadratic(kappa: float, dim: int, rng: np.random.Generator) -> np.ndarray:
    """A = Q diag(1 … κ) Qᵀ with a random rotation Q: condition number exactly κ."""
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return (q * np.linspace(1.0, kappa, dim)) @ q.T


def gd_quadratic(a: np.ndarray, x0: np.ndarray, eps: float, max_iter: int
                 ) -> tuple[int, list[float]]:
    """chainrule SGD (full gradient) on f = ½xᵀAx with the optimal fixed step 2/(L + μ);
    returns the iterations to ‖x_k‖ ≤ ε‖x_0‖ and the error history (x* = 0)."""
    eig = np.linalg.eigvalsh(a)
    x = _vec(x0)
    at = cr.from_numpy(a)
    opt = optim.SGD([x], lr=2.0 / (eig[-1] + eig[0]))
    errs = [float(np.linalg.norm(x0))]
    for k in range(1, max_iter + 1):
        opt.zero_grad()
        (0.5 * (x @ (at @ x))).backward()
        opt.step()
        errs.append(float(np.linalg.norm(x._array)))
        if errs[-1] <= eps * errs[0]:
            return k, errs
    return max_iter, errs


def rosenbrock(p: Any) -> Any:
    """f(x, y) = (1 − x)² + 100 (y − x²)², minimum 0 at (1, 1)."""
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def _gd_path(f: Callable[[Any], Any], x0: np.ndarray, lr: float, iters: int,
             stop: Callable[[np.ndarray], bool]) -> list[np.ndarray]:
    x = _vec(x0)
    opt = optim.SGD([x], lr=lr)
    path = [x._array.copy()]
    for _ in range(iters):
        opt.zero_grad()
        f(x).backward()
        opt.step()
        path.append(x._array.copy())
        if stop(path[-1]):
            break
    return path


def _newton_path(f: Callable[[Any], Any], x0: np.ndarray, iters: int,
                 stop: Callable[[np.ndarray], bool], **kw: Any) -> list[np.ndarray]:
    x = _vec(x0)
    opt = optim.Newton([x], **kw)
    path = [x._array.copy()]
    for _ in range(iters):
        opt.step(lambda: f(x))
        path.append(x._array.copy())
        if stop(path[-1]):
            break
    return path


@register
class E2GradientDescentNearMinima(Experiment):
    id = "E2"
    title = "Gradient descent slows near a minimum: iterations ∝ κ·log(1/ε)"
    claim = "Disadvantages: convergence slows down near a minimum."
    expected = ("iterations ∝ κ·log(1/ε); contraction (κ−1)/(κ+1) per step; Newton solves the "
                "quadratic in one step")
    source = "Nocedal & Wright ch. 3"
    arms = ("GD (step 2/(L+μ)) on quadratics with κ = 10 … 1000", "Newton on the same",
            "GD vs Newton on Rosenbrock")
    metrics = ("iterations to ‖x−x*‖ ≤ 1e-6‖x₀−x*‖", "measured vs (κ−1)/(κ+1) contraction",
               "slope of log iterations vs log κ")

    eps = 1e-6
    dim = 20

    def run(self, ctx: Context) -> Result:
        kappas = (10, 30, 100) if ctx.tiny else (10, 30, 100, 300, 1000)
        iters: dict[int, list[int]] = {k: [] for k in kappas}
        rate: dict[int, list[float]] = {k: [] for k in kappas}
        curves: dict[int, list[float]] = {}
        slopes, newton_res = [], []
        for seed in ctx.seeds:
            rng = np.random.default_rng(seed)
            for kappa in kappas:
                a = quadratic(kappa, self.dim, rng)
                x0 = rng.standard_normal(self.dim)
                k, errs = gd_quadratic(a, x0, self.eps, 100 * kappa * 20)
                iters[kappa].append(k)
                tail = np.asarray(errs[len(errs) // 2:])  # past the transient
                rate[kappa].append(float(np.exp(np.mean(np.diff(np.log(tail))))))
                if seed == ctx.seeds[0]:
                    curves[kappa] = errs
                if kappa == kappas[-1]:  # Newton: one step solves any quadratic
                    at = cr.from_numpy(a)
                    path = _newton_path(lambda x, at=at: 0.5 * (x @ (at @ x)), x0, 1,
                                        lambda p: False)
                    newton_res.append(float(np.linalg.norm(path[-1]) / np.linalg.norm(x0)))
            slopes.append(float(np.polyfit(np.log(kappas), np.log([iters[k][-1]
                                                                    for k in kappas]), 1)[0]))
        rosen = self._rosenbrock(ctx)
        return self._report(ctx, kappas, iters, rate, curves, slopes, newton_res, rosen)

    def _rosenbrock(self, ctx: Context) -> dict[str, Any]:
        cap = ctx.budget(full=50_000, quick=8_000, tiny=300)
        out: dict[str, Any] = {"gd_iters": [], "newton_iters": [], "gd_dist": [], "paths": {}}
        for seed in ctx.seeds:
            rng = np.random.default_rng(seed)
            x0 = np.array([-1.2, 1.0]) + 0.1 * rng.standard_normal(2)
            def close(p: np.ndarray) -> bool:
                return float(np.linalg.norm(p - 1.0)) < 1e-4
            gd = _gd_path(rosenbrock, x0, 1e-3, cap, close)
            nt = _newton_path(rosenbrock, x0, 200, close)
            out["gd_iters"].append(len(gd) - 1)
            out["gd_dist"].append(float(np.linalg.norm(gd[-1] - 1.0)))
            out["newton_iters"].append(len(nt) - 1)
            if seed == ctx.seeds[0]:
                out["paths"] = {"gd": np.asarray(gd), "newton": np.asarray(nt)}
        out["cap"] = cap
        return out

    def _report(self, ctx: Context, kappas: tuple, iters: dict, rate: dict, curves: dict,
                slopes: list[float], newton_res: list[float], rosen: dict) -> Result:
        theory = {k: (k - 1) / (k + 1) for k in kappas}
        # per-step log-contraction relative to theory's (the absolute gap 1 − ρ shrinks as 2/κ)
        rate_err = [max(abs(math.log(rate[k][i]) / math.log(theory[k]) - 1) for k in kappas)
                    for i in range(len(ctx.seeds))]
        parts = [
            V.one_sample("GD iterations grow linearly with κ",
                         "log-log slope of iterations vs κ within 0.15 of 1 (iterations ∝ κ·"
                         "log(1/ε))", [abs(s - 1.0) for s in slopes], reference=0.15,
                         expect="less", floor=0.0, metric="|slope − 1|", arms=("GD",)),
            V.one_sample("GD contracts by (κ−1)/(κ+1) per step",
                         "measured log-contraction within 5 % of ln((κ−1)/(κ+1)) at every κ",
                         rate_err, reference=0.05, expect="less", floor=0.0,
                         metric="max relative error of the log-contraction", arms=("GD",)),
            V.paired("GD slows near Rosenbrock's minimum",
                     "GD needs more than 10× Newton's iterations to reach 1e-4 of (1, 1)",
                     list(np.log10(np.maximum(rosen["gd_iters"], 1))),
                     list(np.log10(np.multiply(10, np.maximum(rosen["newton_iters"], 1)))),
                     floor=0.0, metric="log10 iterations", arms=("GD", "10 × Newton")),
            V.verified("Newton solves a quadratic in one step",
                       "x₁ = x₀ − A⁻¹Ax₀ = 0 exactly (algebra, checked to 1e-10)",
                       max(newton_res) < 1e-10, detail=f"max ‖x₁‖/‖x₀‖ {max(newton_res):.1e}"),
        ]
        table = [table_row(f"κ = {k}", gd_iterations=iters[k],
                           predicted=math.ceil(math.log(1 / self.eps) / -math.log(theory[k])),
                           measured_contraction=rate[k], theory=round(theory[k], 6))
                 for k in kappas]
        table.append(table_row("Rosenbrock GD lr 1e-3", iterations=rosen["gd_iters"],
                               final_distance=rosen["gd_dist"]))
        table.append(table_row("Rosenbrock Newton", iterations=rosen["newton_iters"]))
        gd_path, nt_path = rosen["paths"]["gd"], rosen["paths"]["newton"]
        plots = [common.panels(ctx.path("e2_gd_near_minima.png"), [
            ("GD on ½xᵀAx (first seed)",
             {f"κ={k}": (np.arange(len(curves[k])), np.asarray(curves[k]) / curves[k][0])
              for k in kappas}, "iteration", "‖x_k − x*‖/‖x_0 − x*‖", True),
            ("iterations vs κ", {"measured": (list(kappas), np.asarray(
                [iters[k] for k in kappas]).T), "(κ/2)·ln(1/ε)": (list(kappas), [
                    k / 2 * math.log(1 / self.eps) for k in kappas])},
             "κ", "iterations", True),
            ("Rosenbrock: distance to (1, 1)", {
                "GD lr 1e-3": (np.arange(len(gd_path)), np.linalg.norm(gd_path - 1, axis=1)),
                "Newton": (np.arange(len(nt_path)), np.linalg.norm(nt_path - 1, axis=1))},
             "iteration", "‖x − x*‖", True),
        ])]
        summary = (f"GD iterations κ=10: {fmt(iters[kappas[0]])} … κ={kappas[-1]}: "
                   f"{fmt(iters[kappas[-1]])}, log-log slope {fmt(slopes)} (theory 1); "
                   f"log-contraction within {100 * max(rate_err):.1f} % of ln((κ−1)/(κ+1)); "
                   f"Newton one step leaves {max(newton_res):.1e}; Rosenbrock to 1e-4 of (1, 1): "
                   f"Newton {fmt(rosen['newton_iters'])} iterations, GD after "
                   f"{fmt(rosen['gd_iters'])} (cap {rosen['cap']}) still "
                   f"{fmt(rosen['gd_dist'])} away")
        numbers = {
            "gd_iterations": {str(k): mean_std(iters[k]) for k in kappas},
            "contraction": {str(k): {"measured": mean_std(rate[k]), "theory": theory[k]}
                            for k in kappas},
            "loglog_slope": mean_std(slopes),
            "newton_one_step_relative_error": max(newton_res),
            "rosenbrock": {"gd_iterations": mean_std(rosen["gd_iters"]),
                           "gd_final_distance": mean_std(rosen["gd_dist"]),
                           "newton_iterations": mean_std(rosen["newton_iters"]),
                           "gd_cap": rosen["cap"]},
        }
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=plots,
                           budget={"dim": self.dim, "eps": self.eps, "kappas": list(kappas),
                                   "rosenbrock_gd_cap": rosen["cap"]})


# ---------------------------------------------------------------------------------------------
def logreg_data(seed: int, frac: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Breast cancer (569 × 30), standardised, float64: a random ``frac`` of the rows per seed."""
    from chainrule.datasets import load_breast_cancer

    d = load_breast_cancer(dtype=np.float64)
    x = (d.X - d.X.mean(0)) / d.X.std(0)
    rows = np.random.default_rng(seed).permutation(len(x))[: int(frac * len(x))]
    return x[rows], d.y[rows].astype(np.float64)


def logreg_loss(x: np.ndarray, y: np.ndarray, lam: float) -> Callable[[Any, Any], Any]:
    """(w, b) ↦ mean BCE(x w + b, y) + (λ/2)‖w‖²: strictly convex for λ > 0."""
    xt, yt = cr.from_numpy(x), cr.from_numpy(y)

    def loss(w: Any, b: Any) -> Any:
        return (nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt)
                + 0.5 * lam * (w * w).sum())

    return loss


def _order(g: list[float], floor: float = 1e-11) -> float:
    """Convergence order from the last three successive gradient norms of the run:
    p ≈ log(g₂/g₁)/log(g₁/g₀) (1 = linear, 2 = quadratic); norms below ``floor`` are rounding."""
    kept: list[float] = []
    for v in g:  # skip rounding-level values and stalls (a rejected line-search step)
        if v > floor and (not kept or v < 0.99 * kept[-1]):
            kept.append(v)
    g = kept
    ps = [math.log(g[k + 1] / g[k]) / math.log(g[k] / g[k - 1]) for k in range(1, len(g) - 1)
          if g[k] < g[k - 1] and g[k + 1] < g[k]]
    return ps[-1] if ps else float("nan")


@register
class E5Newton(Experiment):
    id = "E5"
    title = "Newton's method is second order: quadratic convergence vs GD"
    claim = ("Newton's method: solve from the Taylor expansion. [note's error: the note says "
             "first-order; Newton's method uses the second-order expansion, i.e. the Hessian.]")
    expected = ("quadratic convergence (‖g‖ roughly squares each step), ~10 iterations vs ~10⁴ "
                "for GD")
    source = "Nocedal & Wright ch. 3"
    arms = ("Newton (exact Hessian, backtracking)", "GD, step 1/L")
    metrics = ("‖∇f‖ per iteration", "iterations to ‖∇f‖ ≤ 1e-8", "order p")

    lam = 1e-2
    tol = 1e-8

    def run(self, ctx: Context) -> Result:
        cap = ctx.budget(full=20_000, quick=6_000, tiny=200)
        res: dict[str, list] = {"newton_iters": [], "gd_iters": [], "gd_reached": [],
                                "p_newton": [], "p_gd": [], "g_newton": [], "g_gd": [],
                                "gap": []}
        for seed in ctx.seeds:
            x, y = logreg_data(seed, 0.2 if ctx.tiny else 0.8)
            loss = logreg_loss(x, y, self.lam)
            d = x.shape[1]
            w, b = _vec(np.zeros(d)), _vec(np.zeros(1))
            opt = optim.Newton([w, b])
            gn = []
            for _ in range(30):
                opt.step(lambda w=w, b=b, loss=loss: loss(w, b))
                gn.append(opt.state[w]["grad_norm"])
                if gn[-1] <= 1e-13:
                    break
            f_newton = float(loss(w, b).item())
            newton_iters = next((k for k, v in enumerate(gn) if v <= self.tol), len(gn))
            lip = float(np.linalg.eigvalsh(x.T @ x / len(x)).max()) / 4 + self.lam
            w2, b2 = _vec(np.zeros(d)), _vec(np.zeros(1))
            sgd = optim.SGD([w2, b2], lr=1.0 / lip)
            gg = []
            for _ in range(cap):
                sgd.zero_grad()
                loss(w2, b2).backward()
                gw, gb = w2.grad._array, b2.grad._array
                gg.append(math.sqrt(float((gw ** 2).sum() + (gb ** 2).sum())))
                if gg[-1] <= self.tol:
                    break
                sgd.step()
            reached = gg[-1] <= self.tol
            gd_iters = len(gg) - 1
            if not reached:  # extrapolate with the measured linear rate of the last 100 steps
                tail = np.log(gg[-min(100, len(gg) - 1):])
                r = float(np.mean(np.diff(tail)))
                gd_iters += int(math.ceil(math.log(self.tol / gg[-1]) / r)) if r < 0 else 10**9
            res["newton_iters"].append(newton_iters)
            res["gd_iters"].append(gd_iters)
            res["gd_reached"].append(reached)
            res["p_newton"].append(_order(gn))
            res["p_gd"].append(_order(gg[:: max(1, len(gg) // 200)]))
            res["g_newton"].append(gn)
            res["g_gd"].append(gg)
            res["gap"].append(float(loss(w2, b2).item()) - f_newton)
        return self._report(ctx, res, cap)

    def _report(self, ctx: Context, res: dict, cap: int) -> Result:
        ratio = list(np.log10(np.maximum(res["gd_iters"], 1))
                     - np.log10(np.maximum(res["newton_iters"], 1)))
        parts = [
            V.one_sample("Newton needs ~100× fewer iterations than GD",
                         "log10(GD iterations / Newton iterations) > 2 to ‖∇f‖ ≤ 1e-8", ratio,
                         reference=2.0, floor=0.0, metric="log10 iteration ratio GD/Newton",
                         arms=("GD/Newton",)),
            V.one_sample("Newton converges quadratically",
                         "fitted order p of ‖g_{k+1}‖ ∝ ‖g_k‖^p is above 1.5 (the note calls "
                         "Newton first-order)", res["p_newton"], reference=1.5, floor=0.0,
                         metric="order p", arms=("Newton",)),
        ]
        table = [table_row("Newton", iterations=res["newton_iters"], order=res["p_newton"]),
                 table_row("GD 1/L", iterations=res["gd_iters"], order=res["p_gd"],
                           reached_tolerance=str(res["gd_reached"]))]
        g0 = res["g_newton"][0]
        table.append({"arm": "Newton ‖g_k‖ (first seed)",
                      "values": ", ".join(f"{v:.1e}" for v in g0)})
        gd0 = res["g_gd"][0]
        plots = [common.panels(ctx.path("e5_newton_vs_gd.png"), [
            ("‖∇f(θ_k)‖, L2 logistic regression", {
                "Newton": (np.arange(len(g0)), g0), "GD 1/L": (np.arange(len(gd0)), gd0)},
             "iteration", "gradient norm", True),
            ("Newton: log‖g_{k+1}‖ vs log‖g_k‖", {
                "Newton": (np.log10(np.maximum(g0[:-1], 1e-16)),
                           np.log10(np.maximum(g0[1:], 1e-16))),
                "slope 2": (np.array([-8.0, 0.0]), np.array([-16.0, 0.0])),
                "slope 1": (np.array([-8.0, 0.0]), np.array([-8.0, 0.0]))},
             "log₁₀‖g_k‖", "log₁₀‖g_{k+1}‖", False),
        ])]
        reached = "" if all(res["gd_reached"]) else " (GD count extrapolated from its rate)"
        summary = (f"Newton reaches ‖∇f‖ ≤ {self.tol:g} in {fmt(res['newton_iters'])} iterations "
                   f"(order p {fmt(res['p_newton'])}), GD in {fmt(res['gd_iters'])}"
                   f"{reached} (order {fmt(res['p_gd'])}); Newton ‖g_k‖: "
                   + ", ".join(f"{v:.0e}" for v in g0[:9]))
        numbers = {
            "newton_iterations": mean_std(res["newton_iters"]),
            "gd_iterations": mean_std(res["gd_iters"]),
            "gd_reached_tolerance": res["gd_reached"],
            "order_newton": mean_std(res["p_newton"]),
            "order_gd": mean_std(res["p_gd"]),
            "newton_grad_norms_seed0": g0,
            "gd_minus_newton_loss": mean_std(res["gap"]),
        }
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=plots,
                           budget={"lambda": self.lam, "tol": self.tol, "gd_cap": cap,
                                   "data": "breast cancer, standardised, 80 % rows per seed"})


# ---------------------------------------------------------------------------------------------
def mlp_objective(x: np.ndarray, y: np.ndarray, hidden: int
                  ) -> tuple[Callable[[Any], Any], int]:
    """θ ↦ cross-entropy of a one-hidden-layer tanh MLP whose weights are the flat vector θ."""
    d, k = x.shape[1], int(y.max()) + 1
    shapes = [(hidden, d), (hidden,), (k, hidden), (k,)]
    sizes = [int(np.prod(s)) for s in shapes]
    xt, yt = cr.from_numpy(x.astype(np.float64)), cr.from_numpy(y)

    def f(theta: Any) -> Any:
        parts, start = [], 0
        for shape, size in zip(shapes, sizes):
            parts.append(theta[start:start + size].reshape(shape))
            start += size
        w1, b1, w2, b2 = parts
        h = nn.functional.linear(xt, w1, b1).tanh()
        return nn.functional.cross_entropy(nn.functional.linear(h, w2, b2), yt)

    return f, sum(sizes)


def _gradient(f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    t = _vec(x)
    f(t).backward()
    return t.grad._array.copy()


def _jvp(f: Callable[[Any], Any], x: np.ndarray, u: np.ndarray) -> float:
    """D_u f(x) by chainrule's forward-mode product (independent of the gradient formula)."""
    from chainrule.autograd.functional import jvp

    return float(jvp(f, _vec(x, False), _vec(u, False))[1].item())


@register
class E7SteepestDescent(Experiment):
    id = "E7"
    title = "Why −∇f is the steepest descent direction (Cauchy–Schwarz)"
    claim = ("Why the gradient is the direction of fastest descent. [note's error: the note's "
             "reasoning is garbled. The negative gradient is the steepest-descent direction "
             "because, by Cauchy–Schwarz, the directional derivative ∇f·u over unit vectors u is "
             "smallest at u = −∇f/‖∇f‖.]")
    expected = "the directional derivative is minimal at −∇f/‖∇f‖ (Cauchy–Schwarz)"
    source = "calculus"
    arms = ("Rosenbrock, d = 2", "tanh MLP on digits, d ≈ 1000")
    metrics = ("min over sampled unit u of D_u f vs −‖∇f‖", "angle of the best sample to −∇f",
               "D_u f by forward mode vs ∇f·u")

    def run(self, ctx: Context) -> Result:
        m = ctx.budget(full=20_000, quick=5_000, tiny=500)
        x, y, _, _ = ctx.dataset("digits")
        n = 100 if ctx.tiny else 300
        mlp, dim = mlp_objective(x[:n], y[:n], 16)
        problems = {"rosenbrock (d=2)": (rosenbrock, 2), f"mlp (d={dim})": (mlp, dim)}
        res: dict[str, dict[str, list]] = {p: {"violation": [], "angle": [], "best_ratio": [],
                                               "axis_ratio": [], "jvp_err": [], "fd_ratio": [],
                                               "cos": [], "deriv": [], "fd_margin": []}
               for p in problems}
        for seed in ctx.seeds:
            rng = np.random.default_rng(seed)
            for name, (f, d) in problems.items():
                point = (rng.uniform(-2, 2, 2) if d == 2
                         else 0.3 * rng.standard_normal(d))
                g = _gradient(f, point)
                gnorm = float(np.linalg.norm(g))
                u = rng.standard_normal((m, d))
                u /= np.linalg.norm(u, axis=1, keepdims=True)
                deriv = u @ g  # D_u f = ∇f·u, checked against forward mode below
                best = int(np.argmin(deriv))
                r = res[name]
                r["violation"].append(float(max(0.0, -gnorm - deriv.min()) / gnorm))
                cos_best = float(-(u[best] @ g) / gnorm)
                r["angle"].append(math.degrees(math.acos(min(1.0, max(-1.0, cos_best)))))
                r["best_ratio"].append(float(deriv.min() / -gnorm))
                r["axis_ratio"].append(float(np.abs(g).max() / gnorm))  # best coordinate axis
                star = -g / gnorm
                checks = [star] + list(u[:4])
                r["jvp_err"].append(max(abs(_jvp(f, point, v) - float(v @ g)) / gnorm
                                        for v in checks))
                h = 1e-6
                fd = (float(f(_vec(point + h * star, False)).item())
                      - float(f(_vec(point - h * star, False)).item())) / (2 * h)
                r["fd_ratio"].append(fd / -gnorm)
                # independent of u·g: finite differences of f itself along 100 sampled unit
                # directions; none may descend faster than −∇f/‖∇f‖ does
                fd_u = [(float(f(_vec(point + h * v, False)).item())
                         - float(f(_vec(point - h * v, False)).item())) / (2 * h)
                        for v in u[:100]]
                r["fd_margin"].append(float((min(fd_u) - fd) / gnorm))
                if seed == ctx.seeds[0]:
                    r["cos"] = list(u[:2000] @ g / gnorm)
                    r["deriv"] = list(deriv[:2000] / gnorm)
        return self._report(ctx, res, m)

    def _report(self, ctx: Context, res: dict, m: int) -> Result:
        names = list(res)
        low, high = res[names[0]], res[names[1]]
        viol = max(max(res[p]["violation"]) for p in names)
        jvp = max(max(res[p]["jvp_err"]) for p in names)
        parts = [
            V.one_sample(f"no direction descends faster than −∇f/‖∇f‖ ({p})",
                         "finite differences of f (not the dot product u·∇f) along 100 sampled "
                         "unit directions never fall below the one along −∇f/‖∇f‖",
                         res[p]["fd_margin"], reference=-1e-4, floor=0.0,
                         metric="(min_u D_u f − D_{−∇f/‖∇f‖} f)/‖∇f‖, finite differences",
                         arms=(p,)) for p in names
        ] + [
            V.one_sample("the derivative along −∇f/‖∇f‖ is −‖∇f‖",
                         "finite differences of f along −∇f/‖∇f‖ equal −‖∇f‖ within 1e-5",
                         [abs(v - 1) for p in names for v in res[p]["fd_ratio"]],
                         reference=1e-5, expect="less", floor=0.0,
                         metric="|D f / (−‖∇f‖) − 1|, finite differences", arms=("both",)),
            V.one_sample("in 2-D the best sampled direction is −∇f",
                         "the best of the sampled unit directions lies within 2° of −∇f",
                         low["angle"], reference=2.0, expect="less", floor=0.0,
                         metric="angle to −∇f (degrees)", arms=(names[0],)),
            V.verified("Cauchy–Schwarz: D_u f = u·∇f ≥ −‖∇f‖",
                       "computed from u·∇f itself, so it cannot fail: shown as an identity",
                       viol < 1e-12, detail=f"max violation {viol:.0e}"),
            V.verified("forward mode agrees with ∇f·u",
                       "the JVP of the autograd engine equals the dot product with the reverse-"
                       "mode gradient (an implementation property)", jvp < 1e-8,
                       detail=f"max relative error {jvp:.0e}"),
        ]
        table = [table_row(p, min_sampled_over_minus_gnorm=res[p]["best_ratio"],
                           best_angle_deg=res[p]["angle"],
                           best_axis_over_gnorm=res[p]["axis_ratio"],
                           cauchy_schwarz_violation=res[p]["violation"],
                           jvp_vs_dot_rel_error=res[p]["jvp_err"],
                           finite_difference_over_minus_gnorm=res[p]["fd_ratio"])
                 for p in names]
        plt = common.pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), dpi=100)
        for ax, p in zip(axes, names):
            theta = np.degrees(np.arccos(np.clip(res[p]["cos"], -1, 1)))
            ax.scatter(theta, res[p]["deriv"], s=3, alpha=0.4, label="sampled unit u")
            grid = np.linspace(0, 180, 181)
            ax.plot(grid, np.cos(np.radians(grid)), "k--", lw=1, label="‖∇f‖ cos θ")
            ax.axhline(-1, color="r", lw=0.8, label="−‖∇f‖ (at u = −∇f/‖∇f‖)")
            ax.set_title(p, fontsize=10)
            ax.set_xlabel("angle between u and ∇f (degrees)")
            ax.set_ylabel("D_u f / ‖∇f‖")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.28)
        path = ctx.path("e7_steepest_descent.png")
        fig.savefig(path)
        plt.close(fig)
        summary = (f"over {m} sampled unit directions D_u f never fell below −‖∇f‖ "
                   f"(max violation {max(max(res[p]['violation']) for p in names):.0e}); "
                   f"best sample in d=2 is {fmt(low['angle'])}° from −∇f, in {names[1]} it "
                   f"reaches only {fmt(high['best_ratio'])} of −‖∇f‖ (best axis "
                   f"{fmt(high['axis_ratio'])}); forward-mode D_u f = ∇f·u to "
                   f"{max(max(res[p]['jvp_err']) for p in names):.0e}")
        numbers = {
            p: {"min_sampled_over_minus_gnorm": mean_std(res[p]["best_ratio"]),
                "best_angle_deg": mean_std(res[p]["angle"]),
                "best_axis_over_gnorm": mean_std(res[p]["axis_ratio"]),
                "max_violation": max(res[p]["violation"]),
                "jvp_max_rel_error": max(res[p]["jvp_err"]),
                "finite_difference_over_minus_gnorm": mean_std(res[p]["fd_ratio"])}
            for p in names}
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=[path],
                           budget={"directions": m, "mlp_examples": "digits subset",
                                   "mlp_hidden": 16})
