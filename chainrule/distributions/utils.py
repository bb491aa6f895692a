"""``torch.distributions.utils``: the probability / logit conversions distributions share.

``logits_to_probs``: softmax over the last dim, or the sigmoid with ``is_binary``;
``probs_to_logits``: log p (categorical), or log p − log(1 − p) (binary), of p clamped to
[eps, 1 − eps] (``clamp_probs``), as PyTorch computes them.
"""

from __future__ import annotations

from chainrule.distributions.discrete import clamp_probs
from chainrule.tensor import Tensor

__all__ = ["clamp_probs", "logits_to_probs", "probs_to_logits"]


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """σ(logits) if ``is_binary`` else softmax(logits, -1)."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """log p − log(1 − p) if ``is_binary`` else log p, of p clamped to [eps, 1 − eps]."""
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()
