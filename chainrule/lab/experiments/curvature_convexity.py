"""Saddle points (E3) and convexity (E4), measured with chainrule's second derivatives.

E3 runs gradient descent, Newton and saddle-free Newton (``optim.Newton(saddle_free=True)``)
near the saddle of 5x² − y² and the monkey saddle x³ − 3xy², then looks for critical points of
a small tanh MLP on 4×4-pooled digits by minimising ‖∇L‖² (Dauphin et al. 2014) and relates
each point's training error to its index (the fraction of negative Hessian eigenvalues, from the
exact Hessian). E4 compares where a local method ends from several random starts on a convex
problem (L2 logistic regression) and on an MLP.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import analysis, autograd, nn, optim
from chainrule.lab import common
from chainrule.lab import verdict as V
from chainrule.lab.experiment import Context, Experiment, Result, register
from chainrule.lab.experiments.optimizers import logreg_data, logreg_loss
from chainrule.lab.verdict import fmt, mean_std, spearman, table_row

__all__ = ["E3Saddles", "E4Convexity"]


def _vec(values: np.ndarray, requires_grad: bool = True) -> Any:
    return cr.from_numpy(np.array(values, dtype=np.float64)).requires_grad_(requires_grad)


def saddle(p: Any) -> Any:
    """5x² − y²: a non-degenerate saddle at 0 (Hessian diag(10, −2))."""
    return 5 * p[0] ** 2 - p[1] ** 2


def monkey(p: Any) -> Any:
    """x³ − 3xy²: the monkey saddle, degenerate at 0 (zero Hessian), three descending valleys."""
    return p[0] ** 3 - 3 * p[0] * p[1] ** 2


def run_method(f: Callable[[Any], Any], x0: np.ndarray, method: str, iters: int,
               lr: float = 0.05, escape: float = -1.0) -> dict[str, Any]:
    """Iterate GD / Newton / saddle-free Newton from ``x0``; stop once f < ``escape``.

    Returns the path, the escape iteration (None if it never escaped) and the final distance to
    the saddle at 0."""
    x = _vec(x0)
    if method == "gd":
        opt: Any = optim.SGD([x], lr=lr)
    else:
        opt = optim.Newton([x], saddle_free=method == "saddle-free newton")
    path = [x._array.copy()]
    escaped = None
    for k in range(1, iters + 1):
        if method == "gd":
            opt.zero_grad()
            f(x).backward()
            opt.step()
        else:
            opt.step(lambda: f(x))
        path.append(x._array.copy())
        if float(f(_vec(x._array, False)).item()) < escape:
            escaped = k
            break
    return {"path": np.asarray(path), "escape": escaped,
            "distance": float(np.linalg.norm(path[-1]))}


class PooledDigits:
    """Digits pooled 2×2 to 4×4 = 16 inputs, and a one-hidden-layer tanh MLP whose parameters
    are one flat float64 vector θ (so that its exact Hessian is small: a few hundred entries)."""

    def __init__(self, n: int, hidden: int) -> None:
        x, y, _, _ = common.dataset("digits")
        self.x = x[:n].reshape(n, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(n, 16).astype(np.float64)
        self.y = y[:n]
        self.shapes = [(hidden, 16), (hidden,), (10, hidden), (10,)]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n_params = sum(self.sizes)
        self._x, self._y = cr.from_numpy(self.x), cr.from_numpy(self.y)

    def logits(self, theta: Any) -> Any:
        parts, start = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            parts.append(theta[start:start + size].reshape(shape))
            start += size
        w1, b1, w2, b2 = parts
        return nn.functional.linear(nn.functional.linear(self._x, w1, b1).tanh(), w2, b2)

    def loss(self, theta: Any) -> Any:
        return nn.functional.cross_entropy(self.logits(theta), self._y)

    def error(self, theta: np.ndarray) -> float:
        with cr.no_grad():
            out = self.logits(cr.from_numpy(theta))
        return float(np.mean(out._array.argmax(1) != self.y))

    def grad_norm(self, theta: np.ndarray) -> float:
        t = _vec(theta)
        self.loss(t).backward()
        return float(np.linalg.norm(t.grad._array))


def find_critical_point(task: PooledDigits, theta0: np.ndarray, iters: int) -> np.ndarray:
    """Minimise φ(θ) = ½‖∇L(θ)‖² with chainrule's L-BFGS; ∇φ = H∇L by double backward."""
    p = _vec(theta0)
    opt = optim.LBFGS([p], lr=1, max_iter=iters, history_size=20,
                      line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                      tolerance_change=1e-20)

    def closure() -> Any:
        opt.zero_grad()
        (g,) = autograd.grad(task.loss(p), [p], create_graph=True)
        phi = 0.5 * (g * g).sum()
        phi.backward()
        return phi

    opt.step(closure)
    return p._array.copy()


def polish(task: PooledDigits, theta: np.ndarray, steps: int = 4, tol: float = 1e-6,
           start_below: float = 1e-3) -> tuple[np.ndarray, float, np.ndarray | None]:
    """Newton's iteration on ∇L(θ) = 0 with the exact Hessian (least-squares step, so that it
    converges to saddles as well as minima): θ ← θ − H⁺∇L, from points whose ‖∇L‖ is already
    below ``start_below`` (there it converges quadratically; farther away the point is not
    near a critical point and is left as it is). Returns the point, its ‖∇L‖ and the Hessian's
    eigenvalues at the last Newton iterate (None when not polished)."""
    th = np.array(theta, dtype=np.float64)
    gnorm = task.grad_norm(th)
    if gnorm >= start_below:
        return th, gnorm, None
    eig = None
    for _ in range(steps):
        h = analysis.hessian_matrix(task.loss, _vec(th, False))
        eig = np.linalg.eigvalsh(h)
        if gnorm < tol * 1e-2:  # converged: H (and its spectrum) taken at this point
            break
        t = _vec(th)
        task.loss(t).backward()
        th = th - np.linalg.lstsq(h, t.grad._array, rcond=1e-12)[0]
        gnorm = task.grad_norm(th)
    return th, gnorm, eig


@register
class E3Saddles(Experiment):
    id = "E3"
    title = "Saddle points: GD plateaus, Newton is attracted, saddle-free Newton escapes"
    claim = "Saddle point: a critical point that is neither a maximum nor a minimum."
    expected = ("5x²−y² and x³−3xy²: GD plateaus, Newton is attracted, saddle-free Newton "
                "escapes; MLP critical points: index and training error strongly correlated")
    source = "Dauphin et al. 2014"
    arms = ("GD (lr 0.05)", "Newton", "saddle-free Newton", "MLP critical points")
    metrics = ("iterations to escape (f < −1)", "Newton's final distance to the saddle",
               "Spearman ρ(training error, index)")

    # eigenvalues within tol·max|λ| of 0 count as zero; a point where most of them are zero is
    # a degenerate plateau (the net's output nearly constant), where the index says little:
    # such points are reported, and left out of the correlation
    index_tol = 1e-4

    def run(self, ctx: Context) -> Result:
        toy = self._toy(ctx)
        crit = self._critical_points(ctx)
        return self._report(ctx, toy, crit)

    def _toy(self, ctx: Context) -> dict[str, Any]:
        cap = ctx.budget(full=5000, quick=2000, tiny=300)
        methods = ("gd", "newton", "saddle-free newton")
        out: dict[str, Any] = {}
        for fname, f in (("5x²−y²", saddle), ("x³−3xy²", monkey)):
            r = out[fname] = {m: {"escape": [], "distance": [], "path": None} for m in methods}
            for seed in ctx.seeds:
                rng = np.random.default_rng(seed)
                # start on the ascending side (f > 0), a hair off the ridge y = 0
                x0 = np.array([rng.uniform(0.5, 1.0), 1e-4 * rng.choice([-1, 1])
                               * rng.uniform(0.5, 1.5)])
                for m in methods:
                    res = run_method(f, x0, m, cap if m == "gd" else 200)
                    r[m]["escape"].append(res["escape"] if res["escape"] is not None else math.inf)
                    r[m]["distance"].append(res["distance"])
                    if seed == ctx.seeds[0]:
                        r[m]["path"] = res["path"]
        out["cap"] = cap
        return out

    def _critical_points(self, ctx: Context) -> dict[str, Any]:
        n = 60 if ctx.tiny else 100
        hidden = 4 if ctx.tiny else 6
        marks = (3, 10, 30) if ctx.tiny else ctx.budget(full=(5, 10, 20, 40, 80, 160, 320),
                                                    quick=(5, 15, 40, 100, 300))
        iters = ctx.budget(full=1000, quick=250, tiny=5)
        task = PooledDigits(n, hidden)
        out: dict[str, Any] = {"points": [], "n_params": task.n_params, "grad_ratio": []}
        for seed in ctx.seeds:
            rng = np.random.default_rng(seed)
            th = _vec(0.5 * rng.standard_normal(task.n_params))
            opt = optim.Adam([th], lr=0.05)
            starts = []
            for k in range(max(marks) + 1):  # starts along a training run: high to low error
                if k in marks:
                    starts.append(th._array.copy())
                opt.zero_grad()
                task.loss(th).backward()
                opt.step()
            for s in starts:
                p = find_critical_point(task, s, iters)
                # polish to a true critical point (‖∇L‖ < 1e-6) before reading its index
                p, gnorm, eig = polish(task, p, steps=ctx.budget(full=8, quick=4, tiny=2))
                if eig is None:  # not near a critical point: no index to read
                    out["points"].append((seed, task.error(p), float("nan"),
                                          float(task.loss(_vec(p, False))), False, gnorm))
                    continue
                tol = self.index_tol * np.abs(eig).max()
                index = float(np.mean(eig < -tol))
                degenerate = bool(np.mean(np.abs(eig) <= tol) > 0.5)
                err = task.error(p)
                out["grad_ratio"].append(gnorm / task.grad_norm(s))
                out["points"].append((seed, err, index, float(task.loss(_vec(p, False))),
                                      degenerate, gnorm))
        out["iters"] = iters
        out["starts"] = list(marks)
        return out

    def _report(self, ctx: Context, toy: dict, crit: dict) -> Result:
        parts, table = [], []
        for fname in ("5x²−y²", "x³−3xy²"):
            r = toy[fname]

            # a run that never escaped counts as escaping just after its cap (a lower bound)
            def capped(v: list[float], cap: int) -> list[float]:
                return [float(min(x, cap + 1)) for x in v]

            parts.append(V.paired(
                f"{fname}: GD plateaus, saddle-free Newton escapes sooner",
                "iterations until f < −1 from just off the ridge (GD capped at its budget)",
                list(np.log10(capped(r["gd"]["escape"], toy["cap"]))),
                list(np.log10(capped(r["saddle-free newton"]["escape"], 200))), floor=0.3,
                metric="log10 iterations to escape", arms=("GD", "saddle-free Newton")))
            dist = r["newton"]["distance"]
            if fname == "5x²−y²":
                parts.append(V.verified(
                    f"{fname}: Newton jumps onto the saddle",
                    "on a quadratic, one Newton step lands on its critical point whatever its "
                    "index (algebra)", max(dist) < 1e-6, detail=f"final distance {max(dist):.0e}"))
            else:
                parts.append(V.one_sample(
                    f"{fname}: Newton is attracted to the degenerate saddle",
                    "Newton ends within 1e-6 of the monkey saddle",
                    list(np.log10(np.maximum(dist, 1e-300))), reference=-6.0, expect="less",
                    floor=0.0, metric="log10 final distance to the saddle", arms=("Newton",)))
            for m in ("gd", "newton", "saddle-free newton"):
                esc = ["never" if not np.isfinite(v) else int(v) for v in r[m]["escape"]]
                table.append(table_row(f"{fname} {m}", escape_iteration=str(esc),
                                       final_distance_to_saddle=r[m]["distance"]))
        good = [p for p in crit["points"] if p[5] < 1e-6 and not p[4] and np.isfinite(p[2])]
        crit["rho"] = [spearman([p[1] for p in good], [p[2] for p in good])] if len(good) >= 3 \
            else []
        if len(good) >= 4:
            parts.append(V.correlation(
                "MLP critical points: index and training error correlate",
                "Dauphin et al.: at critical points (‖∇L‖ < 1e-6, Newton-polished, pooled over "
                "seeds and starts) the fraction of negative eigenvalues rises with the error",
                [p[2] for p in good], [p[1] for p in good], floor=0.3,
                metric="Spearman ρ(index, training error), permutation test"))
        else:  # no estimate: say why instead of inventing one
            part = V.correlation("MLP critical points: index and training error correlate",
                                 "Dauphin et al.: at critical points the index rises with the "
                                 "error", [float("nan")] * 3, [float("nan")] * 3, floor=0.3,
                                 metric="Spearman ρ(index, training error), permutation test")
            gn = [p[5] for p in crit["points"]]
            part.detail = (f"no estimate: {len(good)} of {len(gn)} points reached ‖∇L‖ < 1e-6 "
                           f"(‖∇L‖ from {min(gn):.1e} to {max(gn):.1e} after L-BFGS on ‖∇L‖² "
                           "and Newton polishing): this budget finds no critical points")
            parts.append(part)
        n_deg = sum(p[4] for p in crit["points"])
        table.append(table_row("MLP critical points", spearman_rho=crit["rho"] or "n/a",
                               polished_below_1e_6=f"{len(good)} non-degenerate",
                               degenerate_points=f"{n_deg} of {len(crit['points'])}",
                               grad_norm_after_over_before=crit["grad_ratio"],
                               parameters=crit["n_params"]))
        plots = [self._plot(ctx, toy, crit)]
        s, m = toy["5x²−y²"], toy["x³−3xy²"]

        def esc(v: list[float]) -> str:
            finite = [x for x in v if np.isfinite(x)]
            return fmt(finite, 3) if len(finite) == len(v) else f"{len(v) - len(finite)} never"

        summary = (f"escape iterations 5x²−y²: GD {esc(s['gd']['escape'])}, SFN "
                   f"{esc(s['saddle-free newton']['escape'])}, Newton ends "
                   f"{max(s['newton']['distance']):.0e} from the saddle; monkey saddle: GD "
                   f"{esc(m['gd']['escape'])}, SFN {esc(m['saddle-free newton']['escape'])}, "
                   f"Newton {max(m['newton']['distance']):.0e} from it; MLP "
                   f"({crit['n_params']} params) Spearman ρ(error, index) "
                   f"{fmt(crit['rho']) if crit['rho'] else 'n/a'} over {len(good)} points "
                   f"polished to ‖∇L‖ < 1e-6 ({n_deg} of {len(crit['points'])} degenerate, "
                   "left out)")
        numbers = {
            fname: {mth: {"escape": [None if not np.isfinite(v) else v
                                     for v in toy[fname][mth]["escape"]],
                          "final_distance": mean_std(toy[fname][mth]["distance"])}
                    for mth in ("gd", "newton", "saddle-free newton")}
            for fname in ("5x²−y²", "x³−3xy²")}
        numbers["spearman_rho"] = mean_std(crit["rho"]) if crit["rho"] else None
        numbers["critical_points"] = [{"seed": p[0], "error": p[1], "index": p[2], "loss": p[3],
                                       "degenerate": p[4], "grad_norm": p[5]}
                                      for p in crit["points"]]
        numbers["polished_points_used"] = len(good)
        numbers["grad_norm_reduction"] = mean_std(crit["grad_ratio"])
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=plots,
                           budget={"gd_cap": toy["cap"], "gd_lr": 0.05, "newton_cap": 200,
                                   "mlp_params": crit["n_params"], "lbfgs_iters": crit["iters"],
                                   "starts_at_adam_steps": crit["starts"],
                                   "index_tol": self.index_tol})

    def _plot(self, ctx: Context, toy: dict, crit: dict) -> str:
        plt = common.pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.9), dpi=100)
        for ax, (fname, f) in zip(axes[:2], (("5x²−y²", lambda a, b: 5 * a**2 - b**2),
                                             ("x³−3xy²", lambda a, b: a**3 - 3 * a * b**2))):
            g = np.linspace(-1.5, 1.5, 121)
            a, b = np.meshgrid(g, g)
            ax.contour(a, b, f(a, b), levels=25, linewidths=0.5, cmap="coolwarm")
            for m, style in (("gd", ".-"), ("newton", "s-"), ("saddle-free newton", "^-")):
                path = np.clip(toy[fname][m]["path"], -1.5, 1.5)
                ax.plot(path[:, 0], path[:, 1], style, ms=3, lw=1, label=m)
            ax.plot(0, 0, "k*", ms=10)
            ax.set_title(f"{fname} (first seed)", fontsize=10)
            ax.legend(fontsize=7)
        for degenerate, marker in ((False, "o"), (True, "x")):
            pts = np.asarray([(p[1], p[2]) for p in crit["points"] if p[4] == degenerate])
            if len(pts):
                axes[2].scatter(pts[:, 1], pts[:, 0], marker=marker,
                                label="degenerate (left out)" if degenerate else "critical point")
        axes[2].legend(fontsize=7)
        axes[2].set_xlabel("index (fraction of negative eigenvalues)")
        axes[2].set_ylabel("training error")
        rho = f"{np.mean(crit['rho']):.2f}" if crit["rho"] else "n/a"
        axes[2].set_title(f"MLP near-critical points, ρ = {rho}", fontsize=10)
        axes[2].grid(alpha=0.3)
        fig.subplots_adjust(left=0.05, right=0.98, bottom=0.14, top=0.9, wspace=0.25)
        path = ctx.path("e3_saddles.png")
        fig.savefig(path)
        plt.close(fig)
        return path


# ---------------------------------------------------------------------------------------------
@register
class E4Convexity(Experiment):
    id = "E4"
    title = "Convex ⇒ every local optimum is global: one end point from every start"
    claim = "For a convex problem a local optimum is the global optimum."
    expected = ("L2 logistic regression from 5 random inits reaches one loss value (spread "
                "~1e-7); an MLP from 5 inits ends with a spread")
    source = "Boyd & Vandenberghe §4.2"
    arms = ("L2 logistic regression (convex)", "tanh MLP (not convex)")
    metrics = ("final-loss spread over 5 starts", "largest distance between end points",
               "smallest Hessian eigenvalue at sampled points")

    starts = 5
    lam = 1e-2

    def run(self, ctx: Context) -> Result:
        iters = ctx.budget(full=1000, quick=300, tiny=20)
        iters_convex = ctx.budget(full=1000, quick=500, tiny=100)  # cheap: 31 parameters
        samples = ctx.budget(full=5, quick=3, tiny=2)
        hidden = 4 if ctx.tiny else 6
        task = PooledDigits(60 if ctx.tiny else 100, hidden)
        out: dict[str, dict[str, list]] = {
            a: {"spread": [], "points": [], "distinct": [], "losses": [], "min_eig": [],
                "convex": [], "grad": []} for a in ("logistic", "mlp")}
        for seed in ctx.seeds:
            x, y = logreg_data(seed, 0.2 if ctx.tiny else 0.8)
            loss = logreg_loss(x, y, self.lam)
            d = x.shape[1]

            def logistic(gen: Any, d: int = d, loss: Callable = loss) -> tuple[list, Callable]:
                w = (3.0 * cr.randn(d, dtype=cr.float64, generator=gen)).requires_grad_(True)
                b = cr.randn(1, dtype=cr.float64, generator=gen).requires_grad_(True)
                return [w, b], lambda: loss(w, b)

            def mlp(gen: Any) -> tuple[list, Callable]:
                th = (0.5 * cr.randn(task.n_params, dtype=cr.float64, generator=gen)
                      ).requires_grad_(True)
                return [th], lambda: task.loss(th)

            for arm, builder in (("logistic", logistic), ("mlp", mlp)):
                rep = analysis.multistart(builder, self.starts,
                                          generator=cr.Generator().manual_seed(seed),
                                          max_iter=iters_convex if arm == "logistic" else iters,
                                          gtol=1e-9)
                r = out[arm]
                r["grad"].append(max(self._grad_norm(arm, p, loss, d, task)
                                     for p in rep.final_points))
                r["spread"].append(rep.loss_spread)
                r["points"].append(rep.point_spread)
                r["distinct"].append(rep.n_distinct)
                r["losses"].append(list(rep.final_losses))
            box = (np.full(d + 1, -2.0), np.full(d + 1, 2.0))
            conv = analysis.check_convexity(lambda z, loss=loss, d=d: loss(z[:d], z[d:]), box,
                                            samples=samples,
                                            generator=cr.Generator().manual_seed(seed))
            out["logistic"]["min_eig"].append(conv.min_eigenvalue)
            out["logistic"]["convex"].append(conv.convex)
            conv = analysis.check_convexity(task.loss, (np.full(task.n_params, -1.0),
                                                        np.full(task.n_params, 1.0)),
                                            samples=samples, chord=False,
                                            generator=cr.Generator().manual_seed(seed))
            out["mlp"]["min_eig"].append(conv.min_eigenvalue)
            out["mlp"]["convex"].append(conv.convex)
        return self._report(ctx, out, iters, samples, task.n_params)

    @staticmethod
    def _grad_norm(arm: str, point: np.ndarray, loss: Callable, d: int,
                   task: PooledDigits) -> float:
        """‖∇L‖ at an end point (is it a local optimum, or did BFGS stop short?)."""
        if arm == "mlp":
            return task.grad_norm(point)
        w, b = _vec(point[:d]), _vec(point[d:])
        loss(w, b).backward()
        return float(np.sqrt(np.sum(w.grad._array ** 2) + np.sum(b.grad._array ** 2)))

    def _report(self, ctx: Context, out: dict, iters: int, samples: int,
                n_params: int) -> Result:
        lg, mlp = out["logistic"], out["mlp"]
        floor = 1e-16  # log of a zero spread
        log_lg = list(np.log10(np.maximum(lg["spread"], floor)))
        log_mlp = list(np.log10(np.maximum(mlp["spread"], floor)))
        parts = [
            V.one_sample("convex: every start reaches one loss value",
                         f"L2 logistic regression: final-loss spread over {self.starts} starts "
                         "below 1e-6", log_lg, reference=-6.0, expect="less", floor=0.0,
                         metric="log10 final-loss spread", arms=("logistic",)),
            V.paired("non-convex: the MLP's end points spread",
                     "the MLP's final-loss spread is 100× the convex problem's or more",
                     log_mlp, log_lg, floor=2.0, metric="log10 final-loss spread",
                     arms=("mlp", "logistic")),
            V.verified("sampled Hessians: logistic PSD, MLP not",
                       "a sampling check of convexity can confirm non-convexity but never "
                       "refute convexity: shown as a property of the two objectives",
                       all(lg["convex"]) and not any(mlp["convex"]),
                       detail=f"min sampled eigenvalue logistic {min(lg['min_eig']):.2g}, "
                              f"MLP {min(mlp['min_eig']):.2g}"),
        ]
        table = [table_row(a, final_loss_spread=out[a]["spread"],
                           end_point_distance=out[a]["points"],
                           distinct_end_points=out[a]["distinct"],
                           max_final_grad_norm=out[a]["grad"],
                           min_hessian_eigenvalue=out[a]["min_eig"],
                           convex_by_sampling=str(out[a]["convex"]))
                 for a in ("logistic", "mlp")]
        plt = common.pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=100)
        for i, arm in enumerate(("logistic", "mlp")):
            for j, losses in enumerate(out[arm]["losses"]):
                rel = np.asarray(losses) - min(losses)
                ax.scatter(np.full(len(rel), i + 0.1 * (j - 1)), np.maximum(rel, floor), s=18,
                           label=f"{arm}" if j == 0 else None)
        ax.set_yscale("log")
        ax.set_xticks([0, 1], ["L2 logistic regression", f"tanh MLP ({n_params} params)"])
        ax.set_ylabel("final loss − best final loss (per seed)")
        ax.set_title(f"{self.starts} random starts per seed, BFGS to ‖∇‖∞ ≤ 1e-9", fontsize=10)
        ax.grid(alpha=0.3)
        fig.subplots_adjust(left=0.14, right=0.98, bottom=0.12, top=0.9)
        path = ctx.path("e4_convexity.png")
        fig.savefig(path)
        plt.close(fig)
        summary = (f"final-loss spread over {self.starts} starts: logistic {fmt(lg['spread'])} "
                   f"(end points within {max(lg['points']):.1e}) vs MLP {fmt(mlp['spread'])} "
                   f"({fmt(mlp['distinct'])} distinct end points, ‖∇L‖ ≤ "
                   f"{max(mlp['grad']):.0e}); smallest sampled Hessian "
                   f"eigenvalue logistic {min(lg['min_eig']):.2g} ≥ 0, MLP "
                   f"{min(mlp['min_eig']):.2g}")
        numbers = {
            a: {"loss_spread": mean_std(out[a]["spread"]),
                "max_loss_spread": max(out[a]["spread"]),
                "end_point_distance": mean_std(out[a]["points"]),
                "distinct_end_points": mean_std(out[a]["distinct"]),
                "max_final_grad_norm": max(out[a]["grad"]),
                "min_hessian_eigenvalue": min(out[a]["min_eig"]),
                "convex_by_sampling": out[a]["convex"]}
            for a in ("logistic", "mlp")}
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=[path],
                           budget={"starts": self.starts, "bfgs_max_iter": iters,
                                   "lambda": self.lam, "convexity_samples": samples,
                                   "mlp_params": n_params})
