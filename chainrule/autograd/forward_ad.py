"""``torch.autograd.forward_ad``: dual tensors (``dual_level``, ``make_dual``,
``unpack_dual``) for Jacobian-vector products.

chainrule has no forward-mode engine, so the tangent is obtained from reverse mode by the
double-backward trick: for an output y of the dual inputs x_i with tangents v_i,

    g_i(u) = (∂y/∂x_i)ᵀ u          (a vector-Jacobian product, linear in the cotangent u)
    J v    = Σ_i (∂y/∂x_i) v_i = ∂/∂u Σ_i ⟨g_i(u), v_i⟩

so ``unpack_dual(y).tangent`` runs one backward with ``create_graph=True`` and a second
backward through it, at the moment it is asked for. ``make_dual`` returns a tensor that
requires grad (the recorded graph is what carries the tangent), so ops run under
``no_grad`` inside a dual level lose the tangent (PyTorch's forward AD ignores grad mode).

Every tangent is checked: with a random cotangent u, ⟨u, J v⟩ must equal Σ_i ⟨g_i(u), v_i⟩
(both are uᵀ J v). An op whose backward chainrule computes without recording it (so that its
part of J v would be silently dropped) breaks that identity, and ``unpack_dual`` raises
NotImplementedError instead of returning a wrong tangent.

Example::

    import chainrule.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        x = fwAD.make_dual(primal, tangent)
        jvp = fwAD.unpack_dual(f(x)).tangent
"""

from __future__ import annotations

import math
import weakref
from typing import Any, NamedTuple

import numpy as np

from chainrule.tensor import Tensor

__all__ = ["dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual",
           "UnpackedDualTensor"]


class UnpackedDualTensor(NamedTuple):
    """What :func:`unpack_dual` returns: the primal and its tangent (None without one)."""

    primal: Tensor
    tangent: Tensor | None


class _Level:
    """One open dual level: the dual tensors made in it, with their tangents."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.duals: list[tuple[Any, Tensor, Tensor]] = []  # (weakref(dual), primal, tangent)

    def live(self) -> list[tuple[Tensor, Tensor, Tensor]]:
        out = []
        for ref, primal, tangent in self.duals:
            dual = ref()
            if dual is not None:
                out.append((dual, primal, tangent))
        return out


_LEVELS: list[_Level] = []


def enter_dual_level() -> int:
    """Open a dual level and return its index (PyTorch supports one level at a time)."""
    if _LEVELS:
        raise RuntimeError("Currently only a single forward AD level is supported. Exit the "
                           "current level before entering a new one.")
    _LEVELS.append(_Level(len(_LEVELS)))
    return _LEVELS[-1].index


def exit_dual_level(*, level: int | None = None) -> None:
    """Close the current dual level: its tensors lose their tangents."""
    if not _LEVELS or (level is not None and level != _LEVELS[-1].index):
        raise RuntimeError("Trying to exit a forward AD level that was not the last one that "
                           "was created. This is not supported.")
    _LEVELS.pop()


class dual_level:  # noqa: N801 - PyTorch's name
    """``with dual_level():`` — the scope inside which dual tensors carry tangents."""

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc: object) -> None:
        exit_dual_level()


def _current(level: int | None) -> _Level:
    if not _LEVELS:
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level exists, "
                           "make sure to enter_dual_level() first.")
    if level is not None and level != _LEVELS[-1].index:
        raise RuntimeError(f"forward AD level {level} is not the current level")
    return _LEVELS[-1]


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A tensor equal to ``tensor`` whose forward gradient is ``tangent`` (same size)."""
    lvl = _current(level)
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError("make_dual(): expected Tensors for the primal and the tangent")
    if tensor.dtype.kind != "f":
        raise ValueError(f"Expected primal to be floating point or complex, but got: "
                         f"{tensor.dtype}")
    if tangent.dtype.kind != "f":
        raise ValueError(f"Expected tangent to be floating point or complex, but got: "
                         f"{tangent.dtype}")
    if tuple(tensor.shape) != tuple(tangent.shape):
        raise RuntimeError(f"Trying to set a forward gradient that has a different size than "
                           f"that of the original Tensor, this is not supported. Tensor is of "
                           f"size {list(tensor.shape)} while the given forward gradient is of "
                           f"size {list(tangent.shape)}.")
    # the graph recorded from this leaf is what unpack_dual differentiates
    dual = tensor * 1 if tensor.requires_grad else tensor.detach().requires_grad_(True)
    lvl.duals.append((weakref.ref(dual), tensor, tangent.detach().to(tensor.dtype)))
    return dual


def _tangent(y: Tensor, duals: list[tuple[Tensor, Tensor, Tensor]]) -> Tensor | None:
    """J v by double backward (see the module docstring), checked by ⟨u, Jv⟩ = Σ⟨g_i, v_i⟩."""
    from chainrule.autograd import grad
    from chainrule.autograd.engine import enable_grad
    from chainrule.creation import tensor as as_tensor

    if not y.requires_grad or y.dtype.kind != "f":
        return None
    inputs = [d for d, _, _ in duals]
    rng = np.random.default_rng(0)  # a fixed cotangent: the check must not depend on luck
    u = as_tensor(rng.standard_normal(tuple(y.shape)), dtype=y.dtype).requires_grad_(True)
    with enable_grad():
        gs = grad(y, inputs, grad_outputs=u, create_graph=True, allow_unused=True)
        used = [(g, v) for g, (_, _, v) in zip(gs, duals) if g is not None]
        if not used:
            return None
        s = sum((g * v).sum() for g, v in used)
        if not s.requires_grad:
            raise NotImplementedError(
                "forward_ad: the backward of an op between the dual inputs and this output is "
                "not recorded under create_graph, so chainrule cannot form the tangent "
                "(chainrule computes tangents by double backward; it has no forward-mode "
                "engine)")
        (jv,) = grad(s, u, allow_unused=True)
    jv = jv.detach() if jv is not None else y.detach() * 0
    lhs = float((u.detach() * jv).sum().item())
    rhs = float(s.detach().item())
    if not math.isclose(lhs, rhs, rel_tol=1e-6 if y.dtype == np.float64 else 1e-3,
                        abs_tol=1e-8 * (1 + abs(rhs))):
        raise NotImplementedError(
            f"forward_ad: the tangent failed its check (<u, Jv> = {lhs} but <J^T u, v> = "
            f"{rhs}): an op between the dual inputs and this output has a backward that "
            "chainrule does not differentiate again, so its tangent cannot be formed by "
            "double backward (chainrule has no forward-mode engine)")
    return jv


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """(primal, tangent) of ``tensor``: the tangent is J v for the dual inputs it depends on
    (None outside a level, or when it depends on none of them)."""
    if not _LEVELS:
        return UnpackedDualTensor(tensor, None)
    duals = _current(level).live()
    for dual, primal, tangent in duals:
        if dual is tensor:
            return UnpackedDualTensor(primal, tangent)
    jv = _tangent(tensor, duals)
    needs_graph = any(p.requires_grad for _, p, _ in duals)
    return UnpackedDualTensor(tensor if needs_graph else tensor.detach(), jv)
