"""nn modules: ``MultiheadAttention`` and the Transformer (Vaswani et al. 2017, "Attention is
all you need"): encoder/decoder layers, their stacks, and the full encoder-decoder model.

Parameter names, state_dict keys, initialisation and mask conventions are PyTorch's, so a
state_dict saved by ``torch.nn.Transformer`` loads here and gives the same outputs. PyTorch's
inference "fast paths" (fused kernels, nested tensors) are not reproduced: every call takes the
reference path, which PyTorch also takes whenever gradients are recorded. The one visible
difference: in eval mode without autograd, PyTorch's ``TransformerEncoder`` returns 0 at
positions flagged by ``src_key_padding_mask`` (nested-tensor path); here those positions hold
whatever the layers computed for them (they never influence the other positions either way).

Each dropout draws from its own ``chainrule.Generator`` (spawned from
``chainrule.random.default_generator`` when the layer is built), so ``chainrule.manual_seed``
before building makes training reproducible; the clones made by ``TransformerEncoder`` /
``TransformerDecoder`` get fresh generators spawned from the template's, so their dropout
masks are independent (a plain deep copy would give every layer the same masks).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from chainrule import random as _random
from chainrule.backend import to_dtype, xp
from chainrule.nn import init
from chainrule.nn._functional import activation as FA
from chainrule.nn._functional import attention as FT
from chainrule.nn.modules.activation import GELU, ReLU
from chainrule.nn.modules.container import ModuleList
from chainrule.nn.modules.dropout import Dropout
from chainrule.nn.modules.linear import Linear, _param
from chainrule.nn.modules.module import Module
from chainrule.nn.modules.normalization import LayerNorm
from chainrule.tensor import Tensor, _wrap

__all__ = ["MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder",
           "TransformerEncoderLayer", "TransformerDecoderLayer"]


class NonDynamicallyQuantizableLinear(Linear):
    """``Linear`` under PyTorch's name for MultiheadAttention's ``out_proj`` (same maths)."""


class MultiheadAttention(Module):
    """Multi-head attention: MultiHead(Q, K, V) = concat(head_1..head_h) W_outᵀ + b_out, with
    head_i = softmax((Q W_q,i)(K W_k,i)ᵀ / √d + mask) (V W_v,i), d = embed_dim / num_heads.

    Parameters (PyTorch's names): ``in_proj_weight`` (3E, E) = [W_q; W_k; W_v] and
    ``in_proj_bias`` (3E,), or ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim),
    ``v_proj_weight`` (E, vdim) when ``kdim``/``vdim`` differ from E; ``out_proj`` a Linear;
    ``bias_k``/``bias_v`` (1, 1, E) with ``add_bias_kv``. Init: xavier_uniform_ for the input
    projections, zero biases, xavier_normal_ for bias_k/bias_v, Linear's default for out_proj.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` -> (output, weights or None). Inputs are
    (L, N, E) (``batch_first=False``), (N, L, E) (``batch_first=True``) or unbatched (L, E).
    Boolean masks are True where attention is NOT allowed (see
    ``F.multi_head_attention_forward``). Dropout (on the attention weights, training only) draws
    from ``generator``.

    Example::

        mha = nn.MultiheadAttention(16, 4, batch_first=True)
        x = chainrule.randn(2, 5, 16)
        out, w = mha(x, x, x)      # out (2, 5, 16), w (2, 5, 5) averaged over heads
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None,
                 dtype: Any = None, generator: _random.Generator | None = None) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = _param((embed_dim, embed_dim), dtype, device)
            self.k_proj_weight = _param((embed_dim, self.kdim), dtype, device)
            self.v_proj_weight = _param((embed_dim, self.vdim), dtype, device)
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = _param((3 * embed_dim, embed_dim), dtype, device)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = _param((3 * embed_dim,), dtype, device)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = _param((1, 1, embed_dim), dtype, device)
            self.bias_v = _param((1, 1, embed_dim), dtype, device)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self.generator = generator if generator is not None else \
            _random.default_generator.spawn()
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        is_batched = query.ndim == 3
        key_padding_mask = FT._canonical_mask(key_padding_mask, "key_padding_mask",
                                              FT._none_or_dtype(attn_mask), "attn_mask",
                                              query._array.dtype)
        attn_mask = FT._canonical_mask(attn_mask, "attn_mask", None, "", query._array.dtype,
                                       check_other=False)
        if self.batch_first and is_batched:
            # keep the identities q is k is v: the packed projection uses them
            if key is value:
                if query is key:
                    query = key = value = query.transpose(1, 0)
                else:
                    query, key = query.transpose(1, 0), key.transpose(1, 0)
                    value = key
            else:
                query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        separate = not self._qkv_same_embed_dim
        out, weights = FT.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=separate, q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal,
            generator=self.generator)
        if self.batch_first and is_batched:
            out = out.transpose(1, 0)
        return out, weights


def _generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
    """The causal mask of size (sz, sz): 0 on and below the diagonal, −∞ above it."""
    return _wrap(xp.triu(xp.full((sz, sz), -math.inf, dtype=to_dtype(dtype)), 1))


def _get_activation_fn(activation: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    if not isinstance(activation, str):
        return activation
    if activation == "relu":
        return FA.relu
    if activation == "gelu":
        return FA.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _get_seq_len(src: Tensor, batch_first: bool) -> int:
    if src.ndim == 2:
        return src.shape[0]
    return src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(mask: Tensor | None, is_causal: bool | None = None,
                           size: int | None = None) -> bool:
    """``is_causal`` if given; else whether ``mask`` equals the square causal mask (PyTorch's
    detection; the hint then lets attention skip the explicit mask)."""
    if is_causal is not None or mask is None:
        return is_causal is True
    sz = size if size is not None else mask.shape[-2]
    if tuple(mask.shape) != (sz, sz):
        return False
    causal = _generate_square_subsequent_mask(sz, dtype=mask._array.dtype)
    return bool(xp.array_equal(mask._array, causal._array))


def _get_clones(module: Module, n: int) -> ModuleList:
    """``n`` deep copies of ``module``, each dropout generator re-spawned from the template's
    (deep copies alone would share one random stream, i.e. identical masks in every layer)."""
    clones = []
    for _ in range(n):
        clone = copy.deepcopy(module)
        for orig, new in zip(module.modules(), clone.modules()):
            gen = getattr(orig, "generator", None)
            if isinstance(gen, _random.Generator):
                new.generator = gen.spawn()
        clones.append(clone)
    return ModuleList(clones)


def _sublayer(x: Tensor, norm: Module, norm_first: bool,
              block: Callable[[Tensor], Tensor]) -> Tensor:
    """One residual sub-layer: x + block(LN(x)) (pre-LN) or LN(x + block(x)) (post-LN)."""
    return x + block(norm(x)) if norm_first else norm(x + block(x))


def _attend(mha: MultiheadAttention, x: Tensor, mem: Tensor, attn_mask: Tensor | None,
            key_padding_mask: Tensor | None, is_causal: bool) -> Tensor:
    """Attention of ``x`` over ``mem`` (itself for self-attention), without the weights."""
    return mha(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
               need_weights=False, is_causal=is_causal)[0]


class _TransformerLayer(Module):
    """The shared constructor of the encoder and decoder layers. Sub-modules are registered in
    PyTorch's order (self_attn, [multihead_attn,] linear1, dropout, linear2, norm1.., dropout1..)
    so state_dict keys and parameter order match."""

    _cross = False  # the decoder layer adds cross-attention, a third norm and dropout

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable[[Tensor], Tensor] = FA.relu,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}

        def mha() -> MultiheadAttention:
            return MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                      batch_first=batch_first, **kw)

        self.self_attn = mha()
        if self._cross:
            self.multihead_attn = mha()
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        n = 3 if self._cross else 2
        for i in range(1, n + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        for i in range(1, n + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        activation = _get_activation_fn(activation)
        if not self._cross:
            # PyTorch's flag (it selects its fused kernel): 1 relu, 2 gelu, 0 anything else
            self.activation_relu_or_gelu = 1 if activation is FA.relu or isinstance(
                activation, ReLU) else 2 if activation is FA.gelu or isinstance(
                activation, GELU) else 0
        self.activation = activation

    def _sa_block(self, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None,
                  is_causal: bool = False) -> Tensor:
        return self.dropout1(_attend(self.self_attn, x, x, attn_mask, key_padding_mask,
                                     is_causal))

    def _ff_block(self, x: Tensor) -> Tensor:
        """dropout_last(linear2(dropout(activation(linear1(x)))))."""
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return getattr(self, "dropout3" if self._cross else "dropout2")(x)


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention and a feed-forward block, each with a residual connection and LayerNorm:

    post-LN (``norm_first=False``, the original): x = LN₁(x + SA(x)); x = LN₂(x + FF(x))
    pre-LN  (``norm_first=True``, Xiong et al. 2020): x = x + SA(LN₁(x)); x = x + FF(LN₂(x))

    with FF(x) = linear2(dropout(activation(linear1(x)))) and dropout after SA and FF.
    ``activation``: "relu", "gelu" or a callable (e.g. a module). ``forward(src, src_mask=None,
    src_key_padding_mask=None, is_causal=False)``, masks as in ``MultiheadAttention``.

    Example::

        layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64,
                                           batch_first=True)
        y = layer(chainrule.randn(2, 10, 32))      # (2, 10, 32)
    """

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        src_key_padding_mask = FT._canonical_mask(
            src_key_padding_mask, "src_key_padding_mask", FT._none_or_dtype(src_mask),
            "src_mask", src._array.dtype)
        src_mask = FT._canonical_mask(src_mask, "src_mask", None, "", src._array.dtype,
                                      check_other=False)
        x = _sublayer(src, self.norm1, self.norm_first,
                      lambda y: self._sa_block(y, src_mask, src_key_padding_mask, is_causal))
        return _sublayer(x, self.norm2, self.norm_first, self._ff_block)


class TransformerDecoderLayer(_TransformerLayer):
    """Masked self-attention, cross-attention over ``memory`` and a feed-forward block, each
    with a residual connection and LayerNorm (post-LN, or pre-LN with ``norm_first=True``):

    post-LN: x = LN₁(x + SA(x)); x = LN₂(x + MHA(x, mem)); x = LN₃(x + FF(x))
    pre-LN:  x = x + SA(LN₁(x)); x = x + MHA(LN₂(x), mem); x = x + FF(LN₃(x))

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.

    Example::

        layer = nn.TransformerDecoderLayer(d_model=32, nhead=4, dim_feedforward=64)
        y = layer(chainrule.randn(7, 2, 32), chainrule.randn(10, 2, 32))   # (7, 2, 32)
    """

    _cross = True

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        nf = self.norm_first
        x = _sublayer(tgt, self.norm1, nf, lambda y: self._sa_block(
            y, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = _sublayer(x, self.norm2, nf, lambda y: self._mha_block(
            y, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
        return _sublayer(x, self.norm3, nf, self._ff_block)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Tensor | None,
                   key_padding_mask: Tensor | None, is_causal: bool = False) -> Tensor:
        return self.dropout2(_attend(self.multihead_attn, x, mem, attn_mask, key_padding_mask,
                                     is_causal))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` (``layers.0`` ... ``layers.N-1``),
    then the optional final ``norm``. ``forward(src, mask=None, src_key_padding_mask=None,
    is_causal=None)``; ``is_causal=None`` detects whether ``mask`` is the causal mask.
    ``enable_nested_tensor`` and ``mask_check`` are accepted for PyTorch compatibility (they
    only steer PyTorch's inference fast path).

    Example::

        layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
        enc = nn.TransformerEncoder(layer, num_layers=3)
        y = enc(chainrule.randn(2, 10, 32))
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True) -> None:
        super().__init__()
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        src_key_padding_mask = FT._canonical_mask(
            src_key_padding_mask, "src_key_padding_mask", FT._none_or_dtype(mask), "mask",
            src._array.dtype)
        mask = FT._canonical_mask(mask, "mask", None, "", src._array.dtype, check_other=False)
        batch_first = self.layers[0].self_attn.batch_first
        is_causal = _detect_is_causal_mask(mask, is_causal, _get_seq_len(src, batch_first))
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal,
                         src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer`` and an optional final ``norm``.
    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``.

    Example::

        layer = nn.TransformerDecoderLayer(32, 4, 64)
        dec = nn.TransformerDecoder(layer, num_layers=2)
        mask = nn.Transformer.generate_square_subsequent_mask(7)
        y = dec(chainrule.randn(7, 2, 32), chainrule.randn(10, 2, 32), tgt_mask=mask)
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        seq_len = _get_seq_len(tgt, self.layers[0].self_attn.batch_first)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, seq_len)
        output = tgt
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask,
                         memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """The encoder-decoder Transformer (Vaswani et al. 2017): ``encoder`` (a
    TransformerEncoder with a final LayerNorm) maps ``src`` to a memory that ``decoder`` (a
    TransformerDecoder with a final LayerNorm) attends to while processing ``tgt``. Every
    parameter with more than one dimension is re-initialised with xavier_uniform_.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)`` -> (T, N, E).

    Example::

        model = nn.Transformer(d_model=32, nhead=4, num_encoder_layers=2,
                               num_decoder_layers=2, dim_feedforward=64)
        src, tgt = chainrule.randn(10, 2, 32), chainrule.randn(7, 2, 32)
        out = model(src, tgt, tgt_mask=model.generate_square_subsequent_mask(7))
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = FA.relu,
                 custom_encoder: Any | None = None, custom_decoder: Any | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias, device, dtype)

        def final_norm() -> LayerNorm:
            return LayerNorm(d_model, eps=layer_norm_eps, bias=bias, device=device, dtype=dtype)

        self.encoder = custom_encoder if custom_encoder is not None else TransformerEncoder(
            TransformerEncoderLayer(*layer_args), num_encoder_layers, final_norm())
        self.decoder = custom_decoder if custom_decoder is not None else TransformerDecoder(
            TransformerDecoderLayer(*layer_args), num_decoder_layers, final_norm())
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None,
                tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise RuntimeError("the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None,
                                        dtype: Any = None) -> Tensor:
        """The (sz, sz) causal mask: 0 where j <= i (may attend), −∞ where j > i (future)."""
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self) -> None:
        """xavier_uniform_ on every parameter of dimension > 1 (as PyTorch does)."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
