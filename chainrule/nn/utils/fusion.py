"""Folding an eval-mode BatchNorm into the convolution or linear layer before it
(``torch.nn.utils.fuse_conv_bn_eval`` and friends).

With s = γ / √(running_var + ε) per output channel, BN(conv(x)) = conv'(x) where
w' = w · s (over the output-channel axis) and b' = (b − running_mean) · s + β.
"""

from __future__ import annotations

import copy
from typing import Any

from chainrule.autograd.engine import no_grad
from chainrule.nn.parameter import Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
           "fuse_linear_bn_weights"]


def _scale(bn_rv: Any, bn_eps: float, bn_w: Any) -> Any:
    scale = (bn_rv + bn_eps).rsqrt()
    return scale if bn_w is None else bn_w * scale


def fuse_conv_bn_weights(conv_w: Any, conv_b: Any, bn_rm: Any, bn_rv: Any, bn_eps: float,
                         bn_w: Any, bn_b: Any, transpose: bool = False
                         ) -> tuple[Parameter, Parameter]:
    """(w', b') of the module docstring; ``transpose``: the weight of a transposed
    convolution, whose output channels are its axis 1."""
    with no_grad():
        conv_b = conv_b if conv_b is not None else bn_rm.new_zeros(bn_rm.shape)
        bn_b = bn_b if bn_b is not None else bn_rm.new_zeros(bn_rm.shape)
        scale = _scale(bn_rv, bn_eps, bn_w)
        shape = [1] * conv_w.ndim
        shape[1 if transpose else 0] = -1
        w = conv_w * scale.reshape(shape).to(conv_w.dtype)
        b = ((conv_b - bn_rm) * scale + bn_b).to(conv_w.dtype)
    return Parameter(w, conv_w.requires_grad), Parameter(b, conv_b.requires_grad)


def fuse_conv_bn_eval(conv: Any, bn: Any, transpose: bool = False) -> Any:
    """A copy of ``conv`` computing ``bn(conv(x))`` (both must be in eval mode)."""
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused = copy.deepcopy(conv)
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("BatchNorm without running statistics cannot be fused")
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose)
    return fused


def fuse_linear_bn_weights(linear_w: Any, linear_b: Any, bn_rm: Any, bn_rv: Any,
                           bn_eps: float, bn_w: Any, bn_b: Any
                           ) -> tuple[Parameter, Parameter]:
    """(w', b') for a linear layer (output features on axis 0)."""
    return fuse_conv_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b)


def fuse_linear_bn_eval(linear: Any, bn: Any) -> Any:
    """A copy of ``linear`` computing ``bn(linear(x))`` (both in eval mode)."""
    if linear.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if linear.out_features != bn.num_features:
        raise AssertionError("To fuse, linear.out_features must equal bn.num_features")
    return fuse_conv_bn_eval(linear, bn)
