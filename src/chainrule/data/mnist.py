"""MNIST and Fashion-MNIST from their IDX files, raw or gzipped.

The IDX format: a big-endian header (magic ``0x0000 08 NDIM``: unsigned bytes, NDIM dimensions),
NDIM big-endian uint32 sizes, then the bytes. Images are ``0x00000803`` (N, rows, cols),
labels ``0x00000801`` (N,).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.errors import DataError

_PREFIX = {"train": "train", "test": "t10k"}
_IMAGE_MAGIC = 0x00000803
_LABEL_MAGIC = 0x00000801


def _find(directory: Path, prefix: str, what: str, ndim: int) -> Path:
    """The first file that exists among the usual spellings of one IDX file."""
    stems = [f"{prefix}-{what}-idx{ndim}-ubyte", f"{prefix}-{what}.idx{ndim}-ubyte"]
    for stem in stems:
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                return directory / name
    raise DataError(f"{directory}: no MNIST file {stems[0]} (or .gz, or {stems[1]})")


MAX_BYTES = 2**31  # 2 GiB: MNIST's largest file holds 47 MB; a header claiming more is damaged


def read_idx(path: str | os.PathLike[str], magic: int) -> np.ndarray:
    """One IDX file of unsigned bytes as an ndarray, checking its magic number and size.

    The header is read and checked first; a gzipped file is then decompressed as a stream of at
    most the bytes its header claims (plus one, to see trailing data), so a small ``.gz`` that
    inflates to gigabytes is refused after reading that much, not after inflating it all.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
    >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(p, 0x00000801)
    array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw_file:
            gz = raw_file.read(2) == b"\x1f\x8b"
            raw_file.seek(0)
            f = gzip.GzipFile(fileobj=raw_file) if gz else raw_file
            return _read_idx_stream(f, path, magic)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e})") from e


def _read_idx_stream(f: Any, path: Path, magic: int) -> np.ndarray:
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(head)} bytes, no header)")
    (found,) = struct.unpack(">I", head)
    if found != magic:
        raise DataError(
            f"{path}: not an IDX file of this kind (magic number 0x{found:08x}, "
            f"expected 0x{magic:08x})"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header ({4 + len(dims)} bytes, need {header})")
    shape = struct.unpack(f">{ndim}I", dims)
    count = math.prod(shape)  # Python ints: no overflow
    if count > MAX_BYTES:
        raise DataError(
            f"{path}: the header's shape {shape} claims {count} bytes, more than the "
            f"{MAX_BYTES} an MNIST file can hold: is it damaged?"
        )
    body = f.read(count + 1)
    expected = header + count
    if len(body) != count:
        kind = "truncated" if len(body) < count else "has trailing bytes"
        size = f"{header + len(body)} bytes" if len(body) < count else "more bytes"
        raise DataError(f"{path}: {kind}: {size}, the header's shape {shape} needs {expected}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape).copy()


def load_mnist(
    directory: str | os.PathLike[str], kind: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST or Fashion-MNIST images and labels from the IDX files in ``directory``.

    ``kind="train"`` reads ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (60,000),
    ``kind="test"`` the ``t10k-`` files (10,000); each may be gzipped (``.gz``). Returns ``X``
    (N, 28, 28) uint8 and ``y`` (N,) int64 in 0..9. Raises ``DataError`` naming the file when
    one is missing, has the wrong magic number, is truncated, or holds labels outside 0..9.

    >>> import tempfile, pathlib, gzip
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = d.joinpath("t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(
    ...     bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(range(8))))
    >>> _ = d.joinpath("t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 4, 9]))
    >>> X, y = load_mnist(d, kind="test")
    >>> X.shape, y.tolist()
    ((2, 2, 2), [4, 9])
    """
    if kind not in _PREFIX:
        raise ValueError(f"load_mnist: kind must be 'train' or 'test', got {kind!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such directory (expected MNIST IDX files in it)")
    images_path = _find(directory, _PREFIX[kind], "images", 3)
    labels_path = _find(directory, _PREFIX[kind], "labels", 1)
    X = read_idx(images_path, _IMAGE_MAGIC)
    y = read_idx(labels_path, _LABEL_MAGIC).astype(np.int64)
    if len(X) == 0:
        raise DataError(f"{images_path}: holds no images")
    if len(X) != len(y):
        raise DataError(
            f"{images_path}: {len(X)} images but {labels_path.name} has {len(y)} labels"
        )
    if y.size and y.max() > 9:
        bad = int(np.argmax(y > 9))
        raise DataError(f"{labels_path}: label {y[bad]} at index {bad} is out of range 0..9")
    return X, y
