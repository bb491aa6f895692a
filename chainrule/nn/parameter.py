"""``Parameter`` (a leaf tensor a Module registers as trainable) and ``Buffer`` (saved state)."""

from __future__ import annotations

from typing import Any

from chainrule.backend import asarray
from chainrule.tensor import Tensor, _init_from_array

__all__ = ["Parameter", "Buffer"]


def _array_of(data: Any) -> Any:
    if data is None:
        return asarray([], "float32")
    if isinstance(data, Tensor):
        return data._array  # shares memory, as torch.nn.Parameter(tensor) does
    return asarray(data)


class Parameter(Tensor):
    """A Tensor that is automatically registered by ``Module.__setattr__``.

    It shares memory with the tensor it is made from and is a leaf that requires grad (unless
    ``requires_grad=False``). Unlike a plain Tensor it accepts extra attributes
    (``p.no_decay = True``), which optimizers and initialisers may read.

    Example::

        w = nn.Parameter(chainrule.randn(3, 4))
        w.requires_grad     # True
    """

    # no __slots__: a __dict__ lets users tag parameters with attributes, as in PyTorch

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        _init_from_array(self, _array_of(data))  # (an array: kept, not copied)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto: Any) -> Any:  # pragma: no cover - deepcopy support
        return (Parameter, (self._array.copy(), self.requires_grad))

    def __deepcopy__(self, memo: dict) -> Parameter:
        import copy

        p = Parameter(self._array.copy(), self.requires_grad)
        if self.grad is not None:
            p.grad = self.grad.detach().clone()
        memo[id(self)] = p
        for k, v in self.__dict__.items():
            p.__dict__[k] = copy.deepcopy(v, memo)
        return p


class Buffer(Tensor):
    """A Tensor that ``Module.__setattr__`` registers as a buffer (``self.x = nn.Buffer(t)``).

    ``persistent=False`` keeps it out of ``state_dict``. Once registered it is stored as a plain
    Tensor sharing memory with ``data``, as ``register_buffer`` would.

    Example::

        class Scaler(nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = nn.Buffer(chainrule.ones(3))
    """

    def __init__(self, data: Any = None, *, persistent: bool = True) -> None:
        _init_from_array(self, _array_of(data))  # (an array: kept, not copied)
        self.persistent = persistent

    def __deepcopy__(self, memo: dict) -> Buffer:
        b = Buffer(self._array.copy(), persistent=self.persistent)
        memo[id(self)] = b
        return b


def __getattr__(name: str) -> Any:
    """``nn.parameter.UninitializedParameter``/``UninitializedBuffer``, PyTorch's path (defined
    with the lazy layers, which import this file)."""
    if name in ("UninitializedParameter", "UninitializedBuffer"):
        from chainrule.nn.modules import lazy

        return getattr(lazy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
