"""Save and load named arrays in the safetensors format: never pickle, never partial files.

A safetensors file is an 8-byte little-endian header length N, a JSON header of N bytes
(``{name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__":
{str: str}}``), then the raw little-endian bytes of every array, back to back. The files open
with ``safetensors.numpy.load_file`` and in every library that reads the format.

``save`` writes a temporary file in the target's directory, fsyncs it and renames it over the
target (``os.replace``), so a crash mid-save leaves the previous file whole. ``load`` checks
everything before trusting it (header length within the file, JSON, a known dtype, shape vs
byte range, offsets in bounds, contiguous and non-overlapping, no trailing bytes) and raises
one error type, ``SerializationError`` (a ValueError), naming the file and the problem.

>>> import os, tempfile
>>> import numpy as np
>>> import chainrule as cr
>>> path = os.path.join(tempfile.mkdtemp(), "weights.safetensors")
>>> cr.save({"W": np.eye(2, dtype=np.float32)}, path, metadata={"epoch": "3"})
>>> cr.load(path)["W"].tolist()
[[1.0, 0.0], [0.0, 1.0]]
>>> cr.serialization.read_metadata(path)
{'epoch': '3'}
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import tempfile
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

from chainrule import _tensor

_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype("<u1"),
    "I8": np.dtype("<i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
_NAMES = {(dt.kind, dt.itemsize): name for name, dt in _DTYPES.items()}
_MAX_HEADER = 100_000_000  # the reference implementation's limit, against hostile lengths


class SerializationError(ValueError):
    """A file that is not a valid safetensors file (truncated, corrupt or hostile)."""


PathLike = str | os.PathLike[str]


def _prepare(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(state, Mapping):
        if callable(getattr(state, "state_dict", None)):  # a Module or an optimizer
            raise TypeError(
                f"save: got a {type(state).__name__}, not its arrays: pass its state_dict(), "
                f"as in cr.save(model.state_dict(), path)"
            )
        raise TypeError(f"save: expected a dict of name -> array, got {type(state).__name__}")
    arrays: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"save: names must be non-empty strings, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save: '__metadata__' is reserved by the format; use metadata=")
        arr = value.data if isinstance(value, _tensor.Tensor) else np.asarray(value)
        key = (arr.dtype.kind, arr.dtype.itemsize)
        if key not in _NAMES:
            raise TypeError(
                f"save: {name!r} has dtype {arr.dtype}, which safetensors cannot store "
                f"(supported: {', '.join(_DTYPES)})"
            )
        arr = np.asarray(arr, dtype=_DTYPES[_NAMES[key]])  # little-endian
        if not arr.flags.c_contiguous:  # (ascontiguousarray would make 0-d arrays 1-d)
            arr = arr.copy(order="C")
        arrays[name] = arr
    return arrays


def _header(arrays: dict[str, np.ndarray], metadata: Mapping[str, str] | None) -> bytes:
    header: dict[str, Any] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"save: metadata must map str to str, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, arr in arrays.items():
        header[name] = {
            "dtype": _NAMES[(arr.dtype.kind, arr.dtype.itemsize)],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # pad so the data starts 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


def _write_array(f: BinaryIO, arr: np.ndarray) -> None:
    if arr.nbytes:
        f.write(arr.data)  # C-contiguous: the raw bytes, no copy


def umask_mode(directory: bool = False) -> int:
    """The mode a new file (or directory) gets from the process's umask, as ``open`` gives:
    temporary files start at 0600 (0700), so an atomic write sets this before its rename.

    >>> old = os.umask(0o022)
    >>> oct(umask_mode()), oct(umask_mode(directory=True))
    ('0o644', '0o755')
    >>> _ = os.umask(old)
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def save(
    state_dict: Mapping[str, Any], path: PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """Write named arrays (or Tensors) to ``path`` as safetensors, atomically.

    ``metadata`` is an optional dict of str -> str stored in the header.

    >>> import os, tempfile
    >>> import numpy as np
    >>> import chainrule as cr
    >>> from safetensors.numpy import load_file
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> cr.save({"b": np.arange(3, dtype=np.int64)}, path)
    >>> load_file(path)["b"].tolist()
    [0, 1, 2]
    """
    arrays = _prepare(state_dict)
    head = _header(arrays, metadata)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            for arr in arrays.values():
                _write_array(f, arr)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable (best effort: not every platform allows it)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r} in the header")
        out[k] = v
    return out


def _read_header(f: BinaryIO, path: str, size: int) -> tuple[dict[str, Any], int]:
    def fail(msg: str) -> SerializationError:
        return SerializationError(f"{path}: not a valid safetensors file: {msg}")

    prefix = f.read(8)
    if len(prefix) < 8:
        raise fail(f"{size} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", prefix)
    if n > _MAX_HEADER or n > size - 8:
        raise fail(f"header length {n} exceeds the file ({size} bytes) or the {_MAX_HEADER} limit")
    raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise fail(f"the header is not valid JSON ({e})") from None
    except RecursionError:
        raise fail("the header's JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise fail("the header is not a JSON object")
    return header, 8 + n


def _entries(
    header: dict[str, Any], path: str, data_len: int
) -> list[tuple[str, np.dtype, tuple[int, ...], int, int]]:
    def fail(msg: str) -> SerializationError:
        return SerializationError(f"{path}: not a valid safetensors file: {msg}")

    meta = header.get("__metadata__")
    if meta is not None and (
        not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values())
    ):
        raise fail("__metadata__ must map strings to strings")
    for text in [*header, *(meta or {}), *(meta or {}).values()]:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (the reference reader refuses it too)
            raise fail(f"{text!r} in the header is not valid Unicode") from None
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise fail(f"entry {name!r} must have exactly dtype, shape and data_offsets")
        dtype = _DTYPES.get(info["dtype"]) if isinstance(info["dtype"], str) else None
        if dtype is None:
            raise fail(f"entry {name!r} has unsupported dtype {info['dtype']!r}")
        shape, offs = info["shape"], info["data_offsets"]
        if not isinstance(shape, list) or not all(type(d) is int and 0 <= d < 2**53 for d in shape):
            raise fail(f"entry {name!r} has an invalid shape {shape!r}")
        count = 1
        for d in shape:  # as the reference reader: no partial product may overflow
            count *= d
            if count * dtype.itemsize >= 2**63:
                raise fail(f"entry {name!r}: shape {shape} overflows the size of an array")
        if (
            not isinstance(offs, list)
            or len(offs) != 2
            or not all(type(o) is int for o in offs)
            or not 0 <= offs[0] <= offs[1] <= data_len
        ):
            raise fail(
                f"entry {name!r} has data_offsets {offs!r} outside the {data_len} data bytes"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes != offs[1] - offs[0]:
            raise fail(
                f"entry {name!r}: shape {shape} of {info['dtype']} needs {nbytes} bytes but its "
                f"byte range holds {offs[1] - offs[0]}"
            )
        entries.append((name, dtype, tuple(shape), offs[0], offs[1]))
    end = 0
    for name, _, _, begin, stop in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != end:
            what = "overlaps the previous entry" if begin < end else "leaves a gap before it"
            raise fail(f"entry {name!r} at bytes {begin}..{stop} {what}")
        end = stop
    if end != data_len:
        raise fail(f"{data_len - end} bytes after the last entry (truncated header or garbage)")
    return entries


def load(path: PathLike) -> dict[str, np.ndarray]:
    """Read a safetensors file into a dict of name -> ndarray (each writable, its own memory).

    Raises ``SerializationError`` naming the file for anything that is not a valid file.

    >>> import os, tempfile
    >>> import numpy as np
    >>> import chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.safetensors")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"\\xff" * 16)
    >>> try:
    ...     cr.load(path)
    ... except cr.serialization.SerializationError as e:
    ...     print(str(e).split(": ", 1)[1][:28])
    not a valid safetensors file
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, start = _read_header(f, path, size)
        entries = _entries(header, path, size - start)
        data = bytearray(size - start)
        got = f.readinto(data)
        if got != len(data):
            raise SerializationError(f"{path}: truncated while reading ({got} of {len(data)})")
    out: dict[str, np.ndarray] = {}
    view = memoryview(data)
    for name, dtype, shape, begin, stop in entries:
        arr = np.frombuffer(view[begin:stop], dtype=dtype).reshape(shape)
        if not arr.flags.aligned:
            arr = arr.copy()
        out[name] = arr
    return {name: out[name] for name in header if name != "__metadata__"}


def read_metadata(path: PathLike) -> dict[str, str]:
    """The ``metadata`` dict stored by ``save`` (empty if none); the file is validated.

    >>> import os, tempfile
    >>> import numpy as np
    >>> import chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> cr.save({"x": np.zeros(1)}, path)
    >>> cr.serialization.read_metadata(path)
    {}
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, start = _read_header(f, path, size)
        _entries(header, path, size - start)
    return dict(header.get("__metadata__") or {})
