"""DataLoader: batches cover the data once per epoch, orders are reproducible and resumable."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.data import DataLoader


def _data(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n * 3, dtype=np.float32).reshape(n, 3), np.arange(n)


@pytest.mark.parametrize(("n", "bs", "drop_last", "sizes"), [
    (10, 3, False, [3, 3, 3, 1]),
    (10, 3, True, [3, 3, 3]),
    (10, 5, False, [5, 5]),
    (2, 5, False, [2]),
])  # fmt: skip
def test_batches_cover_each_sample_once(n: int, bs: int, drop_last: bool, sizes: list[int]) -> None:
    X, y = _data(n)
    loader = DataLoader(X, y, batch_size=bs, seed=1, drop_last=drop_last)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == sizes == [bs] * (len(loader) - 1) + [sizes[-1]]
    seen = np.concatenate([yb for _, yb in batches])
    assert len(set(seen.tolist())) == len(seen)
    for xb, yb in batches:
        np.testing.assert_array_equal(xb, X[yb])  # rows stay paired with their labels
    if not drop_last:
        assert sorted(seen.tolist()) == list(range(n))


def test_epochs_differ_and_seeds_reproduce() -> None:
    X, y = _data(50)
    a = DataLoader(X, y, batch_size=50, seed=3)
    b = DataLoader(X, y, batch_size=50, seed=3)
    c = DataLoader(X, y, batch_size=50, seed=4)
    ea1, ea2 = next(iter(a))[1], next(iter(a))[1]
    eb1, eb2 = next(iter(b))[1], next(iter(b))[1]
    assert not np.array_equal(ea1, ea2)  # a new order each epoch
    np.testing.assert_array_equal(ea1, eb1)
    np.testing.assert_array_equal(ea2, eb2)
    assert not np.array_equal(ea1, next(iter(c))[1])


def test_resume_mid_epoch_from_json_state() -> None:
    X, y = _data(20)
    straight = DataLoader(X, y, batch_size=3, seed=9)
    expected = [yb.tolist() for _ in range(3) for _, yb in straight]

    first = DataLoader(X, y, batch_size=3, seed=9)
    got = [yb.tolist() for _, yb in first]  # epoch 0
    it = iter(first)
    got += [next(it)[1].tolist(), next(it)[1].tolist()]  # two batches of epoch 1, then stop
    state = json.loads(json.dumps(first.state_dict()))

    resumed = DataLoader(X, y, batch_size=3, seed=None)
    resumed.load_state_dict(state)
    got += [yb.tolist() for _ in range(2) for _, yb in resumed]
    assert got == expected


def test_unshuffled_batches_are_in_order() -> None:
    X, y = _data(7)
    loader = DataLoader(X, y, batch_size=4, shuffle=False)
    assert [yb.tolist() for _, yb in loader] == [[0, 1, 2, 3], [4, 5, 6]]


def test_bad_arguments() -> None:
    X, y = _data(4)
    with pytest.raises(ValueError, match="4 rows but y has 3"):
        DataLoader(X, y[:3])
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(X, y, batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        DataLoader(X[:0], y[:0])
    with pytest.raises(ValueError, match="no batch"):
        DataLoader(X, y, batch_size=5, drop_last=True)
    loader = DataLoader(X, y, batch_size=2)
    with pytest.raises(ValueError, match="batches of 2"):
        DataLoader(X, y, batch_size=3).load_state_dict(loader.state_dict())
