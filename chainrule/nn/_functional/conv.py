"""nn.functional: convolutions (1-D/2-D/3-D, transposed), unfold/fold (``pad``, used by the
conv layers' padding modes, is in ``padding``).

Shapes follow PyTorch: input (N, C_in, *spatial) or unbatched (C_in, *spatial); weight
(C_out, C_in / groups, *kernel) for ``conv``, (C_in, C_out / groups, *kernel) for
``conv_transpose``. The maths and the im2col/GEMM implementation are in ``chainrule.ops.conv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.backend import xp
from chainrule.nn._functional.padding import pad
from chainrule.ops import conv as C
from chainrule.tensor import Tensor, apply

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "unfold", "fold", "pad",  # pad lives in ``padding``; the conv layers call it from here
]

IntOr = int | Sequence[int]


def _ntuple(v: Any, n: int, name: str) -> tuple[int, ...]:
    """``v`` as an n-tuple of ints (an int is repeated), with a clear error otherwise."""
    if isinstance(v, (int, xp.integer)):
        return (int(v),) * n
    t = tuple(int(a) for a in v)
    if len(t) == 1:
        return t * n
    if len(t) != n:
        raise ValueError(f"expected {name} to be a single int or a tuple of {n} ints, got {v!r}")
    return t


def conv_pads(padding: Any, ksize: tuple[int, ...], stride: tuple[int, ...],
              dilation: tuple[int, ...]) -> C.Pads:
    """(low, high) pads per dim for ``padding`` = int, tuple, ``"valid"`` or ``"same"``.

    ``"same"`` pads a total of dilation·(k−1) per dim, the extra element (even kernels) on the
    high side, as PyTorch does; it requires stride 1.
    """
    n = len(ksize)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            tot = [d * (k - 1) for k, d in zip(ksize, dilation)]
            return tuple((t // 2, t - t // 2) for t in tot)
        raise ValueError(f"Invalid padding string {padding!r}, should be one of 'valid', 'same'")
    p = _ntuple(padding, n, "padding")
    if any(v < 0 for v in p):
        raise ValueError(f"negative padding is not supported, got {padding!r}")
    return tuple((v, v) for v in p)


def _batched(input: Tensor, weight: Tensor, what: str) -> tuple[Tensor, bool]:
    """Add a batch dim to an unbatched input; check the number of dims."""
    nd = weight.ndim
    if input.ndim == nd - 1:
        return input.unsqueeze(0), True
    if input.ndim != nd:
        raise RuntimeError(
            f"{what}: expected {nd - 1}-D (unbatched) or {nd}-D (batched) input for a weight "
            f"of size {list(weight.shape)}, but got input of size {list(input.shape)}"
        )
    return input, False


def _conv(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any,
          dilation: Any, groups: int, what: str) -> Tensor:
    x, unbatched = _batched(input, weight, what)
    n = weight.ndim - 2
    ks = tuple(weight.shape[2:])
    st = _ntuple(stride, n, "stride")
    dl = _ntuple(dilation, n, "dilation")
    if any(v <= 0 for v in st) or any(v <= 0 for v in dl):
        raise ValueError(f"{what}: stride {st} and dilation {dl} must be positive")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise RuntimeError(
            f"{what}: bias of size {list(bias.shape)} does not match {weight.shape[0]} output "
            "channels"
        )
    out = apply(C.Conv, x, weight, bias, stride=st, pads=conv_pads(padding, ks, st, dl),
                dilation=dl, groups=int(groups))
    return out.squeeze(0) if unbatched else out


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOr = 1,
           padding: IntOr | str = 0, dilation: IntOr = 1, groups: int = 1) -> Tensor:
    """1-D convolution: y[n, o, l] = b[o] + Σ_{c, k} W[o, c, k] x_pad[n, c, l·s + k·d]."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, "conv1d")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOr = 1,
           padding: IntOr | str = 0, dilation: IntOr = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation):
    y[n, o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] x_pad[n, c, i·s + p·d, j·s + q·d]
    (channels c of the group of o).

    Example::

        y = F.conv2d(chainrule.randn(8, 3, 32, 32), chainrule.randn(16, 3, 3, 3), padding=1)
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, "conv2d")


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOr = 1,
           padding: IntOr | str = 0, dilation: IntOr = 1, groups: int = 1) -> Tensor:
    """3-D convolution, the same formula over three spatial dims."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, "conv3d")


def transpose_out_size(size: int, k: int, stride: int, pad: int, dilation: int,
                       output_padding: int) -> int:
    """(size − 1)·stride − 2·pad + dilation·(k − 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * pad + dilation * (k - 1) + output_padding + 1


def _conv_transpose(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,
                    padding: Any, output_padding: Any, groups: int, dilation: Any,
                    what: str) -> Tensor:
    x, unbatched = _batched(input, weight, what)
    n = weight.ndim - 2
    ks = tuple(weight.shape[2:])
    st = _ntuple(stride, n, "stride")
    dl = _ntuple(dilation, n, "dilation")
    pd = _ntuple(padding, n, "padding")
    op = _ntuple(output_padding, n, "output_padding")
    for o, s, d in zip(op, st, dl):
        if o >= s and o >= d:
            raise ValueError(
                f"{what}: output padding must be smaller than either stride or dilation, got "
                f"output_padding={op}, stride={st}, dilation={dl}"
            )
    if x.shape[1] != weight.shape[0]:
        raise RuntimeError(
            f"{what}: weight of size {list(weight.shape)} expects {weight.shape[0]} input "
            f"channels, but got input of size {list(input.shape)}"
        )
    size = tuple(
        transpose_out_size(s, k, t, p, d, o)
        for s, k, t, p, d, o in zip(x.shape[2:], ks, st, pd, dl, op)
    )
    if any(s <= 0 for s in size):
        raise RuntimeError(f"{what}: output size {size} is not positive (input {x.shape})")
    out = apply(C.ConvTranspose, x, weight, bias, size=size, stride=st,
                pads=tuple((p, p) for p in pd), dilation=dl, groups=int(groups))
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOr = 1, padding: IntOr = 0, output_padding: IntOr = 0,
                     groups: int = 1, dilation: IntOr = 1) -> Tensor:
    """1-D transposed convolution (the adjoint of conv1d in its input), output length
    (L − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, "conv_transpose1d")


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOr = 1, padding: IntOr = 0, output_padding: IntOr = 0,
                     groups: int = 1, dilation: IntOr = 1) -> Tensor:
    """2-D transposed convolution: x[n, c, i·s + p·d − pad, j·s + q·d − pad] += Σ_o
    W[o, c, p, q] y[n, o, i, j] (+ b[c]); the gradient of conv2d with respect to its input.

    Example::

        up = F.conv_transpose2d(chainrule.randn(1, 8, 7, 7), chainrule.randn(8, 4, 2, 2),
                                stride=2)        # shape (1, 4, 14, 14)
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, "conv_transpose2d")


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOr = 1, padding: IntOr = 0, output_padding: IntOr = 0,
                     groups: int = 1, dilation: IntOr = 1) -> Tensor:
    """3-D transposed convolution, the same formula over three spatial dims."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, "conv_transpose3d")


def unfold(input: Tensor, kernel_size: IntOr, dilation: IntOr = 1, padding: IntOr = 0,
           stride: IntOr = 1) -> Tensor:
    """Extract sliding local blocks: (N, C, *S) -> (N, C·prod(kernel), L), L = number of
    block positions; out[n, (c, k), l] = x_pad[n, c, pos(l)·stride + k·dilation]."""
    n = input.ndim - 2
    if n < 1:
        raise RuntimeError(f"unfold: expected a batched (N, C, *spatial) input, got "
                           f"{list(input.shape)}")
    ks = _ntuple(kernel_size, n, "kernel_size")
    pd = _ntuple(padding, n, "padding")
    return apply(C.Unfold, input, ksize=ks, stride=_ntuple(stride, n, "stride"),
                 pads=tuple((p, p) for p in pd), dilation=_ntuple(dilation, n, "dilation"))


def fold(input: Tensor, output_size: IntOr, kernel_size: IntOr, dilation: IntOr = 1,
         padding: IntOr = 0, stride: IntOr = 1) -> Tensor:
    """Sum sliding local blocks into an array: (N, C·prod(kernel), L) -> (N, C, *output_size),
    the adjoint of ``unfold`` (overlapping entries add up)."""
    n = 2 if isinstance(output_size, int) else len(tuple(output_size))
    size = _ntuple(output_size, n, "output_size")
    pd = _ntuple(padding, n, "padding")
    return apply(C.Fold, input, size=size, ksize=_ntuple(kernel_size, n, "kernel_size"),
                 stride=_ntuple(stride, n, "stride"), pads=tuple((p, p) for p in pd),
                 dilation=_ntuple(dilation, n, "dilation"))
