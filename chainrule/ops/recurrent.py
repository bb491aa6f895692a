"""Fused recurrent primitives: one node runs a whole LSTM/GRU/RNN layer over a sequence.

# NOTE: fused for speed. A composite LSTM costs ~15 recorded ops per time step forward and ~30
# backward; at hidden 6 (the MNIST-1D GRU) those per-op costs are the whole run time, and at
# hidden 128 the composite also pays for saving and re-deriving every gate. ``RecurrentScan``
# runs the recurrence in NumPy with preallocated buffers and both directions batched into one
# GEMM per step, and runs back-propagation through time in NumPy too.

Layout and tricks (all internal; inputs and outputs use PyTorch's layout):

* buffers are time-major ``(T, D, ...)`` in *processing* order (slot ``s`` of the reverse
  direction holds time ``T-1-s``) and gate-major inside a step: the gates of a step are
  ``(D, K, B, H)`` (K gates), so every gate is a contiguous block (NumPy 2.4 runs a ufunc on
  strided gate slices of ``(B, K·H)`` rows 2-6x slower per element, worst with two strided
  operands: measured 1.3 against 0.2 ns per float32), the states stay ``(D, B, H)`` (no
  transposes anywhere), and the recurrent product of all gates and both directions is one
  batched matmul h (B, H) @ W_k (H, H) per gate (as fast as one h @ W_hhᵀ GEMM; the GRU's
  backward pays three adds per step to sum the gates, the LSTM's copies the step's gate
  gradients to rows and sums them inside one GEMM);
* σ(a) = ½ + ½ tanh(a/2) with the ½ folded into the σ gates of the recurrent weights and of
  the input projection: one ``tanh`` call per step covers every gate (NumPy's ``tanh`` is
  vectorised; an ``exp``-based sigmoid is ~10x slower);
* with ``project=True`` (what the layers use) the input projection runs inside the scan:
  for the GRU and RNN one batched GEMM [x | 1] @ [W_ihᵀ; b] per direction writes the
  projections gate-major (the ½ and the biases folded into that small matrix); the LSTM
  has no projection pass at all: each step is one GEMM per gate
  z_t @ [W'ᵀ; W_ihᵀ; b'] with z_t = [h_{t-1} | x_t | 1] (the forward writes each new state
  into z), cheaper than a GEMM over K = H per step plus the projection and an add pass
  per step; the backward gets dW_hh, dW_ih and db from one GEMM da ᵀ z per direction, so
  no pass reorders or biases the ``(T·B, K·H)`` projections;
* the LSTM works in place on that gate-major storage ``(D, K, T, B, H)``: the forward writes
  the gates over the GEMM's pre-activations, the backward first turns them, a block of
  steps at a time (~128 kB per gate: the passes stay in cache), into the factors that map
  the state gradients to gate gradients, then (~10 NumPy calls and one matmul per step)
  into the gate gradients, which are per gate the ``(T·B, H)`` operands of the weight
  GEMMs: one further buffer of that size (f) is touched (a second backward, under
  ``retain_graph``, reruns the forward);
* variable lengths use a mask m_t: the state is frozen where m_t = 0
  (h_t = m h̃_t + (1-m) h_{t-1}), so the forward direction ends at each sequence's true last
  step and the reverse direction starts at each sequence's true end; outputs past a length are 0.

The LSTM with compiled kernels (:mod:`chainrule._jit`, the ``fast`` extra) keeps PyTorch's
layout instead: the gates of a step are one ``(D, B, 4H)`` row block in PyTorch's order
i, f, g, o, so the recurrent product is one GEMM forward (with the projection inside:
z_t @ [W'ᵀ; W_ihᵀ; b'] (H + in + 1, 4H) straight into the gates) and one GEMM
da (B, 4H) @ W_hh (4H, H) backward (the sum over gates inside BLAS); BPTT writes the gate
gradients in place of the gates, which are then the gradient of the projections (no
reordering), and [dW_hh | dW_ih | db] is one GEMM over (T·B). The element-wise work of a
step is a few compiled passes that read gates as strided row slices at no extra cost (NumPy
pays several times over for strided operands, hence the gate-major layout above); NumPy keeps
the GEMMs and the vectorised ``tanh`` (Numba calls the scalar libm tanh; a polynomial tanh
(expm1 with range reduction, 3 ulp) compiled in the loop measured ~3.5x slower than NumPy's), and
BPTT is one kernel and one GEMM per step with no precomputed factors.

The backward is NumPy BPTT when no graph is recorded. Under ``create_graph=True`` it is the
vector-Jacobian product of the composite (Tensor-op) recurrence that the caller passes as
``reference``: recomputed on aliases of the inputs, so gradients are differentiable and
Hessians through an LSTM work. Tests check that the fused and composite paths agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import _jit
from chainrule.autograd.engine import Function, _GradMode, run_backward
from chainrule.autograd.function import TENSORS
from chainrule.backend import xp

MODES = ("LSTM", "GRU", "RNN_TANH", "RNN_RELU")


def gate_count(mode: str) -> int:
    """Rows of ``weight_ih`` per hidden unit: 4 for LSTM, 3 for GRU, 1 for a plain RNN."""
    return {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}[mode]


def _gate_order(mode: str) -> tuple[int, ...]:
    """Internal gate order as indices of PyTorch's gates. LSTM: o, i, f, g, so the σ gates
    (o, i, f) are one block in the forward and the gates whose gradient is dc times a factor
    (i, f, g) are one block in the backward. GRU (r, z, n) and RNN keep PyTorch's order."""
    return {"LSTM": (3, 0, 1, 2), "GRU": (0, 1, 2)}.get(mode, (0,))


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

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g,)


def recompute_vjp(fn: Function, reference: Callable[..., Any], g: Any) -> tuple:
    """Differentiable vector-Jacobian product of ``reference`` at ``fn``'s inputs.

    The composite ``reference`` is rebuilt on aliases of the inputs whose edges are cut for the
    nested backward (so it does not run into the rest of the graph) and restored afterwards (so
    the returned gradients stay connected to the real inputs for the next derivative).
    """
    Tensor = TENSORS.Tensor
    args: list[Any] = []
    aliases: list[Any] = []
    slots: list[int] = []
    cut: list[tuple[Function, tuple]] = []
    try:
        for k, (t, need) in enumerate(zip(fn.inputs, fn.needs)):
            if need and isinstance(t, Tensor):
                a = _Alias.apply(t)
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


class _FusedRecurrence(Function):
    """A fused recurrence (:class:`RecurrentScan`, :class:`MaskedLSTMScan`): hand-written BPTT
    on arrays as ``fast_backward``, which the engine's array pass calls; under
    ``create_graph`` the gradient is the differentiable vector-Jacobian product of the
    composite ``self.reference`` that the op's forward was given (:func:`recompute_vjp`)."""

    reference: Callable[..., Any] | None = None

    def backward(self, g: Any) -> tuple:
        if _GradMode.enabled:  # create_graph: differentiate the composite instead
            return recompute_vjp(self, self.reference, g)
        return tuple(None if a is None else TENSORS.wrap(a) for a in self.fast_backward(g._array))


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

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.index_add(g.reshape(-1), self.inputs[0]._array.shape, self.key),)


class RecurrentScan(_FusedRecurrence):
    """One recurrent layer (1 or 2 directions) over a whole sequence, packed into one array.

    Inputs: ``xproj`` = x W_ihᵀ + b_ih for every step and direction, ``(T, B, D·G)`` (or
    ``(B, T, D·G)`` with ``batch_first``); ``h0``, ``c0``: ``(D, B, H)`` or None (zeros); then
    ``W_hh`` per direction ``(G, H)`` and, with ``bias``, ``b_hh`` per direction ``(G,)``.
    With ``project=True`` the first input is the layer's input x ``(T, B, in)`` instead and the
    parameters are W_ih, W_hh [, b_ih, b_hh] per direction: the projection runs inside, on
    gate blocks (the layers do so except where the compiled LSTM kernels run, which read
    PyTorch's layout; see :func:`uses_rows`).
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

    # the input (BPTT reads it: dW_ih = Σ_t da_tᵀ x_t with ``project``, and a second backward
    # re-runs the scan from it) and the weights: in-place changes to them are caught
    saves = ("xproj", "*params")

    def forward(self, xproj: Any, h0: Any, c0: Any, *params: Any, mode: str = "LSTM",
                num_directions: int = 1, batch_first: bool = False, lengths: Any = None,
                reference: Callable[..., Any] | None = None, project: bool = False) -> Any:
        if mode not in MODES:
            raise ValueError(f"RecurrentScan: unknown mode {mode!r} (one of {MODES})")
        D = num_directions
        self.mode, self.batch_first, self.reference = mode, batch_first, reference
        self.project = project
        xt = xproj.transpose(1, 0, 2) if batch_first else xproj
        T, B = xt.shape[0], xt.shape[1]
        if project:  # xproj is the layer's input x; params: W_ih, W_hh [, b_ih, b_hh] per dir.
            w_ih, ws = params[:D], params[D:2 * D]
            b_ih, bs = (params[2 * D:3 * D], params[3 * D:]) if len(params) > 2 * D else (
                (None,) * D, (None,) * D)
        else:
            ws, bs = params[:D], params[D:] if len(params) > D else (None,) * D
            w_ih = b_ih = None
        H = ws[0].shape[1]
        self.scan_args = (mode, xt, h0, c0, ws, bs, lengths, w_ih, b_ih)
        self.c = c = _Scan(*self.scan_args)
        _forward(c)
        n_out, n_h = T * B * D * H, D * B * H
        flat = xp.empty(n_out + n_h * (2 if mode == "LSTM" else 1), dtype=xproj.dtype)
        out = flat[:n_out].reshape((B, T, D * H) if batch_first else (T, B, D * H))
        _write_output(c, out.transpose(1, 0, 2) if batch_first else out)
        flat[n_out:n_out + n_h] = c.hs[T].reshape(-1)
        if mode == "LSTM":
            flat[n_out + n_h:] = c.cs[T].reshape(-1)
        return flat

    def fast_backward(self, gd: Any) -> tuple:
        """BPTT on arrays (the engine calls it when no graph of the backward is recorded)."""
        c = self.c
        if c.spent:  # a second backward (retain_graph): the first used the buffers up
            self.c = c = _Scan(*self.scan_args)
            _forward(c)
        T, D, B, H = c.T, c.D, c.B, c.H
        n_out, n_h = T * B * D * H, D * B * H
        gout = gd[:n_out].reshape((B, T, D * H) if self.batch_first else (T, B, D * H))
        if self.batch_first:
            gout = gout.transpose(1, 0, 2)
        dh = gd[n_out:n_out + n_h].reshape(D, B, H).copy()
        dc = gd[n_out + n_h:].reshape(D, B, H).copy() if self.mode == "LSTM" else None
        gy = _arrange_output_grad(c, gout)
        if c.rows:
            da = _lstm_backward_rows(c, gy, dh, dc)
            if self.project:
                return self._collect_rows_projected(c, da, dh, dc)
            return self._collect_rows(c, da, dh, dc)
        if self.mode == "LSTM":
            dpre, dhh = _lstm_backward(c, gy, dh, dc)
        elif self.mode == "GRU":
            dpre, dhh = _gru_backward(c, gy, dh)
        else:
            dpre, dhh = _rnn_backward(c, gy, dh)
        if self.project:
            return self._collect_projected(c, dpre, dhh, dh, dc)
        return self._collect(c, dpre, dhh, dh, dc)

    def _collect_rows(self, c: _Scan, da: Any, dh: Any, dc: Any) -> tuple:
        """Gradients from da ``(T, D, B, 4H)`` (processing order, PyTorch's gate order)."""
        needs = self.needs
        T, D, B, H = c.T, c.D, c.B, c.H
        G = 4 * H
        out: list[Any] = [None] * len(needs)
        if needs[0]:
            if D == 1 and not self.batch_first:
                out[0] = da[:, 0]  # already the gradient of xproj
            else:
                x = self.inputs[0]._array
                dx = xp.empty(x.shape, dtype=x.dtype)
                dx_tm = dx.transpose(1, 0, 2) if self.batch_first else dx
                for d in range(D):
                    xp.copyto(dx_tm[:, :, d * G:(d + 1) * G], da[:, d] if d == 0 else da[::-1, d])
                out[0] = dx
        if needs[1]:
            out[1] = dh
        if needs[2]:
            out[2] = dc
        has_bias = len(needs) > 3 + D
        for d in range(D):
            a2 = da[:, d].reshape(T * B, G)
            if needs[3 + d]:  # dW_hh = Σ_t da_tᵀ h_{t-1}: one GEMM over (T·B)
                out[3 + d] = xp.matmul(a2.T, c.hs[:T, d].reshape(T * B, H))
            if has_bias and needs[3 + D + d]:  # db_hh = Σ_t da_t (a GEMV beats a reduction)
                out[3 + D + d] = xp.matmul(xp.ones(T * B, dtype=c.dtype), a2)
        return tuple(out)

    def _collect_rows_projected(self, c: _Scan, da: Any, dh: Any, dc: Any) -> tuple:
        """Gradients of x, h0, c0, W_ih, W_hh [, b_ih, b_hh] per direction from da
        ``(T, D, B, 4H)`` (processing order, PyTorch's gate order), the projection inside:
        dx = Σ_d da_d W_ih,d and [dW_hh | dW_ih | db] = da ᵀ [h_{t-1} | x | 1], each one GEMM
        over (T·B) per direction; db_ih = db_hh (both enter a alike)."""
        needs = self.needs
        T, D, B, H = c.T, c.D, c.B, c.H
        G = 4 * H
        x = self.inputs[0]._array
        n_in = x.shape[2]
        out: list[Any] = [None] * len(needs)
        # per direction (T·B, 4H); a copy only for two directions (interleaved per step)
        das = [xp.ascontiguousarray(da[:, d]).reshape(T * B, G) for d in range(D)]
        if needs[0]:
            dx = xp.empty(x.shape, dtype=x.dtype)
            if D == 1 and not self.batch_first:
                xp.matmul(das[0], c.wih[0], out=dx.reshape(T * B, n_in))
            else:
                dx_tm = dx.transpose(1, 0, 2) if self.batch_first else dx
                for d in range(D):
                    part = xp.matmul(das[d], c.wih[d]).reshape(T, B, n_in)
                    if d == 0:
                        dx_tm[...] = part
                    else:
                        dx_tm += part[::-1]
            out[0] = dx
        if needs[1]:
            out[1] = dh
        if needs[2]:
            out[2] = dc
        has_bias = len(needs) > 3 + 2 * D
        for d in range(D):
            i_ih, i_hh, i_bih, i_bhh = 3 + d, 3 + D + d, 3 + 2 * D + d, 3 + 3 * D + d
            if not (needs[i_ih] or needs[i_hh] or (has_bias and (needs[i_bih] or needs[i_bhh]))):
                continue
            gw = xp.matmul(das[d].T, c.z[d].reshape(T * B, -1))  # [dW_hh | dW_ih | db]
            if needs[i_hh]:
                out[i_hh] = xp.ascontiguousarray(gw[:, :H])
            if needs[i_ih]:
                out[i_ih] = xp.ascontiguousarray(gw[:, H:H + n_in])
            if has_bias and needs[i_bih]:
                out[i_bih] = gw[:, H + n_in].copy()
            if has_bias and needs[i_bhh]:
                out[i_bhh] = gw[:, H + n_in].copy()
        return tuple(out)

    def _collect(self, c: _Scan, dpre: Any, dhh: Any, dh: Any, dc: Any) -> tuple:
        needs = self.needs
        T, D, B, K, H = c.T, c.D, c.B, c.K, c.H
        out: list[Any] = [None] * len(needs)
        if needs[0]:
            x = self.inputs[0]._array
            dx = xp.empty(x.shape, dtype=x.dtype)
            dx_tm = dx.transpose(1, 0, 2) if self.batch_first else dx
            for d in range(D):
                src = dpre[d] if d == 0 else dpre[d, :, ::-1]  # (K, T, B, H)
                dst = dx_tm[:, :, d * K * H:(d + 1) * K * H].reshape(T, B, K, H)
                for k, j in enumerate(c.order):
                    dst[:, :, j] = src[k]
            out[0] = dx
        if needs[1]:
            out[1] = dh
        if needs[2] and dc is not None:
            out[2] = dc
        has_bias = len(needs) > 3 + D
        for d in range(D):
            if needs[3 + d]:
                # dW_k = Σ_t da_kᵀ h_{t-1}: one matmul over (T·B) for all gates
                a2 = dhh[d].reshape(K, T * B, H)
                h2 = c.hs[:T, d].reshape(T * B, H)
                out[3 + d] = _to_torch_order(c, xp.matmul(a2.transpose(0, 2, 1), h2))
            if has_bias and needs[3 + D + d]:
                out[3 + D + d] = _to_torch_order(c, dhh[d].sum((1, 2)))
        return tuple(out)


    def _collect_projected(self, c: _Scan, dpre: Any, dhh: Any, dh: Any, dc: Any) -> tuple:
        """Gradients of the inputs with the projection inside (``project=True``): x, h0, c0,
        W_ih, W_hh [, b_ih, b_hh] per direction, from the gate-major ``dpre`` (gradient of the
        projections) and ``dhh`` (of the recurrent products; the same array but for the GRU)."""
        needs = self.needs
        T, D, B, K, H = c.T, c.D, c.B, c.K, c.H
        x = self.inputs[0]._array
        n_in = x.shape[2]
        out: list[Any] = [None] * len(needs)
        dp = dpre.reshape(D, K, T * B, H)
        if needs[0]:  # dx = Σ_k dpre_k W_ih,k: a matmul per gate, then a chain of adds
            sums = xp.empty((D, T * B, n_in), dtype=c.dtype)
            _sum_gates(xp.matmul(dp, c.wi), sums)
            dx = xp.empty(x.shape, dtype=x.dtype)
            dx_tm = dx.transpose(1, 0, 2) if self.batch_first else dx
            dx_tm[...] = sums[0].reshape(T, B, n_in)
            if D == 2:
                dx_tm += sums[1].reshape(T, B, n_in)[::-1]
            out[0] = dx
        if needs[1]:
            out[1] = dh
        if needs[2] and dc is not None:
            out[2] = dc
        has_bias = len(needs) > 3 + 2 * D
        joint = dhh is dpre  # LSTM, RNN: dW_hh from the same GEMM as dW_ih
        for d in range(D):
            i_ih, i_hh, i_bih, i_bhh = 3 + d, 3 + D + d, 3 + 2 * D + d, 3 + 3 * D + d
            if needs[i_ih] or (has_bias and (needs[i_bih] or needs[i_bhh])):
                # [dW_hh,k | dW_ih,k | db_k] = dpre_kᵀ [h_{t-1} | x | 1] summed over (T·B)
                # (GRU: dpre_kᵀ [x | 1]); the bias gradient is the last column
                zd, off = c.xa[d], 0
                if joint:
                    if c.wz is None:  # the LSTM's forward filled them in already
                        xp.copyto(c.z[d, :, :, :H], c.hs[:T, d])
                    zd, off = c.z[d].reshape(T * B, -1), H
                gw = _to_torch_order(c, xp.matmul(dp[d].transpose(0, 2, 1), zd))
                if joint and needs[i_hh]:
                    out[i_hh] = xp.ascontiguousarray(gw[:, :H])
                if needs[i_ih]:
                    out[i_ih] = xp.ascontiguousarray(gw[:, off:off + n_in])
                if has_bias and needs[i_bih]:
                    out[i_bih] = gw[:, -1].copy()
                if has_bias and needs[i_bhh] and c.mode != "GRU":
                    out[i_bhh] = gw[:, -1].copy()  # b_ih and b_hh enter the sum alike
                if joint:
                    continue
            if needs[i_hh]:  # dW_hh,k = Σ_t dhh_kᵀ h_{t-1}: one matmul over (T·B) per gate
                h2 = c.hs[:T, d].reshape(T * B, H)
                out[i_hh] = _to_torch_order(
                    c, xp.matmul(dhh[d].reshape(K, T * B, H).transpose(0, 2, 1), h2))
            if has_bias and needs[i_bhh] and c.mode == "GRU":
                out[i_bhh] = _to_torch_order(c, dhh[d].sum((1, 2)))
        return tuple(out)


class MaskedLSTMScan(_FusedRecurrence):
    """The LSTM recurrence over a whole sequence with dropout masks on c_t or g_t.

    Inputs: ``xproj`` (T, B, 4H) = x_t W_ihᵀ + b_ih (time-major), ``w_hh`` (4H, H), ``b_hh``
    (4H,); constant masks ``cmask`` / ``gmask`` (T, B, H) arrays (entries 0 or 1/(1−p)) or None.
    Per step, gate order i, f, g, o as in PyTorch:
    a = x_t + h_{t-1} W_hhᵀ + b_hh;  i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g);
    c_t = m^c_t ⊙ (f ⊙ c_{t-1} + i ⊙ (m^g_t ⊙ g));  h_t = o ⊙ tanh(c_t);  h_0 = c_0 = 0.
    Output: h_1..h_T (T, B, H).

    # NOTE: fused for speed, as :class:`RecurrentScan`: the composite costs ~15
    # recorded ops per step forward and ~30 backward, which at hidden 32 are the whole run
    # time. The state is kept transposed, (H, B), so that one GEMM W_hh h_{t-1}ᵀ gives the
    # gates gate-major (4H, B) and every gate is a contiguous block; σ(a) = ½ + ½ tanh(a/2)
    # lets one tanh call cover all four gates. Backward is NumPy BPTT; under ``create_graph``
    # it is the vector-Jacobian product of the composite ``reference`` (differentiable; the lab's
    ``masked_lstm_scan_composite``, used by the dropout-placement experiment C6).
    """

    # the array BPTT reads only w_hh (the rest it keeps from the forward); under create_graph
    # the gradient is recomputed through the composite, which reads all three
    saves = ("xproj", "w_hh", "b_hh")

    def forward(self, xproj: Any, w_hh: Any, b_hh: Any, cmask: Any = None, gmask: Any = None,
                reference: Callable[..., Any] | None = None) -> Any:
        T, B, G = xproj.shape
        H = G // 4
        dt = xproj.dtype
        self.reference = reference
        # ½ on the σ gates, 1 on g: tanh(pre ⊙ a), then ½ + ½ tanh on the σ gates
        pre = xp.full((G, 1), 0.5, dtype=dt)
        pre[2 * H:3 * H] = 1.0
        shift = xp.full((G, 1), 0.5, dtype=dt)
        shift[2 * H:3 * H] = 0.0
        w_pre = w_hh * pre
        xb = (xproj + b_hh).transpose(0, 2, 1) * pre                 # (T, 4H, B)
        self.cmask = None if cmask is None else cmask.transpose(0, 2, 1)
        self.gmask = None if gmask is None else gmask.transpose(0, 2, 1)
        cm, gm = self.cmask, self.gmask
        hs = xp.zeros((T + 1, H, B), dtype=dt)
        cs = xp.zeros((T + 1, H, B), dtype=dt)
        acts = xp.empty((T, G, B), dtype=dt)
        tcs = xp.empty((T, H, B), dtype=dt)
        gms = xp.empty((T, H, B), dtype=dt) if gm is not None else None
        tmp = xp.empty((H, B), dtype=dt)
        for t in range(T):
            a = acts[t]
            xp.matmul(w_pre, hs[t], out=a)
            a += xb[t]
            xp.tanh(a, out=a)
            a *= pre
            a += shift
            i, f, g, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            if gms is not None:
                g = xp.multiply(g, gm[t], out=gms[t])
            c = cs[t + 1]
            xp.multiply(f, cs[t], out=c)
            c += xp.multiply(i, g, out=tmp)
            if cm is not None:
                c *= cm[t]
            xp.tanh(c, out=tcs[t])
            xp.multiply(o, tcs[t], out=hs[t + 1])
        self.hs, self.cs, self.acts, self.tcs, self.gms = hs, cs, acts, tcs, gms
        return hs[1:].transpose(0, 2, 1).copy()

    def fast_backward(self, gy: Any) -> tuple:
        """BPTT on arrays (see the class docstring for the recurrence)."""
        hs, cs, acts, tcs, gms = self.hs, self.cs, self.acts, self.tcs, self.gms
        cm, gm = self.cmask, self.gmask
        w_t = self.inputs[1]._array.T
        T, G, B = acts.shape
        H = G // 4
        dt = acts.dtype
        gy = gy.transpose(0, 2, 1)
        # every step's local derivatives at once: σ' = σ(1 − σ), tanh' = 1 − g², and
        # ∂h_t/∂c_t = o (1 − tanh² c_t)
        deriv = acts * (1.0 - acts)
        deriv[:, 2 * H:3 * H] = 1.0 - acts[:, 2 * H:3 * H] ** 2
        dh_dc = acts[:, 3 * H:] * (1.0 - tcs * tcs)
        da_all = xp.empty_like(acts)
        dh = xp.zeros((H, B), dtype=dt)
        dc = xp.zeros((H, B), dtype=dt)
        tmp = xp.empty((H, B), dtype=dt)
        for t in range(T - 1, -1, -1):
            a = acts[t]
            da = da_all[t]
            dh += gy[t]
            xp.multiply(dh, tcs[t], out=da[3 * H:])                  # ∂/∂o
            dc += xp.multiply(dh, dh_dc[t], out=tmp)                 # ∂/∂c_t
            if cm is not None:
                dc *= cm[t]                                          # ∂/∂(f c + i g)
            g = a[2 * H:3 * H] if gms is None else gms[t]
            xp.multiply(dc, g, out=da[:H])                           # ∂/∂i
            xp.multiply(dc, cs[t], out=da[H:2 * H])                  # ∂/∂f
            xp.multiply(dc, a[:H], out=da[2 * H:3 * H])              # ∂/∂(m g)
            if gm is not None:
                da[2 * H:3 * H] *= gm[t]
            dc *= a[H:2 * H]                                         # ∂/∂c_{t-1}
            da *= deriv[t]                                           # ∂/∂a
            xp.matmul(w_t, da, out=dh)                               # ∂/∂h_{t-1}
        needs = self.needs
        dx = da_all.transpose(0, 2, 1) if needs[0] else None
        dw = None
        if needs[1]:  # dW = Σ_t da_t h_{t-1}ᵀ: one GEMM over (T·B)
            dw = xp.matmul(da_all.transpose(1, 0, 2).reshape(G, T * B),
                           hs[:T].transpose(0, 2, 1).reshape(T * B, H))
        db = da_all.sum((0, 2)) if needs[2] else None
        return (dx, dw, db)


def _to_torch_order(c: _Scan, a: Any) -> Any:
    """Per-gate blocks ``(K, ...)`` in internal order to PyTorch's rows ``(K·H, ...)``."""
    out = xp.empty_like(a)
    out[list(c.order)] = a
    return out.reshape((c.K * c.H,) + a.shape[2:])


class _Scan:
    """Buffers of one fused scan: states ``(D, B, H)`` per step; gates ``(D, K, B, H)`` per
    step (each gate a contiguous block) with weights per gate ``(D, K, H, H)``, or for the
    compiled LSTM (``rows``) ``(D, B, 4H)`` rows with W_hh whole (see the module docstring)."""

    def __init__(self, mode: str, xt: Any, h0: Any, c0: Any, ws: tuple, bs: tuple,
                 lengths: Any, w_ih: tuple | None = None, b_ih: tuple | None = None) -> None:
        T, B = xt.shape[0], xt.shape[1]
        D = len(ws)
        G, H = ws[0].shape
        K = G // H
        dt = xt.dtype
        self.mode, self.T, self.B, self.D, self.K, self.H, self.dtype = mode, T, B, D, K, H, dt
        self.order = _gate_order(mode)
        self.rows = uses_rows(mode, dt)
        if self.rows:
            self._init_rows(xt, ws, bs, w_ih, b_ih)
        else:
            self._init_blocks(xt, ws, bs, w_ih, b_ih)
        self.hs = xp.empty((T + 1, D, B, H), dtype=dt)  # states h_0 .. h_T (processing order)
        self.hs[0] = 0 if h0 is None else h0
        self.cs = None
        if mode == "LSTM":
            self.cs = xp.empty((T + 1, D, B, H), dtype=dt)
            self.cs[0] = 0 if c0 is None else c0
        self.spent = False  # set when a backward has overwritten the buffers
        self.valid = self.keep = self.drop = self.all = None
        if lengths is not None:
            self.valid, self.keep = step_masks(lengths, T, D)  # keep: (T, D, B, 1)
            self.drop = ~self.keep
        elif self.rows:
            self.all = xp.ones((D, B, 1), dtype=bool)

    def keep_at(self, s: int) -> Any:
        """Which rows of processing step s are within their sequence, ``(D, B, 1)`` (kernels)."""
        return self.all if self.keep is None else self.keep[s]

    def _init_rows(self, xt: Any, ws: tuple, bs: tuple, w_ih: tuple | None = None,
                   b_ih: tuple | None = None) -> None:
        T, B, D, H, dt = self.T, self.B, self.D, self.H, self.dtype
        G = 4 * H
        self.sv = xp.full(G, 0.5, dtype=dt)  # ½ on σ gates i, f, o: σ(a) = ½ + ½ tanh(a/2)
        self.sv[2 * H:3 * H] = 1
        # W'ᵀ (H, 4H) = (½ on σ rows of W_hh)ᵀ, contiguous: OpenBLAS runs h W'ᵀ at batch 64
        # ~25 % slower from the transposed view (as in Linear's small-batch NOTE)
        self.w = xp.empty((D, H, G), dtype=dt)
        for d in range(D):
            xp.multiply(ws[d].T, self.sv, out=self.w[d])
        self.whh = ws[0][None] if D == 1 else xp.stack(ws)  # W_hh (4H, H) for BPTT
        self.projected = w_ih is not None
        if self.projected:
            self._project_rows(xt, bs, w_ih, b_ih)
            return
        self.bx = xp.zeros((D, G), dtype=dt) if bs[0] is None else xp.stack(bs)  # b_hh
        if D == 1 and xt.flags.c_contiguous:
            self.xs = xt[:, None]  # the projections, read in place
        else:  # processing order, one contiguous block per step
            self.xs = xp.empty((T, D, B, G), dtype=dt)
            for d in range(D):
                src = xt[:, :, d * G:(d + 1) * G]
                xp.copyto(self.xs[:, d], src if d == 0 else src[::-1])
        self.act = xp.empty((T, D, B, G), dtype=dt)  # gates per step: σ(i, f), tanh g, σ(o)

    def _project_rows(self, xt: Any, bs: tuple, w_ih: tuple, b_ih: tuple) -> None:
        """The LSTM on rows with the projection inside: each step is one GEMM
        z_t W_z = [h_{t-1} | x_t | 1] @ [W_hhᵀ; W_ihᵀ; b_ih + b_hh] · s (s: ½ on σ gates)
        written straight into the step's gates. At batch 64 that costs less than a GEMM
        over K = H per step plus one projection GEMM and an add pass per step (measured
        3.8 against 4.1 ms for the 40 steps of H = 128, input 32); the backward gets
        [dW_hh | dW_ih | db] from one GEMM da ᵀ z per direction. ``z`` ``(D, T, B, H+in+1)``
        holds x in processing order (reversed for the reverse direction); the forward copies
        each new state into it (``hs`` stays contiguous for the compiled passes)."""
        T, B, D, H, dt = self.T, self.B, self.D, self.H, self.dtype
        G = 4 * H
        n_in = xt.shape[2]
        nb = 0 if b_ih[0] is None else 1
        self.wih = w_ih
        self.z = z = xp.empty((D, T, B, H + n_in + nb), dtype=dt)
        for d in range(D):
            xp.copyto(z[d, :, :, H:H + n_in], xt if d == 0 else xt[::-1])
        if nb:
            z[..., H + n_in] = 1
        self.wz = wz = xp.empty((D, H + n_in + nb, G), dtype=dt)
        wz[:, :H] = self.w
        for d in range(D):
            xp.multiply(w_ih[d].T, self.sv, out=wz[d, H:H + n_in])
            if nb:
                xp.multiply(b_ih[d] + bs[d], self.sv, out=wz[d, H + n_in])
        self.act = xp.empty((T, D, B, G), dtype=dt)

    def _init_blocks(self, xt: Any, ws: tuple, bs: tuple, w_ih: tuple | None,
                     b_ih: tuple | None) -> None:
        T, B, D, K, H, dt, mode = self.T, self.B, self.D, self.K, self.H, self.dtype, self.mode
        order = list(self.order)
        nsig = {"LSTM": 3, "GRU": 2}.get(mode, 0)  # leading σ gates in internal order
        scale = xp.ones((K, 1, 1), dtype=dt)  # ½ on σ gates: σ(a) = ½ + ½ tanh(a/2)
        scale[:nsig] = 0.5
        self.wb = xp.stack([w.reshape(K, H, H)[order] for w in ws])  # W_k (out, in)
        # W_kᵀ (in, out), ½ on σ gates; contiguous (see _init_rows)
        self.w = xp.ascontiguousarray(self.wb.transpose(0, 1, 3, 2) * scale)
        self.wz = None  # [W'ᵀ; W_ihᵀ; b'] per gate: the LSTM's projection inside (_project)
        if w_ih is not None:
            self._project(xt, ws, bs, w_ih, b_ih, scale)
        else:
            self._reorder(xt, bs, scale, nsig)
        # gate activations per step, (T, D, K, B, H) views of gate-major storage. The LSTM
        # computes them in place of the projections, and its backward turns them in place into
        # the gradients of the pre-activations (one (T·B, H) block per gate for the GEMMs of
        # the weight gradients): no fresh buffer of that size is touched
        self.act = self.x if mode == "LSTM" else _gate_major((T, D, K, B, H), dt)

    def _reorder(self, xt: Any, bs: tuple, scale: Any, nsig: int) -> None:
        """Projections ``(T, B, D·K·H)`` in PyTorch's layout to gate-major ``x``, scaled, with
        b_hh folded in (GRU: kept apart, as r scales hh_n): copies (fast for strided operands)
        to reorder, then two contiguous passes."""
        T, B, D, K, H, dt, mode = self.T, self.B, self.D, self.K, self.H, self.dtype, self.mode
        G, order = K * H, list(self.order)
        self.x = x = _gate_major((T, D, K, B, H), dt)
        for d in range(D):
            src = xt[:, :, d * G:(d + 1) * G]
            src = (src if d == 0 else src[::-1]).reshape(T, B, K, H).transpose(0, 2, 1, 3)
            k = 0
            for lo, hi in _runs(order):  # consecutive gates in one copy
                xp.copyto(x[:, d, k:k + hi - lo], src[:, lo:hi])
                k += hi - lo
        self.bh = xp.zeros((D, K, 1, H), dtype=dt) if mode == "GRU" else None
        if bs[0] is not None:
            b = xp.stack([bd.reshape(K, 1, H)[order] for bd in bs])  # (D, K, 1, H)
            if mode == "GRU":
                self.bh = b * scale
            else:
                x += b
        if nsig:
            x[:, :, :nsig] *= dt.type(0.5)

    def _project(self, xt: Any, ws: tuple, bs: tuple, w_ih: tuple, b_ih: tuple,
                 scale: Any) -> None:
        """The input projections, computed gate-major: one batched GEMM [x | 1] @ [W'ᵀ; b']
        with W', b' the gate blocks of W_ih and of the bias in internal order, ½ on σ gates;
        b' = b_ih + b_hh (GRU: b_ih; b_hh stays apart). ``x`` becomes a ``(T, D, K, B, H)``
        view of the ``(D, K, T, B, H)`` result (each gate of a step one contiguous block), so
        there is no reordering pass and no bias pass; the backward gets dW_ih and db from one
        GEMM per direction and dx from one per gate."""
        T, B, D, K, H, dt, mode = self.T, self.B, self.D, self.K, self.H, self.dtype, self.mode
        order = list(self.order)
        n_in = xt.shape[2]
        bias = b_ih[0] is not None
        nb = 1 if bias else 0
        # [h_{t-1} | x_t | 1] per direction in processing order (the reverse direction's x a
        # reversed copy): [x | 1] for the projection now; the backward copies the states in
        # and gets dW_hh, dW_ih and db from one GEMM per direction (one read of the gradients)
        self.z = z = xp.empty((D, T, B, H + n_in + nb), dtype=dt)
        for d in range(D):
            xp.copyto(z[d, :, :, H:H + n_in], xt if d == 0 else xt[::-1])
        if bias:
            z[..., H + n_in] = 1
        self.xa = z[..., H:].reshape(D, T * B, n_in + nb)
        self.wi = xp.stack([w.reshape(K, H, n_in)[order] for w in w_ih])  # (D, K, H, in)
        wa = xp.empty((D, K, n_in + nb, H), dtype=dt)
        xp.multiply(self.wi.transpose(0, 1, 3, 2), scale, out=wa[:, :, :n_in])
        self.bh = xp.zeros((D, K, 1, H), dtype=dt) if mode == "GRU" else None
        if bias:
            bi = xp.stack([b.reshape(K, H)[order] for b in b_ih])  # (D, K, H)
            bh = xp.stack([b.reshape(K, 1, H)[order] for b in bs])  # (D, K, 1, H)
            if mode == "GRU":
                self.bh = bh * scale
            else:
                bi += bh[:, :, 0]
            xp.multiply(bi, scale[:, 0], out=wa[:, :, n_in])
        self.wz = None
        if mode == "LSTM":
            # no projection pass: each step is one batched GEMM z_t @ [W'ᵀ; W_ihᵀ; b'] per
            # gate, straight into the gates (the forward copies each new state into z), which
            # costs less than the GEMM over K = H plus this GEMM and an add pass per step
            # (measured 4.2-4.7 against 4.8-5.0 ms for the 40 steps of H = 128, input 32)
            self.wz = xp.concatenate([self.w, wa], axis=2)  # (D, K, H + in + 1, H)
            self.x = _gate_major((T, D, K, B, H), dt)
            return
        proj = xp.matmul(self.xa[:, None], wa)  # (D, K, T·B, H)
        self.x = proj.reshape(D, K, T, B, H).transpose(2, 0, 1, 3, 4)


def _gate_major(shape: tuple[int, ...], dtype: Any) -> Any:
    """An empty ``(T, D, K, B, H)`` array stored as ``(D, K, T, B, H)``: each gate of a step
    is one contiguous block, and so is each gate over all steps."""
    T, D, K, B, H = shape
    return xp.empty((D, K, T, B, H), dtype=dtype).transpose(2, 0, 1, 3, 4)


def uses_rows(mode: str, dtype: Any) -> bool:
    """Whether the fused scan runs the LSTM on PyTorch's row layout with compiled kernels
    (float32/float64 with :mod:`chainrule._jit` available), else gate-major blocks in NumPy."""
    return mode == "LSTM" and dtype in (xp.float32, xp.float64) and _jit.available()


def _runs(order: list[int]) -> list[tuple[int, int]]:
    """``order`` as runs of consecutive indices ``[lo, hi)``: (3, 0, 1, 2) -> (3, 4), (0, 3)."""
    runs: list[tuple[int, int]] = []
    for j in order:
        if runs and runs[-1][1] == j:
            runs[-1] = (runs[-1][0], j + 1)
        else:
            runs.append((j, j + 1))
    return runs


def _lstm_forward(c: _Scan) -> None:
    half = c.dtype.type(0.5)
    T, D, K, B, H = c.T, c.D, c.K, c.B, c.H
    c.tc = xp.empty((T, D, B, H), dtype=c.dtype)  # tanh(c_t) before masking
    tmp = xp.empty((D, B, H), dtype=c.dtype)
    rec = xp.empty((D, K, B, H), dtype=c.dtype)  # h_{t-1} W'ᵀ per gate
    act, hs, cs, tcs, w, drop = c.act, c.hs, c.cs, c.tc, c.w, c.drop
    aug = c.wz is not None  # the projection inside: z_t = [h_{t-1} | x_t | 1]
    if aug:
        zs = c.z.transpose(1, 0, 2, 3)[:, :, None]  # (T, D, 1, B, H + in + 1)
        zs[0, :, 0, :, :H] = hs[0]
    for s in range(T):
        a = act[s]  # gates o, i, f, g, in place of the projections x_t
        if aug:
            xp.matmul(zs[s], c.wz, out=a)
        else:
            xp.matmul(hs[s][:, None], w, out=rec)
            a += rec
        xp.tanh(a, out=a)
        sg = a[:, :3]
        sg *= half
        sg += half
        cp, cn, hn, tc = cs[s], cs[s + 1], hs[s + 1], tcs[s]
        xp.multiply(a[:, 2], cp, out=cn)
        xp.multiply(a[:, 1], a[:, 3], out=tmp)
        cn += tmp
        xp.tanh(cn, out=tc)
        xp.multiply(a[:, 0], tc, out=hn)
        if drop is not None:
            xp.copyto(cn, cp, where=drop[s])
            xp.copyto(hn, hs[s], where=drop[s])
        if aug and s + 1 < T:
            zs[s + 1, :, 0, :, :H] = hn


def _lstm_forward_rows(c: _Scan) -> None:
    """The LSTM forward on ``(D, B, 4H)`` rows: per step one GEMM, two vectorised ``tanh``
    calls and two compiled passes (three without the projection inside: then the GEMM
    writes a small scratch and a pass adds the scaled projections and b_hh)."""
    half = c.dtype.type(0.5)
    pre, cell, hidden = _lstm_preact.get(), _lstm_cell.get(), _lstm_hidden.get()
    c.tc = xp.empty((c.T, c.D, c.B, c.H), dtype=c.dtype)  # tanh(c_t)
    if c.projected:
        zh = c.z[:, :, :, :c.H]  # the states' slots of z_t = [h_{t-1} | x_t | 1]
        zh[:, 0] = c.hs[0]
        z, wz = (c.z[0], c.wz[0]) if c.D == 1 else (c.z.transpose(1, 0, 2, 3), c.wz)
    else:
        rec = xp.empty((c.D, c.B, 4 * c.H), dtype=c.dtype)  # h_{t-1} W'ᵀ
    for s in range(c.T):
        a, keep = c.act[s], c.keep_at(s)
        if c.projected:
            xp.matmul(z[s], wz, out=a[0] if c.D == 1 else a)
        else:
            xp.matmul(c.hs[s], c.w, out=rec)
            pre(rec, c.xs[s], c.bx, c.sv, a)
        xp.tanh(a, out=a)
        cell(a, c.cs[s], c.cs[s + 1], keep, half)
        xp.tanh(c.cs[s + 1], out=c.tc[s])
        hidden(a, c.tc[s], c.hs[s], c.hs[s + 1], keep)
        if c.projected and s + 1 < c.T:
            zh[:, s + 1] = c.hs[s + 1]


def _gru_forward(c: _Scan) -> None:
    half = c.dtype.type(0.5)
    c.hh = xp.empty_like(c.act)  # W_hh h + b_hh per gate (½ on r, z)
    for s in range(c.T):
        hh, a, x = c.hh[s], c.act[s], c.x[s]
        xp.matmul(c.hs[s][:, None], c.w, out=hh)
        hh += c.bh
        rz = a[:, :2]
        xp.add(x[:, :2], hh[:, :2], out=rz)
        xp.tanh(rz, out=rz)
        rz *= half
        rz += half
        n = a[:, 2]
        xp.multiply(a[:, 0], hh[:, 2], out=n)
        n += x[:, 2]
        xp.tanh(n, out=n)
        hn = c.hs[s + 1]
        xp.subtract(c.hs[s], n, out=hn)
        hn *= a[:, 1]
        hn += n
        if c.drop is not None:
            xp.copyto(hn, c.hs[s], where=c.drop[s])


def _rnn_forward(c: _Scan) -> None:
    relu = c.mode == "RNN_RELU"
    zero = xp.zeros((c.D, 1, c.B, c.H), dtype=c.dtype)
    for s in range(c.T):
        a = c.act[s]
        xp.matmul(c.hs[s][:, None], c.w, out=a)
        a += c.x[s]
        if relu:
            xp.maximum(a, zero, out=a)  # a preallocated zero array is ~4x faster than 0
        else:
            xp.tanh(a, out=a)
        c.hs[s + 1] = a[:, 0]
        if c.drop is not None:
            xp.copyto(c.hs[s + 1], c.hs[s], where=c.drop[s])


def _forward(c: _Scan) -> None:
    if c.rows:
        _lstm_forward_rows(c)
    else:
        _FORWARD[c.mode](c)


_FORWARD = {"LSTM": _lstm_forward, "GRU": _gru_forward, "RNN_TANH": _rnn_forward,
            "RNN_RELU": _rnn_forward}


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
    if c.D == 1 and c.valid is None:
        return gout_tm[:, None]
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


# The backward kernels first compute, for all steps at once (the LSTM: for blocks of steps),
# the factors that turn the state gradients (dh_t, dc_t) into pre-activation gradients; the
# loop over steps then only does the recursion (a handful of NumPy calls and one matmul per
# step). Where a step is masked the factors are 0 and the state gradient passes through
# unchanged.
def _mask_factors(c: _Scan, *ks: Any) -> None:
    for k in ks:
        k *= c.keep if k.ndim == 4 else c.keep[:, :, None]


def _sum_gates(t: Any, out: Any) -> None:
    """out = Σ_k t[:, k] (a chain of adds: ~2x faster than a reduction over the gate axis)."""
    if t.shape[1] == 1:
        xp.copyto(out, t[:, 0])
        return
    xp.add(t[:, 0], t[:, 1], out=out)
    for k in range(2, t.shape[1]):
        out += t[:, k]


def _lstm_backward(c: _Scan, gy: Any, dh: Any, dc: Any) -> tuple[Any, Any]:
    """BPTT on gate blocks, in place: the gate activations become first the factors that turn
    the state gradients into gate gradients, then (step by step) the gate gradients, returned
    as ``(D, K, T, B, H)``; tanh(c_t) becomes the factor of dc_t += dh_t kc.

    The factors are computed for a block of steps just before the loop reaches it (blocks of
    ~128 kB per gate, so the dozen passes over a block and the loop's reads stay in cache:
    0.4-0.6 ms less per step of the benchmark's LSTM than a dozen passes over all T steps)."""
    T, D, B, H = c.T, c.D, c.B, c.H
    a, kc = c.act, c.tc
    fc = xp.empty((T, D, B, H), dtype=c.dtype)  # f, for dc_{t-1} = dc_t f (1 where masked)
    t1 = xp.empty((D, B, H), dtype=c.dtype)
    # dh_{t-1} = Σ_k da_k W_k as one GEMM over K·H: the step's gate gradients copied to rows
    # (B, 4H) first (copy + 1 GEMM: 3.4-3.7 ms for the 40 steps of H = 128, B = 64, against
    # 4.0-4.2 for 4 GEMMs and 3 adds)
    rows = xp.empty((D, B, 4, H), dtype=c.dtype)
    rows_t, rows2 = rows.transpose(0, 2, 1, 3), rows.reshape(D, B, 4 * H)
    wrow = c.wb.reshape(D, 4 * H, H)  # W_hh's rows in internal gate order
    dcb, drop = dc[:, None], c.drop
    block = max(1, FACTOR_BLOCK_BYTES // (D * B * H * c.dtype.itemsize))
    for s in range(T - 1, -1, -1):
        if s == T - 1 or (s + 1) % block == 0:
            _lstm_factors(c, s - s % block, s + 1, fc)
        dh += gy[s]
        xp.multiply(dh, kc[s], out=t1)
        dc += t1
        da = a[s]  # factors in, gate gradients out
        xp.multiply(dh, da[:, 0], out=da[:, 0])  # da_o = dh k_o
        rest = da[:, 1:]
        xp.multiply(dcb, rest, out=rest)  # (da_i, da_f, da_g) = dc (k_i, k_f, k_g)
        dc *= fc[s]
        if drop is not None:
            xp.multiply(dh, drop[s], out=t1)
        xp.copyto(rows_t, da)
        xp.matmul(rows2, wrow, out=dh)  # dh_{t-1} = Σ_k da_k W_k
        if drop is not None:
            dh += t1
    c.spent = True  # the forward's buffers are gradients now (see RecurrentScan.fast_backward)
    da_all = a.transpose(1, 2, 0, 3, 4)
    return da_all, da_all


# bytes per gate of a block of steps whose factors :func:`_lstm_backward` computes together
FACTOR_BLOCK_BYTES = 128 << 10


def _lstm_factors(c: _Scan, lo: int, hi: int, fc: Any) -> None:
    """Steps [lo, hi): the gates (o, i, f, g) become in place the factors k_o = σ'(o) tanh c_t,
    k_i = σ'(i) g, k_f = σ'(f) c_{t-1}, k_g = (1 - g²) i, tanh(c_t) becomes kc = o (1 - tanh² c_t)
    and ``fc`` gets f (σ' = σ - σ²); masked steps get zero factors and fc = 1."""
    a, h, kc = c.act[lo:hi], c.hs[1 + lo:1 + hi], c.tc[lo:hi]
    o, i, f, g = a[:, :, 0], a[:, :, 1], a[:, :, 2], a[:, :, 3]
    kc *= h
    xp.subtract(o, kc, out=kc)  # kc = o (1 - tanh² c_t) = o - tanh(c_t) h, h = o tanh(c_t)
    xp.multiply(o, h, out=o)
    xp.subtract(h, o, out=o)  # k_o = σ'(o) tanh c_t = h (1 - o)
    u = fc[lo:hi]
    xp.multiply(i, g, out=u)
    xp.multiply(g, u, out=g)
    xp.subtract(i, g, out=g)  # k_g = (1 - g²) i = i - g (i g)
    xp.multiply(i, u, out=i)
    xp.subtract(u, i, out=i)  # k_i = σ'(i) g = i g (1 - i)
    xp.copyto(u, f)
    xp.multiply(f, f, out=f)
    xp.subtract(u, f, out=f)
    f *= c.cs[lo:hi]  # k_f = σ'(f) c_{t-1}
    if c.keep is not None:
        keep = c.keep[lo:hi]
        a *= keep[:, :, None]
        kc *= keep
        xp.copyto(u, c.dtype.type(1), where=c.drop[lo:hi])


def _lstm_backward_rows(c: _Scan, gy: Any, dh: Any, dc: Any) -> Any:
    """BPTT on ``(D, B, 4H)`` rows: per step one compiled pass for the gate gradients and one
    GEMM dh_{t-1} = da W_hh. Returns da ``(T, D, B, 4H)`` in PyTorch's gate order, written in
    place of the gates (each is read once, by the pass that overwrites it: no fresh buffer of
    that size is touched; a second backward reruns the forward). ``dh`` carries the part of
    the state gradient that does not pass through W_hh (at first the gradient of h_n, then
    what passes frozen steps); it ends as the gradient of h_0."""
    one = c.dtype.type(1)
    bptt = _lstm_bptt.get()
    if not gy.flags.c_contiguous:  # batch_first: one copy instead of strided reads per step
        gy = xp.ascontiguousarray(gy)
    rec = xp.zeros((c.D, c.B, c.H), dtype=c.dtype)  # da_{t+1} W_hh
    da = c.act
    for s in range(c.T - 1, -1, -1):
        bptt(da[s], c.tc[s], c.cs[s], gy[s], rec, dh, dc, c.keep_at(s), one)
        xp.matmul(da[s], c.whh, out=rec)
    dh += rec
    c.spent = True  # the gates are gradients now (see RecurrentScan.fast_backward)
    return da


def _gru_backward(c: _Scan, gy: Any, dh: Any) -> tuple[Any, Any]:
    T, D, B, H, one = c.T, c.D, c.B, c.H, c.dtype.type(1)
    a = c.act
    r, z, n, hhn = a[:, :, 0], a[:, :, 1], a[:, :, 2], c.hh[:, :, 2]
    ks = xp.multiply(a[:, :, :2], a[:, :, :2])
    xp.subtract(a[:, :, :2], ks, out=ks)  # σ' of r, z
    kr = ks[:, :, 0]
    kr *= hhn  # dr = d(x_n) hh_n
    kz = ks[:, :, 1]
    kz *= c.hs[:T] - n  # dz = dh (h_{t-1} - n)
    kn = xp.multiply(n, n)
    xp.subtract(one, kn, out=kn)
    kn *= one - z  # d(x_n) = dh (1 - z)(1 - n²)
    zc = z  # dh_{t-1} = dh z + Σ_k dhh_k W_k (1 where masked)
    if c.keep is not None:
        _mask_factors(c, kz, kn)
        zc = z.copy()
        xp.copyto(zc, one, where=c.drop)
    da_all = xp.empty((D, 3, T, B, H), dtype=c.dtype)  # d(x_r, x_z, x_n)
    dhh_all = xp.empty((D, 3, T, B, H), dtype=c.dtype)  # d(hh_r, hh_z, hh_n)
    tw = xp.empty((D, B, H), dtype=c.dtype)
    t3 = xp.empty((D, 3, B, H), dtype=c.dtype)
    for s in range(T - 1, -1, -1):
        dh += gy[s]
        da, dhh = da_all[:, :, s], dhh_all[:, :, s]
        dan = da[:, 2]
        xp.multiply(dh, kn[s], out=dan)
        xp.multiply(dan, kr[s], out=dhh[:, 0])
        xp.multiply(dh, kz[s], out=dhh[:, 1])
        xp.multiply(dan, r[s], out=dhh[:, 2])
        dh *= zc[s]
        xp.matmul(dhh, c.wb, out=t3)
        _sum_gates(t3, tw)
        dh += tw
    da_all[:, :2] = dhh_all[:, :2]
    return da_all, dhh_all


def _rnn_backward(c: _Scan, gy: Any, dh: Any) -> tuple[Any, Any]:
    one = c.dtype.type(1)
    a = c.act
    if c.mode == "RNN_RELU":
        k = (a > 0).astype(c.dtype)
    else:
        k = xp.multiply(a, a)
        xp.subtract(one, k, out=k)
    if c.keep is not None:
        _mask_factors(c, k)
    da_all = xp.empty((c.D, 1, c.T, c.B, c.H), dtype=c.dtype)
    t1 = xp.empty((c.D, c.B, c.H), dtype=c.dtype)
    for s in range(c.T - 1, -1, -1):
        dh += gy[s]
        da = da_all[:, :, s]
        xp.multiply(dh[:, None], k[s], out=da)
        if c.drop is not None:
            xp.multiply(dh, c.drop[s], out=t1)
        xp.matmul(da, c.wb, out=dh[:, None])
        if c.drop is not None:
            dh += t1
    return da_all, da_all


# ---- compiled kernels of the LSTM on rows (chainrule._jit) -----------------------------------
# Arithmetic stays in the arrays' dtype (constants come in as arguments of that dtype) and each
# formula follows the NumPy path's order of operations. Gates in a row: i, f, g, o.
@_jit.kernel(writes=(4,))
def _lstm_preact(r: Any, x: Any, b: Any, sv: Any, a: Any) -> None:  # pragma: no cover
    """a = r + (x + b_hh) · s: the scaled pre-activations (r = h W'ᵀ; s is ½ on σ gates)."""
    D, B, G = a.shape
    for d in range(D):
        for q in range(B):
            for n in range(G):
                a[d, q, n] = r[d, q, n] + (x[d, q, n] + b[d, n]) * sv[n]


@_jit.kernel(writes=(0, 2))
def _lstm_cell(a: Any, cp: Any, cn: Any, keep: Any, half: Any) -> None:  # pragma: no cover
    """On tanh of the scaled gates: σ = ½ + ½ tanh(a/2) for i, f, o (in place) and
    c_t = f c_{t-1} + i g, or c_{t-1} in a step past the sequence's length."""
    D, B, G = a.shape
    H = G // 4
    for d in range(D):
        for r in range(B):
            # one view per gate: stores at several offsets of one row do not vectorise
            ai, af, ag, ao = a[d, r, :H], a[d, r, H:2 * H], a[d, r, 2 * H:3 * H], a[d, r, 3 * H:]
            for j in range(H):
                ai[j] = ai[j] * half + half
                af[j] = af[j] * half + half
                ao[j] = ao[j] * half + half
            if keep[d, r, 0]:
                for j in range(H):
                    cn[d, r, j] = af[j] * cp[d, r, j] + ai[j] * ag[j]
            else:
                for j in range(H):
                    cn[d, r, j] = cp[d, r, j]


@_jit.kernel(writes=(3,))
def _lstm_hidden(a: Any, tc: Any, hp: Any, hn: Any, keep: Any) -> None:  # pragma: no cover
    """h_t = o tanh(c_t), or h_{t-1} in a step past the sequence's length."""
    D, B, G = a.shape
    H = G // 4
    for d in range(D):
        for r in range(B):
            if keep[d, r, 0]:
                for j in range(H):
                    hn[d, r, j] = a[d, r, 3 * H + j] * tc[d, r, j]
            else:
                for j in range(H):
                    hn[d, r, j] = hp[d, r, j]


@_jit.kernel(writes=(0, 5, 6))
def _lstm_bptt(a: Any, tc: Any, cp: Any, gy: Any, rec: Any, dhp: Any, dc: Any, keep: Any,
               one: Any) -> None:  # pragma: no cover - compiled
    """One BPTT step, gates ``a`` in, gate gradients out (in place): dh_t = (rec + dhp) + gy
    (rec = da_{t+1} W_hh); dc_t += dh_t (1 - tanh² c_t) o;  da_o = dh_t σ'(o) tanh c_t;
    (da_i, da_f, da_g) = dc_t (σ'(i) g, σ'(f) c_{t-1}, (1 - g²) i);  dc_{t-1} = dc_t f, with
    σ' = σ - σ². A step past the sequence's length has da = 0 and passes dc on, and dh in dhp.
    Each gate is read and written through one view: the compiled loop then vectorises with
    no overlap check failing (the views of different gates do not overlap)."""
    D, B, G = a.shape
    H = G // 4
    zero = one - one
    for d in range(D):
        for r in range(B):
            gi, gf = a[d, r, :H], a[d, r, H:2 * H]  # one view per gate (see _lstm_cell)
            gg, go = a[d, r, 2 * H:3 * H], a[d, r, 3 * H:]
            if keep[d, r, 0]:
                for j in range(H):
                    dh = (rec[d, r, j] + dhp[d, r, j]) + gy[d, r, j]
                    i = gi[j]
                    f = gf[j]
                    g = gg[j]
                    o = go[j]
                    t = tc[d, r, j]
                    dcv = dc[d, r, j] + dh * ((one - t * t) * o)
                    gi[j] = dcv * ((i - i * i) * g)
                    gf[j] = dcv * ((f - f * f) * cp[d, r, j])
                    gg[j] = dcv * ((one - g * g) * i)
                    go[j] = dh * ((o - o * o) * t)
                    dc[d, r, j] = dcv * f
                    dhp[d, r, j] = zero
            else:
                for j in range(H):
                    dhp[d, r, j] = (rec[d, r, j] + dhp[d, r, j]) + gy[d, r, j]
                    gi[j] = zero
                    gf[j] = zero
                    gg[j] = zero
                    go[j] = zero
