"""Small bundled tables from scikit-learn (imported lazily): 8x8 digits, breast cancer, iris,
wine. They ship with scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from chainrule.utils.data.dataset import TensorDataset

__all__ = [
    "TabularData",
    "load_digits",
    "load_breast_cancer",
    "load_iris",
    "load_wine",
    "load_tabular",
    "to_datasets",
]


class TabularData(NamedTuple):
    """Features ``X`` (float32), labels ``y`` (int64) and the names that go with them."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_names: list[str]
    name: str

    @property
    def num_classes(self) -> int:
        return len(self.target_names)


def _from_sklearn(loader_name: str, name: str, dtype: Any) -> TabularData:
    from sklearn import datasets as skd

    from chainrule.datasets.checks import validate

    bunch = getattr(skd, loader_name)()
    X = np.asarray(bunch.data, dtype=dtype)
    y = np.asarray(bunch.target, dtype=np.int64)
    names = [str(n) for n in getattr(bunch, "feature_names", [f"x{i}" for i in range(X.shape[1])])]
    targets = [str(t) for t in bunch.target_names]
    validate(X, y, len(targets), feature_names=names, name=name)
    return TabularData(X, y, names, targets, name)


def load_digits(images: bool = False, scale: bool = True, dtype: Any = np.float32) -> TabularData:
    """scikit-learn's 1,797 8x8 handwritten digits (10 classes).

    Pixels are 0..16; ``scale`` divides them by 16. ``images=True`` gives X of shape
    (n, 1, 8, 8) for convolutional nets instead of (n, 64).

    Example::

        X, y, *_ = load_digits(images=True)
    """
    d = _from_sklearn("load_digits", "digits", dtype)
    X = d.X / np.asarray(16, dtype=dtype) if scale else d.X
    if images:
        X = X.reshape(-1, 1, 8, 8)
    return d._replace(X=X)


def load_breast_cancer(dtype: Any = np.float32) -> TabularData:
    """Wisconsin breast cancer: 569 samples, 30 features, 2 classes (malignant, benign)."""
    return _from_sklearn("load_breast_cancer", "breast_cancer", dtype)


def load_iris(dtype: Any = np.float32) -> TabularData:
    """Fisher's iris: 150 samples, 4 features, 3 classes."""
    return _from_sklearn("load_iris", "iris", dtype)


def load_wine(dtype: Any = np.float32) -> TabularData:
    """Wine recognition: 178 samples, 13 features, 3 classes."""
    return _from_sklearn("load_wine", "wine", dtype)


_LOADERS = {"digits": load_digits, "breast_cancer": load_breast_cancer, "iris": load_iris,
            "wine": load_wine}


def load_tabular(name: str, **kwargs: Any) -> TabularData:
    """Load a bundled table by name: ``digits``, ``breast_cancer``, ``iris`` or ``wine``."""
    try:
        return _LOADERS[name](**kwargs)
    except KeyError:
        raise KeyError(f"unknown table {name!r}; choose from {sorted(_LOADERS)}") from None


def to_datasets(data: TabularData, lengths: Sequence[float] = (0.8, 0.2),
                generator: Any = None, stratify: bool = True,
                standardize: bool = False) -> list[TensorDataset]:
    """Split a table into TensorDatasets (stratified by class by default).

    With ``standardize`` every part is scaled by the first part's feature mean and std.

    Example::

        train, test = to_datasets(load_iris(), [0.8, 0.2], generator=g, standardize=True)
    """
    from chainrule.datasets.checks import standardize as _standardize
    from chainrule.datasets.checks import stratified_split
    from chainrule.utils.data.dataset import _random_rng, split_lengths

    if stratify:
        parts = stratified_split(data.y, lengths, generator)
    else:
        sizes = split_lengths(len(data.y), lengths)
        perm = _random_rng(generator).permutation(len(data.y))
        parts = np.split(perm, np.cumsum(sizes)[:-1])
    xs = [data.X[p] for p in parts]
    if standardize:
        xs, _ = _standardize(xs[0], *xs[1:])
    return [TensorDataset(x, data.y[p]) for x, p in zip(xs, parts)]
