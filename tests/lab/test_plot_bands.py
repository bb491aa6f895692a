"""The lab's shared band / error-bar helpers draw the mean ± 95 % t-interval over seeds, checked
against a hand computation (t_{0.975, 3} = 3.182446305284263 from the t table, not from the
code under test), never the min–max of the seeds."""

from __future__ import annotations

import math

import numpy as np

from chainrule.lab import common

T_975_3 = 3.182446305284263  # two-sided 95 % quantile of Student's t with 3 degrees of freedom

# four seeds × two points; column 0: 1, 2, 3, 6 (mean 3, sample variance 14/3)
SEEDS_BY_POINT = np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 12.0], [6.0, 12.0]])


def _hand(col: list[float]) -> tuple[float, float, float]:
    n = len(col)
    m = sum(col) / n
    s = math.sqrt(sum((v - m) ** 2 for v in col) / (n - 1))
    h = T_975_3 * s / math.sqrt(n)
    return m, m - h, m + h


def test_bar_errors_is_the_t_half_width():
    means, halves = common.bar_errors([[1, 2, 3, 6], [10, 10, 12, 12]])
    for got_m, got_h, col in zip(means, halves, ([1, 2, 3, 6], [10, 10, 12, 12])):
        m, lo, hi = _hand(col)
        assert math.isclose(got_m, m, rel_tol=1e-12)
        assert math.isclose(got_h, hi - m, rel_tol=1e-12)
    assert math.isclose(halves[0], T_975_3 * math.sqrt(14 / 3) / 2, rel_tol=1e-12)
    # not the min–max whisker (3 below / 3 above for the first arm) nor the population std
    assert not math.isclose(halves[0], 3.0) and not math.isclose(halves[0], np.std([1, 2, 3, 6]))
    means, halves = common.bar_errors([[4.0]])
    assert means[0] == 4.0 and halves[0] == 0.0


def _band(ax):
    (poly,) = ax.collections
    verts = poly.get_paths()[0].vertices
    return verts


def test_draw_band_draws_mean_and_t_interval_along_either_axis():
    plt = common.pyplot()
    for arr, axis in ((SEEDS_BY_POINT, 0), (SEEDS_BY_POINT.T, 1)):
        fig, ax = plt.subplots()
        common.draw_band(ax, [0, 1], arr, axis=axis, label=common.band_label(4))
        (line,) = ax.lines
        hand = [_hand(list(SEEDS_BY_POINT[:, j])) for j in range(2)]
        np.testing.assert_allclose(line.get_ydata(), [h[0] for h in hand], rtol=1e-12)
        verts = _band(ax)
        for j, (_, lo, hi) in enumerate(hand):
            ys = verts[np.isclose(verts[:, 0], j), 1]
            np.testing.assert_allclose([ys.min(), ys.max()], [lo, hi], rtol=1e-9)
            # wider than min–max here (n = 4), so a min–max band would fail this check
            assert lo < SEEDS_BY_POINT[:, j].min() and hi > SEEDS_BY_POINT[:, j].max()
        assert line.get_label() == "mean ± 95 % CI over 4 seeds"
        plt.close(fig)
    fig, ax = plt.subplots()
    common.draw_band(ax, [0, 1], SEEDS_BY_POINT[:1])  # one seed: a line, no band
    assert not ax.collections and len(ax.lines) == 1
    plt.close(fig)
