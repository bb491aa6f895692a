"""PyTorch's legacy typed tensor constructors: ``FloatTensor``, ``LongTensor``, ... and the
type-string form of ``Tensor.type()``.

In PyTorch these are not subclasses of ``Tensor`` but "tensor types": calling one builds a
Tensor of its dtype, and ``isinstance(x, torch.FloatTensor)`` is true exactly when ``x`` is a
(CPU) Tensor of dtype float32. The same holds here:

- ``FloatTensor(data)`` (a list, tuple, NumPy array) is ``tensor(data, dtype=float32)``;
- ``FloatTensor(t)`` for a float32 Tensor ``t`` is a new Tensor sharing ``t``'s storage (a
  ``TypeError`` when ``t`` has another dtype, as PyTorch);
- ``FloatTensor(2, 3)`` / ``FloatTensor(Size([2, 3]))`` is a tensor of that shape. PyTorch leaves
  it uninitialised (whatever was in memory); chainrule fills it with zeros, which is one of the
  values an uninitialised tensor may hold, so a program that overwrites it runs unchanged;
- ``FloatTensor()`` is an empty float32 tensor.

``Tensor.type()`` returns ``'chainrule.FloatTensor'`` where PyTorch returns
``'torch.FloatTensor'``; ``Tensor.type(t)`` casts to a typed class, a dtype or a type string
(``'torch.DoubleTensor'`` and ``'chainrule.DoubleTensor'`` are both accepted). The CUDA strings
(``'torch.cuda.FloatTensor'``) raise, since chainrule runs on the CPU only.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from chainrule import backend

__all__ = [
    "BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor", "HalfTensor",
    "IntTensor", "LongTensor", "ShortTensor", "tensor_type", "type_name",
]

# PyTorch's legacy names, in PyTorch's order.
_NAMES: dict[str, np.dtype] = {
    "FloatTensor": backend.float32,
    "DoubleTensor": backend.float64,
    "HalfTensor": backend.float16,
    "ByteTensor": backend.uint8,
    "CharTensor": backend.int8,
    "ShortTensor": backend.int16,
    "IntTensor": backend.int32,
    "LongTensor": backend.int64,
    "BoolTensor": backend.bool_,
}
_BY_DTYPE = {dt: name for name, dt in _NAMES.items()}


def _tensor_cls() -> type:
    from chainrule.tensor import Tensor

    return Tensor


def _shape_args(args: tuple) -> tuple[int, ...] | None:
    """The shape when ``args`` are sizes (ints, or one Size/tuple of ints), else None."""
    if len(args) == 1 and isinstance(args[0], tuple) and type(args[0]) is not tuple:
        args = tuple(args[0])  # a chainrule.Size (a tuple subclass): a shape, as PyTorch
    if args and all(isinstance(a, numbers.Integral) and not isinstance(a, (bool, np.bool_))
                    for a in args):
        shape = tuple(int(a) for a in args)
        for s in shape:
            if s < 0:
                raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                                   f"{list(shape)}")
        return shape
    return None


class _TensorTypeMeta(type):
    """The metaclass of the typed constructors: calling builds a Tensor, ``isinstance`` checks
    the dtype."""

    dtype: np.dtype

    def __call__(cls, *args: Any, device: Any = None) -> Any:
        from chainrule._device import data_device
        from chainrule.creation import tensor, zeros

        if device is not None:
            data_device(device)
        if not args:
            return zeros(0, dtype=cls.dtype)
        shape = _shape_args(args)
        if shape is not None:
            return zeros(shape, dtype=cls.dtype)
        if len(args) != 1:
            raise TypeError(f"{cls.__name__}() takes sizes (ints) or one sequence of data, "
                            f"got {len(args)} arguments")
        data = args[0]
        T = _tensor_cls()
        if isinstance(data, T):
            if data.dtype != cls.dtype:
                raise TypeError(f"{cls.__name__}(tensor) expects a tensor of dtype "
                                f"chainrule.{cls.dtype}, got chainrule.{data.dtype}")
            return data.detach()  # shares storage, as PyTorch
        if isinstance(data, (numbers.Number, np.generic)):
            raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
        return tensor(data, dtype=cls.dtype)

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, _tensor_cls()) and obj.dtype == cls.dtype

    def __repr__(cls) -> str:
        return f"<class 'chainrule.{cls.__name__}'>"


def _make(name: str, dtype: np.dtype) -> type:
    doc = (f"Legacy constructor: ``{name}(data)`` is a tensor of dtype {dtype} "
           f"(``{name}(*sizes)`` one of that shape, zero-filled); "
           f"``isinstance(x, {name})`` is true for {dtype} tensors.")
    return _TensorTypeMeta(name, (), {"dtype": dtype, "is_cuda": False, "is_sparse": False,
                                      "__doc__": doc, "__module__": "chainrule"})


FloatTensor = _make("FloatTensor", backend.float32)
DoubleTensor = _make("DoubleTensor", backend.float64)
HalfTensor = _make("HalfTensor", backend.float16)
ByteTensor = _make("ByteTensor", backend.uint8)
CharTensor = _make("CharTensor", backend.int8)
ShortTensor = _make("ShortTensor", backend.int16)
IntTensor = _make("IntTensor", backend.int32)
LongTensor = _make("LongTensor", backend.int64)
BoolTensor = _make("BoolTensor", backend.bool_)
TYPES: dict[str, type] = {name: globals()[name] for name in _NAMES}


class _CudaTensorTypeMeta(type):
    """``chainrule.cuda.FloatTensor`` ...: names that exist (so ``T = torch.cuda.FloatTensor if
    cuda else torch.FloatTensor`` runs), are never an instance, and refuse to build, as
    PyTorch without CUDA."""

    dtype: np.dtype

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"type chainrule.cuda.{cls.__name__} not available: chainrule runs on "
                        "the CPU only (chainrule.cuda.is_available() is False)")

    def __instancecheck__(cls, obj: Any) -> bool:
        return False

    def __repr__(cls) -> str:
        return f"<class 'chainrule.cuda.{cls.__name__}'>"


CUDA_TYPES: dict[str, type] = {
    name: _CudaTensorTypeMeta(name, (), {"dtype": dt, "is_cuda": True,
                                         "__module__": "chainrule.cuda"})
    for name, dt in _NAMES.items()
}


def type_name(dtype: Any) -> str:
    """``'chainrule.FloatTensor'`` for float32 etc. (PyTorch's ``Tensor.type()`` string with
    ``torch`` replaced by ``chainrule``)."""
    dt = np.dtype(dtype)
    name = _BY_DTYPE.get(dt)
    return f"chainrule.{name}" if name else f"chainrule.{dt}"


def _parse(spec: Any) -> np.dtype:
    """A typed class, a type string or a dtype, as the dtype it names."""
    if isinstance(spec, _TensorTypeMeta):
        return spec.dtype
    if isinstance(spec, _CudaTensorTypeMeta):
        raise RuntimeError(f"cannot cast to chainrule.cuda.{spec.__name__}: CUDA is not "
                           "available (chainrule runs on 'cpu' only)")
    if isinstance(spec, str):
        parts = spec.split(".")
        if len(parts) == 3 and parts[1] == "cuda":
            raise RuntimeError(f"cannot cast to {spec!r}: CUDA is not available (chainrule "
                               "runs on 'cpu' only)")
        if len(parts) == 2 and parts[0] in ("torch", "chainrule") and parts[1] in _NAMES:
            return _NAMES[parts[1]]
        if len(parts) == 2 and parts[1] == "BFloat16Tensor":  # torch's name, not NumPy's dtype
            from chainrule import _torch_extras

            _torch_extras.check_storable(_torch_extras.bfloat16)  # raises, saying why
        raise ValueError(f"invalid type: {spec!r}")
    return backend.to_dtype(spec)


def tensor_type(t: Any, dtype: Any = None, non_blocking: bool = False, **kwargs: Any) -> Any:
    """``Tensor.type()``: the type string (``'chainrule.FloatTensor'``) when no ``dtype`` is
    given; else ``t`` cast to ``dtype`` (a typed class such as ``chainrule.DoubleTensor``, a
    string ``'torch.DoubleTensor'`` / ``'chainrule.DoubleTensor'``, or a dtype). ``t`` itself is
    returned when it already has that dtype, as PyTorch. ``non_blocking`` has no effect (CPU)."""
    del non_blocking, kwargs  # (async copies and memory formats: nothing to do on the CPU)
    if dtype is None:
        return type_name(t.dtype)
    target = _parse(dtype)
    if target == t.dtype:
        return t
    return t.to(target)
