"""``Solution`` (what every solver returns) and the helpers the solvers share to build it.

Every solver ends with one of five statuses:

* ``"optimal"``: all KKT residuals are below the solver's tolerance (``converged`` is True);
* ``"infeasible"``: a certificate proves that no point satisfies the constraints;
* ``"unbounded"``: a certificate proves that f decreases without bound on the feasible set;
* ``"max_iter"``: the iteration budget ran out first;
* ``"numerical"``: a value became non-finite (NaN or ±inf in f, a constraint or a derivative),
  a linear system could not be solved, or the iterates stopped moving in floating point before
  the residuals met the tolerance (round-off bounds them, e.g. MGH's Meyer problem, where ∇f
  at the minimiser is ~0.5 in float64); ``message`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.constrained.kkt import KKTReport, kkt_report
from chainrule.constrained.problem import Problem
from chainrule.tensor import Tensor

__all__ = ["STATUSES", "NumericalFailure", "Solution"]

STATUSES = ("optimal", "infeasible", "unbounded", "max_iter", "numerical")


class NumericalFailure(ArithmeticError):
    """Raised inside a solver when a value is non-finite or a linear system is unusable; the
    solver turns it into ``status="numerical"`` with this exception's text as the message."""


def check_finite(value: Any, where: str) -> None:
    """Raise :class:`NumericalFailure` naming ``where`` unless every entry of ``value`` is
    finite (the first NaN or inf stops a solver instead of being carried along)."""
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise NumericalFailure(f"non-finite {where} ({bad})")


@dataclass
class Solution:
    """A solver's result: the point (tensors shaped like ``x0``), multipliers, KKT report and
    ``status`` (one of ``"optimal"``, ``"infeasible"``, ``"unbounded"``, ``"max_iter"``,
    ``"numerical"``) with a human-readable ``message``; ``converged`` is ``status == "optimal"``.

    Example::

        import chainrule as cr
        from chainrule import constrained
        prob = constrained.Problem(lambda v: v.sum(), cr.zeros(2, dtype=cr.float64),
                                   ineq=lambda v: (v * v).sum() - 2)
        sol = constrained.solve(prob)       # the barrier interior point
        sol.x, sol.mu, sol.fun              # tensor([-1., -1.]), [0.5], -2.0
        sol.status, sol.kkt.ok()            # 'optimal', True (all KKT residuals <= 1e-6)
        print(sol)
    """

    x: Tensor | tuple[Tensor, ...]
    x_flat: np.ndarray
    lam: np.ndarray
    mu: np.ndarray
    fun: float
    kkt: KKTReport
    n_iter: int
    converged: bool
    method: str
    history: list[float] = field(default_factory=list)
    status: str = "optimal"
    message: str = ""
    certificate: dict[str, np.ndarray] | None = None

    def __str__(self) -> str:
        head = (f"Solution by {self.method}: {self.status} "
                f"({'converged' if self.converged else 'NOT converged'}) in {self.n_iter} "
                f"iterations")
        if self.message:
            head += f"\n  {self.message}"
        head += f"\n  x = {np.array2string(self.x_flat, precision=8)}"
        return head + "\n" + str(self.kkt)


def finish(problem: Problem, x: np.ndarray, lam: np.ndarray, mu: np.ndarray, n_iter: int,
           status: str | bool, method: str, history: list[float], message: str = "",
           certificate: dict[str, np.ndarray] | None = None) -> Solution:
    """Build the :class:`Solution`. ``status`` True/False means "optimal"/"max_iter"; an
    "optimal" claim whose KKT report is not finite becomes "numerical" (a NaN never passes)."""
    if isinstance(status, bool):
        status = "optimal" if status else "max_iter"
    if status not in STATUSES:
        raise ValueError(f"Solution: unknown status {status!r}; one of {STATUSES}")
    try:
        rep = kkt_report(problem, x, lam, mu)
    except (FloatingPointError, ValueError, np.linalg.LinAlgError) as err:
        raise NumericalFailure(f"the KKT report failed at the final point: {err}") from err
    if status == "optimal" and not rep.finite:
        status, message = "numerical", "a KKT residual is not finite at the final point"
    if not message:
        message = {"optimal": "all KKT residuals within the tolerance",
                   "max_iter": f"stopped after {n_iter} iterations without meeting the "
                               f"tolerance (max KKT residual {rep.max_residual:.2e})"}.get(
                                   status, status)
    return Solution(problem.to_tensors(x), x.copy(), lam.copy(), mu.copy(), rep.objective, rep,
                    n_iter, status == "optimal", method, history, status, message, certificate)
