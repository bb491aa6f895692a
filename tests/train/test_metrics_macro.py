"""Macro-averaged classification metrics against scikit-learn, and their input checks."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.train.metrics import ConfusionMatrix, F1Score, Precision, Recall

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_scores_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = 5
    logits = rng.normal(size=(200, c))
    y = rng.integers(0, c, size=200)
    y[y == 3] = 2  # class 3 never true: recall and F1 of a class without examples are 0
    pred = logits.argmax(1)
    for cls, fn in ((F1Score, sklearn_metrics.f1_score),
                    (Precision, sklearn_metrics.precision_score),
                    (Recall, sklearn_metrics.recall_score)):
        m = cls(c)
        for lo in range(0, 200, 64):  # batches accumulate
            m.update(logits[lo:lo + 64], y[lo:lo + 64])
        want = fn(y, pred, average="macro", labels=list(range(c)), zero_division=0)
        assert m.compute() == pytest.approx(want, abs=1e-12), cls.__name__


def test_confusion_matrix_refuses_out_of_range_labels() -> None:
    m = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"target values must be integers in \[0, 3\)"):
        m.update(np.eye(3), np.array([0, 1, -1]))  # -1 would wrap onto class 2
    with pytest.raises(ValueError, match="target values"):
        m.update(np.eye(3), np.array([0, 1, 3]))
    with pytest.raises(ValueError, match="predicted class"):
        m.update(np.eye(4)[[0, 1, 3]], np.array([0, 1, 2]))  # 4 logits: class 3 predicted
    with pytest.raises(ValueError, match="3 predictions but 2 targets"):
        m.update(np.eye(3), np.array([0, 1]))
    assert m.compute().sum() == 0  # nothing was counted by the refused batches
