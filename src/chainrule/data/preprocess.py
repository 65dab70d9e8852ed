"""Splits and preprocessing as CS231n does them: statistics from the training split only."""

from __future__ import annotations

import numpy as np

Arrays = tuple[np.ndarray, np.ndarray]
_CHUNK = 4096  # rows per pass when summing squared deviations


def _count(fraction: float | int, n: int, name: str) -> int:
    if isinstance(fraction, int | np.integer) and not isinstance(fraction, bool):
        count = int(fraction)
    elif isinstance(fraction, float) and 0.0 <= fraction < 1.0:
        count = round(fraction * n)
    else:
        raise ValueError(f"train_val_test_split: {name} must be a fraction in [0, 1) or a count")
    if not 0 <= count < n:
        raise ValueError(f"train_val_test_split: {name}={fraction!r} leaves no training data")
    return count


def train_val_test_split(
    X: np.ndarray,
    y: np.ndarray,
    val: float | int = 0.1,
    test: float | int = 0.1,
    seed: int = 0,
    shuffle: bool = True,
) -> tuple[Arrays, Arrays, Arrays]:
    """Split ``(X, y)`` into training, validation and test sets.

    ``val`` and ``test`` are fractions of the samples (floats in [0, 1)) or counts (ints).
    With ``shuffle`` the samples are permuted by ``seed`` first, so a split is reproducible.
    Returns ``((X_train, y_train), (X_val, y_val), (X_test, y_test))``.

    >>> X, y = np.arange(20).reshape(10, 2), np.arange(10)
    >>> (Xtr, ytr), (Xv, yv), (Xte, yte) = train_val_test_split(X, y, val=2, test=0.3)
    >>> len(ytr), len(yv), len(yte)
    (5, 2, 3)
    >>> sorted(np.concatenate([ytr, yv, yte]).tolist()) == list(range(10))
    True
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"train_val_test_split: X has {len(X)} rows but y has {len(y)}")
    n = len(X)
    n_val, n_test = _count(val, n, "val"), _count(test, n, "test")
    if n_val + n_test >= n:
        raise ValueError(
            f"train_val_test_split: val={val!r} and test={test!r} leave no training data "
            f"out of {n} samples"
        )
    idx = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    tr, va, te = idx[: n - n_val - n_test], idx[n - n_val - n_test : n - n_test], idx[n - n_test :]
    return (X[tr], y[tr]), (X[va], y[va]), (X[te], y[te])


class Standardizer:
    """Mean-image subtraction (``scale=False``) or standardization (``scale=True``).

    ``fit`` takes the per-feature mean (the CS231n "mean image") and standard deviation from the
    training split only; ``transform`` applies them to any split. Features with zero spread keep
    scale 1. With ``per_feature=False`` the scale is one number, the standard deviation of all
    the training pixels once the mean image is subtracted (for images, whose border pixels
    barely vary). ``state_dict()`` holds the statistics as arrays (save them with the model).

    >>> X_train = np.array([[0.0, 2.0], [2.0, 2.0]])
    >>> s = Standardizer().fit(X_train)
    >>> s.transform(np.array([[1.0, 3.0]]))
    array([[0., 1.]], dtype=float32)
    >>> Standardizer(scale=False).fit(X_train).transform(X_train)
    array([[-1.,  0.],
           [ 1.,  0.]], dtype=float32)
    """

    def __init__(
        self, scale: bool = True, per_feature: bool = True, dtype: type = np.float32
    ) -> None:
        self.scale = scale
        self.per_feature = per_feature
        self.dtype = dtype
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> Standardizer:
        """Take the statistics from ``X`` (the training split), in float64 for accuracy."""
        X = np.asarray(X)
        if len(X) == 0:
            raise ValueError("Standardizer.fit: no samples")
        mean = X.mean(axis=0, dtype=np.float64)  # accumulates in float64 without a copy of X
        self.mean = mean.astype(self.dtype)
        if not self.scale:
            self.std = np.ones_like(self.mean)
            return self
        sq = np.zeros_like(mean)  # sum over samples of (x - mean)^2, per feature
        for start in range(0, len(X), _CHUNK):  # in chunks: no float64 copy of a big X
            d = X[start : start + _CHUNK] - mean
            sq += np.einsum("i...,i...->...", d, d)
        if self.per_feature:
            std = np.sqrt(sq / len(X))
        else:  # one scale: the spread of all the pixels around their own mean image
            std = np.full(mean.shape, np.sqrt(sq.sum() / sq.size / len(X)))
        std[std < 1e-8] = 1.0  # a constant feature (a blank border pixel) stays as it is
        self.std = std.astype(self.dtype)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``(X - mean) / std`` as ``dtype``; X must have the shape of the fitted samples."""
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardizer.transform: call fit() or load_state_dict() first")
        X = np.asarray(X)
        if X.shape[1:] != self.mean.shape:
            raise ValueError(
                f"Standardizer.transform: samples of shape {X.shape[1:]}, fitted on "
                f"{self.mean.shape}"
            )
        out: np.ndarray = X.astype(self.dtype)  # a fresh array, transformed in place
        out -= self.mean
        if self.scale:
            out /= self.std
        return out

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The statistics: ``{"mean", "std"}`` arrays."""
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardizer.state_dict: not fitted")
        return {"mean": self.mean, "std": self.std}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore statistics saved by ``state_dict()``."""
        mean, std = np.asarray(state["mean"]), np.asarray(state["std"])
        if mean.shape != std.shape:
            raise ValueError(f"Standardizer: mean {mean.shape} and std {std.shape} differ")
        self.mean, self.std = mean.astype(self.dtype), std.astype(self.dtype)
