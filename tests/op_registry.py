"""One line per public op: the registry that drives the generic op tests (PyTorch's OpInfo idea).

Each :class:`OpSpec` names a callable ``fn(lib, *tensors)`` that is run once with
``lib = chainrule`` and once with ``lib = torch`` (so ``L.exp(x)``, ``x.sum(1)`` and
``L.cat([a, b], 1)`` name the chainrule op and its torch twin in one place); ``ref`` overrides
the torch side where the spellings differ. ``shapes`` are the float inputs' shapes (all of them
differentiable), ``domain`` how their values are drawn (one name for all inputs, or one per
input). Integer indices and masks are constants captured by the callable (``L.tensor(IDX)``).

Flags: ``grad=False`` for ops whose outputs carry no gradient (comparisons, argmax);
``fd=False`` skips finite differences (piecewise-constant or discontinuous ops, where the
numerical derivative is meaningless at some points); ``gradgrad=True`` adds the op to the
double-backward suite (the ops a Hessian of an MLP/CNN/RNN loss goes through).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class OpSpec:
    """One registry line: an op, its torch twin, input shapes and the domain of the inputs."""

    name: str
    fn: Callable[..., Any]
    shapes: tuple[tuple[int, ...], ...]
    domain: str | tuple[str, ...] = "real"
    ref: Callable[..., Any] | None = None
    grad: bool = True
    fd: bool = True
    gradgrad: bool = False
    atol: float = 1e-10
    tags: tuple[str, ...] = field(default=())

    def torch_fn(self) -> Callable[..., Any]:
        return self.ref if self.ref is not None else self.fn

    def __repr__(self) -> str:  # pytest ids
        return self.name


# ---- input domains --------------------------------------------------------------------------
def _real(r: np.random.Generator, n: int) -> np.ndarray:
    return r.uniform(-2.0, 2.0, n)


def _pos(r: np.random.Generator, n: int) -> np.ndarray:
    return r.uniform(0.5, 2.0, n)


def _nonzero(r: np.random.Generator, n: int) -> np.ndarray:
    """Away from 0 (kinks of abs/relu/sign, poles of 1/x)."""
    return r.choice([-1.0, 1.0], n) * r.uniform(0.2, 2.0, n)


def _unit(r: np.random.Generator, n: int) -> np.ndarray:
    return r.uniform(-0.9, 0.9, n)


def _gt1(r: np.random.Generator, n: int) -> np.ndarray:
    """Above 1 (acosh's domain, away from its infinite slope at 1)."""
    return r.uniform(1.2, 3.0, n)


def _nonint(r: np.random.Generator, n: int) -> np.ndarray:
    """k + [0.2, 0.4]: away from integers and half-integers (floor/round/remainder jumps)."""
    return r.integers(-3, 3, n) + r.uniform(0.2, 0.4, n)


def _zeros(r: np.random.Generator, n: int) -> np.ndarray:
    """Real values with exact zeros (prod's special case): two in a row, one elsewhere."""
    a = r.uniform(-2.0, 2.0, n)
    a[[0, 1, n // 2 + 1]] = 0.0
    return a


DOMAINS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "real": _real, "pos": _pos, "nonzero": _nonzero, "unit": _unit, "nonint": _nonint,
    "zeros": _zeros, "gt1": _gt1,
}


def make_inputs(spec: OpSpec, dtype: Any = np.float64) -> list[np.ndarray]:
    """The op's input arrays, reproducible per op name.

    ``domain="distinct"`` draws all inputs jointly from a shuffled grid (no ties between or
    within inputs, gaps >= 0.1: max/min/sort/maximum have kinks at ties).
    """
    r = np.random.default_rng(zlib.crc32(spec.name.encode()))
    sizes = [int(np.prod(s)) for s in spec.shapes]
    if spec.domain == "distinct":
        grid = r.permutation(sum(sizes)) * 0.1 - 0.05 * sum(sizes)
        grid += r.uniform(-0.02, 0.02, grid.size)
        parts = np.split(grid, np.cumsum(sizes)[:-1])
        return [p.reshape(s).astype(dtype) for p, s in zip(parts, spec.shapes)]
    doms = spec.domain if isinstance(spec.domain, tuple) else (spec.domain,) * len(spec.shapes)
    return [DOMAINS[d](r, n).reshape(s).astype(dtype)
            for d, n, s in zip(doms, sizes, spec.shapes)]


# ---- constants used by the ops (indices, masks) ---------------------------------------------
_r = np.random.default_rng(1234)
IDX_REP = np.array([0, 2, 0, 1, 2])  # repeated indices: gradients must accumulate
IDX_GATHER = _r.integers(0, 4, (3, 5))  # along dim 1 of a (3, 4) input (with repeats)
IDX_GATHER0 = _r.integers(0, 3, (2, 4))  # along dim 0 of a (3, 4) input
IDX_SCATTER = np.array([[0, 1, 2], [3, 2, 1], [1, 0, 3]])  # no repeat within a row (scatter_)
MASK = _r.random((3, 4)) > 0.5
MASK_ROW = np.array([True, False, True])
COND = _r.random((3, 4)) > 0.4
COND_B = _r.random((4,)) > 0.5
ROWS = np.array([0, 1, 2, 1])
CE_T = np.array([1, 3, 0])  # class targets of a (3, 4) input
CE_T3 = _r.integers(0, 3, (2, 4))  # class targets along dim 1 of a (2, 3, 4) input
COLS = np.array([3, 0, 1, 3])
EMB_IDX = np.array([[0, 2, 4], [2, 1, 2]])  # rows of a (5, 3) table, with repeats
NLL_W = np.array([0.5, 1.0, 2.0, 1.5])  # class weights of a (3, 4) input

S = (3, 4)  # the default shape
S3 = (2, 3, 4)


def _pad(L: Any, x: Any, pad: tuple[int, ...], value: float = 0.0) -> Any:
    import torch.nn.functional as tF

    return tF.pad(x, pad, value=value)


# dropout masks (0 or 1/(1-p)) on c_t and g_t of a (T, B, H) = (3, 2, 2) LSTM recurrence
LSTM_CMASK = (_r.random((3, 2, 2)) > 0.5) * 2.0
LSTM_GMASK = (_r.random((3, 2, 2)) > 0.3) / 0.7


def masked_lstm_composite(L: Any, x: Any, w: Any, b: Any) -> Any:
    """The recurrence of ``ops.recurrent.MaskedLSTMScan`` written with ops both libraries
    share (torch's reference, and the fused op's ``reference`` under create_graph)."""
    T, B, G = x.shape
    H = G // 4
    h = c = L.zeros(B, H, dtype=x.dtype)
    ys = []
    for t in range(T):
        a = x[t] + h @ w.t() + b
        i, f = a[:, :H].sigmoid(), a[:, H:2 * H].sigmoid()
        g, o = a[:, 2 * H:3 * H].tanh(), a[:, 3 * H:].sigmoid()
        g = g * L.tensor(LSTM_GMASK[t]).to(x.dtype)
        c = (f * c + i * g) * L.tensor(LSTM_CMASK[t]).to(x.dtype)
        h = o * c.tanh()
        ys.append(h)
    return L.stack(ys, 0)


def masked_lstm_fused(L: Any, x: Any, w: Any, b: Any) -> Any:
    from chainrule.ops.recurrent import MaskedLSTMScan
    from chainrule.tensor import apply

    dt = x.data.dtype
    return apply(MaskedLSTMScan, x, w, b, cmask=LSTM_CMASK.astype(dt),
                 gmask=LSTM_GMASK.astype(dt),
                 reference=lambda *a: masked_lstm_composite(L, *a))


def _special(L: Any, name: str, x: Any, **kw: Any) -> Any:
    """chainrule's special-function primitive ``name`` (no public spelling yet)."""
    from chainrule.ops import special

    return getattr(special, name).apply(x, **kw)


def _linalg(L: Any, name: str, *args: Any, **kw: Any) -> Any:
    """chainrule's linear-algebra primitive ``name`` (no public spelling yet)."""
    from chainrule.ops import linalg

    return getattr(linalg, name).apply(*args, **kw)


def _spd3(L: Any, x: Any) -> Any:
    """A symmetric positive-definite matrix made of x: x xᵀ + 3 I."""
    return x @ x.mT + L.eye(x.shape[-1], dtype=x.dtype) * 3.0


def _wellcond(L: Any, a: Any) -> Any:
    """a + 4 I: entries in [-2, 2], so the diagonal (a triangular solve's pivots) is >= 2."""
    return a + L.eye(a.shape[-1], dtype=a.dtype) * 4.0


# ---- linear-algebra inputs: made well-conditioned (or symmetric / SPD) from the raw draws ------
def _wc(L: Any, x: Any) -> Any:
    """x + 5 I: diagonally dominant for entries in [-2, 2] up to 3×3 (invertible, cond < 10)."""
    return x + 5.0 * L.eye(x.shape[-1], dtype=x.dtype)


def _spd(L: Any, x: Any) -> Any:
    """x xᵀ + I: symmetric positive-definite."""
    return x @ x.mT + L.eye(x.shape[-1], dtype=x.dtype)


def _sym(L: Any, x: Any) -> Any:
    return x + x.mT


def _unsigned(*ts: Any) -> tuple:
    """|factor|: singular/eigen vectors are defined up to sign (LAPACKs differ), so the tests
    read sign-free functions of them (as a gauge-invariant loss must)."""
    return tuple(t.abs() for t in ts)


def _eigh(L: Any, x: Any) -> tuple:
    lam, q = L.linalg.eigh(_sym(L, x))
    return (lam, *_unsigned(q))


def _svd(L: Any, x: Any, full: bool = False) -> tuple:
    u, s, vh = L.linalg.svd(x, full_matrices=full)
    k = s.shape[-1]
    return (*_unsigned(u[..., :k]), s, *_unsigned(vh[..., :k, :]))


def op(name: str, fn: Callable[..., Any], *shapes: tuple[int, ...], **kw: Any) -> OpSpec:
    return OpSpec(name, fn, tuple(shapes), **kw)


# ---- the registry: one line per op -----------------------------------------------------------
OPS: list[OpSpec] = [
    # elementwise, unary
    op("neg", lambda L, x: -x, S, gradgrad=True),
    op("exp", lambda L, x: L.exp(x), S, gradgrad=True),
    op("log", lambda L, x: L.log(x), S, domain="pos", gradgrad=True),
    op("log2", lambda L, x: x.log2(), S, domain="pos"),
    op("log10", lambda L, x: x.log10(), S, domain="pos"),
    op("log1p", lambda L, x: L.log1p(x), S, domain="unit", gradgrad=True),
    op("expm1", lambda L, x: L.expm1(x), S),
    op("sqrt", lambda L, x: L.sqrt(x), S, domain="pos", gradgrad=True),
    op("rsqrt", lambda L, x: L.rsqrt(x), S, domain="pos", gradgrad=True),
    op("square", lambda L, x: L.square(x), S),
    op("abs", lambda L, x: L.abs(x), S, domain="nonzero", gradgrad=True),
    op("sign", lambda L, x: L.sign(x), S, domain="nonzero"),
    op("sin", lambda L, x: L.sin(x), S, gradgrad=True),
    op("cos", lambda L, x: L.cos(x), S, gradgrad=True),
    op("tan", lambda L, x: L.tan(x), S, domain="unit"),
    op("tanh", lambda L, x: L.tanh(x), S, gradgrad=True),
    op("sigmoid", lambda L, x: L.sigmoid(x), S, gradgrad=True),
    op("relu", lambda L, x: L.relu(x), S, domain="nonzero", gradgrad=True),
    op("clamp", lambda L, x: L.clamp(x, -0.5, 0.7), S, domain="nonint", gradgrad=True),
    op("clamp_tensor_bounds", lambda L, x, lo, hi: x.clamp(lo, hi + 1.0), S, (4,), S,
       domain="distinct"),
    op("clamp_min_tensor", lambda L, x, lo: L.clamp(x, min=lo), S, (3, 1), domain="distinct"),
    op("clamp_min", lambda L, x: x.clamp(min=0.3), S, domain="nonint"),
    op("clamp_max", lambda L, x: x.clamp(max=-0.6), S, domain="nonint"),
    op("clip", lambda L, x: x.clip(-1.0, 1.0), S, domain="nonint"),
    op("reciprocal", lambda L, x: L.reciprocal(x), S, domain="nonzero", gradgrad=True),
    op("floor", lambda L, x: L.floor(x), S, domain="nonint"),
    op("ceil", lambda L, x: L.ceil(x), S, domain="nonint"),
    op("round", lambda L, x: L.round(x), S, domain="nonint"),
    op("trunc", lambda L, x: L.trunc(x), S, domain="nonint"),
    op("frac", lambda L, x: L.frac(x), S, domain="nonint"),
    op("isnan", lambda L, x: L.isnan(x), S, grad=False),
    op("isinf", lambda L, x: L.isinf(x), S, grad=False),
    op("isfinite", lambda L, x: L.isfinite(x), S, grad=False),
    op("pow_scalar2", lambda L, x: x**2, S, gradgrad=True),
    op("pow_scalar3", lambda L, x: x**3, S, gradgrad=True),
    op("pow_scalar_half", lambda L, x: x**0.5, S, domain="pos", gradgrad=True),
    op("pow_scalar_neg", lambda L, x: x**-1.5, S, domain="pos", gradgrad=True),
    op("pow_scalar0", lambda L, x: x**0, S),
    op("rpow_scalar", lambda L, x: 2.0**x, S, gradgrad=True),
    op("pow_tensor", lambda L, x, y: L.pow(x, y), S, S, domain=("pos", "real"), gradgrad=True),
    op("pow_tensor_bcast", lambda L, x, y: x**y, S, (4,), domain=("pos", "real")),
    op("softmax", lambda L, x: x.softmax(-1), S, gradgrad=True),
    op("softmax_dim0", lambda L, x: L.softmax(x, 0), S3),
    op("log_softmax", lambda L, x: x.log_softmax(-1), S, gradgrad=True),
    op("log_softmax_dim1", lambda L, x: L.log_softmax(x, 1), S3, gradgrad=True),
    op("lerp", lambda L, x, y: L.lerp(x, y, 0.3), S, S),
    # the fused log-softmax + NLL primitive (CrossEntropy)
    op("cross_entropy", lambda L, x: L.nn.functional.cross_entropy(x, L.tensor(CE_T)), S,
       gradgrad=True),
    op("cross_entropy_none", lambda L, x: L.nn.functional.cross_entropy(
        x, L.tensor(CE_T), reduction="none"), S, gradgrad=True),
    op("cross_entropy_3d_sum", lambda L, x: L.nn.functional.cross_entropy(
        x, L.tensor(CE_T3), reduction="sum"), S3),
    # the fused NLL pick and its adjoint pair (PickClass / PlaceClass), logsigmoid, erf
    op("nll_loss", lambda L, x: L.nn.functional.nll_loss(x, L.tensor(CE_T)), S,
       gradgrad=True),
    op("nll_loss_weight_ignore", lambda L, x: L.nn.functional.nll_loss(
        x, L.tensor(CE_T), weight=L.tensor(NLL_W), ignore_index=3), S, gradgrad=True),
    op("nll_loss_3d_none", lambda L, x: L.nn.functional.nll_loss(
        x, L.tensor(CE_T3), reduction="none"), S3),
    op("multi_margin_loss", lambda L, x: L.nn.functional.multi_margin_loss(
        x, L.tensor(CE_T), p=2), S, gradgrad=True),
    op("logsigmoid", lambda L, x: L.nn.functional.logsigmoid(x), S, gradgrad=True),
    op("erf", lambda L, x: _special(L, "Erf", x), S, ref=lambda L, x: L.erf(x),
       gradgrad=True),
    op("gelu", lambda L, x: L.nn.functional.gelu(x), S, gradgrad=True),
    # embedding rows: repeats accumulate; the padding row gets no gradient, and
    # scale_grad_by_freq divides a row's gradient by its count in the batch
    op("embedding", lambda L, w: L.nn.functional.embedding(L.tensor(EMB_IDX), w), (5, 3),
       gradgrad=True),
    op("embedding_padding_freq", lambda L, w: L.nn.functional.embedding(
        L.tensor(EMB_IDX), w, padding_idx=2, scale_grad_by_freq=True), (5, 3),
       fd=False, gradgrad=True),  # (by design not the derivative of the lookup: no FD)
    # elementwise, binary (with broadcasting and Python scalars)
    op("add", lambda L, x, y: x + y, S, S, gradgrad=True),
    op("add_bcast", lambda L, x, y: x + y, (2, 1, 4), (3, 1), gradgrad=True),
    op("add_scalar", lambda L, x: x + 2.5, S),
    op("radd_scalar", lambda L, x: 2.5 + x, S),
    op("add_alpha", lambda L, x, y: L.add(x, y, alpha=0.5), S, S),
    op("sub", lambda L, x, y: x - y, S, S, gradgrad=True),
    op("sub_bcast", lambda L, x, y: x - y, (4,), (3, 1), gradgrad=True),
    op("rsub_scalar", lambda L, x: 1.5 - x, S),
    op("mul", lambda L, x, y: x * y, S, S, gradgrad=True),
    op("mul_bcast", lambda L, x, y: x * y, (2, 3, 1), (4,), gradgrad=True),
    op("mul_scalar", lambda L, x: x * 0.5, S),
    op("mul_self", lambda L, x: x * x, S, gradgrad=True),
    op("div", lambda L, x, y: x / y, S, S, domain=("real", "nonzero"), gradgrad=True),
    op("div_bcast", lambda L, x, y: x / y, (3, 1), (2, 1, 4), domain=("real", "nonzero"),
       gradgrad=True),
    op("rdiv_scalar", lambda L, x: 2.0 / x, S, domain="nonzero"),
    op("div_scalar", lambda L, x: x / 4.0, S),
    op("remainder", lambda L, x: x % 1.5, S, domain="nonint", fd=False),
    op("fmod", lambda L, x: L.fmod(x, 1.5), S, domain="nonint", fd=False),
    op("fmod_tensor", lambda L, x, y: L.fmod(x, y), S, S, domain=("real", "nonzero"), fd=False),
    op("div_floor", lambda L, x, y: L.div(x, y, rounding_mode="floor"), S, S,
       domain=("real", "nonzero"), fd=False),
    op("div_trunc", lambda L, x: x.div(1.5, rounding_mode="trunc"), S, domain="nonint", fd=False),
    op("maximum", lambda L, x, y: L.maximum(x, y), S, S, domain="distinct", gradgrad=True),
    op("maximum_bcast", lambda L, x, y: L.maximum(x, y), S, (4,), domain="distinct"),
    op("minimum", lambda L, x, y: L.minimum(x, y), S, S, domain="distinct"),
    op("where", lambda L, x, y: L.where(L.tensor(COND), x, y), S, S, gradgrad=True),
    op("where_bcast", lambda L, x, y: L.where(L.tensor(COND_B), x, y), S, (3, 1)),
    op("where_scalar", lambda L, x: L.where(L.tensor(COND), x, 0.0), S),
    op("masked_fill", lambda L, x: x.masked_fill(L.tensor(MASK), -1.0), S),
    op("eq", lambda L, x, y: x == y, S, S, grad=False),
    op("lt", lambda L, x: x < 0.0, S, grad=False),
    op("ge", lambda L, x, y: x >= y, S, (4,), grad=False),
    # reductions
    op("sum", lambda L, x: x.sum(), S, gradgrad=True),
    op("sum_dim", lambda L, x: L.sum(x, 1), S3, gradgrad=True),
    op("sum_dim_neg_keepdim", lambda L, x: x.sum(-1, keepdim=True), S3),
    op("sum_dims_tuple", lambda L, x: x.sum((0, 2)), S3),
    op("sum_dims_tuple_keepdim", lambda L, x: x.sum((0, -1), keepdim=True), S3),
    op("mean", lambda L, x: x.mean(), S, gradgrad=True),
    op("mean_dim", lambda L, x: L.mean(x, 0), S3, gradgrad=True),
    op("mean_dims_keepdim", lambda L, x: x.mean((1, 2), keepdim=True), S3),
    op("var", lambda L, x: x.var(), S, gradgrad=True),
    op("var_dim", lambda L, x: x.var(1), S3),
    op("var_correction0", lambda L, x: x.var(dim=(0, 2), correction=0), S3),
    op("var_unbiased_false_keepdim", lambda L, x: x.var(1, unbiased=False, keepdim=True), S3),
    op("std", lambda L, x: x.std(), S),
    op("std_dim_keepdim", lambda L, x: L.std(x, -1, keepdim=True), S3),
    op("std_correction2", lambda L, x: x.std(dim=0, correction=2), (5, 3)),
    op("prod", lambda L, x: x.prod(), S),
    op("prod_dim", lambda L, x: L.prod(x, 1), S),
    op("prod_zeros", lambda L, x: x.prod(), S, domain="zeros"),
    op("prod_zeros_dim_keepdim", lambda L, x: x.prod(1, keepdim=True), S, domain="zeros"),
    op("prod_zeros_dim0", lambda L, x: x.prod(0), (4, 3), domain="zeros"),
    op("cumsum", lambda L, x: L.cumsum(x, 1), S3),
    op("cumsum_neg", lambda L, x: x.cumsum(-1), S),
    op("cumprod", lambda L, x: x.cumprod(1), S, domain="nonzero"),
    op("logsumexp", lambda L, x: L.logsumexp(x, 1), S3, gradgrad=True),
    op("logsumexp_tuple_keepdim", lambda L, x: x.logsumexp((0, 2), keepdim=True), S3),
    op("norm", lambda L, x: x.norm(), S, domain="nonzero", gradgrad=True),
    op("norm_dim", lambda L, x: L.norm(x, dim=1), S3, domain="nonzero", gradgrad=True),
    op("norm_p1", lambda L, x: x.norm(1), S, domain="nonzero"),
    op("norm_p3_dim", lambda L, x: x.norm(3, dim=-1, keepdim=True), S, domain="nonzero"),
    op("norm_inf", lambda L, x: x.norm(float("inf")), S, domain="distinct"),
    op("max", lambda L, x: x.max(), S, domain="distinct"),
    op("max_dim", lambda L, x: L.max(x, 1), S3, domain="distinct"),
    op("max_dim_keepdim", lambda L, x: x.max(-1, keepdim=True), S, domain="distinct"),
    op("min", lambda L, x: L.min(x), S, domain="distinct"),
    op("min_dim", lambda L, x: x.min(0), S3, domain="distinct"),
    op("max_binary", lambda L, x, y: x.max(y), S, S, domain="distinct"),
    op("amax_tuple", lambda L, x: L.amax(x, (0, 2)), S3, domain="distinct"),
    op("amin_keepdim", lambda L, x: x.amin(1, keepdim=True), S3, domain="distinct"),
    op("argmax", lambda L, x: L.argmax(x, 1), S3, domain="distinct", grad=False),
    op("argmax_all", lambda L, x: x.argmax(), S, domain="distinct", grad=False),
    op("argmin_keepdim", lambda L, x: x.argmin(0, keepdim=True), S, domain="distinct",
       grad=False),
    op("all", lambda L, x: (x > -1.0).all(), S, grad=False),
    op("any_dim", lambda L, x: (x > 1.0).any(1), S, grad=False),
    op("sort", lambda L, x: x.sort(-1), S, domain="distinct"),
    op("topk", lambda L, x: x.topk(2, dim=1), S, domain="distinct"),
    # shape and movement
    op("reshape", lambda L, x: x.reshape(4, 3), S, gradgrad=True),
    op("reshape_infer", lambda L, x: L.reshape(x, (-1, 2)), S3),
    op("view", lambda L, x: x.view(2, 6), S, gradgrad=True),
    op("flatten", lambda L, x: x.flatten(), S3),
    op("flatten_range", lambda L, x: L.flatten(x, 1), S3),
    op("unflatten", lambda L, x: x.unflatten(1, (2, 2)), S),
    op("squeeze", lambda L, x: x.squeeze(), (3, 1, 4, 1)),
    op("squeeze_dim", lambda L, x: x.squeeze(1), (3, 1, 4, 1)),
    op("unsqueeze", lambda L, x: x.unsqueeze(1), S, gradgrad=True),
    op("unsqueeze_neg", lambda L, x: L.unsqueeze(x, -1), S),
    op("permute", lambda L, x: x.permute(2, 0, 1), S3, gradgrad=True),
    op("transpose", lambda L, x: x.transpose(0, 2), S3, gradgrad=True),
    op("t", lambda L, x: x.t(), S),
    op("T", lambda L, x: x.T, S),
    op("mT", lambda L, x: x.mT, S3),
    op("movedim", lambda L, x: L.movedim(x, 0, -1), S3),
    op("expand", lambda L, x: x.expand(2, 3, 4), (3, 1), gradgrad=True),
    op("expand_neg1", lambda L, x: x.expand(2, -1, 4), (3, 1)),
    op("expand_as", lambda L, x, y: x.expand_as(y), (1, 4), S),
    op("repeat", lambda L, x: x.repeat(2, 1, 3), S),
    op("tile", lambda L, x: L.tile(x, (2,)), S),
    op("repeat_interleave", lambda L, x: x.repeat_interleave(2, dim=1), S),
    op("cat", lambda L, x, y: L.cat([x, y], 1), S, (3, 2), gradgrad=True),
    op("cat_dim0_three", lambda L, x, y, z: L.cat((x, y, z)), S, (1, 4), (2, 4)),
    op("stack", lambda L, x, y: L.stack([x, y], 1), S, S, gradgrad=True),
    op("split_int", lambda L, x: x.split(2, 1), (3, 5)),
    op("split_sizes", lambda L, x: L.split(x, [1, 3], 1), S),
    op("chunk", lambda L, x: x.chunk(2, 0), (5, 4)),
    op("unbind", lambda L, x: x.unbind(1), S),
    op("flip", lambda L, x: x.flip(0, 2), S3),
    op("fliplr", lambda L, x: L.fliplr(x), S),
    op("roll", lambda L, x: x.roll(1, 1), S),
    op("pad", lambda L, x: x.pad((1, 2)), S, ref=lambda L, x: _pad(L, x, (1, 2))),
    op("pad_2d_value", lambda L, x: x.pad((1, 0, 2, 1), value=0.5), S3,
       ref=lambda L, x: _pad(L, x, (1, 0, 2, 1), 0.5)),
    op("pad_negative", lambda L, x: x.pad((-1, 1)), S, ref=lambda L, x: _pad(L, x, (-1, 1))),
    op("narrow", lambda L, x: x.narrow(1, 1, 2), S),
    op("select", lambda L, x: x.select(1, -1), S3),
    op("tril", lambda L, x: L.tril(x), S),
    op("triu_k", lambda L, x: x.triu(1), S3),
    op("diagonal", lambda L, x: x.diagonal(), (4, 4)),
    op("trace", lambda L, x: L.trace(x), (4, 4)),
    op("unfold", lambda L, x: x.unfold(1, 3, 2), (2, 7, 3)),
    op("unfold_last", lambda L, x: x.unfold(-1, 2, 1), S),
    op("diag_vec", lambda L, x: L.diag(x, -1), (4,)),
    op("diag_mat", lambda L, x: x.diag(1), S),
    op("diag_embed", lambda L, x: L.diag_embed(x, 1, 0, 2), (2, 3)),
    op("cdist", lambda L, x, y: L.cdist(x, y), (2, 4, 3), (2, 5, 3), gradgrad=True),
    op("cdist_p1", lambda L, x, y: L.cdist(x, y, 1.0), (4, 3), (5, 3)),
    op("normalize", lambda L, x: L.nn.functional.normalize(x, dim=-1), S, gradgrad=True),
    op("cosine_similarity", lambda L, x, y: L.nn.functional.cosine_similarity(x, y), S, S),
    op("pairwise_distance", lambda L, x, y: L.nn.functional.pairwise_distance(x, y), S, S),
    op("contiguous", lambda L, x: x.t().contiguous(), S),
    op("clone", lambda L, x: x.clone(), S),
    # indexing: basic, advanced (repeats accumulate), boolean; gather/scatter/index_select
    op("getitem_int", lambda L, x: x[1], S3, gradgrad=True),
    op("getitem_slice", lambda L, x: x[:, 1:3], S3, gradgrad=True),
    op("getitem_step_neg", lambda L, x: x[::2, -1], S),
    op("getitem_ellipsis_none", lambda L, x: x[..., None, 1], S3),
    op("getitem_adv_repeat", lambda L, x: x[L.tensor(IDX_REP)], S, gradgrad=True),
    op("getitem_adv_list", lambda L, x: x[[0, 0, 2]], S),
    op("getitem_adv_pairs", lambda L, x: x[L.tensor(ROWS), L.tensor(COLS)], S, gradgrad=True),
    op("getitem_adv_mixed", lambda L, x: x[:, L.tensor(IDX_REP)], S3),
    op("getitem_bool", lambda L, x: x[L.tensor(MASK)], S),
    op("getitem_bool_rows", lambda L, x: x[L.tensor(MASK_ROW)], S),
    op("masked_select", lambda L, x: x.masked_select(L.tensor(MASK)), S),
    op("take", lambda L, x: L.take(x, L.tensor(IDX_REP)), S),
    op("gather", lambda L, x: x.gather(1, L.tensor(IDX_GATHER)), S, gradgrad=True),
    op("gather_dim0", lambda L, x: L.gather(x, 0, L.tensor(IDX_GATHER0)), S),
    op("gather_small_index", lambda L, x: x.gather(0, L.tensor(IDX_GATHER0[:, :2])), S),
    op("scatter", lambda L, x, s: x.scatter(1, L.tensor(IDX_SCATTER), s), S, (3, 3)),
    op("scatter_value", lambda L, x: x.scatter(1, L.tensor(IDX_SCATTER), 2.0), S),
    op("scatter_add", lambda L, x, s: x.scatter_add(1, L.tensor(IDX_GATHER), s), S, (3, 5),
       gradgrad=True),
    op("index_select", lambda L, x: L.index_select(x, 1, L.tensor(IDX_REP)), S3),
    op("index_select_dim0", lambda L, x: x.index_select(0, L.tensor(IDX_REP)), S),
    # 0-d and empty tensors
    op("exp_0d", lambda L, x: x.exp(), ()),
    op("mul_0d_bcast", lambda L, x, y: x * y, (), (3,)),
    op("sum_0d", lambda L, x: x.sum(), ()),
    op("sum_0d_dim", lambda L, x: x.sum(0), ()),
    op("getitem_0d_none", lambda L, x: x[None], ()),
    op("stack_0d", lambda L, x, y: L.stack([x, y]), (), ()),
    op("sum_empty", lambda L, x: x.sum(0), (0, 3)),
    op("add_empty_bcast", lambda L, x, y: x + y, (0, 3), (3,)),
    op("matmul_empty", lambda L, x, y: x @ y, (0, 3), (3, 2)),
    op("cat_empty", lambda L, x, y: L.cat([x, y]), (0, 3), (2, 3)),
    # products
    op("matmul_1d_1d", lambda L, x, y: L.matmul(x, y), (4,), (4,), gradgrad=True),
    op("matmul_2d_1d", lambda L, x, y: x @ y, S, (4,), gradgrad=True),
    op("matmul_1d_2d", lambda L, x, y: x @ y, (3,), S, gradgrad=True),
    op("matmul_2d_2d", lambda L, x, y: x @ y, S, (4, 2), gradgrad=True),
    op("matmul_batched", lambda L, x, y: x @ y, S3, (2, 4, 5), gradgrad=True),
    op("matmul_bcast", lambda L, x, y: x @ y, (2, 1, 3, 4), (5, 4, 2), gradgrad=True),
    op("matmul_bcast_2d", lambda L, x, y: x @ y, S3, (4, 2)),
    op("matmul_1d_3d", lambda L, x, y: x @ y, (4,), (2, 4, 3)),
    op("matmul_3d_1d", lambda L, x, y: x @ y, S3, (4,)),
    op("linear", lambda L, x, w, b: L.nn.functional.linear(x, w, b), S3, (5, 4), (5,),
       gradgrad=True),
    op("linear_no_bias", lambda L, x, w: L.nn.functional.linear(x, w), S, (2, 4),
       gradgrad=True),
    op("linear_1d", lambda L, x, w, b: L.nn.functional.linear(x, w, b), (4,), (3, 4), (3,)),
    op("mm", lambda L, x, y: L.mm(x, y), S, (4, 2)),
    op("bmm", lambda L, x, y: x.bmm(y), S3, (2, 4, 2)),
    op("mv", lambda L, x, y: L.mv(x, y), S, (4,)),
    op("dot", lambda L, x, y: L.dot(x, y), (4,), (4,)),
    op("outer", lambda L, x, y: L.outer(x, y), (3,), (4,)),
    op("einsum_mm", lambda L, x, y: L.einsum("ij,jk->ik", x, y), S, (4, 2), gradgrad=True),
    op("einsum_bmm", lambda L, x, y: L.einsum("bij,bjk->bik", x, y), S3, (2, 4, 3)),
    op("einsum_reduce", lambda L, x: L.einsum("ijk->j", x), S3),
    op("einsum_outer", lambda L, x, y: L.einsum("i,j->ij", x, y), (3,), (4,)),
    op("einsum_inner_all", lambda L, x, y: L.einsum("ij,ij->", x, y), S, S),
    op("einsum_implicit", lambda L, x, y: L.einsum("ij,jk", x, y), S, (4, 2)),
    op("einsum_three", lambda L, x, y, z: L.einsum("ij,jk,kl->il", x, y, z), (2, 3), (3, 4),
       (4, 2)),
    op("einsum_sum_only_in_x", lambda L, x, y: L.einsum("ij,j->j", x, y), S, (4,)),
    op("tensordot", lambda L, x, y: L.tensordot(x, y, 1), S3, (4, 2)),
    # convolution, pooling, sliding blocks (the primitives are each other's derivatives)
    op("conv2d", lambda L, x, w, b: L.nn.functional.conv2d(x, w, b, padding=1), (2, 3, 5, 5),
       (4, 3, 3, 3), (4,), gradgrad=True),
    op("conv2d_stride_groups", lambda L, x, w: L.nn.functional.conv2d(x, w, stride=2, groups=2),
       (2, 4, 6, 6), (4, 2, 3, 3), gradgrad=True),
    op("conv1d_dilation", lambda L, x, w, b: L.nn.functional.conv1d(x, w, b, dilation=2),
       (2, 3, 9), (2, 3, 3), (2,)),
    op("conv_transpose2d", lambda L, x, w, b: L.nn.functional.conv_transpose2d(
        x, w, b, stride=2, output_padding=1), (2, 3, 3, 3), (3, 2, 3, 3), (2,), gradgrad=True),
    op("max_pool2d", lambda L, x: L.nn.functional.max_pool2d(x, 2), (2, 2, 4, 4),
       domain="distinct", gradgrad=True),
    op("max_pool2d_overlap", lambda L, x: L.nn.functional.max_pool2d(x, 3, stride=1, padding=1),
       (1, 2, 4, 4), domain="distinct"),
    op("avg_pool2d", lambda L, x: L.nn.functional.avg_pool2d(x, 3, stride=2, padding=1),
       (2, 2, 5, 5), gradgrad=True),
    op("unfold_blocks", lambda L, x: L.nn.functional.unfold(x, 3, padding=1, stride=2),
       (2, 2, 5, 5), gradgrad=True),
    op("fold_blocks", lambda L, x: L.nn.functional.fold(x, (5, 5), 3, padding=1, stride=2),
       (2, 18, 9), gradgrad=True),
    # special functions and linear algebra (the distributions' primitives)
    op("lgamma", lambda L, x: _special(L, "Lgamma", x), S, domain="pos",
       ref=lambda L, x: L.lgamma(x), gradgrad=True),
    # (at x + 6: torch's trigamma is off by ~1e-9 relative below x = 2, ~1e-11 from 6 on;
    # SciPy's, which chainrule uses, agrees with mpmath to 1e-15)
    op("digamma", lambda L, x: _special(L, "Polygamma", x + 6.0, n=0), S, domain="pos",
       ref=lambda L, x: L.digamma(x + 6.0), gradgrad=True),
    op("polygamma1", lambda L, x: _special(L, "Polygamma", x + 6.0, n=1), S, domain="pos",
       ref=lambda L, x: L.polygamma(1, x + 6.0)),
    op("cholesky", lambda L, x: _linalg(L, "Cholesky", _spd3(L, x)), (3, 3),
       ref=lambda L, x: L.linalg.cholesky(_spd3(L, x)), gradgrad=True),
    op("solve_triangular_lower", lambda L, a, b: _linalg(L, "SolveTriangular", _wellcond(L, a),
       b, upper=False), (3, 3), (3, 2), ref=lambda L, a, b: L.linalg.solve_triangular(
           _wellcond(L, a), b, upper=False), gradgrad=True),
    op("solve_triangular_upper_batched", lambda L, a, b: _linalg(
        L, "SolveTriangular", _wellcond(L, a), b, upper=True), (2, 3, 3), (2, 3, 1),
       ref=lambda L, a, b: L.linalg.solve_triangular(_wellcond(L, a), b, upper=True)),
    # linear algebra (chainrule.linalg, ops/linalg_decomp.py) and the fused products
    op("linalg_inv", lambda L, x: L.linalg.inv(_wc(L, x)), (2, 3, 3), gradgrad=True),
    op("inverse_method", lambda L, x: _wc(L, x).inverse(), (3, 3)),
    op("linalg_det", lambda L, x: L.linalg.det(_wc(L, x)), (2, 3, 3), gradgrad=True),
    op("linalg_det_raw", lambda L, x: L.det(x), (4, 4)),
    op("linalg_slogdet", lambda L, x: L.linalg.slogdet(x)[1], (2, 3, 3), gradgrad=True),
    op("logdet", lambda L, x: L.logdet(_spd(L, x)), (3, 3)),
    op("linalg_solve", lambda L, a, b: L.linalg.solve(_wc(L, a), b), (2, 3, 3), (2, 3, 2),
       gradgrad=True),
    op("linalg_solve_vector", lambda L, a, b: L.linalg.solve(_wc(L, a), b), (2, 3, 3), (2, 3)),
    op("linalg_solve_bcast", lambda L, a, b: L.linalg.solve(_wc(L, a), b), (3, 3), (2, 3, 2)),
    op("linalg_solve_right", lambda L, a, b: L.linalg.solve(_wc(L, a), b, left=False),
       (3, 3), (2, 3)),
    op("linalg_solve_triangular", lambda L, a, b: L.linalg.solve_triangular(
        _wc(L, a), b, upper=True), (2, 3, 3), (2, 3, 2)),
    op("linalg_cholesky", lambda L, x: L.linalg.cholesky(_spd(L, x)), (2, 3, 3)),
    op("cholesky_solve", lambda L, x, b: L.cholesky_solve(b, L.linalg.cholesky(_spd(L, x))),
       (3, 3), (3, 2)),
    op("linalg_eigh", _eigh, (2, 4, 4), gradgrad=True),
    op("linalg_eigvalsh", lambda L, x: L.linalg.eigvalsh(_sym(L, x), UPLO="U"), (4, 4)),
    op("linalg_svd_tall", _svd, (2, 5, 3), gradgrad=True),
    op("linalg_svd_wide_full", lambda L, x: _svd(L, x, True), (3, 5)),
    op("linalg_svd_square", _svd, (4, 4)),
    op("linalg_svdvals", lambda L, x: L.linalg.svdvals(x), (2, 3, 4)),
    op("linalg_qr_tall", lambda L, x: L.linalg.qr(x), (2, 5, 3), gradgrad=True),
    op("linalg_qr_wide", lambda L, x: L.linalg.qr(x), (3, 5), gradgrad=True),
    op("linalg_qr_complete_wide", lambda L, x: L.linalg.qr(x, "complete"), (3, 4)),
    op("linalg_pinv_tall", lambda L, x: L.linalg.pinv(x), (2, 5, 3), gradgrad=True),
    op("linalg_pinv_wide", lambda L, x: L.linalg.pinv(x), (3, 4)),
    op("linalg_pinv_hermitian", lambda L, x: L.linalg.pinv(_spd(L, x), hermitian=True),
       (3, 3)),
    op("linalg_lstsq", lambda L, a, b: L.linalg.lstsq(a, b).solution, (5, 3), (5, 2)),
    op("linalg_matrix_exp", lambda L, x: L.linalg.matrix_exp(x * 0.5), (2, 3, 3),
       gradgrad=True),
    op("linalg_matrix_power3", lambda L, x: L.linalg.matrix_power(x, 3), (2, 3, 3)),
    op("linalg_matrix_power_neg2", lambda L, x: L.linalg.matrix_power(_wc(L, x), -2), (3, 3)),
    op("linalg_vector_norm_p3", lambda L, x: L.linalg.vector_norm(x, 3, dim=(0, 2)), S3,
       domain="nonzero"),
    op("linalg_vector_norm_inf_keepdim", lambda L, x: L.linalg.vector_norm(
        x, float("inf"), dim=-1, keepdim=True), S, domain="distinct"),
    op("linalg_norm", lambda L, x: L.linalg.norm(x), S3),
    op("linalg_matrix_norm_fro", lambda L, x: L.linalg.matrix_norm(x), S3, gradgrad=True),
    op("linalg_matrix_norm_nuc", lambda L, x: L.linalg.matrix_norm(x, "nuc"), S3),
    op("linalg_matrix_norm_2_dims", lambda L, x: L.linalg.matrix_norm(
        x, 2, dim=(0, 2), keepdim=True), S3),
    op("linalg_matrix_norm_1", lambda L, x: L.linalg.matrix_norm(x, 1), S3, domain="distinct"),
    op("linalg_matrix_norm_ninf", lambda L, x: L.linalg.norm(x, -float("inf")), S,
       domain="distinct"),
    op("linalg_cond", lambda L, x: L.linalg.cond(x), (2, 3, 3)),
    op("linalg_multi_dot", lambda L, a, b, c: L.linalg.multi_dot([a, b, c]), (4,), (4, 3),
       (3, 5)),
    op("linalg_cross", lambda L, a, b: L.linalg.cross(a, b, dim=1), (2, 3, 4), (1, 3, 4)),
    op("linalg_vecdot", lambda L, a, b: L.linalg.vecdot(a, b), S, (4,)),
    op("linalg_diagonal", lambda L, x: L.linalg.diagonal(x, offset=-1), S3),
    op("addmm", lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=-2.0), (2,), (3, 4),
       (4, 2), gradgrad=True),
    op("addmm_method_beta0", lambda L, c, a, b: c.addmm(a, b, beta=0), (3, 2), (3, 4), (4, 2)),
    op("addmv", lambda L, c, a, v: L.addmv(c, a, v, alpha=3.0), (3,), S, (4,)),
    op("addr", lambda L, c, u, v: L.addr(c, u, v, beta=2.0), S, (3,), (4,)),
    op("baddbmm", lambda L, c, a, b: L.baddbmm(c, a, b, beta=-1.0, alpha=0.5), (1, 3), S3,
       (2, 4, 3)),
    op("addbmm", lambda L, c, a, b: c.addbmm(a, b), (3, 3), S3, (2, 4, 3)),
    op("searchsorted", lambda L, s, v: L.searchsorted(s.sort(-1)[0], v), (2, 5), (2, 4),
       domain="distinct", grad=False),
    op("searchsorted_right_1d", lambda L, s, v: L.searchsorted(s.sort()[0], v, right=True),
       (6,), S, domain="distinct", grad=False),
    op("bucketize", lambda L, x, b: L.bucketize(x, b.sort()[0], out_int32=True), S, (5,),
       domain="distinct", grad=False),
    # the primitives of chainrule/ops/extra.py (their composites in _more_functions.py are
    # checked against torch in tests/test_more_functions.py)
    op("atan2", lambda L, y, x: L.atan2(y, x), S, (4,), gradgrad=True),
    op("hypot", lambda L, x, y: L.hypot(x, y), S, S, domain="nonzero"),
    op("logaddexp", lambda L, x, y: L.logaddexp(x, y), S, S, gradgrad=True),
    op("logaddexp2", lambda L, x, y: L.logaddexp2(x, y), S, (4,)),
    op("sinc", lambda L, x: L.sinc(x), S, gradgrad=True),
    op("xlogy", lambda L, x, y: L.xlogy(x, y), S, S, domain=("real", "pos"), gradgrad=True),
    op("xlog1py", lambda L, x, y: L.special.xlog1py(x, y), S, S, domain=("real", "pos")),
    op("copysign", lambda L, x, y: L.copysign(x, y), S, S, domain="nonzero", fd=False),
    op("exp2", lambda L, x: L.exp2(x), S, gradgrad=True),
    op("erfc", lambda L, x: L.erfc(x), S, gradgrad=True),
    op("erfinv", lambda L, x: L.erfinv(x), S, domain="unit"),
    op("i0", lambda L, x: L.i0(x), S, gradgrad=True),
    op("i1", lambda L, x: L.special.i1(x), S),
    op("ndtri", lambda L, x: L.special.ndtri(x * 0.4 + 0.5), S, domain="unit"),
    op("log_ndtr", lambda L, x: L.special.log_ndtr(x * 3.0), S),
    op("entr", lambda L, x: L.special.entr(x), S, domain="pos"),
    op("logcumsumexp", lambda L, x: L.logcumsumexp(x, 1), S3, gradgrad=True),
    op("median_all", lambda L, x: L.median(x), S, domain="distinct"),
    # Fourier transforms (complex intermediates, real results; chainrule/ops/fft.py); complex
    # leaves are in tests/test_complex_autograd.py
    op("fft_abs", lambda L, x: L.fft.fft(x, n=6, norm="ortho").abs(), S, gradgrad=True),
    op("rfft2_real_imag", lambda L, x: L.fft.rfft2(x, s=(3, 5)).real * L.fft.rfft2(x).imag, S,
       gradgrad=True),
    # complex parts and views (chainrule/ops/complex.py)
    op("complex_angle", lambda L, x, y: L.angle(L.complex(x, y)), S, S, domain="nonzero",
       gradgrad=True),
    op("view_as_complex_square", lambda L, x: L.view_as_real(L.view_as_complex(x) ** 2),
       (3, 2), gradgrad=True),
    op("polar", lambda L, r, t: L.view_as_real(L.polar(r, t)), S, S, domain=("pos", "real"),
       gradgrad=True),
    op("irfft_of_fft", lambda L, x: L.fft.irfft(L.fft.fft(x, dim=0), n=7, norm="forward"), S,
       gradgrad=True),
    # inverse trigonometric and hyperbolic functions (chainrule/ops/trig.py)
    op("asin", lambda L, x: L.asin(x), S, domain="unit", gradgrad=True),
    op("acos", lambda L, x: x.acos(), S, domain="unit", gradgrad=True),
    op("atan", lambda L, x: L.atan(x), S, gradgrad=True),
    op("sinh", lambda L, x: L.sinh(x), S, gradgrad=True),
    op("cosh", lambda L, x: x.cosh(), S, gradgrad=True),
    op("asinh", lambda L, x: L.asinh(x), S, gradgrad=True),
    op("acosh", lambda L, x: L.acosh(x), S, domain="gt1", gradgrad=True),
    op("atanh", lambda L, x: x.atanh(), S, domain="unit", gradgrad=True),
    # fused recurrences
    op("masked_lstm_scan", masked_lstm_fused, (3, 2, 8), (8, 2), (8,),
       ref=masked_lstm_composite, gradgrad=True),
]

BY_NAME = {s.name: s for s in OPS}
assert len(BY_NAME) == len(OPS), "duplicate op names in the registry"
