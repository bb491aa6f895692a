"""Lazy layers: the input size is read from the first batch (PyTorch's ``nn.Lazy*``).

``nn.LazyLinear(out_features)`` holds :class:`UninitializedParameter` placeholders until its
first call; then it reads ``in_features`` from the input, allocates and initialises the
parameters exactly as ``nn.Linear(in_features, out_features)`` would, and *becomes* that
class (``type(m) is nn.Linear`` afterwards, as in PyTorch). Likewise ``LazyConv1d/2d/3d``
(``in_channels`` from dim 1, or dim 0 of an unbatched input) and ``LazyBatchNorm1d/2d/3d``
(``num_features`` from dim 1).

As in PyTorch:

* the placeholders are the very objects that become the parameters, so an optimizer built
  before the first forward updates them (a step before the forward finds no gradient);
* ``state_dict`` has the same keys before and after; ``load_state_dict`` into a lazy module
  allocates the parameters from the checkpoint's shapes (the class changes at the next call);
* ``.double()`` / ``.to(dtype)`` before the first call sets the dtype they are created in;
* touching a placeholder's ``shape`` or ``numel()`` raises.
"""

from __future__ import annotations

from typing import Any

from chainrule.backend import to_dtype, xp
from chainrule.nn.modules.conv import Conv1d, Conv2d, Conv3d
from chainrule.nn.modules.linear import Linear
from chainrule.nn.modules.module import Module
from chainrule.nn.modules.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor, _init_from_array

__all__ = [
    "UninitializedParameter", "UninitializedBuffer", "LazyModuleMixin", "LazyLinear",
    "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
    "LazyBatchNorm3d",
]

_SHAPE_ERROR = (
    "Can't access the shape of an uninitialized parameter or buffer. This error usually "
    "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
    "initialized one. Call `forward` to initialize the parameters before accessing their "
    "attributes."
)


def _placeholder(dtype: Any) -> Any:
    """An empty array that only carries the dtype the parameter will be created in."""
    return xp.empty((0,), dtype=to_dtype(dtype))


class _Uninitialized:
    """Shared behaviour of the placeholders: no shape until materialised."""

    @property
    def shape(self) -> tuple[int, ...]:
        raise RuntimeError(_SHAPE_ERROR)

    def size(self, dim: int | None = None) -> Any:
        raise RuntimeError(_SHAPE_ERROR)

    def numel(self) -> int:
        raise ValueError(
            f"Attempted to use an uninitialized parameter in {type(self).__name__}.numel. "
            "This error happens when you are using a `LazyModule` or explicitly manipulating "
            f"`{type(self).__name__}` objects. When using LazyModules Call `forward` with a "
            "dummy batch to initialize the parameters before calling torch functions"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class UninitializedParameter(_Uninitialized, Parameter):
    """A parameter whose shape is not known yet; ``materialize(shape)`` makes it a
    :class:`~chainrule.nn.Parameter` (the same object) of that shape."""

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(_placeholder(dtype), requires_grad)

    def __deepcopy__(self, memo: dict) -> UninitializedParameter:
        copied = UninitializedParameter(self.requires_grad, dtype=self._array.dtype)
        memo[id(self)] = copied
        return copied

    def __reduce_ex__(self, proto: Any) -> Any:  # pragma: no cover - pickling support
        return (UninitializedParameter, (self.requires_grad, None, self._array.dtype))

    def materialize(self, shape: tuple[int, ...], device: Any = None,
                    dtype: Any = None) -> None:
        """Allocate (uninitialised memory) and become a Parameter."""
        dt = to_dtype(dtype) if dtype is not None else self._array.dtype
        self._array = xp.empty(tuple(shape), dtype=dt)
        self.__class__ = Parameter


class UninitializedBuffer(_Uninitialized, Tensor):
    """A buffer whose shape is not known yet (replaced by a plain tensor when the module
    is initialised)."""

    def __init__(self, requires_grad: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        _init_from_array(self, _placeholder(dtype))

    def __deepcopy__(self, memo: dict) -> UninitializedBuffer:
        copied = UninitializedBuffer(dtype=self._array.dtype)
        memo[id(self)] = copied
        return copied


_MODULE_KEYS = frozenset(Module().__dict__)


class LazyModuleMixin:
    """Infer the input-dependent size at the first call, then become ``cls_to_become``.

    A subclass sets ``cls_to_become`` and ``_infer(input) -> dict`` (the constructor
    arguments read from the input); the other constructor arguments are those it was given.
    """

    cls_to_become: type | None = None

    def has_uninitialized_params(self) -> bool:
        """Whether a placeholder parameter or buffer is left."""
        own = list(self._parameters.values()) + list(self._buffers.values())
        return any(isinstance(t, _Uninitialized) for t in own)

    def reset_parameters(self) -> None:
        # nothing to initialise before the sizes are known (the plain class's constructor,
        # run while building the lazy one with zero sizes, calls this)
        if self.__dict__.get("_lazy_kwargs") is None or self.has_uninitialized_params():
            return
        super().reset_parameters()

    def _placeholder_dtype(self) -> Any:
        own = list(self._parameters.values()) + list(self._buffers.values())
        return next(t._array.dtype for t in own if isinstance(t, _Uninitialized))

    def initialize_parameters(self, *args: Any, **kwargs: Any) -> None:
        """Allocate and initialise the parameters for an input like ``args[0]``."""
        if not self.has_uninitialized_params():
            return
        if not args or not isinstance(args[0], Tensor):
            raise TypeError(f"{type(self).__name__}: the first call needs an input tensor to "
                            "infer the sizes from")
        self._materialize(self._infer(args[0]))

    def _materialize(self, inferred: dict[str, Any]) -> None:
        """Build the plain layer with the inferred sizes and move its tensors and attributes
        into this module; the placeholder parameters become those parameters in place."""
        fresh = self.cls_to_become(**inferred, **self._lazy_kwargs,
                                   dtype=self._placeholder_dtype())
        for name, p in fresh._parameters.items():
            mine = self._parameters.get(name)
            if isinstance(mine, UninitializedParameter):
                mine.materialize(p.shape, dtype=p._array.dtype)
                mine._array[...] = p._array
            elif mine is None:
                self._parameters[name] = p
        for name, b in fresh._buffers.items():
            if isinstance(self._buffers.get(name), _Uninitialized) or name not in self._buffers:
                self._buffers[name] = b
        for key, value in fresh.__dict__.items():
            if key not in _MODULE_KEYS:
                self.__dict__[key] = value
        self.__dict__["_lazy_inferred"] = True

    def _load_hook(self, module: Any, state_dict: dict, prefix: str, *args: Any) -> None:
        """Allocate the placeholders from the checkpoint's shapes before loading."""
        if not self.has_uninitialized_params():
            return
        inferred = self._infer_from_state(state_dict, prefix)
        if inferred is not None:
            self._materialize(inferred)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.has_uninitialized_params():
            self.initialize_parameters(*args, **kwargs)
        if self.has_uninitialized_params():
            raise RuntimeError(f"module {type(self).__name__} has not been fully initialized")
        self.__dict__.pop("_lazy_kwargs", None)
        self.__dict__.pop("_lazy_inferred", None)
        self._load_handle.remove()
        del self.__dict__["_load_handle"]
        self.__class__ = self.cls_to_become
        return self(*args, **kwargs)

    def _lazy_setup(self, kwargs: dict[str, Any], params: tuple[str, ...],
                    buffers: tuple[str, ...] = ()) -> None:
        """Replace the zero-sized tensors the plain constructor made by placeholders."""
        dtype = kwargs.get("dtype")
        for name in params:
            if self._parameters.get(name) is not None:
                self._parameters[name] = UninitializedParameter(dtype=dtype)
        for name in buffers:
            if self._buffers.get(name) is not None:
                self._buffers[name] = UninitializedBuffer(dtype=dtype)
        kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
        self.__dict__["_lazy_kwargs"] = kwargs
        self.__dict__["_load_handle"] = self.register_load_state_dict_pre_hook(self._load_hook)


class LazyLinear(LazyModuleMixin, Linear):
    """``nn.Linear`` with ``in_features`` read from the first input (``input.shape[-1]``).

    Example::

        fc = nn.LazyLinear(10)
        fc(chainrule.randn(4, 7))          # now an nn.Linear(7, 10)
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        self.__dict__["_lazy_kwargs"] = None
        Linear.__init__(self, 0, out_features, bias, device, dtype)
        self._lazy_setup(dict(out_features=out_features, bias=bias, device=device,
                              dtype=dtype), ("weight", "bias"))

    def _infer(self, input: Tensor) -> dict[str, Any]:
        return {"in_features": int(input.shape[-1])}

    def _infer_from_state(self, state: dict, prefix: str) -> dict[str, Any] | None:
        w = state.get(prefix + "weight")
        return None if w is None else {"in_features": int(w.shape[1])}


class _LazyConvNd(LazyModuleMixin):
    _nd = 2

    def _lazy_conv_init(self, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
                        dilation: Any, groups: int, bias: bool, padding_mode: str, device: Any,
                        dtype: Any) -> None:
        kwargs = dict(out_channels=out_channels, kernel_size=kernel_size, stride=stride,
                      padding=padding, dilation=dilation, groups=groups, bias=bias,
                      padding_mode=padding_mode, device=device, dtype=dtype)
        self.__dict__["_lazy_kwargs"] = None
        self.cls_to_become.__init__(self, 0, **kwargs)
        self._lazy_setup(kwargs, ("weight", "bias"))

    def _infer(self, input: Tensor) -> dict[str, Any]:
        batched = input.ndim == self._nd + 2
        if not batched and input.ndim != self._nd + 1:
            raise ValueError(f"{type(self).__name__}: expected a {self._nd + 1}-D (unbatched) "
                             f"or {self._nd + 2}-D (batched) input, got {input.ndim}-D")
        return {"in_channels": int(input.shape[1 if batched else 0])}

    def _infer_from_state(self, state: dict, prefix: str) -> dict[str, Any] | None:
        w = state.get(prefix + "weight")
        groups = self._lazy_kwargs["groups"]
        return None if w is None else {"in_channels": int(w.shape[1]) * groups}


def _lazy_conv(nd: int, plain: type) -> type:
    def __init__(self: Any, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        self._lazy_conv_init(out_channels, kernel_size, stride, padding, dilation, groups, bias,
                             padding_mode, device, dtype)

    doc = (f"``nn.{plain.__name__}`` with ``in_channels`` read from the first input (dim 1, "
           f"or dim 0 of an unbatched input).\n\n    Example::\n\n        conv = "
           f"nn.Lazy{plain.__name__}(8, 3)   # becomes nn.{plain.__name__}(C_in, 8, 3)\n")
    return type(f"Lazy{plain.__name__}", (_LazyConvNd, plain),
                {"cls_to_become": plain, "_nd": nd, "__init__": __init__, "__doc__": doc,
                 "__module__": __name__})


LazyConv1d = _lazy_conv(1, Conv1d)
LazyConv2d = _lazy_conv(2, Conv2d)
LazyConv3d = _lazy_conv(3, Conv3d)


class _LazyBatchNorm(LazyModuleMixin):
    def _lazy_bn_init(self, eps: float, momentum: float | None, affine: bool,
                      track_running_stats: bool, device: Any, dtype: Any) -> None:
        kwargs = dict(eps=eps, momentum=momentum, affine=affine,
                      track_running_stats=track_running_stats, device=device, dtype=dtype)
        self.__dict__["_lazy_kwargs"] = None
        self.cls_to_become.__init__(self, 0, **kwargs)
        self._lazy_setup(kwargs, ("weight", "bias"), ("running_mean", "running_var"))

    def _infer(self, input: Tensor) -> dict[str, Any]:
        if input.ndim < 2:
            raise ValueError(f"{type(self).__name__}: expected an input with a channel dim "
                             f"(N, C, ...), got {input.ndim}-D")
        return {"num_features": int(input.shape[1])}

    def _infer_from_state(self, state: dict, prefix: str) -> dict[str, Any] | None:
        for key in ("weight", "running_mean"):
            t = state.get(prefix + key)
            if t is not None:
                return {"num_features": int(t.shape[0])}
        return None


def _lazy_bn(plain: type) -> type:
    def __init__(self: Any, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        self._lazy_bn_init(eps, momentum, affine, track_running_stats, device, dtype)

    doc = (f"``nn.{plain.__name__}`` with ``num_features`` read from dim 1 of the first "
           f"input.\n\n    Example::\n\n        bn = nn.Lazy{plain.__name__}()\n")
    return type(f"Lazy{plain.__name__}", (_LazyBatchNorm, plain),
                {"cls_to_become": plain, "__init__": __init__, "__doc__": doc,
                 "__module__": __name__})


LazyBatchNorm1d = _lazy_bn(BatchNorm1d)
LazyBatchNorm2d = _lazy_bn(BatchNorm2d)
LazyBatchNorm3d = _lazy_bn(BatchNorm3d)
