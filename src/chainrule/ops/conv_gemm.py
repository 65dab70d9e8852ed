"""Stride-1 convolutions as shifted GEMMs, a block of images at a time: the NumPy fast path
of ``ops/conv.py``.

The layout. Each image is copied into a small zero-bordered *grid*, ``xg`` (C, R), one row
of the padded image after another, ``Wp`` items apart. Kernel offset (i, j) then reads the
image at one *flat shift* ``s = i*dh*Wp + j*dw``: output position q (on the same grid) is
``sum_{c,i,j} w[:, c, i, j] xg[c, q + s_ij]``, so the columns ``xg[:, s : s + L]`` are one
matrix (rows R apart) and the image's convolution is HH*WW GEMMs ``og (F, L) += w_ij (F, C)
@ xg[:, s:s+L] (C, L)``, accumulated by BLAS's ``beta`` into one output grid, with no im2col
buffer. The rows share their padding: a row's right border is the next row's left one
(``Wp = W + pw`` wherever the output fits in it: 33x33 grid positions for a 32x32 image with
padding 1, 6% more than the outputs). Grid positions past the valid (Ho, Wo) corner are
computed and dropped. The backward is the same GEMMs the other way round: ``dxg[:, q] +=
w_ij^T @ dg[:, q - s]`` (col2im for free) and ``dw_ij += dg @ xg[:, s:s+L]^T``, bias, crops
and padding riding on the copies into and out of the grids.

Why a block of images at a time. A block's grids stay in the core's cache while its HH*WW
GEMMs add into them (a 32-channel 32x32 image's grid is 140 KiB, its 64-channel output grid
270 KiB; ``Grid.block`` images fill ``BLOCK_BYTES``, and a batch makes at least ``MIN_BLOCKS``
blocks), and the copies in and out are small strided copies, no transposes of the whole
batch. A block is a (C, b*r) grid, one slot of r positions per image, so one GEMM per offset
covers the block. The blocks are shared between two threads (the caller and one worker,
``_threads.shared``), each running OpenBLAS on one thread (``_gemm.one_thread``): OpenBLAS
splitting each of these small products over its two threads costs more than it gains.
Measured on W8's 3x3 conv, N=64, 32->64 channels, 32x32, pad 1 (2026-12-02, 2 cores): the
forward one image a block 25.3 ms with OpenBLAS splitting each image's GEMMs, 16.8 ms with the
images split between two threads, 13.5 ms in blocks of 4; the whole-batch layout that came
before (one (C, N*Hp*Wp) grid, transposed in and out) 19.9 ms. dw and db are summed per block
and then in block order: bitwise the same result whichever thread took which block.

The choice of method, per shape (the one place it lives, ``strategy``), for the forward and
the weight gradient (dx always runs one GEMM per offset):

- ``"shifted"``: the above, when C >= ``SHIFTED_MIN_C``.
- ``"stacked"``: for few channels (LeNet's first layer has C=1: one GEMM per offset would be a
  rank-1 update), the HH*WW shifted windows are copied, each one contiguous slice, into a
  scratch (HH*WW*C, L) matrix, and one GEMM does the image's forward (and one its dw).
- ``None`` (the general im2col path of ``ops/conv.py``): strides > 1, groups > 1, non-NumPy
  arrays (Tensors under ``create_graph=True``, other backends), dtypes other than float32 and
  float64 or mixed dtypes, and no OpenBLAS found (``chainrule._gemm``).

Scratch grids are reused per geometry and thread (``_scratch``: at most 32 of them and 128 MiB
per thread, the least recently used dropped first); their borders are zeroed once, when made,
and only the image's own positions are written after. They are never returned nor saved:
every result is a fresh array.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from typing import Any

import numpy as np

from chainrule import _gemm
from chainrule.ops import _threads

SHIFTED_MIN_C = 4  # input channels from which one GEMM per kernel offset beats stacking
BLOCK_BYTES = 1 << 21  # a block's input and output grids together: within a core's L2 cache
DW_STACKED_MAX_C = SHIFTED_MIN_C  # input channels below which dw stacks its columns too
MIN_BLOCKS = 2  # blocks a batch is cut into at least (one per thread)

_local = threading.local()
_SCRATCH_SHAPES = 32  # distinct (role, shape, dtype) buffers kept per thread...
_SCRATCH_BYTES = 128 << 20  # ...holding at most this much: a larger one is allocated each time


def _scratch(role: Hashable, shape: tuple[int, ...], dtype: Any, zero: bool = False) -> np.ndarray:
    """A reused work array, zero-filled when made if ``zero`` (never handed out: see the module
    docstring). ``role`` names what the buffer holds; buffers whose zeros matter must carry in
    it everything that decides where the zeros are."""
    cache: dict[Any, np.ndarray] = getattr(_local, "cache", None) or {}
    _local.cache = cache
    key = (role, shape, np.dtype(dtype), zero)
    buf = cache.pop(key, None)
    if buf is None:
        buf = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
        if buf.nbytes > _SCRATCH_BYTES:
            return buf
        while len(cache) >= _SCRATCH_SHAPES or (
            cache and sum(b.nbytes for b in cache.values()) + buf.nbytes > _SCRATCH_BYTES
        ):
            del cache[next(iter(cache))]  # the least recently used
    cache[key] = buf  # most recent last
    return buf


def strategy(g: Any, *arrays: Any) -> str | None:
    """ "shifted", "stacked" or None (the general path) for this geometry and these arrays."""
    if g.s != (1, 1) or g.groups != 1 or 0 in g.x_shape:
        return None
    dtype = arrays[0].dtype if type(arrays[0]) is np.ndarray else None
    if dtype not in (np.float32, np.float64):
        return None
    if any(type(a) is not np.ndarray or a.dtype != dtype for a in arrays):
        return None
    if _gemm.routine(dtype) is None:
        return None
    return "shifted" if g.x_shape[1] >= SHIFTED_MIN_C else "stacked"


class Grid:
    """The flat-shift geometry of a stride-1 conv on blocks of images.

    Within one image's slot of ``r`` positions, position ``row*wp + col`` holds padded row
    ``row``, padded column ``col`` (col < wp; a column past the row's end is the next row's left
    border). A block of b images is a (channels, b*r) grid, image i's slot starting at i*r.
    ``x0`` is where x[0, 0] sits in its slot, ``lout`` how many output positions an image has
    (its last valid one is ``lout - 1``), ``dxlen`` how many positions from x0 dx covers, and
    ``margin`` the zeros in front of the upstream gradient's grid (dx reads ``q - s``).
    """

    __slots__ = (
        "block", "c", "dxlen", "f", "hw", "key", "lout", "margin", "out_hw", "r", "shifts", "wp",
        "x0",
    )  # fmt: skip

    def __init__(self, g: Any, f: int, itemsize: int):
        n, c, h, w = g.x_shape
        (ph, pw), (dh, dw), (kh, kw) = g.p, g.d, g.k
        ho, wo = g.out_hw
        self.c, self.f, self.hw, self.out_hw = c, f, (h, w), g.out_hw
        self.wp = wp = w + pw if wo <= w + pw else w + 2 * pw  # shared borders where they fit
        self.shifts = [i * dh * wp + j * dw for i in range(kh) for j in range(kw)]
        smax = self.shifts[-1]
        self.x0 = ph * wp + pw
        self.lout = (ho - 1) * wp + wo
        self.dxlen = (h - 1) * wp + w  # dx's positions: x0 .. x0 + dxlen - 1
        self.margin = smax
        # a slot holds the image, its reads (lout + smax) and its dout (ho*wp); what dx reads
        # past its own slot is the next one's zeros, before it the previous one's (or margin)
        self.r = max(self.lout + smax, self.x0 + h * wp, ho * wp)
        # images per block: both grids of a block within BLOCK_BYTES, and every thread a block
        per_image = (c + f) * self.r * itemsize
        self.block = max(1, min(BLOCK_BYTES // per_image, -(-n // MIN_BLOCKS)))
        self.key = (c, f, h, w, g.p, g.d, g.k)

    def cols(self, b: int) -> int:
        """Output positions a GEMM over a block of b images computes."""
        return (b - 1) * self.r + self.lout

    def x_grid(self, x: np.ndarray) -> np.ndarray:
        """Images x (b, C, H, W) in this thread's zero-bordered grid (C, b*r)."""
        (h, w), wp, b = self.hw, self.wp, x.shape[0]
        xg = _scratch(("x", self.key, b), (self.c, b * self.r), x.dtype, zero=True)
        slots = xg.reshape(self.c, b, self.r)[:, :, self.x0 : self.x0 + h * wp]
        slots.reshape(self.c, b, h, wp)[..., :w] = x.transpose(1, 0, 2, 3)
        return xg

    def dout_grid(self, d: np.ndarray) -> np.ndarray:
        """Upstream gradients d (b, F, Ho, Wo) in a zero grid (F, margin + b*r)."""
        (ho, wo), wp, m, b = self.out_hw, self.wp, self.margin, d.shape[0]
        dg = _scratch(("dout", self.key, b), (self.f, m + b * self.r), d.dtype, zero=True)
        slots = dg[:, m:].reshape(self.f, b, self.r)[:, :, : ho * wp]
        slots.reshape(self.f, b, ho, wp)[..., :wo] = d.transpose(1, 0, 2, 3)
        return dg

    def crop(self, grid: np.ndarray, start: int, rows: int, cols: int, b: int) -> np.ndarray:
        """(b, channels, rows, cols) view of a (channels, b*r) grid, from slot position start."""
        ch = grid.shape[0]
        slots = grid.reshape(ch, b, self.r)[:, :, start : start + rows * self.wp]
        return slots.reshape(ch, b, rows, self.wp)[..., :cols].transpose(1, 0, 2, 3)


def _w_offsets(w: np.ndarray) -> np.ndarray:
    """(F, C, HH, WW) -> (HH*WW, F, C): one (F, C) matrix per kernel offset."""
    f, c = w.shape[:2]
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(-1, f, c)


def _w_stacked(w: np.ndarray) -> np.ndarray:
    """(F, C, HH, WW) -> (F, HH*WW*C), columns in the stacked rows' (offset, channel) order."""
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(w.shape[0], -1)


def _stack(grid: Grid, xg: np.ndarray, ln: int) -> np.ndarray:
    """Scratch columns (HH*WW*C, ln): row (offset k, channel c) is ``xg[c, s_k : s_k + ln]``."""
    c = grid.c
    cols = _scratch("cols", (len(grid.shifts) * c, ln), xg.dtype)
    for k, s in enumerate(grid.shifts):
        cols[k * c : (k + 1) * c] = xg[:, s : s + ln]
    return cols


def _run(work: Any, n: int, block: int, flops: int) -> list[Any]:
    """``work(starts)`` on a shared iterator of block starts over range(n), in two threads when
    there is enough work to share (each running OpenBLAS on one thread), else here; the
    threads' results."""
    starts = iter(range(0, n, block))
    if not _threads.worth_sharing(-(-n // block), flops):
        return [work(starts)]
    with _gemm.one_thread():
        return _threads.shared(work, starts)


def forward(x: np.ndarray, w: np.ndarray, b: Any, g: Any, how: str) -> np.ndarray:
    """conv2d(x, w) + b as a fresh (N, F, Ho, Wo) array."""
    gemm = _gemm.routine(x.dtype)
    assert gemm is not None
    n, f, size = x.shape[0], w.shape[0], x.itemsize
    grid = Grid(g, f, size)
    (ho, wo), c, r = g.out_hw, grid.c, grid.r
    out = np.empty((n, f, ho, wo), x.dtype)
    bias = None if b is None else b.reshape(1, -1, 1, 1)
    wk = _w_offsets(w) if how == "shifted" else _w_stacked(w)  # kept alive while BLAS reads it
    wa = [a.ctypes.data for a in wk] if how == "shifted" else [wk.ctypes.data]

    def work(starts: Iterator[int]) -> None:
        for i in starts:
            j = min(i + grid.block, n)
            ln = grid.cols(j - i)
            xg = grid.x_grid(x[i:j])
            og = _scratch("out", (f, (j - i) * r), x.dtype)
            xa, oa = xg.ctypes.data, og.ctypes.data
            if how == "shifted":  # og (F, L) = sum_k w_k (F, C) @ xg[:, s_k : s_k + L]
                for k, s in enumerate(grid.shifts):
                    gemm(False, False, f, ln, c, 1.0, wa[k], c, xa + s * size,
                         xg.shape[1], 1.0 if k else 0.0, oa, og.shape[1])  # fmt: skip
            else:  # og (F, L) = w2 (F, KC) @ cols (KC, L)
                cols = _stack(grid, xg, ln)
                kc = cols.shape[0]
                gemm(False, False, f, ln, kc, 1.0, wa[0], kc, cols.ctypes.data, ln,
                     0.0, oa, og.shape[1])  # fmt: skip
            win = grid.crop(og, 0, ho, wo, j - i)
            if bias is None:
                out[i:j] = win
            else:
                np.add(win, bias, out=out[i:j])

    _run(work, n, grid.block, 2 * f * c * len(grid.shifts) * grid.cols(n))
    return out


def backward(dout: np.ndarray, w: Any, x: Any, g: Any, needs: Any) -> tuple[Any, Any, Any]:
    """dx, dw, db of conv2d from the upstream gradient, the weights and the input (None for a
    gradient not needed; ``w`` may be None when dx is not, ``x`` when dw is not)."""
    gemm = _gemm.routine(dout.dtype)
    assert gemm is not None
    n, f, size, dt = dout.shape[0], dout.shape[1], dout.itemsize, dout.dtype
    grid = Grid(g, f, size)
    c, m, r, nk, (h, w_) = grid.c, grid.margin, grid.r, len(grid.shifts), grid.hw
    need_x, need_w = bool(needs[0]), bool(needs[1])
    need_b = len(needs) > 2 and bool(needs[2])
    stacked = c < DW_STACKED_MAX_C
    dx = np.empty(g.x_shape, dt) if need_x else None
    wk = _w_offsets(w) if need_x else None  # kept alive while BLAS reads it
    wa = [a.ctypes.data for a in wk] if wk is not None else []

    nb = -(-n // grid.block)
    # each block's dw and db in a slot of its own, summed in block order after: the same sums
    # in the same order whichever thread took which block
    # stacked: dw^T (HH*WW*C, F) = cols @ dg^T, the long side first (LeNet's first conv:
    # 0.36 ms a block against 0.53 ms for dg @ cols^T, 2026-12-02, one thread)
    dws = np.empty((nb, nk * c, f) if stacked else (nb, nk, f, c), dt) if need_w else None
    dbs = np.empty((nb, f), dt) if need_b else None

    def work(starts: Iterator[int]) -> None:
        for i in starts:
            j, q = min(i + grid.block, n), i // grid.block
            dg = grid.dout_grid(dout[i:j])
            ldd, da = dg.shape[1], dg.ctypes.data + m * size  # da: position 0 of the first slot
            if need_x:  # dxg[:, t] = sum_k w_k^T (C, F) @ dg[:, t - s_k], t from x0
                assert dx is not None
                dxg = _scratch("dx", (c, (j - i) * r), dt)
                ln = (j - i - 1) * r + grid.dxlen
                for k, s in enumerate(grid.shifts):
                    gemm(True, False, c, ln, f, 1.0, wa[k], c,
                         da + (grid.x0 - s) * size, ldd, 1.0 if k else 0.0,
                         dxg.ctypes.data + grid.x0 * size, dxg.shape[1])  # fmt: skip
                dx[i:j] = grid.crop(dxg, grid.x0, h, w_, j - i)
            if dws is not None:  # dw_k (F, C) = dg[:, :L] @ xg[:, s_k : s_k + L]^T
                xg, ln, slot = grid.x_grid(x[i:j]), grid.cols(j - i), dws[q]
                if stacked:
                    cols = _stack(grid, xg, ln)
                    gemm(False, True, nk * c, f, ln, 1.0, cols.ctypes.data, ln, da, ldd, 0.0,
                         slot.ctypes.data, f)  # fmt: skip
                else:
                    xa = xg.ctypes.data
                    for k, s in enumerate(grid.shifts):
                        gemm(False, True, f, c, ln, 1.0, da, ldd, xa + s * size, xg.shape[1],
                             0.0, slot[k].ctypes.data, c)  # fmt: skip
            if dbs is not None:
                dbs[q] = dout[i:j].reshape(j - i, f, -1).sum(axis=2).sum(axis=0)

    _run(work, n, grid.block, 2 * f * c * nk * grid.cols(n) * (need_x + need_w))
    dw = db = None
    if dws is not None:
        total = dws.sum(axis=0)
        if stacked:  # ((HH, WW, C), F) -> (F, C, HH, WW)
            dw = total.reshape(*g.k, c, f).transpose(3, 2, 0, 1).copy()
        else:  # (HH, WW, F, C) -> (F, C, HH, WW)
            dw = total.reshape(*g.k, f, c).transpose(2, 3, 0, 1).copy()
    if dbs is not None:
        db = dbs.sum(axis=0)
    return dx, dw, db
