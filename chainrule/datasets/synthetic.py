"""Seeded synthetic tasks: spirals, moons, circles, XOR (classification) and a noisy sine
(regression).

Every function takes ``seed`` (an int, a ``chainrule.Generator`` or a NumPy Generator) and
returns ``(X, y)`` NumPy arrays: ``X`` float32 of shape (n, 2) (or (n, 1) for the sine),
``y`` int64 class labels (or float32 (n, 1) targets). Samples are shuffled. Wrap them with
``TensorDataset(X, y)`` to train.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.utils.data.dataset import _random_rng

__all__ = ["spirals", "moons", "circles", "xor", "sine_regression"]


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, (int, np.integer)):
        return np.random.default_rng(int(seed))
    return _random_rng(seed)


def _per_class(n_samples: int, n_classes: int) -> list[int]:
    base, extra = divmod(n_samples, n_classes)
    return [base + (1 if k < extra else 0) for k in range(n_classes)]


def _finish(X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    p = rng.permutation(len(y))
    return X[p].astype(np.float32), y[p].astype(np.int64)


def spirals(n_samples: int = 300, n_classes: int = 2, noise: float = 0.1, turns: float = 1.0,
            seed: Any = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` interleaved spiral arms: arm k at angle
    :math:`\\theta = 2\\pi k/K + 2\\pi\\,\\mathrm{turns}\\cdot r + \\mathrm{noise}\\cdot\\epsilon`,
    point :math:`r(\\cos\\theta, \\sin\\theta)`, radius r from 0.1 to 1.

    Example::

        X, y = spirals(300, n_classes=3, seed=0)
    """
    rng = _rng(seed)
    xs, ys = [], []
    for k, m in enumerate(_per_class(n_samples, n_classes)):
        r = np.linspace(0.1, 1.0, m)
        theta = 2 * np.pi * k / n_classes + 2 * np.pi * turns * r + noise * rng.standard_normal(m)
        xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
        ys.append(np.full(m, k))
    return _finish(np.concatenate(xs), np.concatenate(ys), rng)


def moons(n_samples: int = 200, noise: float = 0.1, seed: Any = 0) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """Two interleaving half circles (class 0 on top), plus Gaussian noise of std ``noise``.

    Example::

        X, y = moons(200, noise=0.2, seed=1)
    """
    rng = _rng(seed)
    m0, m1 = _per_class(n_samples, 2)
    t0, t1 = np.linspace(0, np.pi, m0), np.linspace(0, np.pi, m1)
    outer = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    inner = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = np.concatenate([outer, inner]) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate([np.zeros(m0), np.ones(m1)])
    return _finish(X, y, rng)


def circles(n_samples: int = 200, noise: float = 0.05, factor: float = 0.5,
            seed: Any = 0) -> tuple[np.ndarray, np.ndarray]:
    """A unit circle (class 0) around a circle of radius ``factor`` (class 1), plus noise.

    Example::

        X, y = circles(200, noise=0.05, factor=0.5, seed=0)
    """
    if not 0 < factor < 1:
        raise ValueError(f"circles: factor must be in (0, 1), got {factor}")
    rng = _rng(seed)
    m0, m1 = _per_class(n_samples, 2)
    t0 = np.linspace(0, 2 * np.pi, m0, endpoint=False)
    t1 = np.linspace(0, 2 * np.pi, m1, endpoint=False)
    X = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1),
                        factor * np.stack([np.cos(t1), np.sin(t1)], 1)])
    X = X + noise * rng.standard_normal((n_samples, 2))
    return _finish(X, np.concatenate([np.zeros(m0), np.ones(m1)]), rng)


def xor(n_samples: int = 200, noise: float = 0.1, seed: Any = 0) -> tuple[np.ndarray,
                                                                         np.ndarray]:
    """Four Gaussian clusters at :math:`(\\pm1, \\pm1)`; label 1 where the signs differ.

    ``xor(4, noise=0)`` is the classic four-point XOR problem.

    Example::

        X, y = xor(4, noise=0.0)
    """
    rng = _rng(seed)
    centers = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1, 0])
    which = np.concatenate([np.full(m, k) for k, m in enumerate(_per_class(n_samples, 4))])
    X = centers[which] + noise * rng.standard_normal((n_samples, 2))
    return _finish(X, labels[which], rng)


def sine_regression(n_samples: int = 100, noise: float = 0.1,
                    x_range: tuple[float, float] = (-np.pi, np.pi),
                    seed: Any = 0) -> tuple[np.ndarray, np.ndarray]:
    """:math:`y = \\sin(x) + \\mathrm{noise}\\cdot\\epsilon`, x uniform in ``x_range``.

    Returns X and y of shape (n, 1), float32. The noise std is the best achievable RMSE.

    Example::

        X, y = sine_regression(100, noise=0.1, seed=0)
    """
    rng = _rng(seed)
    x = rng.uniform(x_range[0], x_range[1], size=(n_samples, 1))
    y = np.sin(x) + noise * rng.standard_normal((n_samples, 1))
    return x.astype(np.float32), y.astype(np.float32)
