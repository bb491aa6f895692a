"""nn modules: the dropout family and DropConnect.

Each layer owns a ``chainrule.Generator``: the one passed as ``generator=``, or else one spawned
from ``chainrule.random.default_generator`` when the layer is built, so ``manual_seed`` before
building a model makes its masks reproducible, and the masks do not shift other random streams.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import random as _random
from chainrule.nn._functional import conv as FC
from chainrule.nn._functional import dropout as F
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor, _wrap

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
           "FeatureAlphaDropout", "DropConnect"]


class _DropoutNd(Module):
    _fn = staticmethod(F.dropout)

    def __init__(self, p: float = 0.5, inplace: bool = False,
                 generator: _random.Generator | None = None) -> None:
        super().__init__()
        F._check_p(p)
        self.p = p
        self.inplace = inplace
        self.generator = generator if generator is not None else \
            _random.default_generator.spawn()

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, self.p, self.training, self.inplace, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Drops individual units (Srivastava et al. 2014, "Dropout: a simple way to prevent
    neural networks from overfitting"). Training: y = x ⊙ m / (1 − p), m ~ Bernoulli(1 − p)
    per element (inverted dropout, so E[y] = x); eval: y = x.

    Example::

        drop = nn.Dropout(p=0.25, generator=chainrule.Generator().manual_seed(0))
        y = drop(chainrule.ones(8, 16))      # entries 0 or 4/3
        drop.eval(); drop(chainrule.ones(2)) # identity
    """

    _fn = staticmethod(F.dropout)


class Dropout1d(_DropoutNd):
    """Drops whole channels x[n, c, :] of (N, C, L) inputs (the 1-D form of Tompson et al.
    2015's spatial dropout); kept channels are scaled by 1/(1 − p).

    Example::

        y = nn.Dropout1d(0.5)(chainrule.randn(4, 8, 20))
    """

    _fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Drops whole feature maps x[n, c, :, :] (Tompson et al. 2015, "Efficient object
    localization using convolutional networks", SpatialDropout): neighbouring pixels are
    correlated, so element-wise dropout barely regularises conv layers. Kept maps are scaled by
    1/(1 − p).

    Example::

        y = nn.Dropout2d(0.2)(chainrule.randn(4, 16, 8, 8))
    """

    _fn = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Drops whole volumes x[n, c, :, :, :] of (N, C, D, H, W) inputs (3-D spatial dropout).

    Example::

        y = nn.Dropout3d(0.2)(chainrule.randn(2, 4, 3, 3, 3))
    """

    _fn = staticmethod(F.dropout3d)


class AlphaDropout(_DropoutNd):
    """Alpha dropout for self-normalising (SELU) networks (Klambauer et al. 2017,
    "Self-normalizing neural networks"): dropped units take SELU's saturation value −α' and an
    affine correction a·x + b keeps the activations' mean 0 and variance 1.

    Example::

        y = nn.AlphaDropout(0.1)(chainrule.randn(32, 64))
    """

    _fn = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels (one mask entry per sample and channel), for SELU CNNs.

    Example::

        y = nn.FeatureAlphaDropout(0.1)(chainrule.randn(4, 8, 5, 5))
    """

    _fn = staticmethod(F.feature_alpha_dropout)


class DropConnect(Module):
    """DropConnect (Wan et al. 2013, "Regularization of neural networks using DropConnect"):
    drops *weights* of the wrapped ``Linear`` / ``Conv*`` layer instead of activations.

    Training: y = f(x; W ⊙ M / (1 − p), b) with M ~ Bernoulli(1 − p) of W's shape, one mask per
    batch, or one per example with ``per_example=True`` (a batched GEMM for Linear, a grouped
    convolution for Conv). The 1/(1 − p) scaling makes E[W ⊙ M / (1 − p)] = W, so:

    * ``inference="mean"``: y = f(x; W, b), the paper's mean-network approximation;
    * ``inference="gaussian"``: the paper's moment matching. Each pre-activation u is a sum of
      many independent terms, so u ≈ N(μ, σ²) with μ = f(x; W, b) and
      σ² = p/(1 − p) · f(x²; W², 0); ``n_samples`` draws of u are passed through
      ``activation`` and averaged, y ≈ E[a(u)]. Without an activation E[u] = μ and sampling only
      adds noise, so give the nonlinearity that follows the layer as ``activation`` (it is then
      applied in every mode).

    The bias is never dropped. ``state_dict`` keys are the wrapped layer's under ``module.``.

    Example::

        layer = nn.DropConnect(nn.Linear(20, 10), p=0.5, inference="gaussian",
                               activation=nn.ReLU(), n_samples=100)
        y = layer(chainrule.randn(8, 20))
    """

    def __init__(self, module: Module, p: float = 0.5, per_example: bool = False,
                 inference: str = "mean", n_samples: int = 64,
                 activation: Module | Callable[[Tensor], Tensor] | None = None,
                 generator: _random.Generator | None = None) -> None:
        super().__init__()
        F._check_p(p)
        if p == 1.0:
            raise ValueError("DropConnect: p must be < 1 (every weight would be dropped)")
        if inference not in ("mean", "gaussian"):
            raise ValueError(f"DropConnect: inference must be 'mean' or 'gaussian', got "
                             f"{inference!r}")
        weight = getattr(module, "weight", None)
        if weight is None or not (hasattr(module, "_conv_forward") or weight.ndim == 2):
            raise TypeError(f"DropConnect wraps a Linear or Conv layer (with a weight), got "
                            f"{type(module).__name__}")
        self.module = module
        self.p = p
        self.per_example = per_example
        self.inference = inference
        self.n_samples = int(n_samples)
        self.activation = activation
        self.generator = generator if generator is not None else \
            _random.default_generator.spawn()

    # ---- the wrapped layer with a substituted weight --------------------------------------
    def _layer(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        m = self.module
        if hasattr(m, "_conv_forward"):
            return m._conv_forward(x, weight, bias)
        out = x @ weight.mT
        return out + bias if bias is not None else out

    def _per_example(self, x: Tensor, weight: Tensor) -> Tensor:
        """y_n = f(x_n; W_n, b) with ``weight`` (N, *W.shape), in one batched call."""
        m, n = self.module, x.shape[0]
        bias = m.bias
        if not hasattr(m, "_conv_forward"):  # Linear: (N, *, in) @ (N, in, out)
            xs = x.reshape(n, -1, x.shape[-1])
            out = (xs @ weight.mT).reshape(*x.shape[:-1], weight.shape[1])
            return out + bias if bias is not None else out
        # Conv: the examples become groups of one grouped convolution
        nd = x.ndim - 2
        if m.padding_mode != "zeros":
            x = FC.pad(x, m._reversed_padding_repeated_twice, mode=m.padding_mode)
            padding: Any = 0
        else:
            padding = m.padding
        xg = x.reshape(1, n * x.shape[1], *x.shape[2:])
        wg = weight.reshape(n * weight.shape[1], *weight.shape[2:])  # W_n stacked on dim 0
        bg = bias.unsqueeze(0).expand(n, -1).reshape(-1) if bias is not None else None
        groups = n * m.groups
        if m.transposed:
            fn = (FC.conv_transpose1d, FC.conv_transpose2d, FC.conv_transpose3d)[nd - 1]
            out = fn(xg, wg, bg, m.stride, m.padding, m.output_padding, groups, m.dilation)
        else:
            fn = (FC.conv1d, FC.conv2d, FC.conv3d)[nd - 1]
            out = fn(xg, wg, bg, m.stride, padding, m.dilation, groups)
        return out.reshape(n, -1, *out.shape[2:])

    def _act(self, u: Tensor) -> Tensor:
        return self.activation(u) if self.activation is not None else u

    def forward(self, input: Tensor) -> Tensor:
        w, b = self.module.weight, self.module.bias
        if self.training and self.p > 0:
            rng = _random.rng(self.generator)
            if self.per_example:
                shape = (input.shape[0], *w.shape)
                keep = (rng.random(shape) >= self.p).astype(w.dtype) / (1.0 - self.p)
                wn = w.unsqueeze(0) * _wrap(keep)  # W_n = W ⊙ M_n / (1 − p)
                return self._act(self._per_example(input, wn))
            keep = (rng.random(w.shape) >= self.p).astype(w.dtype) / (1.0 - self.p)
            return self._act(self._layer(input, w * _wrap(keep), b))
        if self.inference == "mean" or self.training:
            return self._act(self._layer(input, w, b))
        return self._gaussian(input, w, b)

    def _gaussian(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        """E[a(u)] with u ~ N(μ, σ²) matched to the masked pre-activation's moments."""
        mu = self._layer(x, w, b)
        var = self._layer(x * x, w * w, None) * (self.p / (1.0 - self.p))
        sigma = var.clamp(min=0.0).sqrt()
        eps = _random.rng(self.generator).standard_normal((self.n_samples, *mu.shape))
        u = mu.unsqueeze(0) + sigma.unsqueeze(0) * _wrap(eps.astype(mu.dtype))
        return self._act(u).mean(0)

    def extra_repr(self) -> str:
        s = f"p={self.p}, per_example={self.per_example}, inference={self.inference!r}"
        if self.inference == "gaussian":
            s += f", n_samples={self.n_samples}"
        return s
