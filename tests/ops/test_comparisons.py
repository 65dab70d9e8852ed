"""Comparisons, predicates and bit operators: NumPy's answers, bool results, never a gradient."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

X = np.array([[-1.5, 0.0, 2.0], [np.nan, np.inf, -np.inf]])
Y = np.array([0.0, 0.0, 2.5])


@pytest.mark.parametrize(
    "name",
    ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"],
)
def test_comparison_functions_match_numpy_and_have_no_gradient(name: str) -> None:
    x = cr.tensor(X, requires_grad=True)
    out = getattr(cr, name)(x, cr.tensor(Y))
    np.testing.assert_array_equal(out.data, getattr(np, name)(X, Y))
    assert out.dtype == np.bool_ and not out.requires_grad


def test_comparison_operators_match_numpy() -> None:
    x, y = cr.tensor(X, requires_grad=True), cr.tensor(Y)
    for got, want in [(x == y, X == Y), (x != y, X != Y), (x < y, X < Y), (x <= y, X <= Y),
                      (x > y, X > Y), (x >= y, X >= Y)]:  # fmt: skip
        np.testing.assert_array_equal(got.data, want)
        assert not got.requires_grad


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_predicates_match_numpy(name: str) -> None:
    out = getattr(cr, name)(cr.tensor(X, requires_grad=True))
    np.testing.assert_array_equal(out.data, getattr(np, name)(X))
    assert out.dtype == np.bool_ and not out.requires_grad


def test_logical_functions_and_bit_operators_on_bools() -> None:
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    ta, tb = cr.tensor(a), cr.tensor(b)
    np.testing.assert_array_equal(cr.logical_and(ta, tb).data, a & b)
    np.testing.assert_array_equal(cr.logical_or(ta, tb).data, a | b)
    np.testing.assert_array_equal(cr.logical_xor(ta, tb).data, a ^ b)
    np.testing.assert_array_equal(cr.logical_not(ta).data, ~a)
    np.testing.assert_array_equal((ta & tb).data, a & b)
    np.testing.assert_array_equal((ta | tb).data, a | b)
    np.testing.assert_array_equal((ta ^ tb).data, a ^ b)
    np.testing.assert_array_equal((~ta).data, ~a)
    np.testing.assert_array_equal((ta & b).data, a & b)  # an array on the right
    np.testing.assert_array_equal((b | ta).data, b | a)  # and on the left


def test_a_mask_from_comparisons_selects_through_where_with_a_gradient() -> None:
    x = cr.tensor([-1.0, 0.5, 2.0], dtype="float64", requires_grad=True)
    inside = (x > 0) & (x < 1)
    cr.where(inside, x * 3.0, 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 3.0, 0.0])


@pytest.mark.parametrize("op", [lambda x: x & x, lambda x: x | x, lambda x: x ^ x, lambda x: ~x])
def test_bit_operators_on_floats_name_the_operator_and_the_dtype(op) -> None:
    with pytest.raises(TypeError, match=r"needs bool or integer tensors, got dtype float32"):
        op(cr.tensor([1.0, 2.0]))
