"""Datasets named by a short spec (``digits``, ``spiral``, ``mnist:DIR``, ``cifar10:DIR``), split
into training, validation and test sets and preprocessed for a fully-connected net.

The same spec always gives the same splits (the split seed is fixed), so a saved run can be
evaluated on exactly its own test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data import builtin, cifar, images, mnist, synthetic
from chainrule.data.errors import DataError
from chainrule.data.preprocess import Standardizer, train_val_test_split

SPECS = ("digits", "spiral", "mnist:DIR", "cifar10:DIR")
SPLIT_SEED = 0


@dataclass
class Splits:
    """Training, validation and test arrays: ``X`` (N, D) float32 rows, ``y`` (N,) int64."""

    name: str
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    num_classes: int

    @property
    def input_dim(self) -> int:
        """D, the number of features per sample."""
        return int(self.train[0].shape[1])

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``"train"``, ``"val"`` or ``"test"``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}: choose train, val or test")
        return getattr(self, name)  # type: ignore[no-any-return]


def parse_spec(spec: str) -> tuple[str, Path | None]:
    """``(kind, directory)`` of a spec; raises ``ValueError`` with the accepted forms.

    >>> parse_spec("digits"), parse_spec("mnist:/data/mnist")
    (('digits', None), ('mnist', PosixPath('/data/mnist')))
    """
    kind, sep, rest = spec.partition(":")
    if kind in ("digits", "spiral") and not sep:
        return kind, None
    if kind in ("mnist", "cifar10") and rest:
        return kind, Path(rest).expanduser()
    raise ValueError(f"unknown dataset {spec!r}: use one of {', '.join(SPECS)}")


def _flat(X: np.ndarray) -> np.ndarray:
    return X.reshape(len(X), -1)  # (N, ...) -> (N, D)


def load_raw(spec: str) -> tuple[Splits, Standardizer]:
    """The splits of ``spec`` before preprocessing, and the (unfitted) preprocessing it uses."""
    kind, directory = parse_spec(spec)
    if kind in ("digits", "spiral"):
        X, y = builtin.digits() if kind == "digits" else synthetic.spiral(100, 3, seed=0)
        tr, va, te = train_val_test_split(_flat(X), y, val=0.1, test=0.2, seed=SPLIT_SEED)
        num_classes = 10 if kind == "digits" else 3
        return Splits(spec, tr, va, te, num_classes), Standardizer()
    assert directory is not None
    if kind == "mnist":
        X, y = mnist.load_mnist(directory, "train")
        test = mnist.load_mnist(directory, "test")
        if X.shape[1:] != test[0].shape[1:]:
            raise DataError(
                f"{directory}: the train images are {'x'.join(map(str, X.shape[1:]))}, the "
                f"test images {'x'.join(map(str, test[0].shape[1:]))}: they must match"
            )
        n_val = 5000
    else:
        X, y = cifar.load_cifar10(directory, "train")
        test = cifar.load_cifar10(directory, "test")
        n_val = 1000  # CS231n's 49,000 / 1,000 split
    n_val = min(n_val, len(X) // 10)  # small copies of the data keep a tenth for validation
    tr, va, _ = train_val_test_split(_flat(X), y, val=n_val, test=0, seed=SPLIT_SEED)
    # images: subtract the mean image, divide by one global standard deviation
    return Splits(spec, tr, va, (_flat(test[0]), test[1]), 10), Standardizer(per_feature=False)


def load_splits(spec: str, standardizer: Any = None, images: bool = False) -> tuple[Splits, Any]:
    """The preprocessed splits of ``spec`` and the fitted ``Standardizer``.

    The statistics come from the training split only, unless a fitted ``standardizer`` is given
    (to evaluate a saved run with its own statistics). With ``images=True`` the samples keep
    their image shape (N, C, H, W), standardized per channel, and the statistics are a
    ``ChannelStandardizer`` (see ``chainrule.data.images``)::

        >>> splits, stats = load_splits("digits", images=True)
        >>> splits.train[0].shape, stats.mean.shape
        ((1258, 1, 8, 8), (1,))

    >>> splits, stats = load_splits("digits")
    >>> splits.train[0].shape, splits.val[0].shape, splits.test[0].shape, splits.num_classes
    ((1258, 64), (180, 64), (359, 64), 10)
    >>> bool(abs(splits.train[0].mean()) < 1e-6)
    True
    """
    if images:
        return _load_image_splits(spec, standardizer)
    splits, fresh = load_raw(spec)
    stats = fresh.fit(splits.train[0]) if standardizer is None else standardizer
    if stats.mean is not None and stats.mean.shape != (splits.input_dim,):
        raise DataError(
            f"{spec}: samples have {splits.input_dim} features, the saved statistics "
            f"{stats.mean.shape[0]}"
        )

    def prep(pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return stats.transform(pair[0]), pair[1]

    processed = Splits(
        spec, prep(splits.train), prep(splits.val), prep(splits.test), splits.num_classes
    )
    return processed, stats


def _load_image_splits(
    spec: str, standardizer: images.ChannelStandardizer | None
) -> tuple[Splits, images.ChannelStandardizer]:
    """load_splits(spec, images=True): the same splits, as per-channel standardized images."""
    shape = images.image_shape(spec)
    splits, _ = load_raw(spec)
    raw = [
        (images.as_images(X, shape, spec), y) for X, y in (splits.train, splits.val, splits.test)
    ]
    stats = images.ChannelStandardizer().fit(raw[0][0]) if standardizer is None else standardizer
    if stats.mean is None or stats.mean.shape != (shape[0],):
        got = None if stats.mean is None else stats.mean.shape
        raise DataError(f"{spec}: images have {shape[0]} channels, the saved statistics {got}")
    tr, va, te = ((stats.transform(X), y) for X, y in raw)
    return Splits(spec, tr, va, te, splits.num_classes), stats
