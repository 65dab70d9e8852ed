"""Cases the op table draws only sometimes, written out: matmul's shapes, indexing with repeats
and masks, concatenate/stack/split, reductions over several axes, var/std with ddof, and the
softmax family at logits of +-1e4.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import strategies


def leaf(values: Any) -> cr.Tensor:
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def grad_of(t: cr.Tensor) -> np.ndarray:
    assert t.grad is not None
    return t.grad.numpy()


# -- matmul ----------------------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((3,), (3,)),  # dot product, 0-d output
    ((3,), (3, 2)),  # vector @ matrix
    ((2, 3), (3,)),  # matrix @ vector
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),  # batch @ matrix
    ((3,), (5, 3, 4)),  # vector @ batch
    ((5, 2, 3), (3,)),  # batch @ vector
    ((2, 1, 2, 3), (4, 3, 2)),  # batch axes broadcast: (2, 1) with (4,) -> (2, 4)
    ((1, 2, 3), (4, 3, 2)),
]


@pytest.mark.parametrize(("sx", "sy"), MATMUL_SHAPES)
def test_matmul_shapes_forward_and_gradcheck(sx: tuple, sy: tuple) -> None:
    x, y = leaf(randn(*sx, seed=1)), leaf(randn(*sy, seed=2))
    out = x @ y
    np.testing.assert_allclose(out.numpy(), np.matmul(x.numpy(), y.numpy()))
    assert cr.gradcheck(cr.matmul, x, y)


def test_matmul_gradient_is_the_lecture_formula() -> None:
    x, w = leaf(randn(4, 3, seed=3)), leaf(randn(3, 2, seed=4))
    dout = randn(4, 2, seed=5)
    (x @ w).backward(dout)
    np.testing.assert_allclose(grad_of(x), dout @ w.numpy().T)  # dX = dout W^T
    np.testing.assert_allclose(grad_of(w), x.numpy().T @ dout)  # dW = X^T dout


def test_dot_of_two_vectors() -> None:
    x, y = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    out = cr.dot(x, y)
    assert out.shape == () and out.item() == 32.0
    out.backward()
    np.testing.assert_array_equal(grad_of(x), [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(grad_of(y), [1.0, 2.0, 3.0])


def test_matmul_mixes_with_ndarrays_on_either_side() -> None:
    w = leaf(randn(3, 2))
    a = randn(4, 3, seed=1)
    np.testing.assert_allclose((a @ w).numpy(), a @ w.numpy())
    np.testing.assert_allclose((w.T @ a.T).numpy(), w.numpy().T @ a.T)


# -- indexing --------------------------------------------------------------------------------------


def test_repeated_indices_accumulate() -> None:
    x = leaf([10.0, 20.0, 30.0])
    out = x[[0, 0, 1]]
    np.testing.assert_array_equal(out.numpy(), [10.0, 10.0, 20.0])
    out.backward(np.array([1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(grad_of(x), [3.0, 4.0, 0.0])


def test_repeated_negative_and_positive_index_of_one_element_accumulate() -> None:
    x = leaf([1.0, 2.0, 3.0])
    x[np.array([-1, 2, 2])].sum().backward()
    np.testing.assert_array_equal(grad_of(x), [0.0, 0.0, 3.0])


def test_integer_array_index_on_rows_and_columns() -> None:
    x = leaf(np.arange(12.0).reshape(3, 4))
    rows, cols = np.array([0, 2, 0]), np.array([1, 3, 1])
    out = x[rows, cols]  # picks (0,1), (2,3), (0,1) again
    np.testing.assert_array_equal(out.numpy(), [1.0, 11.0, 1.0])
    out.sum().backward()
    expected = np.zeros((3, 4))
    expected[0, 1], expected[2, 3] = 2.0, 1.0
    np.testing.assert_array_equal(grad_of(x), expected)


def test_index_with_an_integer_tensor() -> None:
    x = leaf([1.0, 2.0, 3.0])
    x[cr.tensor([2, 2])].sum().backward()
    np.testing.assert_array_equal(grad_of(x), [0.0, 0.0, 2.0])


def test_boolean_mask() -> None:
    x = leaf([[1.0, -2.0], [-3.0, 4.0]])
    mask = x.numpy() > 0
    out = x[mask]
    np.testing.assert_array_equal(out.numpy(), [1.0, 4.0])
    out.backward(np.array([5.0, 6.0]))
    np.testing.assert_array_equal(grad_of(x), [[5.0, 0.0], [0.0, 6.0]])


def test_boolean_tensor_mask_from_a_comparison() -> None:
    x = leaf([1.0, -2.0, 3.0])
    x[x > 0].sum().backward()
    np.testing.assert_array_equal(grad_of(x), [1.0, 0.0, 1.0])


def test_slices_with_steps_and_new_axes() -> None:
    x = leaf(np.arange(20.0).reshape(4, 5))
    out = x[1:, ::2][None, ..., -1]
    np.testing.assert_array_equal(
        out.numpy(), np.arange(20.0).reshape(4, 5)[1:, ::2][None, ..., -1]
    )
    out.sum().backward()
    expected = np.zeros((4, 5))
    expected[1:, 4] = 1.0
    np.testing.assert_array_equal(grad_of(x), expected)


def test_index_out_of_range_names_the_shape() -> None:
    with pytest.raises(IndexError, match=r"\(3,\)"):
        leaf([1.0, 2.0, 3.0])[5]


# -- concatenate, stack, split ---------------------------------------------------------------------


def test_concatenate_routes_each_part_back() -> None:
    a, b = leaf([[1.0, 2.0]]), leaf([[3.0, 4.0], [5.0, 6.0]])
    out = cr.concatenate([a, b], axis=0)
    assert out.shape == (3, 2)
    out.backward(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(grad_of(a), [[0.0, 1.0]])
    np.testing.assert_array_equal(grad_of(b), [[2.0, 3.0], [4.0, 5.0]])


def test_concatenate_mismatch_names_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(1, 2\).*\(2, 3\)"):
        cr.concatenate([leaf([[1.0, 2.0]]), leaf(np.ones((2, 3)))], axis=0)


def test_concatenate_and_stack_need_inputs() -> None:
    with pytest.raises(ValueError, match="concatenate"):
        cr.concatenate([])
    with pytest.raises(ValueError, match="stack"):
        cr.stack([])


def test_stack_with_negative_axis() -> None:
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    out = cr.stack([a, b], axis=-1)
    np.testing.assert_array_equal(out.numpy(), [[1.0, 3.0], [2.0, 4.0]])
    out.backward(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(grad_of(a), [1.0, 3.0])
    np.testing.assert_array_equal(grad_of(b), [2.0, 4.0])


def test_stack_mismatch_names_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        cr.stack([leaf([1.0, 2.0]), leaf([1.0, 2.0, 3.0])])


@st.composite
def split_case(draw: st.DrawFn) -> tuple[np.ndarray, Any, int]:
    shape = draw(strategies.shapes(min_dims=1))
    axis = draw(strategies.one_axis(len(shape)))
    n = shape[axis]
    sections = draw(
        st.one_of(
            st.sampled_from([d for d in range(1, n + 1) if n % d == 0]),
            st.lists(st.integers(0, n), max_size=3).map(sorted),
        )
    )
    return draw(strategies.floats(shape)), sections, axis


@given(split_case())
def test_split_matches_numpy_and_gradchecks(case: tuple[np.ndarray, Any, int]) -> None:
    x, sections, axis = case
    t = leaf(x)
    pieces = cr.split(t, sections, axis=axis)
    expected = np.split(x, sections, axis=axis)
    assert len(pieces) == len(expected)
    for p, e in zip(pieces, expected, strict=True):
        np.testing.assert_array_equal(p.numpy(), e)
    weights = [np.full(p.shape, float(i + 1)) for i, p in enumerate(pieces)]

    def weighted(u: cr.Tensor) -> cr.Tensor:
        parts = cr.split(u, sections, axis=axis)
        return cr.concatenate([p * w for p, w in zip(parts, weights, strict=True)], axis=axis)

    assert cr.gradcheck(weighted, t)


def test_split_into_uneven_sections_raises() -> None:
    with pytest.raises(ValueError, match=r"length 5.*2"):
        cr.split(leaf(np.ones(5)), 2)


# -- reductions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (-1, -3), ()])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_mean_axes(axis: Any, keepdims: bool) -> None:
    x = leaf(randn(2, 3, 4))
    for name in ("sum", "mean", "max", "min", "var", "std", "logsumexp"):
        out = getattr(x, name)(axis=axis, keepdims=keepdims)
        ref = (
            (lambda a, **k: np.log(np.exp(a).sum(**k)))
            if name == "logsumexp"
            else getattr(np, name)
        )
        np.testing.assert_allclose(out.numpy(), ref(x.numpy(), axis=axis, keepdims=keepdims))
    assert cr.gradcheck(lambda t: t.mean(axis=axis, keepdims=keepdims) ** 2, x)


def test_reduction_axis_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="axis 3"):
        leaf(np.ones((2, 3))).sum(axis=3)


def test_var_and_std_with_ddof_known_values() -> None:
    x = leaf([1.0, 2.0, 3.0, 4.0])
    v = x.var(ddof=1)
    assert v.item() == pytest.approx(5 / 3, abs=1e-15)
    v.backward()
    np.testing.assert_allclose(grad_of(x), 2 * (x.numpy() - 2.5) / 3)  # 2 (x - mu) / (N - 1)
    y = leaf([1.0, 2.0, 3.0, 4.0])
    s = y.std(ddof=1)
    assert s.item() == pytest.approx(np.sqrt(5 / 3), abs=1e-15)
    s.backward()
    np.testing.assert_allclose(grad_of(y), (y.numpy() - 2.5) / (3 * np.sqrt(5 / 3)))


def test_std_of_a_constant_has_zero_gradient() -> None:
    x = leaf([2.0, 2.0, 2.0])
    x.std().backward()
    np.testing.assert_array_equal(grad_of(x), [0.0, 0.0, 0.0])


def test_max_of_an_empty_array_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        leaf(np.ones((0,))).max()


# -- the softmax family at +-1e4 -------------------------------------------------------------------

BIG = [
    [1e4, -1e4, 0.0],
    [-1e4, -1e4, -1e4],
    [1e4, 1e4, -1e4],
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family_is_stable_at_large_logits(fn: str, dtype: str) -> None:
    x = cr.tensor(BIG, dtype=dtype, requires_grad=True)
    out = getattr(cr, fn)(x, axis=-1)
    assert np.isfinite(out.numpy()).all()
    out.backward(np.ones(out.shape, dtype=dtype))
    assert x.grad is not None and np.isfinite(x.grad.numpy()).all()


def test_softmax_family_known_values_at_large_logits() -> None:
    x = cr.tensor(BIG, dtype="float64")
    np.testing.assert_allclose(
        cr.softmax(x).numpy(), [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]]
    )
    np.testing.assert_allclose(
        cr.logsumexp(x, axis=1).numpy(), [1e4, -1e4 + np.log(3), 1e4 + np.log(2)], rtol=1e-15
    )
    np.testing.assert_allclose(cr.log_softmax(x).numpy()[0], [0.0, -2e4, -1e4])


def test_logsumexp_gradient_is_the_softmax() -> None:
    x = leaf(BIG)
    x.logsumexp(axis=1).sum().backward()
    np.testing.assert_allclose(grad_of(x), cr.softmax(x.detach()).numpy(), rtol=1e-15)


def test_logsumexp_of_all_minus_inf_is_minus_inf() -> None:
    out = cr.logsumexp(cr.tensor([-np.inf, -np.inf], dtype="float64"))
    assert out.item() == -np.inf


def test_softmax_with_axis_zero_gradchecks() -> None:
    x = leaf(randn(3, 2))
    assert cr.gradcheck(lambda t: cr.softmax(t, axis=0), x)
    assert cr.gradcheck(lambda t: t.log_softmax(axis=0), x)


# -- power -----------------------------------------------------------------------------------------


def test_power_at_zero_base_has_finite_gradients() -> None:
    x, p = leaf([0.0, 2.0]), leaf([2.0, 3.0])
    (x**p).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [0.0, 12.0])
    np.testing.assert_allclose(grad_of(p), [0.0, 8.0 * np.log(2.0)])


def test_integer_power_of_negative_base() -> None:
    x = leaf([-2.0, 3.0])
    (x**3).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [12.0, 27.0])


def test_cast_between_float_types_keeps_gradients() -> None:
    x = cr.tensor([1.5, -2.0], requires_grad=True)  # float32
    y = x.double() * 3.0
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad is not None and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


@pytest.mark.parametrize("fn", ["var", "std"])
def test_ddof_without_degrees_of_freedom_is_a_clear_error(fn: str) -> None:
    x = leaf(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"ddof=2 leaves no degrees of freedom for 2"):
        getattr(x, fn)(axis=1, ddof=2)
    assert getattr(x, fn)(axis=0, ddof=2).shape == (2,)  # 3 rows: one degree left


@pytest.mark.parametrize(
    "fn",
    [cr.exp, cr.log, cr.sqrt, cr.abs, cr.sin, cr.cos, cr.tanh, cr.sigmoid, cr.relu, cr.negative],
)
def test_public_functions_accept_plain_arrays_and_lists(fn: Any) -> None:
    values = [0.5, 2.0]
    for arg in (values, np.array(values)):
        out = fn(arg)
        assert isinstance(out, cr.Tensor) and not out.requires_grad
    np.testing.assert_allclose(fn(np.array(values)).numpy(), fn(cr.tensor(values)).numpy())


def test_binary_public_functions_accept_two_plain_operands() -> None:
    for fn in (cr.add, cr.subtract, cr.multiply, cr.divide, cr.power, cr.maximum, cr.minimum):
        out = fn(2.0, np.array([1.0, 4.0]))
        assert isinstance(out, cr.Tensor)
    np.testing.assert_array_equal(cr.matmul([[1.0, 2.0]], [[3.0], [4.0]]).numpy(), [[11.0]])


def test_split_axis_out_of_range_names_the_shape() -> None:
    with pytest.raises(ValueError, match=r"axis 2.*\(2, 3\)"):
        cr.split(leaf(np.ones((2, 3))), 1, axis=2)


def test_max_of_a_slice_with_nan_gives_nan_and_no_spurious_warning() -> None:
    x = leaf([[np.nan, 1.0], [2.0, 3.0]])
    out = x.max(axis=1)
    assert np.isnan(out.numpy()[0]) and out.numpy()[1] == 3.0
    out.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[0.0, 0.0], [0.0, 1.0]])


# -- conventions at 0 for power, 0-d reductions, axis errors (issue 11's defects) ---------------


def _f64(v: float) -> cr.Tensor:
    return cr.tensor(np.array(v, dtype=np.float64), requires_grad=True)


def test_x_to_the_zero_at_zero_has_zero_gradient() -> None:
    x = _f64(0.0)
    (x**0.0).backward()
    assert x.grad is not None and x.grad.item() == 0.0


def test_zero_to_the_zero_gradients_follow_pytorch() -> None:
    x, y = _f64(0.0), _f64(0.0)
    (x**y).backward()
    assert x.grad.item() == 0.0 and y.grad.item() == 0.0


def test_zero_to_the_x_at_zero_has_zero_gradient() -> None:
    y = _f64(0.0)
    (cr.tensor(np.float64(0.0)) ** y).backward()
    assert y.grad.item() == 0.0
    z = _f64(2.0)  # away from 0 the usual rule: d/dy 0^y = 0 for y > 0
    (cr.tensor(np.float64(0.0)) ** z).backward()
    assert z.grad.item() == 0.0


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
@pytest.mark.parametrize("axis", [0, -1])
def test_reductions_of_a_0d_tensor_accept_axis_0_and_minus_1(name: str, axis: int) -> None:
    x = _f64(1.5)
    out = getattr(cr, name)(x, axis=axis)
    assert out.item() == pytest.approx(1.5)  # one element: each reduction gives it back
    out.backward()
    assert x.grad.item() == pytest.approx(1.0)


def test_reduction_axis_out_of_range_is_an_axis_error_naming_the_op() -> None:
    with pytest.raises(np.exceptions.AxisError, match=r"sum: axis 2 is out of bounds .* 2 dim"):
        cr.sum(cr.tensor(np.ones((2, 3))), axis=2)


def test_stack_and_concatenate_axis_errors_name_op_axis_and_rank() -> None:
    t = cr.tensor(np.ones((2, 3)))
    with pytest.raises(np.exceptions.AxisError, match=r"stack: axis 77 .* 3-dimensional"):
        cr.stack([t], axis=77)
    with pytest.raises(ValueError, match=r"concatenate: axis 5 .* 2-dimensional"):
        cr.concatenate([t, t], axis=5)
    with pytest.raises(IndexError):  # AxisError is both, so either except works
        cr.concatenate([t, t], axis=5)
