"""nn modules: activations and softmax (their maths is in ``nn.functional``).

Example::

    act = nn.LeakyReLU(0.1)
    act(chainrule.tensor([-1.0, 2.0]))      # tensor([-0.1, 2.])
"""

from __future__ import annotations

from typing import Any

from chainrule.nn import init
from chainrule.nn._functional import activation as F
from chainrule.nn.modules.linear import _param
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor

__all__ = [
    "Sigmoid", "Tanh", "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
    "Mish", "Softplus", "Softsign", "Hardtanh", "Hardsigmoid", "Hardswish", "Threshold", "PReLU",
    "LogSigmoid", "Softmax", "Softmin", "LogSoftmax", "GLU", "Tanhshrink",
]


def _inplace_repr(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e⁻ˣ).

    Example::

        nn.Sigmoid()(chainrule.zeros(2))          # tensor([0.5, 0.5])
    """

    def forward(self, input: Tensor) -> Tensor:
        return input.sigmoid()


class Tanh(Module):
    """tanh x.

    Example::

        nn.Tanh()(chainrule.zeros(2))             # tensor([0., 0.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return input.tanh()


class ReLU(Module):
    """max(x, 0). The derivative at x = 0 is taken as 0, as in PyTorch.

    Example::

        nn.ReLU()(chainrule.tensor([-1.0, 0.0, 2.0]))    # tensor([0., 0., 2.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope · x (derivative at 0: negative_slope).

    Example::

        nn.LeakyReLU(0.1)(chainrule.tensor([-1.0, 2.0]))   # tensor([-0.1, 2.])
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return _join(f"negative_slope={self.negative_slope}", _inplace_repr(self.inplace))


class ELU(Module):
    """x if x > 0 else alpha (eˣ - 1)  (Clevert et al. 2015).

    Example::

        nn.ELU()(chainrule.tensor([-1.0, 2.0]))          # tensor([-0.6321, 2.])
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return _join(f"alpha={self.alpha}", _inplace_repr(self.inplace))


class CELU(ELU):
    """max(0, x) + min(0, alpha (e^(x/alpha) - 1)).

    Example::

        nn.CELU(alpha=2.0)(chainrule.tensor([-1.0, 2.0]))
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha, self.inplace)


class SELU(Module):
    """scale · elu(x, alpha) with alpha ≈ 1.6733, scale ≈ 1.0507 (self-normalising nets).

    Example::

        nn.SELU()(chainrule.randn(4))
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.selu(input, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class GELU(Module):
    """x Φ(x) (exact, with erf) or its tanh approximation (``approximate='tanh'``).

    Example::

        nn.GELU(approximate='tanh')(chainrule.randn(4))
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(
                f"approximate argument must be either none or tanh, got {approximate!r}"
            )
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x σ(x) (swish).

    Example::

        nn.SiLU()(chainrule.randn(4))
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Mish(SiLU):
    """x tanh(softplus(x)).

    Example::

        nn.Mish()(chainrule.randn(4))
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.mish(input, self.inplace)


class Hardsigmoid(SiLU):
    """relu6(x + 3) / 6.

    Example::

        nn.Hardsigmoid()(chainrule.tensor([-4.0, 0.0, 4.0]))   # tensor([0., 0.5, 1.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.hardsigmoid(input, self.inplace)

    def extra_repr(self) -> str:
        return ""


class Hardswish(Hardsigmoid):
    """x relu6(x + 3) / 6.

    Example::

        nn.Hardswish()(chainrule.tensor([-4.0, 0.0, 4.0]))    # tensor([0., 0., 4.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.hardswish(input, self.inplace)


class Softplus(Module):
    """(1/beta) log(1 + e^(beta x)), reverting to x where beta x > threshold.

    Example::

        nn.Softplus(beta=2.0)(chainrule.randn(4))
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softsign(Module):
    """x / (1 + |x|).

    Example::

        nn.Softsign()(chainrule.tensor([1.0]))                 # tensor([0.5])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)


class Hardtanh(Module):
    """clip(x, min_val, max_val); zero gradient at and beyond the bounds.

    Example::

        nn.Hardtanh(-2.0, 2.0)(chainrule.tensor([-3.0, 1.0]))    # tensor([-2., 1.])
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        self.min_val = min_val if min_value is None else min_value
        self.max_val = max_val if max_value is None else max_value
        if self.max_val <= self.min_val:
            raise ValueError(
                f"Hardtanh: max_val ({self.max_val}) must be greater than min_val "
                f"({self.min_val})"
            )
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return _join(f"min_val={self.min_val}, max_val={self.max_val}",
                     _inplace_repr(self.inplace))


class ReLU6(Hardtanh):
    """min(max(x, 0), 6).

    Example::

        nn.ReLU6()(chainrule.tensor([-1.0, 7.0]))               # tensor([0., 6.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Threshold(Module):
    """x if x > threshold else value.

    Example::

        nn.Threshold(0.5, -1.0)(chainrule.tensor([0.2, 0.8]))   # tensor([-1., 0.8])
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return _join(f"threshold={self.threshold}, value={self.value}",
                     _inplace_repr(self.inplace))


class PReLU(Module):
    """x if x > 0 else a · x with learnt slopes ``a`` (one, or one per channel of dim 1),
    initialised to ``init`` (He et al. 2015).

    Example::

        act = nn.PReLU(num_parameters=16)      # one slope per channel
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = _param((num_parameters,), dtype, device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class LogSigmoid(Module):
    """log σ(x), stable for large |x|.

    Example::

        nn.LogSigmoid()(chainrule.tensor([-100.0]))          # tensor([-100.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Tanhshrink(Module):
    """x - tanh x.

    Example::

        nn.Tanhshrink()(chainrule.randn(4))
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.tanhshrink(input)


class _SoftmaxBase(Module):
    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """eˣ / Σ eˣ along ``dim`` (rows sum to 1).

    Example::

        nn.Softmax(dim=1)(chainrule.randn(2, 3)).sum(1)      # tensor([1., 1.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)


class Softmin(_SoftmaxBase):
    """softmax(-x) along ``dim``.

    Example::

        nn.Softmin(dim=1)(chainrule.randn(2, 3))
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softmin(input, self.dim)


class LogSoftmax(_SoftmaxBase):
    """x - log Σ eˣ along ``dim`` (numerically stable at large logits).

    Example::

        nn.LogSoftmax(dim=1)(chainrule.randn(2, 3))
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)


class GLU(Module):
    """a σ(b) where (a, b) are the halves of the input along ``dim``.

    Example::

        nn.GLU()(chainrule.randn(4, 6)).shape                 # (4, 3)
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def __getattr__(name: str) -> object:
    """``MultiheadAttention`` under PyTorch's path ``nn.modules.activation`` (it lives in
    ``nn.modules.transformer``; imported on first use, which avoids an import cycle)."""
    if name == "MultiheadAttention":
        from chainrule.nn.modules.transformer import MultiheadAttention

        return MultiheadAttention
    if name == "Softmax2d":  # lives in nn.modules.channels
        from chainrule.nn.modules.channels import Softmax2d

        return Softmax2d
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RReLU(Module):
    """Randomized leaky ReLU: slope ~ U(lower, upper) per element in training, the mean slope
    in evaluation (``F.rrelu``); ``generator=`` seeds the draws.

    Example::

        nn.RReLU(0.1, 0.3)(chainrule.randn(4))
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False,
                 generator: Any = None) -> None:
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace
        self.generator = generator

    def forward(self, input: Tensor) -> Tensor:
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace,
                       self.generator)

    def extra_repr(self) -> str:
        return _join(f"lower={self.lower}, upper={self.upper}", _inplace_repr(self.inplace))


class Hardshrink(Module):
    """x if |x| > lambd else 0.

    Example::

        nn.Hardshrink(0.5)(chainrule.tensor([-1.0, 0.2]))   # tensor([-1., 0.])
    """

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """x ∓ lambd outside [−lambd, lambd], 0 inside.

    Example::

        nn.Softshrink(0.5)(chainrule.tensor([-1.0, 0.2]))   # tensor([-0.5, 0.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softshrink(input, self.lambd)


__all__ += ["RReLU", "Hardshrink", "Softshrink"]
