"""Matrix products: matmul (1-D, 2-D, batched with broadcasting), the fused linear map, einsum."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.ops.complex import conj


def _shape_error(x: Any, y: Any) -> RuntimeError:
    kx = x.shape[-1] if x.ndim else None
    ky = y.shape[-2] if y.ndim >= 2 else (y.shape[0] if y.ndim == 1 else None)
    return RuntimeError(
        f"matmul: {tuple(x.shape)} @ {tuple(y.shape)}: inner dims {kx} != {ky}"
    )


class MatMul(Function):
    """out = x @ y;  dx = g @ yᴴ, dy = xᴴ @ g (batch dims summed back by the engine; ᴴ is
    the transpose for real data)."""

    node_name = "MmBackward0"
    saves = ("x for dy", "y for dx")

    def forward(self, x: Any, y: Any) -> Any:
        if x.ndim == 0 or y.ndim == 0:
            raise RuntimeError(
                f"matmul: both arguments need at least 1 dimension, got {tuple(x.shape)} and "
                f"{tuple(y.shape)}"
            )
        if x.dtype != y.dtype:
            raise RuntimeError(
                f"matmul: expected both operands to have the same dtype, got {x.dtype} and "
                f"{y.dtype}"
            )
        try:
            return xp.matmul(x, y)
        except ValueError:
            raise _shape_error(x, y) from None

    def vjp(self, g: Any, F: Any) -> tuple:
        x, y = F.inputs(self)
        if g.dtype.kind == "c":  # (both operands are complex: matmul refuses mixed dtypes)
            x, y = conj(x, F), conj(y, F)
        nx, ny = x.ndim, y.ndim
        gx = gy = None
        if nx == 1 and ny == 1:
            gx = g * y if self.needs[0] else None
            gy = g * x if self.needs[1] else None
        elif nx == 1:  # x is a row (1, n) that matmul drops again
            if self.needs[0]:
                gx = (g[..., None, :] @ F.mT(y))[..., 0, :]
            if self.needs[1]:
                gy = x[:, None] @ g[..., None, :]
        elif ny == 1:  # y is a column (n, 1) that matmul drops again
            if self.needs[0]:
                gx = g[..., :, None] @ y[None, :]
            if self.needs[1]:
                gy = (F.mT(x) @ g[..., :, None])[..., 0]
        else:
            if self.needs[0]:
                gx = g @ F.mT(y)
            if self.needs[1]:
                gy = F.mT(x) @ g
        return gx, gy


# NOTE (speed): at small batch, OpenBLAS runs x·Wᵀ (the weight as a transposed right operand)
# up to 1.7x slower than (W·xᵀ)ᵀ for weights of 64k+ entries (784x512 at batch 32: 520 vs
# 300 µs on one Zen 3 core); from batch ~256 on the direct form is as fast or faster. The
# bias add (or a copy) writes the transposed product into a C-ordered result.
_SMALL_BATCH = 128
_LARGE_WEIGHT = 1 << 16


def _linear_small_batch(x: Any, w: Any, b: Any) -> Any:
    prod = xp.matmul(w, x.T).T
    out = xp.empty(prod.shape, dtype=prod.dtype)
    if b is None:
        xp.copyto(out, prod)
    else:
        xp.add(prod, b, out=out)
    return out


class Linear(Function):
    """out = x Wᵀ + b (one GEMM, bias added in place);
    dx = g W̄, dW = gᵀ x̄ (batch dims folded into one GEMM), db = Σ g (bars: complex data).

    # NOTE: fused for speed (one node and no broadcast temporary instead of matmul + add).
    """

    saves = ("x for dw", "w for dx")

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        if x.shape[-1] != w.shape[1]:
            raise RuntimeError(
                f"linear: input {tuple(x.shape)} @ weight.T {tuple(w.shape[::-1])}: inner dims "
                f"{x.shape[-1]} != {w.shape[1]} (in_features={w.shape[1]}, "
                f"out_features={w.shape[0]})"
            )
        if x.ndim == 2 and x.shape[0] <= _SMALL_BATCH and w.size >= _LARGE_WEIGHT:
            return _linear_small_batch(x, w, b)
        out = xp.matmul(x, w.T)
        if b is not None:
            out += b
        return out

    def vjp(self, g: Any, F: Any) -> tuple:
        x, w = F.inputs(self)[:2]
        if g.dtype.kind == "c":
            x, w = conj(x, F), conj(w, F)
        gx = g @ w if self.needs[0] else None
        gw = gb = None
        if self.needs[1]:
            g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
            x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
            gw = F.mT(g2) @ x2
        if len(self.needs) > 2 and self.needs[2]:
            gb = g.sum(tuple(range(g.ndim - 1))) if g.ndim > 1 else g
        return gx, gw, gb


def _einsum_parse(eq: str, n: int) -> tuple[list[str], str]:
    eq = eq.replace(" ", "")
    if "." in eq:
        raise ValueError(f"einsum: ellipsis is not supported (equation {eq!r})")
    lhs, _, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != n:
        raise ValueError(f"einsum: equation {eq!r} names {len(ins)} operands, got {n}")
    if "->" not in eq:
        letters = "".join(ins)
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return ins, rhs


class Einsum(Function):
    """out = einsum(eq, *xs);  dx_k = einsum over g and the other operands (conjugated when
    complex), to x_k's indices.

    Subscripts summed only inside x_k (absent elsewhere) are restored by broadcasting; a
    subscript repeated inside one operand (a diagonal) is not supported.
    """

    saves = ("*xs for d*xs",)

    def forward(self, *xs: Any, equation: str = "") -> Any:
        self.ins, self.out_sub = _einsum_parse(equation, len(xs))
        for sub, x in zip(self.ins, xs):
            if len(set(sub)) != len(sub):
                raise ValueError(f"einsum: repeated subscript in {sub!r} is not supported")
            if len(sub) != x.ndim:
                raise ValueError(
                    f"einsum: operand with subscripts {sub!r} has shape {tuple(x.shape)}"
                )
        return xp.asarray(xp.einsum(f"{','.join(self.ins)}->{self.out_sub}", *xs))

    def vjp(self, g: Any, F: Any) -> tuple:
        xs = F.inputs(self)
        if g.dtype.kind == "c":  # multilinear: each operand's factor is the others' conjugate
            xs = tuple(conj(x, F) for x in xs)
        grads = []
        for k, need in enumerate(self.needs):
            if not need:
                grads.append(None)
                continue
            others = [xs[j] for j in range(len(xs)) if j != k]
            subs = [self.ins[j] for j in range(len(xs)) if j != k]
            avail = set(self.out_sub).union(*map(set, subs)) if subs else set(self.out_sub)
            target = self.ins[k]
            kept = "".join(c for c in target if c in avail)
            gk = F.apply(Einsum, g, *others,
                         equation=f"{','.join([self.out_sub, *subs])}->{kept}")
            if kept != target:  # letters only in x_k: broadcast back over them (kept is in
                # target's order, so a reshape puts them back as size-1 axes)
                shape = tuple(xs[k].shape)
                view = tuple(shape[i] if c in avail else 1 for i, c in enumerate(target))
                gk = F.expand(gk.reshape(view), shape)
            grads.append(gk)
        return tuple(grads)
