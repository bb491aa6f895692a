"""``chainrule.autograd.Variable``: PyTorch's pre-0.4 wrapper, kept as PyTorch keeps it.

Since PyTorch 0.4 a Variable *is* a Tensor: ``Variable(t)`` returns a Tensor that shares
``t``'s storage, detached from its graph, with ``requires_grad`` as given (default False), and
``isinstance(x, Variable)`` is true for every Tensor. ``volatile=True`` has no effect (use
``no_grad()``) and warns, as in PyTorch.

Example::

    from chainrule.autograd import Variable
    w = Variable(chainrule.randn(3, 2), requires_grad=True)   # a leaf Tensor
    isinstance(w, Variable)                                     # True
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["Variable"]


class _VariableMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        from chainrule.tensor import Tensor

        return isinstance(obj, Tensor)

    def __call__(cls, data: Any = None, requires_grad: bool = False,
                 volatile: bool = False) -> Any:
        from chainrule.creation import zeros
        from chainrule.tensor import Tensor

        if volatile and requires_grad:
            raise ValueError("Variable can't be volatile and require_grad at the same time!")
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with "
                          "chainrule.no_grad():` instead.", UserWarning, stacklevel=2)
        if data is None:
            return zeros(0).requires_grad_(bool(requires_grad))
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got "
                            f"{type(data).__name__}")
        return data.detach().requires_grad_(bool(requires_grad))


class Variable(metaclass=_VariableMeta):
    """Legacy alias of Tensor: ``Variable(data, requires_grad=False, volatile=False)`` returns
    ``data.detach().requires_grad_(requires_grad)`` (shared storage, a new leaf)."""
