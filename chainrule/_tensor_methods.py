"""The Tensor methods made from tables rather than written out: the arithmetic operators and
their reflections (``x + o``, ``o + x``), the dtype shortcuts (``x.float()``), the unary math
methods (``x.exp()``), their in-place forms (``x.exp_()``), and NumPy's ``axis=`` /
``keepdims=`` spellings on every method that takes ``dim`` / ``keepdim``.

``chainrule.tensor`` calls :func:`install` once, right after it defines the class. Each
generated method is one small closure that calls the recorder directly (``record_binary``,
``record_unary``), so ``x + y`` costs no more than a hand-written ``__add__`` would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chainrule.autograd.function import Function, as_method
from chainrule.autograd.function import record as apply
from chainrule.autograd.function import record_binary as _binary
from chainrule.autograd.function import record_unary as _unary
from chainrule.backend import bool_, float32, float64, int32, int64, xp
from chainrule.ops import elementwise as E
from chainrule.tensor import _const

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

# x + o, o + x, ... : one derivative-carrying op each (``ops.elementwise``)
OPERATORS = (("add", E.Add), ("sub", E.Sub), ("mul", E.Mul), ("truediv", E.Div),
             ("mod", E.Remainder))
# x.float(), x.long(), ...: PyTorch's dtype shortcuts
CASTS = (("float", float32), ("double", float64), ("long", int64), ("int", int32),
         ("bool", bool_), ("half", xp.dtype(xp.float16)))
# x.exp(), x.tanh(), ...: one op each, through the flat one-input recorder
UNARY = (("exp", E.Exp), ("log", E.Log), ("log1p", E.Log1p), ("expm1", E.Expm1),
         ("sqrt", E.Sqrt), ("rsqrt", E.Rsqrt), ("abs", E.Abs), ("sin", E.Sin), ("cos", E.Cos),
         ("tanh", E.Tanh), ("sigmoid", E.Sigmoid), ("relu", E.Relu))
# x.exp_(), x.relu_(), ...: the op applied in place (see ``Tensor._inplace``)
INPLACE_UNARY = (("neg_", E.Neg), ("exp_", E.Exp), ("sqrt_", E.Sqrt), ("abs_", E.Abs),
                 ("relu_", E.Relu), ("sigmoid_", E.Sigmoid), ("tanh_", E.Tanh),
                 ("log_", E.Log), ("log1p_", E.Log1p), ("expm1_", E.Expm1), ("sin_", E.Sin),
                 ("cos_", E.Cos), ("rsqrt_", E.Rsqrt), ("reciprocal_", E.Reciprocal))
# x.sign_(), x.floor_(), ...: the piecewise-constant maps (zero gradient) in place
INPLACE_STEPS = ("sign", "floor", "ceil", "trunc")


def _operator_pair(cls: type[Function]) -> tuple[Callable, Callable]:
    """``x op o`` (the flat ``_binary`` recorder itself, bound to ``cls``) and the reflected
    ``o op x`` for Python numbers and arrays on the left."""
    forward = as_method(_binary, cls, "forward")

    def reflected(self: Tensor, o: Any) -> Tensor:
        return apply(cls, _const(o), self)

    return forward, reflected


def _cast_to(dtype: Any) -> Callable:
    def method(self: Tensor) -> Tensor:
        return self.to(dtype)

    return method


def _unary_method(cls: type[Function]) -> Callable:
    return as_method(_unary, cls, "method")  # (the recorder itself, bound to cls)


def _inplace_unary(cls: type[Function]) -> Callable:
    def method(self: Tensor) -> Tensor:
        return self._inplace(cls)

    return method


def _inplace_step(fn: str) -> Callable:
    def method(self: Tensor) -> Tensor:
        return self._inplace(E.ZeroGrad, fn=fn)

    return method


def _set(cls: type, name: str, method: Callable, doc: str | None = None) -> None:
    method.__name__, method.__qualname__ = name, f"{cls.__name__}.{name}"
    if doc is not None:
        method.__doc__ = doc
    setattr(cls, name, method)


# ---- NumPy's spellings of dim / keepdim ------------------------------------------------------
_NUMPY_SPELLINGS = {"axis": "dim", "keepdims": "keepdim"}


def _torch_kwargs(name: str, kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` with NumPy's ``axis=``/``keepdims=`` renamed to ``dim=``/``keepdim=`` (PyTorch's
    argument parser accepts both spellings wherever a function takes ``dim``/``keepdim``)."""
    out = {}
    for k, v in kw.items():
        torch_name = _NUMPY_SPELLINGS.get(k, k)
        if torch_name in out or (torch_name != k and torch_name in kw):
            raise TypeError(f"{name}() got both {torch_name}= and its NumPy spelling {k}=")
        out[torch_name] = v
    return out


def _accept_numpy_spellings(f: Callable) -> Callable:
    """Wrap ``f`` (which takes ``dim``/``keepdim``) so ``axis=``/``keepdims=`` work too."""
    name = f.__name__

    def g(*args: Any, **kw: Any) -> Any:
        if kw and ("axis" in kw or "keepdims" in kw):
            kw = _torch_kwargs(name, kw)
        return f(*args, **kw)

    g.__name__, g.__qualname__, g.__doc__, g.__wrapped__ = name, f.__qualname__, f.__doc__, f
    return g


def _takes_dim(f: Any) -> bool:
    code = getattr(f, "__code__", None)
    if code is None:
        return False
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    return "dim" in names or "keepdim" in names


def install(tensor_cls: type) -> None:
    """Add the generated methods to ``tensor_cls``, then let every method that takes ``dim`` /
    ``keepdim`` (on the class or a base: ``_ShapeMethods``) accept NumPy's spellings."""
    for name, op in OPERATORS:
        fwd, ref = _operator_pair(op)
        _set(tensor_cls, f"__{name}__", fwd)
        _set(tensor_cls, f"__r{name}__", ref)
    for name, dtype in CASTS:
        _set(tensor_cls, name, _cast_to(dtype))
    for name, op in UNARY:
        _set(tensor_cls, name, _unary_method(op), (op.__doc__ or "").split(";")[0].strip())
    tensor_cls.absolute = tensor_cls.abs
    for name, op in INPLACE_UNARY:
        _set(tensor_cls, name, _inplace_unary(op))
    for name in INPLACE_STEPS:
        _set(tensor_cls, name + "_", _inplace_step(name))
    for klass in tensor_cls.__mro__[:-1]:  # (not object)
        for name, f in list(vars(klass).items()):
            if _takes_dim(f):
                setattr(klass, name, _accept_numpy_spellings(f))
