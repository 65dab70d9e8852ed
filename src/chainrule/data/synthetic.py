"""Generated datasets: the CS231n spiral."""

from __future__ import annotations

import numpy as np


def spiral(
    points_per_class: int = 100, classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The CS231n toy spiral: ``classes`` arms of ``points_per_class`` 2-D points each.

    Not linearly separable: a linear classifier stays near 50% on 3 classes, a 2-layer ReLU
    net fits it. Returns ``X`` (N, 2) float32 and ``y`` (N,) int64.

    >>> X, y = spiral(points_per_class=100, classes=3)
    >>> X.shape, y.shape, sorted(set(y.tolist()))
    ((300, 2), (300,), [0, 1, 2])
    """
    if points_per_class < 1 or classes < 1:
        raise ValueError(
            f"spiral: points_per_class and classes must be >= 1, got {points_per_class}, {classes}"
        )
    rng = np.random.default_rng(seed)
    n = points_per_class
    X = np.zeros((n * classes, 2), dtype=np.float32)
    y = np.zeros(n * classes, dtype=np.int64)
    for k in range(classes):
        ix = slice(n * k, n * (k + 1))
        r = np.linspace(0.0, 1.0, n)  # radius
        t = np.linspace(k * 4.0, (k + 1) * 4.0, n) + rng.standard_normal(n) * 0.2  # theta
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = k
    return X, y
