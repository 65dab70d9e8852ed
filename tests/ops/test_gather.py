"""Gather, scatter and sorting against NumPy (and loops), their gradients to first and second
order, ties, and the index errors (nothing wraps)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

RNG = np.random.default_rng(0)
X = RNG.permutation(24).reshape(2, 3, 4) * 0.25 - 2.0  # distinct values: no ties


def _check(fn, *arrays) -> None:
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    assert cr.gradcheck(fn, *ts)
    assert cr.gradgradcheck(fn, *ts)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_take_matches_numpy(axis) -> None:
    idx = np.array([[0, -1], [1, 1]])
    np.testing.assert_array_equal(cr.take(cr.tensor(X), idx, axis=axis).data, np.take(X, idx, axis))
    _check(lambda t: cr.take(t, idx, axis=axis), X)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_take_along_axis_matches_numpy_and_accumulates_repeats(axis) -> None:
    shape = list(X.shape)
    shape[axis] = 5
    idx = RNG.integers(0, X.shape[axis], shape)
    got = cr.take_along_axis(cr.tensor(X), idx, axis)
    np.testing.assert_array_equal(got.data, np.take_along_axis(X, idx, axis))
    _check(lambda t: cr.take_along_axis(t, idx, axis), X)
    # the gradient counts how often each element was taken (a loop as the reference)
    t = cr.tensor(X, requires_grad=True)
    cr.take_along_axis(t, idx, axis).sum().backward()
    want = np.zeros_like(X)
    for pos in np.ndindex(*idx.shape):
        src = list(pos)
        src[axis] = idx[pos]
        want[tuple(src)] += 1
    np.testing.assert_array_equal(t.grad.data, want)


def test_put_along_axis_matches_numpy_and_is_differentiable_in_both() -> None:
    arr = RNG.standard_normal((3, 4))
    idx = np.array([[0, 2], [3, 1], [1, 0]])
    vals = RNG.standard_normal((3, 2))
    want = arr.copy()
    np.put_along_axis(want, idx, vals, 1)
    got = cr.put_along_axis(cr.tensor(arr), idx, cr.tensor(vals), axis=1)
    np.testing.assert_array_equal(got.data, want)
    _check(lambda a, v: cr.put_along_axis(a, idx, v, axis=1), arr, vals)
    with pytest.raises(ValueError, match=r"put_along_axis: indices repeat along the axis"):
        cr.put_along_axis(cr.tensor(arr), [[1, 1]], 0.0, axis=1)


def test_one_hot_matches_a_loop() -> None:
    labels = np.array([[2, 0], [1, 2]])
    got = cr.one_hot(cr.tensor(labels), 4)
    want = np.zeros((2, 2, 4), np.int64)
    for i, j in np.ndindex(2, 2):
        want[i, j, labels[i, j]] = 1
    np.testing.assert_array_equal(got.data, want)
    assert got.dtype == np.int64 and cr.one_hot(labels).shape == (2, 2, 3)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort_match_numpy(axis, descending) -> None:
    order = np.argsort(-X if descending else X, axis=axis, kind="stable")
    np.testing.assert_array_equal(cr.argsort(cr.tensor(X), axis, descending).data, order)
    np.testing.assert_array_equal(
        cr.sort(cr.tensor(X), axis, descending).data, np.take_along_axis(X, order, axis)
    )
    _check(lambda t: cr.sort(t, axis, descending), X)


def test_ties_keep_their_order_and_topk_takes_the_earlier_first() -> None:
    x = cr.tensor([2.0, 5.0, 2.0, 5.0, 1.0])
    np.testing.assert_array_equal(cr.argsort(x).data, [4, 0, 2, 1, 3])
    np.testing.assert_array_equal(cr.argsort(x, descending=True).data, [1, 3, 0, 2, 4])
    values, indices = cr.topk(x, 3)
    np.testing.assert_array_equal(values.data, [5.0, 5.0, 2.0])
    np.testing.assert_array_equal(indices.data, [1, 3, 0])
    values, indices = cr.topk(x, 2, largest=False)
    np.testing.assert_array_equal(indices.data, [4, 0])


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_matches_a_sort_and_routes_the_gradient(axis, largest) -> None:
    k = 2
    values, indices = cr.topk(cr.tensor(X), k, axis=axis, largest=largest)
    full = np.sort(X, axis=axis)
    if largest:
        full = np.flip(full, axis)
    np.testing.assert_array_equal(values.data, np.take(full, range(k), axis=axis))
    np.testing.assert_array_equal(np.take_along_axis(X, indices.data, axis), values.data)
    _check(lambda t: cr.topk(t, k, axis=axis, largest=largest)[0], X)
    t = cr.tensor(X, requires_grad=True)
    cr.topk(t, k, axis=axis, largest=largest)[0].sum().backward()
    assert t.grad.data.sum() == values.size and set(np.unique(t.grad.data)) <= {0.0, 1.0}


def test_out_of_range_indices_raise_and_never_wrap() -> None:
    t = cr.tensor(X)
    with pytest.raises(
        IndexError, match=r"take: index 24 is out of range for an axis of length 24"
    ):
        cr.take(t, [24])
    with pytest.raises(IndexError, match=r"take_along_axis: index -5 is out of range .* length 4"):
        cr.take_along_axis(t, np.full((2, 3, 1), -5), axis=2)
    with pytest.raises(IndexError, match=r"put_along_axis: index 3 is out of range .* length 3"):
        cr.put_along_axis(t, np.full((2, 1, 4), 3), 0.0, axis=1)
    with pytest.raises(IndexError, match=r"one_hot: index 3 is out of range .* length 3"):
        cr.one_hot([0, 3], 3)
    with pytest.raises(IndexError, match=r"one_hot: index -1 is negative"):
        cr.one_hot([-1, 0], 3)
    with pytest.raises(TypeError, match=r"take: indices must be integers, got dtype float64"):
        cr.take(t, [0.5])
    with pytest.raises(ValueError, match=r"take_along_axis: indices need the input's number"):
        cr.take_along_axis(t, [0], axis=0)
    with pytest.raises(np.exceptions.AxisError, match=r"^sort: axis 3 is out of bounds"):
        cr.sort(t, axis=3)
    with pytest.raises(ValueError, match=r"topk: k=5 must be in \[0, 4\]"):
        cr.topk(t, 5)
