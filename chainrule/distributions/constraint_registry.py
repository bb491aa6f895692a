"""``biject_to`` and ``transform_to`` (PyTorch's ``torch.distributions.constraint_registry``):
the transform that carries unconstrained reals onto a constraint's set.

Optimisers and variational guides keep a constrained quantity (a scale, a probability
vector) as an unconstrained tensor ``u`` and use ``transform_to(c)(u)``. ``biject_to(c)`` is
a bijection (for reparametrised densities, with ``log_abs_det_jacobian``); ``transform_to(c)``
need only map onto the set (softmax for the simplex, exp of the diagonal for a Cholesky
factor). The choices are PyTorch's:

- real: the identity; GreaterThan(lb) / GreaterThanEq(lb) (``positive``, ``nonnegative``):
  exp then ``AffineTransform(lb, 1)``; LessThan(ub): exp then ``AffineTransform(ub, -1)``;
- Interval(0, 1): sigmoid; Interval(lb, ub): sigmoid then ``AffineTransform(lb, ub - lb)``;
- Simplex: stick breaking (``biject_to``), softmax (``transform_to``);
- IndependentConstraint(c, n): ``IndependentTransform(<c's>, n)``;
- LowerCholesky: ``LowerCholeskyTransform`` (``transform_to`` only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.distributions import transforms as T
from chainrule.distributions.distribution import Constraint

__all__ = ["ConstraintRegistry", "biject_to", "transform_to"]


def _kind(constraint: Any) -> str:
    """A constraint's family, as PyTorch's class name without the underscore."""
    if not isinstance(constraint, Constraint):
        raise TypeError(f"Expected constraint to be either a Constraint subclass or instance, "
                        f"but got {constraint}")
    return constraint.name.split("(", 1)[0]


class ConstraintRegistry:
    """A table from constraint families (``"GreaterThan"``, ``"Simplex"`` ...) to factories
    ``constraint -> Transform``; calling the registry looks the constraint up."""

    def __init__(self) -> None:
        self._registry: dict[str, Callable[[Any], T.Transform]] = {}

    def register(self, constraint: Any, factory: Callable[[Any], T.Transform] | None = None
                 ) -> Any:
        """Register ``factory`` for ``constraint``'s family (usable as a decorator)."""
        if factory is None:
            return lambda f: self.register(constraint, f)
        key = constraint if isinstance(constraint, str) else _kind(constraint)
        self._registry[key] = factory
        return factory

    def __call__(self, constraint: Any) -> T.Transform:
        kind = _kind(constraint)
        try:
            factory = self._registry[kind]
        except KeyError:
            raise NotImplementedError(f"Cannot transform _{kind} constraints") from None
        return factory(constraint)


biject_to = ConstraintRegistry()
transform_to = ConstraintRegistry()


def _real(constraint: Any) -> T.Transform:
    return T.identity_transform


def _greater_than(constraint: Any) -> T.Transform:
    return T.ComposeTransform([T.ExpTransform(), T.AffineTransform(constraint.lower_bound, 1)])


def _less_than(constraint: Any) -> T.Transform:
    return T.ComposeTransform([T.ExpTransform(), T.AffineTransform(constraint.upper_bound, -1)])


def _interval(constraint: Any) -> T.Transform:
    lo, hi = constraint.lower_bound, constraint.upper_bound
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo == 0 and hi == 1:
        return T.SigmoidTransform()
    return T.ComposeTransform([T.SigmoidTransform(), T.AffineTransform(lo, hi - lo)])


def _independent(registry: ConstraintRegistry) -> Callable[[Any], T.Transform]:
    def factory(constraint: Any) -> T.Transform:
        return T.IndependentTransform(registry(constraint.base_constraint),
                                      constraint.reinterpreted_batch_ndims)
    return factory


for _registry in (biject_to, transform_to):
    _registry.register("Real", _real)
    for _name in ("GreaterThan", "GreaterThanEq"):
        _registry.register(_name, _greater_than)
    _registry.register("LessThan", _less_than)
    for _name in ("Interval", "HalfOpenInterval"):
        _registry.register(_name, _interval)
    _registry.register("IndependentConstraint", _independent(_registry))
biject_to.register("Simplex", lambda c: T.StickBreakingTransform())
transform_to.register("Simplex", lambda c: T.SoftmaxTransform())
transform_to.register("LowerCholesky", lambda c: T.LowerCholeskyTransform())
