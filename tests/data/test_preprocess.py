"""Splits and the Standardizer: training statistics only, applied to every split."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import Standardizer, train_val_test_split


def test_split_partitions_reproducibly() -> None:
    X, y = np.arange(200).reshape(100, 2), np.arange(100)
    a = train_val_test_split(X, y, val=0.1, test=0.2, seed=5)
    b = train_val_test_split(X, y, val=0.1, test=0.2, seed=5)
    c = train_val_test_split(X, y, val=0.1, test=0.2, seed=6)
    assert [len(s[1]) for s in a] == [70, 10, 20]
    assert sorted(np.concatenate([s[1] for s in a]).tolist()) == list(range(100))
    for (Xa, ya), (_, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(Xa, X[ya])
    assert not np.array_equal(a[2][1], c[2][1])


def test_split_counts_and_errors() -> None:
    X, y = np.zeros((10, 1)), np.arange(10)
    (_, ytr), (_, yv), (_, yte) = train_val_test_split(X, y, val=0, test=3, shuffle=False)
    assert ytr.tolist() == list(range(7)) and yv.size == 0 and yte.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="no training data"):
        train_val_test_split(X, y, val=5, test=5)
    with pytest.raises(ValueError, match="fraction"):
        train_val_test_split(X, y, val=1.5)
    with pytest.raises(ValueError, match="10 rows but y has 9"):
        train_val_test_split(X, y[:9])


def test_standardizer_uses_training_statistics() -> None:
    rng = np.random.default_rng(0)
    X_train = rng.normal(5.0, 3.0, (500, 4)).astype(np.float32)
    X_train[:, 3] = 7.0  # a constant feature
    X_test = rng.normal(5.0, 3.0, (50, 4)).astype(np.float32)
    s = Standardizer().fit(X_train)
    Z = s.transform(X_train)
    np.testing.assert_allclose(Z[:, :3].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z[:, :3].std(axis=0), 1.0, atol=1e-5)
    assert np.all(Z[:, 3] == 0.0)  # constant: centred, not divided by zero
    expected = (X_test - X_train.mean(axis=0)) / np.where(
        X_train.std(axis=0) > 0, X_train.std(axis=0), 1
    )
    np.testing.assert_allclose(s.transform(X_test), expected, rtol=1e-5, atol=1e-5)


def test_mean_image_subtraction_keeps_images_shape() -> None:
    X = np.random.default_rng(1).integers(0, 256, (20, 4, 4, 3)).astype(np.uint8)
    s = Standardizer(scale=False)
    out = s.fit_transform(X)
    assert out.shape == X.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, X - X.mean(axis=0), atol=1e-4)


def test_state_round_trip_and_errors() -> None:
    X = np.random.default_rng(2).normal(size=(30, 3))
    s = Standardizer().fit(X)
    t = Standardizer()
    with pytest.raises(RuntimeError, match="fit"):
        t.transform(X)
    t.load_state_dict(s.state_dict())
    np.testing.assert_array_equal(t.transform(X), s.transform(X))
    with pytest.raises(ValueError, match=r"shape \(2,\), fitted on \(3,\)"):
        s.transform(X[:, :2])


def test_one_global_scale_for_images() -> None:
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (9000, 6, 6)).astype(np.uint8)  # more rows than one chunk
    X[:, 0, 0] = 0  # a blank border pixel
    s = Standardizer(per_feature=False).fit(X)
    centred = X - X.mean(axis=0)
    np.testing.assert_allclose(s.std, np.full((6, 6), centred.std()), rtol=1e-6)
    Z = s.transform(X)
    assert abs(float(Z.std()) - 1.0) < 1e-4 and np.all(Z[:, 0, 0] == 0)
    np.testing.assert_allclose(Standardizer().fit(X).std[1:, 1:], X.std(axis=0)[1:, 1:], rtol=1e-6)
