"""Pooling over non-overlapping tiles (kernel = stride, no padding): the NumPy fast path of
``ops/conv.py``'s max and average pools.

The windows then tile the image, so (N, C, H, W) is a reshape away from (N, C, Ho, HH, Wo, WW)
and every pass is a whole-array ufunc: no padding, no per-offset zero-filled buffers, no
scatter-add. The routing is the general path's (``conv._max_pool``): an int8 code ``i*WW + j``
per output naming the window offset that won, the first in row-major order on ties, so the
general scatter and gather (used under ``create_graph=True``) read it unchanged.

- forward, 2x2 tiles (``max_pool_2x2_routes``, what the gate runs): the max of each window's two
  rows first, over contiguous rows, then of its two columns; the winners kept as ``Routes`` (a
  bool per column pair, a bool per window), ties fixed to the row-major first only where the
  columns tie. ``Routes.code()`` gives the int8 code when the general path needs it (under
  ``create_graph=True``). ``max_pool_2x2`` (columns first, the code directly: the first pass)
  is kept for callers wanting the code. Other tile sizes keep the general path.
- backward from ``Routes``: dout split between each window's columns, then between the rows
  (``d*mask`` and ``d - d*mask``: exact), the last two passes over contiguous rows.
- backward from a code, any tile: ``dx[:, :, :, i, :, j] = dout * (code == i*WW + j)``, one
  multiply per offset written straight into the tiled view of a fresh dx; each input written once.
- average pooling, any tile: one sum over the tile axes; its dx one broadcast multiply.

Measured on W8's pool, 2x2 on (64, 64, 32, 32) float32 (2026-12-02, one thread, CPU time):
forward 13 ms against 37 ms for the general per-offset loop, backward 5 ms against ~25 ms;
PyTorch's forward+backward 28 ms. Second pass (2026-12-02, 2 threads under load, CPU time,
medians of 25): forward 11.5 -> 6.5 ms (rows first), backward 7.9 -> 5.4 ms (from Routes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.ops import _threads
from chainrule.ops.conv_gemm import _scratch

PART_BYTES = 1 << 18  # input per part of a 2x2 max pool: its temporaries stay in L2
_FLOPS_PER_ITEM = 8  # what ``_threads.worth_sharing`` weighs an element's passes as


def tiled(x: Any, g: Any) -> bool:
    """Whether x is a NumPy array whose pooling windows (geometry g) tile it exactly."""
    if type(x) is not np.ndarray or g.k != g.s or g.p != (0, 0):
        return False
    h, w = g.x_shape[-2:]
    return h % g.k[0] == 0 and w % g.k[1] == 0


def _tiles(a: np.ndarray, k: tuple[int, int]) -> np.ndarray:
    """(..., H, W) -> (M, Ho, HH, Wo, WW) view (M the leading axes folded)."""
    h, w = a.shape[-2:]
    m = int(np.prod(a.shape[:-2]))  # not -1: an empty batch has no size to infer it from
    return a.reshape(m, h // k[0], k[0], w // k[1], k[1])


def max_pool_2x2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The max of each 2x2 tile, and its routing code (0..3, row-major, first max on ties)."""
    t = _tiles(x, (2, 2))  # (M, Ho, 2, Wo, 2)
    left, right = t[..., 0], t[..., 1]  # (M, Ho, 2, Wo): each row's two columns
    row_max = np.maximum(left, right)
    col = right > left  # which column won each row (ties: the left one)
    top, bottom = row_max[:, :, 0], row_max[:, :, 1]
    row = bottom > top  # which row won (ties: the top one)
    out = np.maximum(top, bottom)
    code = np.where(row, col[:, :, 1], col[:, :, 0]).view(np.int8)  # the winning row's column
    code += row.view(np.int8) * np.int8(2)
    lead = x.shape[:-2]
    return out.reshape(*lead, *out.shape[-2:]), code.reshape(*lead, *out.shape[-2:])


class Routes:
    """2x2 max pool's winners, kept the way the fast forward finds them: ``row`` (M, Ho, W)
    whether each column pair's bottom beat its top, ``col`` (M, Ho, Wo) whether the window's
    right column won (ties already resolved to the row-major first). ``code()`` gives the
    general path's int8 code ``2*row + col``.

    >>> import numpy as np
    >>> out, r = max_pool_2x2_routes(np.array([[[[1.0, 5.0], [7.0, 2.0]]]]))
    >>> out.tolist(), r.code().tolist()
    ([[[[7.0]]]], [[[[2]]]])
    """

    __slots__ = ("col", "row", "shape")

    def __init__(self, row: np.ndarray, col: np.ndarray, shape: tuple[int, ...]):
        self.row, self.col, self.shape = row, col, shape

    def code(self) -> np.ndarray:
        """The int8 code ``i*2 + j`` of each window's winner, shaped like the output."""
        r0, r1 = self.row[..., 0::2], self.row[..., 1::2]
        code = np.where(self.col, r1, r0).view(np.int8) * np.int8(2)
        code += self.col.view(np.int8)
        return code.reshape(self.shape)


def _parts(m: int, per_row: int, work: Any) -> None:
    """``work(rows)`` over ``slice``s of range(m) of about ``PART_BYTES`` of input each, shared
    between two threads when the whole is large (``_threads.shared``)."""
    step = max(1, PART_BYTES // max(1, per_row))
    starts = iter(range(0, m, step))

    def run(it: Any) -> None:
        for i in it:
            work(slice(i, min(i + step, m)))

    if _threads.worth_sharing(-(-m // step), m * per_row // 4 * _FLOPS_PER_ITEM):
        _threads.shared(run, starts)
    else:
        run(starts)


def max_pool_2x2_routes(x: np.ndarray) -> tuple[np.ndarray, Routes]:
    """The max of each 2x2 tile, and its winners as ``Routes``: the same answer as
    ``max_pool_2x2`` with the rows compared first, over contiguous rows (about twice faster),
    a part of the rows at a time (its temporaries stay in cache) in two threads."""
    m, (h, w) = int(np.prod(x.shape[:-2])), x.shape[-2:]
    t = x.reshape(m, h // 2, 2, w)
    out = np.empty((m, h // 2, w // 2), x.dtype)
    row = np.empty((m, h // 2, w), bool)
    col = np.empty((m, h // 2, w // 2), bool)

    def work(p: slice) -> None:
        top, bottom = t[p, :, 0], t[p, :, 1]  # (rows, Ho, W): contiguous rows
        v = _scratch("pool v", top.shape, x.dtype)
        np.maximum(top, bottom, out=v)
        np.greater(bottom, top, out=row[p])  # ties: the top
        v0, v1 = v[..., 0::2], v[..., 1::2]
        np.maximum(v0, v1, out=out[p])
        np.greater(v1, v0, out=col[p])  # ties: the left column...
        tie = _scratch("pool tie", v0.shape, bool)
        np.equal(v1, v0, out=tie)
        if tie.any():  # ...unless its winner is the bottom and the right's is the top (1)
            tie &= row[p, :, 0::2]
            tie &= ~row[p, :, 1::2]
            col[p] |= tie

    _parts(m, h * w * x.itemsize, work)
    lead = x.shape[:-2]
    return out.reshape(*lead, h // 2, w // 2), Routes(row, col, (*lead, h // 2, w // 2))


def scatter_routes(dout: np.ndarray, r: Routes, g: Any) -> np.ndarray:
    """2x2 max pool's dx from ``Routes``: dout split between each window's columns, then each
    column's share between its rows (two passes over contiguous rows), zeros elsewhere; a part
    of the rows at a time, in two threads."""
    dx = np.empty(g.x_shape, dout.dtype)
    m, ho, w = r.row.shape
    t = dx.reshape(m, ho, 2, w)  # a view: writing it fills dx
    d = dout.reshape(r.col.shape)

    def work(p: slice) -> None:
        dv = _scratch("pool dv", (p.stop - p.start, ho, w), dout.dtype)  # never handed out
        np.multiply(d[p], r.col[p], out=dv[..., 1::2])
        np.subtract(d[p], dv[..., 1::2], out=dv[..., 0::2])
        np.multiply(dv, r.row[p], out=t[p, :, 1])
        np.subtract(dv, t[p, :, 1], out=t[p, :, 0])

    _parts(m, 2 * ho * w * dout.itemsize, work)
    return dx


def scatter(dout: np.ndarray, idx: np.ndarray, g: Any) -> np.ndarray:
    """max pool's dx on tiles: each output's gradient written at its winner, zeros elsewhere."""
    kh, kw = g.k
    dx = np.empty(g.x_shape, dout.dtype)
    t = _tiles(dx, g.k)  # a view: writing it fills dx
    m, ho, wo = t.shape[0], t.shape[1], t.shape[3]
    d, code = dout.reshape(m, ho, wo), idx.reshape(m, ho, wo)
    for i in range(kh):
        for j in range(kw):
            np.multiply(d, code == i * kw + j, out=t[:, :, i, :, j])
    return dx


def avg_pool(x: np.ndarray, g: Any) -> np.ndarray:
    """The mean of each tile: one reduction over the tile axes."""
    t = _tiles(x, g.k)
    out = t.sum(axis=(2, 4))
    out *= 1.0 / (g.k[0] * g.k[1])
    return out.reshape(*x.shape[:-2], *out.shape[-2:])


def avg_scatter(dout: np.ndarray, g: Any) -> np.ndarray:
    """avg pool's dx on tiles: dout / (HH*WW) broadcast over each tile, in one pass."""
    dx = np.empty(g.x_shape, dout.dtype)
    t = _tiles(dx, g.k)  # a view: writing it fills dx
    d = dout.reshape(t.shape[0], t.shape[1], 1, t.shape[3], 1)
    np.multiply(d, 1.0 / (g.k[0] * g.k[1]), out=t)
    return dx
