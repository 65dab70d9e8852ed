"""The fast paths behind W11 (issue 11's performance goals) against independent references:
the packed float32 stable sort against ``np.argsort(kind="stable")`` on ties, signed zeros and
NaNs; take_along_axis's flat gather and sort's permutation scatter against loops; cumsum's
reverse scan against a loop; einsum's transposed-product path against ``np.einsum``."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import _sorting
from einsum_ref import einsum_grads

RNG = np.random.default_rng(7)


def _awkward(shape: tuple[int, ...]) -> np.ndarray:
    """float32 with many ties, both zeros, both infinities and NaNs of both signs."""
    x = RNG.integers(-3, 4, shape).astype(np.float32)
    flat = x.reshape(-1)
    picks = RNG.choice(flat.size, size=flat.size // 3, replace=False)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.5], np.float32)
    flat[picks] = RNG.choice(specials, size=picks.size)
    neg_nan = np.array([0xFFC00001], np.uint32).view(np.float32)[0]  # sign bit and a payload
    flat[picks[:3]] = neg_nan
    return x


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_packed_stable_order_matches_numpys_stable_argsort(axis) -> None:
    x = _awkward((5, 6, 7))
    want = np.argsort(x, axis=axis, kind="stable")
    np.testing.assert_array_equal(_sorting.stable_order(x, axis), want)
    down = np.argsort(-x, axis, kind="stable")
    np.testing.assert_array_equal(_sorting.stable_order(-x, axis), down)


def test_stable_order_of_other_dtypes_and_empty_arrays() -> None:
    distinct = RNG.permutation(36).reshape(4, 9)
    for x in (
        _awkward((4, 9)).astype(np.float64),  # ties: the stable sort
        RNG.integers(0, 3, (4, 9)),
        distinct,  # no ties: the quicksort's order, the same
        distinct * 0.5 - 3.0,
        np.where(distinct == 5, np.nan, distinct * 1.0),  # one NaN: no tie
        np.where(distinct % 9 == 0, np.nan, distinct * 1.0),  # NaNs tie
        distinct.astype(np.float16),
        np.array([[0.0, -0.0, 1.0]]),  # -0.0 ties with 0.0
        np.where(RNG.random((2, 3000)) < 0.5, 0.0, -0.0),  # long ties a quicksort scrambles
        np.where(RNG.random((2, 3000)) < 0.5, np.nan, RNG.standard_normal((2, 3000))),
    ):
        np.testing.assert_array_equal(
            _sorting.stable_order(x, 1), np.argsort(x, axis=1, kind="stable")
        )
    assert _sorting.stable_order(np.zeros((3, 0), np.float32), 1).shape == (3, 0)


@pytest.mark.parametrize("descending", [False, True])
def test_sort_of_float32_keeps_signs_and_nans_and_routes_gradients(descending) -> None:
    x = _awkward((4, 8))
    order = np.argsort(-x if descending else x, axis=1, kind="stable")
    t = cr.tensor(x, requires_grad=True)
    out = cr.sort(t, axis=1, descending=descending)
    want = np.take_along_axis(x, order, axis=1)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data.view(np.uint32), want.view(np.uint32))  # bit-exact
    dout = RNG.standard_normal((4, 8)).astype(np.float32)
    out.backward(dout)
    grad = np.zeros_like(x)
    for i in range(4):
        for k in range(8):
            grad[i, order[i, k]] += dout[i, k]
    np.testing.assert_array_equal(t.grad.data, grad)


def test_topk_gradient_routes_to_the_chosen_elements() -> None:
    x = _awkward((3, 10))
    x[np.isnan(x)] = 0.5
    t = cr.tensor(x, requires_grad=True)
    values, indices = cr.topk(t, 4, axis=1)
    values.sum().backward()
    grad = np.zeros_like(x)
    for i in range(3):
        for j in indices.data[i]:
            grad[i, j] += 1.0
    np.testing.assert_array_equal(t.grad.data, grad)


@pytest.mark.parametrize("axis", [0, 1, 2, -2])
def test_take_along_axis_flat_gather_matches_a_loop(axis) -> None:
    x = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    ax = axis % 3
    shape = [3, 4, 5]
    shape[ax] = 6  # more picks than the axis has: repeats, and negative indices
    shape[(ax + 1) % 3] = 1  # broadcast along another axis
    idx = RNG.integers(-x.shape[ax], x.shape[ax], shape)
    t = cr.tensor(x, requires_grad=True)
    out = cr.take_along_axis(t, idx, axis=axis)
    full = np.broadcast_to(idx, [6 if a == ax else x.shape[a] for a in range(3)])
    want = np.empty(full.shape, np.float32)
    grad = np.zeros_like(x)
    dout = RNG.standard_normal(full.shape).astype(np.float32)
    for pos in np.ndindex(*full.shape):
        src = list(pos)
        src[ax] = full[pos] % x.shape[ax]
        want[pos] = x[tuple(src)]
        grad[tuple(src)] += dout[pos]
    np.testing.assert_array_equal(out.data, want)
    out.backward(dout)
    np.testing.assert_allclose(t.grad.data, grad, rtol=1e-6, atol=1e-6)


def test_take_along_axis_of_a_non_contiguous_input_and_second_derivatives() -> None:
    x = RNG.standard_normal((4, 3))
    idx = np.array([[2, 0, 0, 1], [1, 1, 2, 3], [3, 3, 0, 0]])
    t = cr.tensor(x, requires_grad=True)
    got = cr.take_along_axis(t.T, idx, axis=1)  # a transposed view: reshape(-1) copies
    np.testing.assert_array_equal(got.data, np.take_along_axis(x.T, idx, axis=1))
    assert cr.gradcheck(lambda a: cr.take_along_axis(a.T, idx, axis=1) ** 2, t)
    assert cr.gradgradcheck(lambda a: cr.take_along_axis(a.T, idx, axis=1) ** 2, t)
    assert cr.gradgradcheck(lambda a: cr.sort(a * a, axis=0), t)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum_backward_is_the_reverse_scan_and_owns_its_memory(axis) -> None:
    x = RNG.standard_normal((3, 5)).astype(np.float32)
    t = cr.tensor(x, requires_grad=True)
    dout = RNG.standard_normal((3, 5)).astype(np.float32)
    cr.cumsum(t, axis=axis).backward(dout)
    ax = axis % 2
    want = np.zeros_like(x)
    for pos in np.ndindex(3, 5):
        later = [p for p in np.ndindex(3, 5) if p[1 - ax] == pos[1 - ax] and p[ax] >= pos[ax]]
        want[pos] = sum(float(dout[p]) for p in later)
    np.testing.assert_allclose(t.grad.data, want, rtol=1e-5, atol=1e-6)
    assert t.grad.data.base is None and not np.shares_memory(t.grad.data, dout)


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ("ik,ij->jk", [(3, 4), (3, 5)]),  # the product lands transposed: operands swapped
        ("bik,bij->bjk", [(2, 3, 4), (2, 3, 5)]),
        ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
        ("bij,bjk->bki", [(2, 3, 4), (2, 4, 5)]),  # needs a final transpose
    ],
)
def test_einsum_matmul_paths_match_numpy_and_grads_own_their_memory(spec, shapes) -> None:
    arrays = [RNG.standard_normal(s) for s in shapes]
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = cr.einsum(spec, *ts)
    np.testing.assert_allclose(out.data, np.einsum(spec, *arrays), rtol=1e-12, atol=1e-12)
    dout = RNG.standard_normal(out.shape)
    out.backward(dout)
    want_a, want_b = einsum_grads(spec, dout, arrays[0], arrays[1])
    np.testing.assert_allclose(ts[0].grad.data, want_a, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ts[1].grad.data, want_b, rtol=1e-12, atol=1e-12)
    assert not np.shares_memory(ts[0].grad.data, ts[1].grad.data)
    assert not np.shares_memory(ts[0].grad.data, dout)


@pytest.mark.parametrize("shape, axis", [((600, 500), 1), ((600, 500), 0), ((2, 400, 400), 2)])
def test_cumsum_split_over_threads_is_bitwise_one_call(shape, axis) -> None:
    from chainrule.ops import _threads

    assert np.prod(shape) >= _threads.MIN_SIZE  # large enough to be split
    x = RNG.standard_normal(shape).astype(np.float32)
    dout = RNG.standard_normal(shape).astype(np.float32)
    t = cr.tensor(x, requires_grad=True)
    out = cr.cumsum(t, axis=axis)
    out.backward(dout)
    np.testing.assert_array_equal(out.data, np.cumsum(x, axis=axis))
    reverse = np.flip(np.cumsum(np.flip(dout, axis), axis=axis), axis)
    np.testing.assert_array_equal(t.grad.data, reverse)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="POSIX fork")
def test_threaded_cumsum_works_in_a_forked_child() -> None:
    import os
    import signal

    x = RNG.standard_normal((600, 500)).astype(np.float32)
    want = np.cumsum(x, axis=1)
    np.testing.assert_array_equal(cr.cumsum(cr.tensor(x), axis=1).data, want)  # pool started
    pid = os.fork()
    if pid == 0:  # the child: a deadlock ends by the alarm, a wrong answer by status 1
        signal.alarm(30)
        ok = np.array_equal(cr.cumsum(cr.tensor(x), axis=1).data, want)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
