"""Fit verdicts on synthetic train/validation curves with known shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule.diagnostics.fit import curve_summary, fit_verdict

T = np.arange(30)
LN10 = math.log(10)


def test_overfitting_validation_turns_up() -> None:
    train = 2.3 * np.exp(-T / 4)
    val = 0.8 + 1.5 * np.exp(-T / 4) + 0.02 * np.maximum(T - 10, 0)
    f = fit_verdict(train, val, baseline=LN10)
    assert f.verdict == "overfitting" and not f.ok
    assert f.values["best"] == int(np.argmin(val))
    for word in ("more data", "L1/L2", "dropout", "smaller", "stop early"):
        assert word in f.remedy
    assert f"point {f.values['best']}" in f.remedy


def test_overfitting_by_gap_while_validation_flat() -> None:
    train = 2.3 * np.exp(-T / 3)
    val = 1.2 + 1.1 * np.exp(-T / 3)
    assert fit_verdict(train, val, baseline=LN10).verdict == "overfitting"
    # the same curves pass with a looser gap tolerance (thresholds are parameters)
    assert fit_verdict(train, val, baseline=LN10, gap_tol=0.6).verdict == "good fit"


def test_underfitting_plateau_high() -> None:
    train = 1.9 + 0.4 * np.exp(-T / 2)   # logistic regression on MNIST-1D-like numbers
    val = 1.95 + 0.35 * np.exp(-T / 2)
    f = fit_verdict(train, val, baseline=LN10)
    assert f.verdict == "underfitting"
    for word in ("learning rate", "network structure", "residual"):
        assert word in f.remedy


def test_still_improving() -> None:
    t = np.arange(8)
    train = 2.3 - 0.2 * t
    val = 2.35 - 0.2 * t
    f = fit_verdict(train, val, baseline=LN10)
    assert f.verdict == "still improving"
    assert "keep training" in f.remedy


def test_good_fit() -> None:
    train = 0.1 + 2.2 * np.exp(-T / 3)
    val = 0.15 + 2.2 * np.exp(-T / 3)
    f = fit_verdict(train, val, baseline=LN10)
    assert f.verdict == "good fit" and f.ok and f.remedy == ""


def test_default_scale_is_the_first_value_and_bad_input_errors() -> None:
    s = curve_summary([4.0, 2.0, 1.0], [3.0, 2.5, 2.0])
    assert s["scale"] == 4.0 and s["gap"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="same length"):
        fit_verdict([1.0, 0.5], [1.0, 0.5, 0.4])
    with pytest.raises(ValueError, match="at least 2"):
        fit_verdict([1.0], [1.0])
    with pytest.raises(ValueError, match="nan"):
        fit_verdict([1.0, float("nan")], [1.0, 1.0])
