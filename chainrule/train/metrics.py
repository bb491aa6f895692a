"""Streaming metrics for the Trainer: accuracy, top-k, confusion matrix, precision/recall/F1,
MSE and MAE.

A metric accumulates over batches (``update(output, target)``) and gives one number per
epoch (``compute()``); ``reset()`` starts again. Inputs are chainrule Tensors or arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _np(x: Any) -> np.ndarray:
    return np.asarray(getattr(x, "_array", x))


class Metric:
    """Base class: ``update`` per batch, ``compute`` per epoch, ``reset`` between epochs."""

    name = "metric"
    higher_is_better = True

    def reset(self) -> None:
        raise NotImplementedError(f"{type(self).__name__}.reset is abstract")

    def update(self, output: Any, target: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__}.update is abstract")

    def compute(self) -> float:
        raise NotImplementedError(f"{type(self).__name__}.compute is abstract")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _predicted(output: np.ndarray) -> np.ndarray:
    """Class predictions from logits (N, C, ...) or from binary scores (N,)."""
    if output.ndim == 1:
        return (output > 0).astype(np.int64)
    return output.argmax(1)


class Accuracy(Metric):
    """Fraction of examples whose arg-max class equals the target: (1/N) Σ [ŷᵢ = yᵢ]."""

    name = "accuracy"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output: Any, target: Any) -> None:
        out, y = _np(output), _np(target)
        if y.ndim == out.ndim and y.shape == out.shape and out.ndim > 1:
            y = y.argmax(1)  # class-probability targets
        pred = _predicted(out)
        if pred.shape != y.shape:
            raise ValueError(
                f"Accuracy: predictions of shape {pred.shape} (from output {out.shape}) don't "
                f"match targets of shape {y.shape}"
            )
        self.correct += int((pred == y).sum())
        self.total += int(y.size)

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class TopKAccuracy(Metric):
    """Fraction of examples whose target is among the k highest-scoring classes."""

    def __init__(self, k: int = 5) -> None:
        self.k = k
        self.name = f"top{k}_accuracy"
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output: Any, target: Any) -> None:
        out, y = _np(output), _np(target)
        top = np.argpartition(-out, min(self.k, out.shape[1]) - 1, axis=1)[:, : self.k]
        self.correct += int((top == y[:, None]).any(1).sum())
        self.total += int(y.shape[0])

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class ConfusionMatrix(Metric):
    """Counts C[i, j] of examples of true class i predicted as class j."""

    name = "confusion_matrix"

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, output: Any, target: Any) -> None:
        pred = _predicted(_np(output)).reshape(-1)
        y = _np(target).reshape(-1)
        if pred.shape != y.shape:
            raise ValueError(f"{type(self).__name__}.update: {pred.size} predictions but "
                             f"{y.size} targets")
        # np.add.at would wrap a negative label onto the last class: refuse it instead
        for what, v in (("target", y), ("predicted class", pred)):
            if v.size and (not np.issubdtype(v.dtype, np.integer) or v.min() < 0
                           or v.max() >= self.num_classes):
                raise ValueError(f"{type(self).__name__}.update: {what} values must be integers "
                                 f"in [0, {self.num_classes}), got {v.dtype} in "
                                 f"[{v.min()}, {v.max()}]")
        np.add.at(self.matrix, (y, pred), 1)

    def compute(self) -> np.ndarray:  # type: ignore[override]
        return self.matrix.copy()


def precision_recall_f1(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2PR/(P+R) (0 where undefined)."""
    tp = np.diag(matrix).astype(np.float64)
    pred = matrix.sum(0).astype(np.float64)
    true = matrix.sum(1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(pred > 0, tp / pred, 0.0)
        r = np.where(true > 0, tp / true, 0.0)
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return {"precision": p, "recall": r, "f1": f1}


class _MacroAverage(ConfusionMatrix):
    """A per-class score of :func:`precision_recall_f1` (``key``), averaged over classes."""

    key = "f1"

    def compute(self) -> float:  # type: ignore[override]
        return float(precision_recall_f1(self.matrix)[self.key].mean())


class F1Score(_MacroAverage):
    """Macro-averaged F1 (the mean over classes of 2PR/(P+R))."""

    name = key = "f1"


class Precision(_MacroAverage):
    """Macro-averaged precision TP/(TP+FP)."""

    name = key = "precision"


class Recall(_MacroAverage):
    """Macro-averaged recall TP/(TP+FN)."""

    name = key = "recall"


class MeanSquaredError(Metric):
    """(1/N) Σ (ŷ - y)² over all elements."""

    name = "mse"
    higher_is_better = False

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        d = _np(output).astype(np.float64) - _np(target).reshape(_np(output).shape)
        self.total += float((d * d).sum())
        self.count += int(d.size)

    def compute(self) -> float:
        return self.total / self.count if self.count else float("nan")


class MeanAbsoluteError(MeanSquaredError):
    """(1/N) Σ |ŷ - y| over all elements."""

    name = "mae"

    def update(self, output: Any, target: Any) -> None:
        d = _np(output).astype(np.float64) - _np(target).reshape(_np(output).shape)
        self.total += float(np.abs(d).sum())
        self.count += int(d.size)


_BY_NAME = {
    "accuracy": Accuracy, "acc": Accuracy, "mse": MeanSquaredError, "mae": MeanAbsoluteError,
    "top5": lambda: TopKAccuracy(5), "top5_accuracy": lambda: TopKAccuracy(5),
}


def resolve(metric: Any) -> Metric:
    """A Metric instance from an instance, a class or a name ('accuracy', 'mse', 'mae', 'top5')."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, type) and issubclass(metric, Metric):
        return metric()
    if isinstance(metric, str) and metric in _BY_NAME:
        return _BY_NAME[metric]()
    raise ValueError(
        f"unknown metric {metric!r}: use a Metric instance or one of {sorted(_BY_NAME)}"
    )
