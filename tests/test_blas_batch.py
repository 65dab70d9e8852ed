"""The batched BLAS product against np.matmul on every layout it takes (rows, columns, several
batch axes) and None on every one it refuses (broadcast batches, uneven batch strides, small
products, other dtypes), and einsum's products through it against np.einsum."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import _blas, _blas_batch
from einsum_ref import einsum_grads

RNG = np.random.default_rng(3)


def _stack(shape: tuple[int, ...], dtype: type, transposed: bool) -> np.ndarray:
    """A stack of matrices of ``shape``, stored by rows, or by columns (a transposed view)."""
    if not transposed:
        return RNG.standard_normal(shape).astype(dtype)
    flipped = (*shape[:-2], shape[-1], shape[-2])
    return np.swapaxes(RNG.standard_normal(flipped).astype(dtype), -1, -2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("batch", [(3,), (2, 2)])
def test_batched_product_matches_np_matmul(dtype, ta, tb, batch) -> None:
    a = _stack((*batch, 101, 103), dtype, ta)
    b = _stack((*batch, 103, 102), dtype, tb)
    got = _blas_batch.matmul(a, b)
    if got is None:
        pytest.skip("no batched BLAS routine in this NumPy's OpenBLAS")
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, np.matmul(a, b), rtol=tol, atol=tol * 10)
    assert got.dtype == dtype and got.flags.c_contiguous


def test_layouts_it_cannot_take_are_refused() -> None:
    a = RNG.standard_normal((4, 101, 103)).astype(np.float32)
    b = RNG.standard_normal((4, 103, 102)).astype(np.float32)
    assert _blas_batch.matmul(a, b[:1]) is None  # a broadcast batch
    assert _blas_batch.matmul(a[::2], b[::2]) is not None or _blas_batch._routine(a.dtype) is None
    uneven = RNG.standard_normal((2, 3, 101, 103)).astype(np.float32)[:, :2]  # batch strides
    assert _blas_batch.matmul(uneven, np.ones((2, 2, 103, 102), np.float32)) is None
    assert _blas_batch.matmul(a[:, :10, :10], b[:, :10, :10]) is None  # small: np.matmul's
    assert _blas_batch.matmul(a.astype(np.float16), b.astype(np.float16)) is None
    assert _blas_batch.matmul(a, b.astype(np.float64)) is None
    assert _blas_batch.matmul(a[..., ::2], b[:, ::2]) is None  # rows with a stride of 2 items
    previous = _blas.set_enabled(False)
    try:
        assert _blas_batch.matmul(a, b) is None
    finally:
        _blas.set_enabled(previous)


@pytest.mark.parametrize(
    "spec, shapes",
    [("bij,bjk->bik", [(4, 128, 128), (4, 128, 128)]),
     ("bhqd,bhkd->bhqk", [(2, 2, 128, 64), (2, 2, 128, 64)])],
)  # fmt: skip
def test_einsum_products_through_it_match_numpy(spec, shapes) -> None:
    arrays = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = cr.einsum(spec, *ts)
    np.testing.assert_allclose(out.data, np.einsum(spec, *arrays), rtol=1e-4, atol=1e-3)
    dout = RNG.standard_normal(out.shape).astype(np.float32)
    out.backward(dout)
    want_a, want_b = einsum_grads(spec, dout, arrays[0], arrays[1])
    np.testing.assert_allclose(ts[0].grad.data, want_a, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ts[1].grad.data, want_b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "spec, shapes",
    [("bij,bjk->bik", [(4, 128, 128), (4, 128, 128)]),
     ("bhqd,bhkd->bhqk", [(2, 2, 128, 64), (2, 2, 128, 64)])],
)  # fmt: skip
def test_einsum_forward_and_both_gradients_take_the_batched_call_on_views(
    spec, shapes, monkeypatch
) -> None:
    """W11's einsums: all three products (forward, d/da, d/db) are batched calls, and each is
    handed views of the operands and of dout (transposed ones read with BLAS's Trans flag),
    never copies of them."""
    if _blas_batch._routine(np.dtype(np.float32)) is None:
        pytest.skip("no verified OpenBLAS batched gemm in this NumPy")
    arrays = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    dout = RNG.standard_normal(np.einsum(spec, *arrays).shape).astype(np.float32)
    calls: list[tuple[np.ndarray, np.ndarray, object]] = []
    real = _blas_batch.matmul

    def recording(a: np.ndarray, b: np.ndarray) -> object:
        r = real(a, b)
        calls.append((a, b, r))
        return r

    monkeypatch.setattr(_blas_batch, "matmul", recording)
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    cr.einsum(spec, *ts).backward(dout)
    assert len(calls) == 3
    assert all(r is not None for _, _, r in calls)  # no fallback to np.matmul
    sources = [ts[0].data, ts[1].data, dout]
    for a, b, _ in calls:
        for x in (a, b):
            assert any(np.shares_memory(x, s) for s in sources)  # a view, not a copy
    lhs, res = spec.split("->")
    a_s, b_s = lhs.split(",")
    np.testing.assert_allclose(
        ts[0].grad.data, np.einsum(f"{res},{b_s}->{a_s}", dout, arrays[1]), rtol=1e-4, atol=1e-3
    )
    np.testing.assert_allclose(
        ts[1].grad.data, np.einsum(f"{res},{a_s}->{b_s}", dout, arrays[0]), rtol=1e-4, atol=1e-3
    )
