"""Image datasets in their image shape (N, C, H, W), standardized per channel, for convnets.

``load_splits(spec, images=True)`` comes here: digits (N, 1, 8, 8), MNIST (N, 1, 28, 28),
CIFAR-10 (N, 3, 32, 32), each channel shifted and scaled by the mean and standard deviation of
that channel over the training split's pixels (CS231n's per-channel preprocessing).
"""

from __future__ import annotations

import numpy as np

from chainrule.data.errors import DataError

# the image shape (C, H, W) of each spec kind with images; CIFAR-10 records are channel-major
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}


def image_shape(spec: str) -> tuple[int, int, int]:
    """(C, H, W) of a spec's images; DataError for a dataset without an image shape.

    >>> image_shape("digits"), image_shape("cifar10:/data/cifar")
    ((1, 8, 8), (3, 32, 32))
    """
    kind = spec.partition(":")[0]
    if kind not in IMAGE_SHAPES:
        raise DataError(
            f"{spec}: not an image dataset (images come from {', '.join(IMAGE_SHAPES)})"
        )
    return IMAGE_SHAPES[kind]


class ChannelStandardizer:
    """Per-channel standardization of (N, C, H, W) images: ``(x - mean[c]) / std[c]``, the
    statistics taken over the training split's samples and pixels (``fit``).

    >>> X = np.array([[[[0.0, 2.0]], [[10.0, 10.0]]]])        # (1, 2, 1, 2)
    >>> s = ChannelStandardizer().fit(X)
    >>> s.mean.tolist(), s.std.tolist()                        # channel 2 is constant: scale 1
    ([1.0, 10.0], [1.0, 1.0])
    >>> s.transform(X)[0, :, 0].tolist()
    [[-1.0, 1.0], [0.0, 0.0]]
    """

    def __init__(self, dtype: type = np.float32) -> None:
        self.dtype = dtype
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> ChannelStandardizer:
        """Per-channel mean and standard deviation of ``X`` (N, C, H, W), in float64."""
        X = np.asarray(X)
        if X.ndim != 4 or len(X) == 0:
            raise ValueError(
                f"ChannelStandardizer.fit: expected (N, C, H, W) images, got {X.shape}"
            )
        mean = X.mean(axis=(0, 2, 3), dtype=np.float64)
        sq = np.zeros_like(mean)
        for start in range(0, len(X), 4096):  # in chunks: no float64 copy of a big X
            d = X[start : start + 4096] - mean.reshape(1, -1, 1, 1)
            sq += np.einsum("nchw,nchw->c", d, d)
        std = np.sqrt(sq / (X.size // X.shape[1]))
        std[std < 1e-8] = 1.0
        self.mean, self.std = mean.astype(self.dtype), std.astype(self.dtype)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``(X - mean) / std`` per channel, as ``dtype``."""
        if self.mean is None or self.std is None:
            raise RuntimeError("ChannelStandardizer.transform: call fit() or load_state_dict()")
        X = np.asarray(X)
        if X.ndim != 4 or X.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"ChannelStandardizer.transform: images of shape {X.shape[1:]}, fitted on "
                f"{self.mean.shape[0]} channels"
            )
        out: np.ndarray = X.astype(self.dtype)
        out -= self.mean.reshape(1, -1, 1, 1)
        out /= self.std.reshape(1, -1, 1, 1)
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """The statistics: ``{"mean", "std"}``, one entry per channel."""
        if self.mean is None or self.std is None:
            raise RuntimeError("ChannelStandardizer.state_dict: not fitted")
        return {"mean": self.mean, "std": self.std}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore statistics saved by ``state_dict()``."""
        mean, std = np.asarray(state["mean"]), np.asarray(state["std"])
        if mean.ndim != 1 or mean.shape != std.shape:
            raise ValueError(
                f"ChannelStandardizer: mean {mean.shape} and std {std.shape} must be one value "
                "per channel"
            )
        self.mean, self.std = mean.astype(self.dtype), std.astype(self.dtype)


def as_images(X: np.ndarray, shape: tuple[int, int, int], spec: str) -> np.ndarray:
    """Rows (N, C*H*W) in channel-major order as images (N, C, H, W)."""
    if X.shape[1:] != (int(np.prod(shape)),):
        raise DataError(f"{spec}: samples of {X.shape[1:]} values are not images {shape}")
    return X.reshape(len(X), *shape)
