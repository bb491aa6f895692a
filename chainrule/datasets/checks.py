"""Design the data set: validation, class balance, stratified splits, standardisation.

These are the first step of the methodology: look at the data before fitting anything.
``validate`` fails loudly (naming row, column/feature and value) on NaN/Inf and on labels
outside the class range; ``class_balance`` reports counts, fractions and the imbalance ratio;
``stratified_split`` keeps each class's share the same in every split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.tensor import Tensor
from chainrule.utils.data.dataset import Dataset, Subset, _random_rng, split_lengths

__all__ = [
    "DataError",
    "validate",
    "ClassBalance",
    "class_balance",
    "stratified_split",
    "stratified_random_split",
    "standardize",
    "targets_of",
]


class DataError(ValueError):
    """Bad data: carries the offending ``row``, ``column`` and ``value`` as attributes."""

    def __init__(self, message: str, row: int | None = None, column: int | None = None,
                 value: Any = None) -> None:
        super().__init__(message)
        self.row = row
        self.column = column
        self.value = value


def _array(x: Any) -> np.ndarray:
    return np.asarray(x._array if isinstance(x, Tensor) else x)


def _where(idx: tuple[int, ...], feature_names: Sequence[str] | None) -> tuple[str, int | None]:
    """Text for the position of a sample's entry, and its column (2-D data) if any."""
    if len(idx) == 1:
        return f"row {idx[0]}", None
    if len(idx) == 2:
        col = idx[1]
        name = f" ({feature_names[col]!r})" if feature_names is not None and col < len(
            feature_names) else ""
        return f"row {idx[0]}, column {col}{name}", col
    return f"row {idx[0]}, position {tuple(int(i) for i in idx[1:])}", None


def _check_finite(a: np.ndarray, name: str, feature_names: Sequence[str] | None) -> None:
    if a.dtype.kind not in "fc" or a.size == 0:
        return
    bad = ~np.isfinite(a)
    flat = int(bad.argmax())
    if not bad.flat[flat]:
        return
    idx = tuple(int(i) for i in np.unravel_index(flat, a.shape))
    where, col = _where(idx, feature_names)
    value = a[idx].item()
    raise DataError(
        f"{name} has {int(bad.sum())} non-finite value(s); the first is at {where}: {value}",
        row=idx[0], column=col, value=value,
    )


def validate(X: Any, y: Any = None, num_classes: int | None = None, *,
             feature_names: Sequence[str] | None = None, name: str = "X") -> None:
    """Raise :class:`DataError` if ``X``/``y`` hold NaN/Inf, lengths differ, or a label is
    not an integer in ``[0, num_classes)``; the message names row, column/feature and value.

    Example::

        validate(X, y, num_classes=10, feature_names=["age", "income"])
    """
    a = _array(X)
    if a.ndim == 0:
        raise DataError(f"{name} is a scalar; expected one row per sample")
    _check_finite(a, name, feature_names)
    if y is None:
        return
    t = _array(y)
    if t.ndim == 0 or t.shape[0] != a.shape[0]:
        raise DataError(f"{name} has {a.shape[0]} rows but the labels have "
                        f"{t.shape[0] if t.ndim else 0} (shapes {a.shape} and {t.shape})")
    _check_finite(t, "labels", None)
    if num_classes is None:
        return
    t = t.reshape(len(t), -1)[:, 0] if t.ndim > 1 and t.shape[1:] == (1,) else t
    if t.ndim != 1:
        raise DataError(f"class labels must be 1-D (one per row), got shape {t.shape}")
    if t.dtype.kind == "f":
        frac = t != np.round(t)
        if frac.any():
            r = int(frac.argmax())
            raise DataError(f"label at row {r} is not an integer: {t[r].item()}", row=r,
                            value=t[r].item())
    if t.dtype.kind not in "iufb":
        raise DataError(f"labels must be numbers, got dtype {t.dtype}")
    out = (t < 0) | (t >= num_classes)
    if out.any():
        r = int(out.argmax())
        raise DataError(
            f"label at row {r} is {t[r].item()!r}, outside the {num_classes} classes [0, "
            f"{num_classes - 1}] ({int(out.sum())} such label(s))",
            row=r, value=t[r].item(),
        )


@dataclass
class ClassBalance:
    """Per-class counts and fractions and the imbalance ratio (largest / smallest class)."""

    counts: np.ndarray
    fractions: np.ndarray
    imbalance_ratio: float
    class_names: list[str]

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts.tolist(), "fractions": self.fractions.tolist(),
                "imbalance_ratio": self.imbalance_ratio, "class_names": self.class_names}

    def __str__(self) -> str:
        w = max([5] + [len(n) for n in self.class_names])
        lines = [f"{'class':<{w}}  {'count':>7}  {'fraction':>8}"]
        for n, c, f in zip(self.class_names, self.counts, self.fractions):
            lines.append(f"{n:<{w}}  {int(c):>7}  {f:>8.3f}")
        lines.append(f"{'total':<{w}}  {self.total:>7}  {1.0 if self.total else 0.0:>8.3f}")
        lines.append(f"imbalance ratio (largest/smallest class): {self.imbalance_ratio:.3g}")
        return "\n".join(lines)

    def table(self) -> Any:
        """The report as a ``rich.table.Table``."""
        from rich.table import Table

        t = Table(title="Class balance",
                  caption=f"imbalance ratio (largest/smallest): {self.imbalance_ratio:.3g}")
        t.add_column("class")
        t.add_column("count", justify="right")
        t.add_column("fraction", justify="right")
        for n, c, f in zip(self.class_names, self.counts, self.fractions):
            t.add_row(n, str(int(c)), f"{f:.3f}")
        return t

    def __rich__(self) -> Any:
        return self.table()


def class_balance(targets: Any, num_classes: int | None = None,
                  class_names: Sequence[str] | None = None) -> ClassBalance:
    """Count each class's samples (``print`` the result for a table; ``rich`` renders it).

    Example::

        print(class_balance(y, num_classes=10))
    """
    t = _array(targets_of(targets) if isinstance(targets, Dataset) else targets).reshape(-1)
    if t.size and (t.min() < 0 or np.any(t != np.round(t))):
        raise DataError("class_balance: labels must be non-negative integers")
    t = t.astype(np.int64)
    k = num_classes if num_classes is not None else (int(t.max()) + 1 if t.size else 0)
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"{len(class_names)} class names for {k} classes")
    counts = np.bincount(t, minlength=k)[:k] if t.size else np.zeros(k, dtype=np.int64)
    fractions = counts / max(int(counts.sum()), 1)
    nz = counts.min() if k else 0
    ratio = float(counts.max() / nz) if k and nz > 0 else float("inf")
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    return ClassBalance(counts, fractions, ratio, names)


def targets_of(dataset: Any) -> np.ndarray:
    """The labels of a dataset: its ``targets``, or the last tensor of a TensorDataset."""
    if hasattr(dataset, "targets"):
        return _array(dataset.targets)
    if hasattr(dataset, "tensors"):
        return _array(dataset.tensors[-1])
    if isinstance(dataset, Subset):
        return targets_of(dataset.dataset)[dataset._idx]
    raise TypeError(f"cannot find the labels of a {type(dataset).__name__}; pass targets=")


def stratified_split(targets: Any, lengths: Sequence[float],
                     generator: Any = None) -> list[np.ndarray]:
    """Index arrays of a random split that keeps every class's share in each part.

    ``lengths`` are sizes or fractions (as in ``random_split``); the parts have exactly those
    sizes, and each class is shared out within one sample of its ideal proportion.

    Example::

        train_idx, val_idx = stratified_split(y, [0.8, 0.2], generator=g)
    """
    t = _array(targets).reshape(-1)
    n = len(t)
    sizes = split_lengths(n, lengths)
    rng = _random_rng(generator)
    perm = rng.permutation(n)
    by_class = perm[np.argsort(t[perm], kind="stable")]  # classes contiguous, random inside
    # Deal the parts out evenly along the class-sorted order: part k's slots are spaced
    # n / size_k apart, so any contiguous run (one class) gets its proportional share.
    keys = np.concatenate([(np.arange(s) + 0.5) / s for s in sizes if s]) if n else np.zeros(0)
    owner = np.concatenate([np.full(s, k) for k, s in enumerate(sizes) if s]) if n else keys
    pattern = owner[np.argsort(keys, kind="stable")]
    return [np.sort(by_class[pattern == k]) for k in range(len(sizes))]


def stratified_random_split(dataset: Dataset, lengths: Sequence[float], targets: Any = None,
                            generator: Any = None) -> list[Subset]:
    """``random_split`` that keeps class proportions (labels from ``targets`` or the data).

    Example::

        train, val = stratified_random_split(ds, [0.8, 0.2], generator=g)
    """
    t = targets_of(dataset) if targets is None else targets
    return [Subset(dataset, idx) for idx in stratified_split(t, lengths, generator)]


def standardize(train: Any, *others: Any, eps: float = 1e-8) -> tuple[list[np.ndarray],
                                                                       tuple[Any, Any]]:
    """Scale features to zero mean, unit variance using statistics of ``train`` only.

    :math:`x' = (x - \\mu_{train}) / (\\sigma_{train} + \\epsilon)`, per feature (axis 0).
    Returns ``([train', *others'], (mean, std))``.

    Example::

        (Xtr, Xte), (mu, sd) = standardize(Xtr, Xte)
    """
    a = _array(train)
    mean = a.mean(axis=0, keepdims=True)
    std = a.std(axis=0, keepdims=True)
    out = [((_array(x) - mean) / (std + eps)).astype(a.dtype, copy=False) for x in (a, *others)]
    return out, (mean[0], std[0])
