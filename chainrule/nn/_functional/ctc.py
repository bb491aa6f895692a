"""nn.functional: the connectionist temporal classification loss (Graves et al. 2006).

For one sequence with log-probabilities lp[t, c] (t < T) and target l (length S), the extended
label l' = (blank, l₁, blank, l₂, ..., l_S, blank) has L = 2S + 1 states. In log space

    α_0(0) = lp[0, blank],  α_0(1) = lp[0, l₁],
    α_t(s) = lp[t, l'_s] + logsumexp(α_{t-1}(s), α_{t-1}(s-1), α_{t-1}(s-2) if l'_s ≠ blank
             and l'_s ≠ l'_{s-2}),
    loss = -logsumexp(α_{T-1}(L-1), α_{T-1}(L-2)),

and β the same recursion run backwards from t = T - 1. The posterior occupancy of class c at t
is γ_t(c) = Σ_{s: l'_s = c} exp(α_t(s) + β_t(s) - lp[t, c] + loss). The gradient written to
``log_probs`` is PyTorch's, exp(lp[t, c]) - γ_t(c) (zero for t ≥ T): the gradient of the loss
with respect to the *logits* when lp = log_softmax(logits); through ``log_softmax`` it equals
the exact gradient, which is -γ_t(c) (the extra term sums to zero after the softmax's
Jacobian). The recursion runs over time in NumPy, vectorised over the batch and the states.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.engine import Function
from chainrule.backend import xp
from chainrule.nn._functional.loss import _check_reduction
from chainrule.tensor import Tensor, _wrap, apply

__all__ = ["ctc_loss"]

_WHERE = " (while checking arguments for ctc_loss_allocate_outputs)"


def _lse(*terms: Any) -> Any:
    """logsumexp of same-shape arrays, elementwise (-inf when all are -inf)."""
    m = terms[0]
    for a in terms[1:]:
        m = xp.maximum(m, a)
    safe = xp.where(xp.isfinite(m), m, 0.0)
    with xp.errstate(divide="ignore"):
        return safe + xp.log(sum(xp.exp(a - safe) for a in terms))


def _shift(a: Any, k: int) -> Any:
    """a[..., s - k] along the last axis (-inf shifted in)."""
    out = xp.full_like(a, -xp.inf)
    out[..., k:] = a[..., :-k]
    return out


def _unshift(a: Any, k: int) -> Any:
    """a[..., s + k] along the last axis (-inf shifted in)."""
    out = xp.full_like(a, -xp.inf)
    out[..., :-k] = a[..., k:]
    return out


class CTC(Function):
    """out[n] = -log p(l_n | lp[:, n]) by the forward-backward recursion (module docstring);
    d lp[t, n, c] = g[n] (exp(lp[t, n, c]) - γ_t(n, c)) for t < T_n, PyTorch's convention.

    # NOTE: a dedicated op: the recursion has T sequential steps of logsumexp over the states,
    # which composed from primitives would record ~10 T nodes; the occupancy gradient comes
    # out of the same pass.
    """

    saves = ()

    def forward(self, lp: Any, ext: Any = None, states: Any = None, lengths: Any = None,
                zero_infinity: bool = False) -> Any:
        T, N, C = lp.shape
        L = ext.shape[1]
        s_idx = xp.arange(L)
        valid_s = s_idx[None, :] < states[:, None]                       # (N, L)
        # the skip transition s-2 -> s: allowed into a label that differs from the one before
        skip = xp.zeros((N, L), dtype=bool)
        skip[:, 2:] = (ext[:, 2:] != ext[:, :-2]) & (s_idx[2:] % 2 == 1)
        lpe = xp.take_along_axis(lp, xp.broadcast_to(ext[None], (T, N, L)), axis=2)
        lpe = xp.where(valid_s[None], lpe, -xp.inf)
        neg = xp.full((N, L), -xp.inf, dtype=lp.dtype)
        alpha = xp.full((T, N, L), -xp.inf, dtype=lp.dtype)
        a0 = neg.copy()
        a0[:, :2] = lpe[0, :, :2]
        alpha[0] = a0
        for t in range(1, T):
            prev = alpha[t - 1]
            alpha[t] = lpe[t] + _lse(prev, _shift(prev, 1), xp.where(skip, _shift(prev, 2), neg))
        rows = xp.arange(N)
        last = xp.maximum(lengths - 1, 0)
        end = alpha[last, rows]                                            # (N, L)
        ll = _lse(end[rows, states - 1], xp.where(states >= 2, end[rows, xp.maximum(states - 2, 0)],
                                                 -xp.inf))
        nll = -ll
        nll = xp.where(lengths == 0, xp.where(states == 1, 0.0, xp.inf), nll)  # empty input
        beta = xp.full((T, N, L), -xp.inf, dtype=lp.dtype)
        skip_next = _unshift(skip, 2).astype(bool)  # may s jump to s + 2?
        nxt = neg.copy()
        for t in range(T - 1, -1, -1):
            rec = lpe[t] + _lse(nxt, _unshift(nxt, 1), xp.where(skip_next, _unshift(nxt, 2), neg))
            init = neg.copy()
            init[rows, states - 1] = lpe[t, rows, states - 1]
            has_two = states >= 2
            init[rows[has_two], states[has_two] - 2] = lpe[t, rows[has_two], states[has_two] - 2]
            cur = xp.where((t == lengths - 1)[:, None], init,
                           xp.where((t < lengths - 1)[:, None], rec, neg))
            beta[t] = cur
            nxt = cur
        with xp.errstate(invalid="ignore", over="ignore"):
            occ = xp.exp(alpha + beta - lpe + nll[None, :, None])
        occ = xp.where(xp.isfinite(lpe) & (alpha > -xp.inf) & (beta > -xp.inf), occ, 0.0)
        onehot = (ext[:, :, None] == xp.arange(C)[None, None, :]).astype(lp.dtype)
        gamma = xp.einsum("tnl,nlc->tnc", occ, onehot)
        grad = xp.exp(lp) - gamma
        inf = ~xp.isfinite(nll)
        grad[:, inf] = 0.0 if zero_infinity else xp.nan
        grad[xp.arange(T)[:, None] >= lengths[None, :]] = 0.0
        if zero_infinity:
            nll = xp.where(inf, 0.0, nll)
        self.grad = grad
        return nll.astype(lp.dtype, copy=False)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g.reshape((1, -1, 1)) * self.grad,)


def _lengths(v: Any) -> Any:
    """Per-sequence lengths (a Tensor, a sequence or an int) as a flat int64 array."""
    a = v._array if isinstance(v, Tensor) else xp.asarray(v)
    return a.reshape(-1).astype(xp.int64)


def _targets(targets: Any, tl: Any, n: int) -> list[Any]:
    """Each sequence's target labels, from a padded (N, S) or a concatenated 1-D tensor."""
    t = targets._array if isinstance(targets, Tensor) else xp.asarray(targets)
    t = t.astype(xp.int64)
    if t.ndim == 2:
        need = int(tl.max(initial=0))
        if t.shape[1] < need:
            raise RuntimeError(
                f"Expected tensor to have size at least {need} at dimension 1, but got size "
                f"{t.shape[1]} for argument #2 'targets'{_WHERE}"
            )
        return [t[i, :tl[i]] for i in range(n)]
    total = int(tl.sum())
    if t.shape[0] != total:
        raise RuntimeError(
            f"Expected tensor to have size {total} at dimension 0, but got size {t.shape[0]} "
            f"for argument #2 'targets'{_WHERE}"
        )
    starts = xp.concatenate([[0], xp.cumsum(tl)[:-1]]).astype(xp.int64)
    return [t[s:s + k] for s, k in zip(starts, tl)]


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths: Any, target_lengths: Any,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """The CTC loss of ``log_probs`` (T, N, C) (or unbatched (T, C)), log-probabilities over C
    classes including ``blank``, against ``targets`` (N, S) padded or 1-D concatenated, with
    per-sequence ``input_lengths`` and ``target_lengths``. 'mean' divides each loss by its
    target length (at least 1) before averaging over the batch; ``zero_infinity`` replaces
    infinite losses (no valid alignment) and their gradients with 0.

    Example::

        lp = chainrule.randn(50, 4, 20).log_softmax(2).requires_grad_()
        F.ctc_loss(lp, targets, [50] * 4, [10, 8, 12, 9]).backward()
    """
    _check_reduction(reduction)
    unbatched = log_probs.ndim == 2
    x = log_probs.unsqueeze(1) if unbatched else log_probs
    if x.ndim != 3:
        raise RuntimeError(
            f"Expected 3-dimensional tensor, but got {x.ndim}-dimensional tensor for argument "
            f"#1 'log_probs'{_WHERE}"
        )
    T, N, C = x.shape
    if unbatched:
        targets = targets.unsqueeze(0) if isinstance(targets, Tensor) else [targets]
    il, tl = _lengths(input_lengths), _lengths(target_lengths)
    if blank < 0 or blank >= C:
        raise RuntimeError("blank must be in label range")
    if il.shape[0] != N:
        raise RuntimeError("input_lengths must be of size batch_size")
    if tl.shape[0] != N:
        raise RuntimeError("target_lengths must be of size batch_size")
    for name, v, lo, hi in (("input_lengths", il, 0, T), ("target_lengths", tl, 0, None)):
        if (v < lo).any():
            raise RuntimeError(f"Expected {name} to have value at least {lo}, but got value "
                               f"{int(v.min())}{_WHERE}")
        if hi is not None and (v > hi).any():
            raise RuntimeError(f"Expected {name} to have value at most {hi}, but got value "
                               f"{int(v.max())}{_WHERE}")
    seqs = _targets(targets, tl, N)
    L = 2 * int(tl.max(initial=0)) + 1
    ext = xp.full((N, L), blank, dtype=xp.int64)
    for i, s in enumerate(seqs):
        ext[i, 1:2 * len(s):2] = s
    nll = apply(CTC, x, ext=ext, states=2 * tl + 1, lengths=il, zero_infinity=zero_infinity)
    if reduction == "none":
        return nll.reshape(()) if unbatched else nll
    if reduction == "sum":
        return nll.sum()
    per_char = _wrap(xp.maximum(tl, 1).astype(nll.dtype))
    return (nll / per_char).mean()
