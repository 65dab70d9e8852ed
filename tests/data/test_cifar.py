"""load_cifar10 on both releases written by the test, corrupted files, and hostile pickles."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from formats import cifar_binary, cifar_python2_pickle

from chainrule.data import DataError, RestrictedUnpickler, load_cifar10


def _sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def _write(directory: Path, release: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Five training batches of 2 images and a test batch of 3, in the given release."""
    xs, ys = [], []
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        X, y = _sample(3 if name == "test_batch" else 2, seed=i)
        if release == "bin":
            directory.joinpath(name + ".bin").write_bytes(cifar_binary(X, y))
        else:
            directory.joinpath(name).write_bytes(cifar_python2_pickle(X, y))
        xs.append(X)
        ys.append(y)
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]


@pytest.mark.parametrize("release", ["bin", "py"])
def test_round_trip(tmp_path: Path, release: str) -> None:
    Xtr, ytr, Xte, yte = _write(tmp_path, release)
    X, y = load_cifar10(tmp_path)
    np.testing.assert_array_equal(X, Xtr)
    np.testing.assert_array_equal(y, ytr)
    X, y = load_cifar10(tmp_path, kind="test")
    np.testing.assert_array_equal(X, Xte)
    np.testing.assert_array_equal(y, yte)
    assert X.shape == (3, 32, 32, 3) and X.dtype == np.uint8 and y.dtype == np.int64


def test_release_subdirectory(tmp_path: Path) -> None:
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    _, _, Xte, _ = _write(sub, "py")
    np.testing.assert_array_equal(load_cifar10(tmp_path, kind="test")[0], Xte)


def test_python3_pickle_of_a_batch(tmp_path: Path) -> None:
    """A batch re-saved by Python 3 with protocol 4: str keys, numpy._core global."""
    X, y = _sample(2, seed=0)
    data = X.transpose(0, 3, 1, 2).reshape(2, -1)
    tmp_path.joinpath("test_batch").write_bytes(
        pickle.dumps({"data": data, "labels": y.tolist()}, protocol=4)
    )
    np.testing.assert_array_equal(load_cifar10(tmp_path, kind="test")[0], X)


def test_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such directory"):
        load_cifar10(tmp_path / "absent")
    with pytest.raises(DataError, match="data_batch_1"):
        load_cifar10(tmp_path)


def test_truncated_binary(tmp_path: Path) -> None:
    _write(tmp_path, "bin")
    path = tmp_path / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"data_batch_3\.bin: .* not a whole number"):
        load_cifar10(tmp_path)


def test_binary_label_out_of_range(tmp_path: Path) -> None:
    _write(tmp_path, "bin")
    path = tmp_path / "test_batch.bin"
    raw = bytearray(path.read_bytes())
    raw[3073] = 10  # the second record's label
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"test_batch\.bin: label 10 at record 1"):
        load_cifar10(tmp_path, kind="test")


def test_python_label_out_of_range(tmp_path: Path) -> None:
    X, _ = _sample(2, seed=0)
    tmp_path.joinpath("test_batch").write_bytes(cifar_python2_pickle(X, np.array([3, 11])))
    with pytest.raises(DataError, match="test_batch: label 11"):
        load_cifar10(tmp_path, kind="test")


@pytest.mark.parametrize(
    "payload",
    [
        b"not a pickle at all",
        pickle.dumps([1, 2, 3], protocol=2),
        pickle.dumps({"data": np.zeros((2, 5), np.uint8), "labels": [0, 1]}, protocol=4),
        pickle.dumps({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}, protocol=4),
        pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, protocol=4),
        pickle.dumps({"data": np.full((1, 3072), 7, dtype=object), "labels": [0]}, protocol=2),
    ],
    ids=["garbage", "a-list", "wrong-width", "wrong-dtype", "label-count", "object-array"],
)
def test_corrupt_python_batch(tmp_path: Path, payload: bytes) -> None:
    tmp_path.joinpath("test_batch").write_bytes(payload)
    with pytest.raises(DataError, match="test_batch"):
        load_cifar10(tmp_path, kind="test")


def test_truncated_python_batch(tmp_path: Path) -> None:
    X, y = _sample(2, seed=0)
    tmp_path.joinpath("test_batch").write_bytes(cifar_python2_pickle(X, y)[:-50])
    with pytest.raises(DataError, match="test_batch: not a CIFAR-10 python batch"):
        load_cifar10(tmp_path, kind="test")


class _RunsCode:
    """A pickle payload that, loaded by a plain unpickler, runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"echo pwned > {self.marker}",))


def test_hostile_pickle_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(
        {"data": _RunsCode(marker), "labels": [0]}, protocol=2
    )  # what a hostile data_batch_1 could hold
    tmp_path.joinpath("test_batch").write_bytes(payload)
    with pytest.raises(DataError, match=r"test_batch: .*refused to load global (posix|nt)\.system"):
        load_cifar10(tmp_path, kind="test")
    assert not marker.exists()
    # the guard itself, without the loader around it
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        RestrictedUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load"), ("_codecs", "encode")],
)
def test_guard_refuses_any_other_global(module: str, name: str) -> None:
    payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"."
    with pytest.raises(pickle.UnpicklingError, match=f"refused to load global {module}.{name}"):
        RestrictedUnpickler(io.BytesIO(payload)).load()


# -- issue 15: arrays that claim more than the file holds, memo bombs, labels not 1-D -----------


class _ZeroStride:
    """Pickles as ndarray(shape, uint8, buffer=1 byte, strides=0): 10^9 images from one byte."""

    def __reduce__(self) -> tuple[object, ...]:
        return (np.ndarray, ((10**9, 3072), np.dtype(np.uint8), b"\x00", 0, (0, 0)))


def _write_batch(tmp_path: Path, batch: dict[str, object]) -> None:
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=4))


def test_zero_stride_images_are_refused(tmp_path: Path) -> None:
    _write_batch(tmp_path, {"data": _ZeroStride(), "labels": [0]})
    with pytest.raises(DataError, match=r"claims 1000000000 images .* but the file holds"):
        load_cifar10(tmp_path, "test")


def test_memo_bomb_labels_are_refused(tmp_path: Path) -> None:
    row = [0] * 100
    labels = [row] * 4  # 3 KB of pickle that np.asarray would make 2-D (or huge, nested)
    _write_batch(tmp_path, {"data": np.zeros((4, 3072), np.uint8), "labels": labels})
    assert len(pickle.dumps(labels, protocol=4)) < 300  # the rows are one memoized object
    with pytest.raises(DataError, match=r"'labels' must be a list of 4 ints"):
        load_cifar10(tmp_path, "test")


def test_labels_that_are_not_1d_are_refused(tmp_path: Path) -> None:
    batch = {"data": np.zeros((4, 3072), np.uint8), "labels": np.zeros((4, 2), np.int64)}
    _write_batch(tmp_path, batch)
    with pytest.raises(
        DataError, match=r"'labels' must be a 1-D integer array, got shape \(4, 2\)"
    ):
        load_cifar10(tmp_path, "test")
