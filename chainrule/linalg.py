"""``chainrule.linalg``: ``torch.linalg``'s functions, batched over leading dims ``(*, m, n)``,
with PyTorch's signatures, error messages and gradients.

Primitives with their own derivative live in ``chainrule.ops.linalg_decomp`` (inverse, solve,
determinants, eigh, SVD, QR, pseudo-inverse, matrix exponential) and ``chainrule.ops.linalg``
(Cholesky, triangular solve); everything else here is composed of differentiable ops.

Example::

    >>> import chainrule as torch
    >>> A = torch.tensor([[4.0, 1.0], [1.0, 3.0]], requires_grad=True)
    >>> torch.linalg.det(A).backward()        # d det / dA = det(A) A⁻ᵀ
    >>> A.grad
    tensor([[ 3., -1.],
            [-1.,  4.]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from chainrule.autograd.engine import _GradMode
from chainrule.backend import int32, int64, is_floating, to_dtype, xp
from chainrule.ops import linalg as _tri
from chainrule.ops import linalg_decomp as D
from chainrule.ops.linalg_decomp import LinAlgError
from chainrule.tensor import Tensor, _wrap, stack

__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eigh",
    "eigvalsh", "inv", "inv_ex", "lstsq", "matmul", "matrix_exp", "matrix_norm", "matrix_power",
    "matrix_rank", "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_ex",
    "solve_triangular", "svd", "svdvals", "vecdot", "vector_norm",
]

_INF = float("inf")


# ---- result types (torch.return_types.linalg_*) --------------------------------------------
class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class LstsqResult(NamedTuple):
    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


class InvExResult(NamedTuple):
    inverse: Tensor
    info: Tensor


class CholeskyExResult(NamedTuple):
    L: Tensor
    info: Tensor


class SolveExResult(NamedTuple):
    result: Tensor
    info: Tensor


# ---- argument checks (PyTorch's messages) --------------------------------------------------
_TORCH_TYPE_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double", "int64": "Long",
                     "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                     "bool": "Bool"}


def _tensor(name: str, x: Any, arg: str = "A") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(x).__name__}")
    return x


def _check_float(name: str, x: Tensor) -> None:
    if not is_floating(x.dtype):
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got "
                           f"{_TORCH_TYPE_NAMES.get(str(x.dtype), str(x.dtype))}")


def _check_matrix(name: str, x: Tensor, arg: str = "A") -> None:
    if x.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {arg} must have at least 2 dimensions.")


def _check_square(name: str, x: Any, float_only: bool = True) -> Tensor:
    """A (*, n, n) floating tensor, or the RuntimeError PyTorch raises."""
    x = _tensor(name, x)
    _check_matrix(name, x)
    if x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"{name}: A must be batches of square matrices, but they are "
                           f"{x.shape[-2]} by {x.shape[-1]} matrices")
    if float_only:
        _check_float(name, x)
    return x


def _recording(*xs: Any) -> bool:
    """True when a result computed from ``xs`` is to be recorded for autograd."""
    return _GradMode.enabled and any(isinstance(x, Tensor) and x.requires_grad for x in xs)


def _eps(dtype: Any) -> float:
    return float(xp.finfo(dtype).eps)


# ---- norms ---------------------------------------------------------------------------------
def _dims(dim: Any, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        return (dim,)
    return tuple(dim)


def vector_norm(x: Tensor, ord: float = 2, dim: Any = None, keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """‖x‖_ord = (Σ |xᵢ|^ord)^(1/ord) over ``dim`` (all dims when None); ord = ±inf gives
    max/min |xᵢ|, ord = 0 the number of non-zeros."""
    x = _tensor("linalg.vector_norm", x, "input")
    if isinstance(ord, str):
        raise TypeError("linalg_vector_norm(): argument 'ord' must be Number, not str")
    if x.dtype.kind != "c":  # (complex: the norms of |xᵢ|, real)
        _check_float("linalg.vector_norm", x)
    if dtype is not None:
        x = x.to(to_dtype(dtype))
    dims = _dims(dim, x.ndim)
    seen = set()
    for d in dims:
        if d % max(x.ndim, 1) in seen:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        seen.add(d % max(x.ndim, 1))
    if ord == 2:
        return x.norm(2, dim=dims, keepdim=keepdim)
    if ord == _INF:
        return x.abs().amax(dims, keepdim=keepdim)
    if ord == -_INF:
        return x.abs().amin(dims, keepdim=keepdim)
    if ord == 0:
        return (x != 0).to(x.dtype).sum(dims, keepdim=keepdim)
    if ord == 1:
        return x.abs().sum(dims, keepdim=keepdim)
    return (x.abs() ** ord).sum(dims, keepdim=keepdim) ** (1.0 / ord)


_MATRIX_ORDS = ("fro", "nuc", 2, -2, 1, -1, _INF, -_INF)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1),
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Matrix norms over the two dims ``dim``: 'fro' (√Σ a²), 'nuc' (Σ σ), 2 / -2 (largest /
    smallest σ), 1 / -1 (max / min column sum of |a|), inf / -inf (max / min row sum)."""
    A = _tensor("linalg.matrix_norm", A)
    _check_matrix("linalg.matrix_norm", A)
    _check_float("linalg.matrix_norm", A)
    if ord not in _MATRIX_ORDS:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if dtype is not None:
        A = A.to(to_dtype(dtype))
    d0, d1 = (d % A.ndim for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got {tuple(dim)}")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in (1, -1, _INF, -_INF):
        summed, reduced = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = A.abs().sum(summed, keepdim=True)
        out = sums.amax(reduced, keepdim=True) if ord > 0 else sums.amin(reduced, keepdim=True)
        return out if keepdim else out.squeeze((d0, d1) if d0 < d1 else (d1, d0))
    rest = [d for d in range(A.ndim) if d not in (d0, d1)]
    s = svdvals(A.permute(*rest, d0, d1))
    out = s.sum(-1) if ord == "nuc" else s.amax(-1) if ord == 2 else s.amin(-1)
    if keepdim:
        for d in sorted((d0, d1)):
            out = out.unsqueeze(d)
    return out


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """A vector norm (``dim`` an int, or 1-D input) or a matrix norm (``dim`` a pair, or 2-D
    input with ``ord`` given); with neither ``ord`` nor ``dim``, the 2-norm of the flattened
    input."""
    A = _tensor("linalg.norm", A)
    if dim is not None:
        dims = _dims(dim, A.ndim)
        if len(dims) not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. "
                               f"Got {list(dims)}")
    elif ord is not None:
        if A.ndim not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must "
                               f"be 1D or 2D. Got {A.ndim}D.")
        dims = tuple(range(A.ndim))
    else:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if len(dims) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
    if isinstance(ord, str):  # a matrix order for one dim: PyTorch's matrix_norm errors
        _check_matrix("linalg.matrix_norm", A)
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dims[0]}")
    return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)


def cond(A: Tensor, p: Any = None) -> Tensor:
    """κ_p(A) = ‖A‖_p ‖A⁻¹‖_p; for p = None / 2 / -2 the ratio of extreme singular values."""
    A = _tensor("linalg.cond", A)
    _check_matrix("linalg.cond", A)
    if p in (None, 2, -2):
        s = svdvals(A)
        return s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    A = _check_square("linalg.cond", A)
    return matrix_norm(A, p) * matrix_norm(inv(A), p)


# ---- inverse, determinants, solves ---------------------------------------------------------
def inv(A: Tensor) -> Tensor:
    """A⁻¹ (batched);  dA = -A⁻ᵀ G A⁻ᵀ."""
    A = _check_square("linalg.inv", A)
    return D.Inv.apply(A)


def inv_ex(A: Tensor, *, check_errors: bool = False) -> InvExResult:
    """``(inverse, info)``: info = 0 where A is invertible, else the (1-based) index of the
    zero pivot of its LU factorisation (the inverse of that matrix is then NaN)."""
    A = _check_square("linalg.inv_ex", A)
    info = D.singular_pivots(A._array)
    if check_errors or not info.any():
        return InvExResult(inv(A), _wrap(info))
    ok = info == 0
    safe = xp.where(ok[..., None, None], A._array, xp.eye(A.shape[-1], dtype=A.dtype))
    out = xp.where(ok[..., None, None], xp.linalg.inv(safe), xp.nan)
    return InvExResult(_wrap(out), _wrap(info))


def det(A: Tensor) -> Tensor:
    """det A;  dA = g det(A) A⁻ᵀ (the cofactor matrix)."""
    A = _check_square("linalg.det", A)
    return D.Det.apply(A)


def slogdet(A: Tensor) -> SlogdetResult:
    """``(sign, logabsdet)`` with det A = sign · exp(logabsdet);  d logabsdet / dA = A⁻ᵀ."""
    A = _check_square("linalg.slogdet", A)
    sign, logabs = xp.linalg.slogdet(A._array)
    return SlogdetResult(_wrap(xp.asarray(sign)),
                         D.LogAbsDet.apply(A, value=xp.asarray(logabs)))


def logdet(A: Tensor) -> Tensor:
    """log det A: NaN where det A < 0 and -inf where it is 0 (``torch.logdet``)."""
    A = _check_square("logdet", A)
    sign, logabs = slogdet(A)
    with xp.errstate(divide="ignore", invalid="ignore"):
        shift = xp.log(sign._array)  # 0 for +1, -inf for 0, NaN for -1
    return logabs + _wrap(shift) if (sign._array != 1).any() else logabs


def _is_vector_rhs(A: Tensor, B: Tensor) -> bool:
    """PyTorch's rule: B is a (batch of) vector(s) if 1-D, or (*, n) against A's (*, n, n)."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """X with A X = B (X A = B when ``left=False``); B of shape (*, n) or (*, n, k), batch dims
    broadcast;  dB = A⁻ᵀ G, dA = -dB Xᵀ."""
    A = _check_square("linalg.solve", A)
    B = _tensor("linalg.solve", B, "B")
    if A.dtype != B.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A "
                           f"of type {_TORCH_TYPE_NAMES.get(str(A.dtype))} and B of type "
                           f"{_TORCH_TYPE_NAMES.get(str(B.dtype))} instead")
    if not left:
        if B.ndim < 2:
            raise RuntimeError("linalg.solve: with left=False, B must have at least 2 dimensions")
        return solve(A.mT, B.mT).mT
    vector = _is_vector_rhs(A, B)
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {Bm.shape[-2]}x{Bm.shape[-1]})")
    X = D.Solve.apply(A, Bm)
    return X.squeeze(-1) if vector else X


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True,
             check_errors: bool = False) -> SolveExResult:
    """``(result, info)`` of ``solve``: info = 0 per matrix where A is invertible, else the
    1-based index of the zero pivot of its LU factorisation (that result is then NaN, without
    gradient); ``check_errors=True`` raises instead."""
    A = _check_square("linalg.solve_ex", A)
    info = D.singular_pivots(A._array)
    if check_errors or not info.any():
        return SolveExResult(solve(A, B, left=left), _wrap(info))
    ok = info == 0
    safe = xp.where(ok[..., None, None], A._array, xp.eye(A.shape[-1], dtype=A.dtype))
    X = solve(_wrap(safe), B.detach(), left=left)._array
    mask = ok.reshape(ok.shape + (1,) * (X.ndim - ok.ndim))
    return SolveExResult(_wrap(xp.where(mask, X, xp.nan)), _wrap(info))


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True,
                     unitriangular: bool = False) -> Tensor:
    """X with A X = B (X A = B when ``left=False``) for triangular A: only the triangle named
    by ``upper`` is read (and not its diagonal when ``unitriangular``, taken as ones)."""
    A = _check_square("linalg.solve_triangular", A)
    B = _tensor("linalg.solve_triangular", B, "B")
    _check_matrix("linalg.solve_triangular", B, "B")
    if unitriangular:
        eye = _wrap(xp.eye(A.shape[-1], dtype=A.dtype))
        A = (A.triu(1) if upper else A.tril(-1)) + eye
    if not left:
        return solve_triangular(A.mT, B.mT, upper=not upper).mT
    return _tri.SolveTriangular.apply(A, B, upper=upper)


# ---- Cholesky ------------------------------------------------------------------------------
def _batch_prefix(a: Any, index: int) -> str:
    return f"(Batch element {index}): " if a.ndim > 2 else ""


def _cholesky_failure(a: Any) -> tuple[int, int]:
    """(batch index, order of the first leading minor that is not positive-definite)."""
    n = a.shape[-1]
    flat = a.reshape(-1, n, n)
    for b, m in enumerate(flat):
        for k in range(1, n + 1):
            try:
                xp.linalg.cholesky(m[:k, :k])
            except xp.linalg.LinAlgError:
                return b, k
    return -1, 0


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """L with A = L Lᵀ (Uᵀ U with ``upper``) for symmetric positive-definite A (its lower
    triangle is read)."""
    A = _check_square("linalg.cholesky", A)
    b, k = _cholesky_failure(A._array) if not _is_pd(A._array) else (-1, 0)
    if b >= 0:
        raise LinAlgError(f"linalg.cholesky: {_batch_prefix(A._array, b)}The factorization could "
                          f"not be completed because the input is not positive-definite (the "
                          f"leading minor of order {k} is not positive-definite).")
    L = _tri.Cholesky.apply(A)
    return L.mT if upper else L


def _is_pd(a: Any) -> bool:
    try:
        xp.linalg.cholesky(a)
    except xp.linalg.LinAlgError:
        return False
    return True


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False
                ) -> CholeskyExResult:
    """``(L, info)``: info = 0 per matrix where the factorisation succeeded, else the order of
    the leading minor that is not positive-definite (that matrix's L is then NaN)."""
    A = _check_square("linalg.cholesky_ex", A)
    a = A._array
    n = a.shape[-1]
    flat = a.reshape(-1, n, n)
    info = xp.zeros(len(flat), dtype=int32)
    for b, m in enumerate(flat):
        if not _is_pd(m):
            info[b] = _cholesky_failure(m)[1]
    info = info.reshape(a.shape[:-2])
    if not info.any() or check_errors:
        return CholeskyExResult(cholesky(A, upper=upper), _wrap(info))
    ok = (info == 0)[..., None, None]
    L = xp.where(ok, xp.linalg.cholesky(xp.where(ok, a, xp.eye(n, dtype=a.dtype))), xp.nan)
    return CholeskyExResult(_wrap(L.swapaxes(-1, -2) if upper else L), _wrap(info))


# ---- decompositions ------------------------------------------------------------------------
def eigh(A: Tensor, UPLO: str = "L") -> EighResult:
    """``(eigenvalues, eigenvectors)`` of symmetric A (ascending), reading the triangle
    ``UPLO``; gradients hold for distinct eigenvalues (see ``ops.linalg_decomp.Eigh``)."""
    A = _check_square("linalg.eigh", A)
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    n = A.shape[-1]
    lam, q = D.unpack(D.Eigh.apply(A, uplo=UPLO), (n,), (n, n))
    return EighResult(lam, q)


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of symmetric A, ascending."""
    A = _check_square("linalg.eigvalsh", A)
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    if _recording(A):
        return eigh(A, UPLO).eigenvalues
    return _wrap(xp.linalg.eigvalsh(A._array, UPLO=UPLO))


def svd(A: Tensor, full_matrices: bool = True, *, driver: Any = None) -> SVDResult:
    """``(U, S, Vh)`` with A = U diag(S) Vh, S descending (``full_matrices``: U m×m and Vh
    n×n, else m×k and k×n, k = min(m, n)); gradients hold for distinct non-zero S, and the
    loss must not depend on the sign of the singular vectors (as in PyTorch)."""
    A = _tensor("linalg.svd", A)
    _check_matrix("linalg.svd", A)
    _check_float("linalg.svd", A)
    m, n = A.shape[-2:]
    k = min(m, n)
    u_shape = (m, m) if full_matrices else (m, k)
    vh_shape = (n, n) if full_matrices else (k, n)
    U, S, Vh = D.unpack(D.Svd.apply(A, full_matrices=full_matrices), u_shape, (k,), vh_shape)
    return SVDResult(U, S, Vh)


def svdvals(A: Tensor, *, driver: Any = None) -> Tensor:
    """The singular values of A, descending;  dA = U diag(gS) Vh."""
    A = _tensor("linalg.svdvals", A)
    _check_matrix("linalg.svdvals", A)
    _check_float("linalg.svdvals", A)
    if _recording(A):
        return svd(A, full_matrices=False).S
    return _wrap(xp.linalg.svd(A._array, compute_uv=False))


def qr(A: Tensor, mode: str = "reduced") -> QRResult:
    """``(Q, R)`` with A = Q R, Q orthonormal columns, R upper triangular; ``mode`` 'reduced'
    (Q m×k, R k×n), 'complete' (Q m×m, R m×n) or 'r' (Q empty)."""
    A = _tensor("linalg.qr", A)
    _check_matrix("linalg.qr", A)
    _check_float("linalg.qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           "'reduced' (default), 'r', or 'complete'")
    m, n = A.shape[-2:]
    k = min(m, n)
    full = mode == "complete"
    q_shape = (m, m) if full else (m, k)
    r_shape = (m, n) if full else (k, n)
    Q, R = D.unpack(D.Qr.apply(A, mode="complete" if full else "reduced"), q_shape, r_shape)
    if mode == "r":
        return QRResult(_wrap(xp.zeros(0, dtype=A.dtype)), R)
    return QRResult(Q, R)


def _tolerances(A: Tensor, atol: Any, rtol: Any, name: str) -> tuple[Any, Any]:
    """(atol, rtol) as arrays broadcasting over the batch (PyTorch's defaults: rtol = eps ·
    max(m, n) unless atol > 0 is given)."""
    def arr(v: Any) -> Any:
        return v._array if isinstance(v, Tensor) else xp.asarray(v, dtype=A.dtype)

    a = arr(0.0 if atol is None else atol)
    if rtol is None:
        given = atol is not None and bool(xp.any(a > 0))
        r = arr(0.0 if given else _eps(A.dtype) * max(A.shape[-2:]))
    else:
        r = arr(rtol)
    return a, r


def pinv(A: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudo-inverse A⁺ (singular values ≤ max(atol, rtol σ₁) dropped);
    gradient for constant rank (see ``ops.linalg_decomp.Pinv``)."""
    A = _tensor("linalg.pinv", A)
    if A.ndim < 2 or not is_floating(A.dtype):
        raise RuntimeError(f"linalg.pinv({_TORCH_TYPE_NAMES.get(str(A.dtype))}{{{list(A.shape)}}})"
                           ": expected a tensor with 2 or more dimensions of float, double, "
                           "cfloat or cdouble types")
    a, r = _tolerances(A, atol, rtol, "linalg.pinv")
    return D.Pinv.apply(A, atol=a, rtol=r, hermitian=hermitian)


def matrix_rank(A: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False,
                tol: Any = None) -> Tensor:
    """The number of singular values > max(atol, rtol σ₁) (int64, no gradient)."""
    A = _tensor("linalg.matrix_rank", A)
    _check_matrix("linalg.matrix_rank", A)
    _check_float("linalg.matrix_rank", A)
    if tol is not None:  # the old spelling: an absolute tolerance
        atol, rtol = tol, 0.0
    a, r = _tolerances(A, atol, rtol, "linalg.matrix_rank")
    arr = A._array
    s = xp.abs(xp.linalg.eigvalsh(arr)) if hermitian else xp.linalg.svd(arr, compute_uv=False)
    smax = s.max(-1, initial=0.0)
    return _wrap(xp.asarray((s > xp.maximum(a, r * smax)[..., None]).sum(-1), dtype=int64))


_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None
          ) -> LstsqResult:
    """The least-squares solution X = A⁺ B of min ‖A X - B‖ (minimum norm when A is rank
    deficient), with PyTorch's ``(solution, residuals, rank, singular_values)``: residuals
    (Σ of squared residuals per column) when m > n, A has full rank and the driver is not
    'gelsy'; rank for gelsy/gelsd/gelss; singular values for gelsd/gelss. The LAPACK driver
    only selects which of these are returned: the solution is always computed by SVD."""
    A = _tensor("torch.linalg.lstsq", A)
    B = _tensor("torch.linalg.lstsq", B, "B")
    drv = "gelsy" if driver is None else driver
    if drv not in _LSTSQ_DRIVERS:
        raise RuntimeError("torch.linalg.lstsq: parameter `driver` should be one of "
                           "(gels, gelsy, gelsd, gelss)")
    _check_matrix("torch.linalg.lstsq", A)
    _check_float("torch.linalg.lstsq", A)
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.shape[-2] != A.shape[-2]:
        raise RuntimeError("torch.linalg.lstsq: input.size(-2) should match other.size(-2)")
    m, n = A.shape[-2:]
    rc = _eps(A.dtype) * max(m, n) if rcond is None or rcond < 0 else rcond
    if drv == "gels":
        rc = 0.0
    X = pinv(A, rtol=rc) @ Bm
    empty = _wrap(xp.zeros(0, dtype=A.dtype))
    rank = matrix_rank(A, rtol=rc) if drv != "gels" else _wrap(xp.zeros(0, dtype=int64))
    sv = svdvals(A.detach()) if drv in ("gelsd", "gelss") else empty
    full = drv == "gels" or bool((rank._array == min(m, n)).all())
    residuals = empty
    if m > n and drv != "gelsy" and full:
        residuals = ((A @ X - Bm) ** 2).sum(-2)
        residuals = residuals.squeeze(-1) if vector else residuals
    return LstsqResult(X.squeeze(-1) if vector else X, residuals, rank, sv)


def matrix_exp(A: Tensor) -> Tensor:
    """exp(A) = Σ Aᵏ/k! (SciPy's Padé approximant);  dA = Fréchet derivative at Aᵀ."""
    A = _check_square("linalg.matrix_exp", A)
    return D.MatrixExp.apply(A)


# ---- products ------------------------------------------------------------------------------
def matrix_power(A: Tensor, n: int) -> Tensor:
    """Aⁿ by repeated squaring (n < 0: (A⁻¹)^|n|; n = 0: the identity)."""
    A = _check_square("linalg.matrix_power", A, float_only=False)
    if n == 0:
        eye = xp.broadcast_to(xp.eye(A.shape[-1], dtype=A.dtype), A.shape)
        return _wrap(xp.array(eye))
    if n < 0:
        A = _check_square("linalg.inv", A)
        A, n = inv(A), -n
    result = None
    base = A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result.clone() if result is A else result


def _chain_order(dims: list[int]) -> list[list[int]]:
    """The split table of the cheapest parenthesisation of a matrix chain (classic DP)."""
    k = len(dims) - 1
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i][j] = math.inf
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s
    return split


def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """A₁ A₂ ⋯ Aₖ in the cheapest order; the first (last) may be 1-D: a row (column)."""
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    for i, t in enumerate(ts):
        where = "the first tensor" if i == 0 else "the last tensor" if i == len(ts) - 1 \
            else f"tensor {i}"
        ok = t.ndim in (1, 2) if i in (0, len(ts) - 1) else t.ndim == 2
        if not ok:
            need = "1D or 2D" if i in (0, len(ts) - 1) else "2D"
            raise RuntimeError(f"multi_dot(): {where} must be {need} but got {t.ndim}D")
        if t.dtype != ts[0].dtype:
            raise RuntimeError(f"multi_dot(): all tensors must have be the same dtype but tensor "
                               f"0 is {ts[0].dtype} and tensor {i} {t.dtype}")
    row, col = ts[0].ndim == 1, ts[-1].ndim == 1
    if row:
        ts[0] = ts[0].unsqueeze(0)
    if col:
        ts[-1] = ts[-1].unsqueeze(-1)
    for i in range(len(ts) - 1):
        if ts[i].shape[1] != ts[i + 1].shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes "
                               f"{list(ts[i].shape)} and {list(ts[i + 1].shape)} cannot be "
                               "multiplied")
    split = _chain_order([ts[0].shape[0]] + [t.shape[1] for t in ts])

    def product(i: int, j: int) -> Tensor:
        if i == j:
            return ts[i]
        s = split[i][j]
        return product(i, s) @ product(s + 1, j)

    out = product(0, len(ts) - 1)
    if row:
        out = out.squeeze(0)
    if col:
        out = out.squeeze(-1)
    return out


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """Σ_dim x y (real tensors), with broadcasting."""
    return (x * y).sum(dim)


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (batch dims broadcast)."""
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{input.shape[dim]} and {other.shape[dim]}")
    shape = tuple(xp.broadcast_shapes(tuple(input.shape), tuple(other.shape)))
    a = (input if tuple(input.shape) == shape else input.expand(*shape)).movedim(dim, -1)
    b = (other if tuple(other.shape) == shape else other.expand(*shape)).movedim(dim, -1)
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], -1)
    return c.movedim(-1, dim)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The diagonal of each matrix over (dim1, dim2) (a differentiable view)."""
    return A.diagonal(offset, dim1, dim2)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """``torch.linalg.matmul`` is ``torch.matmul``."""
    return input @ other


# ---- torch.* spellings (the deprecated and top-level forms) --------------------------------
def inverse(input: Tensor) -> Tensor:
    """``torch.inverse``: ``linalg.inv``."""
    return inv(input)


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """``torch.pinverse``: ``linalg.pinv`` with a relative cut-off."""
    return pinv(input, rtol=rcond)


def cholesky_legacy(input: Tensor, upper: bool = False) -> Tensor:
    """``torch.cholesky(A, upper=False)`` (deprecated in PyTorch for ``linalg.cholesky``)."""
    return cholesky(input, upper=upper)


def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False) -> Tensor:
    """X with (L Lᵀ) X = B given the Cholesky factor L (Uᵀ U with ``upper``)."""
    if upper:
        y = solve_triangular(L.mT, B, upper=False)
        return solve_triangular(L, y, upper=True)
    y = solve_triangular(L, B, upper=False)
    return solve_triangular(L.mT, y, upper=True)


def cholesky_inverse(L: Tensor, upper: bool = False) -> Tensor:
    """(L Lᵀ)⁻¹ given the Cholesky factor L (Uᵀ U with ``upper``)."""
    eye = _wrap(xp.broadcast_to(xp.eye(L.shape[-1], dtype=L.dtype), L.shape).copy())
    return cholesky_solve(eye, L, upper)


class SVDLegacy(NamedTuple):
    U: Tensor
    S: Tensor
    V: Tensor


def svd_legacy(input: Tensor, some: bool = True, compute_uv: bool = True) -> SVDLegacy:
    """``torch.svd``: (U, S, V) with A = U diag(S) Vᵀ (V, not Vh); with ``compute_uv=False``
    U and V are zero-filled (m×m and n×n) and ``some`` has no effect."""
    if not compute_uv:
        m, n = input.shape[-2:]
        batch = tuple(input.shape[:-2])
        return SVDLegacy(_wrap(xp.zeros(batch + (m, m), dtype=input.dtype)), svdvals(input),
                         _wrap(xp.zeros(batch + (n, n), dtype=input.dtype)))
    U, S, Vh = svd(input, full_matrices=not some)
    return SVDLegacy(U, S, Vh.mT)


def qr_legacy(input: Tensor, some: bool = True) -> QRResult:
    """``torch.qr(A, some=True)``: ``linalg.qr`` with mode 'reduced' or 'complete'."""
    return qr(input, "reduced" if some else "complete")


def chain_matmul(*matrices: Tensor) -> Tensor:
    """``torch.chain_matmul`` (deprecated in PyTorch): ``multi_dot`` of 2-D matrices."""
    return multi_dot(matrices)
