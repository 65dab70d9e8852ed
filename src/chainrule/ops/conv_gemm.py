"""Stride-1 convolutions as shifted GEMMs on a padded grid: the NumPy fast path of ``ops/conv.py``.

The layout. The input is padded and laid out channel-major, ``xg`` (C, N, Hp, Wp), viewed as a
(C, T) matrix with T = N*Hp*Wp grid positions. Kernel offset (i, j) then reads every image at
one *flat shift* ``s = i*dh*Wp + j*dw``: output position q (on the same grid) is
``sum_{c,i,j} w[:, c, i, j] xg[c, q + s_ij]``, so the columns ``xg[:, s : s + L]`` are one
matrix (rows T apart) and the whole convolution is HH*WW GEMMs ``og (F, L) += w_ij (F, C) @
xg[:, s:s+L] (C, L)``, accumulated by BLAS's ``beta`` into one output grid, with no im2col
buffer. Grid positions past the valid (Ho, Wo) corner of each image are computed and dropped
(13% more flops on 32x32 images with padding 1); the last valid position is exactly L - 1.
The backward is the same GEMMs the other way round: ``dxg[:, s:s+L] += w_ij^T @ dg`` (BLAS
adds into the shifted window of the input-gradient grid: col2im for free) and ``dw_ij = dg @
xg[:, s:s+L]^T``. Bias, layout changes and crops ride on the copies into and out of the grid.

The choice of method, per shape (the one place it lives, ``strategy``), for the forward (dx
always runs one GEMM per offset; dw too below ``DW_STACKED_MIN_C`` input channels, faster there
even with C=1, and from it one GEMM per block of stacked columns, ``_dw_stacked``):

- ``"shifted"``: the above, when C >= ``SHIFTED_MIN_C``. Measured on W8's 3x3 conv, N=64,
  32->64 channels, 32x32, pad 1 (2026-12-02, one thread, CPU time, 4096-column blocks): forward
  GEMMs 26 ms against 30 ms for stacking (below); dx 28 ms, dw 38-42 ms. LeNet's second conv
  (C=6, 5x5): forward 1.15 ms against 1.5 ms stacked, dw 1.26 ms against 2.1 ms.
- ``"stacked"``: for few channels (LeNet's first layer has C=1: one GEMM per offset would be a
  rank-1 update; 1.4 ms against 2.3 ms shifted), the HH*WW shifted windows are copied, each one
  contiguous slice, into a scratch (HH*WW*C, L) matrix, and one GEMM does the forward.
- ``None`` (the general im2col path of ``ops/conv.py``): strides > 1, groups > 1, non-NumPy
  arrays (Tensors under ``create_graph=True``, other backends), dtypes other than float32 and
  float64 or mixed dtypes, and no OpenBLAS found (``chainrule._gemm``).

Scratch buffers (the output grid, the upstream gradient's grid, the input gradient's grid, the
stacked columns) are reused per shape and thread (``_scratch``: at most 8 of them and 128 MiB
per thread, the least recently used dropped first): page faults on fresh large arrays cost more
than the copies here. They are never returned nor saved: every result is a
fresh array, and the padded input a gate keeps for its backward is fresh too.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from chainrule import _gemm

SHIFTED_MIN_C = 4  # input channels from which one GEMM per kernel offset beats stacking
# grid columns per GEMM and BLAS thread: the block every offset updates stays in cache. On one
# thread under load, W8's forward GEMMs took 25.7 ms in 4096-column blocks, 36.2 ms in one; a
# LeNet epoch of 6,000 samples 1.24 s, against 1.73 s in 1024-column blocks and 1.48 s in
# fewer, wider blocks of 1.5 MiB (which would cut its ~700 GEMM calls a batch to ~125)
CHUNK = 4096
DW_CHUNK = 2048  # grid columns per block of the stacked weight gradient (``_dw_stacked``)...
# ...used from this many input channels: W8's C=32 dw 27 -> 24 ms, LeNet's C=6 1.3 -> 2.0 ms
DW_STACKED_MIN_C = 16

_local = threading.local()
_SCRATCH_SHAPES = 8  # distinct (role, shape, dtype) buffers kept per thread...
_SCRATCH_BYTES = 128 << 20  # ...holding at most this much: a larger one is allocated each time


def _scratch(role: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A reused uninitialized work array (never handed out: see the module docstring)."""
    cache: dict[Any, np.ndarray] = getattr(_local, "cache", None) or {}
    _local.cache = cache
    key = (role, shape, dtype)
    buf = cache.pop(key, None)
    if buf is None:
        buf = np.empty(shape, dtype)
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
    """The flat-shift geometry of one stride-1 conv: grid sizes, shifts, and the valid window."""

    __slots__ = ("hp", "k", "length", "n", "p", "shifts", "total", "valid", "wp", "xhw")

    def __init__(self, g: Any):
        n, _c, h, w = g.x_shape
        (ph, pw), (dh, dw), (kh, kw) = g.p, g.d, g.k
        self.n, self.k, self.p, self.xhw = n, g.k, g.p, (h, w)
        self.hp, self.wp = h + 2 * ph, w + 2 * pw
        self.shifts = [i * dh * self.wp + j * dw for i in range(kh) for j in range(kw)]
        self.total = n * self.hp * self.wp
        self.length = self.total - self.shifts[-1]  # the last valid output is position L - 1
        self.valid = (slice(None), slice(None), slice(0, g.out_hw[0]), slice(0, g.out_hw[1]))

    def pad(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) -> a fresh zero-bordered grid (C, N*Hp*Wp)."""
        c = x.shape[1]
        (ph, pw), (h, w) = self.p, self.xhw
        xg = np.empty((c, self.n, self.hp, self.wp), x.dtype)
        if ph:
            xg[:, :, :ph] = 0
            xg[:, :, ph + h :] = 0
        if pw:
            xg[:, :, ph : ph + h, :pw] = 0
            xg[:, :, ph : ph + h, pw + w :] = 0
        xg[:, :, ph : ph + h, pw : pw + w] = x.transpose(1, 0, 2, 3)
        return xg.reshape(c, self.total)

    def dout_grid(self, dout: np.ndarray) -> np.ndarray:
        """(N, F, Ho, Wo) -> a scratch grid (F, S + N*Hp*Wp), zero outside the valid window
        and in its first S = max shift columns (so dx's reads ``q - s`` never go below 0)."""
        f, (ho, wo), margin = dout.shape[1], dout.shape[2:], self.shifts[-1]
        dgm = _scratch("dout", (f, margin + self.total), dout.dtype)
        dgm[:, :margin] = 0
        dg = dgm[:, margin:].reshape(f, self.n, self.hp, self.wp)  # a view
        dg[:, :, ho:] = 0
        dg[:, :, :ho, wo:] = 0
        dg[self.valid] = dout.transpose(1, 0, 2, 3)
        return dgm

    def crop_out(self, og: np.ndarray, shape: tuple[int, ...], b: Any = None) -> np.ndarray:
        """The valid window of an output grid (F, T) as a fresh (N, F, Ho, Wo), plus a bias."""
        win = og.reshape(shape[1], self.n, self.hp, self.wp)[self.valid].transpose(1, 0, 2, 3)
        out = np.empty(shape, og.dtype)
        if b is None:
            out[...] = win
        else:
            np.add(win, b.reshape(1, -1, 1, 1), out=out)
        return out

    def crop_in(self, xg: np.ndarray) -> np.ndarray:
        """The interior of an input grid (C, T) as a fresh (N, C, H, W)."""
        (ph, pw), (h, w) = self.p, self.xhw
        grid = xg.reshape(-1, self.n, self.hp, self.wp)
        return np.ascontiguousarray(grid[:, :, ph : ph + h, pw : pw + w].transpose(1, 0, 2, 3))

    def stack(self, xg: np.ndarray) -> np.ndarray:
        """Scratch columns (HH*WW*C, L): row (offset k, channel c) is ``xg[c, s_k : s_k + L]``."""
        c, ln = xg.shape[0], self.length
        cols = _scratch("cols", (len(self.shifts) * c, ln), xg.dtype)
        for k, s in enumerate(self.shifts):
            cols[k * c : (k + 1) * c] = xg[:, s : s + ln]
        return cols


def _chunks(length: int) -> list[tuple[int, int]]:
    """(start, size) of the column blocks one pass of the kernel offsets' GEMMs covers."""
    step = CHUNK * _gemm.threads()
    return [(q, min(step, length - q)) for q in range(0, length, step)]


def _w_offsets(w: np.ndarray) -> np.ndarray:
    """(F, C, HH, WW) -> (HH*WW, F, C): one (F, C) matrix per kernel offset."""
    f, c = w.shape[:2]
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(-1, f, c)


def _w_stacked(w: np.ndarray) -> np.ndarray:
    """(F, C, HH, WW) -> (F, HH*WW*C), columns in the stacked rows' (offset, channel) order."""
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(w.shape[0], -1)


def _dw_stacked(grid: Grid, da: int, ldd: int, xg: np.ndarray, f: int, gemm: Any) -> np.ndarray:
    """dw (F, C, HH, WW) as one GEMM per block of DW_CHUNK columns: the block's HH*WW shifted
    windows of ``xg`` copied into a scratch (HH*WW*C, m) and ``dW (F, HH*WW*C) += dg[:, block]
    @ cols^T``: a wider output than one GEMM per offset's (F, C), which two BLAS threads split
    better (W8's dw 27 -> 24 ms, 2 threads, 2026-12-02)."""
    c, ln, size = xg.shape[0], grid.length, xg.itemsize
    kc, step = len(grid.shifts) * c, DW_CHUNK
    cols = _scratch("dwcols", (kc, step), xg.dtype)
    dwa = np.empty((f, kc), xg.dtype)
    for q in range(0, ln, step):
        m = min(step, ln - q)
        for k, s in enumerate(grid.shifts):
            cols[k * c : (k + 1) * c, :m] = xg[:, q + s : q + s + m]
        gemm(False, True, f, kc, m, 1.0, da + q * size, ldd, cols.ctypes.data, step,
             1.0 if q else 0.0, dwa.ctypes.data, kc)  # fmt: skip
    return dwa.reshape(f, *grid.k, c).transpose(0, 3, 1, 2).copy()


def forward(x: np.ndarray, w: np.ndarray, b: Any, g: Any, how: str) -> tuple[Any, Any]:
    """conv2d(x, w) + b as (N, F, Ho, Wo), and the padded input grid its backward reads."""
    grid = Grid(g)
    gemm = _gemm.routine(x.dtype)
    assert gemm is not None
    f, c, ln, tot, size = w.shape[0], x.shape[1], grid.length, grid.total, x.itemsize
    xg = grid.pad(x)
    og = _scratch("out", (f, tot), x.dtype)
    xa, oa = xg.ctypes.data, og.ctypes.data
    if how == "shifted":
        w_k = _w_offsets(w)  # kept alive while BLAS reads it
        wk = [a.ctypes.data for a in w_k]
        for q, m in _chunks(ln):  # og[:, q:q+m] = sum_k w_k (F, C) @ xg[:, q+s_k:][:, :m] (C, m)
            for k, s in enumerate(grid.shifts):
                gemm(False, False, f, m, c, 1.0, wk[k], c, xa + (s + q) * size, tot,
                     1.0 if k else 0.0, oa + q * size, tot)  # fmt: skip
    else:
        cols, w2 = grid.stack(xg), _w_stacked(w)
        kc = cols.shape[0]  # og (F, L) = w2 (F, KC) @ cols (KC, L)
        gemm(False, False, f, ln, kc, 1.0, w2.ctypes.data, kc, cols.ctypes.data, ln, 0.0, oa, tot)
    out = grid.crop_out(og, (x.shape[0], f, *g.out_hw), b)
    return out, xg


def backward(dout: np.ndarray, w: Any, xg: Any, g: Any, needs: Any) -> tuple[Any, Any, Any]:
    """dx, dw, db of conv2d from the upstream gradient, the weights and the input grid (None for
    a gradient not needed; ``w`` may be None when dx is not, ``xg`` when dw is not)."""
    grid = Grid(g)
    gemm = _gemm.routine(dout.dtype)
    assert gemm is not None
    f, c, ln, tot, size = dout.shape[1], g.x_shape[1], grid.length, grid.total, dout.itemsize
    margin = grid.shifts[-1]
    dgm = grid.dout_grid(dout)
    ldd, da = margin + tot, dgm.ctypes.data + margin * size  # dg: the grid after the margin
    dx = dw = db = None
    if needs[0]:
        w_k = _w_offsets(w)  # kept alive while BLAS reads it
        wk = [a.ctypes.data for a in w_k]
        dxg = _scratch("dx", (c, tot), dout.dtype)
        xa = dxg.ctypes.data
        for q, m in _chunks(tot):  # dxg[:, q:q+m] = sum_k w_k^T (C, F) @ dg[:, q-s_k:][:, :m]
            for k, s in enumerate(grid.shifts):
                gemm(True, False, c, m, f, 1.0, wk[k], c, da + (q - s) * size, ldd,
                     1.0 if k else 0.0, xa + q * size, tot)  # fmt: skip
        dx = grid.crop_in(dxg)
    if needs[1] and c >= DW_STACKED_MIN_C:
        dw = _dw_stacked(grid, da, ldd, xg, f, gemm)
    elif needs[1]:  # one GEMM per offset (for few channels: LeNet's C=1 and C=6)
        dwk = np.empty((len(grid.shifts), f, c), dout.dtype)
        dws, xa = [a.ctypes.data for a in dwk], xg.ctypes.data
        for q, m in _chunks(ln):  # dw_k (F, C) += dg[:, q:q+m] @ xg[:, q+s_k:][:, :m]^T
            for k, s in enumerate(grid.shifts):
                gemm(False, True, f, c, m, 1.0, da + q * size, ldd, xa + (s + q) * size, tot,
                     1.0 if q else 0.0, dws[k], c)  # fmt: skip
        dw = dwk.reshape(*g.k, f, c).transpose(2, 3, 0, 1).copy()
    if len(needs) > 2 and needs[2]:
        db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db
