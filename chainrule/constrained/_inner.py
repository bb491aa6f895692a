"""A small dense BFGS minimizer: the inner solver used when ``chainrule.optim`` is unavailable.

Quasi-Newton update of the inverse Hessian H with s = x⁺ - x, y = ∇f(x⁺) - ∇f(x), ρ = 1/(yᵀs):

    H⁺ = (I - ρ s yᵀ) H (I - ρ y sᵀ) + ρ s sᵀ,

direction d = -H∇f, and a backtracking line search on the Armijo condition
f(x + t d) <= f(x) + c₁ t ∇f(x)ᵀd. The update is skipped when yᵀs is not positive, which keeps
H positive definite on non-convex functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.tensor import Tensor

FG = Callable[[np.ndarray], tuple[float, np.ndarray]]


def bfgs_minimize(fg: FG, x0: np.ndarray, max_iter: int = 200, gtol: float = 1e-10,
                  ftol: float = 1e-16) -> tuple[np.ndarray, float, np.ndarray, int]:
    """Minimize with BFGS; ``fg(x) -> (f, ∇f)``. Returns (x, f, ∇f, iterations)."""
    x = np.array(x0, dtype=np.float64)
    f, g = fg(x)
    n = x.size
    H = np.eye(n)
    first = True
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        if not (np.isfinite(f) and np.all(np.isfinite(g))):  # nothing sensible to do from here
            it -= 1
            break
        if np.abs(g).max(initial=0.0) <= gtol:
            it -= 1
            break
        d = -H @ g
        slope = float(g @ d)
        if slope >= 0:  # H lost positive definiteness through round-off: restart
            H = np.eye(n)
            d, slope = -g, -float(g @ g)
        t = 1.0 if not first else min(1.0, 1.0 / max(np.abs(g).max(), 1e-300))
        accepted = False
        for _ in range(60):
            x_new = x + t * d
            f_new, g_new = fg(x_new)
            if not np.isfinite(f_new):
                t *= 0.5
                continue
            # Near the minimum the decrease of f drops below round-off (|∇f|² ~ 1e-16 |f|):
            # accept a step that keeps f level and shrinks the gradient (approximate Wolfe).
            flat = f_new <= f + 1e-14 * abs(f) and np.abs(g_new).max() < np.abs(g).max()
            if f_new <= f + 1e-4 * t * slope or flat:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            if np.array_equal(H, np.eye(n)):
                break
            H, first = np.eye(n), True  # a stale H gave a poor direction: retry steepest descent
            continue
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
            if first:  # scale the initial inverse Hessian (Nocedal & Wright eq. 6.20)
                H = np.eye(n) * (sy / float(y @ y))
            rho = 1.0 / sy
            Hy = H @ y
            H = H - rho * (np.outer(s, Hy) + np.outer(Hy, s)) + (rho * rho * float(y @ Hy)
                                                                  + rho) * np.outer(s, s)
            first = False
        done = abs(f - f_new) <= ftol * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x, f, g, it


class InnerBFGS:
    """A torch-shaped optimizer around ``bfgs_minimize``: ``opt.step(closure)`` runs up to
    ``max_iter`` BFGS iterations on the parameters, where ``closure()`` zeroes the gradients,
    computes the loss, calls ``backward()`` and returns the loss.

    Example::

        x = chainrule.tensor([3.0, -2.0], dtype=chainrule.float64, requires_grad=True)
        opt = InnerBFGS([x])
        def closure():
            opt.zero_grad()
            loss = ((x - 1) ** 2).sum()
            loss.backward()
            return loss
        opt.step(closure)            # x -> (1, 1)
    """

    def __init__(self, params: Sequence[Tensor], max_iter: int = 200,
                 tolerance_grad: float = 1e-10, tolerance_change: float = 1e-16) -> None:
        self.params = [p for p in params]
        self.max_iter = max_iter
        self.tolerance_grad = tolerance_grad
        self.tolerance_change = tolerance_change

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def _set(self, x: np.ndarray) -> None:
        start = 0
        for p in self.params:
            k = p._array.size
            p._array[...] = x[start:start + k].reshape(p._array.shape)
            start += k

    def _get(self) -> np.ndarray:
        return np.concatenate([p._array.reshape(-1) for p in self.params]).astype(np.float64)

    def _grads(self) -> np.ndarray:
        return np.concatenate([
            (np.zeros(p._array.size) if p.grad is None else p.grad._array.reshape(-1))
            for p in self.params]).astype(np.float64)

    def step(self, closure: Callable[[], Any]) -> Any:
        """Run BFGS from the current parameters; returns the loss at the start."""
        first_loss: list[Any] = []

        def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
            self._set(x)
            loss = closure()
            if not first_loss:
                first_loss.append(loss)
            return float(loss._array if isinstance(loss, Tensor) else loss), self._grads()

        x, _, _, _ = bfgs_minimize(fg, self._get(), self.max_iter, self.tolerance_grad,
                                   self.tolerance_change)
        fg(x)  # leave the parameters and their .grad at the returned point
        return first_loss[0]
