"""``parametrizations.orthogonal``: a weight constrained to orthogonal (or semi-orthogonal)
matrices, Q = map(original).

Maps (on the tall orientation n ≥ k; a wide weight is handled transposed):

- ``matrix_exp``: A = X_low − X_lowᵀ (skew-symmetric from the lower triangle), Q = exp(A)[:, :k]
- ``cayley``: Q = (I − A/2)⁻¹ (I + A/2)[:, :k]
- ``householder``: Q = H₁ ⋯ H_k [:, :k], H_i = I − τ_i v_i v_iᵀ with v_i the i-th column of the
  strictly lower triangle plus a unit diagonal and τ_i = 2 / (1 + ‖v_i‖² − 1)

With ``use_trivialization=True`` (default) the result is multiplied by a buffer ``base``, an
orthogonal matrix set on assignment, so the original starts at −I (Lezcano-Casado 2019).
All maps are built from differentiable ops (matrix exp by scaling and squaring of a Taylor
polynomial, exact to double rounding for ‖A/2^s‖₁ ≤ ½ at degree 18).
"""

from __future__ import annotations

import math
from enum import Enum, auto
from typing import Any

import numpy as np

from chainrule.autograd.engine import no_grad
from chainrule.backend import xp
from chainrule.creation import eye
from chainrule.nn.modules.module import Module
from chainrule.ops.linalg_decomp import Solve
from chainrule.tensor import Tensor, _wrap, cat

__all__ = ["orthogonal"]

_TAYLOR_DEGREE = 18  # with ‖A‖₁ ≤ ½ the remainder is below 0.5¹⁹/19! ≈ 2e-23


def matrix_exp(a: Tensor) -> Tensor:
    """exp(A) of a (batch of) square matrices: exp(A/2^s)^(2^s), the inner exp by the Horner
    form of its degree-18 Taylor polynomial; s makes ‖A/2^s‖₁ ≤ ½. Differentiable."""
    n = a.shape[-1]
    norm = float(xp.abs(a._array).sum(-2).max()) if a._array.size else 0.0
    s = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0.5 else 0
    a = a / float(2**s) if s else a
    ident = _wrap(xp.eye(n, dtype=a.dtype))
    r = ident
    for j in range(_TAYLOR_DEGREE, 0, -1):
        r = ident + (a @ r) / float(j)
    for _ in range(s):
        r = r @ r
    return r


def householder_product(a: Tensor, tau: Tensor) -> Tensor:
    """The first k columns of H₁ ⋯ H_k, H_i = I − τ_i v_i v_iᵀ, v_i = (0,…,0, 1, a[i+1:, i]) —
    LAPACK's orgqr, as ``torch.linalg.householder_product`` (batched; differentiable)."""
    n, k = a.shape[-2], a.shape[-1]
    below = a.tril(-1)
    unit = _wrap(xp.eye(n, k, dtype=a.dtype))
    vs = below + unit  # column i is v_i
    q = unit.expand(*a.shape[:-2], n, k) if a.ndim > 2 else unit
    for i in range(k - 1, -1, -1):
        v = vs[..., :, i:i + 1]                                   # (..., n, 1)
        t = tau[..., i:i + 1].unsqueeze(-1)                       # (..., 1, 1)
        q = q - (v * t) @ (v.mT @ q)
    return q


def _lapack(name: str, a: np.ndarray) -> Any:
    import scipy.linalg  # on first use: it costs ~0.5 s at `import chainrule.nn`

    return scipy.linalg.get_lapack_funcs((name,), (a,))[0]


def geqrf(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LAPACK geqrf of a batch of matrices: (Householder vectors + R, τ), as ``torch.geqrf``."""
    batch = a.shape[:-2]
    flat = a.reshape((-1,) + a.shape[-2:])
    outs, taus = [], []
    fn = _lapack("geqrf", flat)
    for m in flat:
        qr, tau, _, info = fn(m)
        if info != 0:
            raise RuntimeError(f"geqrf: LAPACK returned info={info}")
        outs.append(qr)
        taus.append(tau)
    k = min(a.shape[-2:])
    return (np.stack(outs).reshape(a.shape),
            np.stack(taus).reshape(batch + (k,)) if taus else np.empty(batch + (k,), a.dtype))


def _make_orthogonal(a: np.ndarray) -> np.ndarray:
    """Q of A = QR with diag(R) ≥ 0 (Q from orgqr, its columns signed by diag(R))."""
    x, tau = geqrf(a)
    with no_grad():
        q = householder_product(_wrap(x), _wrap(tau))._array
    return q * np.sign(np.diagonal(x, axis1=-2, axis2=-1))[..., None, :]


def _is_orthogonal(q: np.ndarray) -> bool:
    n, k = q.shape[-2], q.shape[-1]
    eps = 10.0 * n * np.finfo(q.dtype).eps
    return bool(np.allclose(np.swapaxes(q, -1, -2) @ q, np.eye(k, dtype=q.dtype), atol=eps))


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


class _Orthogonal(Module):
    """X ↦ an orthogonal Q (see the module docstring); ``base`` (a buffer) when trivialized."""

    def __init__(self, weight: Tensor, orthogonal_map: _OrthMaps, *,
                 use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            X = X.tril()
            if n != k:
                pad = _wrap(xp.zeros(tuple(X.shape[:-2]) + (n, n - k), dtype=X.dtype))
                X = cat([X, pad], dim=-1)
            A = X - X.mT
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = matrix_exp(A)
            else:
                ident = eye(n, dtype=A.dtype)
                Q = Solve.apply(ident - 0.5 * A, ident + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(-2))
            Q = householder_product(A, tau)
            # torch casts the diagonal to int: ±1 after right_inverse (truncation, no gradient)
            Q = Q * X.diagonal(0, -2, -1).detach().trunc().unsqueeze(-2)
        base = self._buffers.get("base")
        if base is not None:
            Q = base @ Q
        return Q.mT if transposed else Q

    def right_inverse(self, Q: Tensor) -> Tensor:
        """An original whose image is ``Q``: with trivialization ``base = Q`` (completed to a
        square orthogonal matrix) and original −I; else Q's geqrf factors (householder only)."""
        if tuple(Q.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {tuple(Q.shape)}.")
        q = Q.detach()._array
        n, k = q.shape[-2], q.shape[-1]
        transpose = n < k
        if transpose:
            q = np.swapaxes(q, -1, -2)
            n, k = k, n
        if "base" not in self._buffers:
            if self.orthogonal_map != _OrthMaps.householder:
                raise NotImplementedError(
                    "It is not possible to assign to the matrix exponential or the Cayley "
                    "parametrizations when use_trivialization=False.")
            a, tau = geqrf(q)
            diag = np.diagonal(a, axis1=-2, axis2=-1)
            signs = np.where(tau == 0.0, -np.sign(diag), np.sign(diag))
            a = a.copy()
            idx = np.arange(k)
            a[..., idx, idx] = signs
            return _wrap(np.ascontiguousarray(np.swapaxes(a, -1, -2) if transpose else a))
        if n == k:
            q = q.copy() if _is_orthogonal(q) else _make_orthogonal(q)
        else:
            # complete to a square matrix with random columns (drawn from chainrule's generator)
            from chainrule import randn

            extra = randn(*(q.shape[:-2] + (n, n - k)), dtype=Q.dtype)._array
            q = _make_orthogonal(np.concatenate([q, extra], axis=-1))
        self.base = _wrap(np.ascontiguousarray(q))
        neg_id = np.zeros(self.shape, dtype=q.dtype)
        ii = np.arange(min(self.shape[-2:]))
        neg_id[..., ii, ii] = -1.0
        return _wrap(neg_id)


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True) -> Module:
    """Constrain ``module.<name>`` (a matrix or batch of matrices) to be orthogonal:
    QᵀQ = I (tall) or QQᵀ = I (wide). ``orthogonal_map`` defaults to ``matrix_exp`` for square
    weights and ``householder`` otherwise."""
    from chainrule.nn.utils import parametrize

    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError("Expected a matrix or batch of matrices. "
                         f"Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = ("matrix_exp" if weight.shape[-2] == weight.shape[-1]
                          else "householder")
    orth_enum = getattr(_OrthMaps, orthogonal_map, None)
    if orth_enum is None:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", '
                         f'"householder". Got: {orthogonal_map}')
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
