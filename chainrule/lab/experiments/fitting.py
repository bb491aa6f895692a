"""Under- and overfitting (F1) and L1/L2 regularisation (F2).

F1 repeats Bishop's polynomial curve fitting (PRML §1.1: ten noisy samples of sin 2πx, degrees
0/1/3/9, and ridge at ln λ = −18 for degree 9) and the MNIST-1D contrast between a linear
model, which underfits, and an MLP, which overfits. F2 checks that iterative training with
weight decay reaches ridge regression's closed form, and counts the exact zeros that proximal L1,
subgradient L1 and L2 leave in an MLP's weights.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim, zoo
from chainrule.lab import common
from chainrule.lab import verdict as V
from chainrule.lab.experiment import Context, Experiment, Result, register
from chainrule.lab.experiments import _tuning
from chainrule.lab.verdict import fmt, mean_std, table_row

__all__ = ["F1Fitting", "F2Regularisation"]


# ---------------------------------------------------------------------------------------------
def sin_data(rng: np.random.Generator, n: int, noise: float = 0.3,
             grid: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Bishop's data: x on a grid of [0, 1] (or uniform), t = sin 2πx + N(0, noise²)."""
    x = np.linspace(0.0, 1.0, n) if grid else rng.uniform(0.0, 1.0, n)
    return x, np.sin(2 * np.pi * x) + noise * rng.standard_normal(n)


def poly_fit(x: np.ndarray, t: np.ndarray, degree: int, lam: float = 0.0) -> np.ndarray:
    """Minimiser of ½Σ(y(x_n, w) − t_n)² + (λ/2)‖w‖², y = Σ_j w_j x^j (closed form)."""
    phi = np.vander(x, degree + 1, increasing=True)
    if lam == 0.0:
        return np.linalg.lstsq(phi, t, rcond=None)[0]
    a = phi.T @ phi + lam * np.eye(degree + 1)
    return np.linalg.solve(a, phi.T @ t)


def rms(w: np.ndarray, x: np.ndarray, t: np.ndarray) -> float:
    """E_RMS = √(2E(w)/N) = root-mean-square error."""
    y = np.vander(x, len(w), increasing=True) @ w
    return float(np.sqrt(np.mean((y - t) ** 2)))


class M1dMLP(nn.Module):
    """The MNIST-1D paper's MLP: h = relu(L1 x); h = h + relu(L2 h); out = L3 h."""

    def __init__(self, n_in: int, hidden: int = 100, n_out: int = 10) -> None:
        super().__init__()
        self.l1 = nn.Linear(n_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, n_out)

    def forward(self, x: Any) -> Any:
        h = self.l1(x).relu()
        h = h + self.l2(h).relu()
        return self.l3(h)


@register
class F1Fitting(Experiment):
    id = "F1"
    title = "Underfitting vs overfitting: capacity against train and test error"
    claim = ("Underfitting (learns poorly): lower the learning rate, improve the network "
             "structure, residual structure. Overfitting (good offline, bad online): more data "
             "samples, a penalty term in the loss, a smaller network.")
    expected = ("train error → 0 at degree 9 while test explodes; logistic train ≈ test ≈ "
                "32–37 %; MLP train 100 % / test ≈ 65 %")
    source = "Bishop PRML §1.1; MNIST-1D logs (Greydanus & Kobak 2024)"
    arms = ("polynomial degree 0 / 1 / 3 / 9 / 9 + ridge (ln λ = −18)",
            "MNIST-1D: logistic regression vs MLP")
    metrics = ("train / test RMS error", "train / test accuracy", "generalisation gap")

    degrees = (0, 1, 3, 9)
    nets = ("logistic", "mlp", "cnn")
    log_lam = -18.0
    draws = 20

    def run(self, ctx: Context) -> Result:
        poly = self._polynomials(ctx)
        nets = self._m1d(ctx)
        return self._report(ctx, poly, nets)

    def _polynomials(self, ctx: Context) -> dict[str, Any]:
        arms = [f"degree {d}" for d in self.degrees] + ["degree 9 + ridge"]
        out: dict[str, Any] = {a: {"train": [], "test": [], "w_max": []} for a in arms}
        curves: dict[str, Any] = {}
        for seed in ctx.seeds:
            rng = np.random.default_rng(seed)
            per: dict[str, dict[str, list]] = {a: {"train": [], "test": [], "w_max": []}
                                               for a in arms}
            # one seed = the median over several draws of the ten noisy points: a single draw
            # makes the degree-9 test error swing by an order of magnitude
            for draw in range(self.draws):
                x, t = sin_data(rng, 10)
                xt, tt = sin_data(rng, 100, grid=False)
                fits = [(f"degree {d}", poly_fit(x, t, d)) for d in self.degrees]
                fits.append(("degree 9 + ridge", poly_fit(x, t, 9, math.exp(self.log_lam))))
                for name, w in fits:
                    per[name]["train"].append(rms(w, x, t))
                    per[name]["test"].append(rms(w, xt, tt))
                    per[name]["w_max"].append(float(np.abs(w).max()))
                    if seed == ctx.seeds[0] and draw == 0:
                        curves[name] = w
                if seed == ctx.seeds[0] and draw == 0:
                    curves["data"] = (x, t)
            for name in arms:
                for key in ("train", "test", "w_max"):
                    out[name][key].append(float(np.median(per[name][key])))
        out["curves"] = curves
        return out

    def _m1d(self, ctx: Context) -> dict[str, Any]:
        x, y, xt, yt = ctx.dataset("m1d")
        if ctx.tiny:
            x, y, xt, yt = x[:400], y[:400], xt[:200], yt[:200]
        steps = ctx.budget(full=4000, quick=2000, tiny=10)
        every = max(1, steps // 12)
        out: dict[str, Any] = {"steps": steps, "every": every}
        for arm in self.nets:
            r = out[arm] = {"train": [], "test": [], "curve_train": [], "curve_test": []}
            for seed in ctx.seeds:
                common.seeded(seed)
                model = (nn.Linear(x.shape[1], 10) if arm == "logistic" else
                         M1dMLP(x.shape[1]) if arm == "mlp" else zoo.build("cnn"))
                opt = optim.Adam(model.parameters(), lr=1e-2)
                ctr, cte = [], []

                def evaluate(step: int, model: nn.Module = model, ctr: list = ctr,
                             cte: list = cte) -> None:
                    ctr.append(common.accuracy(model, x, y))
                    cte.append(common.accuracy(model, xt, yt))

                common.train(model, opt, x, y, steps, 100, seed, every=every, on_eval=evaluate)
                r["train"].append(ctr[-1])
                r["test"].append(cte[-1])
                r["curve_train"].append(ctr)
                r["curve_test"].append(cte)
        return out

    def _report(self, ctx: Context, poly: dict, nets: dict) -> Result:
        d3, d9, ridge = poly["degree 3"], poly["degree 9"], poly["degree 9 + ridge"]
        lg, mlp, cnn = nets["logistic"], nets["mlp"], nets["cnn"]
        gap = {a: list(np.subtract(nets[a]["train"], nets[a]["test"])) for a in self.nets}
        parts = [
            V.paired("degree 9: training error → 0", "the degree-9 fit interpolates the ten "
                     "points: train RMS below degree 3's", d9["train"], d3["train"],
                     expect="less", floor=0.05, metric="median train RMS",
                     arms=("degree 9", "degree 3")),
            V.paired("degree 9: test error explodes", "test RMS far above degree 3's",
                     d9["test"], d3["test"], floor=0.1, metric="median test RMS",
                     arms=("degree 9", "degree 3")),
            V.paired("a penalty term tames degree 9", "ridge (ln λ = −18) lowers degree 9's "
                     "test RMS", ridge["test"], d9["test"], expect="less", floor=0.1,
                     metric="median test RMS", arms=("degree 9 + ridge", "degree 9")),
            _tuning.equivalence("MNIST-1D logistic underfits: train ≈ test",
                                "the linear model's train and test accuracy agree within 5 "
                                "points", lg["train"], lg["test"], 0.05, metric="accuracy",
                                arms=("train", "test")),
            V.paired("logistic fits the training set worse than the MLP",
                     "underfitting: lower training accuracy", mlp["train"], lg["train"],
                     floor=0.05, metric="training accuracy", arms=("mlp", "logistic")),
            V.paired("the MLP overfits", "its train − test gap exceeds the logistic model's",
                     gap["mlp"], gap["logistic"], floor=0.05,
                     metric="train accuracy − test accuracy", arms=("mlp", "logistic")),
            V.paired("a better structure (CNN) beats the MLP on test",
                     "the note: improve the network structure; the CNN's test accuracy is "
                     "higher", cnn["test"], mlp["test"], floor=0.05, metric="test accuracy",
                     arms=("cnn", "mlp")),
        ]
        table = [table_row(name, median_train_rms=poly[name]["train"],
                           median_test_rms=poly[name]["test"],
                           median_max_abs_weight=poly[name]["w_max"])
                 for name in [f"degree {d}" for d in self.degrees] + ["degree 9 + ridge"]]
        table += [table_row(f"MNIST-1D {a}", train_acc=nets[a]["train"],
                            test_acc=nets[a]["test"], gap=gap[a]) for a in self.nets]
        xs = np.linspace(0, 1, 200)
        x, t = poly["curves"]["data"]
        fit_series: dict[str, Any] = {"sin 2πx": (xs, np.sin(2 * np.pi * xs), "k--")}
        for name in ("degree 0", "degree 1", "degree 3", "degree 9", "degree 9 + ridge"):
            w = poly["curves"][name]
            fit_series[name] = (xs, np.clip(np.vander(xs, len(w), increasing=True) @ w, -2, 2))
        fit_series["data"] = (x, t, "o")
        degs = list(self.degrees)
        err_series = {
            "train RMS": (degs, np.asarray([poly[f"degree {d}"]["train"] for d in degs]).T),
            "test RMS": (degs, np.asarray([poly[f"degree {d}"]["test"] for d in degs]).T),
        }
        steps_axis = np.arange(1, len(lg["curve_train"][0]) + 1) * nets["every"]
        acc_series = {f"{a} {split}": (steps_axis, nets[a][f"curve_{split}"])
                      for a in self.nets for split in ("train", "test")}
        plots = [
            common.panels(ctx.path("f1_polynomials.png"), [
                ("fits (first seed)", fit_series, "x", "t", False),
                ("error vs degree", err_series, "degree M", "E_RMS", True)]),
            common.panels(ctx.path("f1_m1d.png"), [
                ("MNIST-1D accuracy", acc_series, "step", "accuracy", False),
                ("generalisation gap", {a: (steps_axis, np.subtract(
                    nets[a]["curve_train"], nets[a]["curve_test"]))
                    for a in self.nets}, "step", "train − test acc", False)]),
        ]
        summary = (f"degree 9: train RMS {fmt(d9['train'])} (degree 3 {fmt(d3['train'])}), test "
                   f"RMS {fmt(d9['test'])} vs degree 3 {fmt(d3['test'])}, ridge "
                   f"{fmt(ridge['test'])}; MNIST-1D logistic train {fmt(lg['train'])} / test "
                   f"{fmt(lg['test'])}, MLP train {fmt(mlp['train'])} / test {fmt(mlp['test'])}, "
                   f"CNN train {fmt(cnn['train'])} / test {fmt(cnn['test'])}")
        numbers = {
            "poly_train_rms": {k: mean_std(poly[k]["train"]) for k in poly if k != "curves"},
            "poly_test_rms": {k: mean_std(poly[k]["test"]) for k in poly if k != "curves"},
            "m1d_train_acc": {a: mean_std(nets[a]["train"]) for a in self.nets},
            "m1d_test_acc": {a: mean_std(nets[a]["test"]) for a in self.nets},
        }
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=plots,
                           budget={"poly_points": 10, "poly_test_points": 100,
                                   "poly_draws_per_seed": self.draws,
                                   "ln_lambda": self.log_lam, "m1d_steps": nets["steps"],
                                   "optimizer": "Adam lr 1e-2, batch 100",
                                   "data": "m1d (a subset in tiny runs)"})


# ---------------------------------------------------------------------------------------------
def ridge_closed_form(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """argmin (1/2n)‖Xw − y‖² + (λ/2)‖w‖² = (XᵀX/n + λI)⁻¹ Xᵀy/n."""
    n, d = x.shape
    return np.linalg.solve(x.T @ x / n + lam * np.eye(d), x.T @ y / n)


def ridge_iterative(x: np.ndarray, y: np.ndarray, lam: float, steps: int) -> np.ndarray:
    """The same minimiser by full-batch gradient descent in chainrule: loss ½·MSE and
    ``weight_decay=λ`` (coupled L2), step 1/L with L = λ_max(XᵀX/n) + λ."""
    n, d = x.shape
    lip = float(np.linalg.eigvalsh(x.T @ x / n).max()) + lam
    model = nn.Linear(d, 1, bias=False).double()
    nn.init.zeros_(model.weight)
    opt = optim.SGD(model.parameters(), lr=1.0 / lip, weight_decay=lam)
    xt, yt = cr.from_numpy(x), cr.from_numpy(y.reshape(-1, 1))
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * nn.functional.mse_loss(model(xt), yt)).backward()
        opt.step()
    return model.weight._array.reshape(-1).copy()


@register
class F2Regularisation(Experiment):
    id = "F2"
    title = "L1 and L2 penalties: ridge's closed form, exact zeros from proximal L1"
    claim = ("Regularization adds a penalty to the loss so the learned parameters don't go too "
             "far: L1 and L2.")
    expected = "prox L1 gives exact zeros, subgradient L1 does not, L2 only shrinks"
    source = "Tibshirani 1996"
    arms = ("none", "L2 (weight_decay)", "L1 subgradient (loss + λ‖W‖₁)",
            "L1 proximal (SGD l1=λ)")
    metrics = ("exact zeros in the weights", "|w| < 1e-3 share", "weight norm", "test accuracy",
               "‖w_GD − w_ridge‖/‖w_ridge‖")

    l1 = 1e-3
    l2 = 1e-3

    def run(self, ctx: Context) -> Result:
        ridge = self._ridge(ctx)
        sparse = self._mlp(ctx)
        return self._report(ctx, ridge, sparse)

    def _ridge(self, ctx: Context) -> dict[str, list]:
        steps = ctx.budget(full=1000, quick=500, tiny=200)
        out: dict[str, list] = {"rel_err": [], "lams": [0.01, 0.1, 1.0], "w_norm": []}
        for seed in ctx.seeds:
            rng = np.random.default_rng(seed)
            x = rng.standard_normal((200, 20))
            y = x @ rng.standard_normal(20) + 0.5 * rng.standard_normal(200)
            errs, norms = [], []
            for lam in out["lams"]:
                w_cf = ridge_closed_form(x, y, lam)
                w_gd = ridge_iterative(x, y, lam, steps)
                errs.append(float(np.linalg.norm(w_gd - w_cf) / np.linalg.norm(w_cf)))
                norms.append(float(np.linalg.norm(w_cf)))
            out["rel_err"].append(max(errs))
            out["w_norm"].append(norms)
        out["steps"] = [steps]
        return out

    def _mlp(self, ctx: Context) -> dict[str, Any]:
        x, y, xt, yt = ctx.dataset("digits")
        steps = ctx.budget(full=6000, quick=1500, tiny=20)
        hidden = 32 if ctx.tiny else 100
        arms = ("none", "l2", "l1_subgradient", "l1_prox")
        out: dict[str, Any] = {a: {"zeros": [], "small": [], "norm": [], "acc": [], "hist": []}
                               for a in arms}
        for seed in ctx.seeds:
            for arm in arms:
                common.seeded(seed)
                model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(),
                                      nn.Linear(hidden, 10))
                weights = [model[0].weight, model[2].weight]
                biases = [model[0].bias, model[2].bias]
                wgroup: dict[str, Any] = {"params": weights}
                if arm == "l2":
                    wgroup["weight_decay"] = self.l2
                if arm == "l1_prox":
                    wgroup["l1"] = self.l1
                opt = optim.SGD([wgroup, {"params": biases}], lr=0.1)
                loss_fn = None
                if arm == "l1_subgradient":
                    def loss_fn(out: Any, target: Any, weights: list = weights) -> Any:
                        return (nn.functional.cross_entropy(out, target)
                                + nn.utils.l1_penalty(weights, self.l1))
                common.train(model, opt, x, y, steps, 32, seed, loss_fn=loss_fn, compile=True)
                w = np.concatenate([p._array.reshape(-1) for p in weights])
                r = out[arm]
                r["zeros"].append(float(np.mean(w == 0)))
                r["small"].append(float(np.mean(np.abs(w) < 1e-3)))
                r["norm"].append(float(np.linalg.norm(w)))
                r["acc"].append(common.accuracy(model, xt, yt))
                if seed == ctx.seeds[0]:
                    r["hist"] = w
        out["steps"] = steps
        out["hidden"] = hidden
        return out

    def _report(self, ctx: Context, ridge: dict, sp: dict) -> Result:
        prox, sub, l2, none = sp["l1_prox"], sp["l1_subgradient"], sp["l2"], sp["none"]
        parts = [
            V.paired("L2 only shrinks: smaller weight norm", "weight_decay lowers ‖W‖",
                     l2["norm"], none["norm"], expect="less",
                     floor=0.001 * float(np.mean(none["norm"])),
                     metric="‖W‖ (Frobenius, both layers)", arms=("L2", "none")),
            V.paired("L1 (subgradient) pushes weights toward 0",
                     "more weights with |w| < 1e-3 than without a penalty, but no exact zeros",
                     sub["small"], none["small"], floor=0.01, metric="share of |w| < 1e-3",
                     arms=("L1 subgradient", "none")),
            V.paired("L1 shrinks more weights to ~0 than L2",
                     "at equal λ = 1e-3, L1's share of |w| < 1e-3 exceeds L2's", sub["small"],
                     l2["small"], floor=0.01, metric="share of |w| < 1e-3",
                     arms=("L1 subgradient", "L2")),
            V.verified("proximal L1 gives exact zeros",
                       "soft-thresholding sets every |w| ≤ lr·λ to exactly 0 (by construction "
                       "of the prox step)", min(prox["zeros"]) > 0.0,
                       detail=f"exact-zero share {fmt(prox['zeros'])}"),
            V.verified("subgradient L1 and L2 give no exact zeros",
                       "a gradient step lands on exactly 0.0 only by accident of rounding",
                       max(sub["zeros"] + l2["zeros"]) < 0.01,
                       detail=f"exact-zero share subgradient {fmt(sub['zeros'])}, L2 "
                              f"{fmt(l2['zeros'])}"),
            V.verified("ridge: gradient descent reaches the closed form",
                       "(XᵀX/n + λI)⁻¹Xᵀy/n and GD with weight_decay agree to 1e-6",
                       max(ridge["rel_err"]) < 1e-6,
                       detail=f"max relative error {max(ridge['rel_err']):.1e}"),
        ]
        arms = ("none", "l2", "l1_subgradient", "l1_prox")
        table = [table_row(a, exact_zero_share=sp[a]["zeros"], below_1e3_share=sp[a]["small"],
                           weight_norm=sp[a]["norm"], test_acc=sp[a]["acc"]) for a in arms]
        table.append(table_row("ridge: GD vs closed form", max_rel_error=ridge["rel_err"]))
        plots = [self._plot(ctx.path("f2_weights.png"), sp, arms)]
        summary = (f"exact zeros: prox L1 {fmt(prox['zeros'])}, subgradient L1 "
                   f"{fmt(sub['zeros'])} (|w|<1e-3: {fmt(sub['small'])}), L2 {fmt(l2['zeros'])}, "
                   f"none {fmt(none['zeros'])}; ‖W‖ L2 {fmt(l2['norm'])} vs none "
                   f"{fmt(none['norm'])}; test acc prox {fmt(prox['acc'])} vs none "
                   f"{fmt(none['acc'])}; ridge GD vs closed form rel. error "
                   f"{fmt(ridge['rel_err'])}")
        numbers = {
            "exact_zero_share": {a: mean_std(sp[a]["zeros"]) for a in arms},
            "below_1e-3_share": {a: mean_std(sp[a]["small"]) for a in arms},
            "weight_norm": {a: mean_std(sp[a]["norm"]) for a in arms},
            "test_acc": {a: mean_std(sp[a]["acc"]) for a in arms},
            "ridge_max_rel_error": mean_std(ridge["rel_err"]),
        }
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=plots,
                           budget={"mlp_steps": sp["steps"], "hidden": sp["hidden"],
                                   "data": "digits", "optimizer": "SGD lr 0.1, batch 32",
                                   "l1": self.l1, "l2_weight_decay": self.l2,
                                   "ridge_gd_steps": ridge["steps"][0]})

    def _plot(self, path: str, sp: dict, arms: tuple[str, ...]) -> str:
        plt = common.pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), dpi=100)
        bins = np.linspace(-0.3, 0.3, 121)
        for a in arms:
            axes[0].hist(np.clip(sp[a]["hist"], -0.3, 0.3), bins=bins, histtype="step", label=a)
        axes[0].set_yscale("log")
        axes[0].set_title("weights (first seed)", fontsize=10)
        axes[0].set_xlabel("w")
        axes[0].legend(fontsize=7)
        means, halves = common.bar_errors([sp[a]["zeros"] for a in arms])
        axes[1].bar(range(len(arms)), means, yerr=halves, capsize=3)
        axes[1].set_xticks(range(len(arms)), arms, fontsize=8)
        axes[1].set_title("share of weights exactly 0", fontsize=10)
        axes[1].set_ylabel(common.band_label(len(sp[arms[0]]["zeros"])), fontsize=8)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.25)
        fig.savefig(path)
        plt.close(fig)
        return path
