"""Lab family D: batch and layer normalisation.

* D1: BN before the sigmoid in a 3×100 MLP (Ioffe & Szegedy 2015's MNIST experiment): accuracy
  vs steps, the 15/50/85th percentiles of a unit's input over training, lr ×1/×5/×30. This
  fills the note's empty "why DNNs need BN" and "BN's advantages".
* D2: BN keeps statistics for test time: eval outputs independent of the batch companions,
  running vs full-data statistics; a BN-GRU with per-step statistics vs an LN-GRU trained on
  lengths ≤ 20 and tested at 40; what padding does to the batch standard deviation.
* D3: MLP with no norm / BN / LN at batch 128 and batch 4 (Ba et al. 2016), and LN's
  invariances.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.lab import common
from chainrule.lab import verdict as V
from chainrule.lab.experiment import (
    HOLDS,
    INCONCLUSIVE,
    REFUTED,
    Context,
    Experiment,
    Result,
    register,
)
from chainrule.lab.experiments import _tuning
from chainrule.lab.verdict import fmt, mean_std

__all__ = ["approx", "sigmoid_mlp", "norm_mlp", "SequenceClassifier", "BatchNormSigmoid",
           "BatchNormForTest", "BatchVsLayerNorm"]


def approx(a: Any, b: Any, tol: float, k: float = 2.0,
           paired: bool = False) -> tuple[str, dict[str, float]]:
    """Verdict for "A ≈ B within ``tol``" over seeds: with d the difference of means and s its
    standard error, |d| + k·s ≤ tol → holds; |d| − k·s > tol → refuted; else inconclusive.

    ``paired``: a[i] and b[i] share seed i (same initial weights and data order, or the same
    trained net evaluated two ways), so s comes from the per-seed differences."""
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    d = float(a_arr.mean() - b_arr.mean())
    if paired:
        if a_arr.shape != b_arr.shape:
            raise ValueError(f"approx: paired values need equal shapes, got {a_arr.shape} and "
                             f"{b_arr.shape}")
        diff = a_arr - b_arr
        var = diff.var(ddof=1) / diff.size if diff.size > 1 else 0.0
    else:
        var = sum(v.var(ddof=1) / v.size for v in (a_arr, b_arr) if v.size > 1)
    se = float(np.sqrt(var))
    if abs(d) + k * se <= tol:
        verdict = HOLDS
    elif abs(d) - k * se > tol:
        verdict = REFUTED
    else:
        verdict = INCONCLUSIVE
    return verdict, {"diff": d, "stderr": se, "tolerance": tol}


def _mnist(ctx: Context) -> tuple[np.ndarray, ...]:
    x, y, xt, yt = ctx.dataset("mnist5k")
    if ctx.tiny:
        return x[:300], y[:300], xt[:200], yt[:200]
    return x, y, xt, yt


# ---- D1 ---------------------------------------------------------------------------------------
def sigmoid_mlp(n_in: int, bn: bool, width: int = 100, depth: int = 3) -> nn.Sequential:
    """``depth`` × [Linear → (BatchNorm1d) → Sigmoid] → Linear(width, 10): BN *before* the
    nonlinearity, as Ioffe & Szegedy place it."""
    layers: list[nn.Module] = []
    d = n_in
    for _ in range(depth):
        layers += [nn.Linear(d, width)] + ([nn.BatchNorm1d(width)] if bn else []) + [nn.Sigmoid()]
        d = width
    return nn.Sequential(*layers, nn.Linear(width, 10))


def _sigmoid_inputs(model: nn.Sequential, x: np.ndarray) -> np.ndarray:
    """The inputs (pre-activations, after BN if any) of the last hidden layer's sigmoids, in
    eval mode: (N, width)."""
    last = max(i for i, m in enumerate(model) if isinstance(m, nn.Sigmoid))
    was = model.training
    model.eval()
    with cr.no_grad():
        h = common.as_tensor(x)
        for m in list(model)[:last]:
            h = m(h)
    model.train(was)
    return h._array.astype(np.float64)


_D1_LR = 0.5          # base SGD lr of the tolerance arms (×5, ×30) and of D2's nets
_D1_MULTS = (5, 30)
# each arm's own lr (the "tuned" runs) is chosen from here; 0.03 brackets BN's optimum from
# below (on (0.1, 0.3, 1, 3) its 0.3 beat the edge 0.1 by one validation example)
_D1_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)


@register
class BatchNormSigmoid(Experiment):
    id = "D1"
    title = "BN before the sigmoid: faster, stable unit inputs, larger learning rates"
    claim = ("Batch normalization. Principle: standardize each batch during training; put a BN "
             "layer after each hidden layer. Why DNN training needs it: [empty]. Advantages: "
             "[empty]. (Difficulties of deep learning: each layer's input distribution keeps "
             "changing.)")
    expected = ("BN: higher accuracy sooner, stable 15/50/85th percentiles of a unit's input, "
                "tolerates a larger learning rate")
    source = "Ioffe & Szegedy 2015, Batch normalization (MNIST 3×100 sigmoid MLP, batch 60)"
    arms = ("none", "BN before the sigmoid") + tuple(f"lr ×{m}" for m in _D1_MULTS)
    metrics = ("test accuracy vs steps", "drift of unit-input percentiles", "accuracy at lr ×30")

    def run(self, ctx: Context) -> Result:
        steps = ctx.budget(full=1500, quick=500, tiny=3)
        every = max(1, steps // 10)
        x_all, y_all, xt, yt = _mnist(ctx)
        x, y, xv, yv = _tuning.validation_split(x_all, y_all)
        probe = xt[:500]
        lrs, tuning = {}, []
        for arm in ("none", "BN"):  # each arm's lr on validation error (the "tuned" runs)
            def score(lr: float, seed: int, arm: str = arm) -> float:
                common.seeded(seed)
                model = sigmoid_mlp(x.shape[1], arm == "BN")
                common.train(model, optim.SGD(model.parameters(), lr=lr), x, y, steps, 60, seed)
                return 1 - common.accuracy(model, xv, yv)

            lrs[arm], rec = _tuning.choose(ctx, self.id, arm, "lr", _D1_GRID, score,
                                           metric="validation error")
            tuning.append(rec)
        settings: tuple[Any, ...] = ("tuned",) + _D1_MULTS
        acc: dict[tuple[str, Any], list[list[float]]] = {}
        pct: dict[tuple[str, Any], list[np.ndarray]] = {}
        for mult in settings:
            for arm in ("none", "BN"):
                lr = lrs[arm] if mult == "tuned" else _D1_LR * mult
                for seed in ctx.seeds:
                    common.seeded(seed)
                    model = sigmoid_mlp(x.shape[1], arm == "BN")
                    opt = optim.SGD(model.parameters(), lr=lr)
                    curve: list[float] = []
                    track: list[np.ndarray] = [
                        np.percentile(_sigmoid_inputs(model, probe), [15, 50, 85], axis=0)]

                    def on_eval(step: int, model: nn.Module = model, curve: list = curve,
                                track: list = track) -> None:
                        curve.append(common.accuracy(model, xt, yt))
                        track.append(np.percentile(_sigmoid_inputs(model, probe), [15, 50, 85],
                                                   axis=0))

                    common.train(model, opt, x, y, steps, 60, seed, every=every,
                                 on_eval=on_eval)
                    acc.setdefault((arm, mult), []).append(curve)
                    pct.setdefault((arm, mult), []).append(np.stack(track))  # (T, 3, units)
            ctx.log(f"  D1 lr {mult}: final acc none {fmt([c[-1] for c in acc['none', mult]])}"
                    f", BN {fmt([c[-1] for c in acc['BN', mult]])}")

        def final(arm: str, mult: Any) -> list[float]:
            return [c[-1] for c in acc[arm, mult]]

        def first(arm: str) -> list[float]:
            return [c[0] for c in acc[arm, "tuned"]]

        def drift(arm: str) -> list[float]:
            """Per seed: range over training of each unit's median input, over the unit's mean
            15–85 % spread; averaged over units (0 = a distribution that never moves)."""
            out = []
            for t in pct[arm, "tuned"]:
                t = t[1:]  # from the first evaluation: at step 0 BN's running stats are unset
                med_range = t[:, 1].max(0) - t[:, 1].min(0)
                spread = (t[:, 2] - t[:, 0]).mean(0)
                out.append(float(np.mean(med_range / np.maximum(spread, 1e-12))))
            return out

        top = _D1_MULTS[-1]
        parts = [
            V.paired("BN: higher accuracy sooner",
                     f"test accuracy after {every} steps, each arm at its tuned lr", first("BN"),
                     first("none"), floor=0.02, metric=f"test accuracy at step {every}",
                     arms=("BN", "none")),
            V.paired("BN: higher accuracy at the end of the budget",
                     f"test accuracy after {steps} steps, each arm at its tuned lr",
                     final("BN", "tuned"), final("none", "tuned"), floor=0.005,
                     metric=f"test accuracy at step {steps}", arms=("BN", "none")),
            V.paired("BN: stable unit-input percentiles",
                     "the median input of a last-layer sigmoid moves less over training, in "
                     "units of its 15–85 % spread", drift("none"), drift("BN"), floor=0.05,
                     metric="range of the median ÷ 15–85 % spread", arms=("none", "BN")),
            V.paired("BN tolerates a larger learning rate",
                     f"at lr {_D1_LR * top:g} (SGD) BN still trains", final("BN", top),
                     final("none", top), floor=0.02, metric=f"test accuracy at step {steps}",
                     arms=("BN", "none")),
        ]
        table = []
        for mult in settings:
            for arm in ("none", "BN"):
                lr = lrs[arm] if mult == "tuned" else _D1_LR * mult
                table.append({"arm": f"{arm}, lr {lr:g} ({mult})",
                              f"acc @ step {every}": fmt([c[0] for c in acc[arm, mult]]),
                              f"acc @ step {steps}": fmt(final(arm, mult))})
        numbers = {
            "lr": lrs,
            "acc_first_eval": {a: mean_std(first(a))[0] for a in ("none", "BN")},
            "final_acc": {f"{a} {m}": mean_std(final(a, m))[0] for a in ("none", "BN")
                          for m in settings},
            "percentile_drift": {a: mean_std(drift(a))[0] for a in ("none", "BN")},
        }
        xs = [every * (i + 1) for i in range(len(acc["none", "tuned"][0]))]
        plots = [
            common.plot(ctx.path("accuracy.png"),
                        {f"{a} {m}": acc[a, m] for a in ("none", "BN") for m in settings},
                        "D1: test accuracy, 3×100 sigmoid MLP (mnist5k)", "step",
                        "test accuracy", x=xs),
            _percentile_plot(ctx.path("unit_input_percentiles.png"), pct, every),
        ]
        summary = (f"tuned lr none {lrs['none']:g}, BN {lrs['BN']:g}: acc at step {every} BN "
                   f"{fmt(first('BN'))} vs none {fmt(first('none'))}, at step {steps} BN "
                   f"{fmt(final('BN', 'tuned'))} vs none {fmt(final('none', 'tuned'))}; "
                   f"unit-input median drift (÷ 15–85 spread) none {fmt(drift('none'))} vs BN "
                   f"{fmt(drift('BN'))}; at lr {_D1_LR * top:g} final acc BN "
                   f"{fmt(final('BN', top))} vs none {fmt(final('none', top))}")
        return self.result(ctx, summary=summary, parts=parts, **_tuning.attach(tuning, dict(
            numbers=numbers, table=table, plots=plots,
            budget={"steps": steps, "batch": 60, "optimizer": "SGD", "lr": lrs,
                    "tolerance lrs": [_D1_LR * m for m in _D1_MULTS],
                    "data": "fit on 80 % of the training split, lr chosen on the other 20 %"})))


def _percentile_plot(path: str, pct: dict, every: int) -> str:
    """15/50/85th percentiles of unit 0's input over training (first seed, tuned lr), per arm."""
    plt = common.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), dpi=100, sharey=False)
    for ax, arm in zip(axes, ("none", "BN")):
        t = pct[arm, "tuned"][0]  # (T, 3, units)
        xs = np.arange(t.shape[0]) * every
        for q, name in enumerate(("15 %", "50 %", "85 %")):
            ax.plot(xs, t[:, q, 0], label=name)
        ax.set_title(f"{arm}: input of a last-layer sigmoid")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path



# ---- D2 ---------------------------------------------------------------------------------------
class SequenceClassifier(nn.Module):
    """A GRU with LayerNorm or recurrent BatchNorm (per-step statistics) and a linear read-out
    of the hidden state at each sequence's last step.

    Example::

        net = SequenceClassifier("layer_norm", 2, 16, 4)
        logits = net(chainrule.randn(3, 7, 2), lengths=[7, 5, 2])
    """

    def __init__(self, norm: str, n_in: int, hidden: int, n_classes: int) -> None:
        super().__init__()
        if norm not in ("layer_norm", "batch_norm"):
            raise ValueError(f"SequenceClassifier: norm must be 'layer_norm' or 'batch_norm', "
                             f"got {norm!r}")
        self.rnn = nn.GRU(n_in, hidden, batch_first=True, **{norm: True})
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: cr.Tensor, lengths: Any = None) -> cr.Tensor:
        _, h = self.rnn(x, lengths=lengths)
        return self.out(h[0])


def _sequences(n: int, lo: int, hi: int, rng: np.random.Generator,
               pad_to: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy-direction task: class c ∈ 0..3 has mean direction v_c (4 unit vectors in 2-D);
    x_t = 0.5·v_c + N(0, I), lengths uniform in [lo, hi], zero padding after each length.
    Longer sequences carry more evidence, so a length-robust model does *better* at 40."""
    c = rng.integers(0, 4, n)
    ang = np.pi / 2 * c
    v = np.stack([np.cos(ang), np.sin(ang)], 1)
    t_max = pad_to or hi
    lens = rng.integers(lo, hi + 1, n)
    x = 0.5 * v[:, None, :] + rng.standard_normal((n, t_max, 2))
    x *= np.arange(t_max)[None, :, None] < lens[:, None, None]
    return x.astype(np.float32), c.astype(np.int64), lens.astype(np.int64)


def _train_sequences(model: nn.Module, x: np.ndarray, y: np.ndarray, lens: np.ndarray,
                     steps: int, seed: int) -> None:
    opt = optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for idx in common.batches(len(y), 50, steps, seed):
        opt.zero_grad()
        out = model(common.as_tensor(x[idx]), lengths=lens[idx])
        nn.functional.cross_entropy(out, common.as_tensor(y[idx])).backward()
        opt.step()


def _seq_accuracy(model: nn.Module, data: tuple[np.ndarray, ...]) -> float:
    x, y, lens = data
    model.eval()
    with cr.no_grad():
        out = model(common.as_tensor(x), lengths=lens)
    return float((out._array.argmax(-1) == y).mean())


def _bn_layer_inputs(model: nn.Module, x: np.ndarray) -> list[np.ndarray]:
    """The input of every BatchNorm1d on ``x`` (eval mode, forward hooks)."""
    seen: list[np.ndarray] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.append(
        inp[0]._array.astype(np.float64))) for m in model.modules()
        if isinstance(m, nn.BatchNorm1d)]
    was = model.training
    model.eval()
    with cr.no_grad():
        model(common.as_tensor(x))
    model.train(was)
    for h in hooks:
        h.remove()
    return seen


def _companion_diffs(model: nn.Module, x: np.ndarray, rng: np.random.Generator,
                     training: bool) -> float:
    """max |f(x_i in batch A) − f(x_i in batch B)| (eval: also x_i alone) over 20 examples."""
    state = {k: v._array.copy() for k, v in model.state_dict().items()}
    model.train(training)
    worst = 0.0
    with cr.no_grad():
        for i in range(20):
            a = np.concatenate([x[i:i + 1], x[rng.choice(len(x), 49)]])
            b = np.concatenate([x[i:i + 1], x[rng.choice(len(x), 49)]])
            outs = [model(common.as_tensor(a))._array[0], model(common.as_tensor(b))._array[0]]
            if not training:
                outs.append(model(common.as_tensor(x[i:i + 1]))._array[0])
            worst = max(worst, float(np.max(np.abs(np.stack(outs) - outs[0]))))
    model.load_state_dict(state)  # training-mode passes moved the running statistics
    model.eval()
    return worst


def _padding_sigma_error(rng: np.random.Generator) -> float:
    """Relative error of the batch σ when zero padding is counted: BatchNorm1d on a padded
    (N, C, L) batch with and without ``lengths=`` (momentum 1: running_var = batch var)."""
    x, _, lens = _sequences(64, 5, 20, rng)
    xt = common.as_tensor(np.ascontiguousarray(x.transpose(0, 2, 1)))  # (N, C=2, L)
    sig = []
    for use_lengths in (True, False):
        bn = nn.BatchNorm1d(2, momentum=1.0)
        bn(xt, lengths=lens if use_lengths else None)
        sig.append(np.sqrt(bn.running_var._array.astype(np.float64)))
    return float(np.mean(np.abs(sig[1] - sig[0]) / sig[0]))


@register
class BatchNormForTest(Experiment):
    id = "D2"
    title = "BN keeps statistics for test; variable-length RNNs: BN-GRU vs LN-GRU"
    claim = ("Batch normalization: during training keep each batch's mean and variance, and use "
             "them at test time. Disadvantages: in an RNN the sequences in one batch can have "
             "different lengths; the fix is LN, or padding the data (but then the computed "
             "standard deviation is poor).")
    expected = ("eval output independent of the batch (exact to 1e-6); running ≈ full-data "
                "statistics; LN-RNN holds at unseen lengths, BN-RNN degrades; padding biases σ")
    source = ("Ioffe & Szegedy 2015; Ba et al. 2016 (layer norm); Cooijmans et al. 2016 "
              "(recurrent BN)")
    arms = ("eval vs train mode", "running vs full-data statistics", "BN-GRU", "LN-GRU")
    metrics = ("max output difference", "accuracy difference", "accuracy at length 40",
               "σ error from padding")

    def run(self, ctx: Context) -> Result:
        x, y, xt, yt = _mnist(ctx)
        steps = ctx.budget(full=600, quick=200, tiny=3)
        eval_diff, train_diff, acc_run, acc_full, stat_err = [], [], [], [], []
        for seed in ctx.seeds:
            common.seeded(seed)
            model = sigmoid_mlp(x.shape[1], bn=True)
            common.train(model, optim.SGD(model.parameters(), lr=_D1_LR), x, y, steps, 60, seed)
            model.double()
            xd = x.astype(np.float64)
            rng = np.random.default_rng(seed)
            eval_diff.append(_companion_diffs(model, xd, rng, training=False))
            train_diff.append(_companion_diffs(model, xd, rng, training=True))
            a_run, a_full, err = _running_vs_full(model, xd, xt.astype(np.float64), yt)
            acc_run.append(a_run)
            acc_full.append(a_full)
            stat_err.append(err)
        rnn = self._rnn(ctx)
        pad_err = [_padding_sigma_error(np.random.default_rng(s)) for s in ctx.seeds]
        parts = [
            V.verified("eval output independent of the batch",
                       "in eval mode BN uses stored statistics, so an example's output does not "
                       "depend on its batch companions (exact to 1e-6; an implementation "
                       "property)", max(eval_diff) < 1e-6,
                       detail=f"max |Δ output| eval {fmt(eval_diff)}, train mode "
                              f"{fmt(train_diff)}"),
            V.verified("counting the padding biases σ",
                       "zeros counted as data shrink the batch variance: arithmetic of the "
                       "padded batch, shown as an identity", min(pad_err) > 0.05,
                       detail=f"relative σ error {fmt(pad_err)}"),
            _tuning.equivalence("running ≈ full-data statistics",
                                "test accuracy with the running averages and with statistics "
                                "of the whole training set agree within 1 point", acc_run,
                                acc_full, 0.01, metric="test accuracy",
                                arms=("running", "full-data")),
            V.paired("BN-RNN degrades at unseen lengths, LN-RNN does not",
                     "trained on lengths 5–20, tested at 40: accuracy change (≤20 minus 40) "
                     "larger for the BN-GRU", rnn["batch_norm"]["drop"],
                     rnn["layer_norm"]["drop"], floor=0.02,
                     metric="accuracy(lengths ≤ 20) − accuracy(length 40)",
                     arms=("BN-GRU", "LN-GRU")),
            V.paired("BN-RNN worse than LN-RNN on padded mixed lengths",
                     "padded batches of lengths 5–40", rnn["layer_norm"]["mixed"],
                     rnn["batch_norm"]["mixed"], floor=0.01, metric="test accuracy",
                     arms=("LN-GRU", "BN-GRU")),
        ]
        table = [
            {"arm": "eval mode: x alone / in two batches", "max |Δ output|": fmt(eval_diff)},
            {"arm": "train mode: x in two batches", "max |Δ output|": fmt(train_diff)},
            {"arm": "test acc, running statistics", "value": fmt(acc_run)},
            {"arm": "test acc, full-data statistics", "value": fmt(acc_full)},
            {"arm": "running vs full-data mean (÷ σ)", "value": fmt(stat_err)},
            {"arm": "σ error when padding is counted", "value": fmt(pad_err)},
        ]
        for norm, r in rnn.items():
            name = "BN-GRU (per-step stats)" if norm == "batch_norm" else "LN-GRU"
            table.append({"arm": name, "acc, lengths 5–20": fmt(r["in"]),
                          "acc, length 40": fmt(r["40"]),
                          "acc, padded 5–40": fmt(r["mixed"])})
        numbers = {
            "eval_max_diff": mean_std(eval_diff)[0], "train_mode_max_diff": mean_std(train_diff)[0],
            "acc_running": mean_std(acc_run)[0], "acc_full_data": mean_std(acc_full)[0],
            "running_vs_full_mean_error": mean_std(stat_err)[0],
            "padding_sigma_error": mean_std(pad_err)[0],
            "rnn": {n: {k: mean_std(v)[0] for k, v in r.items()} for n, r in rnn.items()},
        }
        plots = [self._rnn_plot(ctx.path("rnn_lengths.png"), rnn),
                 common.plot(ctx.path("batch_dependence.png"),
                             {"eval mode": np.maximum(eval_diff, 1e-18),
                              "train mode": np.maximum(train_diff, 1e-18)},
                             "D2: max |Δ output| when the batch companions change", "",
                             "max abs difference", logy=True, kind="bar")]
        bn_r, ln_r = rnn["batch_norm"], rnn["layer_norm"]
        summary = (f"eval output vs companions max |Δ| {fmt(eval_diff)} (train mode "
                   f"{fmt(train_diff)}); test acc running {fmt(acc_run)} vs full-data stats "
                   f"{fmt(acc_full)}; GRU acc len ≤20 → 40 (longer = more evidence): BN "
                   f"{fmt(bn_r['in'])} → {fmt(bn_r['40'])}, LN {fmt(ln_r['in'])} → "
                   f"{fmt(ln_r['40'])}, gain BN {-np.mean(bn_r['drop']):+.3f} vs LN "
                   f"{-np.mean(ln_r['drop']):+.3f}; counting the padding biases σ by "
                   f"{fmt(pad_err)}")
        return self.result(ctx, summary=summary, parts=parts, numbers=numbers, table=table,
                           plots=plots,
                           budget={"mlp steps": steps, "rnn": self._rnn_budget(ctx)})

    @staticmethod
    def _rnn_budget(ctx: Context) -> dict[str, int]:
        return {"steps": ctx.budget(full=400, quick=150, tiny=2),
                "hidden": ctx.budget(full=32, quick=16, tiny=8),
                "train sequences": ctx.budget(full=4000, quick=2000, tiny=100)}

    def _rnn(self, ctx: Context) -> dict[str, dict[str, list[float]]]:
        b = self._rnn_budget(ctx)
        rng = np.random.default_rng(1234)
        x, y, lens = _sequences(b["train sequences"], 5, 20, rng)
        n_test = ctx.budget(full=1000, quick=500, tiny=50)
        tests = {"in": _sequences(n_test, 5, 20, rng), "40": _sequences(n_test, 40, 40, rng),
                 "mixed": _sequences(n_test, 5, 40, rng)}
        out: dict[str, dict[str, list[float]]] = {}
        for norm in ("layer_norm", "batch_norm"):
            r = out.setdefault(norm, {"in": [], "40": [], "mixed": [], "drop": []})
            for seed in ctx.seeds:
                common.seeded(seed)
                model = SequenceClassifier(norm, 2, b["hidden"], 4)
                _train_sequences(model, x, y, lens, b["steps"], seed)
                for k, data in tests.items():
                    r[k].append(_seq_accuracy(model, data))
                r["drop"].append(r["in"][-1] - r["40"][-1])
            ctx.log(f"  D2 {norm}: acc ≤20 {fmt(r['in'])}, 40 {fmt(r['40'])}")
        return out

    @staticmethod
    def _rnn_plot(path: str, rnn: dict[str, dict[str, list[float]]]) -> str:
        plt = common.pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
        keys = [("in", "lengths 5–20\n(trained)"), ("mixed", "padded 5–40"), ("40", "length 40")]
        width = 0.38
        for j, (norm, label) in enumerate((("batch_norm", "BN-GRU"), ("layer_norm", "LN-GRU"))):
            means, errs = common.bar_errors([rnn[norm][k] for k, _ in keys])
            ax.bar(np.arange(3) + (j - 0.5) * width, means, width, yerr=errs, label=label,
                   capsize=3)
        ax.set_xticks(range(3), [lab for _, lab in keys])
        ax.set_ylabel(f"test accuracy ({common.band_label(len(rnn['batch_norm']['in']))})")
        ax.set_title("D2: sequence length generalisation")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path


def _running_vs_full(model: nn.Module, x: np.ndarray, xt: np.ndarray,
                     yt: np.ndarray) -> tuple[float, float, float]:
    """Test accuracy with the running statistics, then with statistics of the whole training
    set (Ioffe & Szegedy's inference step, computed layer by layer), and the mean gap between
    running and full-data means in units of σ."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    saved = [(m.running_mean._array.copy(), m.running_var._array.copy()) for m in bns]
    acc_run = common.accuracy(model, xt, yt)
    errs = []
    for k, m in enumerate(bns):  # layer by layer: later inputs depend on earlier statistics
        inp = _bn_layer_inputs(model, x)[k]
        mu, var = inp.mean(0), inp.var(0, ddof=1)
        errs.append(float(np.mean(np.abs(saved[k][0] - mu) / np.sqrt(var + 1e-12))))
        m.running_mean._array[...] = mu
        m.running_var._array[...] = var
    acc_full = common.accuracy(model, xt, yt)
    for m, (rm, rv) in zip(bns, saved):
        m.running_mean._array[...] = rm
        m.running_var._array[...] = rv
    return acc_run, acc_full, float(np.mean(errs))


# ---- D3 ---------------------------------------------------------------------------------------
def norm_mlp(n_in: int, norm: str, width: int = 100) -> nn.Sequential:
    """2 × [Linear → norm → ReLU] → Linear(width, 10), norm ∈ {none, BN, LN}."""
    def make(w: int) -> list[nn.Module]:
        return {"none": [], "BN": [nn.BatchNorm1d(w)], "LN": [nn.LayerNorm(w)]}[norm]

    return nn.Sequential(nn.Linear(n_in, width), *make(width), nn.ReLU(),
                         nn.Linear(width, width), *make(width), nn.ReLU(),
                         nn.Linear(width, 10))


def _invariances(seed: int) -> dict[str, dict[str, float]]:
    """max |Δ output| of LayerNorm and (training-mode) BatchNorm1d under Ba et al.'s Table 1
    transformations of their input h = W x (float64, ε ≈ 0 so that only the maths shows)."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((32, 100)) * 2 + 1
    per_example = rng.uniform(0.5, 3, (32, 1))
    per_feature = rng.uniform(0.5, 3, (1, 100))
    transforms = {
        "weight matrix re-scaling (h → a·h)": lambda v: 2.5 * v,
        "weight matrix re-centering (h → h + b·1ᵀ per example)":
            lambda v: v + rng.standard_normal((32, 1)),
        "weight vector re-scaling (h_j → a_j·h_j)": lambda v: v * per_feature,
        "single example re-scaling (h_n → a_n·h_n)": lambda v: v * per_example,
    }
    ln = nn.LayerNorm(100, eps=1e-12).double()
    bn = nn.BatchNorm1d(100, eps=1e-12).double()
    out: dict[str, dict[str, float]] = {}
    with cr.no_grad():
        for name, f in transforms.items():
            diffs = {}
            for label, layer in (("LN", ln), ("BN", bn)):
                a = layer(common.as_tensor(h))._array
                b = layer(common.as_tensor(f(h)))._array
                diffs[label] = float(np.max(np.abs(a - b)))
            out[name] = diffs
    return out


# Ba et al. 2016, Table 1: which normalisation is invariant under which transformation
_EXPECTED_INVARIANT = {
    "weight matrix re-scaling (h → a·h)": {"LN": True, "BN": True},
    "weight matrix re-centering (h → h + b·1ᵀ per example)": {"LN": True, "BN": False},
    "weight vector re-scaling (h_j → a_j·h_j)": {"LN": False, "BN": True},
    "single example re-scaling (h_n → a_n·h_n)": {"LN": True, "BN": False},
}


@register
class BatchVsLayerNorm(Experiment):
    id = "D3"
    title = "LN vs BN at batch 128 and batch 4; LN's invariances"
    claim = ("Layer normalization: normalizes over each hidden layer's dimension; depends only "
             "on the number of hidden units, not on the number of samples (the batch). It also "
             "learns an inverse transform's parameters, so that no information is lost.")
    expected = "batch 128: BN ≈ LN; batch 4: BN worse, LN unchanged"
    source = "Ba, Kiros & Hinton 2016, Layer normalization"
    arms = ("none", "BN", "LN")
    metrics = ("test error vs steps at batch 128 and 4", "invariance max |Δ|")

    batches = (128, 4)
    lr_grid = (3e-4, 1e-3, 3e-3)

    def run(self, ctx: Context) -> Result:
        # equal EXAMPLES seen, not equal steps: batch 4 gets 32× the steps of batch 128
        examples = 128 * ctx.budget(full=150, quick=40, tiny=2)
        x_all, y_all, xt, yt = _mnist(ctx)
        x, y, xv, yv = _tuning.validation_split(x_all, y_all)
        err: dict[tuple[str, int], list[list[float]]] = {}
        lrs: dict[tuple[str, int], float] = {}
        tuning = []
        for bs in self.batches:
            steps = examples // bs
            every = max(1, steps // 8)
            for norm in ("none", "BN", "LN"):
                def score(lr: float, seed: int, norm: str = norm, bs: int = bs,
                          steps: int = steps) -> float:
                    common.seeded(seed)
                    model = norm_mlp(x.shape[1], norm)
                    common.train(model, optim.Adam(model.parameters(), lr=lr), x, y, steps, bs,
                                 seed)
                    return 1 - common.accuracy(model, xv, yv)

                lr, rec = _tuning.choose(ctx, self.id, f"{norm} b{bs}", "lr", self.lr_grid,
                                         score, metric="validation error", fallback=1e-3)
                lrs[norm, bs] = lr
                tuning.append(rec)
                for seed in ctx.seeds:
                    common.seeded(seed)
                    model = norm_mlp(x.shape[1], norm)
                    curve: list[float] = []
                    common.train(model, optim.Adam(model.parameters(), lr=lr), x, y, steps,
                                 bs, seed, every=every,
                                 on_eval=lambda s, m=model, c=curve: c.append(
                                     1 - common.accuracy(m, xt, yt)))
                    err.setdefault((norm, bs), []).append(curve)
            ctx.log(f"  D3 batch {bs} ({steps} steps): test error " + ", ".join(
                f"{n} {fmt([c[-1] for c in err[n, bs]])}" for n in ("none", "BN", "LN")))

        def final(norm: str, bs: int) -> list[float]:
            return [c[-1] for c in err[norm, bs]]

        big, small = self.batches
        bn_pen = list(np.subtract(final("BN", small), final("BN", big)))
        ln_pen = list(np.subtract(final("LN", small), final("LN", big)))
        inv = [_invariances(s) for s in ctx.seeds]
        inv_ok = all((d[label] < 1e-8) == want
                     for run in inv for name, d in run.items()
                     for label, want in _EXPECTED_INVARIANT[name].items())
        parts = [
            _tuning.equivalence(f"batch {big}: BN ≈ LN",
                                "test error within 1.5 points at equal examples seen",
                                final("BN", big), final("LN", big), 0.015, metric="test error",
                                arms=("BN", "LN")),
            V.paired(f"batch {small}: BN worse than LN", "higher test error with BN",
                     final("BN", small), final("LN", small), floor=0.005, metric="test error",
                     arms=("BN", "LN")),
            V.paired(f"going {big} → {small} costs BN more than LN",
                     "the small-batch penalty (equal examples seen) is larger for BN", bn_pen,
                     ln_pen, floor=0.005, metric=f"test error(b{small}) − test error(b{big})",
                     arms=("BN", "LN")),
            _tuning.equivalence(f"LN unchanged at batch {small}",
                                f"LN's test error at batch {small} within 1.5 points of batch "
                                f"{big}", final("LN", small), final("LN", big), 0.015,
                                metric="test error", arms=(f"LN b{small}", f"LN b{big}")),
            V.verified("Ba et al.'s invariance table",
                       "LN and BN are invariant exactly under the transformations of Ba et "
                       "al.'s Table 1 (algebra of the normalisation, checked to 1e-8)", inv_ok,
                       detail="reproduced" if inv_ok else "NOT reproduced"),
        ]
        table = [{"arm": f"{n}, batch {bs}", "lr": lrs[n, bs], "steps": examples // bs,
                  "test error": fmt(final(n, bs))}
                 for bs in self.batches for n in ("none", "BN", "LN")]
        for name in _EXPECTED_INVARIANT:
            table.append({"arm": f"invariance: {name}",
                          "LN max |Δ|": f"{max(r[name]['LN'] for r in inv):.2g}",
                          "BN max |Δ| (train mode)": f"{max(r[name]['BN'] for r in inv):.2g}"})
        numbers = {
            "test_error": {f"{n} b{bs}": mean_std(final(n, bs))[0] for bs in self.batches
                           for n in ("none", "BN", "LN")},
            "bn_penalty_small_batch": mean_std(bn_pen)[0],
            "ln_penalty_small_batch": mean_std(ln_pen)[0],
            "invariances_match_ba_et_al": inv_ok,
        }
        plots = [common.plot(ctx.path(f"test_error_b{bs}.png"),
                             {n: err[n, bs] for n in ("none", "BN", "LN")},
                             f"D3: test error, batch {bs} (mnist5k MLP)", "examples seen",
                             "test error",
                             x=[examples * (i + 1) / len(err["none", bs][0])
                                for i in range(len(err["none", bs][0]))])
                 for bs in self.batches]
        summary = (f"test error batch 128: BN {fmt(final('BN', 128))}, LN "
                   f"{fmt(final('LN', 128))}; batch 4: BN {fmt(final('BN', 4))}, LN "
                   f"{fmt(final('LN', 4))} (none {fmt(final('none', 4))}); going 128→4 costs "
                   f"BN {fmt(bn_pen)} vs LN {fmt(ln_pen)}; Ba et al.'s invariance table "
                   f"{'reproduced' if inv_ok else 'NOT reproduced'}; {examples} examples seen "
                   "by every arm")
        return self.result(ctx, summary=summary, parts=parts, **_tuning.attach(tuning, dict(
            numbers=numbers, table=table, plots=plots,
            budget={"examples seen": examples, "steps": {bs: examples // bs
                                                         for bs in self.batches},
                    "optimizer": "Adam", "lr": {f"{n} b{b}": v for (n, b), v in lrs.items()},
                    "batch sizes": list(self.batches)})))
