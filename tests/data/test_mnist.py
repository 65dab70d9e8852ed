"""load_mnist on IDX files the test writes, raw and gzipped, and on corrupted variants."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from formats import idx_bytes, write_mnist

from chainrule.data import DataError, load_mnist, read_idx


def _sample(n: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("kind", ["train", "test"])
def test_round_trip(tmp_path: Path, gz: bool, kind: str) -> None:
    X, y = _sample()
    write_mnist(tmp_path, kind, X, y, gz=gz)
    X2, y2 = load_mnist(tmp_path, kind=kind)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert X2.dtype == np.uint8 and y2.dtype == np.int64


def test_kaggle_spelling(tmp_path: Path) -> None:
    X, y = _sample(2)
    tmp_path.joinpath("train-images.idx3-ubyte").write_bytes(idx_bytes(X))
    tmp_path.joinpath("train-labels.idx1-ubyte").write_bytes(idx_bytes(y))
    np.testing.assert_array_equal(load_mnist(tmp_path)[1], y)


def test_missing_directory_and_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such directory"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="kind"):
        load_mnist(tmp_path, kind="validation")


def test_wrong_magic_names_the_file(tmp_path: Path) -> None:
    X, y = _sample()
    write_mnist(tmp_path, "train", X, y, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[3] = 0x01  # claims to be a 1-d file
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*magic number 0x00000801"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("cut", [2, 10, 100])
def test_truncated(tmp_path: Path, cut: int) -> None:
    X, y = _sample()
    write_mnist(tmp_path, "train", X, y, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:cut] if cut < 16 else path.read_bytes()[:-cut])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*truncated"):
        load_mnist(tmp_path)


def test_trailing_bytes(tmp_path: Path) -> None:
    X, y = _sample()
    write_mnist(tmp_path, "train", X, y, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DataError, match="trailing bytes"):
        load_mnist(tmp_path)


def test_truncated_gzip(tmp_path: Path) -> None:
    X, y = _sample()
    write_mnist(tmp_path, "train", X, y, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: cannot read"):
        load_mnist(tmp_path)


def test_labels_out_of_range(tmp_path: Path) -> None:
    X, y = _sample()
    y[3] = 12
    write_mnist(tmp_path, "train", X, y, gz=True)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: label 12 at index 3"):
        load_mnist(tmp_path)


def test_count_mismatch(tmp_path: Path) -> None:
    X, y = _sample(5)
    write_mnist(tmp_path, "train", X, y[:4], gz=False)
    with pytest.raises(DataError, match=r"5 images but .* 4 labels"):
        load_mnist(tmp_path)


def test_read_idx_gzip_detected_by_content(tmp_path: Path) -> None:
    path = tmp_path / "labels-without-gz-suffix"
    path.write_bytes(gzip.compress(idx_bytes(np.array([1, 2, 3]))))
    assert read_idx(path, 0x0801).tolist() == [1, 2, 3]


# -- issue 15: hostile IDX files ----------------------------------------------------------------


def _header(magic: int, *dims: int) -> bytes:
    import struct

    return struct.pack(f">I{len(dims)}I", magic, *dims)


def test_dims_whose_product_overflows_int64(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_header(0x803, 2**22, 2**22, 2**20) + bytes(16))
    with pytest.raises(DataError, match=r"claims 18446744073709551616 bytes"):
        read_idx(path, 0x803)


def test_zero_images(tmp_path: Path) -> None:
    write_mnist(tmp_path, "train", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), False)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: holds no images"):
        load_mnist(tmp_path)


def test_train_and_test_image_sizes_differ(tmp_path: Path) -> None:
    from chainrule.data import load_splits

    X, y = _sample(20)
    write_mnist(tmp_path, "train", X, y, gz=False)
    write_mnist(tmp_path, "test", X[:5, :20, :20].copy(), y[:5], gz=False)
    with pytest.raises(DataError, match=r"train images are 28x28, the test images 20x20"):
        load_splits(f"mnist:{tmp_path}")


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    import tracemalloc
    import zlib

    bomb = 64 * 2**20  # 64 MiB of zeros after a header that claims 10 labels
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    parts = [comp.compress(_header(0x801, 10) + bytes(10))]
    chunk = bytes(2**20)
    parts += [comp.compress(chunk) for _ in range(bomb // len(chunk))]
    parts.append(comp.flush())
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"".join(parts))
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="has trailing bytes"):
            read_idx(path, 0x801)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, peak
