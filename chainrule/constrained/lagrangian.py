"""Constrained training: ``Lagrangian`` (multipliers as module state) and ``PrimalDual``.

For a model loss f(θ) with constraints hᵢ(θ) = 0 and gⱼ(θ) <= 0 (each of any fixed shape, e.g.
one per class) the training objective is the Lagrangian of the package's convention

    L(θ, λ, μ) = f(θ) + Σᵢ λᵢᵀhᵢ(θ) + Σⱼ μⱼᵀgⱼ(θ),

and training looks for its saddle point min_θ max_{λ, μ>=0} L by simultaneous steps:

    θ ← optimizer step on ∇_θ L          (any chainrule optimizer: descent)
    λ ← λ + η h(θ),   μ ← max(0, μ + η g(θ))   (projected gradient ascent, η = ``dual_lr``)

The multipliers are buffers of the ``Lagrangian`` module, so they are saved in its
``state_dict`` (keys ``multipliers.<name>``) and restored with the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.engine import no_grad
from chainrule.backend import default_dtype, to_dtype
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor, _wrap

__all__ = ["Constraint", "Lagrangian", "PrimalDual"]


class Constraint:
    """A named constraint ``fn(*args) <= 0`` (``kind="ineq"``) or ``= 0`` (``kind="eq"``).

    ``fn`` receives the same arguments as the model loss and returns a tensor of ``shape``
    (``()`` for a scalar constraint; e.g. ``(n_classes,)`` for one constraint per class).

    Example::

        w = chainrule.nn.Parameter(chainrule.ones(3))
        norm = Constraint("weight_norm", lambda *batch: (w ** 2).sum() - 1.0)   # ‖w‖² <= 1
    """

    def __init__(self, name: str, fn: Callable[..., Tensor], kind: str = "ineq",
                 shape: Sequence[int] = ()) -> None:
        if not name.isidentifier():
            raise ValueError(f"Constraint: the name {name!r} must be a Python identifier (it "
                             "becomes a state_dict key)")
        if kind not in ("eq", "ineq"):
            raise ValueError(f"Constraint {name!r}: kind must be 'eq' or 'ineq', got {kind!r}")
        if not callable(fn):
            raise TypeError(f"Constraint {name!r}: fn must be callable")
        self.name, self.fn, self.kind, self.shape = name, fn, kind, tuple(shape)

    def __repr__(self) -> str:
        op = "=" if self.kind == "eq" else "<="
        return f"Constraint({self.name!r}: c(·) {op} 0, shape={self.shape})"


class _Multipliers(Module):
    """Holds one buffer per constraint (λ for equalities, μ >= 0 for inequalities)."""

    def forward(self) -> None:
        raise TypeError("the multipliers module is state only; call the Lagrangian instead")


class Lagrangian(Module):
    """L = f + Σ λᵢᵀhᵢ + Σ μⱼᵀgⱼ for training a model under constraints.

    With ``rho > 0`` the augmented Lagrangian is used instead (the method of multipliers):
    λᵀh + ρ/2‖h‖² and (1/2ρ)Σ(max(0, μ + ρg)² - μ²) replace λᵀh and μᵀg. Its saddle points are
    the same KKT points, but the quadratic term damps the oscillation of plain gradient
    descent–ascent (Platt & Barr 1988), so ``dual_lr = rho`` converges on convex problems.

    ``model_loss(*args)`` returns the scalar loss (a ``Module`` is registered as the submodule
    ``objective``, so its parameters are also this module's); ``constraints`` is a list of
    :class:`Constraint`. Calling the module evaluates the loss and the constraints on the same
    arguments, remembers the constraint values for the multiplier update, and returns L (whose
    gradient reaches the model's parameters only: the multipliers are buffers).

    Example::

        import chainrule as cr
        from chainrule import nn
        from chainrule.constrained import Constraint, Lagrangian, PrimalDual

        class LogReg(nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(cr.zeros(2, dtype=cr.float64))
            def forward(self, X, y):       # mean logistic loss, y in {-1, +1}
                return (1 + (-(y * (X @ self.weight))).exp()).log().mean()

        model = LogReg()
        lag = Lagrangian(model, [Constraint("norm", lambda X, y: (model.weight ** 2).sum() - 1)],
                         rho=1.0)
        opt = PrimalDual(lag, lr=0.5, dual_lr=1.0)
        X = cr.tensor([[2.0, 1.0], [1.0, 3.0], [-1.0, -2.0], [-2.0, -1.0]], dtype=cr.float64)
        y = cr.tensor([1.0, 1.0, -1.0, -1.0], dtype=cr.float64)
        for _ in range(300):
            opt.zero_grad()
            lag(X, y).backward()
            opt.step()
        lag.state_dict()["multipliers.norm"]      # μ > 0: the norm constraint is active
    """

    def __init__(self, model_loss: Callable[..., Tensor], constraints: Iterable[Constraint],
                 dtype: Any = None, rho: float = 0.0) -> None:
        super().__init__()
        if rho < 0:
            raise ValueError(f"Lagrangian: rho must be >= 0, got {rho}")
        self.__dict__["rho"] = float(rho)
        if isinstance(model_loss, Module):
            self.objective = model_loss
        else:
            self.__dict__["_objective_fn"] = model_loss
        self.__dict__["constraints"] = list(constraints)
        names = [c.name for c in self.constraints]
        if len(set(names)) != len(names):
            raise ValueError(f"Lagrangian: constraint names must be unique, got {names}")
        self.multipliers = _Multipliers()
        dt = default_dtype() if dtype is None else to_dtype(dtype)
        for c in self.constraints:
            if not isinstance(c, Constraint):
                raise TypeError(f"Lagrangian: constraints must be Constraint objects, got "
                                f"{type(c).__name__}")
            self.multipliers.register_buffer(c.name, _wrap(np.zeros(c.shape, dtype=dt)))
        self.__dict__["last_values"] = {}
        self.__dict__["last_loss"] = None

    def _loss(self, *args: Any, **kwargs: Any) -> Tensor:
        if "objective" in self._modules:
            return self.objective(*args, **kwargs)
        return self._objective_fn(*args, **kwargs)

    def multiplier(self, name: str) -> Tensor:
        """The multiplier buffer of constraint ``name``."""
        try:
            return self.multipliers._buffers[name]
        except KeyError:
            raise KeyError(f"Lagrangian: no constraint named {name!r}; have "
                           f"{[c.name for c in self.constraints]}") from None

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """Evaluate L(θ, λ, μ) = f + Σλᵀh + Σμᵀg on ``args``."""
        loss = self._loss(*args, **kwargs)
        total = loss
        for c in self.constraints:
            value = c.fn(*args, **kwargs)
            if not isinstance(value, Tensor):
                raise TypeError(f"Lagrangian: constraint {c.name!r} returned "
                                f"{type(value).__name__}, expected a Tensor of shape {c.shape}")
            if tuple(value.shape) != c.shape:
                raise ValueError(f"Lagrangian: constraint {c.name!r} returned shape "
                                 f"{tuple(value.shape)} but was declared with shape {c.shape}")
            self.last_values[c.name] = value.detach()
            total = total + self._term(c, self.multiplier(c.name), value)
        self.__dict__["last_loss"] = loss.detach()
        return total

    def _term(self, c: Constraint, m: Tensor, value: Tensor) -> Tensor:
        """mᵀc, or its augmented form when rho > 0 (equal to it at a KKT point)."""
        r = self.rho
        if r == 0:
            return (m * value).sum()
        if c.kind == "eq":
            return (m * value).sum() + 0.5 * r * (value * value).sum()
        t = (value * r + m).relu()
        return ((t * t).sum() - (m * m).sum()) / (2 * r)

    @no_grad()
    def ascent_step(self, dual_lr: float) -> None:
        """λ ← λ + η h, μ ← max(0, μ + η g) with the constraint values of the last forward."""
        for c in self.constraints:
            if c.name not in self.last_values:
                raise RuntimeError(f"Lagrangian: constraint {c.name!r} has not been evaluated; "
                                   "call the Lagrangian (forward) before the ascent step")
            buf = self.multiplier(c.name)
            new = buf._array + dual_lr * self.last_values[c.name]._array.astype(buf._array.dtype)
            buf._array[...] = np.maximum(new, 0.0) if c.kind == "ineq" else new

    def report(self) -> str:
        """The last loss, each constraint's value (max entry) and multiplier."""
        loss = float("nan") if self.last_loss is None else float(self.last_loss._array)
        lines = [f"Lagrangian: loss {loss:.6g}"]
        for c in self.constraints:
            v = self.last_values.get(c.name)
            val, ok = "not evaluated", ""
            if v is not None:
                worst = np.max(v._array) if c.kind == "ineq" else np.max(np.abs(v._array))
                val = f"max {np.max(v._array):.4g}"
                ok = "  ok" if worst <= 1e-6 else "  violated"
            mult = np.array2string(self.multiplier(c.name)._array, precision=4)
            op = "=" if c.kind == "eq" else "<="
            lines.append(f"  {c.name} {op} 0: {val}{ok}; multiplier {mult}")
        return "\n".join(lines)

    def extra_repr(self) -> str:
        return ", ".join(repr(c) for c in self.constraints)


class _GradientDescent:
    """Plain gradient descent θ ← θ - lr·∇θ (used when no optimizer is given)."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        self.lr = lr

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = closure() if closure is not None else None
        for p in self.params:
            if p.grad is not None:
                p._array -= self.lr * p.grad._array
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr = float(state["lr"])


class PrimalDual:
    """Descent on the parameters with any chainrule optimizer, projected ascent on the
    multipliers: each ``step`` runs ``optimizer.step()`` then ``lagrangian.ascent_step``.

    Without ``optimizer``, plain gradient descent with ``lr`` on ``params`` (by default the
    Lagrangian's parameters, i.e. those of a ``Module`` model loss).

    Example::

        import chainrule as cr
        # min ‖w - (3, 0)‖² on the unit disc: w* = (1, 0), μ* = 2
        w = cr.nn.Parameter(cr.tensor([0.0, 0.0], dtype=cr.float64))
        t = cr.tensor([3.0, 0.0], dtype=cr.float64)
        lag = Lagrangian(lambda: ((w - t) ** 2).sum(),
                         [Constraint("disc", lambda: (w ** 2).sum() - 1)], rho=1.0)
        opt = PrimalDual(lag, cr.optim.SGD([w], lr=0.1), dual_lr=1.0)
        for _ in range(200):
            opt.zero_grad()
            lag().backward()
            opt.step()
        w, lag.multiplier("disc")           # ≈ (1, 0), 2
    """

    def __init__(self, lagrangian: Lagrangian, optimizer: Any = None, dual_lr: float = 0.1,
                 lr: float = 0.1, params: Iterable[Tensor] | None = None) -> None:
        if not isinstance(lagrangian, Lagrangian):
            raise TypeError(f"PrimalDual: expected a Lagrangian, got {type(lagrangian).__name__}")
        if optimizer is None:
            ps = list(lagrangian.parameters() if params is None else params)
            if not ps:
                raise ValueError("PrimalDual: no parameters to train; pass params= (the model "
                                 "loss is a function, not a Module) or an optimizer")
            optimizer = _GradientDescent(ps, lr)
        self.lagrangian, self.optimizer, self.dual_lr = lagrangian, optimizer, float(dual_lr)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One primal step (the closure, if given, recomputes L and its gradients) and one
        multiplier step."""
        loss = self.optimizer.step(closure) if closure is not None else self.optimizer.step()
        self.lagrangian.ascent_step(self.dual_lr)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The primal optimizer's state and the dual step (the multipliers live in the
        Lagrangian's own ``state_dict``)."""
        inner = self.optimizer.state_dict() if hasattr(self.optimizer, "state_dict") else {}
        return {"optimizer": inner, "dual_lr": self.dual_lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.dual_lr = float(state["dual_lr"])
        if hasattr(self.optimizer, "load_state_dict"):
            self.optimizer.load_state_dict(state["optimizer"])
