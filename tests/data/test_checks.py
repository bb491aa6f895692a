"""Data checks: validation errors name row/column/value; class balance; stratified splits."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.datasets import checks
from chainrule.datasets.checks import (
    DataError,
    class_balance,
    standardize,
    stratified_random_split,
    stratified_split,
    validate,
)
from chainrule.utils.data import TensorDataset


def test_validate_names_row_column_feature_and_value() -> None:
    X = np.ones((5, 3))
    X[3, 1] = np.nan
    X[4, 2] = np.inf
    with pytest.raises(DataError, match=r"2 non-finite.*row 3, column 1 \('width'\): nan") as e:
        validate(X, feature_names=["height", "width", "depth"])
    assert (e.value.row, e.value.column) == (3, 1)
    X = np.ones((4, 2), dtype=np.float32)
    X[2, 0] = -np.inf
    with pytest.raises(DataError, match=r"row 2, column 0: -inf"):
        validate(cr.from_numpy(X))


def test_validate_images_name_position() -> None:
    X = np.zeros((3, 1, 4, 4))
    X[1, 0, 2, 3] = np.nan
    with pytest.raises(DataError, match=r"row 1, position \(0, 2, 3\): nan"):
        validate(X)


def test_validate_labels() -> None:
    X = np.zeros((4, 2))
    validate(X, np.array([0, 1, 2, 1]), num_classes=3)  # fine
    with pytest.raises(DataError, match=r"label at row 2 is 3, outside the 3 classes \[0, 2\]"):
        validate(X, np.array([0, 1, 3, 1]), num_classes=3)
    with pytest.raises(DataError, match=r"row 0 is -1"):
        validate(X, np.array([-1, 1, 0, 1]), num_classes=3)
    with pytest.raises(DataError, match=r"label at row 1 is not an integer: 0.5"):
        validate(X, np.array([0.0, 0.5, 1.0, 1.0]), num_classes=3)
    with pytest.raises(DataError, match=r"4 rows but the labels have 3"):
        validate(X, np.array([0, 1, 2]))
    with pytest.raises(DataError, match=r"labels has 1 non-finite.*row 1"):
        validate(X, np.array([0.0, np.nan, 1.0, 1.0]))


def test_class_balance_report() -> None:
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    rep = class_balance(y, class_names=["a", "b", "c"])
    assert rep.counts.tolist() == [6, 3, 1]
    np.testing.assert_allclose(rep.fractions, [0.6, 0.3, 0.1])
    assert rep.imbalance_ratio == 6.0 and rep.total == 10
    text = str(rep)
    assert "imbalance ratio" in text and "0.600" in text and "a" in text
    from rich.console import Console

    console = Console(record=True, width=80)
    console.print(rep)
    assert "Class balance" in console.export_text()
    empty_class = class_balance(np.array([0, 0, 2]), num_classes=3)
    assert empty_class.imbalance_ratio == float("inf")
    ds = TensorDataset(cr.zeros(3, 1), cr.tensor([1, 1, 0]))
    assert class_balance(ds).counts.tolist() == [1, 2]


def test_stratified_split_exact_sizes_and_proportions() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [500, 300, 200])
    rng.shuffle(y)
    tr, va, te = stratified_split(y, [0.7, 0.2, 0.1], generator=cr.Generator().manual_seed(0))
    assert (len(tr), len(va), len(te)) == (700, 200, 100)
    assert len(np.unique(np.concatenate([tr, va, te]))) == 1000
    for part, size in ((tr, 700), (va, 200), (te, 100)):
        counts = np.bincount(y[part], minlength=3)
        ideal = np.array([0.5, 0.3, 0.2]) * size
        assert np.all(np.abs(counts - ideal) <= 1), (counts, ideal)
    again = stratified_split(y, [0.7, 0.2, 0.1], generator=cr.Generator().manual_seed(0))
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))


def test_stratified_split_keeps_rare_class_in_both_parts() -> None:
    y = np.array([0] * 95 + [1] * 5)
    a, b = stratified_split(y, [80, 20], generator=cr.Generator().manual_seed(3))
    assert np.bincount(y[a]).tolist() == [76, 4] and np.bincount(y[b]).tolist() == [19, 1]


def test_stratified_random_split_on_dataset() -> None:
    ds = TensorDataset(cr.randn(40, 2), cr.tensor([0, 1] * 20))
    tr, te = stratified_random_split(ds, [0.75, 0.25], generator=cr.Generator().manual_seed(0))
    assert len(tr) == 30 and len(te) == 10
    assert np.bincount(checks.targets_of(te)).tolist() == [5, 5]


def test_standardize_uses_train_statistics() -> None:
    tr = np.array([[0.0, 10.0], [2.0, 30.0]])
    te = np.array([[1.0, 20.0]])
    (a, b), (mu, sd) = standardize(tr, te)
    np.testing.assert_allclose(a, [[-1, -1], [1, 1]], atol=1e-6)
    np.testing.assert_allclose(b, [[0, 0]], atol=1e-6)
    np.testing.assert_allclose(mu, [1.0, 20.0])
