"""Fused recurrent primitives: one node runs a whole LSTM/GRU/RNN layer over a sequence.

# NOTE: fused for speed. A composite LSTM costs ~15 recorded ops per time step forward and ~30
# backward; at hidden 6 (the MNIST-1D GRU) those per-op costs are the whole run time, and at
# hidden 128 the composite also pays for saving and re-deriving every gate. ``RecurrentScan``
# runs the recurrence in NumPy with preallocated buffers and both directions batched into one
# GEMM per step, and runs back-propagation through time in NumPy too.

Layout and tricks (all internal; inputs and outputs use PyTorch's layout):

* buffers are time-major ``(T, D, B, ...)`` in *processing* order: slot ``s`` of the reverse
  direction holds time ``T-1-s``; a slot is one contiguous ``(D, B, G)`` block, so the step's
  recurrent product of both directions is one batched GEMM written in place;
* gates are reordered so the sigmoid gates come first (LSTM: i, f, o | g), and
  σ(a) = ½ + ½ tanh(a/2) with the ½ folded into the recurrent weights and the input
  projection: one ``tanh`` call per step covers every gate (NumPy's ``tanh`` is vectorised,
  its ``exp``-based sigmoid is ~10x slower);
* variable lengths use a mask m_t: the state is frozen where m_t = 0
  (h_t = m h̃_t + (1-m) h_{t-1}), so the forward direction ends at each sequence's true last
  step and the reverse direction starts at each sequence's true end; outputs past a length are 0.

The backward is NumPy BPTT when no graph is recorded. Under ``create_graph=True`` it is the
vector-Jacobian product of the composite (Tensor-op) recurrence that the caller passes as
``reference``: recomputed on aliases of the inputs, so gradients are differentiable and
Hessians through an LSTM work. Tests check that the fused and composite paths agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.autograd.engine import Function, _GradMode, run_backward
from chainrule.backend import xp
from chainrule.ops.index import IndexAdd

MODES = ("LSTM", "GRU", "RNN_TANH", "RNN_RELU")


def gate_count(mode: str) -> int:
    """Rows of ``weight_ih`` per hidden unit: 4 for LSTM, 3 for GRU, 1 for a plain RNN."""
    return {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}[mode]


def _layout(mode: str, H: int) -> tuple[list[tuple[slice, slice]], bool, int]:
    """Internal gate order (sigmoid gates first) as (internal slice, PyTorch slice) blocks,
    whether it is PyTorch's order, and how many leading internal rows are sigmoid gates."""
    if mode == "LSTM":
        order, nsig = (0, 1, 3, 2), 3 * H  # i f o g
    elif mode == "GRU":
        order, nsig = (0, 1, 2), 2 * H  # r z n
    else:
        order, nsig = (0,), 0
    blocks = [(slice(k * H, (k + 1) * H), slice(j * H, (j + 1) * H)) for k, j in enumerate(order)]
    return blocks, list(order) == sorted(order), nsig


def _permute_last(dst: Any, src: Any, blocks: list, to_internal: bool) -> None:
    """Copy ``src`` into ``dst`` reordering gate blocks of the last axis (block copies: a fancy
    index on the last axis is ~10x slower)."""
    for internal, torch_ in blocks:
        if to_internal:
            dst[..., internal] = src[..., torch_]
        else:
            dst[..., torch_] = src[..., internal]


def step_masks(lengths: Any, T: int, D: int) -> tuple[Any, Any]:
    """Validity of each (processing step, direction, batch row) as ``(T, D, B, 1)`` arrays.

    Returns ``(valid_time, keep)``: ``valid_time[t, b] = t < lengths[b]`` in time order
    ``(T, B, 1)`` and ``keep[s, d, b]`` in processing order (reverse direction flipped).
    """
    valid = xp.arange(T)[:, None] < xp.asarray(lengths)[None, :]
    keep = xp.stack([valid, valid[::-1]][:D], axis=1)[..., None]
    return valid[..., None], keep


class _Alias(Function):
    """out = x;  dx = g. A node whose edge to x can be cut while a sub-graph is differentiated."""

    saves = ()

    def forward(self, x: Any) -> Any:
        return x

    def backward(self, g: Any) -> tuple:
        return (g,)


def recompute_vjp(fn: Function, reference: Callable[..., Any], g: Any) -> tuple:
    """Differentiable vector-Jacobian product of ``reference`` at ``fn``'s inputs.

    The composite ``reference`` is rebuilt on aliases of the inputs whose edges are cut for the
    nested backward (so it does not run into the rest of the graph) and restored afterwards (so
    the returned gradients stay connected to the real inputs for the next derivative).
    """
    from chainrule.tensor import Tensor, apply

    args: list[Any] = []
    aliases: list[Any] = []
    slots: list[int] = []
    cut: list[tuple[Function, tuple]] = []
    try:
        for k, (t, need) in enumerate(zip(fn.inputs, fn.needs)):
            if need and isinstance(t, Tensor):
                a = apply(_Alias, t)
                node = a.grad_fn
                cut.append((node, node.next))
                node.next = (None,)
                args.append(a)
                aliases.append(a)
                slots.append(k)
            else:
                args.append(t)
        out = reference(*args)
        grads = run_backward([out], [g], True, True, inputs=aliases, accumulate=False,
                             allow_unused=True)
    finally:
        for node, nxt in cut:
            node.next = nxt
    result: list[Any] = [None] * len(fn.inputs)
    for k, gk in zip(slots, grads):
        result[k] = gk
    return tuple(result)


class FlatPart(Function):
    """out = flat[start : start + n].reshape(shape) (a view);  dflat = g placed at that range.

    Reads one of several results packed by a multi-result primitive into a flat array.
    """

    saves = ()

    def forward(self, flat: Any, start: int = 0, shape: tuple[int, ...] = ()) -> Any:
        n = 1
        for s in shape:
            n *= s
        self.key = slice(start, start + n)
        return flat[self.key].reshape(shape)

    def backward(self, g: Any) -> tuple:
        return (IndexAdd.apply_to(g.reshape(-1), self.inputs[0].shape, self.key),)


class RecurrentScan(Function):
    """One recurrent layer (1 or 2 directions) over a whole sequence, packed into one array.

    Inputs: ``xproj`` = x W_ihᵀ + b_ih for every step and direction, ``(T, B, D·G)`` (or
    ``(B, T, D·G)`` with ``batch_first``); ``h0``, ``c0``: ``(D, B, H)`` or None (zeros); then
    ``W_hh`` per direction ``(G, H)`` and, with ``bias``, ``b_hh`` per direction ``(G,)``.
    Per step, with a = x_t + h_{t-1} W_hhᵀ + b_hh split in PyTorch's gate order:

    * LSTM: i, f, o = σ(a_i), σ(a_f), σ(a_o), g = tanh(a_g); c_t = f c_{t-1} + i g;
      h_t = o tanh(c_t);
    * GRU: r, z = σ(x_r + hh_r), σ(x_z + hh_z) with hh = h_{t-1} W_hhᵀ + b_hh;
      n = tanh(x_n + r hh_n); h_t = (1 - z) n + z h_{t-1};
    * RNN: h_t = tanh(a) or relu(a).

    Result: the flat concatenation of the output ``(T, B, D·H)`` (``(B, T, D·H)`` with
    ``batch_first``; zero past each length), h_n ``(D, B, H)`` and for the LSTM c_n; read the
    parts with :class:`FlatPart`. Backward: BPTT (see the module docstring).
    """

    saves = ()

    def forward(self, xproj: Any, h0: Any, c0: Any, *params: Any, mode: str = "LSTM",
                num_directions: int = 1, batch_first: bool = False, lengths: Any = None,
                reference: Callable[..., Any] | None = None) -> Any:
        D = num_directions
        ws, bs = params[:D], params[D:] if len(params) > D else (None,) * D
        self.mode, self.batch_first, self.reference = mode, batch_first, reference
        self.saves = tuple(range(3, 3 + len(params)))  # in-place changes to weights are caught
        xt = xproj.transpose(1, 0, 2) if batch_first else xproj
        T, B = xt.shape[0], xt.shape[1]
        G, H = ws[0].shape
        masks = step_masks(lengths, T, D) if lengths is not None else None
        run = _lstm_forward if mode == "LSTM" else _gru_forward if mode == "GRU" else _rnn_forward
        c = _Scan(mode, xt, h0, c0, ws, bs, masks)
        run(c)
        self.c = c
        n_out = T * B * D * H
        flat = xp.empty(n_out + D * B * H * (2 if mode == "LSTM" else 1), dtype=xproj.dtype)
        out = flat[:n_out].reshape((B, T, D * H) if batch_first else (T, B, D * H))
        _write_output(c, out.transpose(1, 0, 2) if batch_first else out)
        flat[n_out:n_out + D * B * H] = c.hs[T].reshape(-1)
        if mode == "LSTM":
            flat[n_out + D * B * H:] = c.cs[T].reshape(-1)
        return flat

    def backward(self, g: Any) -> tuple:
        if _GradMode.enabled:  # create_graph: a differentiable backward (see module docstring)
            return recompute_vjp(self, self.reference, g)
        c = self.c
        T, D, B, H = c.T, c.D, c.B, c.H
        gd = g.data
        n_out = T * B * D * H
        gout = gd[:n_out].reshape((B, T, D * H) if self.batch_first else (T, B, D * H))
        if self.batch_first:
            gout = gout.transpose(1, 0, 2)
        dh = gd[n_out:n_out + D * B * H].reshape(D, B, H).copy()
        dc = gd[n_out + D * B * H:].reshape(D, B, H).copy() if self.mode == "LSTM" else None
        gy = _arrange_output_grad(c, gout)
        if self.mode == "LSTM":
            dpre, dhh = _lstm_backward(c, gy, dh, dc)
        elif self.mode == "GRU":
            dpre, dhh = _gru_backward(c, gy, dh)
        else:
            dpre, dhh = _rnn_backward(c, gy, dh)
        return self._collect(c, dpre, dhh, dh, dc)

    def _collect(self, c: _Scan, dpre: Any, dhh: Any, dh: Any, dc: Any) -> tuple:
        from chainrule.tensor import _wrap

        needs = self.needs
        D = c.D
        out: list[Any] = [None] * len(needs)
        if needs[0]:
            x = self.inputs[0].data
            dx = xp.empty(x.shape, dtype=x.dtype)
            _write_input_grad(c, dpre, dx.transpose(1, 0, 2) if self.batch_first else dx)
            out[0] = _wrap(dx)
        if needs[1]:
            out[1] = _wrap(dh)
        if needs[2] and dc is not None:
            out[2] = _wrap(dc)
        has_bias = len(needs) > 3 + D
        for d in range(D):
            if needs[3 + d]:
                a2 = dhh[:, d].reshape(c.T * c.B, c.G)
                h2 = c.hs[:c.T, d].reshape(c.T * c.B, c.H)
                out[3 + d] = _wrap(_unpermute(c, a2.T @ h2))
            if has_bias and needs[3 + D + d]:
                out[3 + D + d] = _wrap(_unpermute(c, dhh[:, d].sum((0, 1))))
        return tuple(out)


class _Scan:
    """Buffers of one fused scan: arranged inputs, weights in internal order, saved states."""

    def __init__(self, mode: str, xt: Any, h0: Any, c0: Any, ws: tuple, bs: tuple,
                 masks: tuple | None) -> None:
        T, B = xt.shape[0], xt.shape[1]
        D = len(ws)
        G, H = ws[0].shape
        dt = xt.dtype
        self.mode, self.T, self.B, self.D, self.G, self.H, self.dtype = mode, T, B, D, G, H, dt
        self.blocks, self.ident, nsig = _layout(mode, H)
        self.nsig = nsig
        half = dt.type(0.5)
        self.x = xp.empty((T, D, B, G), dtype=dt)  # arranged input projections (+ folded b_hh)
        self.wt = xp.empty((D, H, G), dtype=dt)  # recurrent weights, transposed, ½ on σ rows
        self.w = xp.empty((D, G, H), dtype=dt)  # recurrent weights in internal order (backward)
        self.bh = xp.zeros((D, 1, G), dtype=dt) if mode == "GRU" else None
        for d in range(D):
            src = xt[:, :, d * G:(d + 1) * G]
            if d == 1:
                src = src[::-1]
            _permute_last(self.w[d].T, ws[d].T, self.blocks, True)
            self.wt[d] = self.w[d].T
            xd = self.x[:, d]
            _permute_last(xd, src, self.blocks, True)
            b = bs[d]
            if b is not None:
                if not self.ident:
                    b = b.copy()
                    _permute_last(b, bs[d], self.blocks, True)
                if mode == "GRU":
                    self.bh[d, 0] = b
                else:
                    xd += b
            if nsig:
                self.wt[d][:, :nsig] *= half
                xd[..., :nsig] *= half
                if self.bh is not None:
                    self.bh[d, 0, :nsig] *= half
        self.hs = xp.empty((T + 1, D, B, H), dtype=dt)  # states h_0 .. h_T (processing order)
        self.hs[0] = 0 if h0 is None else h0
        self.cs = None
        if mode == "LSTM":
            self.cs = xp.empty((T + 1, D, B, H), dtype=dt)
            self.cs[0] = 0 if c0 is None else c0
        self.act = xp.empty((T, D, B, G), dtype=dt)  # gate activations per step
        self.valid = self.keep = self.drop = None
        if masks is not None:
            self.valid, self.keep = masks
            self.drop = ~self.keep


def _lstm_forward(c: _Scan) -> None:
    H, half = c.H, c.dtype.type(0.5)
    c.tc = xp.empty((c.T, c.D, c.B, H), dtype=c.dtype)  # tanh(c_t) before masking
    tmp = xp.empty((c.D, c.B, H), dtype=c.dtype)
    for s in range(c.T):
        a = c.act[s]
        xp.matmul(c.hs[s], c.wt, out=a)
        a += c.x[s]
        xp.tanh(a, out=a)
        sg = a[..., :3 * H]
        sg *= half
        sg += half
        cn, hn, tc = c.cs[s + 1], c.hs[s + 1], c.tc[s]
        xp.multiply(a[..., H:2 * H], c.cs[s], out=cn)
        xp.multiply(a[..., :H], a[..., 3 * H:], out=tmp)
        cn += tmp
        xp.tanh(cn, out=tc)
        xp.multiply(a[..., 2 * H:3 * H], tc, out=hn)
        if c.drop is not None:
            xp.copyto(cn, c.cs[s], where=c.drop[s])
            xp.copyto(hn, c.hs[s], where=c.drop[s])


def _gru_forward(c: _Scan) -> None:
    H, half = c.H, c.dtype.type(0.5)
    c.hh = xp.empty((c.T, c.D, c.B, c.G), dtype=c.dtype)  # h W_hhᵀ + b_hh (½ on r, z rows)
    for s in range(c.T):
        hh, a, x = c.hh[s], c.act[s], c.x[s]
        xp.matmul(c.hs[s], c.wt, out=hh)
        hh += c.bh
        rz = a[..., :2 * H]
        xp.add(x[..., :2 * H], hh[..., :2 * H], out=rz)
        xp.tanh(rz, out=rz)
        rz *= half
        rz += half
        n = a[..., 2 * H:]
        xp.multiply(a[..., :H], hh[..., 2 * H:], out=n)
        n += x[..., 2 * H:]
        xp.tanh(n, out=n)
        hn = c.hs[s + 1]
        xp.subtract(c.hs[s], n, out=hn)
        hn *= a[..., H:2 * H]
        hn += n
        if c.drop is not None:
            xp.copyto(hn, c.hs[s], where=c.drop[s])


def _rnn_forward(c: _Scan) -> None:
    relu = c.mode == "RNN_RELU"
    zero = xp.zeros((c.D, c.B, c.G), dtype=c.dtype)
    for s in range(c.T):
        a = c.act[s]
        xp.matmul(c.hs[s], c.wt, out=a)
        a += c.x[s]
        if relu:
            xp.maximum(a, zero, out=a)  # a preallocated zero array is ~4x faster than 0
        else:
            xp.tanh(a, out=a)
        c.hs[s + 1] = a
        if c.drop is not None:
            xp.copyto(c.hs[s + 1], c.hs[s], where=c.drop[s])


def _write_output(c: _Scan, out_tm: Any) -> None:
    """Outputs in time order ``(T, B, D·H)``, zero past each length."""
    H = c.H
    for d in range(c.D):
        ys = c.hs[1:, d] if d == 0 else c.hs[:0:-1, d]
        dst = out_tm[:, :, d * H:(d + 1) * H]
        if c.valid is None:
            dst[...] = ys
        else:
            xp.multiply(ys, c.valid, out=dst)


def _arrange_output_grad(c: _Scan, gout_tm: Any) -> Any:
    """Output gradients in processing order ``(T, D, B, H)`` (zero past each length)."""
    gy = xp.empty((c.T, c.D, c.B, c.H), dtype=c.dtype)
    H = c.H
    for d in range(c.D):
        src = gout_tm[:, :, d * H:(d + 1) * H]
        valid = c.valid
        if d == 1:
            src = src[::-1]
            valid = None if valid is None else valid[::-1]
        if valid is None:
            gy[:, d] = src
        else:
            xp.multiply(src, valid, out=gy[:, d])
    return gy


def _write_input_grad(c: _Scan, dpre: Any, dx_tm: Any) -> None:
    """Gradient of the input projection in PyTorch's gate order and time order."""
    G = c.G
    for d in range(c.D):
        src = dpre[:, d] if d == 0 else dpre[::-1, d]
        _permute_last(dx_tm[:, :, d * G:(d + 1) * G], src, c.blocks, False)


def _unpermute(c: _Scan, a: Any) -> Any:
    """Rows (axis 0) from internal gate order back to PyTorch's."""
    if c.ident:
        return a
    out = xp.empty_like(a)
    _permute_last(out.T, a.T, c.blocks, False)
    return out


def _split_pass(c: _Scan, s: int, dh: Any, dc: Any) -> tuple[Any, Any]:
    """At a masked step the state gradient passes through unchanged: split it off."""
    if c.drop is None:
        return None, None
    drop, keep = c.drop[s], c.keep[s]
    ph = dh * drop
    dh *= keep
    pc = None
    if dc is not None:
        pc = dc * drop
        dc *= keep
    return ph, pc


def _lstm_backward(c: _Scan, gy: Any, dh: Any, dc: Any) -> tuple[Any, Any]:
    H, one = c.H, c.dtype.type(1)
    da_all = xp.empty((c.T, c.D, c.B, c.G), dtype=c.dtype)
    t1 = xp.empty((c.D, c.B, H), dtype=c.dtype)
    t3 = xp.empty((c.D, c.B, 3 * H), dtype=c.dtype)
    for s in range(c.T - 1, -1, -1):
        dh += gy[s]
        ph, pc = _split_pass(c, s, dh, dc)
        a, tc, da = c.act[s], c.tc[s], da_all[s]
        i, f, o, g = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H], a[..., 3 * H:]
        xp.multiply(dh, tc, out=da[..., 2 * H:3 * H])  # do
        xp.multiply(tc, tc, out=t1)
        xp.subtract(one, t1, out=t1)
        t1 *= o
        t1 *= dh
        dc += t1  # dc_t += dh o (1 - tanh² c_t)
        xp.multiply(dc, g, out=da[..., :H])  # di
        xp.multiply(dc, c.cs[s], out=da[..., H:2 * H])  # df
        xp.multiply(dc, i, out=da[..., 3 * H:])  # dg
        dc *= f  # dc_{t-1}
        sg = a[..., :3 * H]
        xp.multiply(sg, sg, out=t3)
        xp.subtract(sg, t3, out=t3)  # σ' = σ - σ²
        da[..., :3 * H] *= t3
        xp.multiply(g, g, out=t1)
        xp.subtract(one, t1, out=t1)
        da[..., 3 * H:] *= t1
        xp.matmul(da, c.w, out=dh)
        if ph is not None:
            dh += ph
            dc += pc
    return da_all, da_all


def _gru_backward(c: _Scan, gy: Any, dh: Any) -> tuple[Any, Any]:
    H, one = c.H, c.dtype.type(1)
    da_all = xp.empty((c.T, c.D, c.B, c.G), dtype=c.dtype)  # d(x_r, x_z, x_n)
    dhh_all = xp.empty((c.T, c.D, c.B, c.G), dtype=c.dtype)  # d(hh_r, hh_z, hh_n)
    t1 = xp.empty((c.D, c.B, H), dtype=c.dtype)
    t2 = xp.empty((c.D, c.B, 2 * H), dtype=c.dtype)
    tw = xp.empty((c.D, c.B, H), dtype=c.dtype)
    for s in range(c.T - 1, -1, -1):
        dh += gy[s]
        ph, _ = _split_pass(c, s, dh, None)
        a, da, dhh = c.act[s], da_all[s], dhh_all[s]
        r, z, n = a[..., :H], a[..., H:2 * H], a[..., 2 * H:]
        dar, daz, dan = da[..., :H], da[..., H:2 * H], da[..., 2 * H:]
        xp.subtract(c.hs[s], n, out=daz)
        daz *= dh  # dz = dh (h_{t-1} - n)
        xp.subtract(one, z, out=t1)
        t1 *= dh  # dn = dh (1 - z)
        xp.multiply(n, n, out=tw)
        xp.subtract(one, tw, out=tw)
        xp.multiply(t1, tw, out=dan)  # d(x_n) = dn (1 - n²)
        xp.multiply(dan, c.hh[s][..., 2 * H:], out=dar)  # dr = d(x_n) hh_n
        rz = a[..., :2 * H]
        xp.multiply(rz, rz, out=t2)
        xp.subtract(rz, t2, out=t2)
        da[..., :2 * H] *= t2
        dhh[..., :2 * H] = da[..., :2 * H]
        xp.multiply(dan, r, out=dhh[..., 2 * H:])  # d(hh_n) = d(x_n) r
        dh *= z
        xp.matmul(dhh, c.w, out=tw)
        dh += tw
        if ph is not None:
            dh += ph
    return da_all, dhh_all


def _rnn_backward(c: _Scan, gy: Any, dh: Any) -> tuple[Any, Any]:
    one = c.dtype.type(1)
    da_all = xp.empty((c.T, c.D, c.B, c.G), dtype=c.dtype)
    for s in range(c.T - 1, -1, -1):
        dh += gy[s]
        ph, _ = _split_pass(c, s, dh, None)
        a, da = c.act[s], da_all[s]
        if c.mode == "RNN_RELU":
            xp.multiply(dh, a > 0, out=da)
        else:
            xp.multiply(a, a, out=da)
            xp.subtract(one, da, out=da)
            da *= dh
        xp.matmul(da, c.w, out=dh)
        if ph is not None:
            dh += ph
    return da_all, da_all
