"""Issue 11's defects and argument errors: each names the op, the argument and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def test_astype_to_an_integer_dtype_leaves_the_graph() -> None:
    x = cr.tensor([1.7, -2.2], requires_grad=True)
    i = x.astype(np.int32)
    assert i.dtype == np.int32 and not i.requires_grad
    np.testing.assert_array_equal(i.data, [1, -2])
    b = x.astype(bool)
    assert b.dtype == np.bool_ and not b.requires_grad
    f = x.astype(np.float64)  # between floats it stays differentiable
    assert f.requires_grad


def test_mod_and_floor_divide_follow_numpy_signs() -> None:
    x = np.array([5.0, -5.0, 5.0, -5.0])
    y = np.array([3.0, 3.0, -3.0, -3.0])
    np.testing.assert_array_equal((cr.tensor(x) % cr.tensor(y)).data, np.mod(x, y))
    np.testing.assert_array_equal((cr.tensor(x) // cr.tensor(y)).data, np.floor_divide(x, y))
    np.testing.assert_array_equal((7.0 % cr.tensor(y)).data, np.mod(7.0, y))
    np.testing.assert_array_equal((7.0 // cr.tensor(y)).data, np.floor_divide(7.0, y))


def test_rounding_gradients_are_exactly_zero() -> None:
    for fn in (cr.sign, cr.floor, cr.ceil, cr.round, cr.trunc):
        x = cr.tensor([-1.5, 0.0, 0.5, 2.0], dtype="float64", requires_grad=True)
        fn(x).sum().backward()
        np.testing.assert_array_equal(x.grad.data, np.zeros(4))


def test_activation_arguments_are_checked() -> None:
    x = cr.tensor([1.0])
    with pytest.raises(ValueError, match=r"gelu: approximate must be 'none' or 'tanh'"):
        cr.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match=r"softplus: beta must be positive"):
        cr.softplus(x, beta=0.0)
    with pytest.raises(ValueError, match=r"hardtanh: min_val 2.0 must not exceed max_val 1.0"):
        cr.hardtanh(x, 2.0, 1.0)


def test_softplus_past_the_threshold_is_x_with_gradient_one() -> None:
    x = cr.tensor([25.0, 1000.0], dtype="float64", requires_grad=True)
    out = cr.softplus(x)
    out.sum().backward()
    np.testing.assert_array_equal(out.data, [25.0, 1000.0])
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_logsigmoid_and_logaddexp_are_stable_where_the_naive_forms_overflow() -> None:
    x = cr.tensor([-1000.0, 1000.0], dtype="float64", requires_grad=True)
    out = cr.logsigmoid(x)
    out.sum().backward()
    np.testing.assert_allclose(out.data, [-1000.0, 0.0])
    np.testing.assert_allclose(x.grad.data, [1.0, 0.0])


def test_numpy_ufuncs_on_tensors_run_the_new_gates() -> None:
    x = cr.tensor([0.3, 0.6], dtype="float64", requires_grad=True)
    for ufunc, cr_fn in [(np.tan, cr.tan), (np.arcsinh, cr.arcsinh), (np.log1p, cr.log1p),
                         (np.floor, cr.floor), (np.square, cr.square)]:  # fmt: skip
        out = ufunc(x)
        assert isinstance(out, cr.Tensor) and out.requires_grad
        np.testing.assert_array_equal(out.data, cr_fn(x).data)
    out = np.logaddexp(x, np.array([1.0, 2.0]))
    assert isinstance(out, cr.Tensor)
    np.testing.assert_allclose(out.data, np.logaddexp(x.data, [1.0, 2.0]))
    np.testing.assert_array_equal(np.mod(x, 0.25).data, np.mod(x.data, 0.25))
