"""``C = alpha op(A) op(B) + beta C`` through the OpenBLAS NumPy loaded, on raw addresses.

NumPy's ``matmul`` always writes a fresh (or a whole ``out=``) matrix; BLAS's gemm also takes a
``beta`` (accumulate into C) and leading dimensions, so one call can read a window of a larger
matrix (``A`` starting at any item, rows ``lda`` apart) and add into a window of another. The
stride-1 convolutions of ``ops/conv_gemm.py`` are built from exactly those calls: one GEMM per
kernel offset, each reading the padded input shifted by that offset, all adding into one output,
with no im2col buffer.

``routine(dtype)`` wraps ``cblas_sgemm`` / ``cblas_dgemm`` of the library ``_blas`` finds (the
integer width read from ``openblas_get_config()``, never guessed); None where NumPy uses
another BLAS, for other dtypes, or with ``_blas.set_enabled(False)``: callers then keep NumPy.

>>> import numpy as np
>>> from chainrule import _gemm
>>> a, b = np.arange(6.0).reshape(2, 3), np.ones((3, 2))
>>> c = np.ones((2, 2))
>>> gemm = _gemm.routine(c.dtype)
>>> if gemm is not None:
...     gemm(False, False, 2, 2, 3, 1.0, a.ctypes.data, 3, b.ctypes.data, 2, 1.0, c.ctypes.data, 2)
... else:
...     c += a @ b
>>> c.tolist()
[[4.0, 4.0], [13.0, 13.0]]
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule import _blas

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_cache: dict[Any, Any] = {}
_one = {"depth": 0, "saved": 0}  # nesting of ``one_thread`` and the thread count it replaced
_one_lock = threading.Lock()

Gemm = Callable[[bool, bool, int, int, int, float, int, int, int, int, float, int, int], None]


def _load(dtype: np.dtype) -> Gemm | None:
    build = _blas.openblas_build()
    if build is None:
        return None
    letter, real = _blas.real_type(dtype)
    fn = build.symbol(f"cblas_{letter}gemm")
    if fn is None:
        return None
    n, e, ptr = build.int_t, ctypes.c_int, ctypes.c_void_p
    fn.argtypes = [e, e, e, n, n, n, real, ptr, n, ptr, n, real, ptr, n]
    fn.restype = None

    def gemm(
        ta: bool,
        tb: bool,
        m: int,
        n_: int,
        k: int,
        alpha: float,
        a: int,
        lda: int,
        b: int,
        ldb: int,
        beta: float,
        c: int,
        ldc: int,
        f: Any = fn,
    ) -> None:
        """Row-major C (m, n) = alpha op(A) (m, k) @ op(B) (k, n) + beta C."""
        f(
            _ROW_MAJOR,
            _TRANS if ta else _NO_TRANS,
            _TRANS if tb else _NO_TRANS,
            m,
            n_,
            k,
            alpha,
            a,
            lda,
            b,
            ldb,
            beta,
            c,
            ldc,
        )

    return gemm


def _set_threads(n: int) -> None:
    build = _blas.openblas_build()
    fn = build.symbol("openblas_set_num_threads") if build is not None else None
    if fn is not None:
        fn.argtypes = [ctypes.c_int]
        fn(n)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """OpenBLAS on one thread inside the block (for callers that split work over threads of
    their own), the count before restored after the outermost block ends. The setting is the
    library's, for the whole process: a BLAS call another thread makes meanwhile also runs on
    one thread.

    >>> with one_thread():
    ...     pass
    """
    with _one_lock:
        if _one["depth"] == 0:
            _one["saved"] = threads()
            if _one["saved"] > 1:
                _set_threads(1)
        _one["depth"] += 1
    try:
        yield
    finally:
        with _one_lock:
            _one["depth"] -= 1
            if _one["depth"] == 0 and _one["saved"] > 1:
                _set_threads(_one["saved"])


def threads() -> int:
    """OpenBLAS's thread count at this moment (1 where it cannot be asked)."""
    build = _blas.openblas_build()
    fn = build.symbol("openblas_get_num_threads") if build is not None else None
    if fn is None:
        return 1
    fn.restype = ctypes.c_int
    return max(1, int(fn()))


def routine(dtype: Any) -> Gemm | None:
    """The gemm call for float32 or float64, or None (see the module docstring)."""
    if not _blas._state["enabled"]:
        return None
    dtype = np.dtype(dtype)
    if dtype not in _cache:
        _cache[dtype] = _load(dtype) if dtype in (np.float32, np.float64) else None
    return _cache[dtype]  # type: ignore[no-any-return]
