"""Parameters to one flat vector and back (for second-order methods, line searches, ...)."""

from __future__ import annotations

from collections.abc import Iterable

from chainrule.autograd.engine import no_grad
from chainrule.nn.utils._common import as_list
from chainrule.tensor import Tensor, cat

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated, in order (differentiable: a graph op).

    Example::

        model = nn.Linear(4, 2)
        theta = nn.utils.parameters_to_vector(model.parameters())   # shape (10,)
        nn.utils.vector_to_parameters(theta * 0.5, model.parameters())
    """
    params = as_list(parameters)
    if not params:
        raise RuntimeError("parameters_to_vector: got no parameters")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in place (in order)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected chainrule.Tensor, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise RuntimeError(f"vector_to_parameters: vec must be 1-D, got shape {tuple(vec.shape)}")
    params = as_list(parameters)
    total = sum(p.numel() for p in params)
    if total != vec.shape[0]:
        raise RuntimeError(
            f"vector_to_parameters: vec has {vec.shape[0]} elements but the parameters have "
            f"{total}"
        )
    offset = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p._array[...] = vec._array[offset : offset + n].reshape(p.shape)
            p._bump_version()
            offset += n
