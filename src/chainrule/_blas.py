"""One-pass ``y = a x + b y`` through the OpenBLAS that NumPy itself loaded, for the optimizers.

NumPy has no fused multiply-add: ``p -= lr * g`` is two passes over memory (a temporary, then
the subtraction), and an SGD step with Nesterov momentum is five. BLAS does ``y = a x + y``
(axpy) and ``y = a x + b y`` (axpby, an OpenBLAS extension) in one pass each, and OpenBLAS
splits a long axpy across its threads. On a 784-512-512-10 MLP that took the Nesterov update
from five NumPy passes (~570 us a step in training) to three BLAS calls (~300 us).

``routines(dtype)`` finds, on Linux, the OpenBLAS library NumPy has loaded (its path is in
``/proc/self/maps``; opening it again returns the same handle and runs nothing new) and wraps
its ``cblas_?axpy`` and ``cblas_?axpby`` with ctypes. The integer width of the interface
(32 or 64 bit) is read from the library's own ``openblas_get_config()``. Where NumPy uses
another BLAS (MKL, Apple's Accelerate) or none is found, it returns None and callers keep their
NumPy ufuncs: the same maths, rounded differently (a fused multiply-add rounds once).

``set_enabled(False)`` turns the BLAS path off for this process (the ufuncs then run
everywhere), e.g. to compare the two.

>>> import numpy as np
>>> from chainrule import _blas
>>> y, x = np.ones(4, np.float32), np.arange(4, dtype=np.float32)
>>> r = _blas.routines(y.dtype)
>>> if r is not None:
...     r.axpby(4, 2.0, _blas.address(x), 0.5, _blas.address(y))
... else:
...     y *= 0.5; y += 2.0 * x
>>> y.tolist()
[0.5, 2.5, 4.5, 6.5]
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any, NamedTuple

import numpy as np

# OpenBLAS builds name their symbols with an optional prefix and suffix: NumPy's own wheels
# ship "scipy_cblas_saxpy64_" (64-bit integers), other builds plain "cblas_saxpy"
_NAMINGS = (("scipy_", "64_"), ("scipy_", ""), ("", "64_"), ("", ""))


class Routines(NamedTuple):
    """BLAS level-1 calls for one dtype, on raw addresses of contiguous arrays of ``n`` items.

    ``axpy(n, a, x, y)``: y = a x + y.  ``axpby(n, a, x, b, y)``: y = a x + b y (an axpy
    when b is 1: OpenBLAS runs axpy on all its threads, axpby on one).
    """

    axpy: Any
    axpby: Any


_state: dict[str, Any] = {"enabled": True, "found": False, "lib": None, "routines": {}}


def numpy_openblas() -> ctypes.CDLL | None:
    """The OpenBLAS library NumPy has loaded (Linux: found in ``/proc/self/maps``), or None."""
    if _state["found"]:
        return _state["lib"]  # type: ignore[no-any-return]
    _state["found"] = True
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.rsplit("/", 1)[-1]}
    except OSError:
        return None
    # NumPy's own first (its wheels keep it in numpy.libs/ beside the package), should another
    # package have loaded an OpenBLAS of its own
    home = os.path.dirname(np.__file__)
    for path in sorted(paths, key=lambda p: (not p.startswith(home), p)):
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same handle, nothing new runs
        except OSError:
            continue
        if any(hasattr(lib, f"{pre}cblas_saxpy{suf}") for pre, suf in _NAMINGS):
            _state["lib"] = lib
            return lib
    return None


class Build(NamedTuple):
    """NumPy's OpenBLAS as its symbols name it: ``symbol("cblas_saxpy")`` is the routine (or
    None); ``config`` is ``openblas_get_config()``'s text; ``int_t`` its integer type (the
    whole interface's width, read from the config, never guessed)."""

    lib: ctypes.CDLL
    prefix: str
    suffix: str
    config: bytes
    int_t: Any

    def symbol(self, name: str) -> Any:
        return getattr(self.lib, f"{self.prefix}{name}{self.suffix}", None)


def openblas_build() -> Build | None:
    """NumPy's OpenBLAS with the naming its ``openblas_get_config`` carries, or None (no
    OpenBLAS loaded by NumPy, or a suffix that does not mean what it usually does)."""
    if "build" in _state:
        return _state["build"]  # type: ignore[no-any-return]
    _state["build"] = None
    lib = numpy_openblas()
    for pre, suf in _NAMINGS if lib is not None else ():
        config = getattr(lib, f"{pre}openblas_get_config{suf}", None)
        if config is None:
            continue
        config.restype = ctypes.c_char_p
        text = config() or b""
        wide = b"USE64BITINT" in text
        if not (suf and wide != (suf == "64_")):
            int_t = ctypes.c_int64 if wide else ctypes.c_int32
            _state["build"] = Build(lib, pre, suf, text, int_t)  # type: ignore[arg-type]
        break
    return _state["build"]  # type: ignore[no-any-return]


def real_type(dtype: np.dtype) -> tuple[str, Any]:
    """BLAS's letter and ctypes type for float32 ("s") or float64 ("d")."""
    return ("s", ctypes.c_float) if dtype == np.float32 else ("d", ctypes.c_double)


def _load(dtype: np.dtype) -> Routines | None:
    build = openblas_build()
    if build is None:
        return None
    letter, real = real_type(dtype)
    found = build.symbol(f"cblas_{letter}axpy"), build.symbol(f"cblas_{letter}axpby")
    if found[0] is None or found[1] is None:
        return None
    n = build.int_t
    ptr = ctypes.c_void_p
    axpy, axpby = found
    axpy.argtypes = [n, real, ptr, n, ptr, n]
    axpby.argtypes = [n, real, ptr, n, real, ptr, n]
    axpy.restype = axpby.restype = None

    def _axpy(size: int, a: float, x: int, y: int, f: Any = axpy) -> None:
        f(size, a, x, 1, y, 1)

    def _axpby(
        size: int, a: float, x: int, b: float, y: int, f: Any = axpby, g: Any = axpy
    ) -> None:
        if b == 1.0:  # an axpy, which OpenBLAS splits across its threads (axpby: one)
            g(size, a, x, 1, y, 1)
        else:
            f(size, a, x, 1, b, y, 1)

    return Routines(_axpy, _axpby)


def routines(dtype: Any) -> Routines | None:
    """The axpy/axpby calls for float32 or float64 arrays, or None (other dtypes, no OpenBLAS
    loaded by NumPy, or ``set_enabled(False)``)."""
    if not _state["enabled"]:
        return None
    dtype = np.dtype(dtype)
    cache = _state["routines"]
    if dtype not in cache:
        cache[dtype] = _load(dtype) if dtype in (np.float32, np.float64) else None
    return cache[dtype]  # type: ignore[no-any-return]


def set_enabled(enabled: bool) -> bool:
    """Use the BLAS path (True, the default) or NumPy ufuncs only; returns the previous setting."""
    previous = bool(_state["enabled"])
    _state["enabled"] = bool(enabled)
    return previous


def address(a: np.ndarray) -> int:
    """The address of a C-contiguous array's first item."""
    try:  # through the buffer protocol (which the stubs don't know ndarray has): ~0.3 us,
        # against ~1.2 us for a.ctypes.data
        return ctypes.addressof(ctypes.c_char.from_buffer(a))  # type: ignore[arg-type]
    except (TypeError, ValueError):  # read-only, or empty
        return int(a.ctypes.data)


def fits(dtype: np.dtype, *arrays: np.ndarray) -> bool:
    """All ``arrays`` are C-contiguous NumPy arrays of ``dtype`` (what the routines need)."""
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != dtype or not a.flags.c_contiguous:
            return False
    return True
