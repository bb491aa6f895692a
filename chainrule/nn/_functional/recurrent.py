"""nn.functional: recurrent cells, the composite scan, sequence normalisation, RNN dropout masks.

Two implementations of a recurrent layer exist and agree (tests hold them to each other and to
PyTorch):

* ``fused_scan``: the fused primitive ``ops.recurrent.RecurrentScan`` (plain cells, variable
  lengths, weights after weight drop); the fast path;
* ``scan_direction``: per-step composites of primitives, used for what the fused primitive does
  not cover (layer/batch normalisation inside the recurrence, dropout on the hidden state or on
  the candidate, zoneout) and as the fused primitive's differentiable backward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chainrule.backend import xp
from chainrule.ops import matmul as M
from chainrule.ops.recurrent import FlatPart, RecurrentScan, step_masks
from chainrule.tensor import Tensor, _wrap, apply, cat, stack, where

__all__ = ["lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"]


def _linear(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return apply(M.Linear, x, w, b)


# ---- cell updates (shared by the cells and the composite scan) ------------------------------
def _lstm_update(gx: Tensor, hh: Tensor, c: Tensor, gmask: Any = None,
                 norm_c: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """(h̃, c̃) from the input and recurrent pre-activations, PyTorch's gate order i, f, g, o."""
    H = c.shape[-1]
    a = gx + hh
    i = a[..., :H].sigmoid()
    f = a[..., H:2 * H].sigmoid()
    g = a[..., 2 * H:3 * H].tanh()
    o = a[..., 3 * H:].sigmoid()
    if gmask is not None:
        g = g * gmask  # recurrent dropout (Semeniuta et al. 2016): the candidate only
    c_new = f * c + i * g
    tc = (c_new if norm_c is None else norm_c(c_new)).tanh()
    return o * tc, c_new


def _gru_update(gx: Tensor, hh: Tensor, h: Tensor, nmask: Any = None) -> Tensor:
    """h̃ = (1 - z) n + z h with r, z = σ(x_rz + hh_rz), n = tanh(x_n + r hh_n)."""
    H = h.shape[-1]
    rz = (gx[..., :2 * H] + hh[..., :2 * H]).sigmoid()
    r, z = rz[..., :H], rz[..., H:]
    n = (gx[..., 2 * H:] + r * hh[..., 2 * H:]).tanh()
    if nmask is not None:
        n = n * nmask
    return n + z * (h - n)


def lstm_cell(input: Tensor, hx: tuple[Tensor, Tensor], w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step: (i, f, g, o) = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh;
    c' = σ(f) c + σ(i) tanh(g);  h' = σ(o) tanh(c'). Returns (h', c')."""
    h, c = hx
    return _lstm_update(_linear(input, w_ih, b_ih), _linear(h, w_hh, b_hh), c)


def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None) -> Tensor:
    """One GRU step: r, z = σ(x W_{ir,z}ᵀ + b_i + h W_{hr,z}ᵀ + b_h);
    n = tanh(x W_inᵀ + b_in + r (h W_hnᵀ + b_hn));  h' = (1 - z) n + z h."""
    return _gru_update(_linear(input, w_ih, b_ih), _linear(hx, w_hh, b_hh), hx)


def rnn_tanh_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
                  b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One Elman step: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)."""
    return (_linear(input, w_ih, b_ih) + _linear(hx, w_hh, b_hh)).tanh()


def rnn_relu_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
                  b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One Elman step: h' = relu(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)."""
    return (_linear(input, w_ih, b_ih) + _linear(hx, w_hh, b_hh)).relu()


# ---- dropout masks ---------------------------------------------------------------------------
def keep_mask(rng: Any, shape: tuple[int, ...], p: float, dtype: Any) -> Any:
    """Inverted-dropout mask: 1/(1-p) with probability 1-p, else 0 (all zeros when p = 1)."""
    if p >= 1.0:
        return xp.zeros(shape, dtype=dtype)
    return (rng.random(shape) >= p).astype(dtype) * (1.0 / (1.0 - p))


# ---- the composite scan ----------------------------------------------------------------------
@dataclass
class ScanExtras:
    """What the composite scan adds to the plain recurrence (all optional).

    ``hidden_mask``: (B, H) mask on h_{t-1} in the recurrent product, the same at every step
    (variational, Gal & Ghahramani 2016); ``recurrent_p``: dropout on the candidate g_t (LSTM) or
    n_t (GRU), a fresh mask per step (Semeniuta et al. 2016); ``zoneout_p``: each unit of h (and c)
    keeps its previous value with probability p (Krueger et al. 2017); ``norm_hh(t, hh)`` and
    ``norm_c(t, c)``: normalisation of the recurrent pre-activation and of the LSTM cell state;
    ``w_hr``: the LSTM's projection (``proj_size``, Sak et al. 2014), h_t = W_hr (o_t ⊙ tanh c_t),
    so h has ``proj_size`` features while c keeps ``hidden_size``.
    """

    hidden_mask: Any = None
    recurrent_p: float = 0.0
    zoneout_p: float = 0.0
    rng: Any = None
    norm_hh: Callable[[int, Tensor], Tensor] | None = None
    norm_c: Callable[[int, Tensor], Tensor] | None = None
    w_hr: Tensor | None = None


_PLAIN = ScanExtras()


def scan_direction(mode: str, xs: Tensor, h0: Tensor | None, c0: Tensor | None, w_hh: Tensor,
                   b_hh: Tensor | None, reverse: bool = False, valid: Any = None,
                   extras: ScanExtras | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """One direction of a recurrent layer as per-step composites.

    ``xs``: input pre-activations ``(T, B, G)`` time-major (x W_ihᵀ + b_ih, normalised if asked);
    ``valid``: ``(T, B, 1)`` booleans (None: every step valid). Where a step is not valid the
    state is kept and the output is 0; ``reverse`` walks from T-1 down to 0. Returns
    ``(outputs (T, B, H), h_T, c_T)``.
    """
    ex = extras or _PLAIN
    T, B = xs.shape[0], xs.shape[1]
    H = w_hh.shape[1]  # features of h: hidden_size, or proj_size under a projection
    dt = xs.dtype
    lstm = mode == "LSTM"
    h = h0 if h0 is not None else _wrap(xp.zeros((B, H), dtype=dt))
    c = None
    if lstm:
        c = c0 if c0 is not None else _wrap(xp.zeros((B, w_hh.shape[0] // 4), dtype=dt))
    ys: list[Any] = [None] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        hin = h if ex.hidden_mask is None else h * ex.hidden_mask
        if ex.norm_hh is None:
            hh = _linear(hin, w_hh, b_hh)
        else:
            hh = ex.norm_hh(t, _linear(hin, w_hh, None))
            if b_hh is not None:
                hh = hh + b_hh
        gmask = keep_mask(ex.rng, (B, H), ex.recurrent_p, dt) if ex.recurrent_p else None
        cn = None
        if lstm:
            norm_c = None if ex.norm_c is None else _bind_step(ex.norm_c, t)
            hn, cn = _lstm_update(xs[t], hh, c, gmask, norm_c)
            if ex.w_hr is not None:
                hn = _linear(hn, ex.w_hr, None)
        elif mode == "GRU":
            hn = _gru_update(xs[t], hh, h, gmask)
        else:
            a = xs[t] + hh
            hn = a.tanh() if mode == "RNN_TANH" else a.relu()
        if ex.zoneout_p:
            hn = where(ex.rng.random((B, H)) < ex.zoneout_p, h, hn)
            if lstm:
                cn = where(ex.rng.random((B, H)) < ex.zoneout_p, c, cn)
        if valid is None:
            ys[t], h, c = hn, hn, cn
        else:
            v = valid[t]
            ys[t] = where(v, hn, 0.0)
            h = where(v, hn, h)
            if lstm:
                c = where(v, cn, c)
    return stack(ys, 0), h, c


def _bind_step(fn: Callable[[int, Tensor], Tensor], t: int) -> Callable[[Tensor], Tensor]:
    return lambda v: fn(t, v)


def scan_layer(mode: str, xproj: Tensor, h0: Tensor | None, c0: Tensor | None,
               ws: list[Tensor], bs: list[Tensor | None], batch_first: bool = False,
               lengths: Any = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """Composite of a whole layer (all directions) with the fused primitive's inputs and
    results: ``(output, h_n (D, B, H), c_n)``."""
    D = len(ws)
    G = ws[0].shape[0]
    xt = xproj.transpose(0, 1) if batch_first else xproj
    valid = step_masks(lengths, xt.shape[0], D)[0] if lengths is not None else None
    outs, hs, cs = [], [], []
    for d in range(D):
        xd = xt[..., d * G:(d + 1) * G] if D > 1 else xt
        y, h, c = scan_direction(mode, xd, None if h0 is None else h0[d],
                                 None if c0 is None else c0[d], ws[d], bs[d], reverse=d == 1,
                                 valid=valid)
        outs.append(y)
        hs.append(h)
        cs.append(c)
    out = cat(outs, -1) if D > 1 else outs[0]
    if batch_first:
        out = out.transpose(0, 1)
    return out, stack(hs, 0), stack(cs, 0) if mode == "LSTM" else None


def _scan_reference(mode: str, D: int, batch_first: bool, lengths: Any) -> Callable[..., Tensor]:
    """The composite that ``RecurrentScan`` differentiates under ``create_graph``: same inputs,
    same packed result."""

    def reference(xproj: Tensor, h0: Any, c0: Any, *params: Tensor) -> Tensor:
        ws = list(params[:D])
        bs = list(params[D:]) if len(params) > D else [None] * D
        out, hn, cn = scan_layer(mode, xproj, h0 if isinstance(h0, Tensor) else None,
                                 c0 if isinstance(c0, Tensor) else None, ws, bs, batch_first,
                                 lengths)
        parts = [out.reshape(-1), hn.reshape(-1)]
        if cn is not None:
            parts.append(cn.reshape(-1))
        return cat(parts, 0)

    return reference


def fused_scan(mode: str, xproj: Tensor, h0: Tensor | None, c0: Tensor | None,
               ws: list[Tensor], bs: list[Tensor | None], batch_first: bool = False,
               lengths: Any = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """A whole layer (all directions) through the fused primitive: ``(output, h_n, c_n)``.

    ``xproj``: x W_ihᵀ + b_ih of both directions side by side ``(T, B, D·G)`` (batch first:
    ``(B, T, D·G)``); ``ws``/``bs``: W_hh and b_hh per direction; ``lengths``: int array or None.
    """
    D = len(ws)
    H = ws[0].shape[1]
    if batch_first:
        B, T = xproj.shape[0], xproj.shape[1]
    else:
        T, B = xproj.shape[0], xproj.shape[1]
    params = list(ws) + ([b for b in bs] if bs[0] is not None else [])
    flat = apply(RecurrentScan, xproj, h0, c0, *params, mode=mode, num_directions=D,
                 batch_first=batch_first, lengths=lengths,
                 reference=_scan_reference(mode, D, batch_first, lengths))
    return scan_parts(flat, mode, T, B, D, H, batch_first)


def scan_parts(flat: Tensor, mode: str, T: int, B: int, D: int, H: int,
               batch_first: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(output, h_n, c_n)`` read from the flat result of :class:`RecurrentScan` (views)."""
    n = T * B * D * H
    out = apply(FlatPart, flat, start=0, shape=(B, T, D * H) if batch_first else (T, B, D * H))
    hn = apply(FlatPart, flat, start=n, shape=(D, B, H))
    cn = apply(FlatPart, flat, start=n + D * B * H, shape=(D, B, H)) if mode == "LSTM" else None
    return out, hn, cn


# ---- normalisation for sequences ------------------------------------------------------------
def layer_norm_last(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last dim (Ba et al. 2016): (x - μ) / √(σ² + eps) · γ + β."""
    xc = x - x.mean(-1, keepdim=True)
    var = (xc * xc).mean(-1, keepdim=True)
    return xc * (var + eps).rsqrt() * weight + bias


def bn_rows(t0: int, steps: int, size: int, seen: int, training: bool) -> Any:
    """Rows of the per-step running statistics used for steps t0 .. t0+steps-1.

    Training updates row min(t, size-1). At evaluation a step later than any seen in training
    reuses the statistics of the last step seen in training (Cooijmans et al. 2016).
    """
    t = xp.arange(t0, t0 + steps)
    last = size - 1 if training or seen <= 0 else min(size, seen) - 1
    return xp.minimum(t, last)


def batch_norm_steps(x: Tensor, valid: Any, weight: Tensor, bias: Tensor | None,
                     running_mean: Any, running_var: Any, t0: int, training: bool,
                     momentum: float = 0.1, eps: float = 1e-5, seen: int = 0) -> Tensor:
    """Recurrent batch normalisation (Cooijmans et al. 2016) of steps t0.. of ``x`` ``(T, B, F)``.

    Statistics are per time step, over the valid batch entries only (``valid`` ``(T, B, 1)``
    booleans, None: all valid), so padding never changes them:
    μ_t = Σ_b m x / Σ_b m,  σ²_t = Σ_b m (x - μ_t)² / Σ_b m,  y = (x - μ_t) / √(σ²_t + eps) · γ + β.
    Training updates the running statistics of each step (unbiased variance, ``momentum``);
    evaluation uses them, a step past the longest seen in training reusing the last one.
    """
    steps = x.shape[0]
    rows = bn_rows(t0, steps, running_mean.shape[0], seen, training)
    if training:
        if valid is None:
            n = xp.full((steps, 1, 1), x.shape[1], dtype=x.dtype)
            mean = x.mean(1, keepdim=True)
            xc = x - mean
            var = (xc * xc).mean(1, keepdim=True)
        else:
            m = valid.astype(x.dtype)
            n = m.sum(1, keepdims=True)
            inv = 1.0 / xp.maximum(n, 1.0)
            mean = (x * m).sum(1, keepdim=True) * inv
            xc = x - mean
            var = (xc * xc * m).sum(1, keepdim=True) * inv
        _update_running(running_mean, running_var, rows, mean._array[:, 0], var._array[:, 0],
                        n[:, 0, 0], momentum)
        y = xc * (var + eps).rsqrt()
    else:
        mu = running_mean[rows][:, None, :]
        scale = 1.0 / xp.sqrt(running_var[rows][:, None, :] + eps)
        y = (x - mu) * scale
    y = y * weight
    return y if bias is None else y + bias


def _update_running(rm: Any, rv: Any, rows: Any, mean: Any, var: Any, n: Any,
                    momentum: float) -> None:
    """Running mean/var update per step (in order: steps past the buffer share its last row)."""
    for k, r in enumerate(rows):
        if n[k] < 1:
            continue
        rm[r] += momentum * (mean[k] - rm[r])
        if n[k] > 1:
            rv[r] += momentum * (var[k] * (n[k] / (n[k] - 1.0)) - rv[r])
