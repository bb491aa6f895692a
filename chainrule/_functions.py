"""The ``chainrule.*`` functions that are not Tensor methods (``cat``, ``stack``, ``where``,
``einsum``, ``tensordot``), and :data:`FUNCTIONS`: the Tensor methods that are also offered as
functions, ``chainrule.exp(x)`` = ``x.exp()`` (made by :func:`_method_function`, installed by
``chainrule/__init__.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule._tensor_methods import _accept_numpy_spellings
from chainrule.autograd.function import record as apply
from chainrule.backend import xp
from chainrule.ops import elementwise as E
from chainrule.ops import index as I
from chainrule.ops import matmul as M
from chainrule.ops import shape as S
from chainrule.tensor import Tensor, _const, _data, _wrap


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    return apply(S.Cat, *tensors, dim=dim)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0].shape
    for k, t in enumerate(tensors):
        if t.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {shape} at entry 0 and "
                f"{t.shape} at entry {k}"
            )
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def where(cond: Any, x: Any = None, y: Any = None) -> Any:
    """``cond ? x : y`` elementwise (with gradients to x and y); ``where(cond)`` = nonzero."""
    if x is None and y is None:
        return _wrap(_data(cond)).nonzero(as_tuple=True)
    c = _data(cond)
    if isinstance(c, xp.ndarray) and c.dtype != bool:
        c = c.astype(bool)  # (a converted copy: later changes to ``cond`` cannot reach it)
    elif isinstance(cond, Tensor):
        c = cond  # recorded as the Tensor, so that Where's version check sees it
    return apply(E.Where, c, _const(x), _const(y))


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``, with PyTorch's forms: an
    ellipsis ``...`` for broadcast leading dimensions, a subscript repeated inside one operand
    (a diagonal: ``"ii->i"``), and the implicit output (no ``->``: the ellipsis dimensions,
    then the subscripts used once, in alphabetical order)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ins, out, ops = _einsum_explicit(equation, operands)
    for k, sub in enumerate(ins):
        ins[k], ops[k] = _einsum_diagonals(sub, ops[k])
    return apply(M.Einsum, *ops, equation=f"{','.join(ins)}->{out}")


def _einsum_explicit(equation: str, operands: Sequence[Any]
                     ) -> tuple[list[str], str, list[Any]]:
    """(one subscript string per operand, output subscripts, operands) with every ``...``
    spelt out in letters the equation does not use; the operands' ellipsis dimensions are
    broadcast against each other (expanded views)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(operands):
        raise ValueError(f"einsum(): {len(ins)} operands in the equation {equation!r}, but "
                         f"{len(operands)} were given")
    if "..." not in eq:
        if not arrow:  # implicit output: the subscripts used once, sorted
            rhs = "".join(sorted(c for c in set(lhs) - {","} if lhs.count(c) == 1))
        return ins, rhs, list(operands)
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in eq]
    widths = [operands[k].ndim - len(sub.replace("...", "")) if "..." in sub else 0
              for k, sub in enumerate(ins)]
    width = max(widths)
    if width > len(free):
        raise ValueError(f"einsum(): too many dimensions under the ellipsis in {equation!r}")
    letters = "".join(free[:width])
    shapes = [tuple(operands[k].shape[sub.index("..."):sub.index("...") + w])
              for k, (sub, w) in enumerate(zip(ins, widths)) if "..." in sub]
    batch = xp.broadcast_shapes(*shapes) if shapes else ()
    ops = list(operands)
    for k, sub in enumerate(ins):
        if "..." not in sub:
            continue
        at, w = sub.index("..."), widths[k]
        x = ops[k]
        shape = tuple(x.shape)
        x = x.reshape(shape[:at] + (1,) * (width - w) + shape[at:])
        ops[k] = x.expand(*(shape[:at] + batch + shape[at + w:]))
        ins[k] = sub.replace("...", letters)
    if arrow:
        return ins, rhs.replace("...", letters), ops
    named = "".join(ins).replace("...", "")
    once = sorted(c for c in set(named) if c not in letters and named.count(c) == 1)
    return ins, letters + "".join(once), ops


def _einsum_diagonals(sub: str, x: Any) -> tuple[str, Any]:
    """Take the diagonal over every subscript repeated inside one operand (``"ii"``): the
    diagonal replaces both axes and goes last, as ``Tensor.diagonal`` puts it."""
    while len(set(sub)) != len(sub):
        c = next(c for c in sub if sub.count(c) > 1)
        i = sub.index(c)
        j = sub.index(c, i + 1)
        x = x.diagonal(0, i, j)
        sub = sub[:i] + sub[i + 1:j] + sub[j + 1:] + c
    return sub, x


def tensordot(a: Tensor, b: Tensor, dims: int = 2) -> Tensor:
    letters = "abcdefghijklmnopqrstuvwxyz"
    na, nb = a.ndim, b.ndim
    sa = letters[:na]
    sb = sa[na - dims :] + letters[na : na + nb - dims]
    return einsum(f"{sa},{sb}->{sa[: na - dims]}{sb[dims:]}", a, b)


def _method_function(name: str) -> Callable:
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = getattr(Tensor, name).__doc__
    return fn


FUNCTIONS = [
    "exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "square", "abs", "sign",
    "sin", "cos", "tan", "tanh", "sigmoid", "relu", "clamp", "clip", "maximum", "minimum",
    "reciprocal", "floor", "ceil", "round", "trunc", "frac", "isnan", "isinf", "isfinite",
    "nan_to_num", "sum", "nansum", "mean", "var", "std", "var_mean", "prod", "cumsum", "cumprod",
    "logsumexp", "amax", "amin", "max", "min", "argmax", "argmin", "argsort", "sort", "topk",
    "norm", "all", "any", "count_nonzero", "nonzero", "unique", "bincount", "reshape", "flatten",
    "unflatten", "squeeze", "unsqueeze", "permute", "transpose", "t", "movedim", "swapaxes",
    "expand_as", "repeat_interleave", "tile", "flip", "fliplr", "flipud", "roll", "narrow",
    "select", "unbind", "split", "chunk", "tril", "triu", "diagonal", "trace", "masked_fill",
    "masked_select", "gather", "take_along_dim", "index_add", "scatter", "scatter_add",
    "index_select", "take", "matmul", "mm",
    "bmm", "mv", "dot", "outer", "add", "sub", "mul", "div", "true_divide", "pow", "remainder",
    "fmod", "neg", "softmax", "log_softmax", "allclose", "isclose", "equal", "logical_not",
    "logical_and", "logical_or", "lerp", "eq", "ne", "lt", "le", "gt", "ge", "numel", "clone",
    "detach", "sum_to",
    "diag", "diag_embed", "index_put",  # (h-gaps)
]


cat = concat = concatenate = _accept_numpy_spellings(cat)
stack = _accept_numpy_spellings(stack)


def _index_add_tensor(g: Tensor, shape: tuple[int, ...], key: Any) -> Tensor:
    """zeros(shape) with g added at ``key`` (repeats accumulate), recorded (``F.index_add`` of
    the Tensor pass)."""
    return apply(I.IndexAdd, g, shape=tuple(shape), key=key)
