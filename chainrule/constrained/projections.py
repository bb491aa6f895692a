"""Euclidean projections P(v) = argmin_{x ∈ S} ½‖x - v‖² onto simple convex sets.

All act on the last dimension and are vectorised over any leading (batch) dimensions; they take
and return Tensors (detached) or NumPy arrays, matching the input.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainrule.backend import xp
from chainrule.tensor import Tensor, _wrap

__all__ = [
    "SimplexProjection", "project_box", "project_l1_ball", "project_l2_ball", "project_simplex",
]


def _array(v: Any) -> tuple[np.ndarray, bool]:
    if isinstance(v, Tensor):
        return v._array, True
    arr = xp.asarray(v)
    return (arr if arr.dtype.kind == "f" else arr.astype(np.float64)), False


def _like(arr: np.ndarray, as_tensor: bool) -> Any:
    return _wrap(arr) if as_tensor else arr


def _check_radius(radius: float, name: str) -> float:
    radius = float(radius)
    if not (radius > 0 and np.isfinite(radius)):
        raise ValueError(f"{name}: radius must be a finite positive number, got {radius}")
    return radius


def _check_finite(arr: np.ndarray, name: str) -> None:
    """The sort-and-threshold projections mix every entry into θ: one NaN or inf would make
    the others wrong too, so it is an error naming the entry, not a silent result."""
    if arr.size and not np.all(np.isfinite(arr)):
        k = np.unravel_index(int(np.argmax(~np.isfinite(arr))), arr.shape)
        raise ValueError(f"{name}: v has the non-finite entry {arr[k]} at index "
                         f"{tuple(int(i) for i in k)}")


class SimplexProjection(NamedTuple):
    """The projection onto the simplex and the threshold θ with x = max(v - θ, 0)."""

    x: Any
    theta: Any


def project_box(v: Any, lower: Any = None, upper: Any = None) -> Any:
    """Projection onto the box {lower <= x <= upper}: xᵢ = min(max(vᵢ, lowerᵢ), upperᵢ).

    The problem separates by coordinate, so clipping each one is exact; KKT multipliers of the
    bounds are (x - v)⁺ on the lower and (v - x)⁺ on the upper side.
    """
    arr, t = _array(v)
    lo = -np.inf if lower is None else _array(lower)[0]
    hi = np.inf if upper is None else _array(upper)[0]
    if np.any(np.asarray(lo) > np.asarray(hi)):
        raise ValueError("project_box: lower > upper somewhere")
    return _like(xp.clip(arr, lo, hi), t)


def project_simplex(v: Any, radius: float = 1.0) -> SimplexProjection:
    """Projection onto the simplex {x >= 0, Σx = r}: x = max(v - θ, 0) with θ such that Σx = r.

    KKT of min ½‖x - v‖² s.t. 1ᵀx = r, x >= 0 (L = ½‖x - v‖² + θ(1ᵀx - r) - νᵀx):
    x - v + θ1 - ν = 0, ν >= 0, νᵢxᵢ = 0, so xᵢ = max(vᵢ - θ, 0) and νᵢ = max(θ - vᵢ, 0).
    With u = v sorted decreasingly, ρ = max{j : uⱼ - (Σ_{k<=j} uₖ - r)/j > 0} and
    θ = (Σ_{k<=ρ} uₖ - r)/ρ (Held, Wolfe & Crowder 1974; Duchi et al. 2008), O(n log n).
    Returns ``SimplexProjection(x, theta)``; θ has the batch shape.
    """
    r = _check_radius(radius, "project_simplex")
    arr, t = _array(v)
    if arr.ndim == 0:
        raise ValueError("project_simplex: v must have at least one dimension")
    if arr.shape[-1] == 0:
        raise ValueError(f"project_simplex: v has shape {tuple(arr.shape)}; the simplex "
                         f"{{x >= 0, Σx = {r:g}}} in 0 dimensions is empty")
    _check_finite(arr, "project_simplex")
    u = -xp.sort(-arr, axis=-1)
    css = xp.cumsum(u, axis=-1) - r
    j = xp.arange(1, arr.shape[-1] + 1, dtype=arr.dtype)
    cond = u - css / j > 0
    rho = arr.shape[-1] - xp.argmax(cond[..., ::-1], axis=-1)  # last True, 1-based
    theta = xp.take_along_axis(css, (rho - 1)[..., None], axis=-1)[..., 0] / rho
    # rho is an integer array: the division gave float64; keep the input's float dtype
    theta = xp.asarray(theta, dtype=arr.dtype if arr.dtype.kind == "f" else np.float64)
    x = xp.maximum(arr - theta[..., None], 0.0)
    return SimplexProjection(_like(x, t), _like(theta, t))


def project_l1_ball(v: Any, radius: float = 1.0) -> Any:
    """Projection onto the L1 ball {‖x‖₁ <= r}: v itself if inside, otherwise
    x = sign(v)·max(|v| - θ, 0) where θ is the simplex threshold of |v| (so ‖x‖₁ = r).

    Reflection symmetry gives sign(x) = sign(v), which reduces the problem to projecting |v|
    onto the simplex of radius r (Duchi et al. 2008).
    """
    r = _check_radius(radius, "project_l1_ball")
    arr, t = _array(v)
    if arr.ndim == 0:  # a scalar is a vector of one entry
        return _like(project_l1_ball(arr.reshape(1), r).reshape(()), t)
    if arr.shape[-1] == 0:  # ‖·‖₁ of nothing is 0: already inside
        return _like(arr.copy(), t)
    _check_finite(arr, "project_l1_ball")
    a = xp.abs(arr)
    inside = a.sum(axis=-1, keepdims=True) <= r
    shrunk = xp.sign(arr) * project_simplex(a, r).x
    return _like(xp.where(inside, arr, shrunk), t)


def project_l2_ball(v: Any, radius: float = 1.0) -> Any:
    """Projection onto the L2 ball {‖x‖₂ <= r}: x = v·min(1, r/‖v‖₂).

    KKT of min ½‖x - v‖² s.t. ‖x‖² <= r²: x - v + 2μx = 0 gives x = v/(1 + 2μ), a rescaling
    of v that is either v itself (μ = 0, inside) or lands on the sphere ‖x‖ = r.
    """
    r = _check_radius(radius, "project_l2_ball")
    arr, t = _array(v)
    _check_finite(arr, "project_l2_ball")
    norm = xp.sqrt((arr * arr).sum(axis=-1, keepdims=True))
    scale = xp.minimum(1.0, r / xp.maximum(norm, np.finfo(np.float64).tiny))
    return _like(arr * scale, t)
