"""nn.functional: activations and softmax, as composites of primitives.

Derivatives at kinks follow PyTorch: relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha,
hardtanh/relu6 have zero gradient at (and beyond) their clip points, threshold'(t) = 0.
``inplace=True`` overwrites the input's array when no graph is recorded and otherwise makes the
input tensor hold the result (a leaf that requires grad is refused, as in PyTorch).
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable
from typing import Any

from chainrule.autograd.engine import Function, _GradMode, no_grad
from chainrule.backend import xp
from chainrule.ops import elementwise as E
from chainrule.ops import reduce as R
from chainrule.tensor import Tensor, _wrap, apply, where

__all__ = [
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "gelu",
    "silu", "mish", "softplus", "softsign", "hardtanh", "hardtanh_", "hardsigmoid", "hardswish",
    "threshold", "threshold_", "prelu", "sigmoid", "tanh", "logsigmoid", "softmax", "softmin",
    "log_softmax", "glu", "tanhshrink",
]


class LogSigmoid(Function):
    """out = log σ(x) = min(x, 0) - log(1 + e^(-|x|));  dx = g σ(-x).

    # NOTE: a primitive for stability: exact for large |x| in both directions and smooth at 0.
    """

    saves = ("x",)

    def forward(self, x: Any) -> Any:
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    def vjp(self, g: Any, F: Any) -> tuple:
        (x,) = F.inputs(self)
        return (g * F.apply(E.Sigmoid, -x),)


def _erf_op() -> type[Function]:
    # the primitive is ``ops.special.Erf``, imported on first use: ``ops.special`` imports
    # scipy.special (~0.25 s), which ``import chainrule.nn`` should not pay
    from chainrule.ops.special import Erf

    return Erf


def erf(input: Tensor) -> Tensor:
    """The error function erf(x)."""
    return apply(_erf_op(), input)


def _inplace(input: Tensor, fn: Callable[[Tensor], Tensor], inplace: bool) -> Tensor:
    """``fn(input)``; with ``inplace`` the input tensor is made to hold the result."""
    if not inplace:
        return fn(input)
    if _GradMode.enabled and input.requires_grad:
        if input.grad_fn is None:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation "
                f"(activation on a tensor of shape {tuple(input.shape)})."
            )
        old = _wrap(input._array, True, input.grad_fn)  # a snapshot: the graph reads the old value
        res = fn(old)
        input._array, input.grad_fn = res._array, res.grad_fn
        input._bump_version()
        node = res.grad_fn
        if node is not None and node._save_out:  # the node must see the rebound tensor
            node.out_ref = weakref.ref(input)
            node.out_version = input._current_version()
        return input
    with no_grad():
        res = fn(input)
    input._write(res._array)
    return input


def _clip_no_edge_grad(x: Tensor, lo: float, hi: float) -> Tensor:
    """clamp(x, lo, hi) whose gradient is 1 strictly inside (lo, hi) and 0 elsewhere."""
    inside = (x._array > lo) & (x._array < hi)
    return apply(E.Where, inside, x, xp.clip(x._array, lo, hi))


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); the derivative at 0 is taken as 0 (as in PyTorch)."""
    return _inplace(input, Tensor.relu, inplace)


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6) (= hardtanh(x, 0, 6); zero gradient at 0 and 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """clip(x, min_val, max_val); gradient 1 strictly inside, 0 at and beyond the bounds."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _inplace(input, lambda x: _clip_no_edge_grad(x, min_val, max_val), inplace)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope · x."""
    return _inplace(input, lambda x: where(x._array > 0, x, x * negative_slope), inplace)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def _elu(x: Tensor, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> Tensor:
    # expm1 of min(x, 0): the unused branch stays finite, so its zero gradient is not 0·inf
    neg = (x.clamp(max=0.0) * input_scale).expm1() * alpha
    out = where(x._array > 0, x, neg)
    return out * scale if scale != 1.0 else out


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha (eˣ - 1)  (Clevert et al. 2015)."""
    return _inplace(input, lambda x: _elu(x, alpha), inplace)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale · elu(x, alpha) with PyTorch's constants (Klambauer et al. 2017)."""
    return _inplace(input, lambda x: _elu(x, _SELU_ALPHA, _SELU_SCALE), inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha (e^(x/alpha) - 1))."""
    return _inplace(input, lambda x: _elu(x, alpha, 1.0, 1.0 / alpha), inplace)


def _threshold(x: Tensor, th: float, value: float) -> Tensor:
    return where(x._array > th, x, float(value))


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x if x > threshold else value."""
    return _inplace(input, lambda x: _threshold(x, threshold, value), inplace)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _inplace(input, lambda x: _threshold(x, threshold, value), True)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x Φ(x) = x (1 + erf(x/√2)) / 2, or with ``approximate='tanh'``
    x (1 + tanh(√(2/π) (x + 0.044715 x³))) / 2  (Hendrycks & Gimpel 2016)."""
    if approximate == "none":
        return input * (apply(_erf_op(), input * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * (inner.tanh() + 1.0) * 0.5
    raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x σ(x) (swish; Elfwing et al. 2017)."""
    return _inplace(input, lambda x: x * x.sigmoid(), inplace)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/beta) log(1 + e^(beta x)), and x where beta x > threshold (for stability)."""
    bx = input * beta if beta != 1.0 else input
    soft = bx.clamp(max=threshold).exp().log1p()
    if beta != 1.0:
        soft = soft * (1.0 / beta)
    return where(bx._array > threshold, input, soft)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x tanh(softplus(x))  (Misra 2019)."""
    return _inplace(input, lambda x: x * softplus(x).tanh(), inplace)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (input.abs() + 1.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6; gradient 1/6 strictly inside (-3, 3)."""
    return _inplace(input, lambda x: _clip_no_edge_grad(x + 3.0, 0.0, 6.0) * (1.0 / 6.0),
                    inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x relu6(x + 3) / 6  (Howard et al. 2019); derivative (2x + 3)/6 strictly inside
    (-3, 3), 0 at -3 and 1 at 3 (PyTorch's convention)."""
    def fn(x: Tensor) -> Tensor:
        mid = x * (x + 3.0) * (1.0 / 6.0)
        return where(x._array <= -3.0, 0.0, where(x._array < 3.0, mid, x))

    return _inplace(input, fn, inplace)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x if x > 0 else a · x, with one learnt slope ``a`` per channel (dim 1) or one shared."""
    if weight.numel() != 1:
        if input.ndim < 2 or input.shape[1] != weight.numel():
            raise RuntimeError(
                f"prelu: weight has {weight.numel()} slopes but the input {tuple(input.shape)} "
                f"has {input.shape[1] if input.ndim >= 2 else 1} channels (dim 1)"
            )
        weight = weight.reshape((-1,) + (1,) * (input.ndim - 2))
    elif weight.ndim:
        weight = weight.reshape(())
    return where(input._array > 0, input, input * weight)


def sigmoid(input: Tensor) -> Tensor:
    """σ(x) = 1 / (1 + e⁻ˣ)."""
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    """tanh x."""
    return input.tanh()


def logsigmoid(input: Tensor) -> Tensor:
    """log σ(x), stable for large |x|."""
    return apply(LogSigmoid, input)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh x."""
    return input - input.tanh()


def _softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _cast(input: Tensor, dtype: Any) -> Tensor:
    return input if dtype is None else input.to(dtype)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """eˣ / Σ eˣ along ``dim`` (computed as exp(log_softmax), stable at large logits)."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim)
    return apply(R.LogSoftmax, _cast(input, dtype), dim=dim).exp()


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """softmax(-x) along ``dim``."""
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim)
    return softmax(-_cast(input, dtype), dim)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None) -> Tensor:
    """x - log Σ eˣ along ``dim`` (one fused, max-shifted primitive)."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim)
    return apply(R.LogSoftmax, _cast(input, dtype), dim=dim)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a σ(b) where (a, b) are the two halves of ``input`` along ``dim`` (Dauphin et al. 2017)."""
    n = input.shape[dim]
    if n % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {dim} is size {n} (input shape "
            f"{tuple(input.shape)})"
        )
    a, b = input.split(n // 2, dim)
    return a * b.sigmoid()


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x if |x| > lambd else 0 (gradient 1 outside [−lambd, lambd], 0 inside)."""
    return where(xp.abs(input._array) > lambd, input, 0.0)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x − lambd if x > lambd, x + lambd if x < −lambd, else 0 (soft thresholding)."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    x = input._array
    return where(x > lambd, input - lambd, where(x < -lambd, input + lambd, 0.0))


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False, generator: Any = None) -> Tensor:
    """Randomized leaky ReLU (Xu et al. 2015): x if x > 0 else a · x with a ~ U(lower, upper)
    drawn per element in training (``generator``: chainrule's or NumPy's; the draws differ from
    PyTorch's), and a = (lower + upper) / 2 in evaluation (= ``leaky_relu``)."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    from chainrule.random import rng

    a = rng(generator).uniform(lower, upper, size=input.shape).astype(input._array.dtype)
    slope = xp.where(input._array > 0, xp.ones_like(a), a)
    return _inplace(input, lambda x: x * _wrap(slope), inplace)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False, generator: Any = None) -> Tensor:
    return rrelu(input, lower, upper, training, True, generator)


__all__ += ["selu_", "celu_", "hardshrink", "softshrink", "rrelu", "rrelu_"]
