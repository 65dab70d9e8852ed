"""Creation and randomness: NumPy's values and dtypes, leaves that may require grad only when
float, one manual_seed for init, dropout, the random functions and DataLoader order."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import DataLoader


def test_creation_matches_numpy_with_float32_default() -> None:
    cases = [
        (cr.zeros(2, 3), np.zeros((2, 3), np.float32)),
        (cr.zeros((2, 3)), np.zeros((2, 3), np.float32)),
        (cr.ones(4, dtype="float64"), np.ones(4)),
        (cr.empty(0, 2), np.empty((0, 2), np.float32)),
        (cr.full((2, 2), 0.5), np.full((2, 2), 0.5, np.float32)),
        (cr.full((3,), 7), np.full(3, 7)),
        (cr.arange(5), np.arange(5)),
        (cr.arange(1.0, 2.0, 0.25), np.arange(1.0, 2.0, 0.25).astype(np.float32)),
        (cr.arange(10, 0, -3), np.arange(10, 0, -3)),
        (cr.linspace(-1, 1, 7), np.linspace(-1, 1, 7).astype(np.float32)),
        (cr.linspace(0, 1, 4, endpoint=False, dtype="float64"), np.linspace(0, 1, 4, False)),
        (cr.eye(3, 4, k=1), np.eye(3, 4, 1, dtype=np.float32)),
    ]
    for got, want in cases:
        assert got.dtype == want.dtype and got.shape == want.shape
        if got.size and got is not cases[3][0]:
            np.testing.assert_array_equal(got.data, want)


def test_like_forms_take_shape_and_dtype_from_their_argument() -> None:
    x = cr.tensor(np.arange(6, dtype=np.float64).reshape(2, 3))
    for got, value in [
        (cr.zeros_like(x), 0.0),
        (cr.ones_like(x), 1.0),
        (cr.full_like(x, 2.5), 2.5),
    ]:
        assert got.shape == (2, 3) and got.dtype == np.float64
        np.testing.assert_array_equal(got.data, np.full((2, 3), value))
    assert cr.zeros_like(x, dtype="int32").dtype == np.int32
    assert cr.ones_like(np.zeros(2, np.int16)).dtype == np.int16


def test_requires_grad_makes_a_leaf_that_collects_a_gradient() -> None:
    w = cr.zeros(3, requires_grad=True)
    assert w.requires_grad and w.is_leaf
    (w * 2.0).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 2.0, 2.0])
    for make in (cr.ones, cr.empty, cr.rand, cr.randn):
        assert make(2, requires_grad=True).requires_grad


def test_bad_arguments_name_the_function_and_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"zeros: shape must be non-negative, got \(-1, 2\)"):
        cr.zeros(-1, 2)
    with pytest.raises(TypeError, match=r"ones: shape must be integers"):
        cr.ones(2.5)
    with pytest.raises(ValueError, match=r"arange: only a float tensor can require a gradient"):
        cr.arange(3, requires_grad=True)
    with pytest.raises(TypeError, match=r"eye: dtype must be bool, integer or float"):
        cr.eye(2, dtype=complex)
    with pytest.raises(ValueError, match=r"arange: step must not be zero"):
        cr.arange(0, 1, 0)
    with pytest.raises(ValueError, match=r"linspace: num must be non-negative"):
        cr.linspace(0, 1, -1)
    with pytest.raises(ValueError, match=r"randint: needs low < high, got low=3, high=3"):
        cr.randint(3, 3)
    with pytest.raises(TypeError, match=r"rand: dtype must be a float type"):
        cr.rand(2, dtype="int64")
    with pytest.raises(ValueError, match=r"normal: scale must be non-negative"):
        cr.normal(0.0, -1.0, 3)
    with pytest.raises(TypeError, match=r"manual_seed: the seed must be an integer"):
        cr.manual_seed(1.5)  # type: ignore[arg-type]


def test_random_functions_follow_their_distributions() -> None:
    cr.manual_seed(0)
    u = cr.rand(20000).data
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01
    n = cr.normal(2.0, 3.0, (20000,), dtype="float64").data
    assert abs(n.mean() - 2.0) < 0.1 and abs(n.std() - 3.0) < 0.1
    z = cr.randn(4, 5)
    assert z.shape == (4, 5) and z.dtype == np.float32
    k = cr.randint(5, size=(20000,)).data
    assert k.dtype == np.int64 and set(np.unique(k)) == {0, 1, 2, 3, 4}
    assert cr.randint(-2, 2, 3, dtype="int8").dtype == np.int8


def _run(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """A weight, a dropout mask, a random draw and a data order, all after one manual_seed."""
    cr.manual_seed(seed)
    net = nn.MLP([3, 4, 2])
    mask = nn.functional.dropout(cr.ones(8, 8), 0.5).data
    noise = cr.randn(5).data
    loader = DataLoader(np.arange(10), np.arange(10), batch_size=10)
    order = next(iter(loader))[1].tolist()
    return net[0].weight.data.copy(), mask, noise, order


def test_manual_seed_repeats_init_dropout_randomness_and_data_order_together() -> None:
    a, b, c = _run(3), _run(3), _run(4)
    for x, y in zip(a[:3], b[:3], strict=True):
        np.testing.assert_array_equal(x, y)
    assert a[3] == b[3]
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])
    assert a[3] != c[3]


def test_a_data_loader_does_not_shift_the_weights_drawn_after_it() -> None:
    cr.manual_seed(5)
    w1 = cr.randn(4).data
    cr.manual_seed(5)
    DataLoader(np.arange(4), np.arange(4))
    np.testing.assert_array_equal(cr.randn(4).data, w1)


def test_an_explicit_loader_seed_still_wins() -> None:
    cr.manual_seed(1)
    a = DataLoader(np.arange(6), np.arange(6), seed=9).order(0)
    cr.manual_seed(2)
    np.testing.assert_array_equal(DataLoader(np.arange(6), np.arange(6), seed=9).order(0), a)
