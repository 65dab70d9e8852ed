"""Tie rules and routing: maximum/minimum/max/min/relu/clip/where.

Ties split the gradient evenly between the tied inputs (the halves add up to dout). A router
sends exact zeros down the branch it did not take, so a NaN or inf there, in the values or in
the upstream gradient, never reaches the other branch's gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

INF, NAN = np.inf, np.nan


def leaf(values: object) -> cr.Tensor:
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def grad_of(t: cr.Tensor) -> np.ndarray:
    assert t.grad is not None
    return t.grad.numpy()


@pytest.mark.parametrize("op", [cr.maximum, cr.minimum])
def test_pairwise_tie_splits_evenly(op: object) -> None:
    x, y = leaf([1.0, 2.0, 3.0]), leaf([1.0, 0.0, 5.0])
    op(x, y).backward(np.array([4.0, 4.0, 4.0]))  # type: ignore[operator]
    winner_x = [2.0, 4.0, 0.0] if op is cr.maximum else [2.0, 0.0, 4.0]
    np.testing.assert_array_equal(grad_of(x), winner_x)
    np.testing.assert_array_equal(grad_of(y), 4.0 - np.array(winner_x))


def test_pairwise_tie_against_a_broadcast_scalar() -> None:
    x, y = leaf([[0.0, 1.0], [2.0, 1.0]]), leaf(1.0)
    cr.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[0.0, 0.5], [1.0, 0.5]])
    assert grad_of(y) == 1.0 + 0.5 + 0.5  # all of one loser element, half of two ties


def test_the_lecture_max_gate_routes() -> None:
    z, w = leaf(2.0), leaf(-1.0)
    (2 * cr.maximum(z, w)).backward()
    assert (grad_of(z), grad_of(w)) == (2.0, 0.0)


@pytest.mark.parametrize(
    ("values", "axis", "expected"),
    [
        ([1.0, 3.0, 3.0, 2.0], None, [0.0, 0.5, 0.5, 0.0]),
        ([5.0, 5.0, 5.0], None, [1 / 3, 1 / 3, 1 / 3]),
        ([[1.0, 1.0], [2.0, 0.0]], 1, [[0.5, 0.5], [1.0, 0.0]]),
        ([[1.0, 1.0], [2.0, 1.0]], 0, [[0.0, 0.5], [1.0, 0.5]]),
    ],
)
def test_max_reduction_splits_among_tied_maxima(values, axis, expected) -> None:  # type: ignore[no-untyped-def]
    x = leaf(values)
    x.max(axis=axis).sum().backward()
    np.testing.assert_allclose(grad_of(x), expected, rtol=0, atol=1e-15)


def test_min_reduction_splits_among_tied_minima() -> None:
    x = leaf([[0.0, 4.0, 0.0], [1.0, 2.0, 3.0]])
    cr.min(x, axis=1, keepdims=True).backward(np.array([[6.0], [1.0]]))
    np.testing.assert_array_equal(grad_of(x), [[3.0, 0.0, 3.0], [1.0, 0.0, 0.0]])


def test_max_reduction_ignores_minus_inf_losers() -> None:
    x = leaf([-INF, 1.0, -INF])
    x.max().backward()
    np.testing.assert_array_equal(grad_of(x), [0.0, 1.0, 0.0])


def test_where_untaken_branch_with_inf_and_nan_values() -> None:
    a, b = leaf([1.0, -1.0, 3.0]), leaf([INF, 2.0, NAN])
    cond = np.array([True, False, True])
    out = cr.where(cond, a * 2, b * 3)
    np.testing.assert_array_equal(out.numpy(), [2.0, 6.0, 6.0])
    out.sum().backward()
    np.testing.assert_array_equal(grad_of(a), [2.0, 0.0, 2.0])
    np.testing.assert_array_equal(grad_of(b), [0.0, 3.0, 0.0])  # exact zeros, no nan


def test_where_sends_exact_zeros_even_when_dout_is_not_finite() -> None:
    a, b = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    cr.where(np.array([True, False, True]), a, b).backward(np.array([NAN, 1.0, INF]))
    np.testing.assert_array_equal(grad_of(a), [NAN, 0.0, INF])
    np.testing.assert_array_equal(grad_of(b), [0.0, 1.0, 0.0])


def test_where_condition_may_be_a_tensor_and_broadcast() -> None:
    a, b = leaf([[1.0], [2.0]]), leaf([10.0, 20.0, 30.0])
    cond = cr.tensor([True, False, True])
    out = cr.where(cond, a, b)  # (3,), (2, 1), (3,) -> (2, 3)
    np.testing.assert_array_equal(out.numpy(), [[1.0, 20.0, 1.0], [2.0, 20.0, 2.0]])
    out.sum().backward()
    np.testing.assert_array_equal(grad_of(a), [[2.0], [2.0]])
    np.testing.assert_array_equal(grad_of(b), [0.0, 2.0, 0.0])


@pytest.mark.parametrize("op", [cr.maximum, cr.minimum])
def test_maximum_minimum_with_infinite_loser(op: object) -> None:
    loser = -INF if op is cr.maximum else INF
    x, y = leaf([1.0, 2.0]), leaf([loser, loser])
    op(x, y).backward(np.array([1.0, NAN]))  # type: ignore[operator]
    np.testing.assert_array_equal(grad_of(x), [1.0, NAN])
    np.testing.assert_array_equal(grad_of(y), [0.0, 0.0])


def test_relu_routes_exact_zeros() -> None:
    x = leaf([-INF, -1.0, 2.0])
    out = cr.relu(x)
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, 2.0])
    out.backward(np.array([NAN, INF, 5.0]))
    np.testing.assert_array_equal(grad_of(x), [0.0, 0.0, 5.0])


def test_relu_gradient_at_zero_is_zero() -> None:
    x = leaf([0.0])
    x.relu().sum().backward()
    assert grad_of(x)[0] == 0.0


def test_clip_routes_exact_zeros_and_includes_the_bounds() -> None:
    x = leaf([-INF, -1.0, 0.5, 1.0, INF])
    out = x.clip(-1.0, 1.0)
    np.testing.assert_array_equal(out.numpy(), [-1.0, -1.0, 0.5, 1.0, 1.0])
    out.backward(np.array([NAN, 2.0, 3.0, 4.0, NAN]))
    np.testing.assert_array_equal(grad_of(x), [0.0, 2.0, 3.0, 4.0, 0.0])


def test_clip_with_tensor_bounds_uses_maximum_and_minimum() -> None:
    x, lo = leaf([0.0, 2.0]), leaf([1.0, 1.0])
    cr.clip(x, lo, 1.5).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [0.0, 0.0])
    np.testing.assert_array_equal(grad_of(lo), [1.0, 0.0])


def test_clip_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="clip"):
        cr.clip(leaf([1.0]))


def test_abs_gradient_at_zero_is_zero() -> None:
    x = leaf([-2.0, 0.0, 3.0])
    cr.abs(x).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_on_large_arrays_matches_and_routes_exact_zeros(dtype: type) -> None:
    # from 4096 elements ReLU takes its vectorized paths (a zero row forward, a mask product
    # backward with a finiteness check); they must agree with the definition exactly
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((64, 128)).astype(dtype)
    x_np[0, :3] = [np.nan, -np.inf, np.inf]
    x = cr.tensor(x_np, requires_grad=True)
    out = cr.relu(x)
    np.testing.assert_array_equal(out.numpy(), np.maximum(x_np, 0))
    assert out.dtype == dtype
    upstream = rng.standard_normal(x_np.shape).astype(dtype)
    upstream[x_np < 0] = np.inf  # poison every unit that is off
    upstream[1, x_np[1] < 0] = np.nan
    out.backward(upstream)
    want = np.where(x_np > 0, upstream, 0)
    np.testing.assert_array_equal(grad_of(x), want)
