"""The stride-1 GEMM fast path of conv2d (chainrule.ops.conv_gemm), both of its methods, against
loops written here: the forward, dx, dw and db of one offset at a time, plus gradcheck and
gradgradcheck in float64, float32 against float64, and scratch buffers never leaking out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import _blas, _gemm
from chainrule.nn import functional as F  # noqa: N812 - the field's usual alias
from chainrule.ops import _threads, conv_gemm
from chainrule.ops import conv as gates

RNG = np.random.default_rng(7)


def _windows(x: np.ndarray, kh: int, kw: int, pad: tuple[int, int], dil: tuple[int, int]) -> Any:
    """Yield (i, j, window of the padded input that offset (i, j) sees)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    ho = xp.shape[2] - dil[0] * (kh - 1)
    wo = xp.shape[3] - dil[1] * (kw - 1)
    for i in range(kh):
        for j in range(kw):
            r, c = i * dil[0], j * dil[1]
            yield i, j, xp[:, :, r : r + ho, c : c + wo]


def ref_conv(x: np.ndarray, w: np.ndarray, pad: Any, dil: Any) -> np.ndarray:
    out = 0.0
    for i, j, win in _windows(x, w.shape[2], w.shape[3], pad, dil):
        out = out + np.einsum("nchw,fc->nfhw", win, w[:, :, i, j])
    return out  # type: ignore[return-value]


def ref_grads(x: np.ndarray, w: np.ndarray, dout: np.ndarray, pad: Any, dil: Any) -> Any:
    """dx, dw, db of sum(dout * conv(x, w) + b), one kernel offset at a time."""
    n, c, h, wd = x.shape
    dxp = np.zeros((n, c, h + 2 * pad[0], wd + 2 * pad[1]))
    dw = np.zeros(w.shape)
    ho, wo = dout.shape[2:]
    for i, j, win in _windows(x, w.shape[2], w.shape[3], pad, dil):
        dw[:, :, i, j] = np.einsum("nfhw,nchw->fc", dout, win)
        r, s = i * dil[0], j * dil[1]
        dxp[:, :, r : r + ho, s : s + wo] += np.einsum("nfhw,fc->nchw", dout, w[:, :, i, j])
    dx = dxp[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + wd]
    return dx, dw, dout.sum(axis=(0, 2, 3))


CASES = [
    # x shape, w shape, padding, dilation
    ((2, 3, 5, 7), (4, 3, 3, 3), (0, 0), (1, 1)),
    ((2, 3, 6, 5), (4, 3, 3, 2), (1, 2), (1, 1)),  # non-square kernel, uneven padding
    ((1, 2, 7, 7), (3, 2, 3, 3), (2, 2), (2, 1)),  # dilation
    ((2, 3, 5, 4), (5, 3, 1, 1), (0, 0), (1, 1)),  # 1x1
    ((2, 2, 5, 4), (3, 2, 5, 4), (0, 0), (1, 1)),  # kernel = input size
    ((3, 2, 4, 6), (2, 2, 3, 3), (1, 1), (1, 1)),  # the 3x3 padding-1 conv of W8
    ((2, 2, 4, 3), (3, 2, 2, 2), (3, 2), (1, 1)),  # padding wider than the kernel reaches
    ((3, 1, 6, 5), (2, 1, 2, 3), (0, 1), (2, 2)),  # one channel, dilation, padding on one side
]


@pytest.fixture(params=["shifted", "stacked"])
def method(request: Any, monkeypatch: Any) -> str:
    """Force one of the two methods for every channel count."""
    monkeypatch.setattr(conv_gemm, "SHIFTED_MIN_C", 1 if request.param == "shifted" else 10**9)
    return str(request.param)


@pytest.fixture(params=["one thread", "two threads"])
def threads(request: Any, monkeypatch: Any) -> str:
    """The images done here in blocks of half the batch, or shared with the worker thread one
    image at a time however small the work."""
    if request.param == "two threads":
        monkeypatch.setattr(_threads, "MIN_FLOPS", 0)
        monkeypatch.setattr(conv_gemm, "BLOCK_BYTES", 1)
        monkeypatch.setitem(_threads._state, "enabled", True)
    else:
        monkeypatch.setitem(_threads._state, "enabled", False)
    return str(request.param)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_method_matches_the_loops_and_gradchecks(method: str, threads: str, case: Any) -> None:
    xs, ws, pad, dil = case
    x, w, b = RNG.standard_normal(xs), RNG.standard_normal(ws), RNG.standard_normal(ws[0])
    g = gates.Geometry(xs, ws[2:], (1, 1), pad, dil, 1)
    assert conv_gemm.strategy(g, x, w, b) == method  # the path under test is the one taken
    xt, wt, bt = (cr.tensor(a, dtype="float64", requires_grad=True) for a in (x, w, b))
    out = F.conv2d(xt, wt, bt, padding=pad, dilation=dil)
    ref = ref_conv(x, w, pad, dil) + b.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(out.data, ref, rtol=1e-12, atol=1e-12)
    dout = RNG.standard_normal(out.shape)
    out.backward(dout)
    for got, want in zip((xt.grad, wt.grad, bt.grad), ref_grads(x, w, dout, pad, dil), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)

    def fn(*ts: cr.Tensor) -> Any:
        return F.conv2d(ts[0], ts[1], ts[2], padding=pad, dilation=dil)

    assert cr.gradcheck(fn, xt, wt, bt)
    assert cr.gradgradcheck(fn, xt, wt, bt)


def test_float32_shifted_matches_float64_loops() -> None:
    x = RNG.standard_normal((4, 16, 9, 8)).astype(np.float32)
    w = (RNG.standard_normal((8, 16, 3, 3)) * 0.2).astype(np.float32)
    b = RNG.standard_normal(8).astype(np.float32)
    g = gates.Geometry(x.shape, (3, 3), (1, 1), (1, 1), (1, 1), 1)
    assert conv_gemm.strategy(g, x, w, b) == "shifted"  # the default for 16 channels
    xt, wt, bt = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(xt, wt, bt, padding=1)
    assert out.dtype == np.float32 and out.data.flags.c_contiguous
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    np.testing.assert_allclose(out.data, ref_conv(x64, w64, (1, 1), (1, 1)) + b[:, None, None],
                               rtol=1e-4, atol=1e-4)  # fmt: skip
    dout = RNG.standard_normal(out.shape).astype(np.float32)
    out.backward(dout)
    refs = ref_grads(x64, w64, dout.astype(np.float64), (1, 1), (1, 1))
    for got, want in zip((xt.grad, wt.grad, bt.grad), refs, strict=True):
        assert got.data.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_results_never_alias_the_scratch_buffers(method: str) -> None:
    x1, x2 = RNG.standard_normal((2, 3, 6, 6)), RNG.standard_normal((2, 3, 6, 6))
    w = RNG.standard_normal((4, 3, 3, 3))
    a = cr.tensor(x1, dtype="float64", requires_grad=True)
    out1 = F.conv2d(a, w, padding=1)
    kept = out1.data.copy()
    out1.backward(np.ones(out1.shape))
    dx1 = a.grad.data.copy()
    b = cr.tensor(x2, dtype="float64", requires_grad=True)
    out2 = F.conv2d(b, w, padding=1)  # same shapes: the same scratch buffers
    out2.backward(np.full(out2.shape, 3.0))
    np.testing.assert_array_equal(out1.data, kept)
    np.testing.assert_array_equal(a.grad.data, dx1)
    np.testing.assert_allclose(out1.data, ref_conv(x1, w, (1, 1), (1, 1)), rtol=1e-12)


def test_general_path_where_the_fast_one_does_not_apply() -> None:
    x, w = RNG.standard_normal((1, 2, 5, 5)), RNG.standard_normal((3, 2, 3, 3))
    g = gates.Geometry(x.shape, (3, 3), (1, 1), (0, 0), (1, 1), 1)
    assert conv_gemm.strategy(g, x, w) == "stacked"
    assert conv_gemm.strategy(g, x.astype(np.float32), w) is None  # mixed dtypes
    assert conv_gemm.strategy(g, x.astype(np.int64), w.astype(np.int64)) is None
    g2 = gates.Geometry(x.shape, (3, 3), (2, 2), (0, 0), (1, 1), 1)
    assert conv_gemm.strategy(g2, x, w) is None  # stride 2
    previous = _blas.set_enabled(False)
    try:
        assert conv_gemm.strategy(g, x, w) is None  # no BLAS calls: NumPy's matmul
        np.testing.assert_allclose(F.conv2d(x, w).data, ref_conv(x, w, (0, 0), (1, 1)))
    finally:
        _blas.set_enabled(previous)


def test_an_empty_batch_gives_empty_outputs_and_zero_weight_gradients() -> None:
    x = cr.tensor(np.zeros((0, 8, 6, 6), np.float32), requires_grad=True)
    w = cr.tensor(np.ones((4, 8, 3, 3), np.float32), requires_grad=True)
    out = F.max_pool2d(F.conv2d(x, w, padding=1), 2)
    assert out.shape == (0, 4, 3, 3)
    out.sum().backward()
    assert x.grad.shape == (0, 8, 6, 6)
    np.testing.assert_array_equal(w.grad.data, np.zeros((4, 8, 3, 3)))


def test_scratch_buffers_are_bounded_in_count_and_bytes(monkeypatch: Any) -> None:
    monkeypatch.setattr(conv_gemm, "_SCRATCH_BYTES", 1000)
    monkeypatch.setattr(conv_gemm, "_SCRATCH_SHAPES", 8)
    monkeypatch.setattr(conv_gemm._local, "cache", {}, raising=False)
    a = conv_gemm._scratch("out", (100,), np.dtype(np.float32))  # 400 bytes: kept
    assert conv_gemm._scratch("out", (100,), np.dtype(np.float32)) is a
    big = conv_gemm._scratch("out", (300,), np.dtype(np.float32))  # 1200 bytes: never kept
    assert conv_gemm._scratch("out", (300,), np.dtype(np.float32)) is not big
    conv_gemm._scratch("dx", (200,), np.dtype(np.float32))  # 800 more: the older one goes
    assert list(conv_gemm._local.cache) == [("dx", (200,), np.dtype(np.float32), False)]
    for i in range(conv_gemm._SCRATCH_SHAPES + 4):
        conv_gemm._scratch("dx", (i + 1,), np.dtype(np.float32))
    assert len(conv_gemm._local.cache) == conv_gemm._SCRATCH_SHAPES


def test_scratch_grids_keep_their_zero_borders_across_geometries(threads: str) -> None:
    """Two geometries whose grids have the same shape but their zeros in other places, in
    turn: each must read its own borders as zeros however the buffers were used before."""
    w = RNG.standard_normal((2, 3, 3, 3))
    cases = [((1, 3, 4, 6), (1, 1)), ((1, 3, 6, 4), (1, 1)), ((1, 3, 4, 6), (0, 2))]
    for _ in range(2):
        for shape, pad in cases:
            x = RNG.standard_normal(shape)
            xt = cr.tensor(x, requires_grad=True)
            out = F.conv2d(xt, w, padding=pad)
            np.testing.assert_allclose(out.data, ref_conv(x, w, pad, (1, 1)), rtol=1e-12)
            dout = RNG.standard_normal(out.shape)
            out.backward(dout)
            np.testing.assert_allclose(xt.grad, ref_grads(x, w, dout, pad, (1, 1))[0], rtol=1e-11)


def test_blas_thread_count_restored_after_a_shared_conv(monkeypatch: Any) -> None:
    """While two threads share the images OpenBLAS runs on one; after, on what it had, also
    when the work raises."""
    monkeypatch.setattr(_threads, "MIN_FLOPS", 0)
    monkeypatch.setitem(_threads._state, "enabled", True)
    before = _gemm.threads()
    seen: list[int] = []

    def work(items: Any) -> None:
        seen.append(_gemm.threads())
        for _ in items:
            pass

    conv_gemm._run(work, 4, 1, 1)
    assert seen == [1, 1] and _gemm.threads() == before

    def failing(items: Any) -> None:
        raise RuntimeError("inside the work")

    with pytest.raises(RuntimeError, match="inside the work"):
        conv_gemm._run(failing, 4, 1, 1)
    assert _gemm.threads() == before


def test_shared_blocks_give_bitwise_the_serial_gradients(monkeypatch: Any) -> None:
    """Whichever thread takes which block, dw and db are the blocks' sums in block order: a run
    in two threads equals a run here bit for bit, every time (training must be reproducible)."""
    x = RNG.standard_normal((9, 5, 7, 6)).astype(np.float32)
    w = RNG.standard_normal((4, 5, 3, 3)).astype(np.float32)
    dout = RNG.standard_normal((9, 4, 7, 6)).astype(np.float32)
    g = gates.Geometry(x.shape, (3, 3), (1, 1), (1, 1), (1, 1), 1)
    monkeypatch.setattr(conv_gemm, "BLOCK_BYTES", 1)  # one image a block: nine blocks
    monkeypatch.setitem(_threads._state, "enabled", False)
    serial = conv_gemm.backward(dout, w, x, g, (True, True, True))
    monkeypatch.setitem(_threads._state, "enabled", True)
    monkeypatch.setattr(_threads, "MIN_FLOPS", 0)
    for _ in range(5):
        shared = conv_gemm.backward(dout, w, x, g, (True, True, True))
        for a, b in zip(shared, serial, strict=True):
            np.testing.assert_array_equal(a, b)
