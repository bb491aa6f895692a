"""Saddle points (E3) and convexity (E4), measured with chainrule's second derivatives.

E3 runs gradient descent, Newton and saddle-free Newton (``optim.Newton(saddle_free=True)``)
near the saddle of 5x² − y² and the monkey saddle x³ − 3xy², then finds critical points of a
small tanh MLP on 4×4-pooled digits (L2-regularised cross-entropy) by Newton /
Levenberg–Marquardt iteration on ∇L = 0 with the exact Hessian, from many random starts taken
at different points of Adam training, keeps those with ‖∇L‖ < 1e-6, and relates each distinct
point's training error to its index (the fraction of negative Hessian eigenvalues), pooled over
seeds, with a permutation test (Dauphin et al. 2014). E4 compares where a local method ends
from several random starts on a convex problem (L2 logistic regression) and on an MLP.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import analysis, nn, optim
from chainrule.lab import common
from chainrule.lab import verdict as V
from chainrule.lab.experiment import Context, Experiment, Result, register
from chainrule.lab.experiments.optimizers import logreg_data, logreg_loss
from chainrule.lab.verdict import fmt, mean_std, spearman, table_row

__all__ = ["E3Saddles", "E4Convexity", "PooledDigits", "Polished", "distinct_points",
           "polish_critical_point"]


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
    are one flat float64 vector θ (so that its exact Hessian is small: a few hundred entries).

    ``weight_decay`` λ adds ½λ‖θ‖² to the cross-entropy: with it every minimum lies at finite
    weights (without it, separable data push the loss toward 0 only as ‖θ‖ → ∞) and the
    Hessian has no flat directions, so that Newton's iteration can converge to a point."""

    def __init__(self, n: int, hidden: int, weight_decay: float = 0.0,
                 data: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        if data is None:
            x, y, _, _ = common.dataset("digits")
        else:
            x, y = data
        if not 0 < n <= len(x):
            raise ValueError(f"PooledDigits: n must be in 1..{len(x)}, got {n}")
        self.x = x[:n].reshape(n, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(n, 16).astype(np.float64)
        self.y = y[:n]
        self.weight_decay = float(weight_decay)
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
        ce = nn.functional.cross_entropy(self.logits(theta), self._y)
        if self.weight_decay:
            return ce + 0.5 * self.weight_decay * (theta * theta).sum()
        return ce

    def error(self, theta: np.ndarray) -> float:
        with cr.no_grad():
            out = self.logits(cr.from_numpy(theta))
        return float(np.mean(out._array.argmax(1) != self.y))

    def value(self, theta: np.ndarray) -> float:
        with cr.no_grad():
            return float(self.loss(cr.from_numpy(np.asarray(theta, dtype=np.float64))).item())

    def grad(self, theta: np.ndarray) -> np.ndarray:
        t = _vec(theta)
        self.loss(t).backward()
        return np.array(t.grad._array, dtype=np.float64)

    def grad_norm(self, theta: np.ndarray) -> float:
        return float(np.linalg.norm(self.grad(theta)))

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """The exact (n_params, n_params) Hessian (``chainrule.autograd.functional.hessian``)."""
        return analysis.hessian_matrix(self.loss, _vec(theta, False))


@dataclasses.dataclass
class Polished:
    """Where :func:`polish_critical_point` ended: the point, ‖∇f‖ there, the Hessian's
    eigenvalues there (ascending; empty if never computed), the Newton iterations used and
    whether ‖∇f‖ < tol with every number finite."""

    x: np.ndarray
    grad_norm: float
    eigenvalues: np.ndarray
    iterations: int
    converged: bool

    def index(self, rel_tol: float = 1e-4) -> float:
        """The fraction of negative eigenvalues; |λ| ≤ rel_tol·max|λ| counts as zero."""
        if not self.eigenvalues.size:
            return float("nan")
        tol = rel_tol * float(np.abs(self.eigenvalues).max())
        return float(np.mean(self.eigenvalues < -tol))

    def degenerate(self, rel_tol: float = 1e-4) -> bool:
        """More than half the eigenvalues are zero (to rel_tol): a plateau, not a point."""
        if not self.eigenvalues.size:
            return True
        tol = rel_tol * float(np.abs(self.eigenvalues).max())
        return bool(np.mean(np.abs(self.eigenvalues) <= tol) > 0.5)


def _finite(*values: Any) -> bool:
    return all(bool(np.all(np.isfinite(v))) for v in values)


def _best_step(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray, g: np.ndarray,
               gn: float, lam: np.ndarray, vecs: np.ndarray, scale: float
               ) -> tuple[float, np.ndarray, np.ndarray] | None:
    """The candidate step (see :func:`polish_critical_point`) with the smallest finite ‖∇f‖
    below ``gn``, as (‖∇f‖, x, ∇f); None when no candidate lowers it."""
    c = vecs.T @ g
    keep = np.abs(lam) > 1e-12 * scale
    safe = np.where(keep, lam, 1.0)
    candidates = [(0.0, 0.5 ** j) for j in range(8)]
    candidates += [(scale * scale * 10.0 ** k, 1.0) for k in range(-10, 3)]
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for mu, alpha in candidates:
        w = np.where(keep, safe / (safe * safe + mu), 0.0)
        xt = x - alpha * (vecs @ (w * c))
        gt = np.asarray(grad(xt), dtype=np.float64)
        gnt = float(np.linalg.norm(gt))
        if _finite(xt, gnt) and gnt < (best[0] if best else gn):
            best = (gnt, xt, gt)
            if mu == 0.0 and alpha == 1.0 and gnt < 0.5 * gn:
                break  # a full Newton step that halves ‖∇f‖: take it
    return best


def polish_critical_point(grad: Callable[[np.ndarray], np.ndarray],
                          hess: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, *,
                          tol: float = 1e-6, max_iter: int = 30, stall: int = 8
                          ) -> Polished:
    """Newton / Levenberg–Marquardt iteration on ∇f(x) = 0 with the exact Hessian.

    With H = V diag(λ) Vᵀ and c = Vᵀ∇f, every candidate step is

        δ(μ, α) = −α · V diag(λᵢ / (λᵢ² + μ)) c,

    μ = 0, α = 1 being Newton's step −H⁻¹∇f (a pseudo-inverse over |λ| ≤ 1e-12·max|λ|), which
    is attracted by critical points of any index (it solves ∇f = 0, it does not descend f);
    μ > 0 gives the Levenberg–Marquardt (Gauss–Newton) step for ½‖∇f‖², whose Gauss–Newton
    matrix is J ᵀJ = H²; α < 1 backtracks Newton's step. One Hessian and its eigenvalues per
    iteration make all candidates cheap (one gradient each): the iterate moves to the candidate
    with the smallest finite ‖∇f‖. The iteration stops when no candidate lowers ‖∇f‖, when
    ‖∇f‖ < tol/100 (Newton's quadratic convergence takes it far below tol in a step or two),
    after ``max_iter`` iterations, or when ‖∇f‖ fell by less than 2× over ``stall``
    iterations (Gauss–Newton crawling toward a near-singular point).
    ``converged`` is ‖∇f‖ < tol at a finite point with a finite spectrum, which is read at the
    final point (one more Hessian).
    """
    if tol <= 0 or max_iter < 0 or stall < 1:
        raise ValueError(f"polish_critical_point: need tol > 0, max_iter >= 0, stall >= 1; "
                         f"got tol={tol}, max_iter={max_iter}, stall={stall}")
    x = np.array(x0, dtype=np.float64)
    g = np.asarray(grad(x), dtype=np.float64)
    gn = float(np.linalg.norm(g))
    history = [gn]
    it = 0
    while it < max_iter and _finite(x, gn) and gn >= tol * 1e-2:
        h = np.asarray(hess(x), dtype=np.float64)
        it += 1
        if not _finite(h):
            break
        lam, vecs = np.linalg.eigh(0.5 * (h + h.T))
        scale = float(np.abs(lam).max())
        if scale == 0.0:
            break
        step = _best_step(grad, x, g, gn, lam, vecs, scale)
        if step is None:
            break
        gn, x, g = step
        history.append(gn)
        if len(history) > stall and gn > 0.5 * history[-1 - stall]:
            break
    eig = np.zeros(0)
    if _finite(x, gn):
        h = np.asarray(hess(x), dtype=np.float64)
        if _finite(h):
            eig = np.linalg.eigvalsh(0.5 * (h + h.T))
    converged = bool(_finite(x, gn) and gn < tol and eig.size and _finite(eig))
    return Polished(x=x, grad_norm=gn, eigenvalues=eig, iterations=it, converged=converged)


def distinct_points(points: list[dict[str, Any]], rel_tol: float = 1e-8
                    ) -> list[dict[str, Any]]:
    """One entry per distinct critical point: points with the same index whose losses agree
    to ``rel_tol`` are the same point (or a copy under the net's hidden-unit permutations
    and sign flips, which has the same loss, error and spectrum), reached from several
    starts; keeping each once stops repeats from inflating the correlation's n."""
    out: list[dict[str, Any]] = []
    for p in sorted(points, key=lambda q: q["loss"]):
        if not any(q["index"] == p["index"] and abs(q["loss"] - p["loss"])
                   <= rel_tol * max(1.0, abs(p["loss"])) for q in out):
            out.append(p)
    return out


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
    tol = 1e-6  # ‖∇L‖ below which a point counts as critical (issue 15)
    # ½λ‖θ‖²: minima at finite weights and no flat Hessian directions; at 1e-2 Newton reached
    # ‖∇L‖ < 1e-6 from half the starts (6 distinct points), at 3e-2 from 3/4 (19 distinct)
    weight_decay = 3e-2
    max_adam = 300  # the latest start is this many Adam steps into training

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
        """Many random starts per seed, each trained a different number of Adam steps (so that
        the starts span high to low error), then polished by Newton / Levenberg–Marquardt on
        ∇L = 0 with the exact Hessian; only points with ‖∇L‖ < 1e-6 are critical points."""
        n = ctx.budget(full=200, quick=100, tiny=60)
        hidden = 3 if ctx.tiny else 4
        per_seed = ctx.budget(full=10, quick=5, tiny=2)
        max_iter = ctx.budget(full=60, quick=30, tiny=6)
        x, y, _, _ = ctx.dataset("digits")
        task = PooledDigits(n, hidden, weight_decay=self.weight_decay, data=(x, y))
        points: list[dict[str, Any]] = []
        for seed in ctx.seeds:
            rng = np.random.default_rng(seed)
            for j in range(per_seed):
                # stratified log-uniform number of Adam steps in [0, max_adam]: one start per
                # stratum, so every seed covers early (high-error) to late (low-error) starts
                u = (j + rng.uniform()) / per_seed
                steps = int(round((self.max_adam + 1) ** u)) - 1
                th = _vec(0.5 * rng.standard_normal(task.n_params))
                opt = optim.Adam([th], lr=0.05)
                for _ in range(steps):
                    opt.zero_grad()
                    task.loss(th).backward()
                    opt.step()
                start = th._array.copy()
                res = polish_critical_point(task.grad, task.hessian, start, tol=self.tol,
                                            max_iter=max_iter, stall=10)
                finite = _finite(res.x)
                points.append({
                    "seed": seed, "adam_steps": steps, "start_grad_norm": task.grad_norm(start),
                    "grad_norm": res.grad_norm, "newton_iterations": res.iterations,
                    "converged": res.converged,
                    "error": task.error(res.x) if finite else float("nan"),
                    "loss": task.value(res.x) if finite else float("nan"),
                    "index": res.index(self.index_tol) if res.converged else float("nan"),
                    "degenerate": res.degenerate(self.index_tol) if res.converged else False})
            ctx.log(f"  E3 seed {seed}: {sum(p['converged'] for p in points if p['seed'] == seed)}"
                    f" of {per_seed} starts reached ‖∇L‖ < {self.tol:.0e}")
        return {"points": points, "n_params": task.n_params, "n_examples": n,
                "hidden": hidden, "per_seed": per_seed, "max_iter": max_iter}

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
        pts = crit["points"]
        reached = [p for p in pts if p["converged"]]
        distinct = distinct_points(reached)
        good = [p for p in distinct if not p["degenerate"]]
        crit.update(reached=reached, distinct=distinct, good=good)
        crit["rho"] = ([spearman([p["error"] for p in good], [p["index"] for p in good])]
                       if len(good) >= 3 else [])
        name = "MLP critical points: index and training error correlate"
        statement = ("Dauphin et al.: at critical points (‖∇L‖ < 1e-6, found by Newton / "
                     "Levenberg–Marquardt polishing from many random starts, distinct points "
                     "pooled over seeds) the fraction of negative Hessian eigenvalues rises "
                     "with the training error")
        metric = "Spearman ρ(index, training error) over distinct critical points"
        gn = [p["grad_norm"] for p in pts if np.isfinite(p["grad_norm"])]
        how = (f"{len(reached)} of {len(pts)} starts reached ‖∇L‖ < {self.tol:.0e} "
               f"({len(distinct)} distinct points, {len(distinct) - len(good)} degenerate left "
               "out); final ‖∇L‖ over the finite starts "
               + (f"{min(gn):.1e} to {max(gn):.1e}" if gn else "none finite"))
        if len(good) >= 4:
            part = V.correlation(name, statement, [p["index"] for p in good],
                                 [p["error"] for p in good], floor=0.3, metric=metric,
                                 arms=("index", "training error"))
            part.detail = f"{how}; {part.detail}" if part.detail else how
        else:  # no estimate: say why instead of inventing one (never "holds")
            part = V.correlation(name, statement, [float("nan")] * 3, [float("nan")] * 3,
                                 floor=0.3, metric=metric, arms=("index", "training error"))
            part.detail = (f"no estimate: only {len(good)} usable critical points (at least 4 "
                           f"needed); {how}")
        parts.append(part)
        table.append(table_row("MLP critical points", spearman_rho=crit["rho"] or "n/a",
                               starts=len(pts), reached_below_1e_6=len(reached),
                               distinct_points=len(distinct), degenerate=len(distinct) -
                               len(good), parameters=crit["n_params"]))
        plots = [self._plot(ctx, toy, crit)]
        s, m = toy["5x²−y²"], toy["x³−3xy²"]

        def esc(v: list[float]) -> str:
            finite = [x for x in v if np.isfinite(x)]
            return fmt(finite, 3) if len(finite) == len(v) else f"{len(v) - len(finite)} never"

        rho_txt = f"{crit['rho'][0]:.3f}" if crit["rho"] else "n/a"
        summary = (f"escape iterations 5x²−y²: GD {esc(s['gd']['escape'])}, SFN "
                   f"{esc(s['saddle-free newton']['escape'])}, Newton ends "
                   f"{max(s['newton']['distance']):.0e} from the saddle; monkey saddle: GD "
                   f"{esc(m['gd']['escape'])}, SFN {esc(m['saddle-free newton']['escape'])}, "
                   f"Newton {max(m['newton']['distance']):.0e} from it; MLP "
                   f"({crit['n_params']} params) Spearman ρ(error, index) "
                   f"{rho_txt} over {len(good)} distinct "
                   f"critical points ({len(crit['reached'])} of {len(pts)} starts polished to "
                   f"‖∇L‖ < {self.tol:.0e})")
        numbers = {
            fname: {mth: {"escape": [None if not np.isfinite(v) else v
                                     for v in toy[fname][mth]["escape"]],
                          "final_distance": mean_std(toy[fname][mth]["distance"])}
                    for mth in ("gd", "newton", "saddle-free newton")}
            for fname in ("5x²−y²", "x³−3xy²")}
        numbers["spearman_rho"] = crit["rho"][0] if crit["rho"] else None
        numbers["critical_points"] = pts
        numbers["starts"] = len(pts)
        numbers["starts_reaching_tol"] = len(reached)
        numbers["distinct_critical_points"] = len(distinct)
        numbers["polished_points_used"] = len(good)
        return self.result(ctx, summary=summary, parts=parts,
                           numbers=numbers, table=table, plots=plots,
                           budget={"gd_cap": toy["cap"], "gd_lr": 0.05, "newton_cap": 200,
                                   "mlp_params": crit["n_params"],
                                   "mlp_examples": crit["n_examples"],
                                   "mlp_hidden": crit["hidden"],
                                   "weight_decay": self.weight_decay,
                                   "starts_per_seed": crit["per_seed"],
                                   "adam_steps_before_polishing": f"0..{self.max_adam}, "
                                                                  "log-stratified",
                                   "newton_iterations_max": crit["max_iter"],
                                   "critical_tol": self.tol,
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
        for subset, marker, label in ((crit["good"], "o", "distinct critical point"),
                                      ([p for p in crit["distinct"] if p["degenerate"]], "x",
                                       "degenerate (left out)")):
            if subset:
                axes[2].scatter([p["index"] for p in subset], [p["error"] for p in subset],
                                marker=marker, label=label)
        axes[2].legend(fontsize=7)
        axes[2].set_xlabel("index (fraction of negative eigenvalues)")
        axes[2].set_ylabel("training error")
        rho = f"{np.mean(crit['rho']):.2f}" if crit["rho"] else "n/a"
        axes[2].set_title(f"MLP critical points (‖∇L‖ < {self.tol:.0e}): "
                          f"{len(crit['good'])}, ρ = {rho}", fontsize=10)
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
        dx, dy, _, _ = ctx.dataset("digits")
        task = PooledDigits(60 if ctx.tiny else 100, hidden, data=(dx, dy))
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
