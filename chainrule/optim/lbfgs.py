"""L-BFGS (Nocedal 1980; Liu & Nocedal 1989) with an optional strong-Wolfe line search.

The algorithm follows ``torch.optim.LBFGS`` step for step (itself after minFunc), so the two
produce the same trajectory: the two-loop recursion over at most ``history_size`` curvature
pairs, a first step of min(1, 1/‖g‖₁)·lr, and the stopping tests on the gradient, the step and
the change in loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chainrule.autograd.engine import enable_grad
from chainrule.backend import xp
from chainrule.optim.optimizer import (
    Optimizer,
    _real_view,
    check_lr,
    check_nonneg,
    to_scalar,
)

__all__ = ["LBFGS"]


def cubic_interpolate(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                      bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to ``bounds``
    (default: the interval between x1 and x2); the midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if not d2_square >= 0:  # no real minimiser, or a nan from a non-finite f: bisect
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if (g2 - g1 + 2 * d2 if x1 <= x2 else g1 - g2 + 2 * d2) == 0:  # f linear here: no cubic
        return (lo + hi) / 2.0
    if x1 <= x2:
        pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    if not math.isfinite(pos):  # an inf among the f or g values: bisect rather than step to nan
        return (lo + hi) / 2.0
    return min(max(pos, lo), hi)


def _failed(f_new: float, gtd_new: float, f: float) -> bool:
    """A trial point with a non-finite loss or slope counts as a failed (Armijo) step, so the
    search backtracks from it; only when the start's own loss f is finite (from a non-finite
    start there is nothing to backtrack towards, and the search extrapolates as PyTorch's)."""
    return math.isfinite(f) and not (math.isfinite(f_new) and math.isfinite(gtd_new))


def _order(bracket_f: list[float]) -> tuple[int, int]:
    """(low, high): the index of the bracket end with the lower loss first; a nan loss is never
    the low end (it compares as +inf)."""
    f0, f1 = (math.inf if math.isnan(v) else v for v in bracket_f)
    return (0, 1) if f0 <= f1 else (1, 0)


def strong_wolfe(obj: Callable[[float], tuple[float, Any]], t: float, d: Any, f: float, g: Any,
                 gtd: float, c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9,
                 max_ls: int = 25) -> tuple[float, Any, float, int]:
    """Line search for a step t along d meeting the strong Wolfe conditions.

    f(x + t d) <= f(x) + c1 t gᵀd   and   |∇f(x + t d)ᵀd| <= c2 |gᵀd|.

    A bracketing phase grows t by cubic extrapolation until an interval containing acceptable
    points is found, then a zoom phase shrinks it by safeguarded cubic interpolation.
    ``obj(t)`` returns (loss, flat gradient) at x + t d. Returns (f, g, t, evaluations).

    The search follows ``torch.optim.lbfgs._strong_wolfe`` step for step on finite values. A
    trial point whose loss or slope is inf or nan is treated as a failed step (it closes the
    bracket as its high end, and interpolation with it bisects), so the search backs away from
    it instead of returning it; PyTorch can accept a nan point there.
    """
    d_norm = float(xp.abs(d).max())
    g = g.copy()
    f_new, g_new = obj(t)
    evals = 1
    gtd_new = float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: list[float] = []
    bracket_f: list[float] = []
    bracket_g: list[Any] = []
    bracket_gtd: list[float] = []
    while ls_iter < max_ls:
        if (f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev)
                or _failed(f_new, gtd_new, f)):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate: a cubic step within [t + 0.01 (t - t_prev), 10 t]
        lo, hi = t + 0.01 * (t - t_prev), t * 10
        t_old = t
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(lo, hi))
        t_prev, f_prev, g_prev, gtd_prev = t_old, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj(t)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point satisfies both conditions
    insuf_progress = False
    low, high = _order([bracket_f[0], bracket_f[-1]])
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                              bracket[1], bracket_f[1], bracket_gtd[1])
        # safeguard: keep t at least 10% of the bracket away from its ends
        top, bottom = max(bracket), min(bracket)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:
            if insuf_progress or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj(t)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low] or _failed(f_new, gtd_new, f):
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new.copy(), gtd_new
            low, high = _order(bracket_f)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new.copy(), gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


def check_count(owner: str, name: str, value: Any, minimum: int = 1) -> None:
    """An iteration budget or a memory length: an int >= ``minimum`` (0 or a negative one
    would silently do nothing, or fail deep inside the step with an IndexError)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")


class FlatParameters:
    """The parameters of a one-group optimizer seen as one flat vector θ (LBFGS, Newton):
    in-place updates that bump each parameter's version, as an ``add_`` would."""

    _params: list

    def _add(self, t: float, d: Any) -> None:
        """θ ← θ + t d, parameter by parameter (in place); a complex parameter takes two
        entries of d per element, its (re, im) parts (PyTorch's real view)."""
        offset = 0
        for p in self._params:
            a = p._array
            if a.dtype.kind == "c":
                n = 2 * a.size
                a += (t * d[offset: offset + n]).view(a.dtype).reshape(a.shape)
            else:
                n = a.size
                a += t * d[offset: offset + n].reshape(a.shape)
            p._bump_version()
            offset += n

    def _set(self, values: list[Any]) -> None:
        """θ ← ``values`` (one array per parameter, as saved before a trial step)."""
        for p, v in zip(self._params, values):
            xp.copyto(p._array, v)
            p._bump_version()


class LBFGS(FlatParameters, Optimizer):
    r"""L-BFGS, equal to ``torch.optim.LBFGS`` (one parameter group; a closure is required).

    Each ``step(closure)`` runs up to ``max_iter`` iterations. With g_k the flattened gradient,
    s_i = θ_{i+1} − θ_i, y_i = g_{i+1} − g_i and ρ_i = 1/(y_iᵀs_i) for the last
    ``history_size`` pairs with y_iᵀs_i > 1e-10, the direction d_k = −H_k g_k comes from the
    two-loop recursion with H⁰ = (yᵀs / yᵀy) I:

        q ← −g_k;  for i = k−1 … k−m:  α_i = ρ_i s_iᵀq,  q ← q − α_i y_i
        r ← H⁰ q;  for i = k−m … k−1:  β = ρ_i y_iᵀr,   r ← r + (α_i − β) s_i;   d_k = r

    then θ_{k+1} = θ_k + t d_k with t = lr (the first iteration: min(1, 1/‖g‖₁)·lr), or t from
    a strong-Wolfe line search (``line_search_fn="strong_wolfe"``). It stops when
    max|g| <= ``tolerance_grad``, max|t d| <= ``tolerance_change``, the loss changes by less
    than ``tolerance_change``, or the iteration/evaluation budget is spent.

    After each ``step``, ``stop_reason`` says which test ended it: ``"tolerance_grad"``
    (``converged`` is then True), ``"tolerance_change"`` (the step, the loss change or the
    directional derivative fell below ``tolerance_change``), ``"max_iter"``, ``"max_eval"`` or
    ``"non_finite"``; ``stop_message`` gives the numbers. Differences from torch, each only
    where torch would go wrong: a non-finite gradient at the start of ``step`` stops it before
    any update, and so does a non-finite loss without a line search (torch steps on into nan
    parameters); the strong-Wolfe search treats a
    non-finite trial point as a failed step; a curvature pair is also kept when
    0 < ε·yᵀy < yᵀs <= 1e-10 (see ``_direction``).

    Example::

        opt = LBFGS(model.parameters(), lr=1, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss

        opt.step(closure)
    """

    def __init__(self, params: Any, lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        check_lr(lr)
        check_count("LBFGS", "max_iter", max_iter)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        check_count("LBFGS", "max_eval", max_eval)
        check_count("LBFGS", "history_size", history_size)
        check_nonneg("tolerance_grad", tolerance_grad)
        check_nonneg("tolerance_change", tolerance_change)
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                             f"{line_search_fn!r}")
        defaults = dict(lr=to_scalar(lr), max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        # why the last step() returned; not part of the state dict (torch has no such field)
        self.stop_reason: str | None = None
        self.stop_message = "step() has not run"

    # ---- flat views of the parameters -------------------------------------------------------
    def _flat_grad(self) -> Any:
        """The gradients as one real vector (a complex gradient as its (re, im) pairs, as
        PyTorch's LBFGS sees a complex parameter)."""
        parts = [_real_view(xp.zeros_like(p._array) if p.grad is None else p.grad._array)
                 .ravel() for p in self._params]
        return xp.concatenate(parts)

    def _evaluate(self, closure: Callable[[], Any]) -> float:
        with enable_grad():
            return float(closure())

    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss before the first one.

        ``closure`` must zero the gradients, compute the loss, call ``backward`` and return it.
        """
        if closure is None:
            raise RuntimeError("LBFGS.step requires a closure that re-evaluates the model and "
                               "returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        # a non-finite gradient stops before any update (torch would step into nan); a
        # non-finite loss with a finite gradient goes on as in torch (the strong-Wolfe search
        # can leave a nan region), but is never reported as converged
        g_max = float(xp.abs(flat_grad).max()) if flat_grad.size else 0.0
        if not math.isfinite(g_max):
            return self._stop(orig_loss, "non_finite", "the gradient has a non-finite entry; "
                              "no step taken")
        if g_max <= tol_grad:
            if not math.isfinite(loss):
                return self._stop(orig_loss, "non_finite", f"the loss is {loss}")
            return self._stop(orig_loss, "tolerance_grad",
                              f"max|g| = {g_max:.3g} <= tolerance_grad at the start")
        reason, why = "max_iter", f"max_iter = {max_iter} iterations done"

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1.0
            else:
                d, h_diag = self._direction(flat_grad, prev_flat_grad, d, t, old_dirs, old_stps,
                                            ro, h_diag, history_size)
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                xp.copyto(prev_flat_grad, flat_grad)
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(xp.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = float(flat_grad @ d)
            if gtd > -tol_change:  # not a descent direction any more
                reason, why = "tolerance_change", (f"directional derivative gᵀd = {gtd:.3g} > "
                                                   f"-tolerance_change: no descent left")
                break

            ls_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x0 = [p._array.copy() for p in self._params]

                def obj(step: float, x0: list = x0, d: Any = d) -> tuple[float, Any]:
                    self._add(step, d)
                    f_step = self._evaluate(closure)
                    g_step = self._flat_grad()
                    self._set(x0)
                    return f_step, g_step

                loss, flat_grad, t, ls_evals = strong_wolfe(
                    obj, t, d, loss, flat_grad, gtd, tolerance_change=1e-9,
                    max_ls=max_eval - evals)
                self._add(t, d)
                opt_cond = float(xp.abs(flat_grad).max()) <= tol_grad
            else:
                self._add(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # re-evaluate for the next iteration (skipped on the last one, as in torch)
                    loss = self._evaluate(closure)
                    flat_grad = self._flat_grad()
                    opt_cond = float(xp.abs(flat_grad).max()) <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if not math.isfinite(loss) and group["line_search_fn"] is None:
                reason, why = "non_finite", f"the loss became {loss} at iteration {n_iter}"
                break
            if opt_cond:
                reason, why = "tolerance_grad", "max|g| <= tolerance_grad"
                break
            if n_iter == max_iter:
                break
            if evals >= max_eval:
                reason, why = "max_eval", f"max_eval = {max_eval} evaluations used"
                break
            if float(xp.abs(d * t).max()) <= tol_change:
                reason, why = "tolerance_change", "max|step| <= tolerance_change"
                break
            if abs(loss - prev_loss) < tol_change:
                reason, why = "tolerance_change", "|Δloss| < tolerance_change"
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        if not (math.isfinite(loss) and bool(xp.isfinite(flat_grad).all())):
            reason, why = "non_finite", f"the loss ({loss}) or the gradient is not finite"
        return self._stop(orig_loss, reason, why)

    def _stop(self, loss: Any, reason: str, why: str) -> Any:
        """Record why ``step`` returned (``stop_reason``, ``stop_message``) and return loss."""
        self.stop_reason, self.stop_message = reason, why
        return loss

    @property
    def converged(self) -> bool:
        """Whether the last ``step`` ended on the gradient test max|g| <= tolerance_grad (the
        only first-order optimality test; "tolerance_change" means progress stalled, which is
        not proof of a minimum). False before the first step and after a non-finite value."""
        return self.stop_reason == "tolerance_grad"

    def _direction(self, g: Any, prev_g: Any, d: Any, t: float, old_dirs: list, old_stps: list,
                   ro: list, h_diag: float, history_size: int) -> tuple[Any, float]:
        """Record the newest curvature pair and run the two-loop recursion.

        The pair is kept when yᵀs > min(1e-10, ε·yᵀy) (ε the dtype's machine epsilon).
        torch keeps it only when yᵀs > 1e-10, an absolute threshold: on a problem whose f
        and gradients are small (MGH Penalty II, f* ≈ 1e-5) every pair is then dropped and
        the method degenerates to scaled steepest descent (5000 iterations without reaching
        f*). The relative test ε·yᵀy (L-BFGS-B's) keeps positive curvature at any scale; it
        accepts every pair torch accepts, so trajectories equal torch's whenever yᵀs > 1e-10.
        """
        y = g - prev_g
        s = d * t
        ys = float(y @ s)
        if ys > min(1e-10, float(xp.finfo(y.dtype).eps) * float(y @ y)):
            if len(old_dirs) == history_size:
                old_dirs.pop(0)
                old_stps.pop(0)
                ro.pop(0)
            old_dirs.append(y)
            old_stps.append(s)
            ro.append(1.0 / ys)
            h_diag = ys / float(y @ y)
        k = len(old_dirs)
        al = [0.0] * k
        q = -g
        for i in range(k - 1, -1, -1):
            al[i] = float(old_stps[i] @ q) * ro[i]
            q -= al[i] * old_dirs[i]
        r = q * h_diag
        for i in range(k):
            be_i = float(old_dirs[i] @ r) * ro[i]
            r += (al[i] - be_i) * old_stps[i]
        return r, h_diag
