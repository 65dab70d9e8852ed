"""Datasets shipped inside the package: the UCI handwritten digits (see digits-ATTRIBUTION.txt)."""

from __future__ import annotations

import zipfile
from importlib import resources

import numpy as np

from chainrule.data.errors import DataError

_DIGITS_FILE = "digits.npz"
DIGITS_ATTRIBUTION = (
    "Optical Recognition of Handwritten Digits, E. Alpaydin and C. Kaynak (1998), "
    "UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, CC BY 4.0"
)


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 handwritten digits of the UCI repository (CC BY 4.0), bundled.

    Returns ``X`` (1797, 8, 8) uint8 with pixel counts 0..16 and ``y`` (1797,) int64 in 0..9.
    Flatten and convert for a fully-connected net with ``X.reshape(len(X), -1).astype(np.float32)``.
    The attribution is in ``DIGITS_ATTRIBUTION`` and in ``digits-ATTRIBUTION.txt`` beside the data.

    >>> X, y = digits()
    >>> X.shape, X.dtype, int(X.max()), y.shape, sorted(set(y.tolist())) == list(range(10))
    ((1797, 8, 8), dtype('uint8'), 16, (1797,), True)
    """
    path = resources.files("chainrule.data").joinpath(_DIGITS_FILE)
    try:
        with path.open("rb") as f, np.load(f, allow_pickle=False) as npz:
            X = np.array(npz["images"], dtype=np.uint8)
            y = np.array(npz["labels"], dtype=np.int64)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot read the bundled digits ({e})") from e
    if X.shape != (1797, 8, 8) or y.shape != (1797,) or X.max() > 16 or y.max() > 9:
        raise DataError(f"{path}: bundled digits have unexpected shapes {X.shape}, {y.shape}")
    return X, y
