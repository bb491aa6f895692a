"""Lab family B: skip connections, the loss landscape and curvature.

* B1: plain vs residual stacks of equal width at depth 2/8/16/32 on MNIST-1D (He et al. 2016):
  does the plain net's *training* loss get worse with depth (an optimisation problem; judged
  only on runs that converged, by a stated criterion), and does the skip connection reduce
  overfitting (the test−train gap at a matched training loss), as the note says, or not?
* B2: 2-D filter-normalised slices of the loss around the weights of a deep plain and a deep
  residual net at a matched training loss (Li et al. 2018): a near-convex basin vs a chaotic
  surface.
* B3: the Hessian's top eigenvalue and trace for plain/residual, BN/none, depth 2/16 (Yao et
  al. 2020, PyHessian), each comparison at a matched training loss (the lowest loss every run
  of its arms reaches; each run measured at its first checkpoint at or below it), not at equal
  steps, where a slowly training arm would be scored half-trained.

Plain and residual nets are built from the same blocks and differ only by the identity path
(y = relu(F(x) + x) vs y = relu(F(x))): same parameters, same names, the same initial weights
for a seed, the same data order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.diagnostics import curvature, landscape
from chainrule.lab import common
from chainrule.lab import verdict as V
from chainrule.lab.experiment import Context, Experiment, Result, register
from chainrule.lab.experiments import _tuning
from chainrule.lab.verdict import fmt, mean_std

__all__ = ["SkipBlock", "GlobalAvgPool1d", "make_net", "nonconvex_fraction", "SkipDepth",
           "SkipLandscape", "SkipCurvature", "matched_loss_target", "first_reach", "converged",
           "plateau_ratio", "steps_to_matched_loss"]

_CONVERGENCE_FROM = 0.8  # converged: < 2 % of the run's total improvement in its last 20 %
_CONVERGENCE_TOL = 0.02
# He et al.'s schedule: the learning rate divided by 10 at 50 % and at 75 % of the steps, so a
# run ends annealed (with a constant rate no run of the full budget met the rule above)
_LR_DROPS = (0.5, 0.75)
_CLASSES = 10   # MNIST-1D: ln 10 is the loss of the uniform prediction (what "untrained" means)
_MATCH_WINDOW = 20  # steps in the moving average of the mini-batch loss (matched-loss parts)
_TRACK_EXAMPLES = 1000  # training examples whose eval-mode loss is tracked (matched-loss gap)
_WIDTH = 32     # hidden units (FC) / channels (conv): per-op overhead, not width, sets the cost
_BATCH = 100
_SGD_LR = 0.1   # He et al.'s optimiser: SGD, momentum 0.9, lr 0.1 (with BN)
_CONV_WIDTH = 8


class SkipBlock(nn.Module):
    """Two layers with BN: F(x) = bn₂(W₂ relu(bn₁(W₁ x))); y = relu(F(x) + x) with the skip
    (He et al. 2016's basic block), y = relu(F(x)) without it.

    Example::

        blk = SkipBlock(16, residual=True)
        y = blk(chainrule.randn(4, 16))
    """

    def __init__(self, width: int, residual: bool, bn: bool = True, conv: bool = False) -> None:
        super().__init__()
        norm = nn.BatchNorm1d if bn else (lambda n: nn.Identity())
        if conv:
            self.layer1: nn.Module = nn.Conv1d(width, width, 3, padding=1, bias=not bn)
            self.layer2: nn.Module = nn.Conv1d(width, width, 3, padding=1, bias=not bn)
        else:
            self.layer1 = nn.Linear(width, width)
            self.layer2 = nn.Linear(width, width)
        self.norm1 = norm(width)
        self.norm2 = norm(width)
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        h = self.norm2(self.layer2(self.act(self.norm1(self.layer1(x)))))
        return self.act(h + x if self.residual else h)


class GlobalAvgPool1d(nn.Module):
    """(N, C, L) -> (N, C): the mean over positions.

    Example::

        y = GlobalAvgPool1d()(chainrule.randn(2, 8, 40))   # (2, 8)
    """

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return x.mean(-1)


def make_net(depth: int, residual: bool, width: int = _WIDTH, bn: bool = True,
             conv: bool = False) -> nn.Sequential:
    """A depth-``depth`` net for MNIST-1D: a stem layer, (depth − 2)/2 blocks, a linear head.

    FC: Linear(40→w); conv: Conv1d(1→w, k3) on (N, 1, 40) with global average pooling before
    the head. ``residual`` only adds the identity path in each block.
    """
    if depth < 2 or depth % 2:
        raise ValueError(f"make_net: depth must be an even number >= 2, got {depth}")
    norm = nn.BatchNorm1d(width) if bn else nn.Identity()
    if conv:
        stem: list[nn.Module] = [nn.Conv1d(1, width, 3, padding=1, bias=not bn), norm, nn.ReLU()]
    else:
        stem = [nn.Linear(40, width), norm, nn.ReLU()]
    blocks = [SkipBlock(width, residual, bn, conv) for _ in range((depth - 2) // 2)]
    head: list[nn.Module] = ([GlobalAvgPool1d()] if conv else []) + [nn.Linear(width, 10)]
    return nn.Sequential(*stem, *blocks, *head)


def _data(ctx: Context, conv: bool = False) -> tuple[np.ndarray, ...]:
    """MNIST-1D (a subset in tiny mode); (N, 1, 40) for the conv nets."""
    x, y, xt, yt = ctx.dataset("m1d")
    if ctx.tiny:
        x, y, xt, yt = x[:400], y[:400], xt[:200], yt[:200]
    if conv:
        x, xt = x[:, None, :], xt[:, None, :]
    return x, y, xt, yt


# Trained B1 nets, reused by B2 when both run in one process (same budget and seed).
_TRAINED: dict[tuple, tuple[dict[str, Any], dict[str, Any]]] = {}


_LR_GRID = (0.01, 0.03, 0.1, 0.3)
# what a B1 search scores (stored with each tuned.json entry: entries searched under a
# constant rate, before the search trained as the runs do, said only "validation loss")
_SEARCH_METRIC = ("validation loss after the run's own training (SGD momentum 0.9, lr/10 at "
                  "50 % and 75 % of the steps)")


def _arm_name(depth: int, residual: bool, conv: bool) -> str:
    """The tuned.json arm of one (kind, arm, depth): ``plain-8``, ``conv-residual-32``, ...
    (depth 2 has no blocks: plain and residual are one net, tuned once as plain)."""
    arm = f"{'residual' if residual and depth > 2 else 'plain'}-{depth}"
    return f"conv-{arm}" if conv else arm


def _fit(model: nn.Module, lr: float, x: np.ndarray, y: np.ndarray, steps: int, seed: int,
         every: int = 0, on_eval: Callable[[int], None] | None = None,
         at_step: Callable[[int], None] | None = None) -> list[float]:
    """The one training procedure of B1 (and of its lr search): SGD with momentum 0.9 from
    ``lr``, batch 100, He et al.'s schedule (lr ← lr/10 after 50 % and 75 % of the steps),
    each step compiled; returns the per-step mini-batch loss.

    The search and the runs both call this, so the lr chosen on validation is the lr of the
    procedure the runs use (a search under a constant rate would choose for another one).
    ``on_eval`` (every ``every`` steps) and ``at_step`` (after each update, after the
    schedule) only observe the model in eval mode without a graph: they leave the training
    bit for bit unchanged."""
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    drops = {max(1, int(round(f * steps))) for f in _LR_DROPS}

    def after_step(step: int) -> None:
        if step + 1 in drops:
            for group in opt.param_groups:
                group["lr"] *= 0.1
        if at_step is not None:
            at_step(step)

    # compiled: these nets are 32 layers of width 32, where Python's per-op overhead, not
    # arithmetic, sets the cost; a replay is bit for bit the eager step (~2x faster here)
    return common.train(model, opt, x, y, steps, _BATCH, seed, every=every, on_eval=on_eval,
                        after_step=after_step, compile=True)


def _lr(ctx: Context, depth: int, residual: bool, steps: int, conv: bool,
        records: list[dict[str, Any]] | None = None) -> float:
    """The SGD lr of one (kind, arm, depth), FC and conv alike: chosen on MNIST-1D validation
    loss after training exactly as the runs train (:func:`_fit`: same steps, schedule,
    batch), at the run's own budget (tuned.json, ``B1/<arm>/lr/<level>``)."""
    arm = _arm_name(depth, residual, conv)
    x, y, _, _ = _data(ctx, conv)
    xf, yf, xv, yv = _tuning.validation_split(x, y)

    def score(lr: float, seed: int) -> float:
        common.seeded(seed)
        model = make_net(depth, residual and depth > 2, width=_CONV_WIDTH if conv else _WIDTH,
                         conv=conv)
        curve = _fit(model, lr, xf, yf, steps, seed)
        if not np.all(np.isfinite(curve)):
            return float("inf")  # diverged: the worst score, whatever eval mode says
        return common.mean_loss(model, xv, yv)

    lr, rec = _tuning.choose(ctx, "B1", arm, "lr", _LR_GRID, score, metric=_SEARCH_METRIC,
                             reuse_quick=not conv)
    if records is not None and all(r.get("arm") != arm for r in records):
        records.append(rec)
    return lr


def _train_sgd(ctx: Context, depth: int, residual: bool, seed: int, steps: int,
               conv: bool = False, records: list[dict[str, Any]] | None = None,
               track: int = 0) -> tuple[nn.Module, dict[str, Any]]:
    """Train one B1 net (SGD + momentum, BN, the arm's tuned lr); returns it and its metrics
    (cached). ``track`` > 0 also records, at step 0 and every ``track`` steps, the eval-mode
    loss on the first ``_TRACK_EXAMPLES`` training examples and on the test set
    (``metrics["track"]``: steps, train, test, and the weights at each new low of the
    training loss), for comparisons at a matched training loss."""
    if depth == 2:
        residual = False  # no blocks: plain and residual are the same net
    key = (ctx.tiny, depth, residual, seed, steps, conv)
    lr = _lr(ctx, depth, residual, steps, conv, records)
    common.seeded(seed)
    model = make_net(depth, residual, width=_CONV_WIDTH if conv else _WIDTH, conv=conv)
    if key in _TRAINED and (not track or "track" in _TRAINED[key][1]):
        state, metrics = _TRAINED[key]
        model.load_state_dict(state)
        return model, metrics
    x, y, xt, yt = _data(ctx, conv)
    # eval-mode loss at initialisation: the start of the run's total improvement, capped at
    # chance level (BN's initial running statistics, mean 0 and variance 1, can put an
    # untrained deep net's eval-mode loss far above ln 10, which would make the convergence
    # rule below lenient: the cap makes it stricter, never looser)
    loss_start = min(common.mean_loss(model, x, y), float(np.log(_CLASSES)))
    tracked: dict[str, Any] = {"steps": [], "train": [], "test": [], "snapshots": {}}

    def record(step: int) -> None:  # eval mode, no graph: the training itself is unchanged
        loss = common.mean_loss(model, x[:_TRACK_EXAMPLES], y[:_TRACK_EXAMPLES])
        finite = [v for v in tracked["train"] if np.isfinite(v)]
        if np.isfinite(loss) and (not finite or loss < min(finite)):
            # a new low: the first checkpoint at or below any target is one of these (B2)
            tracked["snapshots"][len(tracked["train"])] = {
                k: v._array.copy() for k, v in model.state_dict().items()}
        tracked["steps"].append(step)
        tracked["train"].append(loss)
        tracked["test"].append(common.mean_loss(model, xt, yt))

    if track:
        record(0)
    check = max(1, int(round(_CONVERGENCE_FROM * steps)))
    at_check: list[float] = []

    def check_point(step: int) -> None:  # the training loss at 80 % (eval mode)
        if step + 1 == check:
            at_check.append(common.mean_loss(model, x, y))

    curve = _fit(model, lr, x, y, steps, seed, every=track, on_eval=record if track else None,
                 at_step=check_point)
    # fit_loss: the training loss the optimiser sees (train mode, last 10 % of the steps), as
    # He et al. plot it; the eval-mode losses on train and test give the generalisation gap.
    metrics = {"fit_loss": float(np.mean(curve[-max(1, steps // 10):])),
               "train_loss": common.mean_loss(model, x, y),
               "test_loss": common.mean_loss(model, xt, yt),
               "train_acc": common.accuracy(model, x, y),
               "test_acc": common.accuracy(model, xt, yt), "curve": curve, "lr": lr,
               "loss_at_80pct": at_check[0] if at_check else float("nan"),
               "loss_start": loss_start}
    metrics["plateau"] = plateau_ratio(loss_start, metrics["loss_at_80pct"],
                                       metrics["train_loss"])
    metrics["converged"] = converged(loss_start, metrics["loss_at_80pct"],
                                     metrics["train_loss"])
    if track:
        metrics["track"] = tracked
    _TRAINED[key] = ({k: v._array.copy() for k, v in model.state_dict().items()}, metrics)
    return model, metrics


def plateau_ratio(loss_start: float, loss_before: float, loss_end: float) -> float:
    """The share of a run's total improvement that came in its last stretch:

        r = (L(0.8 T) − L(T)) / (L(0) − L(T)),

    with L the deterministic training loss (eval mode, the whole training set), L(0) at
    initialisation (capped at chance level by the caller), L(0.8 T) at 80 % of the budget and
    L(T) at its end. r < 0 when the loss went up over the last stretch; NaN when the run did
    not improve at all (L(T) ≥ L(0)) or a loss is not finite.

    Example::

        plateau_ratio(2.3, 0.51, 0.50)   # 0.0055: 0.55 % of the 1.8 gained came at the end
    """
    vals = (loss_start, loss_before, loss_end)
    if not all(np.isfinite(v) for v in vals) or not loss_start > loss_end:
        return float("nan")
    return float((loss_before - loss_end) / (loss_start - loss_end))


def converged(loss_start: float, loss_before: float, loss_end: float,
              tol: float = _CONVERGENCE_TOL) -> bool:
    """A stated convergence criterion, relative to the progress made: a run has converged
    when less than ``tol`` (2 %) of its total improvement L(0) − L(T) came in the last 20 %
    of its steps, ``plateau_ratio(...) < tol`` (see :func:`plateau_ratio`).

    Why relative to the progress and not to the loss level: "fell by less than 2 % of
    L(T)" demands an ever smaller absolute change as L(T) → 0, so it is hardest on the nets
    that fit best (a residual net at L(T) = 0.08 had to move by < 0.0016) and says nothing
    about how much of the run's learning is still going on. Progress-relative, the rule is
    the same for every arm and scale-free: a curve L(t) = L∞ + (L(0) − L∞)·e^(−t/τ) passes
    when τ < T/4.2, i.e. when the gap still left, L(T) − L∞, is below ~1.5 % of the total
    drop L(0) − L∞ (an absolute tolerance would need a scale per arm). A run that
    went up over the last stretch (r < 0) is not still improving; a run that never
    improved on L(0), or with a non-finite loss, never counts as converged. With He et
    al.'s schedule the last 20 % runs at lr/100, so "converged" reads "converged at the
    annealed rate", as in He et al.'s own plots.
    """
    r = plateau_ratio(loss_start, loss_before, loss_end)
    return bool(np.isfinite(r) and r < tol)


def _track_every(ctx: Context) -> int:
    """Steps between the eval-mode checkpoints of the deepest B1/B2 nets (matched loss)."""
    return ctx.budget(full=25, quick=10, tiny=1)


def _depths(ctx: Context, conv: bool = False) -> tuple[int, ...]:
    """Depths of the sweep: 2/8/16/32 for the FC and the conv stacks alike (depth 16 of the
    conv arm adds 20 runs of 300 steps, ~40 % of the conv arm's cost: the conv stacks cost
    about in proportion to their depth, 2 + 8 + 32 → 2 + 8 + 16 + 32)."""
    if ctx.tiny:
        return (2, 4, 6)
    return (2, 8, 16, 32)


def _sweep(ctx: Context, steps: int, conv: bool, records: list[dict[str, Any]] | None = None,
           track: int = 0) -> dict[str, dict[int, dict[str, list]]]:
    """metrics[arm][depth][name] = per-seed values (arm: plain / residual); the deepest nets
    are tracked every ``track`` steps (see :func:`_train_sgd`)."""
    out: dict[str, dict[int, dict[str, list]]] = {"plain": {}, "residual": {}}
    depths = _depths(ctx, conv)
    for depth in depths:
        for arm in ("plain", "residual"):
            vals: dict[str, list] = {}
            for seed in ctx.seeds:
                _, m = _train_sgd(ctx, depth, arm == "residual", seed, steps, conv, records,
                                  track=track if depth == depths[-1] else 0)
                for k, v in m.items():
                    vals.setdefault(k, []).append(v)
            out[arm][depth] = vals
        ctx.log(f"  B1 {'conv' if conv else 'fc'} depth {depth}: training loss plain "
                f"{fmt(out['plain'][depth]['fit_loss'])}, residual "
                f"{fmt(out['residual'][depth]['fit_loss'])}")
    return out


@register
class SkipDepth(Experiment):
    id = "B1"
    title = "Skip connections let deep nets stack: optimisation, not overfitting"
    claim = ("Skip connection: mainly so that deep networks can be stacked sensibly, and to "
             "prevent overfitting.")
    expected = ("plain: training loss worsens with depth beyond ~10–20 layers (degradation, not "
                "overfitting); residual: flat or better")
    source = "He et al. 2016, Deep residual learning (plain-56 worse than plain-20 in train/test)"
    arms = ("plain", "residual")
    metrics = ("train loss vs depth", "test accuracy vs depth", "train–test gap")

    def run(self, ctx: Context) -> Result:
        steps = ctx.budget(full=1500, quick=300, tiny=2)
        track = _track_every(ctx)
        depths = _depths(ctx)
        tuning: list[dict[str, Any]] = []
        ref, deep = depths[1], depths[-1]
        kinds = [("fc", False)] + ([] if ctx.quick and not ctx.tiny else [("conv", True)])
        # the conv stacks cost ~4x the FC ones per step (30 Conv1d+BN layers at depth 32):
        # 300 steps with the same schedule take them to a plateau (the full run: every conv run
        # converged, < 1.2 % of its improvement in the last 20 %) within the B1+B2 budget
        conv_steps = ctx.budget(full=300, quick=0, tiny=2)
        table, parts, numbers, plots, gaps = [], [], {}, [], {}
        loss_series: dict[str, Any] = {}
        acc_series: dict[str, Any] = {}
        curves: dict[str, Any] = {}
        kind_depths: dict[str, tuple[int, ...]] = {}
        for kind, conv in kinds:
            depths = kind_depths[kind] = _depths(ctx, conv)
            res = _sweep(ctx, conv_steps if conv else steps, conv, tuning,
                         track=0 if conv else track)
            for arm in ("plain", "residual"):
                name = f"{arm} {kind}"
                loss_series[name] = np.array([res[arm][d]["fit_loss"] for d in depths]).T
                acc_series[name] = np.array([res[arm][d]["test_acc"] for d in depths]).T
                curves[name] = [common.smooth(c, 10) for c in res[arm][deep]["curve"]]
                for d in depths:
                    r = res[arm][d]
                    gap = np.subtract(r["test_loss"], r["train_loss"])
                    table.append({"arm": f"{arm} {kind}", "depth": d,
                                  "training loss (train mode)": fmt(r["fit_loss"]),
                                  "train loss (eval)": fmt(r["train_loss"]),
                                  "test loss": fmt(r["test_loss"]),
                                  "train acc": fmt(r["train_acc"]),
                                  "test acc": fmt(r["test_acc"]),
                                  "test−train loss": fmt(gap),
                                  "converged runs": f"{sum(r['converged'])}/{len(r['converged'])}"})
                gaps[name] = np.subtract(res[arm][deep]["test_loss"],
                                         res[arm][deep]["train_loss"])
                numbers[f"{kind}_{arm}_train_loss"] = {
                    d: mean_std(res[arm][d]["fit_loss"])[0] for d in depths}
                numbers[f"{kind}_{arm}_test_acc"] = {
                    d: mean_std(res[arm][d]["test_acc"])[0] for d in depths}
            plain, resid = res["plain"], res["residual"]
            n_steps = conv_steps if conv else steps
            # floors: 0.02 in converged training loss; log10(1.25) ≈ 0.1 (25 % more steps)
            # when the part falls back to steps to a matched loss; "flat or better" has none
            parts += [
                _depth_part(f"{kind}: plain training loss worsens with depth",
                            f"degradation: the plain-{deep} net trains worse than plain-{ref} "
                            "(each at its tuned lr): a higher training loss after convergence, "
                            "or, short of convergence, more steps to a common loss",
                            plain[deep], plain[ref], 0.02, 0.1,
                            (f"plain-{deep}", f"plain-{ref}"), n_steps),
                _depth_part(f"{kind}: residual trains better than plain at depth {deep}",
                            "the identity path leaves the deep net at a lower training loss "
                            "after convergence (or, short of it, gets there in fewer steps)",
                            plain[deep], resid[deep], 0.02, 0.1,
                            (f"plain-{deep}", f"residual-{deep}"), n_steps),
                _depth_part(f"{kind}: residual does not degrade with depth",
                            f"residual-{deep} trains at least as well as residual-{ref} (flat "
                            "or better), after convergence or to a common loss",
                            resid[ref], resid[deep], 0.0,
                            0.0, (f"residual-{ref}", f"residual-{deep}"), n_steps),
            ]
            numbers[f"{kind}_converged_runs"] = {
                f"{a}-{d}": f"{sum(res[a][d]['converged'])}/{len(ctx.seeds)}"
                for a in ("plain", "residual") for d in depths}
            numbers[f"{kind}_plateau_share"] = {
                f"{a}-{d}": mean_std(res[a][d]["plateau"])[0]
                for a in ("plain", "residual") for d in depths}
            if not conv:
                gap_match = _matched_gaps(plain[deep]["track"], resid[deep]["track"])
        parts.append(V.paired("the note: skips prevent overfitting",
                              f"at the same training loss the residual-{deep} net's test−train "
                              "loss gap is smaller than the plain one's",
                              gap_match["plain"], gap_match["residual"], floor=0.02,
                              metric="test loss − train loss (eval mode), at matched "
                                     "training loss",
                              arms=(f"plain-{deep}", f"residual-{deep}")))
        gm = gap_match
        how = (f"compared at matched training loss {gm['target']:.3f} (eval mode, first "
               f"{_TRACK_EXAMPLES} training examples, checked every {track} steps: the lowest "
               f"loss every seed of both arms reached in {steps} steps), each run at its first "
               f"checkpoint at or below it: step plain {fmt(gm['step_plain'])}, residual "
               f"{fmt(gm['step_residual'])}; at the end of the budget (unmatched) the gaps were "
               f"plain {fmt(gaps['plain fc'])}, residual {fmt(gaps['residual fc'])}")
        parts[-1].detail = f"{how}; {parts[-1].detail}" if parts[-1].detail else how
        numbers["gap_at_matched_loss"] = gm
        for kind, kd in kind_depths.items():
            sfx, title = ("", "fully connected") if kind == "fc" else (f"_{kind}", kind)
            plots.append(common.plot(
                ctx.path(f"train_loss_vs_depth{sfx}.png"),
                {k: v for k, v in loss_series.items() if k.endswith(kind)},
                f"B1 ({title}): training loss at the end of training (MNIST-1D)", "depth",
                "training loss (last 10 % of steps)", x=list(kd)))
            plots.append(common.plot(
                ctx.path(f"test_acc_vs_depth{sfx}.png"),
                {k: v for k, v in acc_series.items() if k.endswith(kind)},
                f"B1 ({title}): test accuracy", "depth", "test accuracy", x=list(kd)))
        depths = kind_depths["fc"]
        plots.append(common.plot(ctx.path("curves_deepest.png"), _ragged(curves),
                                 f"B1: training loss, depth {deep}", "step",
                                 "mini-batch loss (smoothed)", logy=True))
        pl, rl = numbers["fc_plain_train_loss"], numbers["fc_residual_train_loss"]
        conv_n = numbers["fc_converged_runs"]
        conv_txt = ""
        if "conv_converged_runs" in numbers:
            cpl, crl = numbers["conv_plain_train_loss"], numbers["conv_residual_train_loss"]
            conv_txt = (f"; conv: plain {cpl[ref]:.3f}→{cpl[deep]:.3f}, residual "
                        f"{crl[ref]:.3f}→{crl[deep]:.3f} ({conv_steps} steps; runs converged: "
                        + ", ".join(f"{k} {v}" for k, v in
                                    numbers["conv_converged_runs"].items()) + ")")
        summary = (f"plain training loss depth {ref}→{deep}: {pl[ref]:.3f}→{pl[deep]:.3f}, "
                   f"residual {rl[ref]:.3f}→{rl[deep]:.3f} (each arm and depth at its tuned "
                   f"lr, {steps} steps; runs converged: "
                   + ", ".join(f"{k} {v}" for k, v in conv_n.items())
                   + f"){conv_txt}; test−train loss gap at depth {deep} at matched training loss "
                   f"{gap_match['target']:.3f}: plain {fmt(gap_match['plain'])}, residual "
                   f"{fmt(gap_match['residual'])}; "
                   + "; ".join(f"{p.name}: {p.status}" for p in parts))
        lrs = {r["arm"]: r["chosen"] for r in tuning}
        return self.result(ctx, summary=summary, parts=parts, **_tuning.attach(tuning, dict(
            numbers=numbers, table=table, plots=plots,
            budget={"steps": steps, "conv_steps": conv_steps, "batch": _BATCH,
                    "optimizer": f"SGD momentum 0.9, lr per arm and depth {lrs} (FC and "
                                 "conv, each searched on validation under the same "
                                 "schedule), divided by 10 at "
                                 f"{' and '.join(f'{f:.0%}' for f in _LR_DROPS)} of the steps "
                                 "(He et al.)", "width": _WIDTH,
                    "conv channels": _CONV_WIDTH, "depths": list(depths),
                    "conv depths": list(kind_depths.get("conv", ())),
                    "convergence criterion": _CRITERION,
                    "if not every run of a part's arms converged": "log10 steps to the "
                    f"lowest {_MATCH_WINDOW}-step moving-average mini-batch loss every run "
                    "reached (matched training loss)",
                    "matched-loss checkpoints every": track})))


_CRITERION = ("converged: less than 2 % of the run's total improvement in training loss (eval "
              "mode, whole training set; from min(L(0), ln 10) to L(T)) came in its last 20 % "
              "of steps")


def _depth_part(name: str, statement: str, a: dict[str, list], b: dict[str, list],
                floor: float, steps_floor: float, arms: tuple[str, str], steps: int) -> V.Part:
    """A paired part on where training ends, or, failing convergence, on how fast it gets
    to a common loss.

    He et al.'s degradation is about where training ends: when every run of both arms
    converged (:func:`converged`) the part compares the training losses (train mode, last
    10 % of the steps). Otherwise a final loss says how far a run got in the budget, not where
    it would end, and the part compares the arms at a matched training loss instead (the
    issue's alternative): log10 of the steps each run needs to reach the lowest loss every
    run of both arms reaches (:func:`steps_to_matched_loss`) — He et al. put the deep plain
    nets' trouble down to "exponentially low convergence rates", which is what this
    measures. Either way the part states which comparison was made and why."""
    ca, cb = a["converged"], b["converged"]
    tally = f"runs converged: {arms[0]} {sum(ca)}/{len(ca)}, {arms[1]} {sum(cb)}/{len(cb)}"
    if all(ca) and all(cb):
        part = V.paired(name, statement, a["fit_loss"], b["fit_loss"], floor=floor,
                        metric="training loss after convergence, last 10 % of steps "
                               "(train mode)", arms=arms)
        note = (f"every run of both arms converged within {steps} steps ({_CRITERION}; "
                f"largest share in the last 20 %: "
                f"{np.nanmax(list(a['plateau']) + list(b['plateau'])):.2%})")
    else:
        try:
            target, sa, sb = steps_to_matched_loss(a["curve"], b["curve"], _MATCH_WINDOW)
        except ValueError as err:  # a run with no finite loss at all: nothing to match
            nan = [float("nan")] * len(ca)
            part = V.paired(name, statement, nan, nan, floor=steps_floor,
                            metric="log10 steps to reach a matched training loss", arms=arms)
            part.detail = (f"no estimate: not every run converged within {steps} steps "
                           f"({tally}) and the runs cannot be matched ({err})")
            return part
        part = V.paired(name, statement, np.log10(sa), np.log10(sb), floor=steps_floor,
                        metric="log10 steps to reach a matched training loss",
                        arms=arms)
        note = (f"not every run converged within {steps} steps ({tally}; {_CRITERION}), so "
                f"the arms are compared at matched training loss {target:.3f} (the lowest "
                f"mini-batch loss, moving average over {_MATCH_WINDOW} steps, that every run "
                f"of both arms reached): steps {arms[0]} {fmt(sa)}, {arms[1]} {fmt(sb)}; the "
                f"final losses were {fmt(a['fit_loss'])} vs {fmt(b['fit_loss'])}")
    part.detail = f"{note}; {part.detail}" if part.detail else note
    return part


def steps_to_matched_loss(curves_a: Sequence[Sequence[float]],
                          curves_b: Sequence[Sequence[float]], window: int
                          ) -> tuple[float, list[int], list[int]]:
    """(target, steps of each run of A, steps of each run of B): each run's per-step
    mini-batch loss is smoothed by a moving average over ``window`` steps; the target is
    the lowest smoothed loss every run reaches (:func:`matched_loss_target`), and a run's
    steps are the last step of the first window whose mean is at or below it (≥ 1, so that
    log steps is finite).

    Example::

        steps_to_matched_loss([[3, 2, 1, 1]], [[3, 3, 2, 2]], 1)   # (2.0, [2], [3])
    """
    if window < 1:
        raise ValueError(f"steps_to_matched_loss: window must be >= 1, got {window}")
    sm_a = [common.smooth(list(c), window) for c in curves_a]
    sm_b = [common.smooth(list(c), window) for c in curves_b]
    target = matched_loss_target(sm_a + sm_b)

    def steps(sm: np.ndarray, n: int) -> int:
        # smooth() returns the series itself when it is shorter than the window
        w = window if n >= window else 1
        return first_reach(sm, target) + w

    return (target, [steps(s, len(c)) for s, c in zip(sm_a, curves_a)],
            [steps(s, len(c)) for s, c in zip(sm_b, curves_b)])


def _matched_gaps(plain: list[dict[str, list]], resid: list[dict[str, list]]
                  ) -> dict[str, Any]:
    """Test − train loss (eval mode) of each run at a matched training loss: the lowest loss
    every tracked run of both arms reaches, each run at its first checkpoint at or below it
    (a net that fits less overfits less: equal steps would confound the gap with the fit)."""
    target = matched_loss_target([t["train"] for t in plain + resid])
    out: dict[str, Any] = {"target": target}
    for arm, tracks in (("plain", plain), ("residual", resid)):
        ks = [first_reach(t["train"], target) for t in tracks]
        out[arm] = [t["test"][k] - t["train"][k] for t, k in zip(tracks, ks)]
        out[f"step_{arm}"] = [t["steps"][k] for t, k in zip(tracks, ks)]
    return out


def _ragged(curves: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-seed curves cut to a common length (a seeds × steps array per series)."""
    out = {}
    for k, cs in curves.items():
        n = min(len(c) for c in cs)
        out[k] = np.array([c[:n] for c in cs])
    return out


def nonconvex_fraction(z: np.ndarray, rel_tol: float = 1e-3) -> float:
    """Fraction of interior grid points where the 2-D slice is locally non-convex: the
    finite-difference Hessian [[f_αα, f_αβ], [f_αβ, f_ββ]] has λ_min < −rel_tol·|λ_max| (Li et
    al. 2018 map |λ_min/λ_max| of the full Hessian; this is its 2-D-slice analogue)."""
    z = np.asarray(z, dtype=np.float64)
    c = z[1:-1, 1:-1]
    faa = z[1:-1, 2:] - 2 * c + z[1:-1, :-2]
    fbb = z[2:, 1:-1] - 2 * c + z[:-2, 1:-1]
    fab = (z[2:, 2:] - z[2:, :-2] - z[:-2, 2:] + z[:-2, :-2]) / 4
    half_tr = (faa + fbb) / 2
    disc = np.sqrt(((faa - fbb) / 2) ** 2 + fab ** 2)
    lmin, lmax = half_tr - disc, half_tr + disc
    return float(np.mean(lmin < -rel_tol * np.abs(lmax)))


@register
class SkipLandscape(Experiment):
    id = "B2"
    same_process_as = "B1"  # slices B1's trained deep nets instead of training them again
    title = "Loss landscape: deep plain vs deep residual (filter-normalised 2-D slices)"
    claim = ("Gradient descent: the optimum found is not guaranteed to be global. Skip "
             "connection: mainly so that deep networks can be stacked sensibly.")
    expected = "residual: smooth near-convex basin; deep plain: chaotic"
    source = "Li et al. 2018, Visualizing the loss landscape of neural nets"
    arms = ("plain", "residual")
    metrics = ("non-convex fraction of the slice", "local minima on the grid",
               "edge/centre loss ratio")

    def run(self, ctx: Context) -> Result:
        steps = ctx.budget(full=1500, quick=300, tiny=2)  # B1's budget: its nets are reused
        deep = _depths(ctx)[-1]
        grid = ctx.budget(full=21, quick=11, tiny=5)
        n_eval = ctx.budget(full=1000, quick=500, tiny=100)
        x, y, _, _ = _data(ctx)
        xs, ys = common.as_tensor(x[:n_eval]), common.as_tensor(y[:n_eval])
        stats: dict[str, dict[str, list]] = {"plain": {}, "residual": {}}
        plots: list[str] = []
        track = _track_every(ctx)
        trained = {arm: [_train_sgd(ctx, deep, arm == "residual", seed, steps, track=track)
                         for seed in ctx.seeds] for arm in ("plain", "residual")}
        # slices at a matched training loss: the lowest loss every run of both arms reaches,
        # each net at its first checkpoint at or below it (equal steps would put the plain
        # net's slice high on the loss surface and the residual one's deep in its basin)
        target = matched_loss_target([m["track"]["train"] for runs in trained.values()
                                      for _, m in runs])
        matched_at: dict[str, list[int]] = {}
        for arm in ("plain", "residual"):
            for seed, (model, metrics) in zip(ctx.seeds, trained[arm]):
                tr = metrics["track"]
                k = first_reach(tr["train"], target)
                matched_at.setdefault(arm, []).append(tr["steps"][k])
                model.load_state_dict({name: cr.from_numpy(a.copy())
                                       for name, a in tr["snapshots"][k].items()})
                sl = landscape.landscape_2d(model, nn.functional.cross_entropy, xs, ys,
                                            generator=seed + 1000, span=1.0, steps=grid)
                z = sl.losses
                centre = float(z[grid // 2, grid // 2])
                edge = np.concatenate([z[0], z[-1], z[1:-1, 0], z[1:-1, -1]])
                s = stats[arm]
                s.setdefault("nonconvex", []).append(nonconvex_fraction(z))
                s.setdefault("minima", []).append(landscape.grid_local_minima(z))
                s.setdefault("edge_ratio", []).append(float(np.median(edge)) / centre)
                s.setdefault("centre", []).append(centre)
                # is the slice taken around a minimum? (no neighbour on the grid is lower)
                c = grid // 2
                s.setdefault("centre_min", []).append(
                    bool(centre <= z[c - 1:c + 2, c - 1:c + 2].min() + 1e-12))
                if seed == ctx.seeds[0]:
                    plots.append(landscape.plot_slice_2d(
                        sl, ctx.path(f"landscape_{arm}.png"),
                        title=f"B2: {arm}-{deep}, seed {seed} (log levels)"))
            ctx.log(f"  B2 {arm}-{deep}: non-convex {fmt(stats[arm]['nonconvex'])}, minima "
                    f"{fmt(stats[arm]['minima'])}")
        p, r = stats["plain"], stats["residual"]
        parts = [
            V.paired("deep plain slice is more non-convex",
                     "Li et al.: the deep plain net's filter-normalised slice is chaotic, the "
                     "residual one a near-convex basin", p["nonconvex"], r["nonconvex"],
                     floor=0.05, metric="share of slice grid points with λ_min < 0",
                     arms=(f"plain-{deep}", f"residual-{deep}")),
            V.paired("deep plain slice has more local minima",
                     "more grid-local minima on the plain net's slice", p["minima"], r["minima"],
                     floor=0.5, metric="local minima on the grid",
                     arms=(f"plain-{deep}", f"residual-{deep}")),
        ]
        conv_runs = {a: sum(m["converged"] for _, m in trained[a]) for a in trained}
        how = (f"slices at matched training loss {target:.3f} (eval mode, first "
               f"{_TRACK_EXAMPLES} training examples, checked every {track} steps: the lowest "
               f"loss every seed of both arms reached in {steps} steps), each net at its first "
               f"checkpoint at or below it: step plain {fmt(matched_at['plain'])}, residual "
               f"{fmt(matched_at['residual'])}; slice centre the lowest point of its 3×3 "
               f"neighbourhood: plain {sum(p['centre_min'])}/{len(p['centre_min'])}, residual "
               f"{sum(r['centre_min'])}/{len(r['centre_min'])}; runs converged by the end of "
               f"the budget: plain {conv_runs['plain']}/{len(ctx.seeds)}, residual "
               f"{conv_runs['residual']}/{len(ctx.seeds)} (Li et al. slice around trained "
               "minimisers: at this budget the slices are around points on the way)")
        for part in parts:
            part.detail = f"{how}; {part.detail}" if part.detail else how
        num = {"centre_is_grid_minimum": {a: s["centre_min"] for a, s in stats.items()},
               "matched_loss": {"target": target, "steps": matched_at},
               "converged_runs": conv_runs}
        plots.append(common.plot(ctx.path("nonconvex_fraction.png"),
                                 {f"plain-{deep}": p["nonconvex"],
                                  f"residual-{deep}": r["nonconvex"]},
                                 "B2: share of the slice that is locally non-convex", "",
                                 "fraction of grid points", kind="bar"))
        table = [{"arm": f"{arm}-{deep}", "non-convex fraction": fmt(s["nonconvex"]),
                  "local minima on grid": fmt(s["minima"]),
                  "median edge / centre loss": fmt(s["edge_ratio"]),
                  "centre loss": fmt(s["centre"])} for arm, s in stats.items()]
        numbers = {"nonconvex": {a: mean_std(s["nonconvex"])[0] for a, s in stats.items()},
                   "local_minima": {a: mean_std(s["minima"])[0] for a, s in stats.items()},
                   "edge_ratio": {a: mean_std(s["edge_ratio"])[0] for a, s in stats.items()},
                   "compare": num}
        summary = (f"depth {deep}, at matched training loss {target:.3f} (step plain "
                   f"{fmt(matched_at['plain'])}, residual {fmt(matched_at['residual'])}): "
                   f"non-convex share of the {grid}×{grid} slice plain "
                   f"{fmt(p['nonconvex'])} vs residual {fmt(r['nonconvex'])}; grid minima "
                   f"{fmt(p['minima'])} vs {fmt(r['minima'])}; edge/centre loss "
                   f"{fmt(p['edge_ratio'])} vs {fmt(r['edge_ratio'])}; centre lowest of its 3×3 "
                   f"neighbourhood: plain {sum(p['centre_min'])}/{len(p['centre_min'])}, "
                   f"residual {sum(r['centre_min'])}/{len(r['centre_min'])} seeds")
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=plots,
                           budget={"max_steps": steps, "grid": grid, "span": 1.0,
                                   "loss examples": n_eval, "depth": deep,
                                   "matched-loss checkpoints every": track})


def matched_loss_target(curves: Sequence[Sequence[float]]) -> float:
    """The lowest training loss that every curve reaches: max over curves of each curve's
    minimum (NaN entries, e.g. a diverged step, are ignored).

    Comparing arms at this loss (each at its own first step that reaches it) compares them
    at equal fit instead of equal steps: an arm that trains slowly is not scored on a
    half-trained net against a trained one."""
    if not curves:
        raise ValueError("matched_loss_target: needs at least one curve")
    minima = []
    for i, c in enumerate(curves):
        v = np.asarray(c, dtype=np.float64)
        if not np.any(np.isfinite(v)):
            raise ValueError(f"matched_loss_target: curve {i} has no finite loss")
        minima.append(float(np.nanmin(v)))
    return max(minima)


def first_reach(curve: Sequence[float], target: float) -> int:
    """The index of the first entry of ``curve`` at or below ``target`` (ValueError if none)."""
    v = np.asarray(curve, dtype=np.float64)
    hit = np.flatnonzero(v <= target)  # NaN compares False: a diverged step never matches
    if not hit.size:
        raise ValueError(f"first_reach: the curve never reaches {target!r} (its minimum is "
                         f"{np.nanmin(v) if np.any(np.isfinite(v)) else float('nan')!r})")
    return int(hit[0])


def _train_tracked(ctx: Context, depth: int, residual: bool, bn: bool, seed: int, steps: int,
                   every: int, x_eval: np.ndarray, y_eval: np.ndarray) -> dict[str, Any]:
    """B3's nets: Adam (lr 3e-3, so that the un-normalised plain net trains at all), with the
    training loss (eval mode, on ``x_eval``) at step 0 and every ``every`` steps, and the
    weights (state dict, BN statistics included) at every checkpoint that sets a new lowest
    loss: the first checkpoint at or below any target is always such a checkpoint."""
    x, y, _, _ = _data(ctx)
    common.seeded(seed)
    model = make_net(depth, residual and depth > 2, bn=bn)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    steps_at: list[int] = []
    losses: list[float] = []
    snaps: dict[int, dict[str, np.ndarray]] = {}

    def record(step: int) -> None:
        loss = common.mean_loss(model, x_eval, y_eval)
        if not losses or not np.isfinite(np.nanmin(losses)) or loss < np.nanmin(losses):
            snaps[len(losses)] = {k: v._array.copy() for k, v in model.state_dict().items()}
        steps_at.append(step)
        losses.append(loss)

    record(0)
    common.train(model, opt, x, y, steps, _BATCH, seed, every=every, on_eval=record)
    if steps_at[-1] != steps:
        record(steps)
    return {"steps": steps_at, "loss": losses, "snapshots": snaps}


@register
class SkipCurvature(Experiment):
    id = "B3"
    title = "Hessian top eigenvalue and trace: plain vs residual, BN vs none, depth 2 vs 16"
    claim = ("Newton's method: solve from the Taylor expansion [the second-order one: the "
             "Hessian]. Skip connection: mainly so that deep networks can be stacked sensibly.")
    expected = "removing skips raises λ_max and tr(H) in deep nets; BN smooths only deeper nets"
    source = "Yao et al. 2020, PyHessian: neural networks through the lens of the Hessian"
    arms = ("depth 2 ± BN", "depth 16 plain/residual ± BN")
    metrics = ("λ_max (Lanczos)", "tr(H) (Hutchinson)", "at matched training loss")

    def run(self, ctx: Context) -> Result:
        steps = ctx.budget(full=400, quick=150, tiny=4)
        every = ctx.budget(full=10, quick=5, tiny=2)
        shallow, deep = (2, 4) if ctx.tiny else (2, 16)
        n_h = ctx.budget(full=512, quick=256, tiny=64)
        n_loss = ctx.budget(full=4000, quick=1000, tiny=200)
        m = ctx.budget(full=30, quick=20, tiny=5)
        probes = ctx.budget(full=40, quick=16, tiny=3)
        x, y, _, _ = _data(ctx)
        xs, ys = common.as_tensor(x[:n_h]), common.as_tensor(y[:n_h])
        configs = {f"{'residual' if r else 'plain'}-{d} {'BN' if bn else 'no BN'}": (d, r, bn)
                   for d, r, bn in [(shallow, False, True), (shallow, False, False),
                                    (deep, False, True), (deep, True, True),
                                    (deep, False, False), (deep, True, False)]}
        runs = {name: [_train_tracked(ctx, *cfg, seed, steps, every, x[:n_loss], y[:n_loss])
                       for seed in ctx.seeds] for name, cfg in configs.items()}
        cache: dict[tuple[str, int, int], tuple[float, float]] = {}
        densities: dict[str, Any] = {}

        def hessian_at(name: str, i: int, k: int) -> tuple[float, float]:
            """(λ_max, tr H) of arm ``name``, seed index ``i``, at checkpoint ``k``."""
            if (name, i, k) not in cache:
                seed = ctx.seeds[i]
                common.seeded(seed)
                depth, residual, bn = configs[name]
                model = make_net(depth, residual and depth > 2, bn=bn)
                model.load_state_dict({key: cr.from_numpy(a.copy()) for key, a in
                                       runs[name][i]["snapshots"][k].items()})
                op = curvature.HessianOperator.from_model(model, nn.functional.cross_entropy,
                                                          xs, ys)
                lam = float(curvature.top_eigenvalues(op, 1, m=m, generator=seed)[0])
                tr = curvature.hutchinson_trace(op, probes, generator=seed).trace
                cache[(name, i, k)] = (lam, tr)
                if i == 0 and configs[name][0] == deep and configs[name][2] \
                        and name not in densities:
                    densities[name] = curvature.spectral_density(op, m=m, generator=seed)
            return cache[(name, i, k)]

        def matched(names: Sequence[str]) -> dict[str, Any]:
            """Every arm of one comparison at the lowest loss all its runs reach."""
            target = matched_loss_target([r["loss"] for nm in names for r in runs[nm]])
            out: dict[str, Any] = {"target": target}
            for nm in names:
                ks = [first_reach(r["loss"], target) for r in runs[nm]]
                vals = [hessian_at(nm, i, k) for i, k in enumerate(ks)]
                out[nm] = {"lam": [v[0] for v in vals], "trace": [v[1] for v in vals],
                           "step": [runs[nm][i]["steps"][k] for i, k in enumerate(ks)],
                           "loss": [runs[nm][i]["loss"][k] for i, k in enumerate(ks)]}
            return out

        def how(mt: dict[str, Any], names: Sequence[str]) -> str:
            return (f"compared at matched training loss {mt['target']:.3f} (the lowest loss "
                    f"every seed of these arms reached in {steps} Adam steps; cross-entropy in "
                    f"eval mode on {n_loss} training examples, checked every {every} steps); "
                    "each run measured at its first checkpoint at or below it, at step "
                    + ", ".join(f"{nm} {fmt(mt[nm]['step'])}" for nm in names))

        # Yao et al.'s comparisons: skips removed from a deep net (with and without BN) raise
        # λ_max and tr(H); BN lowers λ_max in the deep plain net more than in the shallow one
        parts, numbers, match_rows = [], {}, []
        for norm in ("BN", "no BN"):
            names = (f"plain-{deep} {norm}", f"residual-{deep} {norm}")
            mt = matched(names)
            plain, resid = mt[names[0]], mt[names[1]]
            match_rows.append((f"plain vs residual, {norm}", mt, names))
            for metric, label in (("lam", "λ_max"), ("trace", "tr(H)")):
                part = V.paired(f"removing skips raises {label} ({norm})",
                                f"depth {deep}, {norm}: plain {label} > residual {label} at "
                                "the same training loss", plain[metric], resid[metric],
                                floor=0.0, metric=f"Hessian {label} at matched training loss",
                                arms=names)
                part.detail = f"{how(mt, names)}; {part.detail}" if part.detail else \
                    how(mt, names)
                parts.append(part)
        bn_names = tuple(f"plain-{d} {nb}" for d in (deep, shallow) for nb in ("no BN", "BN"))
        mt = matched(bn_names)
        match_rows.append(("BN effect, depth", mt, bn_names))

        def log_bn(d: int) -> list[float]:
            return list(np.log10(np.divide(mt[f"plain-{d} no BN"]["lam"],
                                           mt[f"plain-{d} BN"]["lam"])))

        part = V.paired("BN smooths the deep net more than the shallow one",
                        f"log10 λ_max(no BN)/λ_max(BN) is larger at depth {deep} than at "
                        f"depth {shallow}, all four nets at the same training loss",
                        log_bn(deep), log_bn(shallow), floor=0.0,
                        metric="log10 λ_max(no BN)/λ_max(BN), plain nets, matched loss",
                        arms=(f"depth {deep}", f"depth {shallow}"))
        part.detail = f"{how(mt, bn_names)}; {part.detail}" if part.detail else \
            how(mt, bn_names)
        parts.append(part)
        bn_ratio = {d: float(10 ** np.mean(log_bn(d))) for d in (shallow, deep)}
        # the bars: each arm at its first comparison's target (the deep plain arms at the skip
        # comparison's, the shallow ones at the BN comparison's); the table lists every match
        res: dict[str, dict[str, list]] = {}
        for _label, mt_, names in match_rows:
            for nm in names:
                res.setdefault(nm, mt_[nm])
        table = [{"comparison": label, "arm": nm, "target loss": f"{mt_['target']:.3f}",
                  "step at target": fmt(mt_[nm]["step"]), "loss at match": fmt(mt_[nm]["loss"]),
                  "λ_max": fmt(mt_[nm]["lam"]), "tr(H)": fmt(mt_[nm]["trace"]),
                  "final loss": fmt([r["loss"][-1] for r in runs[nm]])}
                 for label, mt_, names in match_rows for nm in names]
        numbers["lambda_max"] = {k: mean_std(v["lam"])[0] for k, v in res.items()}
        numbers["trace"] = {k: mean_std(v["trace"])[0] for k, v in res.items()}
        numbers["lambda_ratio_noBN_over_BN"] = bn_ratio
        numbers["matched_loss"] = {label: {"target": mt_["target"],
                                           "steps": {nm: mt_[nm]["step"] for nm in names},
                                           "loss": {nm: mt_[nm]["loss"] for nm in names}}
                                   for label, mt_, names in match_rows}
        numbers["final_loss"] = {nm: mean_std([r["loss"][-1] for r in rs])[0]
                                 for nm, rs in runs.items()}
        for nm, r in res.items():
            ctx.log(f"  B3 {nm}: λ_max {fmt(r['lam'])}, tr {fmt(r['trace'])} at step "
                    f"{fmt(r['step'])}")
        plots = [_bars(ctx.path("lambda_max.png"), res, "lam",
                       "B3: top Hessian eigenvalue, each arm at its comparison's matched loss"),
                 _bars(ctx.path("trace.png"), res, "trace",
                       "B3: Hessian trace (Hutchinson), at matched loss"),
                 _densities(ctx.path("spectral_density.png"), densities),
                 common.plot(ctx.path("loss_curves.png"),
                             {nm: np.array([r["loss"] for r in rs]) for nm, rs in runs.items()},
                             "B3: training loss (eval mode); matched targets in the table",
                             "step", "training loss", logy=True,
                             x=runs[next(iter(runs))][0]["steps"])]
        p_bn, r_bn = res[f"plain-{deep} BN"], res[f"residual-{deep} BN"]
        p_no, r_no = res[f"plain-{deep} no BN"], res[f"residual-{deep} no BN"]
        t_bn, t_no = match_rows[0][1]["target"], match_rows[1][1]["target"]
        summary = (f"at matched training loss — BN nets, depth {deep} (loss {t_bn:.3f}), plain "
                   f"vs residual: λ_max {fmt(p_bn['lam'])} vs {fmt(r_bn['lam'])}, tr(H) "
                   f"{fmt(p_bn['trace'])} vs {fmt(r_bn['trace'])}; without BN (loss "
                   f"{t_no:.3f}): λ_max {fmt(p_no['lam'])} vs {fmt(r_no['lam'])}, reached at "
                   f"step {fmt(p_no['step'])} vs {fmt(r_no['step'])}; λ_max(no BN)/λ_max(BN), "
                   f"plain, at loss {mt['target']:.3f}: depth {shallow} "
                   f"{bn_ratio[shallow]:.2g}, depth {deep} {bn_ratio[deep]:.2g}. "
                   "Parts: " + "; ".join(f"{q.name}: {q.status}" for q in parts))
        return self.result(ctx, summary=summary, parts=parts, numbers=numbers, table=table,
                           plots=plots,
                           budget={"max_steps": steps, "optimizer": "Adam lr 3e-3",
                                   "loss checkpoints every": every,
                                   "loss examples (eval mode)": n_loss,
                                   "matching": "per comparison: the lowest loss every run of "
                                               "its arms reached; each run at its first "
                                               "checkpoint at or below it",
                                   "hessian examples": n_h, "lanczos steps": m,
                                   "hutchinson probes": probes})


def _bars(path: str, res: dict[str, dict[str, list]], key: str, title: str) -> str:
    """One bar per configuration: the mean over seeds with its 95 % t-interval, log scale."""
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=100)
    names = list(res)
    means, half = common.bar_errors([res[n][key] for n in names])
    # (on a log axis the lower whisker stops at the bar's own floor, never below 0)
    lo = np.minimum(half, np.where(means > 0, means * (1 - 1e-9), half))
    ax.bar(range(len(names)), means, yerr=[lo, half], capsize=3,
           color=["tab:red" if n.startswith("plain") else "tab:blue" for n in names])
    ax.set_ylabel(common.band_label(len(res[names[0]][key])), fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
    if np.all(means > 0):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _densities(path: str, densities: dict[str, Any]) -> str:
    """SLQ spectral densities (one seed) on a log density axis."""
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=100)
    for name, d in densities.items():
        ax.plot(d.grid, np.maximum(d.density, 1e-8), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density (SLQ)")
    ax.set_title("B3: Hessian spectral density, deep nets with BN")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path

