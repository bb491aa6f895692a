"""Tensor methods PyTorch programs use that chainrule lacked: the method forms of
:mod:`chainrule._torch_extras`, aliases, in-place forms, dtype casts and cheap storage/device
queries (``is_cpu``, ``storage_offset()``, ``pin_memory()``...).

Attached once at import, from :data:`TENSOR_METHODS`; a name the Tensor class already has is
left alone (the core definitions win). In-place forms follow the core rule (see
``chainrule._more_functions._inplace``): recorded on a snapshot of the tensor, then committed
into its storage, bumping the version.
"""

from __future__ import annotations

import builtins
import math
import weakref
from collections.abc import Callable
from typing import Any

from chainrule import _more_functions as _more
from chainrule import _torch_extras as X
from chainrule import fft as _fft
from chainrule._device import is_meta_placeholder
from chainrule._tensor_methods import _accept_numpy_spellings
from chainrule.autograd import engine as _engine
from chainrule.autograd.function import _GradMode
from chainrule.backend import xp
from chainrule.tensor import Tensor, _size_args, _wrap


# ---- casts and cheap queries ------------------------------------------------------------------
def _cast(dtype: Any) -> Callable[..., Tensor]:
    def method(self: Tensor, memory_format: Any = None) -> Tensor:
        return self.to(dtype)

    method.__doc__ = f"This tensor as {dtype} (itself when it already is)."
    return method


def _bfloat16(self: Tensor, memory_format: Any = None) -> Tensor:
    """Refused: NumPy has no bfloat16 (docs/pytorch.md)."""
    X.check_storable(X.bfloat16)
    raise AssertionError("unreachable")  # pragma: no cover


def _get_device(self: Tensor) -> int:
    """-1: the CPU (PyTorch's answer for CPU tensors)."""
    return -1


def _false(self: Tensor, *args: Any, **kw: Any) -> bool:
    return False


def _itself(self: Tensor, *args: Any, **kw: Any) -> Tensor:
    return self


def _storage_offset(self: Tensor) -> int:
    """The element offset of this view into the array it was cut from (0 for a tensor that
    owns its storage)."""
    a = self._array
    root = a
    while isinstance(root.base, xp.ndarray):
        root = root.base
    if root is a or not isinstance(a, xp.ndarray):
        return 0
    start = a.__array_interface__["data"][0]
    return builtins.int((start - root.__array_interface__["data"][0]) // a.itemsize)


def _output_nr(self: Tensor) -> int:
    """0: chainrule ops have one output each."""
    return 0


def _contiguous(self: Tensor, memory_format: Any = None) -> Tensor:
    """Itself when C-contiguous, else a copy. chainrule storage is always C-ordered, so
    ``memory_format`` (e.g. ``chainrule.channels_last``) is accepted and has no effect."""
    return self if self._array.flags.c_contiguous else self.clone()


_core_cumsum, _core_cumprod = Tensor.cumsum, Tensor.cumprod
_np_int64 = X.xp.dtype(X.xp.int64)


def _cumsum(self: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """y_i = Σ_{j≤i} x_j along ``dim``, computed in ``dtype`` when given (the input is cast
    first, as PyTorch)."""
    if dtype is None:
        return _core_cumsum(self, dim)
    x = self.to(dtype)
    # the core sum widens small integers to int64; an explicit dtype is kept, as PyTorch
    return _core_cumsum(x, dim).to(x.dtype)


def _cumprod(self: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """y_i = Π_{j≤i} x_j along ``dim``, in ``dtype`` when given; bool and integer inputs give
    int64, as PyTorch (as ``cumsum`` does)."""
    if dtype is None and self.dtype.kind in "bui":
        dtype = _np_int64
    return _core_cumprod(self if dtype is None else self.to(dtype), dim)


def _new(self: Tensor, *args: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """The legacy constructor: ``x.new()`` (empty), ``x.new(2, 3)`` or ``x.new(Size)``
    (uninitialised), ``x.new(data)`` (a list, tuple or tensor), in x's dtype."""
    from chainrule.types import Size

    dt = dtype if dtype is not None else self.dtype
    if not args:
        return self.new_empty((0,), dtype=dt)
    if builtins.all(isinstance(a, builtins.int) and not isinstance(a, builtins.bool)
                    for a in args) or (len(args) == 1 and isinstance(args[0], Size)):
        return self.new_empty(_size_args(args), dtype=dt)
    if len(args) == 1:
        return self.new_tensor(args[0], dtype=dt)
    raise TypeError(f"new(): expected sizes or one sequence of data, got {args!r}")


def _resize_(self: Tensor, *sizes: Any, memory_format: Any = None) -> Tensor:
    """Give this tensor the shape ``sizes``: the first elements (row-major) are kept, new ones
    are uninitialised; the storage is kept when it is large enough. Refused on a tensor that
    requires grad, as PyTorch."""
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    shape = _size_args(sizes)
    if builtins.any(s < 0 for s in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(shape)}")
    n = math.prod(shape)
    a = self._array
    if n <= a.size and a.flags.c_contiguous:
        self._array = a.reshape(-1)[:n].reshape(shape)
    else:
        new = xp.empty(n, a.dtype)
        k = builtins.min(n, a.size)
        new[:k] = a.reshape(-1)[:k]
        self._array = new.reshape(shape)
    self._bump_version()
    return self


def _resize_as_(self: Tensor, the_template: Tensor, memory_format: Any = None) -> Tensor:
    return _resize_(self, tuple(the_template.shape))


def _register_post_accumulate_grad_hook(self: Tensor, hook: Callable[[Tensor], None]) -> Any:
    """Call ``hook(tensor)`` right after backward accumulates this leaf's ``.grad`` (e.g. to
    step an optimizer per parameter). Returns a handle with ``remove()``."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                           "tensors")
    from chainrule.utils.hooks import RemovableHandle

    table = _engine.post_accumulate_grad_hooks
    key = builtins.id(self)
    entry = table.get(key)
    if entry is None or entry[0]() is not self:
        entry = (weakref.ref(self, lambda _r, k=key: table.pop(k, None)), {})
        table[key] = entry
    handle = RemovableHandle(entry[1])
    entry[1][handle.id] = hook
    return handle


def _bernoulli(self: Tensor, p: Any = None, *, generator: Any = None) -> Tensor:
    """Draws 0/1 with probabilities ``self`` (or the constant ``p``), in self's dtype."""
    from chainrule import creation

    probs = self if p is None else _wrap(xp.full(self.shape, p, self.dtype))
    return creation.bernoulli(probs, generator=generator)


def _multinomial(self: Tensor, num_samples: int, replacement: bool = False, *,
                 generator: Any = None) -> Tensor:
    from chainrule import creation

    return creation.multinomial(self, num_samples, replacement, generator=generator)


def _mH(self: Tensor) -> Tensor:  # noqa: N802 - PyTorch's name
    return X.adjoint(self)


def _layout(self: Tensor) -> Any:
    return X.strided


def _is_cpu(self: Tensor) -> bool:
    return not is_meta_placeholder(self._array)


def _is_meta(self: Tensor) -> bool:
    """True for the tensors of a meta skeleton (``Module.to("meta")``, ``with device("meta")``)."""
    return is_meta_placeholder(self._array)


def _to_dense(self: Tensor, dtype: Any = None, *, masked_grad: Any = None) -> Tensor:
    """A dense tensor's ``to_dense()`` is itself (a dtype converts), as PyTorch's."""
    return self if dtype is None else self.to(dtype)


def _to_sparse(self: Tensor, sparse_dim: Any = None) -> Tensor:
    from chainrule.sparse import to_sparse

    return to_sparse(self, sparse_dim)


def _no(self: Tensor) -> bool:
    """A layout/backing chainrule never has (sparse, quantized, MKL-DNN, MPS, XLA)."""
    return False


# ---- in-place forms ----------------------------------------------------------------------------
def _zero_grad_result(name: str, fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``x.eq_(y)``-style: a comparison whose 0/1 result is written into x in x's dtype (the
    gradient through it is 0, as PyTorch's)."""

    def compute(self: Tensor, *args: Any) -> Tensor:
        value = fn(self, *args).to(self.dtype)
        return X._zero_gradient(value, self)

    return _more._inplace(compute, name)


def _view_inplace(name: str, fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``x.t_()``-style: x becomes the view ``fn(x)`` of its own storage (its shape and strides
    change, no data moves); recorded like the out-of-place view when x is in a graph."""

    def method(self: Tensor, *args: Any) -> Tensor:
        recording = _GradMode.enabled and self.requires_grad
        if recording:
            self._check_inplace(name)
        # (recorded on a snapshot: the graph node's input must keep the old shape)
        res = fn(self._snapshot(False) if recording else self, *args)
        self._array = res._array
        if recording:
            self.grad_fn = res.grad_fn
        self._bump_version()
        return self

    method.__name__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``: a view of the same storage."
    return method


def _float_power_(self: Tensor, exponent: Any) -> Tensor:
    """In-place ``float_power``: self must already be float64 (or complex128)."""
    if self.dtype not in (xp.float64, xp.complex128):
        want = "ComplexDouble" if self.dtype.kind == "c" else "Double"
        raise RuntimeError(f"the base given to float_power_ has dtype {self.dtype} but the "
                           f"operation's result requires dtype {want}")
    return _more._inplace(X.float_power, "float_power_")(self, exponent)


_COMPARISONS = {
    "eq_": Tensor.eq, "ne_": Tensor.ne, "lt_": Tensor.lt, "le_": Tensor.le, "gt_": Tensor.gt,
    "ge_": Tensor.ge, "greater_": Tensor.gt, "less_": Tensor.lt, "greater_equal_": Tensor.ge,
    "less_equal_": Tensor.le, "not_equal_": Tensor.ne, "logical_and_": Tensor.logical_and,
    "logical_or_": Tensor.logical_or, "logical_not_": Tensor.logical_not,
}

_VIEWS = {
    "t_": Tensor.t, "transpose_": Tensor.transpose, "swapaxes_": Tensor.transpose,
    "swapdims_": Tensor.transpose, "squeeze_": Tensor.squeeze, "unsqueeze_": Tensor.unsqueeze,
}

_INPLACE: dict[str, Callable[..., Tensor]] = {
    "asin_": X.asin, "acos_": X.acos, "atan_": X.atan, "sinh_": X.sinh, "cosh_": X.cosh,
    "asinh_": X.asinh, "acosh_": X.acosh, "atanh_": X.atanh, "arcsin_": X.asin,
    "arccos_": X.acos, "arctan_": X.atan, "arcsinh_": X.asinh, "arccosh_": X.acosh,
    "arctanh_": X.atanh, "tan_": Tensor.tan,
    "tril_": Tensor.tril, "triu_": Tensor.triu, "cumsum_": Tensor.cumsum,
    "cumprod_": Tensor.cumprod, "square_": Tensor.square, "round_": Tensor.round,
    "frac_": Tensor.frac, "fmod_": Tensor.fmod, "remainder_": Tensor.remainder,
    "log2_": Tensor.log2, "log10_": Tensor.log10, "nan_to_num_": Tensor.nan_to_num,
    "clamp_min_": Tensor.clamp_min, "clamp_max_": Tensor.clamp_max, "renorm_": X.renorm,
    "index_copy_": X.index_copy, "masked_scatter_": X.masked_scatter,
    "scatter_reduce_": X.scatter_reduce, "index_reduce_": X.index_reduce,
    "floor_divide_": X.floor_divide,
    "true_divide_": Tensor.true_divide, "multiply_": Tensor.mul,
    "divide_": lambda s, o, *, rounding_mode=None: s.div(o, rounding_mode=rounding_mode),
    "subtract_": lambda s, o, *, alpha=1: s.sub(o, alpha=alpha), "negative_": Tensor.neg,
    "absolute_": Tensor.abs, "deg2rad_": X.deg2rad, "rad2deg_": X.rad2deg, "fix_": X.fix,
    "ldexp_": X.ldexp, "sgn_": X.sgn, "nextafter_": X.nextafter, "mvlgamma_": X.mvlgamma,
}

def _geometric_(self: Tensor, p: float, *, generator: Any = None) -> Tensor:
    """Fill with Geometric(p) draws: the number of Bernoulli(p) trials up to the first success
    (1, 2, ...), as PyTorch's."""
    from chainrule import random as _random

    return self._fill_random(_random.rng(generator).geometric(p, self.shape))


def _cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *,
             generator: Any = None) -> Tensor:
    """Fill with Cauchy draws: median + σ·tan(π(U − ½))."""
    from chainrule import random as _random

    u = _random.rng(generator).random(self.shape)
    return self._fill_random(median + sigma * xp.tan(xp.pi * (u - 0.5)))


def _log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *,
                 generator: Any = None) -> Tensor:
    """Fill with exp(N(mean, std²)) draws (``mean`` and ``std`` of the underlying normal)."""
    from chainrule import random as _random

    return self._fill_random(_random.rng(generator).lognormal(mean, std, self.shape))


def _apply_(self: Tensor, callable: Callable[[Any], Any]) -> Tensor:
    """Replace each element x by ``callable(x)`` (a Python number in, a number out), in place;
    slow, as PyTorch's, and not differentiable (refused on a tensor that requires grad)."""
    if self.requires_grad:
        raise TypeError("apply_ is only implemented on CPU tensors that do not require grad")
    flat = self._array.reshape(-1)
    values = [callable(v) for v in flat.tolist()]
    with _engine.no_grad():
        return self.copy_(_wrap(xp.asarray(values, dtype=self._array.dtype).reshape(self.shape)))


def _map_(self: Tensor, tensor: Tensor, callable: Callable[[Any, Any], Any]) -> Tensor:
    """``self[i] = callable(self[i], tensor[i])`` over ``tensor`` broadcast to self, in place."""
    if self.requires_grad:
        raise TypeError("map_ is only implemented on CPU tensors that do not require grad")
    other = xp.broadcast_to(tensor._array, self.shape).reshape(-1).tolist()
    values = [callable(a, b) for a, b in zip(self._array.reshape(-1).tolist(), other)]
    with _engine.no_grad():
        return self.copy_(_wrap(xp.asarray(values, dtype=self._array.dtype).reshape(self.shape)))


TENSOR_METHODS: dict[str, Any] = {
    "geometric_": _geometric_, "cauchy_": _cauchy_, "log_normal_": _log_normal_,
    "apply_": _apply_, "map_": _map_, "gcd": lambda s, o: X.gcd(s, o),
    "lcm": lambda s, o: X.lcm(s, o),
    # inverse trigonometric / hyperbolic
    "asin": X.asin, "acos": X.acos, "atan": X.atan, "sinh": X.sinh, "cosh": X.cosh,
    "asinh": X.asinh, "acosh": X.acosh, "atanh": X.atanh, "arcsin": X.asin, "arccos": X.acos,
    "arctan": X.atan, "arcsinh": X.asinh, "arccosh": X.acosh, "arctanh": X.atanh,
    # aliases of core methods
    "multiply": Tensor.mul, "divide": Tensor.div, "subtract": Tensor.sub,
    "greater": Tensor.gt, "less": Tensor.lt, "greater_equal": Tensor.ge,
    "less_equal": Tensor.le, "not_equal": Tensor.ne, "negative": Tensor.neg,
    "absolute": Tensor.abs, "swapdims": Tensor.transpose,
    # the method forms of _torch_extras
    **{name: getattr(X, name) for name in (
        "positive", "fix", "msort", "argwhere", "inner", "ger", "vdot", "dist", "cov",
        "corrcoef", "diagflat", "rot90", "hsplit", "vsplit", "dsplit", "split_with_sizes",
        "signbit", "isposinf", "isneginf", "isreal", "float_power", "floor_divide", "fmax",
        "fmin", "frexp", "ldexp", "nextafter", "mvlgamma", "renorm", "index_copy",
        "masked_scatter", "scatter_reduce", "index_reduce", "adjoint", "angle", "sgn",
        "deg2rad", "rad2deg",
        "clamp_min", "clamp_max", "nonzero_static", "is_nonzero", "is_same_size", "ravel",
        "hardshrink", "prelu", "is_signed", "select_scatter", "slice_scatter",
        "diagonal_scatter")},
    # dtype casts
    "byte": _cast(xp.dtype(xp.uint8)), "char": _cast(xp.dtype(xp.int8)),
    "short": _cast(xp.dtype(xp.int16)), "cfloat": _cast(xp.dtype(xp.complex64)),
    "cdouble": _cast(xp.dtype(xp.complex128)), "bfloat16": _bfloat16,
    # properties and cheap queries
    "mH": property(_mH), "layout": property(_layout), "is_cpu": property(_is_cpu),
    "is_sparse": property(_no), "is_sparse_csr": property(_no), "is_quantized": property(_no),
    "is_meta": property(_is_meta), "is_mkldnn": property(_no), "is_mps": property(_no),
    "is_xla": property(_no), "is_xpu": property(_no), "is_nested": property(_no),
    "get_device": _get_device, "is_inference": _false,
    "to_dense": _to_dense, "to_sparse": _to_sparse, "to_sparse_coo": _to_sparse,
    "is_pinned": _false, "is_conj": _false, "is_neg": _false, "is_shared": _false,
    "pin_memory": _itself, "share_memory_": _itself, "resolve_conj": _itself,
    "resolve_neg": _itself, "storage_offset": _storage_offset,
    "output_nr": property(_output_nr), "new": _new, "resize_": _resize_,
    "resize_as_": _resize_as_,
    "register_post_accumulate_grad_hook": _register_post_accumulate_grad_hook,
    "bernoulli": _bernoulli, "multinomial": _multinomial,
    "stft": _fft.stft, "istft": _fft.istft,
    # in-place forms
    **{name: _zero_grad_result(name, fn) for name, fn in _COMPARISONS.items()},
    **{name: _view_inplace(name, fn) for name, fn in _VIEWS.items()},
    **{name: _more._inplace(fn, name) for name, fn in _INPLACE.items()},
    "float_power_": _float_power_,
}

# extended, not only added: contiguous(memory_format=...), cumsum / cumprod(dtype=) as
# PyTorch's
_OVERRIDES = {"contiguous": _contiguous, "cumsum": _accept_numpy_spellings(_cumsum),
              "cumprod": _accept_numpy_spellings(_cumprod),
              "sgn": X.sgn}  # (z/|z| for complex z; the core's sgn is sign, real only)


def install(cls: type = Tensor) -> None:
    """Attach the methods the class does not define yet (core definitions win)."""
    for name, fn in TENSOR_METHODS.items():
        if not hasattr(cls, name):
            setattr(cls, name, fn)
    for name, fn in _OVERRIDES.items():
        setattr(cls, name, fn)


install()
