"""``torch.nn.utils.weight_norm`` (the legacy hook form, deprecated in PyTorch in favour of
``parametrizations.weight_norm`` but common in WaveNet/GAN code) and the shared maths.

Weight normalisation (Salimans & Kingma 2016) writes a weight as ``w = g · v / ‖v‖``: the
magnitude ``g`` and direction ``v`` are trained separately. ``‖v‖`` is taken over every
dimension except ``dim`` (``dim=None`` or ``-1``: over the whole tensor, ``g`` a scalar).

Example::

    m = nn.utils.weight_norm(nn.Linear(20, 40), name="weight")
    m.weight_g.shape, m.weight_v.shape      # (40, 1), (40, 20)
"""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

from chainrule.autograd.engine import no_grad
from chainrule.nn.modules.lazy import UninitializedParameter
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.utils._common import remove_pre_hook
from chainrule.tensor import Tensor

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm", "norm_except_dim"]

T_module = TypeVar("T_module", bound=Module)


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:
    """‖v‖_pow over every dimension but ``dim``, shaped to broadcast against ``v`` (size 1
    everywhere except ``dim``); ``dim=-1`` is the norm of the whole tensor (0-d), as PyTorch's
    ``torch.norm_except_dim`` (other negative dims count from the end)."""
    if dim == -1:
        return _pnorm_all(v, pow, tuple(range(v.ndim)), keepdim=False)
    if not -v.ndim <= dim < v.ndim:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-v.ndim}, {v.ndim - 1}], "
            f"but got {dim})"
        )
    dim %= v.ndim
    others = tuple(d for d in range(v.ndim) if d != dim)
    return _pnorm_all(v, pow, others, keepdim=True)


def _pnorm_all(v: Tensor, p: float, dims: tuple[int, ...], keepdim: bool) -> Tensor:
    """(Σ |v|^p)^(1/p) over ``dims`` (no zero-norm special case: the gradient of a zero
    direction is undefined in PyTorch too)."""
    if not dims:
        return v.abs() if p != 2 else (v * v).sqrt()
    if p == 2:
        return (v * v).sum(dims, keepdim=keepdim).sqrt()
    return (v.abs() ** p).sum(dims, keepdim=keepdim) ** (1.0 / p)


def _weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    """w = v · (g / ‖v‖), the norm over every dimension except ``dim`` (``torch._weight_norm``)."""
    return v * (g / norm_except_dim(v, 2, dim))


class WeightNorm:
    """The forward pre-hook that recomputes ``module.<name>`` from ``<name>_g`` and
    ``<name>_v`` before every forward."""

    def __init__(self, name: str, dim: int | None) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Tensor:
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"),
                            self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: int | None) -> WeightNorm:
        warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                      "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning,
                      stacklevel=3)
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two weight_norm hooks on the same parameter {name}"
                )
        fn = WeightNorm(name, dim)
        weight = module._parameters.get(name)
        if weight is None:
            raise ValueError(
                f"weight_norm: module {type(module).__name__} has no parameter named '{name}'"
            )
        if isinstance(weight, UninitializedParameter):
            raise ValueError(
                "The module passed to `WeightNorm` can't have uninitialized parameters. Make "
                "sure to run the dummy forward before applying weight normalization"
            )
        del module._parameters[name]
        with no_grad():
            g = norm_except_dim(weight.detach(), 2, fn.dim)
        module.register_parameter(name + "_g", Parameter(g))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: T_module, name: str = "weight", dim: int | None = 0) -> T_module:
    """Replace parameter ``name`` by ``name_g`` (magnitude) and ``name_v`` (direction),
    w = g · v / ‖v‖, recomputed by a forward pre-hook (deprecated in PyTorch, kept for old code).
    """
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module: T_module, name: str = "weight") -> T_module:
    """Fold ``name_g`` and ``name_v`` back into one parameter ``name``."""
    return remove_pre_hook(module, name, WeightNorm, "weight_norm")
