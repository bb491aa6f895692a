"""nn modules: losses (their maths, formulas and reductions are in ``nn.functional``).

Class weights and ``pos_weight`` are buffers, so they appear in ``state_dict`` (as in PyTorch)
and follow ``.to(dtype)``.

Example::

    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    loss = loss_fn(logits, labels)          # logits (N, C), labels (N,) int64
"""

from __future__ import annotations

from chainrule.nn._functional import loss as F
from chainrule.nn._functional.distance import triplet_margin_loss
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor

__all__ = [
    "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
    "BCEWithLogitsLoss", "MultiMarginLoss", "KLDivLoss", "CosineEmbeddingLoss",
    "MarginRankingLoss", "SoftMarginLoss", "TripletMarginLoss",
]


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F._legacy_reduction(size_average, reduce, reduction)


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """Mean squared error: l = (x - y)².

    Example::

        nn.MSELoss()(chainrule.tensor([1.0, 2.0]), chainrule.tensor([1.0, 4.0]))  # 2.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error: l = |x - y|.

    Example::

        nn.L1Loss()(chainrule.tensor([1.0, 2.0]), chainrule.tensor([1.0, 4.0]))   # 1.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """l = ½ d² if |d| < delta else delta (|d| - ½ delta).

    Example::

        nn.HuberLoss(delta=0.5)(chainrule.randn(8), chainrule.randn(8))
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """l = ½ d² / beta if |d| < beta else |d| - ½ beta (Huber divided by beta).

    Example::

        nn.SmoothL1Loss(beta=0.5)(chainrule.randn(8), chainrule.randn(8))
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class NLLLoss(_WeightedLoss):
    """l_n = -w_{y_n} x[n, y_n] on log-probabilities (pair it with ``LogSoftmax``).

    Example::

        nn.NLLLoss()(chainrule.randn(4, 3).log_softmax(1), chainrule.tensor([0, 2, 1, 0]))
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """log_softmax + NLL on logits, for class indices or class probabilities, with class
    ``weight``, ``ignore_index`` and ``label_smoothing`` (see ``F.cross_entropy``).

    Example::

        nn.CrossEntropyLoss(label_smoothing=0.1)(chainrule.randn(4, 3),
                                          chainrule.tensor([0, 2, 1, 0]))
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight,
                               ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class BCELoss(_WeightedLoss):
    """l = -w [y log x + (1 - y) log(1 - x)] on probabilities x.

    Example::

        nn.BCELoss()(chainrule.rand(4), chainrule.tensor([0.0, 1.0, 1.0, 0.0]))
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + BCE in one stable expression, with ``pos_weight`` for the positive term.

    Example::

        nn.BCEWithLogitsLoss(pos_weight=chainrule.tensor([3.0]))(
            chainrule.randn(4, 1), chainrule.ones(4, 1))
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  pos_weight=self.pos_weight,
                                                  reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """The multi-class SVM hinge loss Σ_{i≠y} max(0, margin - x_y + x_i)^p / C.

    Example::

        nn.MultiMarginLoss()(chainrule.randn(4, 3), chainrule.tensor([0, 2, 1, 0]))
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                 size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.ndim != 1:
            raise ValueError(
                f"MultiMarginLoss: expected weight to be None or 1D tensor, got "
                f"{weight.ndim}D instead"
            )
        self.p = p
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin,
                                   weight=self.weight, reduction=self.reduction)


class KLDivLoss(_Loss):
    """KL divergence on log-probabilities; use ``reduction='batchmean'`` for the true KL.

    Example::

        nn.KLDivLoss(reduction='batchmean')(chainrule.randn(2, 3).log_softmax(1),
                                          chainrule.full((2, 3), 1 / 3))
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CosineEmbeddingLoss(_Loss):
    """1 - cos(x₁, x₂) for similar pairs (y = 1), max(0, cos - margin) for dissimilar.

    Example::

        nn.CosineEmbeddingLoss()(chainrule.randn(4, 5), chainrule.randn(4, 5),
                                  chainrule.tensor([1.0, -1.0, 1.0, -1.0]))
    """

    def __init__(self, margin: float = 0.0, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)


class MarginRankingLoss(_Loss):
    """max(0, -y (x₁ - x₂) + margin).

    Example::

        nn.MarginRankingLoss(0.1)(chainrule.randn(4), chainrule.randn(4),
                                  chainrule.tensor([1.0, -1.0, 1.0, 1.0]))
    """

    def __init__(self, margin: float = 0.0, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """log(1 + e^(-y x)) (two-class logistic loss).

    Example::

        nn.SoftMarginLoss()(chainrule.randn(4), chainrule.tensor([1.0, -1.0, 1.0, 1.0]))
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """max(d(a, p) - d(a, n) + margin, 0), reduced (see ``F.triplet_margin_loss``)."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p,
                                   self.eps, self.swap, reduction=self.reduction)


_MORE = ("PoissonNLLLoss", "GaussianNLLLoss", "HingeEmbeddingLoss", "MultiLabelSoftMarginLoss",
         "MultiLabelMarginLoss", "TripletMarginWithDistanceLoss", "CTCLoss")


def __getattr__(name: str) -> object:
    """The losses of ``nn.modules.losses_more`` under PyTorch's path ``nn.modules.loss``
    (imported on first use: that file builds on this one)."""
    if name in _MORE:
        from chainrule.nn.modules import losses_more

        return getattr(losses_more, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
