"""Activation functions: saturation and vanishing gradients (A1), initialisation (A2), dead
ReLUs and the cost of an activation (A3).

Every network here is a plain MLP whose forward pass is written out layer by layer so that the
pre-activations z_l keep their gradients δ_l = ∂L/∂z_l (``retain_grad``): the per-layer
statistics (saturation, variance of activations and of back-propagated gradients, single-sign
rows of ∂L/∂W = δ xᵀ) are read from one probe batch without touching the training loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import diagnostics as D
from chainrule import nn, optim
from chainrule.lab import common
from chainrule.lab import verdict as V
from chainrule.lab.experiment import Context, Experiment, Result, register
from chainrule.lab.experiments import _tuning
from chainrule.lab.verdict import fmt, mean_std, table_row

__all__ = ["A1Saturation", "A2Initialisation", "A3DeadReLU"]

_ACTS: dict[str, Callable[[Any], Any]] = {
    "sigmoid": lambda z: z.sigmoid(),
    "tanh": lambda z: z.tanh(),
    "relu": lambda z: z.relu(),
    "leaky_relu": lambda z: nn.functional.leaky_relu(z, 0.01),
}


class MLP(nn.Module):
    """Linear layers with one activation between them; ``record`` keeps z_l, h_l per layer."""

    def __init__(self, sizes: list[int], act: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.act = act

    def forward(self, x: Any) -> Any:
        return self.record(x)[0]

    def record(self, x: Any, retain: bool = False) -> tuple[Any, list[Any], list[Any]]:
        """(output, pre-activations z_1..z_H, activations h_0 = x, h_1..h_H)."""
        f = _ACTS[self.act]
        zs, hs = [], [x]
        h = x
        for layer in self.layers[:-1]:
            z = layer(h)
            if retain:
                z.retain_grad()
            h = f(z)
            zs.append(z)
            hs.append(h)
        return self.layers[-1](h), zs, hs

    def weights(self) -> list[Any]:
        return [layer.weight for layer in self.layers]


def init_mlp(model: MLP, scheme: str, bias: float = 0.0) -> MLP:
    """Initialise in place: 'standard' W ~ U[±1/√fan_in] (Glorot & Bengio's "standard"),
    'xavier' W ~ U[±√6/√(fan_in + fan_out)], 'he' W ~ N(0, 2/fan_in); biases = ``bias``
    (hidden layers; the output layer's bias is 0)."""
    for i, layer in enumerate(model.layers):
        fan_out, fan_in = layer.weight.shape
        if scheme == "standard":
            a = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(layer.weight, -a, a)
        elif scheme == "xavier":
            nn.init.xavier_uniform_(layer.weight)
        elif scheme == "he":
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        else:
            raise ValueError(f"init_mlp: unknown scheme {scheme!r}")
        last = i == len(model.layers) - 1
        nn.init.constant_(layer.bias, 0.0 if last else bias)
    return model


def data(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mnist5k (digits in the unit suite's tiny runs, to stay within their time budget)."""
    return ctx.dataset("digits" if ctx.tiny else "mnist5k")


def probe(model: MLP, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """One forward/backward pass on a probe batch (no update): per-layer z, h, δ, ∂L/∂W."""
    for p in model.parameters():
        p.grad = None
    out, zs, hs = model.record(cr.from_numpy(x), retain=True)
    nn.functional.cross_entropy(out, cr.from_numpy(y)).backward()
    rec = {
        "z": [z._array for z in zs],
        "h": [h._array for h in hs],
        "delta": [z.grad._array for z in zs],
        "gw": [w.grad._array.copy() for w in model.weights()],
    }
    for p in model.parameters():
        p.grad = None
    return rec


def _norm(a: np.ndarray) -> float:
    return float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))


def _save_grid(path: str, panels: list[tuple[str, dict[str, Any], str, bool]], x: Any = None,
               xlabel: str = "step") -> str:
    """Several small line plots side by side: (title, {name: values}, ylabel, logy), all on
    the x values ``x`` (default 0, 1, ...); drawn by :func:`common.panels`."""
    def with_x(series: dict[str, Any]) -> dict[str, Any]:
        return {name: (np.asarray(x if x is not None else np.arange(np.shape(ys)[-1])), ys, ".-")
                for name, ys in series.items()}

    return common.panels(path, [(title, with_x(series), xlabel, ylabel, logy)
                                for title, series, ylabel, logy in panels])


# ---------------------------------------------------------------------------------------------
@register
class A1Saturation(Experiment):
    id = "A1"
    title = "Sigmoid saturates, its gradients vanish, its output is not zero-centred"
    claim = ("Sigmoid (logistic): output in (0, 1); very flat near 0 and 1, so the gradient can "
             "be ~0 and vanishes easily; output centred at 0.5, not 0; costly to compute.")
    expected = ("sigmoid: top layer saturates early, grad norms shrink toward the input, "
                "slower/worse at equal budget; ~100 % single-sign rows after sigmoid vs ~0 "
                "after tanh")
    source = "Glorot & Bengio 2010"
    arms = ("sigmoid", "tanh", "relu")
    metrics = ("saturation % per layer", "‖∂L/∂W₁‖/‖∂L/∂W_L‖", "test error",
               "single-sign fraction of ∂L/∂W rows")

    depth = 5

    # Glorot & Bengio's saturation: σ < 0.02 or σ > 0.98 (σ' < a twelfth of its maximum);
    # for tanh |u| > 0.98
    sat_threshold = {"sigmoid": 0.96, "tanh": 0.98}
    lr_grid = (0.03, 0.1, 0.3, 1.0, 3.0)

    def _fit(self, ctx: Context, arm: str, lr: float, seed: int, x: np.ndarray, y: np.ndarray,
             steps: int, sizes: list[int], on_eval: Any = None, every: int = 0
             ) -> tuple[MLP, list[float]]:
        common.seeded(seed)
        model = init_mlp(MLP(sizes, arm), "standard")
        opt = optim.SGD(model.parameters(), lr=lr)
        losses = common.train(model, opt, x, y, steps, 32, seed, every=every, on_eval=on_eval)
        return model, losses

    def run(self, ctx: Context) -> Result:
        x_all, y_all, xt, yt = data(ctx)
        x, y, xv, yv = _tuning.validation_split(x_all, y_all)
        width = 32 if ctx.tiny else 100
        steps = ctx.budget(full=3000, quick=500, tiny=20)
        every = max(1, steps // 10)
        batch = 32
        sizes = [x.shape[1]] + [width] * self.depth + [10]
        px, py = x[:256], y[:256]
        lrs, tuning = {}, []
        for arm in self.arms:  # each activation gets its own lr, chosen on validation error
            def score(lr: float, seed: int, arm: str = arm) -> float:
                model, _ = self._fit(ctx, arm, lr, seed, x, y, steps, sizes)
                return 1.0 - common.accuracy(model, xv, yv)

            lrs[arm], rec = _tuning.choose(ctx, self.id, arm, "lr", self.lr_grid, score,
                                           metric="validation error")
            tuning.append(rec)
        keys = ("sat", "sat_first", "means", "top_mean", "first_mean", "ratio", "sign", "err",
                "loss", "norms", "sat_layers", "correct")
        res: dict[str, dict[str, list]] = {a: {k: [] for k in keys} for a in self.arms}
        for seed in ctx.seeds:
            for arm in self.arms:
                sat, ratios, signs, norms, means = [], [], [], [], []
                holder: list[MLP] = []

                def measure(step: int, holder: list = holder, sat: list = sat,
                            ratios: list = ratios, signs: list = signs, norms: list = norms,
                            means: list = means, arm: str = arm) -> None:
                    rec = probe(holder[0], px, py)
                    means.append([float(h.mean()) for h in rec["h"][1:]])
                    if arm in self.sat_threshold:
                        sat.append([D.saturation_fraction(h, arm,
                                                          threshold=self.sat_threshold[arm])
                                    for h in rec["h"][1:]])
                    gn = [_norm(g) for g in rec["gw"]]
                    norms.append(gn)
                    ratios.append(gn[0] / gn[-2])
                    # rows of ∂L/∂W_l = δ_l h_{l-1}ᵀ for the layers fed by an activation
                    signs.append(np.mean([D.single_sign_fraction(rec["h"][k], rec["delta"][k])
                                          for k in range(1, self.depth)]))

                common.seeded(seed)
                holder.append(init_mlp(MLP(sizes, arm), "standard"))
                measure(0)
                opt = optim.SGD(holder[0].parameters(), lr=lrs[arm])
                losses = common.train(holder[0], opt, x, y, steps, batch, seed, every=every,
                                      on_eval=measure)
                model = holder[0]
                r = res[arm]
                mu = np.asarray(means)
                r["means"].append(mu)
                k = int(np.argmin(mu[:, -1]))  # when the top layer is closest to 0
                r["top_mean"].append(float(mu[k, -1]))
                r["first_mean"].append(float(mu[k, 0]))
                if sat:
                    s = np.asarray(sat)
                    r["sat_layers"].append(s)
                    r["sat"].append(float(s[:, -1].max()))
                    r["sat_first"].append(float(s[:, 0].max()))
                r["ratio"].append(float(np.exp(np.mean(np.log(ratios)))))
                r["sign"].append(float(np.mean(signs)))
                with cr.no_grad():
                    model.eval()
                    pred = model(cr.from_numpy(xt))._array.argmax(-1)
                r["correct"].append(pred == yt)
                r["err"].append(1.0 - float(np.mean(pred == yt)))
                r["loss"].append(common.smooth(losses, max(1, steps // 30)))
                r["norms"].append(np.asarray(norms))
        return self._report(ctx, res, steps, every, lrs, batch, sizes, tuning)

    # 10 classes: an error within 0.05 of 0.9 is a net that has not learnt
    chance_error = 0.85

    def _at_chance(self, res: dict, tuning: list[dict]) -> dict[str, str]:
        """Per arm, a plain-language note when the arm does not train at this budget: its test
        error is at chance on most seeds and every validation score of its lr grid is too.
        A gap to such an arm then says "does not train within the budget at any lr tried",
        not "trains more slowly" (the tuning was not informative, and the report says so)."""
        notes = {}
        for rec in tuning:
            arm, scores = rec.get("arm"), [s for s in rec.get("scores", []) if s is not None]
            errs = np.asarray(res.get(arm, {}).get("err", []), dtype=np.float64)
            if (arm in res and scores and min(scores) >= self.chance_error and errs.size
                    and np.mean(errs >= self.chance_error) > 0.5):
                stuck = int(np.sum(errs >= self.chance_error))
                grid = ", ".join(f"{g:g}" for g in rec["grid"])
                notes[arm] = (f"{arm} does not train within the budget: test error at chance "
                              f"(>= {self.chance_error:g}) on {stuck}/{errs.size} seeds and "
                              f"validation error >= {min(scores):.3g} at every lr of its grid "
                              f"({grid}), so the lr chosen ({rec.get('chosen', float('nan')):g}) "
                              "is not a tuned optimum: what depends on it (saturation grows "
                              "with the lr) describes that lr")
        return notes

    def _report(self, ctx: Context, res: dict, steps: int, every: int, lrs: dict, batch: int,
                sizes: list[int], tuning: list[dict]) -> Result:
        sg, th, rl = res["sigmoid"], res["tanh"], res["relu"]
        log_ratio = {a: list(np.log10(res[a]["ratio"])) for a in self.arms}
        parts = [
            V.paired("sigmoid top layer saturates more than its first",
                     "Glorot & Bengio: the top sigmoid layer is driven into saturation while the "
                     "first stays near 0.5", sg["sat"], sg["sat_first"], floor=0.05,
                     metric="peak share of units with σ < 0.02 or σ > 0.98",
                     arms=("sigmoid top layer", "sigmoid first layer")),
            V.paired("sigmoid saturates more than tanh (top layer)",
                     "sigmoid's top layer saturates more than tanh's at each one's tuned lr",
                     sg["sat"], th["sat"], floor=0.05,
                     metric="peak saturated share of the top hidden layer",
                     arms=("sigmoid", "tanh")),
            V.paired("sigmoid gradients shrink toward the input more than relu's",
                     "‖∂L/∂W₁‖/‖∂L/∂W_L‖ is smaller with sigmoid than with relu",
                     log_ratio["sigmoid"], log_ratio["relu"], expect="less", floor=0.3,
                     metric="log10 ‖∂L/∂W₁‖/‖∂L/∂W_L‖ (geometric mean over training)",
                     arms=("sigmoid", "relu")),
            V.paired("sigmoid trains worse than relu at equal budget",
                     "test error after the same steps, each arm at its tuned lr",
                     sg["err"], rl["err"], floor=0.01, metric="test error",
                     arms=("sigmoid", "relu")),
            V.paired("sigmoid trains worse than tanh at equal budget",
                     "non-zero-centred outputs slow learning (LeCun et al. 1998): test error "
                     "sigmoid > tanh, each at its tuned lr", sg["err"], th["err"], floor=0.01,
                     metric="test error", arms=("sigmoid", "tanh")),
            V.verified("sigmoid output not zero-centred",
                       "σ(z) ∈ (0, 1), so every hidden layer's mean output is > 0",
                       all(np.all(np.asarray(m) > 0) for m in sg["means"]),
                       detail=f"mean first-layer output {fmt(sg['first_mean'])}"),
            V.verified("single-sign rows behind sigmoid",
                       "rows of ∂L/∂W = δ hᵀ fed by sigmoid outputs (all > 0) share one sign "
                       "per example: an identity, not evidence",
                       min(sg["sign"]) > 0.999,
                       detail=f"single-sign fraction sigmoid {fmt(sg['sign'])}, tanh "
                              f"{fmt(th['sign'])}", value=float(np.mean(sg["sign"]))),
        ]
        table = [table_row(a, lr=lrs[a], top_layer_mean_min=res[a]["top_mean"],
                           first_layer_mean_then=res[a]["first_mean"],
                           first_layer_saturation_peak=res[a]["sat_first"] or "n/a",
                           top_layer_saturation_peak=res[a]["sat"] or "n/a",
                           grad_ratio_first_over_last=res[a]["ratio"],
                           single_sign_rows=res[a]["sign"], test_error=res[a]["err"])
                 for a in self.arms]
        chance = self._at_chance(res, tuning)
        for part in parts[:5]:  # every empirical part involves the sigmoid arm, whose lr a
            if "sigmoid" in chance:  # flat (uninformative) grid chose
                part.detail = "; ".join(filter(None, [part.detail, chance["sigmoid"]]))
        checkpoints = np.arange(0, steps + 1, every)[: len(sg["norms"][0])]
        plots = [
            _save_grid(ctx.path("a1_saturation.png"), [
                ("sigmoid: mean activation per layer",
                 {f"layer {k + 1}": np.asarray(sg["means"])[:, :, k] for k in range(self.depth)},
                 "mean σ(z)", False)] + [
                (f"{arm}: saturated share per layer",
                 {f"layer {k + 1}": np.asarray(res[arm]["sat_layers"])[:, :, k]
                  for k in range(self.depth)}, "saturated share", False)
                for arm in ("sigmoid", "tanh")], x=checkpoints),
            _save_grid(ctx.path("a1_gradients.png"), [
                ("‖∂L/∂W_l‖ at init", {a: np.asarray(res[a]["norms"])[:, 0, :]
                                       for a in self.arms}, "Frobenius norm", True),
                ("‖∂L/∂W_l‖ at the end", {a: np.asarray(res[a]["norms"])[:, -1, :]
                                          for a in self.arms}, "Frobenius norm", True),
            ], x=np.arange(1, len(sizes)), xlabel="layer (1 = input side)"),
            common.plot(ctx.path("a1_loss.png"), {a: np.asarray(res[a]["loss"])
                                                  for a in self.arms},
                        "training loss (smoothed)", "step", "cross-entropy"),
        ]
        summary = "".join(f"{note}; " for note in chance.values()) + (
                   f"tuned lr sigmoid {lrs['sigmoid']:g}, tanh {lrs['tanh']:g}, relu "
                   f"{lrs['relu']:g}; sigmoid saturated share (σ<0.02 or >0.98) top "
                   f"{fmt(sg['sat'])} vs first {fmt(sg['sat_first'])} (tanh top "
                   f"{fmt(th['sat'])}); ‖g₁‖/‖g_L‖ sigmoid {fmt(sg['ratio'])}, relu "
                   f"{fmt(rl['ratio'])}; test error sigmoid {fmt(sg['err'])}, tanh "
                   f"{fmt(th['err'])}, relu {fmt(rl['err'])}")
        numbers = {
            "lr": lrs,
            "sigmoid_top_mean_min": mean_std(sg["top_mean"]),
            "sigmoid_first_mean_then": mean_std(sg["first_mean"]),
            "top_saturation_peak": {a: mean_std(res[a]["sat"]) for a in ("sigmoid", "tanh")},
            "first_saturation_peak": {a: mean_std(res[a]["sat_first"])
                                      for a in ("sigmoid", "tanh")},
            "grad_ratio_first_over_last": {a: mean_std(res[a]["ratio"]) for a in self.arms},
            "single_sign_fraction": {a: mean_std(res[a]["sign"]) for a in self.arms},
            "test_error": {a: mean_std(res[a]["err"]) for a in self.arms},
        }
        return self.result(ctx, summary=summary, parts=parts, **_tuning.attach(tuning, dict(
            numbers=numbers, table=table, plots=plots,
            budget={"steps": steps, "batch": batch, "lr": lrs, "optimizer": "SGD",
                    "sizes": sizes, "init": "U[±1/√fan_in], bias 0",
                    "data": "fit on 80 % of the training split, lr chosen on the other 20 %"})))


# ---------------------------------------------------------------------------------------------
def _spread(v: list[float]) -> float:
    """max/min of per-layer variances (1 = every layer alike)."""
    a = np.asarray(v, dtype=np.float64)
    return float(a.max() / max(a.min(), 1e-300))


@register
class A2Initialisation(Experiment):
    id = "A2"
    title = "Tanh gradients vanish too; initialisation decides (standard vs Xavier)"
    claim = "Tanh (hyperbolic tangent): output in (−1, 1); its gradient also vanishes."
    expected = ("Xavier keeps per-layer activation and gradient variance about equal; standard "
                "init does not")
    source = "Glorot & Bengio 2010"
    arms = ("standard U[±1/√n]", "xavier U[±√6/√(n_in+n_out)]")
    metrics = ("max/min over layers of Var(h_l)", "max/min over layers of Var(∂L/∂z_l)",
               "test error")

    depth = 5

    def run(self, ctx: Context) -> Result:
        x, y, xt, yt = data(ctx)
        width = 32 if ctx.tiny else 100
        steps = ctx.budget(full=2000, quick=300, tiny=10)
        lr, batch = 0.1, 32
        sizes = [x.shape[1]] + [width] * self.depth + [10]
        px, py = x[:500], y[:500]
        schemes = ("standard", "xavier")
        out = {s: {"act0": [], "grad0": [], "act1": [], "grad1": [], "err": [], "wgrad0": [],
                   "var_h": [], "var_d": []} for s in schemes}
        for seed in ctx.seeds:
            for scheme in schemes:
                common.seeded(seed)
                model = init_mlp(MLP(sizes, "tanh"), scheme)
                rec = probe(model, px, py)
                var_h = [float(h.var()) for h in rec["h"][1:]]
                var_d = [float(d.var()) for d in rec["delta"]]
                r = out[scheme]
                r["var_h"].append(var_h)
                r["var_d"].append(var_d)
                r["act0"].append(_spread(var_h))
                r["grad0"].append(_spread(var_d))
                r["wgrad0"].append(_spread([float(g.var()) for g in rec["gw"][: self.depth]]))
                opt = optim.SGD(model.parameters(), lr=lr)
                common.train(model, opt, x, y, steps, batch, seed)
                rec = probe(model, px, py)
                r["act1"].append(_spread([float(h.var()) for h in rec["h"][1:]]))
                r["grad1"].append(_spread([float(d.var()) for d in rec["delta"]]))
                r["err"].append(1.0 - common.accuracy(model, xt, yt))
        st, xv = out["standard"], out["xavier"]
        la = {s: list(np.log10(out[s]["act0"])) for s in schemes}
        lg = {s: list(np.log10(out[s]["grad0"])) for s in schemes}
        parts = [
            V.paired("xavier evens out activation variances",
                     "max/min over layers of Var(h_l) at init is smaller with Xavier",
                     la["xavier"], la["standard"], expect="less", floor=0.1,
                     metric="log10 max/min of per-layer Var(h_l) at init",
                     arms=("xavier", "standard")),
            V.paired("xavier evens out back-propagated gradient variances",
                     "max/min over layers of Var(∂L/∂z_l) at init is smaller with Xavier",
                     lg["xavier"], lg["standard"], expect="less", floor=0.1,
                     metric="log10 max/min of per-layer Var(∂L/∂z_l) at init",
                     arms=("xavier", "standard")),
            V.one_sample("tanh gradients vanish toward the input under standard init",
                         "the note: tanh's gradient also vanishes; with U[±1/√n] the per-layer "
                         "Var(∂L/∂z_l) spreads over more than a factor 2 at init",
                         lg["standard"], reference=float(np.log10(2.0)), floor=0.0,
                         metric="log10 max/min of per-layer Var(∂L/∂z_l), standard init",
                         arms=("standard",)),
        ]
        table = [table_row(s, act_var_ratio_init=out[s]["act0"],
                           grad_var_ratio_init=out[s]["grad0"],
                           weight_grad_var_ratio_init=out[s]["wgrad0"],
                           act_var_ratio_trained=out[s]["act1"],
                           grad_var_ratio_trained=out[s]["grad1"], test_error=out[s]["err"])
                 for s in schemes]
        layers = np.arange(1, self.depth + 1)
        plots = [_save_grid(ctx.path("a2_variances.png"), [
            ("Var(h_l) at init", {s: np.asarray(out[s]["var_h"]) for s in schemes},
             "variance", True),
            ("Var(∂L/∂z_l) at init", {s: np.asarray(out[s]["var_d"]) for s in schemes},
             "variance", True),
        ], x=layers, xlabel="hidden layer (1 = input side)")]
        summary = (f"max/min of per-layer Var(h) at init: standard {fmt(st['act0'])} vs xavier "
                   f"{fmt(xv['act0'])}; of Var(∂L/∂z): standard {fmt(st['grad0'])} vs xavier "
                   f"{fmt(xv['grad0'])}; test error after {steps} steps standard "
                   f"{fmt(st['err'])}, xavier {fmt(xv['err'])}")
        numbers = {
            "act_var_ratio_init": {s: mean_std(out[s]["act0"]) for s in schemes},
            "grad_var_ratio_init": {s: mean_std(out[s]["grad0"]) for s in schemes},
            "weight_grad_var_ratio_init": {s: mean_std(out[s]["wgrad0"]) for s in schemes},
            "act_var_ratio_trained": {s: mean_std(out[s]["act1"]) for s in schemes},
            "grad_var_ratio_trained": {s: mean_std(out[s]["grad1"]) for s in schemes},
            "test_error": {s: mean_std(out[s]["err"]) for s in schemes},
        }
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=plots,
                           budget={"steps": steps, "batch": batch, "lr": lr, "optimizer": "SGD",
                                   "sizes": sizes, "probe": len(py)})


# ---------------------------------------------------------------------------------------------
def _inactive(model: MLP, x: np.ndarray) -> np.ndarray:
    """Per hidden unit (all layers concatenated): True when z ≤ 0 on every probe example.

    For ReLU that is a dead unit (zero output and zero gradient on all of them)."""
    with cr.no_grad():
        _, zs, _ = model.record(cr.from_numpy(x))
    return np.concatenate([(z._array <= 0).all(axis=0) for z in zs])


def _revived(history: list[np.ndarray]) -> tuple[float, int]:
    """Share of the units ever inactive at a checkpoint that are active at a later one."""
    h = np.asarray(history)  # checkpoints × units
    ever, revived = np.zeros(h.shape[1], bool), np.zeros(h.shape[1], bool)
    for row in h:
        revived |= ever & ~row
        ever |= row
    n = int(ever.sum())
    return (float(revived.sum() / n) if n else 0.0), n


def _ns_per_element(fn: Callable[[Any], Any], n: int, backward: bool, reps: int) -> float:
    """Best-of-``reps`` time of ``fn`` (and its backward) on ``n`` float32 elements."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(n).astype(np.float32)
    g = cr.from_numpy(np.ones(n, np.float32))
    best = math.inf
    for _ in range(reps):
        t = cr.from_numpy(a.copy()).requires_grad_(backward)
        start = time.perf_counter()
        out = fn(t)
        if backward:
            out.backward(g)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e9


@register
class A3DeadReLU(Experiment):
    id = "A3"
    title = "ReLU: cheap, no saturation for x > 0, dead for x < 0; LeakyReLU fixes it"
    claim = ("ReLU (rectified linear unit): a simple threshold, so cheap; does not saturate, so "
             "no vanishing gradient; not zero-centred; no gradient at 0 (use the left or right "
             "derivative); x < 0 is the inactive state. LeakyReLU: corrects ReLU's negative "
             "part.")
    expected = ("dead units appear and never recover with ReLU, none with LeakyReLU; ReLU grads "
                "don't decay geometrically")
    source = "Nair & Hinton 2010; Maas et al. 2013"
    arms = ("bias −3: relu vs leaky_relu (Adam)", "SGD lr: relu 0.05 vs relu 0.7 vs leaky 0.7",
            "depth 10: relu + He vs sigmoid + standard", "relu vs sigmoid ns/element")
    metrics = ("dead (inactive on every probe example) %", "revived share",
               "‖∂L/∂W₁‖/‖∂L/∂W₁₀‖", "ns/element")

    def run(self, ctx: Context) -> Result:
        x, y, xt, yt = data(ctx)
        width = 32 if ctx.tiny else 100
        steps = ctx.budget(full=2000, quick=300, tiny=10)
        every = max(1, steps // 10)
        px = x  # dead = inactive on EVERY training example: then its gradient is exactly zero
        sizes = [x.shape[1], width, width, 10]
        # (name, activation, hidden bias, optimizer, lr): one factor differs from its partner
        settings = [("bias-3 relu", "relu", -3.0, "adam", 0.01),
                    ("bias-3 leaky", "leaky_relu", -3.0, "adam", 0.01),
                    ("lr0.05 relu", "relu", 0.0, "sgd", 0.05),
                    ("lr0.7 relu", "relu", 0.0, "sgd", 0.7),
                    ("lr0.7 leaky", "leaky_relu", 0.0, "sgd", 0.7)]
        dead = {s[0]: {"final": [], "peak": [], "revived": [], "revived_l1": [], "curve": [],
                          "err": []}
                for s in settings}
        for seed in ctx.seeds:
            for name, act, bias, opt_name, lr in settings:
                common.seeded(seed)
                model = init_mlp(MLP(sizes, act), "standard", bias=bias)
                opt = (optim.Adam(model.parameters(), lr=lr) if opt_name == "adam"
                       else optim.SGD(model.parameters(), lr=lr))
                hist = [_inactive(model, px)]
                common.train(model, opt, x, y, steps, 32, seed, every=every,
                             on_eval=lambda s, m=model, h=hist: h.append(_inactive(m, px)))
                frac = [float(h.mean()) for h in hist]
                d = dead[name]
                d["curve"].append(frac)
                d["final"].append(frac[-1])
                d["peak"].append(max(frac))
                d["revived"].append(_revived(hist)[0])
                d["revived_l1"].append(_revived([h[:width] for h in hist])[0])
                d["err"].append(1.0 - common.accuracy(model, xt, yt))
        depth = self._depth_ratios(ctx, x, y, width)
        timing = self._timing(ctx)
        return self._report(ctx, dead, depth, timing, steps, every, sizes)

    def _depth_ratios(self, ctx: Context, x: np.ndarray, y: np.ndarray,
                      width: int) -> dict[str, Any]:
        """‖∂L/∂W_l‖ per layer at init of a 10-hidden-layer net (no training)."""
        sizes = [x.shape[1]] + [width] * 10 + [10]
        out: dict[str, Any] = {"relu+he": {"ratio": [], "norms": []},
                               "sigmoid+standard": {"ratio": [], "norms": []}}
        for seed in ctx.seeds:
            for key, act, scheme in (("relu+he", "relu", "he"),
                                     ("sigmoid+standard", "sigmoid", "standard")):
                common.seeded(seed)
                model = init_mlp(MLP(sizes, act), scheme)
                gn = [_norm(g) for g in probe(model, x[:256], y[:256])["gw"][:10]]
                out[key]["norms"].append(gn)
                out[key]["ratio"].append(gn[0] / gn[-1])
        return out

    def _timing(self, ctx: Context) -> dict[str, Any]:
        n = 100_000 if ctx.tiny else 1_000_000
        reps = 3 if ctx.tiny else 10
        fns = {"relu": lambda t: t.relu(), "sigmoid": lambda t: t.sigmoid()}
        res: dict[str, Any] = {name: {"fwd": [], "fwd_bwd": []} for name in fns}
        for _ in ctx.seeds:  # independent repetitions, alternating the two activations
            for name, fn in fns.items():
                res[name]["fwd"].append(_ns_per_element(fn, n, False, reps))
                res[name]["fwd_bwd"].append(_ns_per_element(fn, n, True, reps))
        res["elements"] = n
        return res

    def _report(self, ctx: Context, dead: dict, depth: dict, timing: dict, steps: int,
                every: int, sizes: list[int]) -> Result:
        b_relu, b_leaky = dead["bias-3 relu"], dead["bias-3 leaky"]
        l_small, l_big, l_leaky = dead["lr0.05 relu"], dead["lr0.7 relu"], dead["lr0.7 leaky"]
        # a dead unit's gradient is exactly zero, so SGD and Adam (from zero moments) never move
        # it: a dead first-layer unit sees fixed inputs and stays dead by construction (shown as
        # an identity); a deeper one can come back when the layer below changes
        lr_relu = list(np.log10(depth["relu+he"]["ratio"]))
        lr_sig = list(np.log10(depth["sigmoid+standard"]["ratio"]))
        parts = [
            V.verified("bias −3 kills every relu at step 0",
                       "with every hidden bias at −3 and |Wx| < 3 all ReLUs start inactive on "
                       "all examples: true by construction, not evidence",
                       all(c[0] >= 0.999 for c in b_relu["curve"]),
                       detail=f"inactive share at step 0 {fmt([c[0] for c in b_relu['curve']])}"),
            V.verified("dead first-layer units never revive",
                       "a first-layer unit inactive on every example gets zero gradient, so "
                       "nothing moves it (identity of the update rule)",
                       max(b_relu["revived_l1"] + l_big["revived_l1"]) == 0.0,
                       detail=f"revived share, layer 1: {fmt(l_big['revived_l1'])}"),
            V.paired("a large lr kills relu units",
                     "SGD at lr 0.7 leaves more relu units dead than at lr 0.05",
                     l_big["final"], l_small["final"], floor=0.02,
                     metric="share of hidden units inactive on every training example",
                     arms=("relu lr 0.7", "relu lr 0.05")),
            V.paired("leaky relu does not die at a large lr",
                     "at lr 0.7 fewer leaky units than relu units end inactive on every example",
                     l_big["final"], l_leaky["final"], floor=0.02,
                     metric="share of hidden units inactive on every training example",
                     arms=("relu lr 0.7", "leaky lr 0.7")),
            V.paired("leaky units recover from bias −3",
                     "LeakyReLU's negative slope lets units pushed below 0 come back; ReLU's "
                     "do not", b_leaky["revived"], b_relu["revived"], floor=0.1,
                     metric="share of ever-inactive units active again later",
                     arms=("leaky", "relu")),
            V.paired("relu gradients do not decay geometrically with depth",
                     "at init, ‖∂L/∂W₁‖/‖∂L/∂W₁₀‖ of a 10-layer relu+He net is orders of "
                     "magnitude above the sigmoid net's", lr_relu, lr_sig, floor=1.0,
                     metric="log10 ‖∂L/∂W₁‖/‖∂L/∂W₁₀‖ at init",
                     arms=("relu + He", "sigmoid + standard")),
            V.paired("relu is cheaper than sigmoid",
                     "forward time per element (best of repeats, measured on a shared machine)",
                     timing["relu"]["fwd"], timing["sigmoid"]["fwd"], expect="less", floor=0.1,
                     metric="ns per element, forward", arms=("relu", "sigmoid")),
        ]
        table = [table_row(name, dead_final=d["final"], dead_peak=d["peak"],
                           revived_share=d["revived"], revived_share_layer1=d["revived_l1"],
                           test_error=d["err"])
                 for name, d in dead.items()]
        table += [table_row(f"depth 10 {k}", grad_ratio_first_over_last=v["ratio"])
                  for k, v in depth.items()]
        table += [table_row(f"{k} timing", ns_per_element_fwd=timing[k]["fwd"],
                            ns_per_element_fwd_bwd=timing[k]["fwd_bwd"])
                  for k in ("relu", "sigmoid")]
        checkpoints = np.arange(0, steps + 1, every)[: len(b_relu["curve"][0])]
        plots = [
            _save_grid(ctx.path("a3_dead_units.png"), [
                ("bias −3 (Adam lr 0.01)", {"relu": b_relu["curve"],
                                            "leaky_relu": b_leaky["curve"]},
                 "share of units inactive on all probes", False),
                ("SGD, large lr", {"relu lr 0.05": l_small["curve"], "relu lr 0.7": l_big["curve"],
                                   "leaky lr 0.7": l_leaky["curve"]},
                 "share of units inactive on all probes", False),
            ], x=checkpoints),
            _save_grid(ctx.path("a3_depth_timing.png"), [
                ("‖∂L/∂W_l‖ at init, 10 hidden layers",
                 {k: np.asarray(v["norms"]) for k, v in depth.items()}, "Frobenius norm", True),
            ], x=np.arange(1, 11), xlabel="hidden layer (1 = input side)"),
        ]
        summary = (f"bias −3: relu dead {fmt(b_relu['final'])} (revived "
                   f"{fmt(b_relu['revived'])}) vs leaky inactive {fmt(b_leaky['final'])} "
                   f"(revived {fmt(b_leaky['revived'])}); SGD relu dead lr 0.7 "
                   f"{fmt(l_big['final'])} vs lr 0.05 {fmt(l_small['final'])}, layer-1 revived "
                   f"{fmt(l_big['revived_l1'])} (all layers {fmt(l_big['revived'])}); depth 10 "
                   f"‖g₁‖/‖g₁₀‖ relu+He {fmt(depth['relu+he']['ratio'])} vs sigmoid "
                   f"{fmt(depth['sigmoid+standard']['ratio'])}; ns/element relu "
                   f"{fmt(timing['relu']['fwd'])} vs sigmoid {fmt(timing['sigmoid']['fwd'])}")
        numbers = {
            "dead_final": {k: mean_std(d["final"]) for k, d in dead.items()},
            "revived_share": {k: mean_std(d["revived"]) for k, d in dead.items()},
            "revived_share_layer1": {k: mean_std(d["revived_l1"]) for k, d in dead.items()},
            "test_error": {k: mean_std(d["err"]) for k, d in dead.items()},
            "depth10_grad_ratio": {k: mean_std(v["ratio"]) for k, v in depth.items()},
            "ns_per_element_fwd": {k: mean_std(timing[k]["fwd"]) for k in ("relu", "sigmoid")},
            "ns_per_element_fwd_bwd": {k: mean_std(timing[k]["fwd_bwd"])
                                       for k in ("relu", "sigmoid")},
        }
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=plots,
                           budget={"steps": steps, "batch": 32, "sizes": sizes,
                                   "probe": "all training examples",
                                   "timing_elements": timing["elements"]})
