"""``torch.nn.utils.spectral_norm`` (the legacy hook form, common in GAN code) and the power
iteration it shares with ``parametrizations.spectral_norm``.

Spectral normalisation (Miyato et al. 2018) divides a weight by an estimate of its largest
singular value: with ``W`` the weight reshaped to a matrix (``dim`` first),
``σ = uᵀ W v`` where ``u, v`` are refined by power iteration, one step per forward in
training mode::

    v ← normalize(Wᵀ u),   u ← normalize(W v),   W_sn = W / σ.

``u`` and ``v`` are buffers (``weight_u``, ``weight_v``); gradients treat them as constants,
as PyTorch does. Eval mode uses them without iterating.

Example::

    d = nn.utils.spectral_norm(nn.Linear(20, 40))
    sorted(d.state_dict())      # ['bias', 'weight_orig', 'weight_u', 'weight_v']
"""

from __future__ import annotations

from typing import Any, TypeVar

from chainrule.autograd.engine import no_grad
from chainrule.backend import xp
from chainrule.nn.modules.lazy import UninitializedParameter
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.utils._common import remove_pre_hook
from chainrule.tensor import Tensor, _wrap

__all__ = ["SpectralNorm", "spectral_norm", "remove_spectral_norm"]

T_module = TypeVar("T_module", bound=Module)


def normalize_array(a: Any, eps: float) -> Any:
    """a / max(‖a‖₂, eps) (``F.normalize`` of a vector, on arrays: no graph)."""
    return a / max(float(xp.sqrt(xp.dot(a, a))), eps)


def weight_to_matrix(weight: Tensor, dim: int) -> Tensor:
    """``weight`` with ``dim`` moved first and the rest flattened: (size of dim, rest)."""
    if dim != 0:
        weight = weight.permute(dim, *(d for d in range(weight.ndim) if d != dim))
    return weight.reshape(weight.shape[0], -1)


def power_iteration(w: Any, u: Any, v: Any, n: int, eps: float, v_first: bool) -> None:
    """``n`` power-iteration steps on the matrix array ``w``, writing ``u`` and ``v`` in place.
    PyTorch's legacy hook updates v then u; the parametrization updates u then v."""
    for _ in range(n):
        if v_first:
            v[...] = normalize_array(w.T @ u, eps)
            u[...] = normalize_array(w @ v, eps)
        else:
            u[...] = normalize_array(w @ v, eps)
            v[...] = normalize_array(w.T @ u, eps)


def check_power_iterations(n: int) -> None:
    if n <= 0:
        raise ValueError(
            f"Expected n_power_iterations to be positive, but got n_power_iterations={n}"
        )


def default_dim(module: Module) -> int:
    """1 for transposed convolutions (their weight is (in, out, ...)), else 0."""
    from chainrule.nn.modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d

    return 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0


class SpectralNorm:
    """The forward pre-hook that sets ``module.<name> = <name>_orig / σ`` before each forward
    (running the power iteration first in training mode)."""

    _version: int = 1

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        check_power_iterations(n_power_iterations)
        self.name = name
        self.dim = dim
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        return weight_to_matrix(weight, self.dim)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                power_iteration(weight_mat._array, u._array, v._array, self.n_power_iterations,
                                self.eps, v_first=True)
                u._bump_version()
                v._bump_version()
        # copies: the next forward's in-place update must not change this graph's constants
        u, v = _wrap(u._array.copy()), _wrap(v._array.copy())
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name,
                self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(module: Module, name: str, n_power_iterations: int, dim: int,
              eps: float) -> SpectralNorm:
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two spectral_norm hooks on the same parameter {name}"
                )
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        if name not in module._parameters:
            raise KeyError(
                f"spectral_norm: module {type(module).__name__} has no parameter named '{name}'"
            )
        weight = module._parameters[name]
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        if isinstance(weight, UninitializedParameter):
            raise ValueError(
                "The module passed to `SpectralNorm` can't have uninitialized parameters. Make "
                "sure to run the dummy forward before applying spectral normalization"
            )
        if not -weight.ndim <= dim < max(weight.ndim, 1):
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-weight.ndim}, "
                f"{weight.ndim - 1}], but got {dim})"
            )
        with no_grad():
            h, w = fn.reshape_weight_to_matrix(weight).shape
            u = weight.new_empty(h).normal_(0, 1)
            v = weight.new_empty(w).normal_(0, 1)
            u = _wrap(normalize_array(u._array, eps))
            v = _wrap(normalize_array(v._array, eps))
        delattr(module, name)
        module.register_parameter(name + "_orig", weight)
        # until the first forward, module.<name> is the raw weight (as in PyTorch)
        setattr(module, name, weight.detach())
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module: T_module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> T_module:
    """Divide parameter ``name`` by its spectral norm, estimated by power iteration before
    every forward (the original is kept as ``name_orig``, the vectors as ``name_u``/``name_v``).
    """
    SpectralNorm.apply(module, name, n_power_iterations,
                       default_dim(module) if dim is None else dim, eps)
    return module


def remove_spectral_norm(module: T_module, name: str = "weight") -> T_module:
    """Fold the normalised weight back into a plain parameter ``name``."""
    return remove_pre_hook(module, name, SpectralNorm, "spectral_norm")
