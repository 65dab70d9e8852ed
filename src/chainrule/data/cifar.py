"""CIFAR-10 from its binary release (``data_batch_*.bin``) or its python release (pickles).

The binary release stores records of 3,073 bytes: the label, then 1,024 red, 1,024 green and
1,024 blue pixels of a 32x32 image. The python release stores a pickled dict per batch; it is
read through ``RestrictedUnpickler``, which admits only the types those files hold, so a hostile
file cannot run code.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.errors import DataError

_RECORD = 1 + 3 * 32 * 32
_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_TEST = ["test_batch"]
_MAX_PICKLE = 2**28  # 256 MiB: a python-release batch is 31 MB


def _allowed() -> dict[tuple[str, str], Any]:
    """The globals a CIFAR-10 pickle may name: NumPy's array reconstruction and nothing else."""
    try:
        multiarray = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # NumPy 1.x has only numpy.core
        multiarray = importlib.import_module("numpy.core.multiarray")
    # Both spellings (pickles written by NumPy 1 and 2) map to the function itself: nothing in
    # the file chooses a module to import.
    return {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
    }


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` admits only NumPy's array reconstruction.

    Dicts, lists, bytes, strings and ints need no global; any other global (``os.system``,
    ``builtins.eval``, ...) raises ``pickle.UnpicklingError`` before it is looked up.

    >>> import os, pickle
    >>> class Evil:
    ...     def __reduce__(self):
    ...         return (os.system, ("echo pwned",))
    >>> RestrictedUnpickler(io.BytesIO(pickle.dumps(Evil()))).load()
    Traceback (most recent call last):
    ...
    _pickle.UnpicklingError: refused to load global posix.system: only NumPy arrays are allowed
    """

    _ALLOWED = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load global {module}.{name}: only NumPy arrays are allowed"
            ) from None


def _get(batch: dict[Any, Any], key: str) -> Any:
    """A field of a python-release batch: keys are bytes (Python 2 pickles) or str."""
    if key in batch:
        return batch[key]
    return batch.get(key.encode())


def _read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        if path.stat().st_size > _MAX_PICKLE:
            raise DataError(
                f"{path}: {path.stat().st_size} bytes, more than a CIFAR-10 python batch "
                f"(about 31 MB) can be; refused above {_MAX_PICKLE}"
            )
        raw = path.read_bytes()
        batch = RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except DataError:
        raise
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    except Exception as e:  # any failure of a corrupt or hostile pickle is a data error
        raise DataError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if not isinstance(batch, dict):
        raise DataError(f"{path}: not a CIFAR-10 python batch (holds {type(batch).__name__})")
    data, labels = _get(batch, "data"), _get(batch, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{path}: 'data' must be a uint8 array (N, 3072)")
    if data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: 'data' has shape {data.shape}, expected (N, 3072)")
    # an array may claim more than the file holds (zero strides over a short buffer): its bytes
    # must be its own, laid out plainly, and no more than the file's
    if not data.flags.c_contiguous or 0 in data.strides or data.nbytes > len(raw):
        raise DataError(
            f"{path}: 'data' claims {len(data)} images ({data.nbytes} bytes) but the file "
            f"holds {len(raw)} bytes"
        )
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or labels.nbytes > len(raw):
            raise DataError(
                f"{path}: 'labels' must be a 1-D integer array, got shape {labels.shape} of "
                f"{labels.dtype}"
            )
    elif not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise DataError(f"{path}: 'labels' must be a list of {len(data)} ints")
    if len(labels) != len(data):
        raise DataError(f"{path}: 'labels' has {len(labels)} entries, 'data' {len(data)} images")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{path}: 'labels' must be a list of ints ({e})") from e
    return data, y


def _read_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    if len(raw) == 0 or len(raw) % _RECORD:
        raise DataError(
            f"{path}: {len(raw)} bytes is not a whole number of {_RECORD}-byte CIFAR-10 records "
            "(truncated or not a CIFAR-10 binary batch)"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _RECORD)
    return records[:, 1:].copy(), records[:, 0].astype(np.int64)


def _batch_dir(directory: Path) -> Path:
    """The directory holding the batches: ``directory`` or its cifar-10-batches-* child."""
    for child in ("", "cifar-10-batches-bin", "cifar-10-batches-py"):
        d = directory / child
        if (d / "test_batch.bin").is_file() or (d / "test_batch").is_file():
            return d
    return directory


def load_cifar10(
    directory: str | os.PathLike[str], kind: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 images and labels from the binary or the python release in ``directory``.

    ``kind="train"`` reads the five ``data_batch_*`` files (50,000 images), ``kind="test"`` the
    ``test_batch`` (10,000). Binary files end in ``.bin``; the python release's pickles are read
    by ``RestrictedUnpickler``. ``directory`` may also be the folder that holds
    ``cifar-10-batches-bin`` or ``cifar-10-batches-py``. Returns ``X`` (N, 32, 32, 3) uint8 (the
    CS231n layout) and ``y`` (N,) int64 in 0..9. Raises ``DataError`` naming the file when one is
    missing, truncated, not a CIFAR-10 batch, or holds labels outside 0..9.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = d.joinpath("test_batch.bin").write_bytes(bytes([3]) + bytes(3072))
    >>> X, y = load_cifar10(d, kind="test")
    >>> X.shape, y.tolist()
    ((1, 32, 32, 3), [3])
    """
    if kind not in ("train", "test"):
        raise ValueError(f"load_cifar10: kind must be 'train' or 'test', got {kind!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such directory (expected CIFAR-10 batches in it)")
    d = _batch_dir(directory)
    names = _TRAIN if kind == "train" else _TEST
    xs, ys = [], []
    for name in names:
        if (d / (name + ".bin")).is_file():
            path = d / (name + ".bin")
            data, labels = _read_binary_batch(path)
        elif (d / name).is_file():
            path = d / name
            data, labels = _read_python_batch(path)
        else:
            raise DataError(f"{d}: no CIFAR-10 batch {name}.bin or {name} (python release)")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            bad = int(np.argmax((labels < 0) | (labels > 9)))
            raise DataError(f"{path}: label {labels[bad]} at record {bad} is out of range 0..9")
        xs.append(data)
        ys.append(labels)
    X = np.concatenate(xs)
    # (N, 3072) channel-planar -> (N, 3, 32, 32) -> (N, 32, 32, 3)
    X = np.ascontiguousarray(X.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return X, np.concatenate(ys)
