"""The base of ``chainrule.distributions``: shapes, argument validation and sampling plumbing
with PyTorch's semantics (``torch.distributions.Distribution``).

A distribution has ``batch_shape`` (independent, differently parameterised copies) and
``event_shape`` (the shape of one draw); ``sample(sample_shape)`` returns
``sample_shape + batch_shape + event_shape``. ``rsample`` (where offered) is reparameterised:
the draw is a differentiable function of the parameters and of parameter-free noise.
Sampling takes an optional ``generator`` (a chainrule or NumPy generator; the default one
otherwise), an addition to PyTorch's signature for explicit seeding.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from chainrule.autograd.engine import no_grad
from chainrule.backend import default_dtype, is_floating, xp
from chainrule.tensor import Tensor, tensor_of


def as_float_tensor(x: Any) -> Tensor:
    """A parameter as a floating Tensor (Python numbers take the default dtype)."""
    if isinstance(x, Tensor):
        return x if is_floating(x.dtype) else x.to(default_dtype())
    return tensor_of(xp.asarray(x, dtype=default_dtype()))


def broadcast_all(*values: Any) -> tuple[Tensor, ...]:
    """Parameters broadcast to one shape (Tensors keep their graph)."""
    ts = [as_float_tensor(v) for v in values]
    shape = tuple(xp.broadcast_shapes(*[tuple(t.shape) for t in ts]))
    return tuple(t if tuple(t.shape) == shape else t.expand(shape) for t in ts)


class lazy_property:  # noqa: N801 - PyTorch's name
    """A parameter derived on first use and cached on the instance (probs from logits and
    the reverse); one the user did not give is not validated."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        if obj is None:
            return self
        value = self.fn(obj)
        obj.__dict__[self.fn.__name__] = value
        return value


class Constraint:
    """A named set a parameter or a value must lie in: ``check(x)`` is the elementwise test."""

    def __init__(self, name: str, check: Callable[[Any], Any], event_dim: int = 0) -> None:
        self.name, self._check, self.event_dim = name, check, event_dim

    def check(self, value: Tensor) -> Any:
        """A boolean array, one entry per event (``event_dim`` rightmost dims reduced)."""
        ok = self._check(value.detach().numpy())
        return ok.all(axis=tuple(range(-self.event_dim, 0))) if self.event_dim else ok

    def __repr__(self) -> str:
        return self.name


def _interval(lo: Any, hi: Any, right_open: bool = False) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        return (lo <= v) & ((v < hi) if right_open else (v <= hi))
    return check


real = Constraint("Real()", lambda v: v == v)  # not NaN
positive = Constraint("GreaterThan(lower_bound=0.0)", lambda v: v > 0)
unit_interval = Constraint("Interval(lower_bound=0.0, upper_bound=1.0)", _interval(0.0, 1.0))
boolean = Constraint("Boolean()", lambda v: (v == 0) | (v == 1))
real_vector = Constraint("IndependentConstraint(Real(), 1)", lambda v: v == v, event_dim=1)
simplex = Constraint("Simplex()", lambda v: (v >= 0).all(-1) & (abs(v.sum(-1) - 1) < 1e-6))


def _lower_cholesky(v: Any) -> Any:
    tril_ok = (xp.triu(v, 1) == 0).all((-2, -1))
    return tril_ok & (xp.diagonal(v, axis1=-2, axis2=-1) > 0).all(-1)


def _positive_definite(v: Any) -> Any:
    sym = xp.abs(v - xp.swapaxes(v, -1, -2)).max((-2, -1)) < 1e-6 if v.size else True
    return sym & (xp.linalg.eigvalsh(v) > 0).all(-1)


lower_cholesky = Constraint("LowerCholesky()", _lower_cholesky)
positive_definite = Constraint("PositiveDefinite()", _positive_definite)


class Distribution:
    """Base class: shapes, ``validate_args`` and the sample plumbing (see the module doc)."""

    has_rsample = False
    arg_constraints: dict[str, Constraint] = {}
    support: Constraint | None = None
    _validate_default = True

    def __init__(self, batch_shape: Sequence[int] = (), event_shape: Sequence[int] = (),
                 validate_args: bool | None = None) -> None:
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)
        self._validate_args = self._validate_default if validate_args is None \
            else validate_args
        if self._validate_args:
            for name, c in self.arg_constraints.items():
                if name not in self.__dict__ and isinstance(getattr(type(self), name, None),
                                                            lazy_property):
                    continue  # a derived parameter (probs from logits): not checked
                v = getattr(self, name)
                if not bool(xp.all(c.check(v))):
                    raise ValueError(
                        f"Expected parameter {name} ({type(v).__name__} of shape "
                        f"{tuple(v.shape)}) of distribution {self!r} to satisfy the "
                        f"constraint {c}, but found invalid values:\n{v}")

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        Distribution._validate_default = bool(value)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event_shape

    def _extended_shape(self, sample_shape: Sequence[int] = ()) -> tuple[int, ...]:
        return tuple(sample_shape) + self._batch_shape + self._event_shape

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        """A draw without gradient (``rsample`` under ``no_grad`` where there is one)."""
        with no_grad():
            return self.rsample(sample_shape, generator=generator)

    def rsample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no rsample (not "
                                  "reparameterizable)")

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Distribution:
        """This distribution with its batch shape broadcast to ``batch_shape``: every
        parameter whose leading dims are the batch shape is expanded (a view, gradients
        flow back), and every inner distribution (a base, a wrapped Categorical, mixture
        components) likewise, keeping its own extra batch dims."""
        new_batch = tuple(int(n) for n in batch_shape)
        old = self._batch_shape
        xp.broadcast_shapes(old, new_batch)  # raises for an incompatible shape
        new = copy.copy(self)
        for k, v in self.__dict__.items():
            if isinstance(v, Distribution):
                new.__dict__[k] = v.expand(new_batch + tuple(v.batch_shape[len(old):]))
            elif isinstance(v, Tensor) and tuple(v.shape[:len(old)]) == old:
                new.__dict__[k] = v.expand(new_batch + tuple(v.shape[len(old):]))
        new._batch_shape = new_batch
        return new

    def _not_implemented(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"{type(self).__name__} does not implement {what}")

    @property
    def mean(self) -> Tensor:
        raise self._not_implemented("mean")

    @property
    def mode(self) -> Tensor:
        raise self._not_implemented("mode")

    @property
    def variance(self) -> Tensor:
        raise self._not_implemented("variance")

    def cdf(self, value: Any) -> Tensor:
        raise self._not_implemented("cdf")

    def icdf(self, value: Any) -> Tensor:
        raise self._not_implemented("icdf")

    def entropy(self) -> Tensor:
        raise self._not_implemented("entropy")

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise self._not_implemented("enumerate_support")

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def _validate_sample(self, value: Any) -> None:
        """PyTorch's checks: a Tensor, shape broadcastable with batch+event, in the support."""
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        ev = len(self._event_shape)
        if ev and tuple(value.shape[-ev:]) != self._event_shape:
            raise ValueError(f"The right-most size of value must match event_shape: "
                             f"{tuple(value.shape)} vs {self._event_shape}.")
        full = self._batch_shape + self._event_shape
        try:
            xp.broadcast_shapes(tuple(value.shape), full)
        except ValueError:
            raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: "
                             f"{tuple(value.shape)} vs {full}.") from None
        if self.support is not None and not bool(xp.all(self.support.check(value))):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) to be within the support ({self.support}) of the "
                f"distribution {self!r}, but found invalid values:\n{value}")

    def __repr__(self) -> str:
        names = [k for k in self.arg_constraints if k in self.__dict__]
        args = ", ".join(f"{k}: {tuple(getattr(self, k).shape) or getattr(self, k)}"
                         for k in names)
        return f"{type(self).__name__}({args})"


def sum_rightmost(x: Tensor, n: int) -> Tensor:
    """x summed over its ``n`` rightmost dims."""
    return x.sum(tuple(range(-n, 0))) if n > 0 else x
