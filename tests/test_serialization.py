"""safetensors save/load: exact round trips, interop, atomic writes, hostile files refused."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import chainrule as cr
from chainrule import nn, serialization
from chainrule.serialization import SerializationError


def sample() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "w32": rng.standard_normal((3, 4)).astype(np.float32),
        "w64": rng.standard_normal((2, 5)),
        "scalar": np.array(2.5),
        "ints": np.arange(7, dtype=np.int64),
        "u8": np.arange(3, dtype=np.uint8),
        "empty": np.zeros((0, 3), np.float32),
        "flags": np.array([True, False]),
        "f16": np.array([1.5, -2.0], np.float16),
    }


def test_round_trip_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "a.safetensors"
    data = sample()
    cr.save(data, path)
    back = cr.load(path)
    assert list(back) == list(data)
    for k, v in data.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)
        assert back[k].flags.writeable


def test_files_interoperate_with_the_safetensors_package(tmp_path: Path) -> None:
    data = sample()
    cr.save(data, tmp_path / "ours.safetensors", metadata={"format": "np"})
    theirs = load_file(str(tmp_path / "ours.safetensors"))
    for k, v in data.items():
        np.testing.assert_array_equal(theirs[k], v)
    save_file(data, str(tmp_path / "theirs.safetensors"))
    for k, v in cr.load(tmp_path / "theirs.safetensors").items():
        np.testing.assert_array_equal(v, data[k])


def test_non_contiguous_big_endian_and_tensors(tmp_path: Path) -> None:
    a = np.arange(12.0).reshape(3, 4).T
    b = np.arange(3, dtype=">i4")
    cr.save({"a": a, "b": b, "t": cr.tensor([1.0, 2.0])}, tmp_path / "x.safetensors")
    back = cr.load(tmp_path / "x.safetensors")
    np.testing.assert_array_equal(back["a"], a)
    np.testing.assert_array_equal(back["b"], b)
    assert back["t"].dtype == np.float32


def test_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    cr.save({"x": np.zeros(2)}, path, metadata={"epoch": "4", "arch": "MLP"})
    assert serialization.read_metadata(path) == {"epoch": "4", "arch": "MLP"}
    with pytest.raises(TypeError, match="str to str"):
        cr.save({"x": np.zeros(2)}, path, metadata={"epoch": 4})  # type: ignore[dict-item]


def test_save_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="'c' has dtype complex128"):
        cr.save({"c": np.zeros(2, complex)}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="dtype object"):
        cr.save({"o": np.array([None])}, tmp_path / "o.safetensors")
    with pytest.raises(ValueError, match="reserved"):
        cr.save({"__metadata__": np.zeros(1)}, tmp_path / "r.safetensors")
    with pytest.raises(TypeError, match="non-empty strings"):
        cr.save({1: np.zeros(1)}, tmp_path / "k.safetensors")  # type: ignore[dict-item]
    assert not list(tmp_path.iterdir())


def test_crash_mid_save_leaves_the_old_file_whole(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.safetensors"
    old = {"w": np.ones((100, 100), np.float32)}
    cr.save(old, path)
    before = path.read_bytes()
    calls = []

    def failing_write(f, arr):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:  # the first array is already written
            raise OSError("disk full")
        f.write(arr.data)

    monkeypatch.setattr(serialization, "_write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        cr.save({"w": np.zeros((100, 100), np.float32), "b": np.zeros(5)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temp left
    np.testing.assert_array_equal(cr.load(path)["w"], old["w"])


def _valid_bytes() -> bytes:
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]},
    }
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + np.ones(2, np.float32).tobytes() + bytes(8)


def _with_header(header: object, data: bytes = bytes(16), length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def E(dtype: str = "F32", shape: object = (2,), offs: object = (0, 8)) -> dict[str, object]:
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offs)}  # type: ignore[call-overload]


HOSTILE = {
    "empty file": b"",
    "short length prefix": b"\x01\x00",
    "huge header length": struct.pack("<Q", 2**63) + b"{}",
    "header past the end": struct.pack("<Q", 1000) + b"{}",
    "not json": struct.pack("<Q", 4) + b"{{{{",
    "not utf-8": struct.pack("<Q", 2) + b"\xff\xfe",
    "json list": _with_header([1, 2], b""),
    "unknown dtype": _with_header({"a": E(dtype="Q7")}, bytes(8)),
    "bfloat16": _with_header({"a": E(dtype="BF16", shape=(4,))}, bytes(8)),
    "negative shape": _with_header({"a": E(shape=(-2,))}, bytes(8)),
    "float shape": _with_header({"a": E(shape=(2.0,))}, bytes(8)),
    "shape vs bytes": _with_header({"a": E(shape=(3,))}, bytes(8)),
    "offsets past the end": _with_header({"a": E(shape=(4,), offs=(0, 16))}, bytes(8)),
    "reversed offsets": _with_header({"a": E(shape=(0,), offs=(8, 0))}, bytes(8)),
    "overlap": _with_header({"a": E(), "b": E(offs=(4, 12))}, bytes(12)),
    "gap": _with_header({"a": E(), "b": E(offs=(12, 20))}, bytes(20)),
    "trailing garbage": _with_header({"a": E()}, bytes(12)),
    "truncated data": _valid_bytes()[:-3],
    "missing keys": _with_header({"a": {"dtype": "F32", "shape": [2]}}, bytes(8)),
    "extra keys": _with_header({"a": {**E(), "evil": 1}}, bytes(8)),
    "bad metadata": _with_header({"__metadata__": {"k": 1}, "a": E()}, bytes(8)),
    "duplicate names": struct.pack("<Q", 2 * len(json.dumps({"a": E()})) + 1)
    + b"{"
    + json.dumps({"a": E()}).encode()[1:-1]
    + b","
    + json.dumps({"a": E()}).encode()[1:-1]
    + b"}"
    + bytes(8),
}


def test_the_valid_fixture_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.safetensors"
    path.write_bytes(_valid_bytes())
    assert cr.load(path)["a"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_corrupt_truncated_and_hostile_files_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(HOSTILE[name])
    with pytest.raises(SerializationError, match=r"bad\.safetensors: not a valid safetensors"):
        cr.load(path)
    with pytest.raises(SerializationError):
        serialization.read_metadata(path)


def test_every_truncation_of_a_real_file_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    cr.save({"w": np.arange(6, dtype=np.float32), "b": np.ones(2)}, good)
    raw = good.read_bytes()
    bad = tmp_path / "cut.safetensors"
    for n in range(len(raw)):
        bad.write_bytes(raw[:n])
        with pytest.raises(SerializationError):
            cr.load(bad)


def test_serialization_error_is_a_value_error() -> None:
    assert issubclass(SerializationError, ValueError)


def test_module_state_dict_through_a_file(tmp_path: Path) -> None:
    nn.init.seed(0)
    net = nn.MLP([4, 8, 3], batchnorm=True)
    net(cr.tensor(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)))
    cr.save(net.state_dict(), tmp_path / "net.safetensors")
    fresh = nn.MLP([4, 8, 3], batchnorm=True)
    fresh.load_state_dict(cr.load(tmp_path / "net.safetensors"))
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v)
    wrong = nn.MLP([4, 9, 3], batchnorm=True)
    with pytest.raises(ValueError, match=r"0\.weight: shape \(4, 8\)"):
        wrong.load_state_dict(cr.load(tmp_path / "net.safetensors"))


def test_saving_never_uses_pickle(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pickle

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "dumps", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    cr.save(sample(), tmp_path / "p.safetensors")
    cr.load(tmp_path / "p.safetensors")
    assert os.path.getsize(tmp_path / "p.safetensors") > 0


# -- issue 15: the reference reader's refusals ------------------------------------------------


def _raw_file(tmp_path: Path, header: bytes, data: bytes = b"") -> Path:
    import struct

    path = tmp_path / "raw.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


@pytest.mark.parametrize(
    ("header", "pattern"),
    [
        (b"[" * 100_000, "nested too deeply"),
        (
            b'{"x": {"dtype": "F32", "shape": [4503599627370496, 4503599627370496, 0], '
            b'"data_offsets": [0, 0]}}',
            r"overflows the size of an array",
        ),
        (
            b'{"\\ud800": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}',
            "not valid Unicode",
        ),
        (b'{"__metadata__": {"k": "\\udfff"}}', "not valid Unicode"),
    ],
)
def test_hostile_headers_are_refused_naming_the_file(
    tmp_path: Path, header: bytes, pattern: str
) -> None:
    path = _raw_file(tmp_path, header)
    with pytest.raises(cr.serialization.SerializationError, match=pattern) as info:
        cr.load(path)
    assert str(path) in str(info.value)
