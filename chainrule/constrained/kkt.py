"""``KKTReport``: how far a candidate (x, λ, μ) is from satisfying the KKT conditions.

With L = f + λᵀh + μᵀg (the package's convention) the residuals are

    stationarity              ‖∇f(x) + ∇h(x)ᵀλ + ∇g(x)ᵀμ‖₂
    primal feasibility        max( maxᵢ |hᵢ(x)|,  maxⱼ max(gⱼ(x), 0) )
    dual feasibility          maxⱼ max(-μⱼ, 0)
    complementary slackness   maxⱼ |μⱼ gⱼ(x)|
    duality gap               f(x) - q(λ, μ)     (when the dual function q has a closed form)

and the active set is {j : gⱼ(x) >= -active_tol}. A NaN or infinite residual (or objective)
never passes: the maxima propagate NaN (NumPy's ``max``, not Python's, which drops it) and
``ok()`` is False unless every number is finite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["KKTReport", "kkt_report"]


@dataclass
class KKTReport:
    """The KKT residuals of a candidate point and multipliers (all zero at a KKT point).

    Example::

        import chainrule as cr
        from chainrule.constrained import Problem, kkt_report
        prob = Problem(lambda v: v.sum(), cr.zeros(2, dtype=cr.float64),
                       ineq=lambda v: (v * v).sum() - 2)
        rep = kkt_report(prob, [-1.0, -1.0], mu=[0.5])
        rep.ok(), rep.active_set          # (True, [0])
        print(rep)
    """

    objective: float
    stationarity: float
    primal_eq: float
    primal_ineq: float
    dual_feasibility: float
    complementary_slackness: float
    active_set: list[int]
    lam: np.ndarray
    mu: np.ndarray
    ineq_values: np.ndarray
    dual_objective: float | None = None
    labels: list[str] = field(default_factory=list)

    @property
    def primal_feasibility(self) -> float:
        """max(max|h|, max(g, 0)) (NaN if either is NaN)."""
        return float(np.max([self.primal_eq, self.primal_ineq]))

    @property
    def duality_gap(self) -> float | None:
        """f(x) - q(λ, μ) when the dual is available (>= 0 at feasible points, 0 at optimum)."""
        if self.dual_objective is None:
            return None
        return self.objective - self.dual_objective

    @property
    def max_residual(self) -> float:
        """The largest of the four KKT residuals (NaN if any is NaN)."""
        return float(np.max([self.stationarity, self.primal_feasibility, self.dual_feasibility,
                             self.complementary_slackness]))

    @property
    def finite(self) -> bool:
        """The objective and every residual are finite numbers."""
        return bool(np.all(np.isfinite([self.objective, self.max_residual])))

    def ok(self, tol: float = 1e-6, gap_tol: float | None = None) -> bool:
        """All KKT residuals finite and <= tol (and |duality gap| <= gap_tol when both given)."""
        good = self.finite and self.max_residual <= tol
        if gap_tol is not None and self.duality_gap is not None:
            good = good and abs(self.duality_gap) <= gap_tol
        return bool(good)

    def __str__(self) -> str:
        rows = [
            ("objective f(x)", f"{self.objective:.10g}"),
            ("stationarity ‖∇ₓL‖", f"{self.stationarity:.3e}"),
            ("primal feasibility", f"{self.primal_feasibility:.3e}  (|h| {self.primal_eq:.1e}, "
                                   f"g+ {self.primal_ineq:.1e})"),
            ("dual feasibility μ>=0", f"{self.dual_feasibility:.3e}"),
            ("compl. slackness |μg|", f"{self.complementary_slackness:.3e}"),
        ]
        if self.dual_objective is not None:
            rows.append(("duality gap f - q", f"{self.duality_gap:.3e}"))
        if self.lam.size:
            rows.append(("λ (equalities)", np.array2string(self.lam, precision=6,
                                                            max_line_width=70)))
        active = ", ".join(f"{self._label(j)} (μ={self.mu[j]:.6g})" for j in self.active_set)
        rows.append(("active set", active or "none"))
        width = max(len(k) for k, _ in rows)
        lines = [f"KKTReport: {'KKT point' if self.ok() else 'not a KKT point'} (tol 1e-6)"]
        lines += [f"  {k:<{width}}  {v}" for k, v in rows]
        return "\n".join(lines)

    def _label(self, j: int) -> str:
        return self.labels[j] if j < len(self.labels) else f"g[{j}]"


def _labels(problem: Any) -> list[str]:
    labels = [f"g[{j}]" for j in range(problem.n_ineq_user)]
    labels += [f"x[{k}] >= {problem.lb[k]:g}" for k in problem.lb_index]
    labels += [f"x[{k}] <= {problem.ub[k]:g}" for k in problem.ub_index]
    return labels


def kkt_report(problem: Any, x: Any, lam: Any = None, mu: Any = None,
               active_tol: float = 1e-6) -> KKTReport:
    """Evaluate the KKT conditions of ``problem`` at ``x`` (tensors like ``x0`` or the flat
    vector) with multipliers λ (``n_eq``) and μ (``n_ineq``, bounds included); missing
    multipliers are zero."""
    xf = problem.flatten(x)
    lam, mu = problem._multipliers(lam, mu)
    h = problem.eq(xf)
    g = problem.ineq(xf)
    stat = float(np.linalg.norm(problem.lagrangian_grad(xf, lam, mu)))
    q = problem.dual(lam, mu)
    return KKTReport(
        objective=problem.fun(xf),
        stationarity=stat,
        primal_eq=float(np.abs(h).max(initial=0.0)),
        primal_ineq=float(np.maximum(g, 0.0).max(initial=0.0)),
        dual_feasibility=float(np.maximum(-mu, 0.0).max(initial=0.0)),
        complementary_slackness=float(np.abs(mu * g).max(initial=0.0)),
        active_set=[int(j) for j in np.flatnonzero(g >= -active_tol)],
        lam=lam,
        mu=mu,
        ineq_values=g,
        dual_objective=None if q is None else float(q),
        labels=_labels(problem),
    )
