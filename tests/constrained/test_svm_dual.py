"""The SVM trained through its dual QP, against scikit-learn's SVC (libsvm)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import SVC as SkSVC

from chainrule import constrained as C


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal([1, 1], 1.0, (15, 2)), rng.normal([-1, -1], 1.0, (15, 2))])
    y = np.array([1] * 15 + [-1] * 15)
    return X, y, rng.normal(0, 1.5, (20, 2))


def full_dual(n: int, support: np.ndarray, coef: np.ndarray) -> np.ndarray:
    out = np.zeros(n)
    out[support] = coef
    return out


@pytest.mark.parametrize("C_value", [0.1, 1.0, 100.0])
def test_linear_svm_matches_sklearn(data, C_value):
    X, y, X_test = data
    ours = C.SVC(C=C_value, kernel="linear").fit(X, y)
    ref = SkSVC(kernel="linear", C=C_value, tol=1e-8).fit(X, y)
    n = X.shape[0]
    np.testing.assert_allclose(full_dual(n, ours.support_, ours.dual_coef_[0]),
                               full_dual(n, ref.support_, ref.dual_coef_[0]), atol=1e-4)
    assert sorted(ours.support_) == sorted(ref.support_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-4)
    np.testing.assert_allclose(ours.decision_function(X_test), ref.decision_function(X_test),
                               atol=1e-4)
    np.testing.assert_array_equal(ours.predict(X_test), ref.predict(X_test))
    # w = Σ αᵢyᵢxᵢ, Σ αᵢyᵢ = 0, 0 <= α <= C, and the KKT residuals of the dual QP
    assert abs(np.sum(ours.dual_coef_)) <= 1e-8
    assert ours.alpha_.min() >= 0 and ours.alpha_.max() <= C_value
    assert ours.solution.kkt.max_residual <= 1e-6
    assert abs(ours.solution.kkt.duality_gap) <= 1e-6


@pytest.mark.parametrize("C_value", [0.1, 1.0, 100.0])
def test_intercept_equals_the_multiplier_of_the_equality_constraint(data, C_value):
    X, y, _ = data
    svm = C.SVC(C=C_value).fit(X, y)
    alpha = svm.alpha_
    free = (alpha > 1e-6 * C_value) & (alpha < C_value * (1 - 1e-6))
    assert free.any()
    # b from the primal KKT conditions on free support vectors: yᵢ(wᵀxᵢ + b) = 1
    b_primal = np.mean(y[free] - X[free] @ svm.coef_[0])
    assert svm.multiplier_ == pytest.approx(b_primal, abs=1e-7)
    assert svm.intercept_[0] == pytest.approx(svm.multiplier_, abs=1e-7)


@pytest.mark.parametrize("C_value", [0.1, 1.0, 100.0])
def test_rbf_svm_decision_function_matches_sklearn(data, C_value):
    X, y, X_test = data
    ours = C.SVC(C=C_value, kernel="rbf").fit(X, y)
    ref = SkSVC(kernel="rbf", C=C_value, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(ours.decision_function(X_test), ref.decision_function(X_test),
                               atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-4)
    assert sorted(ours.support_) == sorted(ref.support_)
    assert ours.solution.kkt.max_residual <= 1e-6


def test_labels_and_errors(data):
    X, y, _ = data
    labels = np.where(y > 0, "cat", "dog")  # "dog" sorts last: it is the positive class
    svm = C.SVC(C=1.0).fit(X, labels)
    ref = SkSVC(kernel="linear", C=1.0, tol=1e-8).fit(X, labels)
    np.testing.assert_array_equal(svm.predict(X), ref.predict(X))
    np.testing.assert_allclose(svm.coef_, ref.coef_, atol=1e-4)
    with pytest.raises(ValueError, match="2 classes"):
        C.SVC().fit(X, np.arange(X.shape[0]) % 3)
    with pytest.raises(ValueError, match="rows"):
        C.SVC().fit(X, y[:-1])
    with pytest.raises(ValueError, match="kernel"):
        C.SVC(kernel="poly")
    with pytest.raises(RuntimeError, match="fit"):
        C.SVC().decision_function(X)
