"""PyTorch's ``torch._foreach_*`` functions: one operation applied to every tensor of a list.

PyTorch fuses these into few kernels (optimizers and EMA helpers call them on all parameters
at once); here each is a loop over the list calling the Tensor method of the same name, so
the results, in-place semantics, autograd checks and error messages are the single-tensor
ones. An in-place form returns the list of its (changed) tensors. The second operand may be
a Python number (the same for every tensor), a list of numbers, a list of tensors, or one
tensor (broadcast to each), as in PyTorch.

Example (an exponential moving average of parameters)::

    with torch.no_grad():
        torch._foreach_mul_(ema_params, decay)
        torch._foreach_add_(ema_params, params, alpha=1 - decay)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule.tensor import Tensor

__all__ = ["FUNCTIONS"]


def _lists(name: str, tensors: Any, *others: Any) -> list:
    """The per-tensor second (third ...) operands, each list checked against ``tensors``."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, Sequence):
        raise TypeError(f"{name}: expected a list of tensors, got {type(tensors).__name__}")
    out = []
    for other in others:
        if isinstance(other, (list, tuple)):
            if len(other) != len(tensors):
                raise RuntimeError(f"{name}: Tensor lists must have the same number of tensors, "
                                   f"got {len(tensors)} and {len(other)}")
            out.append(list(other))
        else:
            out.append([other] * len(tensors))
    return out


def _named(fn: Callable[..., Any], method: str, doc: str) -> Callable[..., Any]:
    """Give a generated ``_foreach_<method>`` its torch name and a docstring (``{m}``/``{n}``
    in ``doc`` stand for the method and the function name)."""
    name = f"_foreach_{method}"
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc.format(m=method, n=name)
    return fn


def _unary(method: str, inplace: bool) -> Callable[..., Any]:
    name = f"_foreach_{method}"

    def fn(self: Sequence[Tensor]) -> Any:
        _lists(name, self)
        results = [getattr(t, method)() for t in self]
        return list(self) if inplace else results

    return _named(fn, method, "``[t.{m}() for t in self]`` (PyTorch's ``torch.{n}``).")


def _binary(method: str, inplace: bool, with_alpha: bool = False) -> Callable[..., Any]:
    name = f"_foreach_{method}"

    def fn(self: Sequence[Tensor], other: Any, **kwargs: Any) -> Any:
        (others,) = _lists(name, self, other)
        if kwargs and not with_alpha:
            raise TypeError(f"{name}() got unexpected keyword arguments {sorted(kwargs)}")
        results = [getattr(t, method)(o, **kwargs) for t, o in zip(self, others)]
        return list(self) if inplace else results

    return _named(fn, method, "``[t.{m}(o) for t, o in zip(self, other)]`` (``torch.{n}``).")


def _addc(method: str, inplace: bool) -> Callable[..., Any]:
    """addcmul / addcdiv: ``t + value · (a·b or a/b)``, ``value`` a number or a list of them."""

    name = f"_foreach_{method}"

    def fn(self: Sequence[Tensor], tensor1: Any, tensor2: Any, value: Any = 1) -> Any:
        t1, t2, values = _lists(name, self, tensor1, tensor2, value)
        results = [getattr(t, method)(a, b, value=v) for t, a, b, v in zip(self, t1, t2, values)]
        return list(self) if inplace else results

    return _named(fn, method, "``t.{m}(a, b, value=v)`` for each tensor (``torch.{n}``).")


def _lerp(method: str, inplace: bool) -> Callable[..., Any]:
    """``t + weight · (end − t)``, ``weight`` a number or a list of tensors."""

    name = f"_foreach_{method}"

    def fn(self: Sequence[Tensor], tensors1: Any, weight: Any) -> Any:
        ends, weights = _lists(name, self, tensors1, weight)
        results = [getattr(t, method)(e, w) for t, e, w in zip(self, ends, weights)]
        return list(self) if inplace else results

    return _named(fn, method, "``t.{m}(end, weight)`` for each tensor (``torch.{n}``).")


def _foreach_zero_(self: Sequence[Tensor]) -> list[Tensor]:
    """Every tensor filled with zeros in place."""
    _lists("_foreach_zero_", self)
    for t in self:
        t.zero_()
    return list(self)


def _foreach_copy_(self: Sequence[Tensor], src: Sequence[Tensor],
                   non_blocking: bool = False) -> list[Tensor]:
    """``t.copy_(s)`` for each pair."""
    (srcs,) = _lists("_foreach_copy_", self, src)
    for t, s in zip(self, srcs):
        t.copy_(s)
    return list(self)


def _foreach_norm(self: Sequence[Tensor], ord: float = 2, dtype: Any = None) -> list[Tensor]:
    """The ``ord``-norm of each tensor (flattened), as ``torch._foreach_norm``."""
    _lists("_foreach_norm", self)
    out = [t.norm(ord) for t in self]
    return out if dtype is None else [n.to(dtype) for n in out]


def _extremum(which: str, inplace: bool) -> Callable[..., Any]:
    def fn(self: Sequence[Tensor], other: Any) -> Any:
        (others,) = _lists(name, self, other)
        results = [getattr(t, which)(o if isinstance(o, Tensor) else _like(t, o))
                   for t, o in zip(self, others)]
        if not inplace:
            return results
        for t, r in zip(self, results):
            t.copy_(r)
        return list(self)

    name = f"_foreach_{which}" + ("_" if inplace else "")
    fn.__name__ = fn.__qualname__ = name
    return fn


def _like(t: Tensor, value: float) -> Tensor:
    from chainrule.creation import full_like

    return full_like(t, value)


_UNARY = ("sqrt", "neg", "abs", "exp", "log", "reciprocal", "sign", "sigmoid", "tanh", "sin",
          "cos", "floor", "ceil", "round", "trunc", "frac", "expm1", "log1p", "rsqrt")
_BINARY = ("mul", "div", "pow", "clamp_min", "clamp_max")

FUNCTIONS: dict[str, Callable[..., Any]] = {}
for _m in _UNARY:
    FUNCTIONS[f"_foreach_{_m}"] = _unary(_m, False)
    FUNCTIONS[f"_foreach_{_m}_"] = _unary(_m + "_", True)
for _m in _BINARY:
    FUNCTIONS[f"_foreach_{_m}"] = _binary(_m, False)
    FUNCTIONS[f"_foreach_{_m}_"] = _binary(_m + "_", True)
for _m in ("add", "sub"):
    FUNCTIONS[f"_foreach_{_m}"] = _binary(_m, False, with_alpha=True)
    FUNCTIONS[f"_foreach_{_m}_"] = _binary(_m + "_", True, with_alpha=True)
for _m in ("addcmul", "addcdiv"):
    FUNCTIONS[f"_foreach_{_m}"] = _addc(_m, False)
    FUNCTIONS[f"_foreach_{_m}_"] = _addc(_m + "_", True)
FUNCTIONS["_foreach_lerp"] = _lerp("lerp", False)
FUNCTIONS["_foreach_lerp_"] = _lerp("lerp_", True)
for _m in ("maximum", "minimum"):
    FUNCTIONS[f"_foreach_{_m}"] = _extremum(_m, False)
    FUNCTIONS[f"_foreach_{_m}_"] = _extremum(_m, True)
FUNCTIONS.update(_foreach_zero_=_foreach_zero_, _foreach_copy_=_foreach_copy_,
                 _foreach_norm=_foreach_norm)
