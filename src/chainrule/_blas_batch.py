"""Batched matrix products as one BLAS call: OpenBLAS's ``cblas_?gemm_batch_strided``.

``np.matmul`` on stacks of matrices calls ``?gemm`` once per matrix, and OpenBLAS splits each
call over its threads: a (64, 128, 128) batch is 64 small products with a thread hand-off in
each, ~1.7x the time of one strided batched call that hands whole products to its threads, as
PyTorch's ``bmm`` does (measured on W11's einsums: 1.66 ms against 2.78 ms at the 5th
percentile of 200 interleaved runs, on the shared 2-core machine).

``matmul(a, b)`` takes the batched call where it applies: NumPy arrays of one float dtype
(float32 or float64), the same batch shape on both sides (no broadcasting), batch axes that
step through memory evenly, and matrices stored by rows or by columns (a transposed view
is read as it is: BLAS's ``Trans`` flag). Anything else goes to ``np.matmul``: products of at
most 100^3 multiply-adds per matrix (see ``_SMALL``), any library but OpenBLAS 0.3.31 (the
version whose routine was read and checked; MKL and Accelerate have none by this name), and
everything after ``chainrule._blas.set_enabled(False)``. The results are the same products,
rounded alike up to the order of the sums. When first loaded the routine is checked against
``np.matmul`` on a small batch, and left unused if the two disagree.

>>> import numpy as np
>>> a, b = np.ones((2, 128, 128), np.float32), np.ones((2, 128, 128), np.float32)
>>> c = matmul(a, b.transpose(0, 2, 1))  # None where the batched call does not apply
>>> c is None or (c.shape == (2, 128, 128) and bool((c == 128.0).all()))
True
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

from chainrule import _blas

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# OpenBLAS sends products of at most 100^3 multiply-adds down a separate small-matrix branch,
# which crashes (a segmentation fault) in NumPy's DYNAMIC_ARCH wheel of 0.3.31: such products
# stay with np.matmul, where the per-matrix calls cost little anyway
_SMALL = 100**3
_VERIFIED = b"OpenBLAS 0.3.31"  # the version whose routine was read and checked; others: None
_found: dict[np.dtype, Any] = {}


def _routine(dtype: np.dtype) -> Any:
    """The batched gemm for dtype, checked, or None."""
    if dtype not in _found:
        _found[dtype] = None
        f = _load(dtype)
        if f is not None:
            _found[dtype] = f
            rng = np.random.default_rng(0)
            a = rng.standard_normal((2, 101, 102)).astype(dtype)
            b = rng.standard_normal((2, 103, 102)).astype(dtype).transpose(0, 2, 1)
            got = matmul(a, b)
            ok = got is not None and np.allclose(got, np.matmul(a, b), rtol=1e-4, atol=1e-4)
            _found[dtype] = f if ok else None
    return _found[dtype]


def _load(dtype: np.dtype) -> Any:
    build = _blas.openblas_build()
    if build is None or not build.config.startswith(_VERIFIED):
        return None  # another version may branch (and crash) elsewhere
    letter, real = _blas.real_type(dtype)
    # NumPy's wheels export this routine without their usual prefix and suffix
    name = f"cblas_{letter}gemm_batch_strided"
    f = build.symbol(name) or getattr(build.lib, name, None)
    if f is None:
        return None
    n, p, e = build.int_t, ctypes.c_void_p, ctypes.c_int
    # (layout, transa, transb, m, n, k, alpha, a, lda, stridea, b, ldb, strideb, beta,
    #  c, ldc, stridec, batch)
    f.argtypes = [e, e, e, n, n, n, real, p, n, n, p, n, n, real, p, n, n, n]
    f.restype = None
    return f


def _layout(x: np.ndarray) -> tuple[int, int, int] | None:
    """(trans flag, leading dimension, batch stride) in items for a stack of matrices stored
    by rows or by columns with evenly spaced batch axes, else None."""
    item = x.itemsize
    if any(s % item for s in x.strides):
        return None
    st = [s // item for s in x.strides]
    rows, cols = x.shape[-2:]
    if st[-1] == 1 and st[-2] >= max(1, cols):
        trans, ld = _NO_TRANS, st[-2]
    elif st[-2] == 1 and st[-1] >= max(1, rows):
        trans, ld = _TRANS, st[-1]
    else:
        return None
    for i in range(x.ndim - 3):  # batch axes: one stride over all of them
        if st[i] != st[i + 1] * x.shape[i + 1]:
            return None
    return (trans, ld, st[-3]) if st[-3] > 0 else None


def matmul(a: Any, b: Any) -> Any:
    """``np.matmul(a, b)`` of two stacks of matrices, as one batched BLAS call where it
    applies (see the module docstring); None where it does not."""
    if (
        type(a) is not np.ndarray
        or type(b) is not np.ndarray
        or a.dtype != b.dtype
        or a.dtype not in (np.float32, np.float64)
        or a.ndim < 3
        or a.shape[:-2] != b.shape[:-2]
        or a.shape[-1] != b.shape[-2]
        or 0 in a.shape
        or 0 in b.shape
        or not _blas._state["enabled"]
    ):
        return None
    f = _found.get(a.dtype, False)
    if f is False:
        f = _routine(a.dtype)
    if f is None:
        return None
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None:
        return None
    m, k = a.shape[-2:]
    n = b.shape[-1]
    if m * n * k <= _SMALL:
        return None
    batch = math.prod(a.shape[:-2])
    c = np.empty((*a.shape[:-2], m, n), a.dtype)
    f(_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, a.ctypes.data, la[1], la[2],
      b.ctypes.data, lb[1], lb[2], 0.0, c.ctypes.data, n, m * n, batch)  # fmt: skip
    return c
