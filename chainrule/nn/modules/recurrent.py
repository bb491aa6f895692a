"""Recurrent layers: RNN, LSTM, GRU (multi-layer, bidirectional, variable length), their cells,
one switch for every published RNN dropout placement, and normalisation inside the recurrence.

Parameter names, shapes, gate order and initialisation are PyTorch's, so a PyTorch state_dict
loads. The maths lives in ``nn/_functional/recurrent.py``; the fast path is the fused primitive
``ops.recurrent.RecurrentScan``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import Any

from chainrule import random as _random
from chainrule.backend import default_dtype, int64, to_dtype, xp
from chainrule.nn._functional import recurrent as R
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.utils.rnn import PackedSequence, pack_with, pad_packed_sequence
from chainrule.ops.matmul import Linear
from chainrule.ops.recurrent import RecurrentScan, gate_count, step_masks
from chainrule.tensor import Tensor, _wrap, apply, cat, stack

__all__ = [
    "RNNDropout", "RNNBase", "RNN", "LSTM", "GRU", "LayerNormLSTM", "LayerNormGRU",
    "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
]

_CITATIONS = """
    The ``dropout`` switch (see :class:`RNNDropout`) picks where dropout goes:
    ``between_layers`` (PyTorch's: on the outputs of all layers but the last); ``nonrecurrent``
    (Zaremba, Sutskever & Vinyals 2014, "Recurrent Neural Network Regularization": every
    non-recurrent connection, a fresh mask per step); ``variational`` (Gal & Ghahramani 2016, "A
    Theoretically Grounded Application of Dropout in Recurrent Neural Networks": one mask per
    sequence on inputs, hidden state and outputs); ``recurrent`` (Semeniuta, Severyn & Barth 2016,
    "Recurrent Dropout without Memory Loss": the candidate g_t only); ``weight_drop`` (Merity,
    Keskar & Socher 2017, "Regularizing and Optimizing LSTM Language Models": DropConnect on
    W_hh, one mask per forward pass); ``zoneout`` (Krueger et al. 2017, "Zoneout: Regularizing
    RNNs by Randomly Preserving Hidden Activations"). All are off in eval mode.
"""


@dataclass(frozen=True)
class RNNDropout:
    """Every RNN dropout placement behind one switch (the ``dropout=`` argument of RNN/LSTM/GRU).

    Pass a float for PyTorch's behaviour (``between_layers``), or a dict / ``RNNDropout`` with
    rates in [0, 1):

    * ``between_layers``: on the output of every layer but the last, fresh mask per element
      (PyTorch's ``dropout``);
    * ``nonrecurrent``: on the non-recurrent connections only — the input of every layer and
      the output of the last — fresh mask per element and step (Zaremba et al. 2014);
    * ``variational``: one mask per sequence, reused at every step, on the inputs of every layer,
      on the hidden state h_{t-1} entering the recurrent product, and on the outputs
      (Gal & Ghahramani 2016);
    * ``recurrent``: on the candidate only, c_t = f c_{t-1} + i d(g_t) (GRU: on n_t), fresh mask
      per step, so the memory is never erased (Semeniuta et al. 2016); gated cells only;
    * ``weight_drop``: DropConnect on the hidden-to-hidden weights W_hh, one mask per forward
      pass shared by all steps (Merity et al. 2017, AWD-LSTM);
    * ``zoneout``: each unit of h (and of c for the LSTM) keeps its previous value with
      probability p, fresh mask per step (Krueger et al. 2017).

    ``between_layers``, ``nonrecurrent`` and ``variational`` are three placements of the same
    input/output dropout, so at most one may be non-zero; the recurrent-side options
    (``variational`` hidden mask, ``recurrent``, ``weight_drop``, ``zoneout``) combine freely.
    All are identity in eval mode (zoneout included: the eval-mode cell is the plain cell, where
    Krueger et al. use the expectation p h_{t-1} + (1-p) h̃_t) and reproducible given the
    layer's ``generator``.

    Example::

        lstm = nn.LSTM(8, 16, num_layers=2, dropout={"variational": 0.25, "weight_drop": 0.5})
    """

    between_layers: float = 0.0
    nonrecurrent: float = 0.0
    variational: float = 0.0
    recurrent: float = 0.0
    weight_drop: float = 0.0
    zoneout: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            p = getattr(self, f.name)
            if not isinstance(p, (int, float)) or isinstance(p, bool):
                raise TypeError(f"RNNDropout.{f.name} must be a number, got {type(p).__name__}")
            top = 1.0 if f.name == "between_layers" else 1.0 - 1e-12
            if not 0.0 <= p <= top:
                raise ValueError(
                    f"RNNDropout.{f.name}={p}: a dropout rate must be in [0, 1)"
                    + (" (or 1 for between_layers)" if f.name == "between_layers" else "")
                )
        placed = [n for n in ("between_layers", "nonrecurrent", "variational") if getattr(self, n)]
        if len(placed) > 1:
            raise ValueError(
                f"RNNDropout: {' and '.join(placed)} are alternative placements of the same "
                "input/output dropout; choose one"
            )

    @classmethod
    def parse(cls, spec: Any) -> RNNDropout:
        """A float (PyTorch's between-layer rate), a dict of rates, or an ``RNNDropout``."""
        if isinstance(spec, RNNDropout):
            return spec
        if isinstance(spec, dict):
            known = {f.name for f in fields(cls)}
            bad = sorted(set(spec) - known)
            if bad:
                raise ValueError(
                    f"unknown RNN dropout placement(s) {bad}; choose from {sorted(known)}"
                )
            return cls(**spec)
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            if not 0.0 <= spec <= 1.0:
                raise ValueError(
                    "dropout should be a number in range [0, 1] representing the probability of "
                    f"an element being zeroed, got {spec}"
                )
            return cls(between_layers=float(spec))
        raise TypeError(
            f"dropout must be a float, a dict of rates or an RNNDropout, got {type(spec).__name__}"
        )

    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def _init_uniform(shape: tuple[int, ...], bound: float, dtype: Any) -> Parameter:
    """A parameter drawn from U(-bound, bound) with the default generator."""
    return Parameter(_random.rng(None).uniform(-bound, bound, shape).astype(dtype))


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU (see those classes); ``mode`` is one of "LSTM",
    "GRU", "RNN_TANH", "RNN_RELU".

    Example::

        m = nn.RNNBase("GRU", 4, 8, num_layers=2)
        out, h_n = m(chainrule.randn(5, 3, 4))
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: Any = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, *, layer_norm: bool = False,
                 batch_norm: bool = False, bn_max_steps: int = 256, bn_momentum: float = 0.1,
                 bn_eps: float = 1e-5, ln_eps: float = 1e-5, generator: Any = None,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        name = _NAMES.get(mode, mode)
        for arg, val in (("input_size", input_size), ("hidden_size", hidden_size),
                         ("num_layers", num_layers)):
            if not isinstance(val, int) or isinstance(val, bool) or val <= 0:
                raise ValueError(f"{name}: {arg} must be a positive integer, got {val!r}")
        drop = RNNDropout.parse(dropout)
        if drop.recurrent and mode.startswith("RNN"):
            raise ValueError(
                f"{name}: recurrent dropout (Semeniuta et al. 2016) drops the candidate update of "
                "a gated cell; a plain RNN has none (use LSTM or GRU, or variational dropout)"
            )
        if layer_norm and batch_norm:
            raise ValueError(f"{name}: choose layer_norm or batch_norm, not both")
        _check_proj_size(mode, proj_size, hidden_size, drop, layer_norm or batch_norm)
        if batch_norm and bn_max_steps < 1:
            raise ValueError(f"{name}: bn_max_steps must be >= 1, got {bn_max_steps}")
        if drop.between_layers and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={drop.between_layers}"
                f" and num_layers={num_layers}",
                stacklevel=2,
            )
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = drop.between_layers
        self.dropout_spec = drop
        self.layer_norm, self.batch_norm = layer_norm, batch_norm
        self.bn_max_steps, self.bn_momentum, self.bn_eps = bn_max_steps, bn_momentum, bn_eps
        self.ln_eps = ln_eps
        self.generator = generator
        self.proj_size = proj_size
        self._dtype = to_dtype(dtype) if dtype is not None else default_dtype()
        D = 2 if bidirectional else 1
        G = gate_count(mode) * hidden_size
        # the hidden state h (what the next step and the next layer see) has proj_size features
        # when projected, hidden_size otherwise; the LSTM cell c always has hidden_size
        out_f = proj_size or hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            in_f = input_size if layer == 0 else out_f * D
            for sfx in self._suffixes():
                shapes = [("weight_ih", (G, in_f)), ("weight_hh", (G, out_f))]
                if bias:
                    shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for kind, shape in shapes:
                    pname = f"{kind}_l{layer}{sfx}"
                    setattr(self, pname, Parameter(xp.zeros(shape, dtype=self._dtype)))
                    self._flat_weights_names.append(pname)
        if layer_norm:
            self._add_norm_params("ln", G, 1.0, with_bias=True)
        if batch_norm:
            self._add_norm_params("bn", G, 0.1, with_bias=False)
            self.register_buffer("bn_steps_seen", _wrap(xp.zeros((), dtype=int64)))
        self.reset_parameters()

    # ---- construction --------------------------------------------------------------------
    def _suffixes(self) -> list[str]:
        return ["", "_reverse"] if self.bidirectional else [""]

    def _add_norm_params(self, kind: str, G: int, gain: float, with_bias: bool) -> None:
        """LayerNorm (γ=1, β=0) or recurrent BatchNorm (γ=0.1, Cooijmans et al.) parameters on
        the input projection (``ih``), the recurrent projection (``hh``) and, for the LSTM, the
        cell state (``c``); BatchNorm adds per-step running statistics as buffers."""
        H = self.hidden_size
        parts = [("ih", G), ("hh", G)] + ([("c", H)] if self.mode == "LSTM" else [])
        for layer in range(self.num_layers):
            for sfx in self._suffixes():
                for part, n in parts:
                    tag = f"l{layer}{sfx}"
                    setattr(self, f"{kind}_{part}_weight_{tag}",
                            Parameter(xp.full((n,), gain, dtype=self._dtype)))
                    if with_bias or part == "c":
                        setattr(self, f"{kind}_{part}_bias_{tag}",
                                Parameter(xp.zeros((n,), dtype=self._dtype)))
                    if kind == "bn":
                        S = self.bn_max_steps
                        self.register_buffer(f"bn_{part}_running_mean_{tag}",
                                             _wrap(xp.zeros((S, n), dtype=self._dtype)))
                        self.register_buffer(f"bn_{part}_running_var_{tag}",
                                             _wrap(xp.ones((S, n), dtype=self._dtype)))

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias U(-1/√hidden, 1/√hidden); norm gains
        1 (LayerNorm) or 0.1 (recurrent BatchNorm), norm biases 0."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        r = _random.rng(None)
        for name in self._flat_weights_names:
            p = self._parameters[name]
            p._array[...] = r.uniform(-bound, bound, p.shape)
        for name, p in self._parameters.items():
            if name.startswith(("ln_", "bn_")):
                gain = 1.0 if name.startswith("ln_") else 0.1
                p._array[...] = gain if "_weight_" in name else 0.0

    def flatten_parameters(self) -> None:
        """PyTorch compacts weights for cuDNN here; on the CPU there is nothing to do."""
        return None

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """Parameters per layer and direction: [w_ih, w_hh, b_ih, b_hh(, w_hr)] (PyTorch's
        layout)."""
        k = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        names = self._flat_weights_names
        return [[self._parameters[n] for n in names[i:i + k]] for i in range(0, len(names), k)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout_spec.active():
            d = self.dropout_spec
            s += (f", dropout={d.between_layers}" if _only_between(d)
                  else f", dropout={ {k: v for k, v in vars(d).items() if v} }")
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.layer_norm:
            s += ", layer_norm=True"
        if self.batch_norm:
            s += ", batch_norm=True"
        return s

    # ---- forward ---------------------------------------------------------------------------
    def forward(self, input: Any, hx: Any = None, lengths: Any = None) -> Any:
        """Run the layers over ``input`` ``(T, B, input_size)`` (``(B, T, ...)`` with
        ``batch_first``, ``(T, input_size)`` unbatched, or a ``PackedSequence``).

        ``hx``: initial state(s) ``(num_layers·D, B, hidden)``; ``lengths``: true length of each
        sequence (outputs are 0 past it, h_n is taken at each sequence's last step and the
        reverse direction starts there). Returns ``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``).
        """
        name = type(self).__name__
        packed = input if isinstance(input, PackedSequence) else None
        if packed is not None:
            if lengths is not None:
                raise ValueError(f"{name}: pass either a PackedSequence or lengths=, not both")
            input, lengths = pad_packed_sequence(packed, batch_first=self.batch_first)
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor or PackedSequence, got "
                            f"{type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D tensor "
                             f"of shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]}")
        if input.dtype != self.weight_ih_l0.dtype:
            raise RuntimeError(f"{name}: input dtype {input.dtype} does not match the "
                               f"parameters' dtype {self.weight_ih_l0.dtype} (cast one of them)")
        unbatched = input.dim() == 2
        x = input.unsqueeze(0 if self.batch_first else 1) if unbatched else input
        B, T = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        lens = self._check_lengths(lengths, B, T)
        h0, c0 = self._initial_state(hx, B, unbatched)
        out, hn, cn = self._run(x, h0, c0, lens)
        if unbatched:
            out = out.squeeze(0 if self.batch_first else 1)
            hn = hn.squeeze(1)
            cn = cn.squeeze(1) if cn is not None else None
        if packed is not None:
            out = pack_with(out, packed, self.batch_first)
        return (out, (hn, cn)) if self.mode == "LSTM" else (out, hn)

    def _check_lengths(self, lengths: Any, B: int, T: int) -> Any:
        if lengths is None:
            return None
        arr = xp.asarray(lengths._array if isinstance(lengths, Tensor) else lengths)
        arr = arr.astype(int64).reshape(-1)
        name = type(self).__name__
        if arr.shape[0] != B:
            raise ValueError(f"{name}: lengths has {arr.shape[0]} entries for a batch of {B}")
        if arr.min() < 1 or arr.max() > T:
            raise ValueError(f"{name}: every length must be in [1, {T}] (the padded length), "
                             f"got {arr.tolist()}")
        return None if (arr == T).all() else arr

    def _initial_state(self, hx: Any, B: int, unbatched: bool) -> tuple[Any, Any]:
        name = type(self).__name__
        if hx is None:
            return None, None
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0)")
            parts = list(hx)
        else:
            if not isinstance(hx, Tensor):
                raise TypeError(f"{name}: hx must be a Tensor, got {type(hx).__name__}")
            parts = [hx]
        D = 2 if self.bidirectional else 1
        want_c = (self.num_layers * D, B, self.hidden_size)
        want_h = (self.num_layers * D, B, self.proj_size or self.hidden_size)
        out = []
        for k, h in enumerate(parts):
            want = want_h if k == 0 else want_c
            if unbatched:
                if h.dim() != 2:
                    raise RuntimeError(f"{name}: for unbatched 2-D input, hx should also be 2-D "
                                       f"but got {h.dim()}-D tensor")
                h = h.unsqueeze(1)
            if tuple(h.shape) != want:
                label = f"hidden[{k}]" if self.mode == "LSTM" else "hidden"
                raise RuntimeError(f"{name}: Expected {label} size {want}, got "
                                   f"{tuple(h.shape)}")
            if h.dtype != self.weight_ih_l0.dtype:
                raise RuntimeError(f"{name}: hx dtype {h.dtype} does not match the parameters' "
                                   f"dtype {self.weight_ih_l0.dtype}")
            out.append(h)
        return out[0], (out[1] if len(out) > 1 else None)

    def _run(self, x: Tensor, h0: Any, c0: Any, lens: Any) -> tuple[Tensor, Tensor, Any]:
        spec, train = self.dropout_spec, self.training
        rng = _random.rng(self.generator)
        D = 2 if self.bidirectional else 1
        fused = not (self.layer_norm or self.batch_norm or self.proj_size) and not (
            train and (spec.variational or spec.recurrent or spec.zoneout))
        hns, cns = [], []
        inp = x
        for layer in range(self.num_layers):
            inp = self._drop_io(inp, layer, rng, output=False)
            sl = slice(layer * D, (layer + 1) * D)
            h0_l = None if h0 is None else h0[sl]
            c0_l = None if c0 is None else c0[sl]
            # getattr, not _parameters: a parametrized or weight-normed weight is computed
            w_ih = [getattr(self, f"weight_ih_l{layer}{s}") for s in self._suffixes()]
            b_ih = [getattr(self, f"bias_ih_l{layer}{s}", None) for s in self._suffixes()]
            w_hh = [self._weight_drop(getattr(self, f"weight_hh_l{layer}{s}"), rng)
                    for s in self._suffixes()]
            b_hh = [getattr(self, f"bias_hh_l{layer}{s}", None) for s in self._suffixes()]
            if fused:
                # the projection runs inside the scan (ops.recurrent: written gate-major for
                # the NumPy path, as (B, 4H) rows for the compiled LSTM), the biases folded in
                inp, hn, cn = _projected_scan(self.mode, inp, h0_l, c0_l, w_ih, w_hh, b_ih,
                                              b_hh, self.batch_first, lens)
            else:
                inp, hn, cn = self._composite_layer(layer, inp, h0_l, c0_l, w_ih, b_ih, w_hh,
                                                    b_hh, lens, rng)
            hns.append(hn)
            cns.append(cn)
        if self.batch_norm and train:
            seen = int(x.shape[1] if self.batch_first else x.shape[0])
            if lens is not None:
                seen = int(lens.max())
            buf = self._buffers["bn_steps_seen"]
            buf._array[...] = max(int(buf._array), seen)
        out = self._drop_io(inp, self.num_layers, rng, output=True)
        h_n = cat(hns, 0) if len(hns) > 1 else hns[0]
        c_n = None
        if self.mode == "LSTM":
            c_n = cat(cns, 0) if len(cns) > 1 else cns[0]
        return out, h_n, c_n

    # ---- dropout ---------------------------------------------------------------------------
    def _drop_io(self, x: Tensor, layer: int, rng: Any, output: bool) -> Tensor:
        """Dropout on a layer input (``layer`` < num_layers) or on the final output."""
        if not self.training:
            return x
        s = self.dropout_spec
        if s.between_layers and not output and layer > 0:
            return x * R.keep_mask(rng, x.shape, s.between_layers, x.dtype)
        if s.nonrecurrent:
            return x * R.keep_mask(rng, x.shape, s.nonrecurrent, x.dtype)
        if s.variational:
            shape = (x.shape[0], 1, x.shape[2]) if self.batch_first else (1,) + x.shape[1:]
            return x * R.keep_mask(rng, shape, s.variational, x.dtype)
        return x

    def _weight_drop(self, w: Tensor, rng: Any) -> Tensor:
        p = self.dropout_spec.weight_drop
        if not (p and self.training):
            return w
        return w * R.keep_mask(rng, w.shape, p, w.dtype)

    # ---- composite path (normalisation, recurrent-side dropout) ---------------------------
    def _composite_layer(self, layer: int, inp: Tensor, h0: Any, c0: Any, w_ih: list,
                         b_ih: list, w_hh: list, b_hh: list, lens: Any,
                         rng: Any) -> tuple[Tensor, Tensor, Any]:
        D = len(w_ih)
        xt = inp.transpose(0, 1) if self.batch_first else inp
        T, B = xt.shape[0], xt.shape[1]
        valid = step_masks(lens, T, 1)[0] if lens is not None else None
        normed = self.layer_norm or self.batch_norm
        G = w_ih[0].shape[0]
        xproj = _project(xt, _cat0(w_ih), None if normed or not self.bias else _cat0(b_ih))
        outs, hs, cs = [], [], []
        for d, sfx in enumerate(self._suffixes()):
            tag = f"l{layer}{sfx}"
            xd = xproj[..., d * G:(d + 1) * G] if D > 1 else xproj
            if normed:
                xd = self._norm("ih", tag, xd, 0, valid)
                if b_ih[d] is not None:
                    xd = xd + b_ih[d]
            ex = self._extras(tag, B, valid, rng, xt.dtype)
            if self.proj_size:
                ex.w_hr = getattr(self, f"weight_hr_{tag}")
            y, h, c = R.scan_direction(self.mode, xd, None if h0 is None else h0[d],
                                       None if c0 is None else c0[d], w_hh[d], b_hh[d],
                                       reverse=d == 1, valid=valid, extras=ex)
            outs.append(y)
            hs.append(h)
            cs.append(c)
        out = cat(outs, -1) if D > 1 else outs[0]
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, stack(hs, 0), stack(cs, 0) if self.mode == "LSTM" else None

    def _extras(self, tag: str, B: int, valid: Any, rng: Any, dtype: Any) -> R.ScanExtras:
        s, train = self.dropout_spec, self.training
        ex = R.ScanExtras(rng=rng)
        if train and s.variational:
            ex.hidden_mask = R.keep_mask(rng, (B, self.hidden_size), s.variational, dtype)
        if train:
            ex.recurrent_p, ex.zoneout_p = s.recurrent, s.zoneout
        if self.layer_norm or self.batch_norm:
            ex.norm_hh = self._step_norm("hh", tag, valid)
            if self.mode == "LSTM":
                ex.norm_c = self._step_norm("c", tag, valid)
        return ex

    def _step_norm(self, part: str, tag: str, valid: Any) -> Any:
        def norm(t: int, v: Tensor) -> Tensor:
            if self.layer_norm:
                return self._norm(part, tag, v, t, None)
            vt = None if valid is None else valid[t:t + 1]
            return self._norm(part, tag, v.unsqueeze(0), t, vt).squeeze(0)

        return norm

    def _norm(self, part: str, tag: str, x: Tensor, t0: int, valid: Any) -> Tensor:
        """LayerNorm (Ba et al. 2016) or recurrent BatchNorm (Cooijmans et al. 2016) of ``x``."""
        p = self._parameters
        if self.layer_norm:
            return R.layer_norm_last(x, p[f"ln_{part}_weight_{tag}"], p[f"ln_{part}_bias_{tag}"],
                                     self.ln_eps)
        b = self._buffers
        return R.batch_norm_steps(
            x, valid, p[f"bn_{part}_weight_{tag}"], p.get(f"bn_{part}_bias_{tag}"),
            b[f"bn_{part}_running_mean_{tag}"]._array, b[f"bn_{part}_running_var_{tag}"]._array,
            t0, self.training, self.bn_momentum, self.bn_eps, int(b["bn_steps_seen"]._array),
        )


def _check_proj_size(mode: str, proj_size: Any, hidden_size: int, drop: RNNDropout,
                     normed: bool) -> None:
    """PyTorch's checks of ``proj_size`` (an LSTM's projected hidden state), plus chainrule's
    own: the projection runs on the plain LSTM recurrence only."""
    if not isinstance(proj_size, int) or isinstance(proj_size, bool) or proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if not proj_size:
        return
    if mode != "LSTM":
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")
    if normed or not _only_between(drop):
        raise ValueError("LSTM: proj_size works with PyTorch's between-layer dropout only, not "
                         "with layer_norm, batch_norm or the other RNNDropout placements")


def _only_between(d: RNNDropout) -> bool:
    return all(not v for k, v in vars(d).items() if k != "between_layers")


def _cat0(ts: list) -> Any:
    return ts[0] if len(ts) == 1 else cat(ts, 0)


def _project(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """x Wᵀ + b for every step at once: one GEMM over the (steps·batch, features) matrix."""
    lead = x.shape[:-1]
    y = apply(Linear, x.reshape(-1, x.shape[-1]), w, b)
    return y.reshape(lead + (w.shape[0],))


def _projected_scan(mode: str, x: Tensor, h0: Any, c0: Any, w_ih: list, w_hh: list, b_ih: list,
                    b_hh: list, batch_first: bool, lengths: Any) -> tuple[Tensor, Tensor, Any]:
    """A whole layer through the fused primitive with the input projection inside
    (``RecurrentScan(project=True)``): ``(output, h_n, c_n)``."""
    D = len(w_ih)
    H = w_hh[0].shape[1]
    B, T = (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])
    params = list(w_ih) + list(w_hh)
    if b_ih[0] is not None:
        params += list(b_ih) + list(b_hh)
    flat = apply(RecurrentScan, x, h0, c0, *params, mode=mode, num_directions=D,
                 batch_first=batch_first, lengths=lengths, project=True,
                 reference=_projected_reference(mode, D, batch_first, lengths))
    return R.scan_parts(flat, mode, T, B, D, H, batch_first)


def _projected_reference(mode: str, D: int, batch_first: bool, lengths: Any) -> Any:
    """The composite that ``RecurrentScan(project=True)`` differentiates under
    ``create_graph``: the projection x W_ihᵀ + b_ih, then the scan's own reference."""
    scan = R._scan_reference(mode, D, batch_first, lengths)

    def reference(x: Tensor, h0: Any, c0: Any, *params: Tensor) -> Tensor:
        w_ih, rest = list(params[:D]), list(params[D:])
        b_ih = rest[D:2 * D] if len(rest) > D else None
        xproj = _project(x, _cat0(w_ih), _cat0(b_ih) if b_ih else None)
        return scan(xproj, h0, c0, *rest[:D], *rest[2 * D:])

    return reference


_NAMES = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN", "RNN_RELU": "RNN"}

_ARGS_DOC = """
    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0
    (float or RNNDropout spec), bidirectional=False; keyword-only: layer_norm (LayerNorm on the
    input and recurrent pre-activations, and the LSTM cell, Ba et al. 2016), batch_norm
    (recurrent BatchNorm, Cooijmans et al. 2016: statistics per time position t over the valid
    entries only, so padding never changes them, for both directions; ``bn_max_steps`` rows of
    running statistics, steps past that sharing the last row; at evaluation a step past the
    longest sequence seen in training reuses the statistics of that last step), generator
    (dropout masks),
    dtype. Parameters: weight_ih_l{k}[_reverse] (G·H, in), weight_hh_l{k} (G·H, H), bias_ih_l{k},
    bias_hh_l{k}, all U(-1/√H, 1/√H), as in PyTorch. LSTM only: proj_size=P > 0 adds
    weight_hr_l{k} (P, H), h_t = W_hr (o_t ⊙ tanh c_t) has P features (h_0 and the outputs too,
    the next layer's input is P·D wide) while c keeps H (Sak et al. 2014, "Long Short-Term Memory
    Recurrent Neural Network Architectures for Large Scale Acoustic Modeling").
"""


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), act = tanh or relu.

    Example::

        rnn = nn.RNN(10, 20, num_layers=2)
        out, h_n = rnn(chainrule.randn(5, 3, 10))     # (5, 3, 20), (2, 3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: Any = 0.0, bidirectional: bool = False, **kwargs: Any) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity '{nonlinearity}' (use 'tanh' or 'relu')")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's gate order (i, f, g, o):
    i, f, o = σ(·), g = tanh(·) of x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh;
    c_t = f c_{t-1} + i g;  h_t = o tanh(c_t) (with ``proj_size``: h_t = W_hr (o tanh(c_t))).
    Returns ``(output, (h_n, c_n))``.

    Example::

        lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True, batch_first=True)
        out, (h_n, c_n) = lstm(chainrule.randn(3, 5, 10), lengths=[5, 2, 4])
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: Any = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, **kwargs: Any) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's gate order (r, z, n):
    r, z = σ(x W_{ir,iz}ᵀ + b_i + h W_{hr,hz}ᵀ + b_h);
    n = tanh(x W_inᵀ + b_in + r (h W_hnᵀ + b_hn));  h_t = (1 - z) n + z h_{t-1}.

    Example::

        gru = nn.GRU(1, 6, bidirectional=True, batch_first=True)
        out, h_n = gru(chainrule.randn(100, 40, 1))   # (100, 40, 12), (2, 100, 6)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: Any = 0.0, bidirectional: bool = False,
                 **kwargs: Any) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, **kwargs)


class LayerNormLSTM(LSTM):
    """LSTM with LayerNorm inside the recurrence (Ba et al. 2016):
    (i, f, g, o) = LN(x W_ihᵀ) + LN(h W_hhᵀ) + b;  h_t = o tanh(LN(c_t)).

    Example::

        lstm = nn.LayerNormLSTM(10, 20)
        out, (h, c) = lstm(chainrule.randn(5, 3, 10))
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["layer_norm"] = True
        super().__init__(*args, **kwargs)


class LayerNormGRU(GRU):
    """GRU with LayerNorm on the input and recurrent pre-activations (Ba et al. 2016):
    r, z = σ(LN(x W_ihᵀ)_rz + LN(h W_hhᵀ)_rz + b);  n = tanh(LN(x W_ihᵀ)_n + b_in
    + r (LN(h W_hhᵀ)_n + b_hn)).

    Example::

        gru = nn.LayerNormGRU(10, 20)
        out, h = gru(chainrule.randn(5, 3, 10))
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["layer_norm"] = True
        super().__init__(*args, **kwargs)


for _cls in (RNN, LSTM, GRU):
    _cls.__doc__ = (_cls.__doc__ or "") + _ARGS_DOC + _CITATIONS


# ---- cells -----------------------------------------------------------------------------------
class RNNCellBase(Module):
    """Shared parameters of the cells: weight_ih (G·H, in), weight_hh (G·H, H), bias_ih, bias_hh,
    all U(-1/√H, 1/√H), with G = ``num_chunks`` gates.

    Example::

        base = nn.RNNCellBase(4, 8, bias=True, num_chunks=3)    # GRUCell's parameters
        base.weight_ih.shape                                     # (24, 4)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        dt = to_dtype(dtype) if dtype is not None else default_dtype()
        G = num_chunks * hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = _init_uniform((G, input_size), bound, dt)
        self.weight_hh = _init_uniform((G, hidden_size), bound, dt)
        if bias:
            self.bias_ih = _init_uniform((G,), bound, dt)
            self.bias_hh = _init_uniform((G,), bound, dt)
        else:
            self.bias_ih = None
            self.bias_hh = None

    def reset_parameters(self) -> None:
        """Every weight and bias U(-1/√hidden, 1/√hidden)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            p._array[...] = _random.rng(None).uniform(-bound, bound, p.shape)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity='{self.nonlinearity}'"
        return s

    def _prepare(self, input: Tensor, hx: Any, n_states: int) -> tuple[Tensor, list, bool]:
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D tensor")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got "
                               f"{input.shape[-1]} expected {self.input_size}")
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input
        B = x.shape[0]
        if hx is None:
            zero = xp.zeros((B, self.hidden_size), dtype=x.dtype)
            return x, [_wrap(zero) for _ in range(n_states)], unbatched
        states = list(hx) if n_states > 1 else [hx]
        out = []
        for k, h in enumerate(states):
            h = h.unsqueeze(0) if unbatched else h
            if tuple(h.shape) != (B, self.hidden_size):
                raise RuntimeError(f"{name}: hidden state {k} has shape {tuple(h.shape)}, "
                                   f"expected {(B, self.hidden_size)}")
            out.append(h)
        return x, out, unbatched


class RNNCell(RNNCellBase):
    """One Elman step: h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), act = tanh or relu.

    Example::

        cell = nn.RNNCell(10, 20)
        h = cell(chainrule.randn(3, 10))      # (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity '{nonlinearity}'")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, hx, 1)
        fn = R.rnn_tanh_cell if self.nonlinearity == "tanh" else R.rnn_relu_cell
        out = fn(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out.squeeze(0) if unbatched else out


class LSTMCell(RNNCellBase):
    """One LSTM step (gate order i, f, g, o): c' = σ(f) c + σ(i) tanh(g), h' = σ(o) tanh(c').

    Example::

        cell = nn.LSTMCell(10, 20)
        h, c = cell(chainrule.randn(3, 10))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Tensor]:
        x, (h, c), unbatched = self._prepare(input, hx, 2)
        h, c = R.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(RNNCellBase):
    """One GRU step (gate order r, z, n): h' = (1 - z) n + z h.

    Example::

        cell = nn.GRUCell(10, 20)
        h = cell(chainrule.randn(3, 10))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, hx, 1)
        out = R.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out.squeeze(0) if unbatched else out
