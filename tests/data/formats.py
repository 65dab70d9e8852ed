"""Writers of the real on-disk formats, for loader tests: IDX, CIFAR-10 binary and python."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x000008NN, big-endian sizes, the data."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(directory: Path, kind: str, X: np.ndarray, y: np.ndarray, gz: bool) -> None:
    prefix = "train" if kind == "train" else "t10k"
    for what, arr, ndim in (("images", X, 3), ("labels", y, 1)):
        raw = idx_bytes(arr)
        name = f"{prefix}-{what}-idx{ndim}-ubyte"
        if gz:
            directory.joinpath(name + ".gz").write_bytes(gzip.compress(raw))
        else:
            directory.joinpath(name).write_bytes(raw)


def cifar_binary(X: np.ndarray, y: np.ndarray) -> bytes:
    """Records of label + 1024 R + 1024 G + 1024 B bytes; X is (N, 32, 32, 3)."""
    planar = X.transpose(0, 3, 1, 2).reshape(len(X), -1)  # (N, 32, 32, 3) -> (N, 3072)
    return np.concatenate([y.astype(np.uint8)[:, None], planar], axis=1).tobytes()


def _str(b: bytes) -> bytes:
    """A Python 2 ``str`` in a protocol-2 pickle: SHORT_BINSTRING or BINSTRING."""
    if len(b) < 256:
        return b"U" + bytes([len(b)]) + b
    return b"T" + struct.pack("<I", len(b)) + b


def _int(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)


def cifar_python2_pickle(X: np.ndarray, y: np.ndarray) -> bytes:
    """A batch as the python release stores it: a Python 2 protocol-2 pickle of a dict with str
    keys, a uint8 array (N, 3072) rebuilt by numpy.core.multiarray._reconstruct, and a list of
    labels. Written opcode by opcode, since Python 3 cannot write Python 2 strings."""
    data = X.transpose(0, 3, 1, 2).reshape(len(X), -1).astype(np.uint8)
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n"
        + b"K\x00\x85"  # (0,)
        + _str(b"b")
        + b"\x87R"  # _reconstruct(ndarray, (0,), "b")
        + b"("  # state: (version, shape, dtype, fortran, data)
        + b"K\x01"
        + _int(data.shape[0])
        + _int(data.shape[1])
        + b"\x86"
        + b"cnumpy\ndtype\n"
        + _str(b"u1")
        + b"K\x00K\x01\x87R"  # dtype("u1", 0, 1)
        + b"(K\x03"
        + _str(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"  # dtype state
        + b"\x89"  # fortran order: False
        + _str(data.tobytes())
        + b"tb"
    )
    labels = b"](" + b"".join(_int(int(v)) for v in y) + b"e"
    return (
        b"\x80\x02}("
        + _str(b"batch_label")
        + _str(b"testing batch 1 of 1")
        + _str(b"data")
        + array
        + _str(b"labels")
        + labels
        + _str(b"filenames")
        + b"]("
        + b"".join(_str(f"img{i}.png".encode()) for i in range(len(y)))
        + b"e"
        + b"u."
    )
