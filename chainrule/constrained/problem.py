"""``Problem``: minimize f(x) subject to h(x) = 0, g(x) <= 0 and bounds, over one or more tensors.

The functions are written with chainrule operations; the solvers see the problem through a
small NumPy interface on the flat float64 vector ``x`` (the tensors concatenated in order):
values, gradients, constraint Jacobians and the Hessian of the Lagrangian
``L = f + λᵀh + μᵀg`` (the package's sign convention), all obtained from chainrule's autograd.
``QuadraticProblem`` and ``LinearProblem`` keep their matrices, so their derivatives and their
Lagrange dual function are available in closed form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd import functional as AF
from chainrule.autograd import grad as _autograd_grad
from chainrule.autograd.engine import enable_grad
from chainrule.backend import float64, xp
from chainrule.tensor import Tensor, _wrap, cat, tensor

__all__ = ["LinearProblem", "Problem", "QuadraticProblem"]

Fn = Callable[..., Any]


def _as_tensors(x0: Any) -> tuple[tuple[Tensor, ...], bool]:
    """The starting point as a tuple of detached float64 tensors, and whether it was a sequence."""
    multi = isinstance(x0, (list, tuple)) and len(x0) > 0 and all(
        isinstance(e, (Tensor, np.ndarray)) for e in x0)
    items = list(x0) if multi else [x0]
    out = []
    for k, x in enumerate(items):
        arr = x._array if isinstance(x, Tensor) else xp.asarray(x)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"Problem: x0[{k}] has dtype {arr.dtype}; a numeric tensor is needed")
        out.append(_wrap(xp.array(arr, dtype=float64)))
    return tuple(out), multi


def _fn_list(fns: Fn | Sequence[Fn] | None, what: str) -> list[Fn]:
    if fns is None:
        return []
    if callable(fns):
        return [fns]
    fns = list(fns)
    for k, fn in enumerate(fns):
        if not callable(fn):
            raise TypeError(f"Problem: {what}[{k}] is a {type(fn).__name__}, not a function")
    return fns


def _vector(out: Any, what: str) -> Tensor:
    """A constraint function's result (Tensor, number, or a sequence of them) as a 1-D tensor."""
    if isinstance(out, Tensor):
        return out.reshape(-1)
    if isinstance(out, (int, float, np.generic)):
        return tensor([float(out)], dtype=float64)
    if isinstance(out, (list, tuple)):
        parts = [_vector(o, what) for o in out]
        return cat(parts) if parts else _wrap(xp.zeros(0))
    raise TypeError(f"Problem: {what} returned a {type(out).__name__}; return a Tensor, a number "
                    "or a list of them")


def _bound_array(value: Any, shapes: list[tuple[int, ...]], fill: float) -> np.ndarray:
    """Per-tensor bounds (None, a number, an array per tensor, possibly with None entries)
    flattened to one length-n array; None means ±inf (``fill``)."""
    if value is None:
        return np.concatenate([np.full(int(np.prod(s)), fill) for s in shapes])
    parts = value if len(shapes) > 1 else [value]
    if len(parts) != len(shapes):
        raise ValueError(f"Problem: bounds give {len(parts)} entries for {len(shapes)} tensors")
    out = []
    for s, v in zip(shapes, parts):
        if v is None:
            arr = np.full(s, fill)
        elif isinstance(v, Tensor):
            arr = np.asarray(v._array, dtype=np.float64)
        else:  # a None inside a list means "no bound" there (not NaN, which is an error)
            raw = np.asarray(v, dtype=object)
            arr = np.where(np.equal(raw, None), fill, raw).astype(np.float64)
        try:
            out.append(np.broadcast_to(arr, s).reshape(-1))
        except ValueError:
            raise ValueError(f"Problem: a bound of shape {arr.shape} does not broadcast to the "
                             f"variable's shape {s}") from None
    return np.concatenate(out).astype(np.float64)


def _check_bounds(lb: np.ndarray, ub: np.ndarray) -> None:
    """A ValueError naming the first flat index whose bounds are NaN, admit no finite value
    (lb = +inf or ub = -inf) or are crossed (lb > ub)."""
    checks = ((np.isnan(lb) | np.isnan(ub), "a NaN bound"),
              (lb == np.inf, "lower bound +inf: no finite x satisfies it"),
              (ub == -np.inf, "upper bound -inf: no finite x satisfies it"),
              (lb > ub, "lower bound > upper bound: no x satisfies both"))
    for bad, what in checks:
        if np.any(bad):
            k = int(np.argmax(bad))
            raise ValueError(f"Problem: {what} at flat index {k} (lb = {lb[k]}, ub = {ub[k]})")


class Problem:
    """minimize f(x) subject to h(x) = 0, g(x) <= 0, lb <= x <= ub.

    ``f(*xs)`` returns a scalar tensor; ``eq`` and ``ineq`` are functions (or lists of functions)
    of the same tensors returning tensors of any shape (flattened and concatenated), or numbers.
    ``bounds = (lb, ub)`` with numbers, arrays or ``None`` (a list of pairs' parts per tensor
    when ``x0`` is a list of tensors). Everything is evaluated in float64, so tensors captured
    by the functions (data, matrices) should be float64 too (chainrule does not promote dtypes).

    Lagrangian (the package's convention): L(x, λ, μ) = f(x) + λᵀh(x) + μᵀg(x), μ >= 0, where g
    includes the bounds as ``lb - x <= 0`` and ``x - ub <= 0`` after the user's rows.

    Example::

        import chainrule as cr
        from chainrule.constrained import Problem
        # min x + y on the disc x² + y² <= 2  →  x* = (-1, -1), μ* = 1/2
        prob = Problem(lambda v: v.sum(), cr.zeros(2, dtype=cr.float64),
                       ineq=lambda v: (v * v).sum() - 2)
        prob.grad(prob.x0), prob.ineq(prob.x0)       # (array([1., 1.]), array([-2.]))
    """

    def __init__(self, f: Fn, x0: Any, eq: Fn | Sequence[Fn] | None = None,
                 ineq: Fn | Sequence[Fn] | None = None, bounds: tuple[Any, Any] | None = None
                 ) -> None:
        if not callable(f):
            raise TypeError(f"Problem: the objective f must be a function, got {type(f).__name__}")
        xs, self._multi = _as_tensors(x0)
        self.shapes = [tuple(x.shape) for x in xs]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n = int(sum(self.sizes))
        self.x0 = np.concatenate([x._array.reshape(-1) for x in xs]) if xs else np.zeros(0)
        self.f_fn = f
        self.eq_fns = _fn_list(eq, "eq")
        self.ineq_fns = _fn_list(ineq, "ineq")
        if bounds is not None and (not isinstance(bounds, (tuple, list)) or len(bounds) != 2):
            size = len(bounds) if hasattr(bounds, "__len__") else "?"
            raise ValueError(
                f"Problem: bounds must be a pair (lb, ub) (each a number, an array or None), got "
                f"a {type(bounds).__name__} of length {size}; SciPy's list of (min, max) pairs "
                "per variable converts as bounds=tuple(zip(*pairs))")
        lb, ub = bounds if bounds is not None else (None, None)
        self.lb = _bound_array(lb, self.shapes, -np.inf)
        self.ub = _bound_array(ub, self.shapes, np.inf)
        _check_bounds(self.lb, self.ub)
        if not np.all(np.isfinite(self.x0)):
            k = int(np.argmax(~np.isfinite(self.x0)))
            raise ValueError(f"Problem: the starting point x0 has the non-finite entry "
                             f"{self.x0[k]} at flat index {k}")
        self.lb_index = np.flatnonzero(np.isfinite(self.lb))
        self.ub_index = np.flatnonzero(np.isfinite(self.ub))
        self._probe()

    def _probe(self) -> None:
        """Evaluate everything once at x0: counts the constraints and reports bad shapes early."""
        z = _wrap(self.x0.copy())
        value = self.f_fn(*self.unflatten(z))
        if not isinstance(value, Tensor) or value.numel() != 1:
            shape = value.shape if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"Problem: the objective f must return a scalar tensor, got {shape}")
        self.n_eq = int(self._user_eq(z).shape[0])
        self.n_ineq_user = int(self._user_ineq(z).shape[0])
        self.n_ineq = self.n_ineq_user + len(self.lb_index) + len(self.ub_index)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n={self.n}, n_eq={self.n_eq}, n_ineq={self.n_ineq} "
                f"[{self.n_ineq_user} g, {len(self.lb_index)} lower, {len(self.ub_index)} upper])")

    # ---- the tensor view --------------------------------------------------------------------
    def unflatten(self, z: Tensor) -> tuple[Tensor, ...]:
        """Split the flat vector ``z`` into the problem's tensors (views, differentiable)."""
        out, start = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            out.append(z[start:start + size].reshape(shape))
            start += size
        return tuple(out)

    def flatten(self, xs: Any) -> np.ndarray:
        """The flat float64 vector of a point given as tensors (or arrays) like ``x0``."""
        items = list(xs) if self._multi else [xs]
        arrs = [np.asarray(x._array if isinstance(x, Tensor) else x, dtype=np.float64).reshape(-1)
                for x in items]
        z = np.concatenate(arrs) if arrs else np.zeros(0)
        if z.shape != (self.n,):
            raise ValueError(f"Problem: a point with {z.size} entries was given; the problem has "
                             f"{self.n} variables in shapes {self.shapes}")
        return z

    def to_tensors(self, x: np.ndarray) -> Tensor | tuple[Tensor, ...]:
        """The flat vector as tensors shaped like ``x0`` (one tensor, or a tuple)."""
        parts = self.unflatten(_wrap(np.array(x, dtype=np.float64)))
        parts = tuple(_wrap(p._array.copy()) for p in parts)
        return parts if self._multi else parts[0]

    def objective(self, z: Tensor) -> Tensor:
        """f at the flat tensor ``z`` (a scalar tensor, differentiable)."""
        return self.f_fn(*self.unflatten(z)).reshape(())

    def _user_eq(self, z: Tensor) -> Tensor:
        xs = self.unflatten(z)
        parts = [_vector(fn(*xs), "eq") for fn in self.eq_fns]
        return cat(parts) if parts else _wrap(xp.zeros(0))

    def _user_ineq(self, z: Tensor) -> Tensor:
        xs = self.unflatten(z)
        parts = [_vector(fn(*xs), "ineq") for fn in self.ineq_fns]
        return cat(parts) if parts else _wrap(xp.zeros(0))

    def eq_tensor(self, z: Tensor) -> Tensor:
        """h(z) as a 1-D tensor of length ``n_eq`` (differentiable)."""
        return self._user_eq(z)

    def ineq_tensor(self, z: Tensor) -> Tensor:
        """g(z) as a 1-D tensor of length ``n_ineq``: the user's rows, then the bounds."""
        parts = [self._user_ineq(z)]
        if len(self.lb_index):
            parts.append(_wrap(self.lb[self.lb_index]) - z[self.lb_index])
        if len(self.ub_index):
            parts.append(z[self.ub_index] - _wrap(self.ub[self.ub_index]))
        return cat(parts) if len(parts) > 1 else parts[0]

    def lagrangian_tensor(self, z: Tensor, lam: Any, mu: Any) -> Tensor:
        """L(z, λ, μ) = f + λᵀh + μᵀg as a differentiable scalar tensor."""
        out = self.objective(z)
        lam, mu = self._multipliers(lam, mu)
        if self.n_eq:
            out = out + (self.eq_tensor(z) * _wrap(lam)).sum()
        if self.n_ineq:
            out = out + (self.ineq_tensor(z) * _wrap(mu)).sum()
        return out

    def _multipliers(self, lam: Any, mu: Any) -> tuple[np.ndarray, np.ndarray]:
        lam = np.zeros(self.n_eq) if lam is None else np.asarray(lam, dtype=np.float64).ravel()
        mu = np.zeros(self.n_ineq) if mu is None else np.asarray(mu, dtype=np.float64).ravel()
        if lam.shape != (self.n_eq,):
            raise ValueError(f"Problem: λ has {lam.size} entries, the problem has {self.n_eq} "
                             "equality constraints")
        if mu.shape != (self.n_ineq,):
            raise ValueError(f"Problem: μ has {mu.size} entries, the problem has {self.n_ineq} "
                             f"inequality rows ({self.n_ineq_user} g + bounds)")
        return lam, mu

    # ---- the NumPy view used by the solvers ---------------------------------------------------
    def _point(self, x: Any, requires_grad: bool = False) -> Tensor:
        z = np.array(x, dtype=np.float64).reshape(-1)
        if z.shape != (self.n,):
            raise ValueError(f"Problem: x has {z.size} entries, the problem has {self.n} variables")
        return _wrap(z, requires_grad=requires_grad)

    def fun(self, x: Any) -> float:
        """f(x)."""
        return float(self.objective(self._point(x))._array)

    def grad(self, x: Any) -> np.ndarray:
        """∇f(x) by reverse mode."""
        with enable_grad():
            z = self._point(x, True)
            (g,) = _autograd_grad(self.objective(z), [z], allow_unused=True)
        return np.zeros(self.n) if g is None else np.array(g._array, dtype=np.float64)

    def eq(self, x: Any) -> np.ndarray:
        """h(x), length ``n_eq``."""
        return np.array(self.eq_tensor(self._point(x))._array, dtype=np.float64)

    def ineq(self, x: Any) -> np.ndarray:
        """g(x) including the bound rows, length ``n_ineq``."""
        return np.array(self.ineq_tensor(self._point(x))._array, dtype=np.float64)

    def _jac(self, fn: Fn, m: int, x: Any) -> np.ndarray:
        if m == 0:
            return np.zeros((0, self.n))
        return np.array(AF.jacobian(fn, self._point(x))._array, dtype=np.float64).reshape(m, self.n)

    def eq_jac(self, x: Any) -> np.ndarray:
        """∇h(x), shape (n_eq, n)."""
        return self._jac(self._user_eq, self.n_eq, x)

    def ineq_jac(self, x: Any) -> np.ndarray:
        """∇g(x), shape (n_ineq, n): autograd for the user's rows, ∓ identity rows for bounds."""
        rows = [self._jac(self._user_ineq, self.n_ineq_user, x)]
        rows.append(-np.eye(self.n)[self.lb_index])
        rows.append(np.eye(self.n)[self.ub_index])
        return np.vstack(rows)

    def lagrangian(self, x: Any, lam: Any = None, mu: Any = None) -> float:
        """L(x, λ, μ) = f + λᵀh + μᵀg."""
        return float(self.lagrangian_tensor(self._point(x), lam, mu)._array)

    def lagrangian_grad(self, x: Any, lam: Any = None, mu: Any = None) -> np.ndarray:
        """∇ₓL = ∇f + ∇hᵀλ + ∇gᵀμ."""
        lam, mu = self._multipliers(lam, mu)
        out = self.grad(x)
        if self.n_eq:
            out = out + self.eq_jac(x).T @ lam
        if self.n_ineq:
            out = out + self.ineq_jac(x).T @ mu
        return out

    def lagrangian_hessian(self, x: Any, lam: Any = None, mu: Any = None) -> np.ndarray:
        """∇²ₓL(x, λ, μ), shape (n, n), by autograd (bounds are linear and do not contribute)."""
        lam, mu = self._multipliers(lam, mu)
        mu_user = mu[: self.n_ineq_user]

        def lag(z: Tensor) -> Tensor:
            out = self.objective(z)
            if self.n_eq:
                out = out + (self._user_eq(z) * _wrap(lam)).sum()
            if self.n_ineq_user:
                out = out + (self._user_ineq(z) * _wrap(mu_user)).sum()
            return out

        H = np.array(AF.hessian(lag, self._point(x))._array, dtype=np.float64)
        return 0.5 * (H + H.T)

    def dual(self, lam: Any, mu: Any) -> float | None:
        """The Lagrange dual function q(λ, μ) = inf_x L(x, λ, μ) where a closed form exists,
        otherwise ``None`` (see ``QuadraticProblem`` and ``LinearProblem``)."""
        return None


def _finite(arr: np.ndarray, name: str, owner: str = "QuadraticProblem") -> np.ndarray:
    """``arr`` unchanged if every entry is finite; otherwise a ValueError naming the first bad
    entry (a NaN in the data would otherwise surface as a "numerical" failure much later)."""
    bad = ~np.isfinite(arr)
    if np.any(bad):
        k = tuple(int(i) for i in np.argwhere(bad)[0])
        where = k[0] if len(k) == 1 else k
        raise ValueError(f"{owner}: {name} has the non-finite entry {arr[k]} at index {where}; "
                         "the data must be finite (give an infinite limit as a bound instead)")
    return arr


def _mat(a: Any, shape1: int | None, name: str) -> np.ndarray:
    arr = np.asarray(a._array if isinstance(a, Tensor) else a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or (shape1 is not None and arr.shape[1] != shape1):
        raise ValueError(f"QuadraticProblem: {name} has shape {arr.shape}; expected "
                         f"(m, {shape1})")
    return _finite(arr, name)


def _vec(a: Any, m: int, name: str) -> np.ndarray:
    arr = np.asarray(a._array if isinstance(a, Tensor) else a, dtype=np.float64).reshape(-1)
    if arr.size == 1 and m != 1:
        arr = np.full(m, float(arr[0]))
    if arr.shape != (m,):
        raise ValueError(f"QuadraticProblem: {name} has {arr.size} entries, expected {m}")
    return _finite(arr, name)


class QuadraticProblem(Problem):
    """minimize ½xᵀGx + cᵀx subject to Ax = b, Cx <= d, lb <= x <= ub (G symmetric).

    Derivatives are the matrices themselves; the Lagrange dual function is closed-form:

        q(λ, μ) = -½ rᵀG⁺r - bᵀλ - dᵀμ   with r = c + Aᵀλ + Cᵀμ,

    when r lies in the range of G (always, if G ≻ 0), and -∞ otherwise; its minimizer over x is
    x(λ, μ) = -G⁺r. ``d`` and ``C`` here include the bound rows.

    Example::

        import numpy as np
        from chainrule.constrained import QuadraticProblem, interior_point
        qp = QuadraticProblem(2 * np.eye(2), [-2.0, -5.0],
                              C=[[-1, 2], [1, 2], [1, -2]], d=[2, 6, 2], bounds=(0, None))
        interior_point(qp).x          # tensor([1.4, 1.7])
    """

    def __init__(self, G: Any, c: Any, A: Any = None, b: Any = None, C: Any = None,
                 d: Any = None, bounds: tuple[Any, Any] | None = None, x0: Any = None,
                 null_tol: float = 1e-7) -> None:
        c_arr = np.asarray(c._array if isinstance(c, Tensor) else c, dtype=np.float64).reshape(-1)
        n = c_arr.size
        G_arr = np.asarray(G._array if isinstance(G, Tensor) else G, dtype=np.float64)
        if G_arr.shape != (n, n):
            raise ValueError(f"QuadraticProblem: G has shape {G_arr.shape}, c has {n} entries; "
                             f"G must be ({n}, {n})")
        self.G = 0.5 * (_finite(G_arr, "G") + G_arr.T)
        self.c = _finite(c_arr, "c")
        if x0 is not None:
            size = np.asarray(x0._array if isinstance(x0, Tensor) else x0).size
            if size != n:
                raise ValueError(f"QuadraticProblem: x0 has {size} entries; c has {n}")
        self.A = _mat(A, n, "A") if A is not None else np.zeros((0, n))
        self.b = _vec(b if b is not None else np.zeros(self.A.shape[0]), self.A.shape[0], "b")
        self.C = _mat(C, n, "C") if C is not None else np.zeros((0, n))
        self.d = _vec(d if d is not None else np.zeros(self.C.shape[0]), self.C.shape[0], "d")
        self.null_tol = null_tol
        Gt, ct = tensor(self.G), tensor(self.c)
        At, bt, Ct, dt = tensor(self.A), tensor(self.b), tensor(self.C), tensor(self.d)
        eq = (lambda x: At @ x - bt) if self.A.shape[0] else None
        ineq = (lambda x: Ct @ x - dt) if self.C.shape[0] else None
        super().__init__(lambda x: 0.5 * (x @ (Gt @ x)) + ct @ x,
                         np.zeros(n) if x0 is None else x0, eq=eq, ineq=ineq, bounds=bounds)
        self.C_full = np.vstack([self.C, -np.eye(n)[self.lb_index], np.eye(n)[self.ub_index]])
        self.d_full = np.concatenate([self.d, -self.lb[self.lb_index], self.ub[self.ub_index]])
        w, V = np.linalg.eigh(self.G)
        self._eig = (w, V)

    def fun(self, x: Any) -> float:
        x = np.asarray(x, dtype=np.float64)
        return float(0.5 * x @ self.G @ x + self.c @ x)

    def grad(self, x: Any) -> np.ndarray:
        return self.G @ np.asarray(x, dtype=np.float64) + self.c

    def eq(self, x: Any) -> np.ndarray:
        return self.A @ np.asarray(x, dtype=np.float64) - self.b

    def ineq(self, x: Any) -> np.ndarray:
        return self.C_full @ np.asarray(x, dtype=np.float64) - self.d_full

    def eq_jac(self, x: Any) -> np.ndarray:
        return self.A

    def ineq_jac(self, x: Any) -> np.ndarray:
        return self.C_full

    def lagrangian_hessian(self, x: Any, lam: Any = None, mu: Any = None) -> np.ndarray:
        return self.G

    @property
    def is_convex(self) -> bool:
        """G ⪰ 0 (up to round-off)."""
        w = self._eig[0]
        return bool(w.min(initial=0.0) >= -1e-10 * max(1.0, np.abs(w).max(initial=0.0)))

    def _residual(self, lam: Any, mu: Any) -> np.ndarray:
        lam, mu = self._multipliers(lam, mu)
        return self.c + self.A.T @ lam + self.C_full.T @ mu

    def dual(self, lam: Any, mu: Any) -> float:
        """q(λ, μ) = inf_x L(x, λ, μ) = -½ rᵀG⁺r - bᵀλ - dᵀμ, or -∞ if r ∉ range(G)."""
        lam, mu = self._multipliers(lam, mu)
        r = self._residual(lam, mu)
        w, V = self._eig
        rr = V.T @ r
        scale = max(1.0, np.abs(w).max(initial=0.0))
        pos = w > 1e-12 * scale
        if np.any(np.abs(rr[~pos]) > self.null_tol * (1.0 + np.abs(r).max(initial=0.0))):
            return -np.inf
        if not self.is_convex:
            return -np.inf
        quad = float(np.sum(rr[pos] ** 2 / w[pos]))
        return -0.5 * quad - float(self.b @ lam) - float(self.d_full @ mu)

    def minimizer(self, lam: Any, mu: Any) -> np.ndarray:
        """argmin_x L(x, λ, μ) = -G⁺(c + Aᵀλ + Cᵀμ) (the minimum-norm one if G is singular)."""
        w, V = self._eig
        rr = V.T @ self._residual(lam, mu)
        pos = w > 1e-12 * max(1.0, np.abs(w).max(initial=0.0))
        out = np.zeros_like(rr)
        out[pos] = rr[pos] / w[pos]
        return -(V @ out)


class LinearProblem(QuadraticProblem):
    """minimize cᵀx subject to Ax = b, Cx <= d, lb <= x <= ub.

    The dual function is q(λ, μ) = -bᵀλ - dᵀμ when c + Aᵀλ + Cᵀμ = 0 and -∞ otherwise, so the
    dual LP is: maximize -bᵀλ - dᵀμ subject to c + Aᵀλ + Cᵀμ = 0, μ >= 0.

    Example::

        from chainrule.constrained import LinearProblem, interior_point
        lp = LinearProblem([-1.0, -2.0], C=[[1, 1], [1, -1]], d=[4, 1], bounds=(0, None))
        interior_point(lp).x        # tensor([0., 4.])
    """

    def __init__(self, c: Any, A: Any = None, b: Any = None, C: Any = None, d: Any = None,
                 bounds: tuple[Any, Any] | None = None, x0: Any = None,
                 null_tol: float = 1e-7) -> None:
        n = np.asarray(c._array if isinstance(c, Tensor) else c).size
        super().__init__(np.zeros((n, n)), c, A, b, C, d, bounds, x0, null_tol)
