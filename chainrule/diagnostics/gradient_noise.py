"""Per-example gradients and the gradient noise scale (McCandlish et al. 2018).

With per-example gradients gᵢ (i = 1..B) of the loss of one example each, the mean gradient
Ḡ = (1/B) Σ gᵢ estimates the true gradient G, and the per-example covariance Σ has the
unbiased trace estimate

    tr Σ ≈ 1/(B−1) Σᵢ ‖gᵢ − Ḡ‖².

Since E‖Ḡ‖² = ‖G‖² + tr Σ / B, the unbiased estimate of ‖G‖² is ‖Ḡ‖² − tr Σ / B. The *simple
noise scale* ``B_noise = tr Σ / ‖G‖²`` ("An Empirical Model of Large-Batch Training",
McCandlish, Kaplan, Amodei et al., 2018, eq. 2.7) is the batch size at which the gradient's
noise and signal are equal: batches much smaller than it waste steps on noise, much larger
ones waste examples. These are the paper's two-batch-size estimators with B_small = 1 and
B_big = B.

The per-example gradients come from :func:`chainrule.func.vmap` over
:func:`chainrule.func.grad` of the model's loss on one example (the same recipe as PyTorch's
per-sample-gradients tutorial), so the model's parameters and ``.grad`` are left untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.func import functional_call, grad, vmap

__all__ = ["per_example_grads", "per_example_grad_norms", "gradient_noise_scale", "NoiseScale"]


def per_example_grads(model: Any, loss_fn: Callable, x: Any, y: Any) -> dict[str, Any]:
    """``{name: tensor of shape (B, *param.shape)}``: the gradient of
    ``loss_fn(model(x[i:i+1]), y[i:i+1])`` for every example ``i``.

    The model runs in its current mode (call ``model.eval()`` first for BatchNorm: in training
    mode a batch of one has no batch statistics, as in PyTorch).
    """
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss_of_one(p: dict, b: dict, xi: Any, yi: Any) -> Any:
        out = functional_call(model, (p, b), (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    return vmap(grad(loss_of_one), in_dims=(None, None, 0, 0))(params, buffers, x, y)


def _flat(grads: dict[str, Any]) -> np.ndarray:
    """(B, P): every example's gradient as one row (parameters in definition order)."""
    return np.concatenate([g.detach().numpy().reshape(g.shape[0], -1) for g in grads.values()],
                          axis=1)


def per_example_grad_norms(model: Any, loss_fn: Callable, x: Any, y: Any) -> Any:
    """‖gᵢ‖₂ over all trainable parameters, one per example (a float64 tensor of shape (B,))."""
    from chainrule.tensor import from_numpy

    g = _flat(per_example_grads(model, loss_fn, x, y)).astype(np.float64)
    return from_numpy(np.linalg.norm(g, axis=1))


@dataclass(frozen=True)
class NoiseScale:
    """The estimates behind ``b_noise = trace_cov / grad_sq_norm``."""

    b_noise: float  #: tr Σ / ‖G‖² (inf when the signal estimate is not positive)
    trace_cov: float  #: unbiased tr Σ of the per-example gradients
    grad_sq_norm: float  #: unbiased ‖G‖² = ‖Ḡ‖² − tr Σ / B
    mean_grad_sq_norm: float  #: ‖Ḡ‖² of the batch-mean gradient (biased upward by tr Σ / B)
    batch_size: int


def gradient_noise_scale(model: Any, loss_fn: Callable, x: Any, y: Any) -> NoiseScale:
    """The simple gradient noise scale ``B_noise = tr Σ / ‖G‖²`` from one batch (B ≥ 2).

    ``loss_fn(output, target)`` must be the *mean* loss (PyTorch's default reduction), so that
    the batch gradient is the mean of the per-example ones.

    Example::

        ns = gradient_noise_scale(model, F.cross_entropy, xb, yb)
        ns.b_noise        # ≈ the batch size where noise and signal balance
    """
    b = int(x.shape[0])
    if b < 2:
        raise ValueError(f"gradient_noise_scale needs at least 2 examples to estimate the "
                         f"covariance, got a batch of {b}")
    g = _flat(per_example_grads(model, loss_fn, x, y)).astype(np.float64)
    mean = g.mean(axis=0)
    trace_cov = float(((g - mean) ** 2).sum() / (b - 1))
    mean_sq = float(mean @ mean)
    signal = mean_sq - trace_cov / b
    b_noise = trace_cov / signal if signal > 0 else float("inf")
    return NoiseScale(b_noise, trace_cov, signal, mean_sq, b)
