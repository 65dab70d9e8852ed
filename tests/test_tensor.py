"""Tensor: construction and dtype rules, NumPy interoperability, operators mixing numbers and
arrays on either side, in-place changes, repr."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import Tensor, nn


def leaf(values: Any, dtype: Any = None) -> Tensor:
    return cr.tensor(values, dtype=dtype, requires_grad=True)


# -- construction and dtypes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        (1.5, np.float32),
        ([1.0, 2.0], np.float32),
        ([[1, 2.5]], np.float32),
        (np.array([1.0, 2.0]), np.float64),  # float64 arrays keep their precision
        (np.array([1.0], dtype=np.float32), np.float32),
        (np.float64(2.0), np.float64),
        (3, np.int64),
        ([1, 2], np.int64),
        ([True, False], np.bool_),
    ],
)
def test_dtype_rules(data: Any, dtype: Any) -> None:
    assert cr.tensor(data).dtype == dtype


def test_explicit_dtype_wins() -> None:
    assert cr.tensor(1, dtype="float64").dtype == np.float64
    assert cr.tensor(np.array([1.0]), dtype=np.float32).dtype == np.float32


def test_tensor_copies_its_input() -> None:
    a = np.array([1.0, 2.0])
    t = cr.tensor(a)
    a[0] = 100.0
    assert t.numpy()[0] == 1.0
    u = cr.tensor(t)
    t.numpy()[1] = 50.0
    assert u.numpy()[1] == 2.0


@pytest.mark.parametrize("bad", ["text", [None], {"a": 1}, np.array(["x"])])
def test_non_numeric_data_is_refused(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"chainrule\.tensor"):
        cr.tensor(bad)


@pytest.mark.parametrize("data", [3, [1, 2], np.arange(3), [True]])
def test_requires_grad_on_integer_data_raises(data: Any) -> None:
    with pytest.raises(TypeError, match="floating"):
        cr.tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match="floating"):
        cr.tensor(data).requires_grad_()


def test_properties() -> None:
    t = leaf(np.zeros((2, 3)))
    assert (t.shape, t.ndim, t.dtype, t.size) == ((2, 3), 2, np.float64, 6)
    assert t.is_leaf and t.requires_grad and t.grad is None and t.grad_fn is None
    assert len(t) == 2
    y = t * 2
    assert not y.is_leaf and y.requires_grad and type(y.grad_fn).__name__ == "Mul"
    t.name = "W"
    assert t.name == "W" and cr.tensor(1.0).name is None


def test_numpy_item_tolist_detach() -> None:
    t = leaf([[1.0, 2.0]])
    assert isinstance(t.numpy(), np.ndarray)
    assert t.tolist() == [[1.0, 2.0]]
    assert (t.sum() * 1).item() == 3.0
    assert isinstance((t.sum() * 1).item(), float)
    with pytest.raises(ValueError, match="one element"):
        t.item()
    d = (t * 2).detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    np.testing.assert_array_equal(d.numpy(), [[2.0, 4.0]])
    assert np.shares_memory(t.detach().numpy(), t.numpy())  # detach shares, as in PyTorch


def test_python_conversions() -> None:
    assert float(cr.tensor([2.5])) == 2.5
    assert int(cr.tensor(3)) == 3
    assert bool(cr.tensor(1.0)) and not bool(cr.tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(cr.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="0-d"):
        len(cr.tensor(1.0))
    assert [x.item() for x in cr.tensor([1.0, 2.0])] == [1.0, 2.0]
    assert [10, 20, 30][cr.tensor(1)] == 20  # __index__


def test_repr_is_readable() -> None:
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(leaf([1.0, 2.0])) == "tensor([1., 2.], requires_grad=True)"
    assert repr(leaf([1.0]) * 2) == "tensor([2.], grad_fn=Mul)"
    assert repr(cr.tensor([0.5], dtype="float64")) == "tensor([0.5], dtype=float64)"
    assert repr(cr.tensor(1.5)) == "tensor(1.5)"
    assert repr(cr.tensor([[1, 2], [3, 4]])) == "tensor([[1, 2],\n        [3, 4]])"


# -- NumPy interoperability ------------------------------------------------------------------------


def test_array_protocol() -> None:
    t = leaf([1.0, 2.0])
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    np.testing.assert_array_equal(np.array(t, dtype=np.float64), [1.0, 2.0])
    assert np.array(t, dtype=np.float64).dtype == np.float64
    copied = np.array(t, copy=True)
    copied[0] = 9.0
    assert t.numpy()[0] == 1.0


def test_array_protocol_on_zero_d_results() -> None:
    s = leaf([1.0, 2.0]).sum()  # a 0-d op result
    a = np.asarray(s)
    assert isinstance(a, np.ndarray) and a.shape == () and a == 3.0
    assert isinstance(s.numpy(), np.ndarray)
    assert float(np.array(s * 2)) == 6.0


def test_ndarray_on_the_left_dispatches_to_the_tensor() -> None:
    x = leaf([1.0, 2.0])
    a = np.array([10.0, 20.0])
    for out in (a + x, a - x, a * x, a / x, a**x):
        assert isinstance(out, Tensor) and out.requires_grad
    (a * x).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 20.0])


@pytest.mark.parametrize(
    ("ufunc", "ref_grad"),
    [
        (np.exp, np.exp),
        (np.log, lambda v: 1 / v),
        (np.sqrt, lambda v: 0.5 / np.sqrt(v)),
        (np.tanh, lambda v: 1 - np.tanh(v) ** 2),
        (np.sin, np.cos),
        (np.negative, lambda v: -np.ones_like(v)),
        (np.abs, np.sign),
    ],
)
def test_numpy_ufuncs_record_nodes(ufunc: np.ufunc, ref_grad: Callable) -> None:
    x = leaf(np.array([0.5, 2.0]))
    out = ufunc(x)
    assert isinstance(out, Tensor) and out.requires_grad
    out.sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), ref_grad(np.array([0.5, 2.0])), rtol=1e-6)


def test_binary_numpy_ufuncs_record_nodes() -> None:
    x = leaf([1.0, 5.0])
    out = np.maximum(x, np.array([3.0, 3.0]))
    assert isinstance(out, Tensor)
    out.sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])
    y = leaf([[1.0, 2.0]])
    out = np.matmul(np.ones((3, 1)), y)
    assert isinstance(out, Tensor) and out.shape == (3, 2)


def test_non_differentiable_ufunc_refuses_a_tensor_that_requires_grad() -> None:
    # (np.floor is a gate since issue 11, with gradient 0: rint has none)
    with pytest.raises(TypeError, match=r"rint.*not differentiable"):
        np.rint(leaf([1.5]))
    out = np.rint(cr.tensor([1.5, -0.5]))  # fine without a gradient
    assert isinstance(out, Tensor)
    np.testing.assert_array_equal(out.numpy(), [2.0, -0.0])


# -- operators mixing Python numbers and ndarrays on either side -----------------------------------

BINARY = [
    ("+", operator.add),
    ("-", operator.sub),
    ("*", operator.mul),
    ("/", operator.truediv),
    ("**", operator.pow),
]
OTHERS = [2, 1.5, np.array([1.5, 2.0, 3.0]), np.array([2, 3, 4]), np.float64(2.5)]


@pytest.mark.parametrize(("symbol", "op"), BINARY, ids=[s for s, _ in BINARY])
@pytest.mark.parametrize("other", OTHERS, ids=["int", "float", "f64-array", "int-array", "f64"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_operators_mix_numbers_and_arrays(symbol: str, op: Callable, other: Any, side: str) -> None:
    values = np.array([0.5, 1.0, 2.0])
    x = leaf(values, dtype="float64")
    out = op(x, other) if side == "left" else op(other, x)
    expected = op(values, other) if side == "left" else op(other, values)
    assert isinstance(out, Tensor), f"{type(out)}"
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert out.dtype == np.float64
    assert cr.gradcheck(lambda t: op(t, other) if side == "left" else op(other, t), x)


@pytest.mark.parametrize("other", [2, 1.5, np.array([1.5, 2.0, 3.0]), np.float64(2.5)])
def test_float32_stays_float32_when_mixed_with_numbers_and_float64_arrays(other: Any) -> None:
    x = leaf([0.5, 1.0, 2.0])
    for symbol, op in BINARY:
        for out in (op(x, other), op(other, x)):
            assert out.dtype == np.float32, f"x {symbol} {other!r} gave {out.dtype}"


def test_float64_kept_with_python_floats() -> None:
    x = leaf([1.0], dtype="float64")
    assert (x * 0.5 + 1).dtype == np.float64
    assert (x / 3).dtype == np.float64


def test_mixing_float32_and_float64_tensors_promotes_and_grads_keep_their_dtype() -> None:
    a, b = leaf([1.0]), leaf([2.0], dtype="float64")
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad is not None and b.grad is not None
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_matmul_operator_with_arrays_on_either_side() -> None:
    w = leaf(np.eye(2) * 2, dtype="float64")
    a = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal((a @ w).numpy(), [[2.0, 4.0]])
    np.testing.assert_array_equal((w @ a.T).numpy(), [[2.0], [4.0]])


def test_unary_operators() -> None:
    x = leaf([-1.0, 2.0])
    np.testing.assert_array_equal((-x).numpy(), [1.0, -2.0])
    np.testing.assert_array_equal(abs(x).numpy(), [1.0, 2.0])
    assert (+x) is x


def test_comparisons_give_boolean_tensors_outside_the_graph() -> None:
    x = leaf([1.0, 2.0, 3.0])
    for out in (x > 1.5, x >= 2, x < np.array([2.0, 2.0, 2.0]), x <= 1, x == 2.0, x != 2.0):
        assert out.dtype == np.bool_ and not out.requires_grad
    np.testing.assert_array_equal((x > 1.5).numpy(), [False, True, True])
    y = leaf([1.0, 2.0, 3.0])  # equal values, a different tensor: keys by identity
    assert {x: "x", y: "y"}[y] == "y"


def test_unsupported_operand_is_refused() -> None:
    with pytest.raises(TypeError):
        leaf([1.0]) + "a"


# -- methods ---------------------------------------------------------------------------------------


def test_shape_methods() -> None:
    x = leaf(np.arange(6.0).reshape(2, 3))
    assert x.T.shape == (3, 2)
    assert x.reshape(3, 2).shape == (3, 2) and x.reshape((6,)).shape == (6,)
    assert x.flatten().shape == (6,)
    assert x.transpose(1, 0).shape == (3, 2) and x.permute(1, 0).shape == (3, 2)
    assert x.unsqueeze(0).shape == (1, 2, 3) and x.expand_dims(-1).shape == (2, 3, 1)
    assert x.unsqueeze(0).squeeze(0).shape == (2, 3)
    assert x.broadcast_to((4, 2, 3)).shape == (4, 2, 3)
    assert x.argmax().item() == 5 and x.argmin(axis=1).tolist() == [0, 0]
    assert x.astype("float32").dtype == np.float32


# -- in-place changes ------------------------------------------------------------------------------


def test_inplace_on_a_leaf_that_requires_grad_needs_no_grad() -> None:
    w = leaf([1.0, 2.0])
    for change in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.zero_()):
        with pytest.raises(RuntimeError, match="no_grad"):
            change()
    with pytest.raises(RuntimeError, match="no_grad"):
        w[0] = 5.0
    with cr.no_grad():
        w.sub_(np.array([0.5, 0.5]))
        w.add_(cr.tensor([1.0, 1.0]), alpha=2.0)
    np.testing.assert_array_equal(w.numpy(), [2.5, 3.5])
    assert w.is_leaf and w.requires_grad


def test_inplace_on_a_non_leaf_raises() -> None:
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="Mul"):
        y.add_(1)


def test_augmented_assignment_changes_a_plain_tensor_in_place() -> None:
    a = cr.tensor([1.0, 2.0])
    b = a
    a += 1
    a *= 2
    a -= 1
    a /= 3
    assert a is b
    np.testing.assert_allclose(a.numpy(), [1.0, 5 / 3])


def test_fill_copy_setitem_on_plain_tensors() -> None:
    a = cr.tensor(np.zeros(3))
    a.fill_(2.0)
    a[1] = 7.0
    a.copy_(a * 2)
    np.testing.assert_array_equal(a.numpy(), [4.0, 14.0, 4.0])


@pytest.mark.parametrize("change", ["zero_", "fill_", "copy_", "setitem", "add_", "+="])
def test_inplace_changes_of_zero_d_results(change: str) -> None:
    with cr.no_grad():
        s = leaf([1.0, 2.0]).sum()  # a 0-d result, not recorded
    if change == "zero_":
        s.zero_()
    elif change == "fill_":
        s.fill_(0.0)
    elif change == "copy_":
        s.copy_(cr.tensor(0.0))
    elif change == "setitem":
        s[...] = 0.0
    elif change == "add_":
        s.add_(-3.0)
    else:
        s += -3.0
    assert s.item() == 0.0
    assert isinstance(np.asarray(s), np.ndarray)


def test_inplace_change_of_a_detached_zero_d_result() -> None:
    loss = (leaf([1.0, 2.0]) * 2).sum()
    running = loss.detach()
    running.mul_(0.5)
    assert running.item() == 3.0


class TestConstantOperands:
    """Python numbers meet float tensors as cached 0-d arrays (faster in NumPy 2); the results
    must be exactly NumPy's."""

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    @pytest.mark.parametrize("c", [1.0001, -3, 0.5, 1e-8, 7])
    def test_same_values_and_dtype_as_numpy(self, dtype: Any, c: float) -> None:
        a = np.linspace(-2, 2, 9).astype(dtype)
        x = cr.tensor(a)
        for got, want in [
            (x * c, a * c),
            (c * x, c * a),
            (x + c, a + c),
            (c - x, c - a),
            (x / c, a / c),
            (c / (x + 10), c / (a + 10)),
        ]:
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got.data, want)

    def test_signed_zero_nan_and_huge_are_not_cached_wrongly(self) -> None:
        a = np.array([1.0, -1.0], dtype=np.float32)
        x = cr.tensor(a)
        np.testing.assert_array_equal(np.signbit((x * -0.0).data), np.signbit(a * -0.0))
        np.testing.assert_array_equal(np.signbit((x * 0.0).data), np.signbit(a * 0.0))
        assert np.isnan((x * float("nan")).data).all()
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal((x * 1e300).data, a * 1e300)

    def test_integer_tensors_keep_numpy_promotion(self) -> None:
        a = np.arange(3)
        np.testing.assert_array_equal((cr.tensor(a) * 0.5).data, a * 0.5)
        assert (cr.tensor(a) * 0.5).dtype == (a * 0.5).dtype

    def test_gradient_through_a_constant(self) -> None:
        x = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
        (x * 3.0 + 1.0).sum().backward()
        np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])
        assert x.grad.data.flags.writeable  # a gradient never is the shared constant


def test_python_number_is_held_as_numpy_scalar_and_in_place_ops_still_work() -> None:
    # the scalar fast path: a NumPy scalar's maths is several times faster than a 0-d array's
    t = cr.tensor(2.0, requires_grad=True)
    assert type(t.data) is np.float32 and t.dtype == np.float32 and t.shape == ()
    assert type(cr.Tensor(2.0).data) is np.float32
    assert type(nn.Parameter(2.0).data) is np.ndarray  # weights are updated in place
    u = cr.tensor(2.0)
    u += 1.0
    u.mul_(2.0)
    assert u.item() == 6.0
    u[()] = 5.0
    assert u.item() == 5.0
    v = cr.tensor(1.5)
    nn.init.zeros_(v)
    assert v.item() == 0.0
    # gradients of scalar leaves are exact and shared NumPy scalars stay independent
    a, b = cr.tensor(3.0, requires_grad=True), cr.tensor(-4.0, requires_grad=True)
    (a + b).backward()
    assert a.grad is not b.grad and a.grad.item() == b.grad.item() == 1.0


def test_zero_d_tensors_share_their_data_like_any_other() -> None:
    # a number's tensor and an op's 0-d result hold NumPy scalars; numpy() and detach() still
    # share with them, as they do for arrays (and as PyTorch does)
    w = cr.tensor(2.0, requires_grad=True)
    loss = w * 3.0
    w.numpy()[...] = 5.0
    assert w.item() == 5.0
    d = loss.detach()
    with cr.no_grad():
        d += 1.0
    assert loss.item() == 7.0 and np.shares_memory(d.numpy(), loss.numpy())
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


class TestAugmentedOperators:
    """x += y, -=, *=, /= as in PyTorch: in place on the data where nothing is recorded."""

    def test_hand_written_sgd_step_under_no_grad_updates_the_leaf(self) -> None:
        w = cr.tensor([1.0, 2.0], requires_grad=True)
        (w * w).sum().backward()
        before = w
        with cr.no_grad():
            w -= 0.5 * w.grad
        assert w is before and w.is_leaf and w.requires_grad
        np.testing.assert_allclose(w.data, [0.0, 0.0])

    def test_on_a_leaf_that_requires_grad_while_recording_raises(self) -> None:
        w = cr.tensor([1.0], requires_grad=True)
        with pytest.raises(RuntimeError, match=r"leaf that requires grad.*no_grad"):
            w += 1

    def test_on_an_intermediate_it_is_recorded_and_keeps_the_object(self) -> None:
        x = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
        h = x * 3
        same = h
        h += x  # h = 3x + x
        h *= 2  # h = 8x
        assert h is same
        h.sum().backward()
        np.testing.assert_allclose(x.grad.data, [8.0, 8.0])

    def test_a_node_that_saved_the_old_value_refuses_to_backward(self) -> None:
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3
        y = h * h  # saves h
        h += 1
        with pytest.raises(RuntimeError, match="modified in place"):
            y.sum().backward()

    def test_on_a_plain_tensor_it_writes_into_the_data(self) -> None:
        t = cr.tensor([1.0, 2.0])
        data = t.data
        t += 1
        assert t.data is data
        np.testing.assert_allclose(data, [2.0, 3.0])
