"""Factories (PyTorch's creation ops): tensors from data, filled tensors, ranges and random
tensors. Random draws come from ``chainrule.random`` generators (an explicit ``generator=`` or
the default one), never from a global NumPy state.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from chainrule import random as _random
from chainrule._device import data_device
from chainrule.autograd.engine import _GradMode
from chainrule.backend import (
    asarray,
    bool_,
    default_dtype,
    int64,
    to_dtype,
    xp,
)
from chainrule.tensor import Tensor, _data, _size_args, _wrap

__all__ = [
    "tensor",
    "as_tensor",
    "from_numpy",
    "zeros",
    "ones",
    "empty",
    "full",
    "zeros_like",
    "zeros_like_array",
    "ones_like",
    "empty_like",
    "full_like",
    "arange",
    "linspace",
    "logspace",
    "eye",
    "rand",
    "randn",
    "randint",
    "randperm",
    "normal",
    "rand_like",
    "randn_like",
    "randint_like",
    "bernoulli",
    "multinomial",
]


_COMMON_KEYWORDS = ("device", "layout", "pin_memory", "memory_format", "requires_grad")


def _write_out(out: Any, t: Tensor, dtype_given: bool, name: str) -> Tensor:
    """``out=``: the result written into ``out`` (resized when its shape differs, as PyTorch
    does), and ``out`` returned."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if out.requires_grad and _GradMode.enabled:
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    if dtype_given and t.dtype != out.dtype:
        raise RuntimeError(f"{name}(): dtype {t.dtype} does not match the dtype of out= "
                           f"({out.dtype})")
    if out.shape != t.shape:
        out._array = t._array.astype(out.dtype)
    else:
        xp.copyto(out._array, t._array, casting="unsafe")
    out._bump_version()
    return out


def _factory(with_out: bool) -> Callable[[Callable], Callable]:
    """Give a factory PyTorch's keywords that it does not take itself: ``device=`` (checked:
    only the CPU), ``layout=``/``pin_memory=``/``memory_format=`` (accepted, nothing to do on
    dense CPU arrays), ``requires_grad=``, and ``out=`` where PyTorch's factory has it."""

    def wrap(f: Callable) -> Callable:
        params = inspect.signature(f).parameters
        own = set(params)
        extra_names = tuple(k for k in _COMMON_KEYWORDS if k not in own)
        # zeros(size=(2, 3)): PyTorch's keyword for the shape the factory takes as *size
        size_varargs = "size" in params and params["size"].kind is inspect.Parameter.VAR_POSITIONAL

        @functools.wraps(f)
        def g(*args: Any, **kw: Any) -> Tensor:
            if size_varargs and "size" in kw:
                if args:
                    raise TypeError(f"{f.__name__}() got multiple values for argument 'size'")
                args = (kw.pop("size"),)
            out = kw.pop("out", None) if with_out else None
            extra = {k: kw.pop(k) for k in extra_names if k in kw}
            if extra.get("device") is not None:
                _check_device(extra["device"])
            layout = extra.get("layout")
            if layout is not None and "strided" not in str(layout):
                raise RuntimeError(f"{f.__name__}(): layout {layout} is not supported (only "
                                   "strided)")
            t = f(*args, **kw)
            if out is not None:
                t = _write_out(out, t, kw.get("dtype") is not None, f.__name__)
            if extra.get("requires_grad"):
                t.requires_grad_(True)
            return t

        return g

    return wrap


@_factory(with_out=False)
def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Make a tensor from Python data or an array (copying it), with PyTorch's dtype rules.

    Example::

        chainrule.tensor([[1, 2], [3, 4]])                  # int64
        chainrule.tensor([0.5, 1.5], requires_grad=True)    # float32
    """
    if device is not None:
        _check_device(device)
    if isinstance(data, Tensor):
        arr = data._array.astype(to_dtype(dtype)) if dtype is not None else data._array.copy()
    elif isinstance(data, (list, tuple)) and data and isinstance(data[0], Tensor):
        arr = xp.stack([d._array for d in data])
        arr = arr.astype(to_dtype(dtype)) if dtype is not None else arr
    else:
        arr = asarray(data, dtype)
        if isinstance(data, xp.ndarray) and arr is data:
            arr = arr.copy()
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array (or returns a Tensor as is)."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    return _wrap(asarray(data, dtype))


def from_numpy(a: xp.ndarray) -> Tensor:
    """A tensor sharing memory with ``a`` (its dtype kept)."""
    if not isinstance(a, xp.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    return _wrap(a)


def _check_device(d: Any) -> None:
    data_device(d)


def _filled(fill: Callable[[tuple[int, ...], xp.dtype], xp.ndarray], size: tuple,
            dtype: Any, requires_grad: bool, device: Any) -> Tensor:
    if device is not None:
        _check_device(device)
    shape = _size_args(size)
    t = _wrap(fill(shape, to_dtype(dtype)))
    if requires_grad:
        t.requires_grad_(True)
    return t


@_factory(with_out=True)
def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(lambda s, d: xp.zeros(s, d), size, dtype, requires_grad, device)


@_factory(with_out=True)
def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(lambda s, d: xp.ones(s, d), size, dtype, requires_grad, device)


@_factory(with_out=True)
def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(lambda s, d: xp.empty(s, d), size, dtype, requires_grad, device)


@_factory(with_out=True)
def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = (bool_ if isinstance(fill_value, bool) else
                 int64 if isinstance(fill_value, int) else default_dtype())
    size = (size,) if isinstance(size, int) else tuple(size)
    return _filled(lambda s, d: xp.full(s, fill_value, d), size, dtype, requires_grad, device)


def _like(x: Tensor, dtype: Any) -> xp.dtype:
    return to_dtype(dtype) if dtype is not None else x.dtype


@_factory(with_out=False)
def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False, **_: Any) -> Tensor:
    return zeros(x.shape, dtype=_like(x, dtype), requires_grad=requires_grad)


def zeros_like_array(a: xp.ndarray, dtype: Any = None) -> Tensor:
    return _wrap(xp.zeros(a.shape, dtype=dtype or a.dtype))


@_factory(with_out=False)
def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False, **_: Any) -> Tensor:
    return ones(x.shape, dtype=_like(x, dtype), requires_grad=requires_grad)


@_factory(with_out=False)
def empty_like(x: Tensor, dtype: Any = None, requires_grad: bool = False, **_: Any) -> Tensor:
    return empty(x.shape, dtype=_like(x, dtype), requires_grad=requires_grad)


@_factory(with_out=False)
def full_like(x: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
              **_: Any) -> Tensor:
    return full(x.shape, fill_value, dtype=_like(x, dtype), requires_grad=requires_grad)


@_factory(with_out=True)
def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 unless a float is given."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, xp.integer)) for v in (start, end, step))
        dtype = int64 if is_int else default_dtype()
    return _filled(lambda s, d: xp.arange(start, end, step).astype(d), (), dtype,
                   requires_grad, device)


@_factory(with_out=True)
def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    return _filled(lambda s, d: xp.linspace(start, end, steps).astype(d), (), dtype,
                   requires_grad, device)


@_factory(with_out=True)
def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype: Any = None) -> Tensor:
    return _filled(lambda s, d: xp.logspace(start, end, steps, base=base).astype(d), (), dtype,
                   False, None)


@_factory(with_out=True)
def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    return _filled(lambda s, d: xp.eye(n, m, dtype=d), (), dtype, requires_grad, device)


@_factory(with_out=True)
def rand(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    r = _random.rng(generator)
    return _filled(lambda s, d: r.random(s).astype(d), size, dtype, requires_grad, device)


@_factory(with_out=True)
def randn(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    r = _random.rng(generator)
    return _filled(lambda s, d: r.standard_normal(s).astype(d), size, dtype, requires_grad, device)


@_factory(with_out=True)
def randint(low: int, high: int | None = None, size: Any = None, generator: Any = None,
            dtype: Any = None, device: Any = None) -> Tensor:
    """Integers uniform on [low, high); ``randint(high, size)`` as PyTorch's two-argument form."""
    if size is None and isinstance(high, (tuple, list)):
        high, size = None, high  # randint(high, size)
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    size = (size,) if isinstance(size, int) else tuple(size)
    r = _random.rng(generator)
    return _filled(lambda s, d: r.integers(low, high, s).astype(d), size,
                   dtype if dtype is not None else int64, False, device)


@_factory(with_out=True)
def randperm(n: int, generator: Any = None, dtype: Any = None, device: Any = None) -> Tensor:
    return _wrap(_random.rng(generator).permutation(n).astype(to_dtype(dtype or int64)))


@_factory(with_out=True)
def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, generator: Any = None,
           dtype: Any = None) -> Tensor:
    """Normal samples with the given mean and std (scalars with ``size``, or tensors)."""
    m, s = _data(mean), _data(std)
    if size is None:
        size = xp.broadcast_shapes(xp.shape(m), xp.shape(s))
    size = (size,) if isinstance(size, int) else tuple(size)
    out = _random.rng(generator).normal(m, s, size)
    d = to_dtype(dtype) if dtype is not None else (
        m.dtype if isinstance(m, xp.ndarray) else default_dtype())
    return _wrap(out.astype(d))


@_factory(with_out=False)
def rand_like(x: Tensor, generator: Any = None, dtype: Any = None) -> Tensor:
    return rand(x.shape, generator=generator, dtype=_like(x, dtype))


@_factory(with_out=False)
def randn_like(x: Tensor, generator: Any = None, dtype: Any = None) -> Tensor:
    return randn(x.shape, generator=generator, dtype=_like(x, dtype))


@_factory(with_out=False)
def randint_like(x: Tensor, low: int, high: int | None = None, generator: Any = None,
                 dtype: Any = None) -> Tensor:
    return randint(low, high, x.shape, generator=generator, dtype=_like(x, dtype))


@_factory(with_out=True)
def bernoulli(p: Any, generator: Any = None) -> Tensor:
    pd = _data(p)
    return _wrap((_random.rng(generator).random(xp.shape(pd)) < pd).astype(
        pd.dtype if isinstance(pd, xp.ndarray) else default_dtype()))


@_factory(with_out=True)
def multinomial(probs: Any, num_samples: int, replacement: bool = False,
                generator: Any = None) -> Tensor:
    p = xp.asarray(_data(probs), dtype=xp.float64)
    r = _random.rng(generator)
    rows = p.reshape(-1, p.shape[-1])
    out = xp.stack([
        r.choice(rows.shape[1], size=num_samples, replace=replacement, p=row / row.sum())
        for row in rows
    ])
    return _wrap(out.reshape(p.shape[:-1] + (num_samples,)).astype(xp.int64))
