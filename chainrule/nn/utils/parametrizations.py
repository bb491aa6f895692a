"""``chainrule.nn.utils.parametrizations``: ``weight_norm``, ``spectral_norm`` and
``orthogonal`` as parametrizations (:mod:`chainrule.nn.utils.parametrize`), PyTorch's current
forms.

- ``weight_norm``: w = g · v / ‖v‖ (norm over all dims but ``dim``); originals
  ``parametrizations.weight.original0`` (g) and ``original1`` (v).
- ``spectral_norm``: w = W / σ, σ = uᵀ W v by power iteration (buffers ``_u``, ``_v`` inside the
  parametrization; one step per access in training mode, none in eval).
- ``orthogonal``: w = Q(original), Q orthogonal, by the matrix exponential, the Cayley map or
  Householder products of the original's lower triangle.

Example::

    m = parametrizations.weight_norm(nn.Linear(20, 40))
    sorted(m.state_dict())
    # ['bias', 'parametrizations.weight.original0', 'parametrizations.weight.original1']
"""

from __future__ import annotations

from chainrule.autograd.engine import no_grad
from chainrule.nn._functional.distance import normalize
from chainrule.nn.modules.module import Module
from chainrule.nn.utils import parametrize
from chainrule.nn.utils._orthogonal import orthogonal
from chainrule.nn.utils.spectral_norm import (
    check_power_iterations,
    default_dim,
    normalize_array,
    power_iteration,
    weight_to_matrix,
)
from chainrule.nn.utils.weight_norm import _weight_norm, norm_except_dim
from chainrule.tensor import Tensor, _wrap

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


class _WeightNorm(Module):
    """(g, v) ↦ v · g / ‖v‖; ``right_inverse(w) = (‖w‖, w)`` so registration keeps w."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Parametrize ``module.<name>`` as g · v / ‖v‖ (Salimans & Kingma 2016).

    A checkpoint of the legacy form (keys ``<name>_g``, ``<name>_v``) still loads: its keys
    are renamed to ``parametrizations.<name>.original0/1``.
    """
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def legacy_keys(mod: Module, state_dict: dict, prefix: str, *args: object) -> None:
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    module.register_load_state_dict_pre_hook(legacy_keys)
    return module


class _SpectralNorm(Module):
    """W ↦ W / σ(W), σ = uᵀ W_mat v with u, v from power iteration (buffers ``_u``, ``_v``,
    refined ``n_power_iterations`` times per forward in training mode). A 1-D weight is just
    normalised."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but "
                f"got {dim})"
            )
        check_power_iterations(n_power_iterations)
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with no_grad():
                w = self._reshape_weight_to_matrix(weight)
                h, wd = w.shape
                u = w.new_empty(h).normal_(0, 1)
                v = w.new_empty(wd).normal_(0, 1)
                self.register_buffer("_u", _wrap(normalize_array(u._array, eps)))
                self.register_buffer("_v", _wrap(normalize_array(v._array, eps)))
                self._power_method(w, 15)  # start near the top singular pair

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        return weight_to_matrix(weight, self.dim)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        with no_grad():
            power_iteration(weight_mat._array, self._u._array, self._v._array,
                            n_power_iterations, self.eps, v_first=False)
            self._u._bump_version()
            self._v._bump_version()

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        # copies: constants of this graph, untouched by the next in-place power step
        u, v = _wrap(self._u._array.copy()), _wrap(self._v._array.copy())
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Parametrize ``module.<name>`` as W / σ(W) (Miyato et al. 2018); ``dim`` defaults to 1
    for transposed convolutions, else 0."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = default_dim(module)
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
