"""nn.functional: scaled dot-product attention and multi-head attention, as composites.

Both follow PyTorch's reference (math) implementations step for step, so float64 results agree
to rounding: the same scaling, the same mask conventions and the same handling of rows whose
every key is masked. Dropout masks come from ``generator`` (a ``chainrule.Generator``; without
one, ``chainrule.random.default_generator``), never from a hidden global NumPy state.

Mask conventions (they differ between the two functions, exactly as in PyTorch):

* ``scaled_dot_product_attention``: a boolean ``attn_mask`` is True where a query MAY attend;
  a float mask is added to the scores.
* ``multi_head_attention_forward``: boolean ``attn_mask`` / ``key_padding_mask`` are True where
  a query may NOT attend (padding); a float mask is added to the scores.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from chainrule.backend import xp
from chainrule.nn._functional.activation import softmax
from chainrule.nn._functional.dropout import dropout
from chainrule.nn._functional.linear import linear
from chainrule.tensor import Tensor, _wrap, cat, where

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]

_NEG_INF = float("-inf")


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else _wrap(xp.asarray(x))


def _is_bool(t: Tensor) -> bool:
    return t._array.dtype == xp.bool_


def _is_float(t: Tensor) -> bool:
    return t._array.dtype.kind == "f"


def _safe_softmax(scores: Tensor) -> Tensor:
    """softmax over the last dim, with rows whose every score is −∞ set to 0 (not NaN).

    This is PyTorch's ``_safe_softmax``: a query that may attend to nothing gets zero weights,
    zero output and zero gradient. The dead rows' scores are replaced by 0 *before* the softmax,
    so no NaN enters the graph (a NaN there would leak into the gradient of additive masks)."""
    dead = xp.all(scores._array == _NEG_INF, axis=-1, keepdims=True)
    if not dead.any():
        return softmax(scores, -1)
    return where(dead, 0.0, softmax(where(dead, 0.0, scores), -1))


def _check_sdpa(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None,
                dropout_p: float) -> None:
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be at least 2 dimensional, but got query.dim: "
            f"{query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead."
        )
    if not query.dtype == key.dtype == value.dtype:
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead."
        )
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(
            f"scaled_dot_product_attention: query's last dim {query.shape[-1]} must equal key's "
            f"last dim {key.shape[-1]} (query {tuple(query.shape)}, key {tuple(key.shape)})"
        )
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"scaled_dot_product_attention: key and value must have the same sequence length "
            f"(dim -2), got key {tuple(key.shape)} and value {tuple(value.shape)}"
        )
    if attn_mask is not None and not (_is_bool(attn_mask) or _is_float(attn_mask)):
        raise RuntimeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
            f"attn_mask.dtype: {attn_mask.dtype} and query.dtype: {query.dtype} instead."
        )
    if not 0.0 <= dropout_p <= 1.0:  # a RuntimeError here, as in PyTorch (F.dropout: ValueError)
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")


def _repeat_kv_heads(query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
    """Grouped-query attention: each of the Hk key/value heads serves Hq/Hk consecutive query
    heads (dim -3), i.e. key and value are repeat-interleaved to Hq heads."""
    if query.ndim < 3 or key.ndim < 3 or value.ndim < 3:
        raise RuntimeError("enable_gqa=True needs a heads dimension (dim -3) in query, key and "
                           f"value; got dims {query.ndim}, {key.ndim}, {value.ndim}")
    hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
    if hq % hk or hq % hv:
        raise RuntimeError(
            f"Number of heads in key and value must divide the number of heads in query "
            f"(query {hq}, key {hk}, value {hv})"
        )
    if hk != hq:
        key = key.repeat_interleave(hq // hk, dim=-3)
    if hv != hq:
        value = value.repeat_interleave(hq // hv, dim=-3)
    return key, value


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False, *, generator: Any = None) -> Tensor:
    """Attention(Q, K, V) = dropout(softmax(Q Kᵀ · s + B)) V  (Vaswani et al. 2017).

    Shapes: query (*, L, E), key (*, S, E), value (*, S, Ev) -> (*, L, Ev); the leading dims
    broadcast as in ``matmul``. ``s`` is ``scale`` or 1/√E. ``B`` is the bias from the masks:

    * ``attn_mask`` boolean, broadcastable to (*, L, S): True = the query may attend to that key
      (B = 0), False = it may not (B = −∞). Float: added to the scores.
    * ``is_causal``: query i attends to keys j <= i (the top-left-aligned lower triangle of the
      L × S score matrix); it may not be combined with ``attn_mask``.

    A query whose every key is masked gets all-zero weights (output 0, gradient 0), as PyTorch's
    math backend does. ``dropout_p`` > 0 drops attention weights (inverted dropout, always on:
    the function has no training flag) with masks from ``generator``. ``enable_gqa``: key and
    value may have fewer heads (dim -3) than query, a divisor of its count (grouped-query
    attention); each is shared by consecutive query heads.

    Example::

        q = chainrule.randn(2, 4, 5, 8)          # (batch, heads, L, E)
        k = v = chainrule.randn(2, 4, 7, 8)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)   # (2, 4, 5, 8)
    """
    if attn_mask is not None:
        attn_mask = _as_tensor(attn_mask)
    _check_sdpa(query, key, value, attn_mask, dropout_p)
    if enable_gqa:
        key, value = _repeat_kv_heads(query, key, value)
    s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = (query @ key.transpose(-2, -1)) * s
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")
        L, S = query.shape[-2], key.shape[-2]
        scores = where(xp.tri(L, S, dtype=bool), scores, _NEG_INF)
    elif attn_mask is not None:
        scores = where(attn_mask._array, scores, _NEG_INF) if _is_bool(attn_mask) \
            else scores + attn_mask
    weights = _safe_softmax(scores)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True, generator=generator)
    return weights @ value


# ---- multi-head attention ---------------------------------------------------------------------

def _none_or_dtype(input: Tensor | None) -> Any:
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or Tensor")


def _canonical_mask(mask: Any, mask_name: str, other_type: Any, other_name: str,
                    target_type: Any, check_other: bool = True) -> Tensor | None:
    """A mask as an additive float mask of ``target_type``: boolean True -> −∞, False -> 0;
    a float mask passes unchanged. Other dtypes are refused; a boolean/float mismatch with the
    companion mask (``other_type``) warns, as PyTorch does."""
    if mask is None:
        return None
    mask = _as_tensor(mask)
    if not (_is_bool(mask) or _is_float(mask)):
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use "
                      "same type for both instead.", stacklevel=3)
    if _is_bool(mask):
        dt = target_type._array.dtype if isinstance(target_type, Tensor) else target_type
        return _wrap(xp.where(mask._array, _NEG_INF, 0.0).astype(dt))
    return mask


def _mha_shape_check(query: Tensor, key: Tensor, value: Tensor,
                     key_padding_mask: Tensor | None, attn_mask: Tensor | None,
                     num_heads: int) -> bool:
    """True for batched (3-D) inputs, False for unbatched (2-D); anything else is refused."""
    if query.ndim not in (2, 3):
        raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.ndim}-D query tensor")
    d = query.ndim
    what = "batched (3-D)" if d == 3 else "unbatched (2-D)"
    if key.ndim != d or value.ndim != d:
        raise AssertionError(
            f"For {what} `query`, expected `key` and `value` to be {d}-D but found "
            f"{key.ndim}-D and {value.ndim}-D tensors respectively")
    if key_padding_mask is not None and key_padding_mask.ndim != d - 1:
        raise AssertionError(
            f"For {what} `query`, expected `key_padding_mask` to be `None` or {d - 1}-D but "
            f"found {key_padding_mask.ndim}-D tensor instead")
    if attn_mask is not None:
        if attn_mask.ndim not in (2, 3):
            raise AssertionError(
                f"For {what} `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                f"{attn_mask.ndim}-D tensor instead")
        expected = (num_heads, query.shape[0], key.shape[0])
        if d == 2 and attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
            raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                 f"{tuple(attn_mask.shape)}")
    return d == 3


def _in_projection_packed(q: Tensor, k: Tensor, v: Tensor, w: Tensor,
                          b: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """[q Wq + bq, k Wk + bk, v Wv + bv] with W = [Wq; Wk; Wv] packed along dim 0; one GEMM
    for self-attention (q is k is v), two when only k is v."""
    E = q.shape[-1]
    if k is v:
        if q is k:
            return linear(q, w, b).split(E, -1)  # type: ignore[return-value]
        w_q, w_kv = w[:E], w[E:]
        b_q, b_kv = (None, None) if b is None else (b[:E], b[E:])
        k_out, v_out = linear(k, w_kv, b_kv).split(E, -1)
        return linear(q, w_q, b_q), k_out, v_out
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    w_q, w_k, w_v = w.chunk(3)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _in_projection(q: Tensor, k: Tensor, v: Tensor, w_q: Tensor, w_k: Tensor, w_v: Tensor,
                   b_q: Tensor | None, b_k: Tensor | None,
                   b_v: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Separate projections (kdim / vdim differ from embed_dim): q Wqᵀ + bq, k Wkᵀ + bk, ..."""
    Eq, Ek, Ev = q.shape[-1], k.shape[-1], v.shape[-1]
    for name, w, shape in (("q", w_q, (Eq, Eq)), ("k", w_k, (Eq, Ek)), ("v", w_v, (Eq, Ev))):
        if tuple(w.shape) != shape:
            raise AssertionError(f"expecting {name} weight shape of {shape}, but got "
                                 f"{tuple(w.shape)}")
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _check_attn_mask_shape(attn_mask: Tensor, tgt_len: int, src_len: int, bsz: int,
                           num_heads: int) -> Tensor:
    """A 2-D (L, S) mask becomes (1, L, S); a 3-D one must be (N·num_heads, L, S)."""
    if attn_mask.ndim == 2:
        if tuple(attn_mask.shape) != (tgt_len, src_len):
            raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but "
                               f"should be {(tgt_len, src_len)}.")
        return attn_mask.unsqueeze(0)
    if attn_mask.ndim == 3:
        if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
            raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but "
                               f"should be {(bsz * num_heads, tgt_len, src_len)}.")
        return attn_mask
    raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """One more (unmasked, 0) key column, for the appended bias_k / zero-attention key."""
    return None if mask is None else mask.pad((0, 1), 0.0)


def multi_head_attention_forward(
    query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
    in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
    bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
    out_proj_bias: Tensor | None, training: bool = True, key_padding_mask: Tensor | None = None,
    need_weights: bool = True, attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False, q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None, v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None, static_v: Tensor | None = None,
    average_attn_weights: bool = True, is_causal: bool = False, *, generator: Any = None,
) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention (Vaswani et al. 2017), sequence-first, PyTorch's algorithm:

        head_h = softmax((Q Wq_h)(K Wk_h)ᵀ / √d + B) (V Wv_h),  d = embed_dim / num_heads
        out    = concat_h(head_h) W_outᵀ + b_out

    Shapes: query (L, N, E) or (L, E); key (S, N, Ek), value (S, N, Ev) (or without N).
    ``key_padding_mask`` (N, S) / (S): boolean True = that key is padding (ignored); float
    added. ``attn_mask`` (L, S) or (N·num_heads, L, S): boolean True = may NOT attend; float
    added. ``bias_k``/``bias_v`` (1, 1, E) append one learnt key/value; ``add_zero_attn``
    appends a zero key/value per head. ``is_causal`` is a hint that ``attn_mask`` is the causal
    mask (it is then required, and used as such unless weights or a padding mask are needed).

    Returns (out (L, N, E), weights): with ``need_weights`` the attention weights after dropout,
    (N, L, S') averaged over heads or (N, num_heads, L, S') with ``average_attn_weights=False``
    (S' counts the appended keys); else None. With ``need_weights`` a query whose every key is
    masked gets NaN (plain softmax), as in PyTorch; without, zeros (via
    ``scaled_dot_product_attention``). ``generator`` draws the dropout masks (chainrule's
    addition: PyTorch uses its global RNG).
    """
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = _as_tensor(key_padding_mask).unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask",
                                       _none_or_dtype(attn_mask), "attn_mask", query._array.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        # the hint alone is used (as PyTorch does): the mask is trusted to be causal
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query._array.dtype,
                                    check_other=False)
        if key_padding_mask is not None:
            is_causal = False  # the merged mask is no longer causal
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but "
                             f"got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not "
                                 f"match value's {tuple(value.shape[:2])}")
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight, "
                                 "k_proj_weight or v_proj_weight is None")
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = _in_projection(query, key, value, q_proj_weight, k_proj_weight,
                                 v_proj_weight, b_q, b_k, b_v)
    else:
        if tuple(key.shape) != tuple(value.shape):
            raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape "
                                 f"{tuple(value.shape)}")
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    if attn_mask is not None:
        attn_mask = _check_attn_mask_shape(attn_mask, tgt_len, src_len, bsz, num_heads)
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key or value.")
        k = cat([k, bias_k.repeat(1, bsz, 1)])
        v = cat([v, bias_v.repeat(1, bsz, 1)])
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k and bias_v must both be set or both be None")

    # heads become part of the batch: (L, N, E) -> (N·H, L, d)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = _heads(k, static_k, bsz, num_heads, head_dim, "static_k")
    v = _heads(v, static_v, bsz, num_heads, head_dim, "static_v")
    if add_zero_attn:
        zeros = _wrap(xp.zeros((bsz * num_heads, 1, head_dim), dtype=k._array.dtype))
        k, v = cat([k, zeros], dim=1), cat([v, zeros], dim=1)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(f"Expected key_padded_mask.shape to be {(bsz, src_len)}, but "
                                 f"got {tuple(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
        kpm = kpm.reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        scores = (q * math.sqrt(1.0 / head_dim)) @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = attn_mask + scores
        weights = softmax(scores, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p, generator=generator)
        out = (weights @ v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not is_batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        attn_mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 \
            else attn_mask.reshape(bsz, num_heads, -1, src_len)
    out = scaled_dot_product_attention(
        q.reshape(bsz, num_heads, tgt_len, head_dim), k.reshape(bsz, num_heads, src_len, head_dim),
        v.reshape(bsz, num_heads, src_len, head_dim), attn_mask, dropout_p, is_causal,
        generator=generator)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    return (out if is_batched else out.squeeze(1)), None


def _heads(x: Tensor, static: Tensor | None, bsz: int, num_heads: int, head_dim: int,
           name: str) -> Tensor:
    """(S, N, E) -> (N·H, S, d), or the given ``static`` (N·H, S, d) key/value instead."""
    if static is None:
        return x.reshape(x.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if static.shape[0] != bsz * num_heads or static.shape[2] != head_dim:
        raise AssertionError(f"expecting {name} of shape ({bsz * num_heads}, S, {head_dim}), "
                             f"but got {tuple(static.shape)}")
    return static
