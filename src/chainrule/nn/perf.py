"""Opt-in process settings for training speed: ``tune_malloc`` and ``tune_blas``.

``tune_malloc``: a glibc setting that keeps large arrays' memory between steps.

glibc serves allocations above ``M_MMAP_THRESHOLD`` (adaptive, starting at 128 KiB) with a fresh
``mmap`` and returns them to the kernel on free, so every training step pays page faults again
for its activations and gradients. Raising the mmap threshold and the trim threshold lets the
heap keep and reuse that memory: measured here, a 784-512-512-10 MLP step's GEMMs went from
3.05 ms to 1.94 ms. The cost is memory held by the process after the arrays are freed.

This changes the whole process (NumPy, PyTorch, everything that calls malloc), only on glibc,
and only when called: chainrule never calls it on its own.

``tune_blas``: after each matrix product, the worker threads of the OpenBLAS that NumPy ships
keep spinning on their cores for 2^28 cycles (a tenth of a second) in case another product
follows. Between a step's products chainrule runs elementwise passes on one core (bias, ReLU,
loss, the optimizer), and on a virtual machine whose cores share physical ones (or a busy host)
the spinning thread slows them: measured here on a 784-512-512-10 training step, 6.5 ms with
the default spin against 3.6 ms with none. ``tune_blas`` shortens the spin to 2^20 cycles
(about 0.3 ms, the order of OpenMP's default, which PyTorch's threads use); where the cores are
not shared the default spin was a few percent faster.

>>> from chainrule import nn
>>> isinstance(nn.tune_malloc(), bool)
True
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

from chainrule import _blas

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Raise glibc's mmap and trim thresholds (bytes); True if applied, False where there is
    no glibc (macOS, Windows, musl).

    Pair it with ``tune_blas()``, as the ``chainrule`` command does: on this project's 2-core
    machines, a 784-512-512-10 Adam step took 6.1 ms with ``tune_malloc`` alone (OpenBLAS's
    default spin), 3.8 ms with neither, and 3.8 ms with both (2026-11-26, A/B in one process).

    >>> from chainrule import nn
    >>> nn.tune_malloc(mmap_threshold=32 << 20) in (True, False)
    True
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1 and ok
    return ok


_OPENBLAS_DEFAULT_TIMEOUT = 28  # OpenBLAS's THREAD_TIMEOUT: 2^28 cycles
_OPENBLAS_CALLS = ("openblas_read_env", "openblas_thread_timeout", "blas_thread_shutdown_")


def tune_blas(thread_timeout: int = 20) -> bool:
    """Let NumPy's OpenBLAS threads spin at most 2^thread_timeout cycles after a matrix product
    before they sleep (OpenBLAS's own ``OPENBLAS_THREAD_TIMEOUT``, 4 to 30; its default is 28).
    True if applied; False where NumPy does not use a (pthreads) OpenBLAS, e.g. MKL or macOS's
    Accelerate builds. The setting is also put in ``os.environ``, so child processes inherit it.

    Call it once, at the start of a program, while no other thread runs a NumPy matrix
    product: the library's threads are stopped and restart at the next product.

    >>> from chainrule import nn
    >>> nn.tune_blas() in (True, False)
    True
    """
    if not 4 <= int(thread_timeout) <= 30:
        raise ValueError(f"tune_blas: thread_timeout must be in 4..30, got {thread_timeout}")
    lib = _blas.numpy_openblas()
    if lib is None or not all(hasattr(lib, name) for name in _OPENBLAS_CALLS):
        return False
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(int(thread_timeout))
    lib.openblas_read_env()
    if lib.openblas_thread_timeout() != int(thread_timeout):
        return False
    lib.blas_thread_shutdown_()  # the threads restart with the new timeout when next needed
    return True


def _only_thread() -> bool:
    """No other Python thread runs, so restarting the BLAS threads cannot pull them out from
    under a matrix product. Threads known to do no BLAS work of their own don't count:
    chainrule's optimizer threads (idle between steps), its worker for two-way splits (it runs
    only inside a call of the thread that handed it the work: ``ops/_threads``) and tqdm's
    progress-bar monitor."""
    return all(
        t is threading.current_thread()
        or t.name.startswith(("chainrule-optim", "chainrule-half"))
        or type(t).__name__ == "TMonitor"
        for t in threading.enumerate()
    )


@contextlib.contextmanager
def tuned_blas(thread_timeout: int = 20) -> Iterator[bool]:
    """``tune_blas(thread_timeout)`` for the duration of a ``with`` block, then OpenBLAS's default
    spin again; yields whether it applied. ``Trainer.fit`` runs inside it.

    It stays out (yields False, changes nothing) where the environment already chose, i.e.
    ``OPENBLAS_THREAD_TIMEOUT`` is set (by the user, or by ``tune_blas()``), where NumPy has no
    pthreads OpenBLAS, and where another Python thread runs, since the library's threads are
    restarted on the way in and on the way out (in Jupyter, whose kernel runs threads of its
    own, call ``nn.tune_blas()`` once at the top of the notebook instead).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> with nn.tuned_blas() as applied:
    ...     _ = np.ones((64, 64)) @ np.ones((64, 64))
    >>> applied in (True, False)
    True
    """
    if not 4 <= int(thread_timeout) <= 30:
        raise ValueError(f"tuned_blas: thread_timeout must be in 4..30, got {thread_timeout}")
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ or not _only_thread():
        yield False
        return
    applied = tune_blas(thread_timeout)  # False where there is no such OpenBLAS
    if not applied:
        os.environ.pop("OPENBLAS_THREAD_TIMEOUT", None)  # as it was
        yield False
        return
    try:
        yield True
    finally:
        lib: Any = _blas.numpy_openblas()
        # OpenBLAS keeps the last timeout it read when the variable is unset, so set its default
        # explicitly, have it read, then leave the environment as it was
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(_OPENBLAS_DEFAULT_TIMEOUT)
        try:
            lib.openblas_read_env()
        finally:
            del os.environ["OPENBLAS_THREAD_TIMEOUT"]
        if _only_thread():  # else the threads take the default when they next restart
            lib.blas_thread_shutdown_()
