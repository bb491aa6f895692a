"""Bijections for ``TransformedDistribution`` (PyTorch's ``torch.distributions.transforms``).

A transform y = T(x) offers ``__call__``, ``inv`` (the inverse transform object, ``T.inv(y)``)
and ``log_abs_det_jacobian(x, y)`` = log |det ∂y/∂x|, summed over the transform's event dims.
``domain``/``codomain`` are constraints whose ``event_dim`` says how many rightmost dims
one Jacobian spans. ``sign`` (±1) says whether a monotone scalar map increases or decreases.
``cache_size=1`` remembers the last (x, y) pair so that ``inv(T(x))`` returns x itself
(PyTorch's remedy for inverses that lose precision, e.g. tanh near ±1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule.backend import xp
from chainrule.distributions._support import independent, open_interval
from chainrule.distributions.distribution import (
    Constraint,
    as_float_tensor,
    lower_cholesky,
    positive,
    real,
    simplex,
    sum_rightmost,
)
from chainrule.nn._functional.activation import logsigmoid, softplus
from chainrule.tensor import Tensor, tensor_of

__all__ = ["Transform", "ExpTransform", "AffineTransform", "SigmoidTransform",
           "TanhTransform", "SoftmaxTransform", "ComposeTransform", "PowerTransform",
           "AbsTransform", "SoftplusTransform", "IndependentTransform", "identity_transform",
           "StickBreakingTransform", "LowerCholeskyTransform"]

_unit_open = open_interval(0.0, 1.0, "Interval(lower_bound=0.0, upper_bound=1.0)")
_pm1_open = open_interval(-1.0, 1.0, "Interval(lower_bound=-1.0, upper_bound=1.0)")


class Transform:
    """Base: subclasses define ``_call`` (x → y), ``_inverse`` (y → x) and
    ``log_abs_det_jacobian``."""

    bijective = False
    sign = 1
    _parameter_free = False
    domain: Constraint = real
    codomain: Constraint = real

    def __init__(self, cache_size: int = 0) -> None:
        if cache_size not in (0, 1):
            raise ValueError("cache_size must be 0 or 1")
        self._cache_size = cache_size
        self._cached: tuple[Any, Any] | None = None
        self._inv: Transform | None = None

    @property
    def event_dim(self) -> int:
        if self.domain.event_dim == self.codomain.event_dim:
            return self.domain.event_dim
        raise ValueError("Please use either .domain.event_dim or .codomain.event_dim")

    @property
    def inv(self) -> Transform:
        if self._inv is None:
            self._inv = _InverseTransform(self)
        return self._inv

    def with_cache(self, cache_size: int = 1) -> Transform:
        """The same transform caching its last ``(x, y)`` pair (``cache_size`` 0 or 1)."""
        if self._cache_size == cache_size:
            return self
        return type(self)(*self._args(), cache_size=cache_size)

    def _args(self) -> tuple:
        """The constructor's arguments other than ``cache_size`` (for ``with_cache``)."""
        return ()

    def __call__(self, x: Tensor) -> Tensor:
        if self._cache_size and self._cached is not None and self._cached[0] is x:
            return self._cached[1]
        y = self._call(x)
        if self._cache_size:
            self._cached = (x, y)
        return y

    def _inv_call(self, y: Tensor) -> Tensor:
        if self._cache_size and self._cached is not None and self._cached[1] is y:
            return self._cached[0]
        x = self._inverse(y)
        if self._cache_size:
            self._cached = (x, y)
        return x

    def _call(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _inverse(self, y: Tensor) -> Tensor:
        raise NotImplementedError

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(shape)

    def __eq__(self, other: object) -> bool:
        # a transform without parameters equals any other of its class (so that two
        # LogNormals' chains compare equal); one with parameters only itself
        return self is other or (self._parameter_free and type(other) is type(self))

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _InverseTransform(Transform):
    """T⁻¹ of a transform T (``T.inv``): domain and codomain swapped, ladj negated."""

    def __init__(self, transform: Transform) -> None:
        super().__init__(cache_size=transform._cache_size)
        self._inv = transform

    def with_cache(self, cache_size: int = 1) -> Transform:
        return self._inv.with_cache(cache_size).inv

    @property
    def domain(self) -> Constraint:  # type: ignore[override]
        return self._inv.codomain

    @property
    def codomain(self) -> Constraint:  # type: ignore[override]
        return self._inv.domain

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return self._inv.bijective

    @property
    def sign(self) -> int:  # type: ignore[override]
        return self._inv.sign

    @property
    def inv(self) -> Transform:
        return self._inv

    def __call__(self, x: Tensor) -> Tensor:
        return self._inv._inv_call(x)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return -self._inv.log_abs_det_jacobian(y, x)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self._inv.inverse_shape(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self._inv.forward_shape(shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _InverseTransform) and self._inv == other._inv

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"{self._inv!r}.inv"


class ExpTransform(Transform):
    """y = eˣ; log|dy/dx| = x."""

    domain, codomain, bijective, sign = real, positive, True, 1
    _parameter_free = True

    def _call(self, x: Tensor) -> Tensor:
        return x.exp()

    def _inverse(self, y: Tensor) -> Tensor:
        return y.log()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return x


class PowerTransform(Transform):
    """y = xᵖ on x > 0; log|dy/dx| = log|p y / x|."""

    domain, codomain, bijective = positive, positive, True

    def __init__(self, exponent: Any, cache_size: int = 0) -> None:
        super().__init__(cache_size)
        self.exponent = as_float_tensor(exponent)

    def _args(self) -> tuple:
        return (self.exponent,)

    @property
    def sign(self) -> Any:  # type: ignore[override]
        return self.exponent.sign()

    def _call(self, x: Tensor) -> Tensor:
        return x.pow(self.exponent)

    def _inverse(self, y: Tensor) -> Tensor:
        return y.pow(1 / self.exponent)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return (self.exponent * y / x).abs().log()


class SigmoidTransform(Transform):
    """y = σ(x) on (0, 1); log|dy/dx| = -softplus(-x) - softplus(x); the inverse clamps y
    into [tiny, 1 - eps] before the logit (as PyTorch does)."""

    domain, codomain, bijective, sign = real, _unit_open, True, 1
    _parameter_free = True

    def _call(self, x: Tensor) -> Tensor:
        fi = xp.finfo(x.dtype)
        return x.sigmoid().clamp(float(fi.tiny), 1 - float(fi.eps))

    def _inverse(self, y: Tensor) -> Tensor:
        fi = xp.finfo(y.dtype)
        y = y.clamp(float(fi.tiny), 1 - float(fi.eps))
        return y.log() - (-y).log1p()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return -softplus(-x) - softplus(x)


class TanhTransform(Transform):
    """y = tanh(x) on (-1, 1); log|dy/dx| = log(1 - tanh²x) = 2 (log 2 - x - softplus(-2x))
    (the stable form); the inverse is atanh(y) = ½ (log1p(y) - log1p(-y)), unclamped: use
    ``cache_size=1`` when inverting samples near ±1."""

    domain, codomain, bijective, sign = real, _pm1_open, True, 1
    _parameter_free = True

    def _call(self, x: Tensor) -> Tensor:
        return x.tanh()

    def _inverse(self, y: Tensor) -> Tensor:
        return 0.5 * (y.log1p() - (-y).log1p())

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return 2.0 * (math.log(2.0) - x - softplus(-2.0 * x))


class SoftplusTransform(Transform):
    """y = log(1 + eˣ); log|dy/dx| = -softplus(-x); inverse log(expm1(y))."""

    domain, codomain, bijective, sign = real, positive, True, 1
    _parameter_free = True

    def _call(self, x: Tensor) -> Tensor:
        return softplus(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return (-y).expm1().neg().log() + y

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return -softplus(-x)


class AbsTransform(Transform):
    """y = |x| (not bijective: the inverse returns y, the positive branch)."""

    domain, codomain = real, Constraint("GreaterThanEq(lower_bound=0.0)", lambda v: v >= 0)
    _parameter_free = True

    def _call(self, x: Tensor) -> Tensor:
        return x.abs()

    def _inverse(self, y: Tensor) -> Tensor:
        return y


class AffineTransform(Transform):
    """y = loc + scale·x; log|dy/dx| = log|scale| per element, summed over ``event_dim``
    rightmost dims."""

    bijective = True

    def __init__(self, loc: Any, scale: Any, event_dim: int = 0, cache_size: int = 0) -> None:
        super().__init__(cache_size)
        self.loc, self.scale = loc, scale
        self._event_dim = event_dim

    def _args(self) -> tuple:
        return (self.loc, self.scale, self._event_dim)

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self._event_dim

    @property
    def domain(self) -> Constraint:  # type: ignore[override]
        return real if self._event_dim == 0 else independent(real, self._event_dim)

    codomain = domain

    @property
    def sign(self) -> Any:  # type: ignore[override]
        """±1 for a number scale, the elementwise sign Tensor for a Tensor one."""
        s = self.scale
        if isinstance(s, (int, float)):
            return 1 if s > 0 else -1 if s < 0 else 0
        return s.sign()

    def _call(self, x: Tensor) -> Tensor:
        return self.loc + self.scale * x

    def _inverse(self, y: Tensor) -> Tensor:
        return (y - self.loc) / self.scale

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        s = self.scale
        if isinstance(s, (int, float)):
            out = tensor_of(xp.full(tuple(x.shape), math.log(abs(s)), dtype=x.dtype))
        else:
            out = s.abs().log()
        shape = tuple(x.shape)
        if self._event_dim:
            out = out.expand(tuple(xp.broadcast_shapes(tuple(out.shape), shape)))
            return sum_rightmost(out, self._event_dim)
        return out.expand(tuple(xp.broadcast_shapes(tuple(out.shape), shape)))

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(xp.broadcast_shapes(tuple(shape), tuple(getattr(self.loc, "shape", ())),
                                         tuple(getattr(self.scale, "shape", ()))))

    inverse_shape = forward_shape


class SoftmaxTransform(Transform):
    """y = softmax(x) over the last dim (not bijective; the inverse is log y, up to a
    constant); no log_abs_det_jacobian (as in PyTorch)."""

    domain, codomain = independent(real, 1), simplex
    _parameter_free = True

    def _call(self, x: Tensor) -> Tensor:
        return x.softmax(-1)

    def _inverse(self, y: Tensor) -> Tensor:
        return y.log()


class IndependentTransform(Transform):
    """``base_transform`` with ``reinterpreted_batch_ndims`` more rightmost dims in its event:
    the ladj is summed over them."""

    def __init__(self, base_transform: Transform, reinterpreted_batch_ndims: int,
                 cache_size: int = 0) -> None:
        super().__init__(cache_size)
        self.base_transform, self.reinterpreted_batch_ndims = \
            base_transform, reinterpreted_batch_ndims

    def _args(self) -> tuple:
        return (self.base_transform, self.reinterpreted_batch_ndims)

    @property
    def domain(self) -> Constraint:  # type: ignore[override]
        return independent(self.base_transform.domain, self.reinterpreted_batch_ndims)

    @property
    def codomain(self) -> Constraint:  # type: ignore[override]
        return independent(self.base_transform.codomain, self.reinterpreted_batch_ndims)

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return self.base_transform.bijective

    @property
    def sign(self) -> int:  # type: ignore[override]
        return self.base_transform.sign

    def _call(self, x: Tensor) -> Tensor:
        return self.base_transform(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return self.base_transform.inv(y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return sum_rightmost(self.base_transform.log_abs_det_jacobian(x, y),
                             self.reinterpreted_batch_ndims)


class ComposeTransform(Transform):
    """parts[-1] ∘ … ∘ parts[0]; the ladj is the sum of the parts' ladjs, each summed over the
    dims by which the composite's event exceeds that part's at its position."""

    def __init__(self, parts: Sequence[Transform], cache_size: int = 0) -> None:
        super().__init__(cache_size)
        self.parts = list(parts)

    def _args(self) -> tuple:
        return (self.parts,)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ComposeTransform) and self.parts == other.parts

    __hash__ = object.__hash__

    def _event_dims(self) -> tuple[int, int]:
        """(domain event dim, codomain event dim) of the composite."""
        if not self.parts:
            return 0, 0
        dom = self.parts[-1].domain.event_dim
        for p in reversed(self.parts):
            dom += p.domain.event_dim - p.codomain.event_dim
            dom = max(dom, p.domain.event_dim)
        cod = dom
        for p in self.parts:
            cod += p.codomain.event_dim - p.domain.event_dim
        return dom, cod

    @property
    def domain(self) -> Constraint:  # type: ignore[override]
        if not self.parts:
            return real
        d = self.parts[0].domain
        extra = self._event_dims()[0] - d.event_dim
        return independent(d, extra) if extra > 0 else d

    @property
    def codomain(self) -> Constraint:  # type: ignore[override]
        if not self.parts:
            return real
        c = self.parts[-1].codomain
        extra = self._event_dims()[1] - c.event_dim
        return independent(c, extra) if extra > 0 else c

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return all(p.bijective for p in self.parts)

    @property
    def sign(self) -> Any:  # type: ignore[override]
        s: Any = 1
        for p in self.parts:
            s = s * p.sign
        return s

    @property
    def inv(self) -> Transform:
        if self._cache_size:  # the inverse that reads this transform's cached (x, y) pair
            return Transform.inv.fget(self)  # type: ignore[attr-defined]
        if self._inv is None:
            self._inv = ComposeTransform([p.inv for p in reversed(self.parts)])
            self._inv._inv = self
        return self._inv

    def _call(self, x: Tensor) -> Tensor:
        for p in self.parts:
            x = p(x)
        return x

    def _inverse(self, y: Tensor) -> Tensor:
        for p in reversed(self.parts):
            y = p.inv(y)
        return y

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        if not self.parts:
            return x * 0
        xs = [x]
        for p in self.parts[:-1]:
            xs.append(p(xs[-1]))
        xs.append(y)
        total: Tensor | None = None
        ev = self.domain.event_dim
        for p, a, b in zip(self.parts, xs[:-1], xs[1:]):
            term = sum_rightmost(p.log_abs_det_jacobian(a, b), ev - p.domain.event_dim)
            total = term if total is None else total + term
            ev += p.codomain.event_dim - p.domain.event_dim
        return total  # type: ignore[return-value]

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        for p in self.parts:
            shape = p.forward_shape(shape)
        return tuple(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        for p in reversed(self.parts):
            shape = p.inverse_shape(shape)
        return tuple(shape)

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(p) for p in self.parts)
        return f"ComposeTransform(\n    {inner}\n)"


identity_transform = ComposeTransform([])


def _clipped_sigmoid(x: Tensor) -> Tensor:
    """sigmoid(x) kept inside [tiny, 1 - eps] of x's dtype (so logs of it stay finite)."""
    fi = xp.finfo(x.dtype)
    return x.sigmoid().clamp(min=float(fi.tiny), max=float(1.0 - fi.eps))


# The simplex as a codomain spanning one event dim (PyTorch's ``simplex.event_dim`` is 1; the
# ``simplex`` used for parameter checks reduces the last dim itself).
_simplex_event = Constraint("Simplex()", lambda v: (v >= 0) & (
    abs(v.sum(-1, keepdims=True) - 1) < 1e-6), event_dim=1)


class StickBreakingTransform(Transform):
    """R^K → the (K+1)-simplex by stick breaking: with offsets o_i = K + 1 - i (i = 1..K),
    z_i = sigmoid(x_i - log o_i) is the fraction of what is left of the stick that piece i
    takes, y_i = z_i Π_{j<i}(1 - z_j) and y_{K+1} = Π_j (1 - z_j). The offsets map x = 0 to the
    uniform point. log|det J| = Σ_i (-x̃_i + logsigmoid(x̃_i) + log y_i), x̃_i = x_i - log o_i.
    Bijective (unlike ``SoftmaxTransform``), so it is ``biject_to(simplex)``."""

    domain, codomain, bijective = independent(real, 1), _simplex_event, True
    _parameter_free = True

    @staticmethod
    def _offset(x: Tensor, k: int) -> Tensor:
        return (k + 1 - x.new_ones(k).cumsum(-1)).log()

    def _call(self, x: Tensor) -> Tensor:
        k = x.shape[-1]
        z = _clipped_sigmoid(x - self._offset(x, k))
        z_cumprod = (1 - z).cumprod(-1)
        ones = x.new_ones(tuple(x.shape[:-1]) + (1,))
        return _cat_last([z, ones]) * _cat_last([ones, z_cumprod])

    def _inverse(self, y: Tensor) -> Tensor:
        y_crop = y[..., :-1]
        k = y_crop.shape[-1]
        offset = (y.shape[-1] - y.new_ones(k).cumsum(-1)).log()
        sf = (1 - y_crop.cumsum(-1)).clamp(min=float(xp.finfo(y.dtype).tiny))
        return y_crop.log() - sf.log() + offset

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        xt = x - self._offset(x, x.shape[-1])
        return (-xt + logsigmoid(xt) + y[..., :-1].log()).sum(-1)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        return tuple(shape[:-1]) + (shape[-1] + 1,)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        return tuple(shape[:-1]) + (shape[-1] - 1,)


class LowerCholeskyTransform(Transform):
    """A square matrix → a lower-triangular one with a positive diagonal: the strict lower
    triangle kept, the diagonal exponentiated (not bijective; ``transform_to(lower_cholesky)``)."""

    domain = independent(real, 2)
    codomain = lower_cholesky
    _parameter_free = True

    def _call(self, x: Tensor) -> Tensor:
        return x.tril(-1) + x.diagonal(dim1=-2, dim2=-1).exp().diag_embed()

    def _inverse(self, y: Tensor) -> Tensor:
        return y.tril(-1) + y.diagonal(dim1=-2, dim2=-1).log().diag_embed()


def _cat_last(parts: list[Tensor]) -> Tensor:
    from chainrule.tensor import cat

    return cat(parts, dim=-1)
