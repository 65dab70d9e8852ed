"""chainrule._blas: one-pass axpy/axpby through the OpenBLAS NumPy loaded, and its fallbacks."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from chainrule import _blas


def numpy_ships_openblas() -> bool:
    blas = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    return sys.platform.startswith("linux") and "openblas" in str(blas.get("name", ""))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_and_axpby_against_numpy(dtype: type) -> None:
    r = _blas.routines(dtype)
    if r is None:
        assert not numpy_ships_openblas(), "NumPy's OpenBLAS was not found"
        pytest.skip("NumPy has no OpenBLAS here")
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype is np.float32 else {"rtol": 1e-14, "atol": 1e-14}
    rng = np.random.default_rng(0)
    for n in (1, 7, 33, 20_001):  # tails and a length OpenBLAS splits across threads
        x, y = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
        want = (2.5 * x.astype(np.float64) + y).astype(dtype)
        got = y.copy()
        r.axpy(n, 2.5, _blas.address(x), _blas.address(got))
        np.testing.assert_allclose(got, want, **tol)
        for b in (0.9, 1.0):  # b = 1 runs as an axpy
            want = (-0.5 * x.astype(np.float64) + b * y).astype(dtype)
            got = y.copy()
            r.axpby(n, -0.5, _blas.address(x), b, _blas.address(got))
            np.testing.assert_allclose(got, want, **tol)


def test_found_where_numpy_ships_openblas() -> None:
    if numpy_ships_openblas():  # the wheels from PyPI on Linux
        lib = _blas.numpy_openblas()
        assert lib is not None
        assert _blas.routines(np.float32) is not None
        if "numpy.libs" in lib._name:  # a wheel: NumPy's own copy, beside the package
            assert lib._name.startswith(os.path.dirname(np.__file__))


def test_other_dtypes_and_disabled_give_none() -> None:
    assert _blas.routines(np.int64) is None
    assert _blas.routines(np.float16) is None
    assert _blas.routines(np.complex128) is None
    previous = _blas.set_enabled(False)
    try:
        assert _blas.routines(np.float32) is None
    finally:
        _blas.set_enabled(previous)
    assert _blas.set_enabled(previous) is previous


def test_fits_only_contiguous_arrays_of_the_dtype() -> None:
    f32 = np.dtype(np.float32)
    a = np.zeros((4, 3), np.float32)
    assert _blas.fits(f32, a, a[1:], np.ones(5, np.float32))
    assert not _blas.fits(f32, a, a.T)  # not C-contiguous
    assert not _blas.fits(f32, a, a[:, ::2])
    assert not _blas.fits(f32, a, np.zeros(3))  # float64
    assert not _blas.fits(f32, np.float32(1.0))  # a NumPy scalar, not an array
    assert not _blas.fits(f32, np.ma.zeros(3, np.float32))  # a subclass


def test_address_of_writable_read_only_offset_and_empty_arrays() -> None:
    a = np.arange(6.0)
    frozen = a.copy()
    frozen.flags.writeable = False
    for x in (a, a[2:], frozen, np.zeros(0), np.zeros((3, 0), np.float32)):
        assert _blas.address(x) == x.ctypes.data
