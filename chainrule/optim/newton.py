"""Newton's method on the full parameter vector: exact Hessian, Newton-CG, saddle-free Newton.

Second derivatives come from chainrule's differentiable gradients: the closure's loss is
differentiated once with ``create_graph=True`` and then again, one reverse pass per Hessian row
(``mode="exact"``, the Jacobian of the gradient as in ``autograd.functional.hessian``), or once
per Hessian-vector product (``mode="cg"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule._lanczos import lanczos_basis
from chainrule.autograd import grad as autograd_grad
from chainrule.autograd.engine import backward_creates_graph, enable_grad
from chainrule.backend import xp
from chainrule.optim.lbfgs import FlatParameters, check_count
from chainrule.optim.optimizer import Optimizer, check_lr, check_nonneg, to_scalar
from chainrule.tensor import Tensor, _wrap, cat

__all__ = ["Newton"]


class Newton(FlatParameters, Optimizer):
    r"""Newton's method with Levenberg–Marquardt damping and a backtracking line search.

    Each ``step(closure)`` runs up to ``max_iter`` iterations on the flattened parameter
    vector θ (all parameters of the single group). With g = ∇f(θ), H = ∇²f(θ), λ = ``damping``::

        exact:        solve (H + λI) d = −g                       (Cholesky, else LU)
        saddle_free:  d = −(|H| + λI)⁻¹ g,  |H| = V|Λ|Vᵀ from H = VΛVᵀ  (Dauphin et al. 2014)
        cg:           (H + λI) d = −g by conjugate gradients on Hessian-vector products,
                      stopped at residual <= η‖g‖ (η = ``cg_tol``, default min(0.5, √‖g‖))
                      or on negative curvature
        cg + saddle_free: |H| restricted to the Krylov subspace of g (Lanczos, ``cg_max_iter``
                      vectors), as in Dauphin et al.
        θ ← θ + t d,  t = lr, or with ``line_search_fn="backtracking"`` the first
                      t ∈ {lr, lr·ρ, lr·ρ², ...} with f(θ + t d) <= f(θ) + c₁ t gᵀd (Armijo).

    When d is not a descent direction (gᵀd >= 0) or the system is singular, λ is raised for
    that iteration (λ ← max(10λ, 1e-8·(1 + max|diag H|))) and the solve repeated, up to 20
    times (then d = −g).
    With ``adaptive_damping=True`` λ also follows Levenberg–Marquardt's trust rule after each
    step: the ratio ρ of actual to predicted decrease halves λ when ρ > 0.75 and quadruples it
    when ρ < 0.25; a step that increased f is undone.

    Plain Newton (λ = 0, ``saddle_free=False``) is attracted to any stationary point, saddles
    included; saddle-free Newton flips the negative-curvature directions into descent ones.
    The exact Hessian costs one reverse pass per parameter: meant for models up to a few
    thousand parameters; use ``mode="cg"`` beyond.

    The closure re-evaluates the model and returns the loss. It may be the closure written for
    L-BFGS (``zero_grad(); loss = f(); loss.backward(); return loss``): it runs under
    ``autograd.backward_creates_graph()``, so its ``backward()`` keeps the graph of the
    gradient that the Hessian needs and the gradients are reused; it may also call
    ``loss.backward(create_graph=True)`` itself, or not call backward at all.

    ``state[first_param]`` records ``n_iter``, ``func_evals``, ``grad_norm`` (‖g‖ before the
    last iteration), ``loss`` and ``damping``. After each ``step``, ``stop_reason`` says why
    it returned: ``"tolerance_grad"`` (``converged`` is True), ``"saddle"`` (the gradient
    vanished where the exact Hessian has a negative eigenvalue), ``"non_finite"`` (a NaN or
    inf loss, gradient or Hessian: nothing is updated) or ``"max_iter"``.

    Example::

        opt = Newton([w, b], line_search_fn="backtracking")
        closure = lambda: loss_fn(x @ w + b, y)
        for _ in range(10):
            opt.step(closure)
    """

    def __init__(self, params: Any, lr: float = 1.0, damping: float = 0.0, *,
                 mode: str = "exact", saddle_free: bool = False,
                 line_search_fn: str | None = "backtracking", max_iter: int = 1,
                 tolerance_grad: float = 1e-12, adaptive_damping: bool = False,
                 cg_max_iter: int | None = None, cg_tol: float | None = None,
                 c1: float = 1e-4, shrink: float = 0.5, max_ls: int = 30) -> None:
        check_lr(lr)
        check_nonneg("damping", damping)
        if mode not in ("exact", "cg"):
            raise ValueError(f"Newton: mode must be 'exact' or 'cg', got {mode!r}")
        if line_search_fn not in (None, "backtracking"):
            raise ValueError(f"Newton: line_search_fn must be None or 'backtracking', got "
                             f"{line_search_fn!r}")
        if not 0.0 < shrink < 1.0:
            raise ValueError(f"Newton: shrink must be in (0, 1), got {shrink}")
        if not 0.0 < c1 < 1.0:
            raise ValueError(f"Newton: c1 (Armijo's constant) must be in (0, 1), got {c1}")
        check_count("Newton", "max_iter", max_iter)
        check_count("Newton", "max_ls", max_ls)
        if cg_max_iter is not None:
            check_count("Newton", "cg_max_iter", cg_max_iter)
        check_nonneg("tolerance_grad", tolerance_grad)
        if cg_tol is not None:
            check_nonneg("cg_tol", cg_tol)
        defaults = dict(lr=to_scalar(lr), damping=damping, mode=mode, saddle_free=saddle_free,
                        line_search_fn=line_search_fn, max_iter=max_iter,
                        tolerance_grad=tolerance_grad, adaptive_damping=adaptive_damping,
                        cg_max_iter=cg_max_iter, cg_tol=cg_tol, c1=c1, shrink=shrink,
                        max_ls=max_ls)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("Newton doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        # why the last step() returned, as LBFGS says it (not part of the state dict)
        self.stop_reason: str | None = None
        self.stop_message = "step() has not run"

    @property
    def converged(self) -> bool:
        """True when the last ``step`` stopped at max|g| <= ``tolerance_grad`` at a point whose
        Hessian (``mode="exact"``) has no negative eigenvalue: a minimum, not a saddle."""
        return self.stop_reason == "tolerance_grad"

    # ---- derivatives ------------------------------------------------------------------------
    def _loss_and_grad(self, closure: Callable[[], Any]) -> tuple[Tensor, Tensor]:
        """The loss and the flat gradient, the latter still attached to a graph."""
        params = self._params
        before = [id(p.grad) for p in params]
        # a closure that calls loss.backward() (the L-BFGS idiom) leaves differentiable .grad
        with enable_grad(), backward_creates_graph():
            loss = closure()
        with enable_grad():
            if not isinstance(loss, Tensor):
                raise TypeError(f"Newton: the closure must return the loss Tensor, got "
                                f"{type(loss).__name__}")
            fresh = all(p.grad is not None and p.grad.requires_grad and id(p.grad) != b
                        for p, b in zip(params, before))
            if fresh:
                grads = [p.grad for p in params]  # the closure ran backward(create_graph=True)
            else:
                try:
                    grads = autograd_grad(loss, params, create_graph=True, allow_unused=True)
                except RuntimeError as e:
                    raise RuntimeError(
                        "Newton: cannot differentiate the closure's loss twice. Return the "
                        "loss without calling backward(), or call "
                        "loss.backward(create_graph=True)."
                    ) from e
            flat = cat([_wrap(xp.zeros(p._array.size, p._array.dtype)) if g is None
                        else g.reshape(-1) for p, g in zip(params, grads)])
        return loss, flat

    def _hessian(self, flat_grad: Tensor) -> Any:
        """H row by row: row i = ∂g_i/∂θ (one reverse pass each)."""
        n = flat_grad.shape[0]
        h = xp.empty((n, n), dtype=flat_grad.dtype)
        if not flat_grad.requires_grad:  # the loss is linear in θ
            h.fill(0)
            return h
        for i in range(n):
            rows = autograd_grad(flat_grad[i], self._params, retain_graph=True,
                                 allow_unused=True)
            h[i] = self._flatten(rows)
        return (h + h.T) / 2  # symmetric up to rounding; make it exact for eigh/cholesky

    def _hvp(self, flat_grad: Tensor, v: Any) -> Any:
        """H v = ∂(gᵀv)/∂θ by one double-backward pass."""
        if not flat_grad.requires_grad:
            return xp.zeros_like(v)
        rows = autograd_grad(flat_grad, self._params, grad_outputs=_wrap(v), retain_graph=True,
                             allow_unused=True)
        return self._flatten(rows)

    def _flatten(self, parts: Any) -> Any:
        return xp.concatenate([xp.zeros(p._array.size, p._array.dtype) if r is None
                               else r._array.ravel() for p, r in zip(self._params, parts)])

    # ---- directions -------------------------------------------------------------------------
    def _direction(self, g: Any, hess: Any, hvp: Callable[[Any], Any], damping: float,
                   group: dict[str, Any]) -> tuple[Any, float]:
        """A descent direction; raises the damping until one is found (returns it too)."""
        scale = 1.0
        if hess is not None:
            scale += float(xp.abs(xp.diagonal(hess)).max()) if hess.size else 0.0
        for _ in range(20):
            d = self._solve(g, hess, hvp, damping, group)
            if d is not None and xp.all(xp.isfinite(d)) and float(g @ d) < 0:
                return d, damping
            damping = max(10 * damping, 1e-8 * scale)
        return -g, damping  # give up on curvature: steepest descent

    def _solve(self, g: Any, hess: Any, hvp: Callable[[Any], Any], damping: float,
               group: dict[str, Any]) -> Any:
        if group["mode"] == "cg":
            k = group["cg_max_iter"] or min(g.size, 250)
            if group["saddle_free"]:
                return _lanczos_saddle_free(hvp, g, damping, k)
            return _conjugate_gradient(hvp, g, damping, k, group["cg_tol"])
        n = g.size
        if group["saddle_free"]:
            lam, vecs = xp.linalg.eigh(hess)
            lam = xp.abs(lam) + damping
            if float(lam.min()) <= 0:
                return None
            return -(vecs @ ((vecs.T @ g) / lam))
        from scipy.linalg import cho_factor, cho_solve

        a = hess + damping * xp.eye(n, dtype=hess.dtype) if damping else hess
        try:
            return cho_solve(cho_factor(a), -g)
        except xp.linalg.LinAlgError:
            pass  # indefinite (a saddle): plain Newton still steps to the stationary point
        try:
            return xp.linalg.solve(a, -g)
        except xp.linalg.LinAlgError:
            return None

    # ---- the step ---------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` Newton iterations; returns the loss before the first one."""
        if closure is None:
            raise RuntimeError("Newton.step requires a closure that re-evaluates the model and "
                               "returns the loss")
        group = self.param_groups[0]
        state = self.state[self._params[0]]
        state.setdefault("n_iter", 0)
        state.setdefault("func_evals", 0)
        state.setdefault("damping", group["damping"])
        orig_loss = None
        self.stop_reason, self.stop_message = "max_iter", f"max_iter = {group['max_iter']}"
        for _ in range(group["max_iter"]):
            loss_t, flat = self._loss_and_grad(closure)
            state["func_evals"] += 1
            if orig_loss is None:
                orig_loss = loss_t.detach()
            f = float(loss_t)
            g = flat._array.copy()
            state["grad_norm"] = float(xp.linalg.norm(g))
            state["loss"] = f
            if not (math.isfinite(f) and bool(xp.all(xp.isfinite(g)))):
                self._stop("non_finite", f"the loss ({f}) or its gradient is not finite; "
                                         "the parameters were left as they were")
                break
            small = float(xp.abs(g).max(initial=0.0)) <= group["tolerance_grad"]
            hess = self._hessian(flat) if group["mode"] == "exact" else None
            if hess is not None and not bool(xp.all(xp.isfinite(hess))):
                self._stop("non_finite", "the Hessian is not finite; the parameters were left "
                                         "as they were")
                break
            def hvp(v: Any, flat: Tensor = flat) -> Any:
                return self._hvp(flat, v)

            if small:
                self._stationary(hess, hvp, g, group)
                break

            d, damping = self._direction(g, hess, hvp, state["damping"], group)
            # H d for the predicted decrease, while the graph still matches the parameters
            hd = (hess @ d if hess is not None else hvp(d)) if group["adaptive_damping"] else None
            del flat, loss_t, hvp  # free the double-backward graph before re-evaluating
            x0 = [p._array.copy() for p in self._params] if hd is not None else None
            t, f_new = self._line_search(closure, f, g, d, group, state)
            if hd is None:
                damping = state["damping"]  # a raise for this iteration only
            else:
                predicted = -(t * float(g @ d) + 0.5 * t * t * float(d @ hd))
                ratio = (f - f_new) / predicted if predicted > 0 else 0.0
                if not f_new <= f:  # Levenberg–Marquardt: reject a step that went uphill
                    self._set(x0)
                if ratio > 0.75:
                    damping /= 2
                elif ratio < 0.25:
                    damping = max(4 * damping, 1e-8)
            state["damping"] = damping
            state["n_iter"] += 1
        return orig_loss

    def _stop(self, reason: str, why: str) -> None:
        self.stop_reason, self.stop_message = reason, why

    def _stationary(self, hess: Any, hvp: Callable[[Any], Any], g: Any,
                    group: dict[str, Any]) -> None:
        """At max|g| <= tolerance_grad: a minimum, unless the Hessian has a negative eigenvalue
        (plain Newton is drawn to saddles and maxima as readily as to minima): the exact one's
        spectrum, or with ``mode="cg"`` the lowest Lanczos Ritz value from Hessian-vector
        products (``cg_max_iter`` of them, at most 250)."""
        why = f"max|g| <= tolerance_grad = {group['tolerance_grad']}"
        if g.size:
            if hess is not None:
                low = float(xp.linalg.eigvalsh(hess).min())
                scale = float(xp.abs(hess).max())
            else:
                k = group["cg_max_iter"] or min(g.size, 250)
                low, high = _curvature_range(hvp, g.size, g.dtype, k)
                scale = max(abs(low), abs(high))
            if low < -1e-8 * max(1.0, scale):
                self._stop("saddle", f"{why}, but the Hessian has the eigenvalue {low:.3g}: "
                                     "a saddle point or maximum (try saddle_free=True)")
                return
        self._stop("tolerance_grad", why)

    def _line_search(self, closure: Callable[[], Any], f: float, g: Any, d: Any,
                     group: dict[str, Any], state: dict[str, Any]) -> tuple[float, float]:
        """Move θ to θ + t d; returns (t, f(θ + t d)) (f is NaN without a line search)."""
        t = group["lr"]
        if group["line_search_fn"] is None:
            self._add(t, d)
            return t, math.nan if not group["adaptive_damping"] else self._value(closure, state)
        gtd = float(g @ d)
        x0 = [p._array.copy() for p in self._params]
        f_new = math.inf
        for _ in range(group["max_ls"]):
            self._add(t, d)
            f_new = self._value(closure, state)
            if f_new <= f + group["c1"] * t * gtd:
                return t, f_new
            self._set(x0)
            t *= group["shrink"]
        return 0.0, f  # no acceptable step: stay put

    def _value(self, closure: Callable[[], Any], state: dict[str, Any]) -> float:
        with enable_grad():
            value = float(closure())
        state["func_evals"] += 1
        return value if math.isfinite(value) else math.inf


def _conjugate_gradient(hvp: Callable[[Any], Any], g: Any, damping: float, max_iter: int,
                        rtol: float | None = None) -> Any:
    """Truncated CG for (H + λI) d = −g from d = 0 (Nocedal & Wright, Alg. 7.1).

    Stops at ‖r‖ <= η‖g‖ with η = ``rtol`` or, by default, the forcing term min(0.5, √‖g‖)
    (superlinear local convergence), or when a direction of non-positive curvature appears:
    then the current iterate (or −g at the first iteration).
    """
    d = xp.zeros_like(g)
    r = g.copy()  # residual of (H + λI)d + g
    p = -r
    gnorm = float(xp.linalg.norm(g))
    tol = (rtol if rtol is not None else min(0.5, math.sqrt(gnorm))) * gnorm
    rr = float(r @ r)
    for k in range(max_iter):
        hp = hvp(p) + damping * p
        curv = float(p @ hp)
        if curv <= 0:
            return -g if k == 0 else d
        alpha = rr / curv
        d += alpha * p
        r += alpha * hp
        rr_new = float(r @ r)
        if math.sqrt(rr_new) <= tol:
            break
        p = -r + (rr_new / rr) * p
        rr = rr_new
    return d


def _lanczos_saddle_free(hvp: Callable[[Any], Any], g: Any, damping: float, k: int) -> Any:
    """Saddle-free Newton in the Krylov subspace of g: d = −Q (|T| + λI)⁻¹ Qᵀ g.

    Lanczos builds Q and T = QHQᵀ (:func:`chainrule._lanczos.lanczos_basis`); |T| takes
    absolute eigenvalues (Dauphin et al. 2014, §6).
    """
    qm, t = lanczos_basis(hvp, g, k)
    lam, vecs = xp.linalg.eigh(t)
    lam = xp.abs(lam) + damping
    if float(lam.min()) <= 0:
        return None
    return -(qm.T @ (vecs @ ((vecs.T @ (qm @ g)) / lam)))


def _curvature_range(hvp: Callable[[Any], Any], n: int, dtype: Any, k: int
                     ) -> tuple[float, float]:
    """Estimates of H's smallest and largest eigenvalues from Hessian-vector products only:
    the extreme Ritz values of k Lanczos steps from a fixed pseudo-random start (the gradient
    cannot be the start at a stationary point). Ritz values lie inside [λ_min, λ_max] and
    the extreme ones converge first, so a clearly negative estimate proves negative curvature."""
    start = xp.asarray(np.random.default_rng(0).standard_normal(n), dtype=dtype)
    _, t = lanczos_basis(hvp, start, k)
    ritz = xp.linalg.eigvalsh(t)
    return float(ritz[0]), float(ritz[-1])
