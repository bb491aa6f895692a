"""Lagrange duality: the dual function, dual ascent, and the support vector machine via its dual.

The dual function (L = f + λᵀh + μᵀg, the package's convention) is q(λ, μ) = inf_x L(x, λ, μ);
it is concave, and q(λ, μ) <= f(x) for every feasible x and μ >= 0 (weak duality), with equality
at the optimum of a convex problem satisfying Slater's condition (strong duality: a zero gap).

Dual ascent maximises q by projected gradient ascent: ∇_λ q = h(x(λ, μ)), ∇_μ q = g(x(λ, μ))
where x(λ, μ) minimises the Lagrangian, so

    x ← argmin_x L(x, λ, μ),   λ ← λ + t h(x),   μ ← max(0, μ + t g(x)).

SVM. The soft-margin primal  min ½‖w‖² + C Σξᵢ  s.t. yᵢ(wᵀφ(xᵢ) + b) >= 1 - ξᵢ, ξ >= 0  has the dual

    min_α ½ αᵀQα - 1ᵀα   s.t.  yᵀα = 0,  0 <= α <= C,     Q_ij = yᵢyⱼK(xᵢ, xⱼ),

and w = Σ αᵢyᵢφ(xᵢ). With ν the multiplier of yᵀα = 0, stationarity at a free support vector
(0 < αᵢ < C, so its bound multipliers vanish) reads (Qα)ᵢ - 1 + ν yᵢ = 0; multiplying by yᵢ,
Σⱼ αⱼyⱼK(xⱼ, xᵢ) + ν = yᵢ, i.e. the decision function wᵀφ(xᵢ) + ν equals yᵢ there: the
multiplier ν of the equality constraint *is* the intercept b.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import float64
from chainrule.constrained._inner import bfgs_minimize
from chainrule.constrained.kkt import kkt_report
from chainrule.constrained.problem import Problem, QuadraticProblem
from chainrule.constrained.solution import check_options, start_multipliers
from chainrule.constrained.solvers import Solution, _finish, _start, interior_point
from chainrule.tensor import Tensor, tensor

__all__ = ["SVC", "dual_ascent", "dual_function", "lagrangian_minimizer"]


def dual_function(problem: Problem, lam: Any = None, mu: Any = None) -> float:
    """q(λ, μ) = inf_x L(x, λ, μ) in closed form (quadratic and linear problems).

    For a QP: q = -½ rᵀG⁻¹r - bᵀλ - dᵀμ with r = c + Aᵀλ + Cᵀμ; for an LP: q = -bᵀλ - dᵀμ if
    c + Aᵀλ + Cᵀμ = 0, else -∞.
    """
    q = problem.dual(lam, mu)
    if q is None:
        raise TypeError(f"dual_function: {type(problem).__name__} has no closed-form dual; use "
                        "QuadraticProblem/LinearProblem, or lagrangian_minimizer and "
                        "problem.lagrangian for a numerical one")
    return q


def lagrangian_minimizer(problem: Problem, lam: Any = None, mu: Any = None, x0: Any = None,
                         tol: float = 1e-10) -> np.ndarray:
    """x(λ, μ) = argmin_x L(x, λ, μ): closed form for a QP, BFGS from ``x0`` otherwise (the
    Lagrangian must be bounded below in x, e.g. strictly convex)."""
    if isinstance(problem, QuadraticProblem):
        return problem.minimizer(lam, mu)
    lam, mu = problem._multipliers(lam, mu)

    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        return problem.lagrangian(x, lam, mu), problem.lagrangian_grad(x, lam, mu)

    start = problem.x0 if x0 is None else np.asarray(x0, dtype=np.float64)
    return bfgs_minimize(fg, start, max_iter=500, gtol=tol)[0]


def dual_ascent(problem: Problem, lr: float | None = None, max_iter: int = 50000,
                tol: float = 1e-8, lam0: Any = None, mu0: Any = None, x0: Any = None,
                check_every: int = 10) -> Solution:
    """Maximise the dual function by projected gradient ascent on (λ, μ).

    For a strictly convex QP the step defaults to 1/L with L = ‖M G⁻¹ Mᵀ‖₂, M = [A; C] (the
    Lipschitz constant of ∇q), which guarantees ascent; otherwise ``lr`` is required. Stops when
    every KKT residual of (x(λ, μ), λ, μ) is <= ``tol``.
    """
    check_options("dual_ascent", counts={"max_iter": max_iter}, tolerances={"tol": tol},
                  positive={"lr": lr, "check_every": check_every})
    lam, mu = start_multipliers(problem, lam0, mu0, "dual_ascent")
    mu = np.maximum(mu, 0.0)
    if lr is None:
        if not (isinstance(problem, QuadraticProblem) and problem._eig[0].min(initial=1) > 0):
            raise ValueError("dual_ascent: give lr= (the automatic step needs a strictly convex "
                             "QuadraticProblem)")
        M = np.vstack([problem.A, problem.C_full])
        lr = 1.0 / max(np.linalg.norm(M @ np.linalg.solve(problem.G, M.T), 2), 1e-300)
    x = _start(problem, x0, "dual_ascent")
    history: list[float] = []
    status, message, it = "max_iter", "", 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        x = lagrangian_minimizer(problem, lam, mu, x0=x)
        lam = lam + lr * problem.eq(x)
        mu = np.maximum(0.0, mu + lr * problem.ineq(x))
        if it % check_every == 0:
            x = lagrangian_minimizer(problem, lam, mu, x0=x)
            res = kkt_report(problem, x, lam, mu).max_residual
            history.append(res)
            if not np.isfinite(res):  # a NaN would otherwise run all max_iter steps
                status = "numerical"
                message = f"dual_ascent: non-finite KKT residual at iteration {it}"
                break
            if res <= tol:
                status = "optimal"
                break
    return _finish(problem, x, lam, mu, it, status, "dual_ascent", history, message)


def _to_array(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a._array if isinstance(a, Tensor) else a)
    if name == "X":
        arr = arr.astype(np.float64)
        if arr.ndim != 2:
            raise ValueError(f"SVC: X must be 2-D (n_samples, n_features), got shape {arr.shape}")
    return arr


class SVC:
    """A binary support vector classifier trained by solving its dual QP with ``interior_point``.

    dual:  min ½αᵀQα - 1ᵀα  s.t. yᵀα = 0, 0 <= α <= C,  Q_ij = yᵢyⱼK(xᵢ, xⱼ);
    K = xᵀx' (``"linear"``) or exp(-γ‖x - x'‖²) (``"rbf"``, γ = 1/(n_features·Var X) for
    ``"scale"``, as scikit-learn). After ``fit``: ``alpha_``, ``dual_coef_`` = αᵢyᵢ of the support
    vectors, ``support_``, ``support_vectors_``, ``coef_`` = w (linear), ``intercept_`` = b
    computed from the free support vectors (b = yᵢ - Σⱼ αⱼyⱼK(xⱼ, xᵢ), averaged; the midpoint of
    the KKT interval when there is none, as libsvm), and ``multiplier_`` = ν, the solver's
    multiplier of yᵀα = 0, which equals b whenever a free support vector exists.

    Example::

        import numpy as np
        from chainrule.constrained import SVC
        X = np.array([[0.0, 0], [1, 1], [2, 0], [3, 1]]); y = np.array([-1, -1, 1, 1])
        svm = SVC(C=10.0).fit(X, y)
        svm.coef_, svm.intercept_, svm.multiplier_     # b and ν agree
    """

    def __init__(self, C: float = 1.0, kernel: str = "linear", gamma: float | str = "scale",
                 tol: float = 1e-12) -> None:
        if kernel not in ("linear", "rbf"):
            raise ValueError(f"SVC: kernel must be 'linear' or 'rbf', got {kernel!r}")
        if not C > 0:
            raise ValueError(f"SVC: C must be positive, got {C}")
        self.C, self.kernel, self.gamma, self.tol = float(C), kernel, gamma, tol

    def _kernel(self, X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
        """The Gram matrix, computed with chainrule tensors."""
        a, b = tensor(X1, dtype=float64), tensor(X2, dtype=float64)
        K = a @ b.T
        if self.kernel == "rbf":
            sq = (a * a).sum(dim=1, keepdim=True) + (b * b).sum(dim=1).reshape(1, -1) - 2 * K
            K = (sq.clamp(min=0.0) * (-self._gamma)).exp()
        return np.asarray(K._array, dtype=np.float64)

    def fit(self, X: Any, y: Any) -> SVC:
        """Solve the dual QP; two classes, the larger label is the positive one."""
        X, y = _to_array(X, "X"), _to_array(y, "y").reshape(-1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"SVC: X has {X.shape[0]} rows but y has {y.shape[0]} labels")
        self.classes_ = np.unique(y)
        if self.classes_.size != 2:
            raise ValueError(f"SVC: binary classification needs 2 classes, got "
                             f"{self.classes_.size}")
        ys = np.where(y == self.classes_[1], 1.0, -1.0)
        if self.gamma == "scale":
            var = X.var()
            self._gamma = 1.0 / (X.shape[1] * var) if var > 0 else 1.0
        else:
            self._gamma = float(self.gamma)
        K = self._kernel(X, X)
        n = X.shape[0]
        qp = QuadraticProblem(ys[:, None] * ys[None, :] * K, -np.ones(n), A=ys[None, :], b=[0.0],
                              bounds=(0.0, self.C))
        sol = interior_point(qp, tol=self.tol)
        alpha = np.clip(sol.x_flat, 0.0, self.C)
        self.solution, self.problem = sol, qp
        self.alpha_ = alpha
        self.multiplier_ = float(sol.lam[0])
        thresh = 1e-7 * self.C
        sv = np.flatnonzero(alpha > thresh)
        self.support_ = sv
        self.support_vectors_ = X[sv]
        self._ay = alpha[sv] * ys[sv]
        self.dual_coef_ = self._ay[None, :]
        self.n_support_ = np.array([np.sum(ys[sv] < 0), np.sum(ys[sv] > 0)])
        if self.kernel == "linear":
            self.coef_ = (self._ay @ X[sv])[None, :]
        self.intercept_ = np.array([self._intercept(K[:, sv] @ self._ay, ys, alpha, thresh)])
        return self

    def _intercept(self, f: np.ndarray, ys: np.ndarray, alpha: np.ndarray, thresh: float
                   ) -> float:
        """b from the KKT conditions of the primal: yᵢ(fᵢ + b) = 1 on free support vectors
        (averaged); without any, the midpoint of the interval that αᵢ = 0 (yᵢ(fᵢ + b) >= 1) and
        αᵢ = C (yᵢ(fᵢ + b) <= 1) leave for b, as libsvm does."""
        free = (alpha > thresh) & (alpha < self.C - thresh)
        if np.any(free):
            return float(np.mean(ys[free] - f[free]))
        at_zero = alpha <= thresh
        lower = (ys > 0) & at_zero | (ys < 0) & ~at_zero      # b >= yᵢ - fᵢ
        upper = ~lower                                        # b <= yᵢ - fᵢ
        r = ys - f
        lo = r[lower].max(initial=-np.inf)
        hi = r[upper].min(initial=np.inf)
        if not np.isfinite(lo) or not np.isfinite(hi):
            return self.multiplier_
        return 0.5 * (lo + hi)

    def decision_function(self, X: Any) -> np.ndarray:
        """Σᵢ αᵢyᵢK(xᵢ, x) + b for each row of X (positive: ``classes_[1]``)."""
        X = _to_array(X, "X")
        if not hasattr(self, "alpha_"):
            raise RuntimeError("SVC: call fit before decision_function")
        return self._kernel(X, self.support_vectors_) @ self._ay + self.intercept_[0]

    def predict(self, X: Any) -> np.ndarray:
        """The class of each row of X."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
