"""``Parameter``: a leaf tensor that a Module registers as trainable."""

from __future__ import annotations

from typing import Any

from chainrule.backend import asarray
from chainrule.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is automatically registered by ``Module.__setattr__``.

    Example::

        w = nn.Parameter(chainrule.randn(3, 4))
        w.requires_grad     # True
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            arr = asarray([], "float32")
        elif isinstance(data, Tensor):
            arr = data.data
        else:
            arr = asarray(data)
        self.data = arr
        self.grad = None
        self.grad_fn = None
        self.requires_grad = False
        self._version = 0
        self._base = None
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto: Any) -> Any:  # pragma: no cover - deepcopy support
        return (Parameter, (self.data.copy(), self.requires_grad))

    def __deepcopy__(self, memo: dict) -> Parameter:
        p = Parameter(self.data.copy(), self.requires_grad)
        if self.grad is not None:
            p.grad = self.grad.detach().clone()
        memo[id(self)] = p
        return p
