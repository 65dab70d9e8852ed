"""argmax/argmin (no gradient) and norm (a composition) against NumPy; their argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

A = np.array([[1.0, -5.0, 3.0], [7.0, 2.0, 7.0]])


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_argmax_argmin_match_numpy(axis, keepdims) -> None:
    x = cr.tensor(A, requires_grad=True)
    for name in ("argmax", "argmin"):
        got = getattr(cr, name)(x, axis=axis, keepdims=keepdims)
        want = getattr(np, name)(A, axis=axis, keepdims=keepdims)
        np.testing.assert_array_equal(got.data, want)
        assert got.dtype == want.dtype and not got.requires_grad


def test_argmax_errors_name_op_and_axis() -> None:
    with pytest.raises(np.exceptions.AxisError, match=r"argmax: axis 2 is out of bounds"):
        cr.argmax(cr.tensor(A), axis=2)
    with pytest.raises(ValueError, match=r"argmin: attempt to get argmin of an empty tensor"):
        cr.argmin(cr.zeros(0))


VECTOR = np.array([3.0, -4.0, 0.5, -0.25])


@pytest.mark.parametrize("order", [None, 2, 1, np.inf, -np.inf, 0, 3, 0.5])
def test_vector_norms_match_numpy_and_gradcheck(order) -> None:
    x = cr.tensor(VECTOR, requires_grad=True)
    np.testing.assert_allclose(cr.norm(x, ord=order).data, np.linalg.norm(VECTOR, ord=order))
    if order != 0:
        assert cr.gradcheck(lambda t: cr.norm(t, ord=order), x)


@pytest.mark.parametrize("order", [None, "fro", 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("axis", [None, (0, 1), (1, 0)])
def test_matrix_norms_match_numpy_and_gradcheck(order, axis) -> None:
    m = np.array([[1.0, -2.5, 0.3], [3.0, 4.0, -0.7]])
    x = cr.tensor(m, requires_grad=True)
    np.testing.assert_allclose(cr.norm(x, order, axis).data, np.linalg.norm(m, order, axis))
    assert cr.gradcheck(lambda t: cr.norm(t, order, axis), x)


def test_norm_along_an_axis_with_keepdims() -> None:
    m = np.arange(24.0).reshape(2, 3, 4) - 10
    got = cr.norm(cr.tensor(m), axis=1, keepdims=True)
    np.testing.assert_allclose(got.data, np.linalg.norm(m, axis=1, keepdims=True))
    got = cr.norm(cr.tensor(m), ord=1, axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(got.data, np.linalg.norm(m, ord=1, axis=(0, 2), keepdims=True))


def test_the_gradient_of_the_2_norm_at_zero_is_zero() -> None:
    x = cr.zeros(3, dtype="float64", requires_grad=True)
    cr.norm(x).backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros(3))


def test_norm_refuses_what_it_cannot_compute() -> None:
    with pytest.raises(ValueError, match=r"norm: matrix ord 'nuc' is not supported"):
        cr.norm(cr.tensor(A), "nuc")
    with pytest.raises(ValueError, match=r"norm: ord 'fro' is not a vector norm"):
        cr.norm(cr.tensor(VECTOR), "fro")
    with pytest.raises(ValueError, match=r"norm: axis must name 1 or 2 axes"):
        cr.norm(cr.zeros(2, 2, 2), axis=(0, 1, 2))


def test_prod_with_zeros_gives_the_product_of_the_others() -> None:
    # a loop as the reference: d prod / d x_i = product of every other element
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, -2.0, 4.0]])
    t = cr.tensor(x, requires_grad=True)
    cr.prod(t, axis=1).sum().backward()
    want = np.array([[np.prod(np.delete(row, i)) for i in range(3)] for row in x])
    np.testing.assert_array_equal(t.grad.data, want)
