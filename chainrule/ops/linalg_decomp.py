"""Linear-algebra primitives of ``chainrule.linalg``: inverse, solve, determinants, and the
decompositions (symmetric eigen, SVD, QR) and the pseudo-inverse, batched over leading dims.

Each derivative is written once against ``F`` (see ``autograd.function``), so it is itself
differentiable (``create_graph``). A decomposition with several outputs is one op whose
output packs them along the last axis (``[L | vec Q]`` for eigh, ``[vec U | S | vec Vh]`` for
SVD, ``[vec Q | vec R]`` for QR); ``chainrule.linalg`` slices the pieces out again, so the
gradient of the pieces arrives here as one packed array and the backward can read the
factors back from the op's output (as Tensors under ``create_graph``).

The formulas are the standard ones (Giles 2008; Seeger et al. 2017; Ionescu et al. 2015 for
the SVD, Walter & Lehmann 2018 for QR); they hold where the factorisation is a smooth function
of the input: distinct eigen/singular values, full-rank QR, constant-rank pseudo-inverse.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.engine import Function
from chainrule.autograd.function import ARRAYS
from chainrule.backend import xp


# ---- helpers that read the same on arrays and on Tensors (F-generic) -----------------------
def _eye(n: int, like: Any) -> Any:
    """The n×n identity as an array constant of ``like``'s dtype (a constant on both paths)."""
    return xp.eye(n, dtype=like.dtype)


def _inv(F: Any, a: Any) -> Any:
    """a⁻¹: NumPy on the array path, the differentiable ``Inv`` op on the Tensor path."""
    return xp.linalg.inv(a) if F is ARRAYS else Inv.apply(a)


def _solve(F: Any, a: Any, b: Any) -> Any:
    """a⁻¹ b for matrix-shaped b (…, n, k)."""
    return xp.linalg.solve(a, b) if F is ARRAYS else Solve.apply(a, b)


def _skew(F: Any, m: Any) -> Any:
    return m - F.mT(m)


def unpack(out: Any, *shapes: tuple[int, ...]) -> list:
    """The pieces of a packed output (…, Σ sizes): each reshaped to (…, *shape)."""
    batch = tuple(out.shape[:-1])
    pieces, off = [], 0
    for shape in shapes:
        n = 1
        for s in shape:
            n *= s
        pieces.append(out[..., off:off + n].reshape(batch + shape))
        off += n
    return pieces


def _pack(*arrays: Any, batch: tuple[int, ...]) -> Any:
    return xp.concatenate([a.reshape(batch + (-1,)) for a in arrays], axis=-1)


# ---- singular input ------------------------------------------------------------------------
class LinAlgError(RuntimeError):
    """A matrix function failed on its input (``torch.linalg.LinAlgError``, a RuntimeError)."""


def singular_pivots(a: Any) -> Any:
    """Per matrix of a (…, n, n): 0 if its LU factorisation (partial pivoting, as LAPACK's
    getrf) has no zero pivot, else the 1-based index of the first zero pivot (int32)."""
    import warnings

    from scipy.linalg import LinAlgWarning, lu_factor  # (lazy: the error path only)

    n = a.shape[-1]
    flat = a.reshape(-1, n, n)
    info = xp.zeros(len(flat), dtype=xp.int32)
    for b, m in enumerate(flat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)
            lu = lu_factor(m, check_finite=False)[0]
        zero = xp.flatnonzero(xp.diagonal(lu) == 0)
        info[b] = zero[0] + 1 if zero.size else 0
    return info.reshape(a.shape[:-2])


def _first_singular(a: Any) -> tuple[str, int]:
    """(``"(Batch element i): "`` or ``""``, zero-pivot index) of the first singular matrix."""
    info = singular_pivots(a).reshape(-1)
    b = int(xp.flatnonzero(info)[0]) if info.any() else 0
    return (f"(Batch element {b}): " if a.ndim > 2 else ""), int(info[b])


# ---- inverse, solve, determinants ----------------------------------------------------------
class Inv(Function):
    """X = A⁻¹;  dA = -Xᵀ G Xᵀ."""

    saves = ("out",)

    def forward(self, a: Any) -> Any:
        try:
            return xp.linalg.inv(a)
        except xp.linalg.LinAlgError:
            prefix, k = _first_singular(a)
            raise LinAlgError(f"linalg.inv: {prefix}The diagonal element {k} is zero, the "
                              "inversion could not be completed because the input matrix is "
                              "singular.") from None

    def vjp(self, g: Any, F: Any) -> tuple:
        xt = F.mT(F.output(self))
        return (-(xt @ g @ xt),)


class Solve(Function):
    """X = A⁻¹ B (B of shape (…, n, k); batch dims broadcast);
    dB = A⁻ᵀ G, dA = -dB Xᵀ."""

    saves = ("a", "out")

    def forward(self, a: Any, b: Any) -> Any:
        try:
            return xp.linalg.solve(a, b)
        except xp.linalg.LinAlgError:
            batch = xp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            prefix = _first_singular(xp.broadcast_to(a, batch + a.shape[-2:]))[0]
            raise LinAlgError(f"torch.linalg.solve: {prefix}The solver failed because the "
                              "input matrix is singular.") from None

    def vjp(self, g: Any, F: Any) -> tuple:
        a = F.inputs(self)[0]
        gb = _solve(F, F.mT(a), g)
        ga = -(gb @ F.mT(F.output(self))) if self.needs[0] else None
        return ga, gb


def _cofactor(a: Any) -> Any:
    """The cofactor matrix C = adj(A)ᵀ (= det(A) A⁻ᵀ when A is invertible), valid for singular
    A too: with A = U S Vᵀ, C = det(U) det(V) U diag(Π_{j≠i} s_j) Vᵀ."""
    u, s, vh = xp.linalg.svd(a)
    n = s.shape[-1]
    others = xp.stack([xp.prod(xp.delete(s, i, axis=-1), axis=-1) for i in range(n)], -1)
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    return sign[..., None, None] * ((u * others[..., None, :]) @ vh)


class Det(Function):
    """d = det A;  dA = g · cof(A) = g d A⁻ᵀ (the SVD form of the cofactor matrix where A is
    singular, as a constant: the second derivative there is not recorded)."""

    saves = ("a", "out")

    def forward(self, a: Any) -> Any:
        return xp.linalg.det(a)

    def vjp(self, g: Any, F: Any) -> tuple:
        (a,) = F.inputs(self)
        d = F.output(self)
        d_arr = d if F is ARRAYS else d._array
        if (d_arr == 0).any():
            a_arr = a if F is ARRAYS else a._array
            return (g[..., None, None] * _cofactor(a_arr),)
        return ((g * d)[..., None, None] * F.mT(_inv(F, a)),)


class LogAbsDet(Function):
    """l = log |det A| (slogdet's second output);  dA = g A⁻ᵀ.

    ``value`` passes in the result when the caller computed slogdet already (for the sign)."""

    saves = ("a",)

    def forward(self, a: Any, value: Any = None) -> Any:
        return xp.linalg.slogdet(a)[1] if value is None else value

    def vjp(self, g: Any, F: Any) -> tuple:
        (a,) = F.inputs(self)
        return (g[..., None, None] * F.mT(_inv(F, a)),)


# ---- decompositions (packed outputs) -------------------------------------------------------
class Eigh(Function):
    """A = Q diag(L) Qᵀ for symmetric A (output packed as [L | vec Q]);
    dA = Q (diag(gL) + sym(Qᵀ gQ) ∘ F) Qᵀ with F_ij = 1/(L_j - L_i), i ≠ j, and F_ii = 0
    (the skew part of Qᵀ gQ divided by the antisymmetric gaps, as PyTorch: dA is symmetric)."""

    saves = ("out",)

    def forward(self, a: Any, uplo: str = "L") -> Any:
        self.n = n = a.shape[-1]
        lam, q = xp.linalg.eigh(a, UPLO=uplo)
        return _pack(lam, q, batch=a.shape[:-2]) if n else xp.zeros(a.shape[:-2] + (0,),
                                                                     a.dtype)

    def vjp(self, g: Any, F: Any) -> tuple:
        n = self.n
        lam, q = unpack(F.output(self), (n,), (n, n))
        glam, gq = unpack(g, (n,), (n, n))
        eye = _eye(n, lam)
        gaps = lam[..., None, :] - lam[..., :, None] + eye  # 1 on the diagonal: no 0/0
        inner = _skew(F, F.mT(q) @ gq) * (0.5 * (1 - eye)) / gaps + glam[..., None] * eye
        return (q @ inner @ F.mT(q),)


class Svd(Function):
    """A = U diag(S) Vh (output packed as [vec U | S | vec Vh]); with E_ij = S_j² - S_i²,
    J = (skew(Uᵀ gU) S + S skew(Vh gVhᵀ)) / E + diag(gS), and for tall A (m > n)
    dA = (U J + (I - U Uᵀ) gU S⁻¹) Vh, for wide A U (J Vh + S⁻¹ gVh (I - Vhᵀ Vh)), else U J Vh.
    With ``full_matrices`` only the first k = min(m, n) columns of U (rows of Vh) carry
    gradient, as in PyTorch."""

    saves = ("out",)

    def forward(self, a: Any, full_matrices: bool = False) -> Any:
        m, n = a.shape[-2:]
        k = min(m, n)
        self.full = full_matrices
        self.dims = (m, n, k)
        u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
        self.u_shape, self.vh_shape = tuple(u.shape[-2:]), tuple(vh.shape[-2:])
        return _pack(u, s, vh, batch=a.shape[:-2])

    def vjp(self, g: Any, F: Any) -> tuple:
        m, n, k = self.dims
        u, s, vh = unpack(F.output(self), self.u_shape, (k,), self.vh_shape)
        gu, gs, gvh = unpack(g, self.u_shape, (k,), self.vh_shape)
        if self.full:
            u, gu = u[..., :, :k], gu[..., :, :k]
            vh, gvh = vh[..., :k, :], gvh[..., :k, :]
        eye = _eye(k, s)
        s2 = s * s
        gaps = s2[..., None, :] - s2[..., :, None] + eye
        j = (_skew(F, F.mT(u) @ gu) * s[..., None, :]
             + s[..., :, None] * _skew(F, vh @ F.mT(gvh))) / gaps + gs[..., None] * eye
        if m > n:
            gu_sinv = gu / s[..., None, :]
            ga = (u @ j + gu_sinv - u @ (F.mT(u) @ gu_sinv)) @ vh
        elif m < n:
            sinv_gvh = gvh / s[..., :, None]
            ga = u @ (j @ vh + sinv_gvh - (sinv_gvh @ F.mT(vh)) @ vh)
        else:
            ga = u @ j @ vh
        return (ga,)


def _copyltu(F: Any, m: Any) -> Any:
    """tril(M) + tril(M, -1)ᵀ: the symmetric matrix with M's lower triangle."""
    n = m.shape[-1]
    low = xp.tril(xp.ones((n, n), dtype=m.dtype), -1)
    diag = _eye(n, m)
    lo = m * low
    return lo + F.mT(lo) + m * diag


def _qr_square_backward(F: Any, gq: Any, gr: Any, q: Any, r: Any) -> Any:
    """dA of A = QR with R square (n×n) and Q m×n (m ≥ n):
    dA = (gQ + Q copyltu(M)) R⁻ᵀ, M = R gRᵀ - gQᵀ Q."""
    m = r @ F.mT(gr) - F.mT(gq) @ q
    x = gq + q @ _copyltu(F, m)
    return F.mT(_solve(F, r, F.mT(x)))  # x R⁻ᵀ = (R⁻¹ xᵀ)ᵀ


class Qr(Function):
    """A = Q R (output packed as [vec Q | vec R]); for m ≥ n (reduced) see
    ``_qr_square_backward``; for m < n, with R = [X | Y] (X square): Y = Qᵀ A₂ gives
    dA₂ = Q gY and adds A₂ gYᵀ to gQ, and dA₁ is the square case on (gQ', gX)."""

    saves = ("out",)

    def forward(self, a: Any, mode: str = "reduced") -> Any:
        self.m, self.n = a.shape[-2:]
        self.mode = mode
        q, r = xp.linalg.qr(a, mode=mode)
        self.q_shape, self.r_shape = tuple(q.shape[-2:]), tuple(r.shape[-2:])
        return _pack(q, r, batch=a.shape[:-2])

    def vjp(self, g: Any, F: Any) -> tuple:
        m, n = self.m, self.n
        if self.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' "
                               "and nrows > ncols.")
        q, r = unpack(F.output(self), self.q_shape, self.r_shape)
        gq, gr = unpack(g, self.q_shape, self.r_shape)
        # R's strict lower triangle is 0 whatever A is: a gradient landing there means nothing
        gr = gr * xp.triu(xp.ones(self.r_shape, dtype=r.dtype))
        if m >= n:
            return (_qr_square_backward(F, gq, gr, q, r),)
        x, gx = r[..., :, :m], gr[..., :, :m]
        y, gy = r[..., :, m:], gr[..., :, m:]
        a2 = q @ y
        ga1 = _qr_square_backward(F, gq + a2 @ F.mT(gy), gx, q, x)
        ga2 = q @ gy
        # [ga1 | ga2] with products by constant selection matrices (the same on both paths)
        first = xp.eye(m, n, dtype=r.dtype)
        rest = xp.eye(n - m, n, k=m, dtype=r.dtype)
        return (ga1 @ first + ga2 @ rest,)


def pinv_array(a: Any, atol: Any, rtol: Any, hermitian: bool) -> Any:
    """A⁺ by SVD (or eigh when ``hermitian``), singular values ≤ max(atol, rtol·σ_max)
    treated as 0 (``atol``/``rtol`` scalars or arrays broadcasting over the batch)."""
    if hermitian:
        lam, q = xp.linalg.eigh(a)
        mag = xp.abs(lam)
        tol = xp.maximum(atol, rtol * mag.max(-1, initial=0.0))
        inv = xp.where(mag > tol[..., None], 1.0 / xp.where(mag == 0, 1.0, lam), 0.0)
        return (q * inv[..., None, :].astype(a.dtype)) @ q.swapaxes(-1, -2)
    u, s, vh = xp.linalg.svd(a, full_matrices=False)
    tol = xp.maximum(atol, rtol * s.max(-1, initial=0.0))
    inv = xp.where(s > tol[..., None], 1.0 / xp.where(s == 0, 1.0, s), 0.0).astype(a.dtype)
    return (vh.swapaxes(-1, -2) * inv[..., None, :]) @ u.swapaxes(-1, -2)


class Pinv(Function):
    """P = A⁺ (Moore-Penrose);  for constant rank (Golub & Pereyra 1973)
    dA = -Pᵀ G Pᵀ + (I - A P) Gᵀ P Pᵀ + Pᵀ P Gᵀ (I - P A)."""

    saves = ("a", "out")

    def forward(self, a: Any, atol: Any = 0.0, rtol: Any = 0.0, hermitian: bool = False) -> Any:
        return pinv_array(a, atol, rtol, hermitian)

    def vjp(self, g: Any, F: Any) -> tuple:
        a = F.inputs(self)[0]
        p = F.output(self)
        pt, gt = F.mT(p), F.mT(g)
        pgt = p @ gt
        ga = (-(pt @ g @ pt)
              + (gt @ p - a @ (pgt @ p)) @ pt
              + pt @ (pgt - (pgt @ p) @ a))
        return (ga,)


def _expm(a: Any) -> Any:
    from scipy.linalg import expm  # (lazy: only this op needs SciPy)

    return xp.asarray(expm(a))


class MatrixExp(Function):
    """E = exp(A);  dA = the upper-right block of exp([[Aᵀ, G], [0, Aᵀ]]) (the Fréchet
    derivative of exp at Aᵀ in direction G, Najfeld & Havel 1995)."""

    saves = ("a",)

    def forward(self, a: Any) -> Any:
        if not a.shape[-1]:
            return a.copy()
        return backend.opaque_call(_expm, a)  # (SciPy: one recorded call under compile)

    def vjp(self, g: Any, F: Any) -> tuple:
        (a,) = F.inputs(self)
        n = a.shape[-1]
        at = F.mT(a)
        # block = [[Aᵀ, G], [0, Aᵀ]] built from constant placement matrices (no concatenate)
        top = xp.eye(n, 2 * n, dtype=g.dtype)             # n × 2n: [I | 0]
        bottom = xp.eye(n, 2 * n, k=n, dtype=g.dtype)     # n × 2n: [0 | I]
        block = (top.T @ at @ top + top.T @ g @ bottom + bottom.T @ at @ bottom)
        e = xp.asarray(MatrixExp().forward(block)) if F is ARRAYS else MatrixExp.apply(block)
        return (top @ e @ bottom.T,)
