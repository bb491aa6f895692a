"""What kind of layer a module is: by its class-name family, its parameters, or its outputs.

The diagnostics must work on any model, including user-defined modules, so they do not rely on
``isinstance`` chains. :func:`layer_kind` looks at the names in the class's MRO (``ReLU``,
``MyReLU(ReLU)``, ``LeakyReLU``...), then at the parameters and buffers (a 2-D ``weight`` is a
linear map, ``running_mean``/``running_var`` is a batch norm). :func:`infer_activation` identifies
a parameter-free elementwise module from what it did: out == relu(in), out == sigmoid(in), ...
and, failing that, from the range of its outputs.
"""

from __future__ import annotations

from typing import Any

from chainrule.backend import xp

__all__ = [
    "RECTIFIERS", "SATURATING", "ASYMPTOTES", "ZERO_CENTRED", "layer_kind", "infer_activation",
    "is_batchnorm", "is_dropout", "is_activation",
]

# Rectifier family: a unit can be exactly zero on every example (dead). Members whose negative
# side is not zero (LeakyReLU, ELU...) are kept so that their dead fraction is measured (≈ 0).
RECTIFIERS = (
    "relu", "relu6", "leakyrelu", "prelu", "rrelu", "elu", "selu", "celu", "gelu", "silu",
    "mish", "softplus", "hardswish", "threshold",
)
# Saturating activations and their asymptotes (lower, upper).
ASYMPTOTES: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0), "hardsigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0),
    "hardtanh": (-1.0, 1.0), "softsign": (-1.0, 1.0),
}
SATURATING = tuple(ASYMPTOTES)
# Activations whose outputs are centred at 0 (LeCun et al. 1998; Glorot & Bengio 2010).
ZERO_CENTRED = ("tanh", "hardtanh", "softsign", "identity")

_NAME_KINDS: dict[str, str] = {
    **{k: k for k in RECTIFIERS}, **{k: k for k in SATURATING},
    "identity": "identity", "softmax": "softmax", "logsoftmax": "softmax",
    "dropout": "dropout", "dropout1d": "dropout", "dropout2d": "dropout",
    "dropout3d": "dropout", "alphadropout": "dropout", "featurealphadropout": "dropout",
    "dropconnect": "dropout", "dropconnectlinear": "dropout",
    "batchnorm1d": "batchnorm", "batchnorm2d": "batchnorm", "batchnorm3d": "batchnorm",
    "layernorm": "norm", "groupnorm": "norm", "instancenorm1d": "norm", "instancenorm2d": "norm",
    "rmsnorm": "norm", "embedding": "embedding", "embeddingbag": "embedding",
    "rnn": "recurrent", "lstm": "recurrent", "gru": "recurrent", "rnncell": "recurrent",
    "lstmcell": "recurrent", "grucell": "recurrent",
    "linear": "linear", "bilinear": "linear", "lazylinear": "linear",
    "conv1d": "conv", "conv2d": "conv", "conv3d": "conv", "convtranspose1d": "conv",
    "convtranspose2d": "conv", "flatten": "shape", "unflatten": "shape",
    "maxpool1d": "pool", "maxpool2d": "pool", "avgpool1d": "pool", "avgpool2d": "pool",
    "adaptiveavgpool1d": "pool", "adaptiveavgpool2d": "pool",
}
_ACTIVATIONS = set(RECTIFIERS) | set(SATURATING) | {"identity"}


def is_activation(kind: str) -> bool:
    """True for elementwise activation kinds (rectifiers, saturating, identity)."""
    return kind in _ACTIVATIONS


def is_batchnorm(module: Any) -> bool:
    """A module keeping running statistics (BatchNorm family, by its buffers or its name)."""
    bufs = getattr(module, "_buffers", {})
    if bufs.get("running_mean") is not None and bufs.get("running_var") is not None:
        return True
    return any("batchnorm" in c.__name__.lower() for c in type(module).__mro__)


def is_dropout(module: Any) -> bool:
    """A module whose training-mode output is random (dropout family, by class name)."""
    return any("drop" in c.__name__.lower() for c in type(module).__mro__)


def layer_kind(module: Any) -> str:
    """The kind of ``module``: an activation name ('relu', 'sigmoid'...), 'linear', 'conv',
    'batchnorm', 'norm', 'dropout', 'recurrent', 'embedding', 'container' or 'other'."""
    for cls in type(module).__mro__:
        kind = _NAME_KINDS.get(cls.__name__.lower())
        if kind is not None:
            return kind
    if is_batchnorm(module):
        return "batchnorm"
    if is_dropout(module):
        return "dropout"
    w = getattr(module, "_parameters", {}).get("weight")
    if w is not None:
        return "linear" if w.ndim == 2 else ("conv" if w.ndim >= 3 else "other")
    if getattr(module, "_modules", None):
        return "container"
    return "other"


def infer_activation(x: Any, out: Any, rtol: float = 1e-5) -> str:
    """Identify an elementwise activation from one input/output pair (arrays).

    First by identity (``out == relu(x)``, ``sigmoid(x)``, ``tanh(x)``, a leaky slope), then by
    the range of the outputs ('sigmoid' for values inside [0, 1] with some strictly inside,
    'tanh' for [-1, 1] with negatives, 'relu' for non-negative outputs with exact zeros);
    'other' when neither fits.
    """
    if x is None or getattr(x, "shape", None) != getattr(out, "shape", None) or out.size == 0:
        return "other"
    x64 = x.astype(xp.float64)
    o64 = out.astype(xp.float64)
    atol = 1e-6 * max(1.0, float(xp.max(xp.abs(o64))))
    if xp.allclose(o64, xp.maximum(x64, 0.0), rtol=rtol, atol=atol):
        return "relu"
    if xp.allclose(o64, 1.0 / (1.0 + xp.exp(-xp.clip(x64, -500, 500))), rtol=rtol, atol=atol):
        return "sigmoid"
    if xp.allclose(o64, xp.tanh(x64), rtol=rtol, atol=atol):
        return "tanh"
    neg = x64 < 0
    if neg.any() and xp.allclose(o64[~neg], x64[~neg], rtol=rtol, atol=atol):
        slope = o64[neg] / x64[neg]
        if slope.size and xp.allclose(slope, slope.flat[0], rtol=1e-4, atol=1e-8):
            return "leakyrelu"
    lo, hi = float(o64.min()), float(o64.max())
    if lo >= 0.0 and hi <= 1.0 and ((o64 > 0) & (o64 < 1)).any() and not (o64 == 0).any():
        return "sigmoid"
    if lo >= -1.0 and hi <= 1.0 and lo < 0.0:
        return "tanh"
    if lo >= 0.0 and (o64 == 0).any():
        return "relu"
    return "other"
